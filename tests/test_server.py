"""The HTTP service driven over real HTTP on a loopback port, on SQLite and PostgreSQL.

Each test works out what the service must answer from the library's contract (the pathway's
guards, the engine's concurrency and idempotency rules) and from RFC 9457 / RFC 9110, never from
the service's own earlier output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from server_helpers import Signer, client, running

from pathway import reports
from pathway.server import ServerSettings, load_oidc_settings
from pathway.store import open_store
from pathway.tokens import create_token, revoke_token
from pathway.workspace import init_store

PROBLEM = "application/problem+json"
T0 = "2026-03-02T09:00:00Z"


class Service:
    """A running service, its store's location and a token per actor."""

    def __init__(self, base: str, location: str, tokens: dict[str, str]) -> None:
        self.base = base
        self.location = location
        self.tokens = tokens

    def as_(self, who: str) -> Any:
        return client(self.base, self.tokens[who])

    def events(self, case_id: str) -> list[Any]:
        with open_store(self.location, create=False) as store:
            return store.history(case_id)


ACTORS = {
    "hub": ("w-hub-1", "hub", ()),
    "lets": ("w-lets-1", "lets", ()),
    "manager": ("w-lets-9", "lets", ("manager",)),
}


def _tokens(location: str) -> dict[str, str]:
    store, compiled = init_store(location)
    with store:
        return {
            name: create_token(
                store, worker=worker, team=team, roles=roles, created_by="test-admin",
                teams=list(compiled.teams),
            )[1]
            for name, (worker, team, roles) in ACTORS.items()
        }  # fmt: skip


@pytest.fixture
def service(store_factory: Any) -> Iterator[Service]:
    location = store_factory.location("srv")
    tokens = _tokens(location)
    with running(ServerSettings(db=location)) as base:
        yield Service(base, location, tokens)


def _problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}" and body["status"] == status
    assert body["title"] and body["detail"] and "\n" not in body["detail"]
    return body


def _open(service: Service, case_id: str, who: str = "hub", **extra: Any) -> Any:
    with service.as_(who) as http:
        return http.post("/cases", json={"id": case_id, "at": T0, **extra})


def _fire(service: Service, case_id: str, trigger: str, who: str, at: str, **kw: Any) -> Any:
    headers = kw.pop("headers", {})
    with service.as_(who) as http:
        return http.post(
            f"/cases/{case_id}/fire", json={"trigger": trigger, "at": at, **kw}, headers=headers
        )


# --- authentication and the actor -----------------------------------------------------------


def test_health_needs_no_credentials_and_says_what_it_serves(service: Service) -> None:
    with client(service.base) as http:
        body = http.get("/health").json()
    assert body["status"] == "ok" and body["pathway"].startswith("barnet_enablement")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer cpt_000000000000_" + "A" * 43,
        "Bearer nonsense",
    ],
)
def test_no_or_bad_credentials_are_401_with_a_bearer_challenge(
    service: Service, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with client(service.base) as http:
        response = http.post("/cases", json={"id": "X1"}, headers=headers)
    _problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    with open_store(service.location, create=False) as store:
        assert list(store.cases()) == []


def test_a_revoked_or_expired_token_is_refused(service: Service) -> None:
    with open_store(service.location, create=False) as store:
        record, text = create_token(store, worker="w-x", team="hub", created_by="admin")
        _old, stale = create_token(
            store, worker="w-y", team="hub", created_by="admin",
            expires_at=datetime.now(UTC) + timedelta(seconds=1),
            now=datetime.now(UTC) - timedelta(hours=1),
        )  # fmt: skip
    with client(service.base, text) as http:
        assert http.get("/cases").status_code == 200
    with open_store(service.location, create=False) as store:
        revoke_token(store, record.id, revoked_by="admin")
    with client(service.base, text) as http:
        _problem(http.get("/cases"), 401, "unauthenticated")
    import time

    time.sleep(1.1)
    with client(service.base, stale) as http:
        _problem(http.get("/cases"), 401, "unauthenticated")


def test_the_actor_comes_from_the_token_never_from_the_body(service: Service) -> None:
    """A body naming a team or a worker is malformed (400, nothing written); the recorded actor
    is the token's; a hub token cannot do what only the LETs may (accept the LETs' offer)."""
    assert _open(service, "C1").status_code == 201
    for smuggled in ({"team": "lets"}, {"actor": "w-lets-1"}, {"roles": ["manager"]}):
        response = _fire(service, "C1", "self_refer", "hub", "2026-03-02T09:05:00Z", **smuggled)
        body = _problem(response, 400, "bad-request")
        assert body["errors"][0]["pointer"] == "/" + next(iter(smuggled))
    assert len(service.events("C1")) == 1
    assert _fire(service, "C1", "self_refer", "hub", "2026-03-02T09:10:00Z").status_code == 200
    assert (
        _fire(service, "C1", "offer_choice_appointment", "hub", "2026-03-02T09:20:00Z").status_code
        == 200
    )
    refused = _fire(service, "C1", "accept_handoff", "hub", "2026-03-02T10:00:00Z")
    body = _problem(refused, 422, "transition-refused")
    assert any("only lets" in reason for reason in body["reasons"])
    accepted = _fire(service, "C1", "accept_handoff", "lets", "2026-03-02T10:05:00Z")
    assert accepted.status_code == 200 and accepted.json()["team"] == "lets"
    events = service.events("C1")
    assert [(e.actor_id, e.actor_team, e.outcome) for e in events] == [
        ("w-hub-1", "hub", "applied"),
        ("w-hub-1", "hub", "applied"),
        ("w-hub-1", "hub", "applied"),
        ("w-hub-1", "hub", "refused"),
        ("w-lets-1", "lets", "applied"),
    ]


def test_openid_connect_tokens_act_as_their_claims(store_factory: Any, tmp_path: Path) -> None:
    location = store_factory.location("oidc")
    init_store(location)[0].close()
    signer = Signer(tmp_path)
    settings_file = signer.settings_file(tmp_path, team_map={"MH-Hub-Staff": "hub"})
    oidc = load_oidc_settings(settings_file)
    other = tmp_path / "other"
    other.mkdir()
    with running(ServerSettings(db=location, oidc=oidc)) as base:
        good = signer.token({"sub": "w-idp-1", "team": ["MH-Hub-Staff"], "roles": "manager"})
        with client(base, good) as http:
            opened = http.post("/cases", json={"id": "O1", "at": T0})
        assert opened.status_code == 201 and opened.json()["team"] == "hub"
        bad = {
            "wrong issuer": signer.token({"sub": "w", "team": "hub", "iss": "https://evil"}),
            "wrong audience": signer.token({"sub": "w", "team": "hub", "aud": "other"}),
            "expired": signer.token({"sub": "w", "team": "hub", "exp": 1_000_000_000}),
            "unknown key": signer.token({"sub": "w", "team": "hub"}, kid="k9"),
            "no team": signer.token({"sub": "w"}),
            "two teams": signer.token({"sub": "w", "team": ["hub", "lets"]}),
            "other signer": Signer(other).token({"sub": "w", "team": "hub"}),
        }
        import jwt

        bad["alg none"] = jwt.encode(
            {"sub": "w", "team": "hub", "iss": "https://idp.example.gov.uk", "aud": "care-pathway",
             "exp": 9_999_999_999}, key=None, algorithm="none", headers={"kid": "k1"},
        )  # fmt: skip
        bad["shared secret"] = jwt.encode(
            {"sub": "w", "team": "hub", "iss": "https://idp.example.gov.uk", "aud": "care-pathway",
             "exp": 9_999_999_999}, key="x" * 32, algorithm="HS256", headers={"kid": "k1"},
        )  # fmt: skip
        for name, token in bad.items():
            with client(base, token) as http:
                response = http.get("/cases")
            assert response.status_code == 401, name
    with open_store(location, create=False) as store:
        (event,) = store.history("O1")
    assert (event.actor_id, event.actor_team, event.actor_roles) == ("w-idp-1", "hub", ("manager",))


def test_a_bad_oidc_settings_file_names_its_places(tmp_path: Path) -> None:
    from pathway.errors import DefinitionError

    path = tmp_path / "oidc.yaml"
    path.write_text("issuer: x\naudience: ''\njwks_file: k.json\nalgorithms: [HS256]\nfoo: 1\n")
    with pytest.raises(DefinitionError) as caught:
        load_oidc_settings(path)
    text = str(caught.value)
    assert "/audience" in text and "/algorithms/0" in text and "/foo" in text


# --- cases, concurrency, idempotency -------------------------------------------------------


def test_open_gives_201_location_and_etag_and_a_duplicate_is_409(service: Service) -> None:
    response = _open(service, "C2")
    assert response.status_code == 201
    assert response.headers["location"] == "/cases/C2" and response.headers["etag"] == '"1"'
    assert response.json()["state"] == "contact"
    _problem(_open(service, "C2"), 409, "case-exists")
    with service.as_("hub") as http:
        got = http.get("/cases/C2")
        _problem(http.get("/cases/NOPE"), 404, "not-found")
    assert got.headers["etag"] == '"1"' and got.json()["id"] == "C2"


def test_if_match_stale_is_412_and_writes_nothing(service: Service) -> None:
    _open(service, "C3")
    at = "2026-03-02T09:10:00Z"
    stale = _fire(service, "C3", "self_refer", "hub", at, headers={"If-Match": '"7"'})
    body = _problem(stale, 412, "precondition-failed")
    assert body["current_version"] == 1 and stale.headers["etag"] == '"1"'
    assert len(service.events("C3")) == 1
    _problem(
        _fire(service, "C3", "self_refer", "hub", at, headers={"If-Match": "seven"}),
        400, "bad-request",
    )  # fmt: skip
    fresh = _fire(service, "C3", "self_refer", "hub", at, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"2"'


def test_if_match_can_be_required(store_factory: Any) -> None:
    location = store_factory.location("ifm")
    tokens = _tokens(location)
    with running(ServerSettings(db=location, require_if_match=True)) as base:
        service = Service(base, location, tokens)
        _open(service, "C4")
        _problem(
            _fire(service, "C4", "self_refer", "hub", "2026-03-02T09:10:00Z"),
            428, "precondition-required",
        )  # fmt: skip


def test_a_retry_with_the_same_key_returns_the_first_response_once(service: Service) -> None:
    key = {"Idempotency-Key": "open-C5-1"}
    with service.as_("hub") as http:
        first = http.post("/cases", json={"id": "C5", "at": T0}, headers=key)
        again = http.post("/cases", json={"id": "C5", "at": T0}, headers=key)
        other = http.post("/cases", json={"id": "C5", "at": T0, "note": "x"}, headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    body = _problem(other, 422, "idempotency-key-reused")
    assert body["differs"] == ["note"]
    at = "2026-03-02T09:10:00Z"
    fire_key = {"Idempotency-Key": "fire-C5-1", "If-Match": '"1"'}
    one = _fire(service, "C5", "self_refer", "hub", at, headers=fire_key)
    two = _fire(service, "C5", "self_refer", "hub", at, headers=fire_key)
    assert one.status_code == two.status_code == 200 and one.json() == two.json()
    assert one.headers["etag"] == two.headers["etag"] == '"2"'
    assert [e.trigger for e in service.events("C5")] == ["open", "self_refer"]


def test_triggers_history_and_case_pages(service: Service) -> None:
    for n in range(5):
        _open(service, f"P{n}")
    _fire(service, "P0", "self_refer", "hub", "2026-03-02T09:10:00Z")
    _fire(service, "P0", "offer_choice_appointment", "hub", "2026-03-02T09:20:00Z")
    with service.as_("lets") as http:
        triggers = http.get("/cases/P0/triggers").json()
        allowed = {t["trigger"] for t in triggers["triggers"] if t["allowed"]}
        assert "accept_handoff" in allowed and triggers["version"] == 3
        page = http.get("/cases/P0/history", params={"limit": 2}).json()
        assert [e["seq"] for e in page["events"]] == [1, 2] and page["next_after"] == 2
        rest = http.get("/cases/P0/history", params={"after": 2, "limit": 2}).json()
        assert [e["seq"] for e in rest["events"]] == [3] and rest["next_after"] is None
        _problem(http.get("/cases/P0/history", params={"limit": 0}), 400, "bad-request")
        first = http.get("/cases", params={"limit": 2}).json()
        assert [c["id"] for c in first["cases"]] == ["P0", "P1"] and first["next_after"]
        after = first["next_after"]
        second = http.get("/cases", params={"limit": 2, "after": after}).json()
        assert [c["id"] for c in second["cases"]] == ["P2", "P3"]
        last = http.get("/cases", params={"limit": 2, "after": second["next_after"]}).json()
        assert [c["id"] for c in last["cases"]] == ["P4"] and last["next_after"] is None
        _problem(http.get("/cases", params={"after": "not-a-cursor"}), 400, "invalid-request")
        offered = http.get("/cases", params={"state": "offered_to_lets"}).json()
        assert [(c["id"], c["team"]) for c in offered["cases"]] == [("P0", "hub")]
        referral = http.get("/cases", params={"state": "referral"}).json()["cases"]
        contact = http.get("/cases", params={"state": "contact", "team": "hub"}).json()["cases"]
        assert [c["id"] for c in contact] == ["P1", "P2", "P3", "P4"] and referral == []
        assert http.get("/cases", params={"status": "closed"}).json()["cases"] == []
        # P0 changed at 09:20 (its offer); the others were last touched when opened, at 09:00.
        since = http.get("/cases", params={"changed_since": "2026-03-02T09:15:00Z"}).json()
        assert [c["id"] for c in since["cases"]] == ["P0"]
        assert len(http.get("/cases", params={"changed_since": T0}).json()["cases"]) == 5
        _problem(http.get("/cases", params={"status": "shut"}), 400, "bad-request")


def test_reports_are_the_library_s_json_and_bad_scopes_are_400(service: Service) -> None:
    _open(service, "R1")
    _fire(service, "R1", "self_refer", "hub", "2026-03-02T09:10:00Z")
    _fire(service, "R1", "offer_choice_appointment", "hub", "2026-03-02T09:20:00Z")
    _fire(service, "R1", "accept_handoff", "lets", "2026-03-03T09:00:00Z")
    as_of = "2026-04-01T00:00:00Z"
    with service.as_("hub") as http:
        got = {
            name: http.get(f"/reports/{name}", params={"as_of": as_of}).json()
            for name in ("handoffs", "holding", "waits", "caseload")
        }
        s75 = http.get("/reports/s75", params={"as_of": as_of, "threshold": "5"}).json()
        _problem(http.get("/reports/nope"), 404, "not-found")
        _problem(http.get("/reports/s75", params={"threshold": "-1"}), 400, "bad-request")
        _problem(http.get("/reports/s75", params={"threshold": "٣"}), 400, "bad-request")
        unknown = _problem(
            http.get("/reports/holding", params={"threshold": "2"}), 400, "bad-request"
        )
        assert unknown["errors"][0]["pointer"] == "/threshold"
        funding = http.get("/reports/funding", params={"as_of": as_of, "budget_pence": "1,000"})
        assert funding.status_code == 200 and funding.json()["budget"]
        _problem(http.get("/reports/handoffs", params={"team": "nobody"}), 400, "bad-request")
        _problem(http.get("/reports/handoffs", params={"as_of": "yesterday"}), 400, "bad-request")
        page = http.get("/dashboard", params={"as_of": as_of})
    from pathway.definition import load_pathway

    scope = reports.Scope(as_of=datetime(2026, 4, 1, tzinfo=UTC))
    compiled = load_pathway("barnet-enablement")
    with open_store(service.location, create=False) as store:
        conn = store.connection
        assert got["handoffs"] == reports.handoffs_report(conn, scope, compiled).to_json()
        assert got["holding"] == reports.holding_report(conn, scope).to_json()
        assert got["caseload"] == reports.caseload_report(conn, scope).to_json()
        assert s75 == reports.s75_report(conn, scope, 5, pathway=compiled).to_json()
    assert got["handoffs"]["handoffs"] == 1  # hub -> lets, worked from the steps above
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()


def test_the_access_log_names_cases_and_workers_never_bodies(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Morgan says the friend takes the bank card"
    with caplog.at_level(logging.INFO, logger="pathway.server"):
        _open(service, "L1", note=secret, person={"name": "Morgan Example"})
    lines = [r.getMessage() for r in caplog.records if r.name == "pathway.server.access"]
    assert any("POST /cases 201" in line and "worker=w-hub-1" in line for line in lines)
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert all("Morgan" not in r.getMessage() for r in caplog.records)


# --- the OpenAPI document ------------------------------------------------------------------


def test_the_openapi_document_validates_and_uses_the_project_schemas(service: Service) -> None:
    from openapi_spec_validator import validate

    with client(service.base) as http:
        document = http.get("/openapi.json").json()
    validate(document)
    schemas = document["components"]["schemas"]
    assert {"Case", "AuditEvent", "Problem", "ReportHandoffs", "ReportFunding"} <= set(schemas)
    # The project's own schemas, as shipped (the funding report's $defs hoisted beside it).
    import json as json_module

    from pathway.packaged import data_folder

    shipped = json_module.loads(
        data_folder("schemas").joinpath("case.schema.json").read_text(encoding="utf-8")
    )
    assert schemas["Case"]["properties"] == shipped["properties"]
    assert "ReportFunding_pounds" in schemas
    history = document["paths"]["/cases/{case_id}/history"]["get"]["responses"]["200"]
    items = history["content"]["application/json"]["schema"]["properties"]["events"]["items"]
    assert items == {"$ref": "#/components/schemas/AuditEvent"}
    created = document["paths"]["/cases"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Case"}


def test_a_client_written_only_from_the_openapi_document_runs_a_case(service: Service) -> None:
    """A generic client: it finds each operation by its path and method in the document, sends
    the body the document's request schema describes, and follows ETags; no knowledge of the
    service beyond the document and the pathway's trigger names."""
    import httpx

    with client(service.base) as http:
        document = http.get("/openapi.json").json()

    def operation(path: str, method: str) -> dict[str, Any]:
        found: dict[str, Any] = document["paths"][path][method]
        return found

    def required_body(op: dict[str, Any]) -> set[str]:
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return set(schema.get("required", []))

    open_op = operation("/cases", "post")
    fire_op = operation("/cases/{case_id}/fire", "post")
    assert required_body(open_op) == {"id"} and required_body(fire_op) == {"trigger"}
    assert any(p["name"] == "If-Match" for p in fire_op["parameters"])
    steps = [("hub", "self_refer"), ("hub", "offer_choice_appointment"), ("lets", "accept_handoff")]
    with httpx.Client(base_url=service.base, timeout=30) as http:
        auth = {"Authorization": f"Bearer {service.tokens['hub']}"}
        opened = http.post("/cases", json={"id": "G1", "at": T0}, headers=auth)
        assert str(opened.status_code) in open_op["responses"]
        etag = opened.headers["etag"]
        for minute, (who, trigger) in enumerate(steps, start=1):
            auth = {"Authorization": f"Bearer {service.tokens[who]}", "If-Match": etag}
            path = "/cases/{case_id}/fire".replace("{case_id}", "G1")
            moved = http.post(
                path, json={"trigger": trigger, "at": f"2026-03-02T10:{minute:02d}:00Z"},
                headers=auth,
            )  # fmt: skip
            assert str(moved.status_code) in fire_op["responses"], moved.text
            etag = moved.headers["etag"]
        final = http.get("/cases/G1", headers=auth).json()
    assert (final["state"], final["team"], final["version"]) == ("choice_appointment", "lets", 4)
    from jsonschema import Draft202012Validator

    Draft202012Validator(document["components"]["schemas"]["Case"]).validate(final)


def test_a_store_held_by_another_writer_is_503_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock past the busy wait: 503 store-busy, Retry-After,
    nothing written; once it lets go, the same request succeeds."""
    import sqlite3

    monkeypatch.setenv("PATHWAY_BUSY_TIMEOUT", "0.2")
    location = str(tmp_path / "busy.db")
    tokens = _tokens(location)
    with running(ServerSettings(db=location)) as base:
        service = Service(base, location, tokens)
        _open(service, "B1")
        holder = sqlite3.connect(location, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            busy = _fire(service, "B1", "self_refer", "hub", "2026-03-02T09:10:00Z")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _problem(busy, 503, "store-busy")
        assert busy.headers["retry-after"] == "1"
        assert len(service.events("B1")) == 1
        done = _fire(service, "B1", "self_refer", "hub", "2026-03-02T09:10:00Z")
        assert done.status_code == 200
