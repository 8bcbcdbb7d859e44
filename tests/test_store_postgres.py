"""What only the PostgreSQL store has: the application role's grants, a pool shared by threads,
URLs, a clear message for every way of getting the location wrong, and ``pathway migrate``
between the two backends (round trips both ways)."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner
from conftest import HUB, LETS, MINIMAL, SESSION_PREFIX, PostgresBackend

import pathway
from pathway.cli import cli
from pathway.importer import import_events
from pathway.migrate import migrate_store, reports_json

LOOP = Path(__file__).resolve().parent / "data" / "loop.yaml"


@pytest.fixture
def backend(pg_url: str) -> Iterator[PostgresBackend]:
    made = PostgresBackend(pg_url, f"{SESSION_PREFIX}_pg")
    yield made
    made.cleanup()


def _as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


# --- append-only for the application's role ---------------------------------------------------


@pytest.fixture
def app_role(backend: PostgresBackend) -> Iterator[str]:
    """A login role of this session's own, dropped (with its grants) afterwards."""
    role = f"{SESSION_PREFIX}_app"[:63]
    with backend.raw(backend.url) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    yield role
    backend.cleanup()
    with backend.raw(backend.url) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def test_the_app_role_appends_events_but_cannot_change_or_remove_one(
    backend: PostgresBackend, app_role: str
) -> None:
    """Created by the owner with ``app_role``, the store lets that role fire transitions, and
    refuses it UPDATE, DELETE and TRUNCATE of events by privilege (not only by trigger)."""
    location = backend.location("grants")
    owner_url = f"{location}&app_role={app_role}"
    pathway.open_store(owner_url).close()
    app_url = _as_user(location, app_role)
    with pathway.open_store(app_url, create=False) as store:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        engine.open_case("C1", HUB, person=pathway.Person("Ada Example", None, None))
        engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k")
        assert store.erase_person("C1")
        assert store.verify().ok and store.checkpoint().position == 2
    with backend.raw(app_url) as conn:
        for statement in ("UPDATE events SET note = 'x'", "DELETE FROM events", "TRUNCATE events"):
            with pytest.raises(backend.refused_error, match="permission denied"):
                conn.execute(statement)
        with pytest.raises(backend.refused_error, match="must be owner"):
            conn.execute("DROP TABLE events")
        privileges = {
            row[0]
            for row in conn.execute(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                "WHERE table_name = 'events' AND grantee = %s",
                (app_role,),
            )
        }
    assert privileges == {"SELECT", "INSERT"}
    with pathway.open_store(location, create=False) as store:
        assert [e.trigger for e in store.history("C1")] == ["open", "book_choice_appointment"]


def test_an_unknown_app_role_is_refused_and_nothing_is_created(backend: PostgresBackend) -> None:
    """Granting to a role that does not exist is one clear message; the schema is not created."""
    location = backend.location("norole")
    with pytest.raises(pathway.StoreError, match="app_role 'no_such_role_here' does not exist"):
        pathway.open_store(f"{location}&app_role=no_such_role_here")
    with pytest.raises(pathway.StoreError, match="no store in schema"):
        pathway.open_store(location, create=False)


# --- one store shared by threads ----------------------------------------------------------------


def test_threads_sharing_one_store_lose_nothing(backend: PostgresBackend) -> None:
    """Eight threads firing through one store object (its connection pool) on shared and own
    cases: every fire is one event, the chain verifies, the versions add up."""
    definition = pathway.load_pathway(LOOP)
    location = backend.location("threads") + "&pool_max=4"
    errors: list[BaseException] = []
    with pathway.open_store(location) as store:
        engine = pathway.Engine(definition, store)
        shared = ("s1", "s2")
        for case_id in (*shared, *(f"own{n}" for n in range(8))):
            engine.open_case(case_id, pathway.Actor("opener", "ta"))

        def work(n: int) -> None:
            try:
                actor = pathway.Actor(f"w{n}", "ta")
                for i in range(15):
                    for case_id in (f"own{n}", shared[i % 2]):
                        state = store.case(case_id).state
                        # Someone else may move a shared case first: the refusal is recorded.
                        with contextlib.suppress(pathway.TransitionRefused):
                            engine.fire(case_id, "go" if state == "a" else "back", actor)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert all(store.case(f"own{n}").version == 16 for n in range(8))
        total = sum(len(store.history(c.id)) for c in store.cases())
        assert total == 10 + 8 * 30  # every call wrote exactly one event (applied or refused)
        assert store.verify().ok and store.checkpoint().position == total
        assert store.integrity_check() == "ok"


# --- locations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("?schema=Bad-Name", "must be a lower-case PostgreSQL name"),
        ("?schema=x&pool_max=0", "pool_max must be a whole number"),
        ("?bogus=1", "not a valid PostgreSQL URL"),
    ],
)
def test_bad_urls_are_one_clear_message(pg_url: str, suffix: str, message: str) -> None:
    """A malformed URL is a StoreError naming the problem, before anything is contacted."""
    base = pg_url.split("?")[0]
    with pytest.raises(pathway.StoreError, match=message):
        pathway.open_store(base + suffix)


def test_an_unreachable_server_is_one_message_without_the_password() -> None:
    """A server that does not answer is a StoreError; the password never appears in it."""
    with pytest.raises(pathway.StoreError, match="cannot connect to PostgreSQL") as info:
        pathway.open_store("postgresql://someone:s3cret@127.0.0.1:1/db?connect_timeout=2")
    assert "s3cret" not in str(info.value)
    assert "someone:***@127.0.0.1:1" in str(info.value)


def test_the_cli_reports_a_bad_location_in_one_line(tmp_path: Path) -> None:
    """``--db`` with an unreachable server: exit 2, one line on stderr, no traceback."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pathway",
            "audit",
            "verify",
            "--db",
            "postgresql://x@127.0.0.1:1/db",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: postgresql://x@127.0.0.1:1/db: cannot connect")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_importing_pathway_does_not_import_psycopg() -> None:
    """The core and the CLI load without psycopg: only a postgresql:// location imports it."""
    code = "import sys, pathway, pathway.cli, pathway.migrate; print('psycopg' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_without_the_extra_a_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With psycopg missing, a postgresql:// location says which extra to install."""
    monkeypatch.setitem(sys.modules, "pathway.store.postgres", None)
    with pytest.raises(pathway.StoreError, match=r"pip install 'care-pathway\[postgres\]'"):
        pathway.open_store("postgresql://someone:pw@localhost/db")


def test_the_cli_runs_on_a_postgres_store(backend: PostgresBackend) -> None:
    """init, case open/fire/history, audit verify and a report through ``--db`` / $PATHWAY_DB."""
    location = backend.location("cli")
    runner = CliRunner()
    env = {"PATHWAY_DB": location}
    assert runner.invoke(cli, ["init", "--pathway", str(MINIMAL)], env=env).exit_code == 0
    opened = runner.invoke(cli, ["case", "open", "C1", "--actor", "w", "--team", "hub"], env=env)
    assert opened.exit_code == 0, opened.output
    fired = runner.invoke(
        cli, ["case", "fire", "C1", "book_choice_appointment", "--actor", "w2", "--team", "lets"],
        env=env,
    )  # fmt: skip
    assert fired.exit_code == 0, fired.output
    verified = runner.invoke(cli, ["audit", "verify"], env=env)
    assert verified.exit_code == 0 and "ok: 2 events verified" in verified.output
    report = runner.invoke(cli, ["report", "handoffs", "--format", "json", "--db", location])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["handoffs"] == 1


# --- migrate: SQLite <-> PostgreSQL -------------------------------------------------------------


def _populated(location: str) -> None:
    """A store with engine-written cases (refusals, keys, a person) and an imported log."""
    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    with pathway.open_store(location) as store:
        store.set_meta("pathway", str(MINIMAL))
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store, clock=lambda: now[0])
        for n in range(5):
            engine.open_case(f"E{n}", HUB, person=pathway.Person(f"Person {n}", None, None))
            now[0] += timedelta(hours=3)
            engine.fire(f"E{n}", "book_choice_appointment", LETS, idempotency_key=f"k{n}")
            now[0] += timedelta(days=n)
            with pytest.raises(pathway.TransitionRefused):
                engine.fire(f"E{n}", "start_enablement", LETS)
        log = "case_id,occurred_at,state,team\n" + "\n".join(
            f"I{n},2026-02-{1 + n % 20:02d}T10:00:00Z,referred,hub\n"
            f"I{n},2026-02-{2 + n % 20:02d}T11:30:00Z,choice_appointment,lets\n"
            f"I{n},2026-02-{4 + n % 20:02d}T09:15:00Z,specialist,{'cmht' if n % 3 else 'lets'}"
            for n in range(40)
        )
        import_events(store, "log.csv", text=log)


def _everything(location: str) -> dict[str, Any]:
    with pathway.open_store(location, create=False) as store:
        return {
            "cases": list(store.cases()),
            "events": list(store.events()),
            "people": [store.person(f"E{n}") for n in range(5)],
            "head": store.checkpoint(),
            "meta": store.get_meta("pathway"),
            "verify": store.verify().ok,
            "reports": reports_json(
                store.connection, datetime(2026, 6, 1, tzinfo=UTC), pathway.load_pathway(MINIMAL)
            ),
        }


def test_migrate_round_trips_sqlite_to_postgres_and_back(
    tmp_path: Path, backend: PostgresBackend
) -> None:
    """SQLite -> PostgreSQL -> SQLite: cases, events (positions and hashes), people, keys, meta,
    and every report come back the same; each copy verifies; an idempotency key still replays."""
    first, server, back = str(tmp_path / "a.db"), backend.location("mig"), str(tmp_path / "b.db")
    _populated(first)
    there = migrate_store(first, server)
    assert there.rows["cases"] == 45 and there.rows["events"] == 5 * 3 + 40 * 3
    assert there.head.position == 135
    assert set(there.reports) == set(pathway.reports.REPORTS)
    again = migrate_store(server, back)
    assert again.head == there.head
    original, copied, returned = _everything(first), _everything(server), _everything(back)
    assert original == copied == returned
    assert original["verify"] and original["reports"]["handoffs"]["handoffs"] > 0
    with pathway.open_store(server, create=False) as store:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        replay = engine.fire("E0", "book_choice_appointment", LETS, idempotency_key="k0")
        assert replay == store.case("E0") and store.checkpoint().position == 135
        engine.fire("E0", "refer_to_cmht", LETS)  # the copy goes on from the same chain head
        assert store.verify().ok and store.checkpoint().position == 136


def test_migrate_refuses_a_target_that_is_not_empty(
    tmp_path: Path, backend: PostgresBackend
) -> None:
    """A target holding cases is refused with one message, and left as it was."""
    source, target = str(tmp_path / "a.db"), backend.location("full")
    _populated(source)
    _populated(target)
    before = _everything(target)
    with pytest.raises(pathway.StoreError, match="already has cases"):
        migrate_store(source, target)
    assert _everything(target) == before


def test_migrate_cli_creates_nothing_when_it_fails(
    tmp_path: Path, backend: PostgresBackend
) -> None:
    """``pathway migrate`` from a store that does not exist: exit 2, and no target left behind."""
    target = backend.location("none")
    result = CliRunner().invoke(
        cli, ["migrate", "--from", str(tmp_path / "nope.db"), "--to", target]
    )
    assert result.exit_code == 2
    assert "no such store" in result.output
    with pytest.raises(pathway.StoreError, match="no store in schema"):
        pathway.open_store(target, create=False)
    source = str(tmp_path / "a.db")
    _populated(source)
    done = CliRunner().invoke(cli, ["migrate", "--from", source, "--to", target])
    assert done.exit_code == 0, done.output
    assert "Copied 45 cases and 135 events" in done.output
    assert "reports agree: handoffs, holding, s75, waits, activity" in done.output


def test_events_chained_by_the_server_verify_even_when_data_mimics_the_marks(
    backend: PostgresBackend,
) -> None:
    """The server computes each event's hash from the head it locks; Python recomputes the same.
    Data that contains the very text the event is split at takes the two-step path instead."""
    from pathway.store.postgres import _POSITION_MARK, _PREV_MARK

    with pathway.open_store(backend.location("marks")) as store:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        engine.open_case("C1", HUB, data={"note": "plain", "emoji": "caf\u00e9 \u2603"})
        tricky = {"position": _POSITION_MARK, "prev_hash": _PREV_MARK}
        engine.fire("C1", "book_choice_appointment", LETS, data=tricky)
        engine.fire("C1", "refer_to_cmht", LETS)
        events = store.history("C1")
        assert [e.position for e in events] == [1, 2, 3]
        assert events[1].data == tricky
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        assert store.verify().ok
        assert store.integrity_check() == "ok"


def test_a_failed_import_into_a_new_postgres_store_leaves_no_schema(
    tmp_path: Path, backend: PostgresBackend
) -> None:
    """``pathway import`` with a bad row into a schema that did not exist: exit 2, and the store
    it had created is gone again (as a new SQLite file is removed)."""
    location = backend.location("badimport")
    log = tmp_path / "log.csv"
    log.write_text("case_id,occurred_at,state,team\nC1,not-a-date,referred,hub\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(log), "--db", location])
    assert result.exit_code == 2
    assert "not-a-date" in result.output
    with pytest.raises(pathway.StoreError, match="no store in schema"):
        pathway.open_store(location, create=False)


def test_placements_import_onto_a_postgres_store_from_the_cli(
    tmp_path: Path, backend: PostgresBackend
) -> None:
    """``pathway import --placements`` onto cases of a PostgreSQL store: the periods are stored
    and chained there; onto a schema with no store, one clear message."""
    location = backend.location("placements")
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--db", location]).exit_code == 0
    opened = runner.invoke(
        cli, ["case", "open", "C1", "--actor", "w1", "--team", "hub", "--db", location]
    )
    assert opened.exit_code == 0, opened.output
    extract = tmp_path / "extract.csv"
    extract.write_text(
        "case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
        "person_pct,agreed_by\n"
        "C1,P1,residential,700.00,2025-01-01,,100,,,lbb\n",
        encoding="utf-8",
    )
    done = runner.invoke(cli, ["import", "--placements", str(extract), "--db", location])
    assert done.exit_code == 0, done.output
    with pathway.open_store(location, create=False) as store:
        rows = store.connection.execute(
            "SELECT placement_id, weekly_pence FROM placement_periods"
        ).fetchall()
        assert rows == [("P1", 70000)]
        assert store.verify().ok and store.integrity_check() == "ok"
    missing = runner.invoke(
        cli, ["import", "--placements", str(extract), "--db", backend.location("nothing")]
    )
    assert missing.exit_code == 2 and "no such store" in missing.output
