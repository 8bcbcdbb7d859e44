"""Free text outside the audit chain, redaction, retention and subject access (issue 21).

Each test runs on both stores (``store_factory``). The figures are worked by hand from the
scenario below: the case ``C1`` has 3 notes and 2 free-text data fields (5 texts), ``C2`` one
note; ``C1`` is closed, ``C2`` is not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import attrs
import jsonschema
import pytest
from conftest import CMHT, HUB, LETS, Backend, FakeClock

import pathway
from pathway.audit import event_hash
from pathway.importer import import_events
from pathway.migrate import reports_json
from pathway.privacy import (
    _redact_many,
    apply_retention,
    compact,
    export_case,
    redact_case,
    retention_candidates,
)
from pathway.sealing import commit
from pathway.store.reseal import LEGACY_FREE_TEXT
from pathway.validation import load_schema

SECRETS = (
    "Morgan says the friend takes the bank card",
    "phoned Morgan at her sister's",
    "Morgan Smith is known to the CMHT",
    "plan: Morgan to see the debt adviser",
    "Morgan's sister to be offered a carer's assessment",
)
OTHER = "Robin at the library"
REDACTOR = pathway.Actor("w-dpo", "hub")


@pytest.fixture
def engine(
    minimal: pathway.Pathway, store_factory: Backend, clock: FakeClock
) -> Iterator[pathway.Engine]:
    """The minimal pathway with two declared free-text fields, on a fresh store."""
    declared = attrs.evolve(minimal, free_text=frozenset({"decline_reason", "enablement_plan"}))
    location = store_factory.location()
    store = store_factory.open(location)
    engine = pathway.Engine(declared, store, clock=clock)
    engine.location = location  # type: ignore[attr-defined]
    yield engine
    store.close()


def _scenario(engine: pathway.Engine, clock: FakeClock) -> None:
    person = pathway.Person(
        name="Morgan Smith", date_of_birth="1980-02-03", nhs_number="9434765919"
    )
    engine.open_case("C1", HUB, note=SECRETS[0], person=person, data={"route": "gp"})
    clock.advance(hours=1)
    engine.fire("C1", "book_choice_appointment", LETS, note=SECRETS[1])
    engine.fire("C1", "refer_to_cmht", LETS)
    clock.advance(hours=1)
    engine.fire("C1", "decline_handoff", CMHT, data={"decline_reason": SECRETS[2]})
    engine.fire(
        "C1", "start_enablement", LETS, note=SECRETS[4], data={"enablement_plan": SECRETS[3]}
    )
    clock.advance(days=2)
    engine.fire("C1", "complete_enablement", LETS)
    engine.open_case("C2", HUB, note=OTHER)


def _all_rows(store_factory: Backend, location: str) -> str:
    """Every row of every table of the store, as one text (read outside the library)."""
    with store_factory.raw(location) as conn:
        if store_factory.name == "sqlite":
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
        else:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            ]
        return "\n".join(
            repr(row) for name in names for row in conn.execute(f"SELECT * FROM {name}").fetchall()
        )


def test_free_text_is_outside_the_chain_and_proven_by_it(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    history = engine.store.history("C1")
    assert [e.note for e in history] == [SECRETS[0], SECRETS[1], None, None, SECRETS[4], None]
    assert history[3].data == {"decline_reason": SECRETS[2]}
    assert history[4].data == {"enablement_plan": SECRETS[3]}
    assert history[0].data == {"route": "gp"}  # structured: stays in the chain as written
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        events = repr(conn.execute("SELECT * FROM events").fetchall())
        kept = conn.execute(
            "SELECT event_position, field, value, salt FROM free_text ORDER BY event_position, field"
        ).fetchall()
    assert all(secret not in events for secret in (*SECRETS, OTHER))
    assert '"route":"gp"' in events
    assert [(p, f) for p, f, _v, _s in kept] == [
        (1, "note"), (2, "note"), (4, "data.decline_reason"), (5, "data.enablement_plan"),
        (5, "note"), (7, "note"),
    ]  # fmt: skip
    # Each commitment in the chain is HMAC-SHA256 keyed by the salt over the text's JSON,
    # recomputed here with the standard library (not the code under test).
    by_position = {e.position: e for e in history}
    for position, field, value, salt in kept:
        if position == 7:
            continue
        expected = (
            "hmac-sha256:"
            + hmac.new(bytes.fromhex(salt), value.encode(), hashlib.sha256).hexdigest()
        )
        assert by_position[position].sealed[field] == expected
        assert json.loads(value) in SECRETS
    for event in history:  # the reference hash (text replaced by its commitment) is the stored one
        assert event_hash(event) == event.hash
    result = engine.store.verify()
    assert result.ok, result.problem
    assert (result.texts, result.redacted, result.redactions) == (6, 0, 0)


def test_a_tampered_note_is_caught_before_redaction(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        conn.execute(
            "UPDATE free_text SET value = '\"Morgan says nothing\"' "
            "WHERE event_position = 1 AND field = 'note'"
        )
    result = engine.store.verify()
    assert not result.ok
    assert result.problem == (
        "the note of the event at position 1 (case C1): its text does not match its commitment "
        "(altered)"
    )


@pytest.mark.parametrize(
    ("statement", "ending"),
    [
        (
            "UPDATE free_text SET value = NULL, salt = NULL WHERE event_position = 2",
            "its text was removed without a recorded redaction (tampered)",
        ),
        (
            "DELETE FROM free_text WHERE event_position = 2",
            "the chain holds a commitment but its text and redaction record are gone (deleted)",
        ),
        (
            "UPDATE free_text SET salt = '00' WHERE event_position = 2",
            "its text does not match its commitment (altered)",
        ),
    ],
)
def test_text_removed_or_reset_outside_a_redaction_is_caught(
    engine: pathway.Engine,
    clock: FakeClock,
    store_factory: Backend,
    statement: str,
    ending: str,
) -> None:
    _scenario(engine, clock)
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        conn.execute(statement)
    result = engine.store.verify()
    assert not result.ok
    assert result.problem == f"the note of the event at position 2 (case C1): {ending}"


def test_redaction_removes_the_text_everywhere_and_the_chain_verifies(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    location = engine.location  # type: ignore[attr-defined]
    as_of = datetime(2026, 2, 1, tzinfo=UTC)
    before_reports = reports_json(engine.store.connection, as_of, engine.pathway)
    before_head = engine.store.checkpoint()
    assert "Morgan Smith" in _all_rows(store_factory, location)

    done = redact_case(engine.store, "C1", reason="erasure request 2026-114", actor=REDACTOR)

    assert (done.position, done.texts, done.person) == (1, 5, True)
    everything = _all_rows(store_factory, location)
    for secret in (*SECRETS, "Morgan Smith", "9434765919"):
        assert secret not in everything
    assert OTHER in everything  # another case's note is untouched
    if store_factory.name == "sqlite":  # VACUUM and the WAL checkpoint leave no copy on disk
        raw = b"".join(
            Path(location + suffix).read_bytes()
            for suffix in ("", "-wal")
            if Path(location + suffix).exists()
        )
        for secret in (*SECRETS, "Morgan Smith"):
            assert secret.encode() not in raw
        assert OTHER.encode() in raw
    result = engine.store.verify(against=before_head)
    assert result.ok, result.problem
    assert (result.texts, result.redacted, result.redacted_cases, result.redactions) == (1, 5, 1, 1)
    assert engine.store.checkpoint() == before_head  # the events chain did not move
    assert reports_json(engine.store.connection, as_of, engine.pathway) == before_reports
    history = engine.store.history("C1")
    assert [e.note for e in history] == [None] * 6
    assert history[0].data == {"route": "gp"}
    assert history[3].data == {} and history[3].redacted == ("data.decline_reason",)
    assert history[4].redacted == ("data.enablement_plan", "note")
    assert all(event_hash(e) == e.hash for e in history)
    assert engine.store.person("C1") is None
    assert "enablement_plan" not in engine.store.case("C1").attributes


def test_redaction_scrubs_idempotency_records_and_a_retry_is_refused(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    engine.open_case("C3", HUB, note=SECRETS[0], idempotency_key="k1")
    digest = hashlib.sha256(json.dumps(SECRETS[0]).encode()).hexdigest()
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        (fingerprint,) = conn.execute("SELECT fingerprint FROM idempotency").fetchone()
    assert json.loads(fingerprint)["note"] == digest  # SHA-256 of the note's JSON, guessable
    redact_case(engine.store, "C3", reason="erasure request", actor=REDACTOR)
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        (fingerprint,) = conn.execute("SELECT fingerprint FROM idempotency").fetchone()
    assert json.loads(fingerprint)["note"] == json.loads(fingerprint)["data"] == "redacted"
    assert digest not in _all_rows(store_factory, engine.location)  # type: ignore[attr-defined]
    with pytest.raises(pathway.IdempotencyMismatch):
        engine.open_case("C3", HUB, note=SECRETS[0], idempotency_key="k1")
    assert engine.store.verify().ok


def test_redaction_is_all_or_nothing(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    with pytest.raises(pathway.CaseNotFound):
        _redact_many(engine.store, ["C1", "nobody"], "retention", REDACTOR, False)
    assert engine.store.history("C1")[0].note == SECRETS[0]
    assert engine.store.person("C1") is not None
    assert engine.store.verify().redactions == 0
    with pytest.raises(pathway.InvalidRequest, match="needs a reason"):
        redact_case(engine.store, "C1", reason="  ", actor=REDACTOR)


def test_the_privacy_log_is_append_only_and_chained(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    redact_case(engine.store, "C1", reason="erasure request", actor=REDACTOR)
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        with pytest.raises(store_factory.refused_error):  # type: ignore[attr-defined]
            conn.execute("UPDATE redactions SET reason = 'nothing'")
        with pytest.raises(store_factory.refused_error):  # type: ignore[attr-defined]
            conn.execute("DELETE FROM redactions")
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        if store_factory.name == "sqlite":
            conn.execute("DROP TRIGGER redactions_no_delete")
        else:
            conn.execute("DROP TRIGGER redactions_refuse_delete ON redactions")
        conn.execute("DELETE FROM redactions")  # a tamperer hiding the redaction
    result = engine.store.verify()
    assert not result.ok
    assert result.problem is not None and result.problem.endswith(
        "its text was removed without a recorded redaction (tampered)"
    )


def test_retention_dry_run_then_apply(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)  # C1 closed on 2026-01-07 (last event); C2 open
    assert retention_candidates(engine.store, date(2026, 1, 7)) == []  # not before the 7th
    found = retention_candidates(engine.store, date(2026, 1, 8))
    assert [(c.case_id, c.texts, c.person) for c in found] == [("C1", 5, True)]
    assert engine.store.history("C1")[0].note == SECRETS[0]  # a dry run changes nothing
    done = apply_retention(engine.store, date(2026, 1, 8), actor=REDACTOR)
    assert [(d.case_id, d.texts, d.reason) for d in done] == [
        ("C1", 5, "retention: closed, last event before 2026-01-08")
    ]
    assert retention_candidates(engine.store, date(2030, 1, 1)) == []  # C2 is open
    assert apply_retention(engine.store, date(2026, 1, 8), actor=REDACTOR) == []
    result = engine.store.verify()
    assert result.ok and (result.redacted, result.redactions) == (5, 1)


def test_subject_access_export_validates_and_holds_everything(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    schema = load_schema("case_export")
    document = export_case(engine.store, "C1")
    jsonschema.validate(document, schema)
    assert document["person"]["name"] == "Morgan Smith"
    assert [e["note"] for e in document["history"]][:2] == [SECRETS[0], SECRETS[1]]
    assert document["history"][4]["data"] == {"enablement_plan": SECRETS[3]}
    assert document["redactions"] == []
    redact_case(engine.store, "C1", reason="erasure request", actor=REDACTOR)
    after = json.loads(json.dumps(export_case(engine.store, "C1")))
    jsonschema.validate(after, schema)
    assert after["person"] is None
    assert after["history"][4]["redacted"] == ["data.enablement_plan", "note"]
    assert [(r["position"], r["texts"], r["person"]) for r in after["redactions"]] == [(1, 5, True)]
    assert all(secret not in json.dumps(after) for secret in SECRETS)


def test_the_shipped_pathway_declares_the_fields_the_migration_moves() -> None:
    shipped = pathway.load_pathway("barnet-enablement")
    assert shipped.free_text == frozenset(LEGACY_FREE_TEXT)


def test_commitment_is_keyed_by_the_salt() -> None:
    salt = "00" * 16
    assert (
        commit('"a"', salt)
        == "hmac-sha256:" + hmac.new(bytes(16), b'"a"', hashlib.sha256).hexdigest()
    )
    assert commit('"a"', "01" * 16) != commit('"a"', salt)


# --- imports keep only what is declared -----------------------------------------------------------

LOG = """case_id,occurred_at,state,team,client_name,address
A,2026-01-05T09:00:00+00:00,referral,hub,Morgan Smith,1 Elm Road
A,2026-01-06T09:00:00+00:00,closed,lets,Morgan Smith,
B,2026-01-05T10:00:00+00:00,referral,hub,Robin Jones,2 Oak Lane
"""


def test_an_undeclared_column_is_refused_with_its_name_and_nothing_written(
    store_factory: Backend,
) -> None:
    location = store_factory.location()
    with store_factory.open(location) as store:
        before = _all_rows(store_factory, location)
        with pytest.raises(pathway.DefinitionError) as caught:
            import_events(store, "log.csv", text=LOG, keep=["address"])
        assert [str(p) for p in caught.value.problems] == [
            "log.csv:1: column(s) client_name are not event-log columns (allowed: case_id, "
            "occurred_at, state, team, organisation, actor, trigger); name each with --keep "
            "COLUMN to keep it as free text outside the audit chain (redactable), or with --drop "
            "COLUMN to leave it out: nothing personal may enter the audit trail"
        ]
        assert _all_rows(store_factory, location) == before
        assert store.checkpoint().position == 0


def test_a_kept_column_is_outside_the_chain_and_redactable(store_factory: Backend) -> None:
    location = store_factory.location()
    with store_factory.open(location) as store:
        import_events(
            store,
            "log.csv",
            text=LOG,
            keep=["client_name"],
            drop=["address"],
            final_states=["closed"],
        )
        with store_factory.raw(location) as conn:
            events = repr(conn.execute("SELECT * FROM events").fetchall())
        assert "Morgan" not in events and "Robin" not in events and "Elm Road" not in events
        history = store.history("A")
        assert [e.data for e in history] == [{"client_name": "Morgan Smith"}] * 2
        assert all(event_hash(e) == e.hash for e in history)
        result = store.verify()
        assert result.ok and result.texts == 3, result.problem
        redact_case(store, "A", reason="erasure request", actor=REDACTOR)
        everything = _all_rows(store_factory, location)
        assert "Morgan Smith" not in everything and "Robin Jones" in everything
        result = store.verify()
        assert result.ok and (result.texts, result.redacted) == (1, 2), result.problem
        assert [e.data for e in store.history("A")] == [{}, {}]


def test_the_cli_refuses_an_undeclared_column_exit_2(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(LOG)
    done = subprocess.run(
        [sys.executable, "-m", "pathway", "import", "log.csv", "--db", "s.db", "--keep", "address"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "column(s) client_name are not event-log columns" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "s.db").exists()
    done = subprocess.run(
        [sys.executable, "-m", "pathway", "import", "log.csv", "--db", "s.db",
         "--keep", "client_name", "--drop", "address"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    verify = subprocess.run(
        [sys.executable, "-m", "pathway", "audit", "verify", "--db", "s.db"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "free text: 3 held and matching their commitments; 0 redacted" in verify.stdout


# --- the migration of a store written before free text was sealed -----------------------------------


def _make_legacy(store_factory: Backend, location: str) -> str:
    """Turn the store at ``location`` into one as schema 6 wrote it: each note and free text in
    its event's row and hashed as written (the reference hash over the plain event), no
    ``free_text`` or ``redactions`` table. Returns the legacy head hash."""
    ph = "?" if store_factory.name == "sqlite" else "%s"
    with store_factory.open(location, create=False) as store:
        events = [store.history(case.id) for case in store.cases()]
    plain = sorted(
        (attrs.evolve(e, sealed={}) for h in events for e in h), key=lambda e: e.position
    )
    with store_factory.raw(location) as conn:
        store_factory.drop_trigger(conn, "events_refuse_update")  # type: ignore[attr-defined]
        prev = "0" * 64
        for event in plain:
            event = attrs.evolve(event, prev_hash=prev)
            digest = event_hash(event)
            conn.execute(
                f"UPDATE events SET note = {ph}, data = {ph}, prev_hash = {ph}, hash = {ph} "
                f"WHERE position = {ph}",
                (event.note, json.dumps(dict(event.data), sort_keys=True, separators=(",", ":"),
                 ensure_ascii=False), prev, digest, event.position),
            )  # fmt: skip
            prev = digest
        conn.execute("DROP TABLE free_text")
        conn.execute("DROP TABLE redactions")
        conn.execute(
            "CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events BEGIN SELECT "
            "RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END"
            if store_factory.name == "sqlite"
            else "CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_refuse_change()"
        )
        if store_factory.name == "postgres":
            conn.execute(f"UPDATE chain_head SET position = {len(plain)}, hash = '{prev}'")
        store_factory.set_schema_version(conn, 6)  # type: ignore[attr-defined]
    return prev


def test_the_migration_moves_existing_notes_out_and_reseals_the_chain(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    location = engine.location  # type: ignore[attr-defined]
    notes = [e.note for e in engine.store.history("C1")]
    engine.store.close()
    legacy_head = _make_legacy(store_factory, location)
    with store_factory.raw(location) as conn:
        assert SECRETS[0] in repr(conn.execute("SELECT note FROM events").fetchall())
    with store_factory.open(location) as store:  # migrates
        history = store.history("C1")
        assert [e.note for e in history] == notes
        assert history[3].data == {"decline_reason": SECRETS[2]}
        result = store.verify()
        assert result.ok, result.problem
        # "decline_reason" and "enablement_plan" are free text of the shipped pathway too
        assert result.texts == 6
        record = json.loads(store.get_meta("free_text_migration") or "{}")
        assert record["before"] == {"position": 7, "hash": legacy_head}
        assert record["after"]["hash"] == store.checkpoint().hash != legacy_head
        assert record["texts_moved"] == 6
        redact_case(store, "C1", reason="erasure request", actor=REDACTOR)
        assert store.verify().ok
    with store_factory.raw(location) as conn:
        events = repr(conn.execute("SELECT * FROM events").fetchall())
    assert all(secret not in events for secret in (*SECRETS, OTHER))


def test_the_migration_refuses_to_seal_a_chain_that_does_not_verify(
    engine: pathway.Engine, clock: FakeClock, store_factory: Backend
) -> None:
    _scenario(engine, clock)
    location = engine.location  # type: ignore[attr-defined]
    engine.store.close()
    _make_legacy(store_factory, location)
    with store_factory.raw(location) as conn:
        store_factory.drop_trigger(conn, "events_refuse_update")  # type: ignore[attr-defined]
        conn.execute("UPDATE events SET note = 'rewritten' WHERE position = 2")
    with pytest.raises(pathway.StoreError, match="the chain does not verify as it stands"):
        store_factory.open(location)
    with store_factory.raw(location) as conn:  # nothing was migrated
        assert (
            conn.execute("SELECT note FROM events WHERE position = 1").fetchone()[0] == SECRETS[0]
        )


# --- the commands ----------------------------------------------------------------------------------


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args, "--db", "s.db"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_commands_export_list_and_redact(
    minimal: pathway.Pathway, clock: FakeClock, tmp_path: Path
) -> None:
    declared = attrs.evolve(minimal, free_text=frozenset({"decline_reason", "enablement_plan"}))
    with pathway.open_store(tmp_path / "s.db") as store:
        _scenario(pathway.Engine(declared, store, clock=clock), clock)
    exported = _run("case", "export", "C1", "--out", "c1.json", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    document = json.loads((tmp_path / "c1.json").read_text())
    jsonschema.validate(document, load_schema("case_export"))
    assert document["history"][0]["note"] == SECRETS[0]
    listed = _run("retention", "--closed-before", "2026-01-08", "--format", "csv", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith("C1,")
    assert "Would redact (dry run; --apply to redact): 1 case(s)" in listed.stderr
    refused = _run("retention", "--closed-before", "2026-01-08", "--apply", cwd=tmp_path)
    assert refused.returncode == 2 and "--apply needs --actor and --team" in refused.stderr
    bad = _run("retention", "--closed-before", "8 Jan", cwd=tmp_path)
    assert bad.returncode == 2 and "'8 Jan' is not a date (YYYY-MM-DD)" in bad.stderr
    missing = _run(
        "case", "redact", "C9", "--reason", "r", "--actor", "a", "--team", "hub", cwd=tmp_path
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    done = _run(
        "case", "redact", "C1", "--reason", "erasure request 2026-114", "--actor", "w-dpo",
        "--team", "hub", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "Redacted case C1: 5 free text(s) removed, personal details removed; privacy log entry 1."
    )
    verified = _run("audit", "verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert (
        "free text: 1 held and matching their commitments; 5 redacted (of 1 case(s)) by 1 "
        "recorded redaction(s)" in verified.stdout
    )
    assert _run("retention", "--closed-before", "2026-01-08", cwd=tmp_path).stderr.startswith(
        "Would redact (dry run; --apply to redact): 0 case(s)"
    )
    assert SECRETS[0].encode() not in (tmp_path / "s.db").read_bytes()


def test_a_redaction_commits_even_when_vacuum_cannot_run(
    minimal: pathway.Pathway, clock: FakeClock, tmp_path: Path
) -> None:
    declared = attrs.evolve(minimal, free_text=frozenset({"decline_reason", "enablement_plan"}))
    with pathway.open_store(tmp_path / "s.db") as store:
        _scenario(pathway.Engine(declared, store, clock=clock), clock)
        reader = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()  # holds a read snapshot
        done = redact_case(store, "C1", reason="erasure request", actor=REDACTOR)
        reader.execute("ROLLBACK")
        reader.close()
        assert (done.texts, done.compacted) == (5, False)
        assert store.history("C1")[0].note is None and store.verify().ok
        assert compact(store)
    assert SECRETS[0].encode() not in (tmp_path / "s.db").read_bytes()
