"""The audited SQLite store: append-only, hash-chained, idempotent, optimistic, private."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import jsonschema
import pytest
from conftest import HUB, LETS, FakeClock

import pathway
from pathway.serialize import from_dict, to_dict
from pathway.validation import load_schema


def _events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_open_and_fire_write_one_event_each(engine: pathway.Engine) -> None:
    """Opening is event 1; each applied transition adds one event and one version."""
    opened = engine.open_case("C1", HUB)
    assert opened.version == 1
    moved = engine.fire("C1", "book_choice_appointment", LETS, note="phoned")
    assert moved.version == 2
    history = engine.store.history("C1")
    assert [(e.seq, e.trigger, e.outcome) for e in history] == [
        (1, "open", "applied"),
        (2, "book_choice_appointment", "applied"),
    ]
    second = history[1]
    assert (second.from_state, second.to_state) == ("referred", "choice_appointment")
    assert (second.from_team, second.to_team) == ("hub", "lets")
    assert (second.actor_id, second.actor_team, second.note) == ("w-lets", "lets", "phoned")
    assert second.pathway_version == "1"
    assert second.prev_hash == history[0].hash


def test_refusal_is_audited_and_changes_nothing(engine: pathway.Engine) -> None:
    """A refused transition writes a refused event with its reasons; the case is unchanged."""
    engine.open_case("C1", HUB)
    before = engine.store.case("C1")
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "start_enablement", LETS)
    assert engine.store.case("C1") == before
    refused = engine.store.history("C1")[-1]
    assert refused.outcome == "refused"
    assert refused.reasons and "cannot be fired from state referred" in refused.reasons[0]
    assert (refused.from_state, refused.to_state) == ("referred", "referred")


def test_events_and_cases_match_their_json_schemas(engine: pathway.Engine) -> None:
    """Records serialise to JSON that their published schemas accept, and round-trip."""
    engine.open_case("C1", HUB, data={"route": "self"})
    case = engine.fire("C1", "book_choice_appointment", LETS)
    jsonschema.validate(to_dict(case), load_schema("case"))
    for event in engine.store.history("C1"):
        jsonschema.validate(to_dict(event), load_schema("audit_event"))
        assert from_dict(pathway.AuditEvent, to_dict(event)) == event
    assert from_dict(pathway.Case, to_dict(case)) == case


def test_update_and_delete_of_events_are_refused(engine: pathway.Engine, tmp_path: Path) -> None:
    """Triggers make the events table append-only, even through a raw connection."""
    engine.open_case("C1", HUB)
    with sqlite3.connect(tmp_path / "cases.db") as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
            conn.execute("UPDATE events SET trigger = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM events")
    assert engine.store.verify().ok


def test_tampering_is_caught_and_the_first_bad_event_named(
    engine: pathway.Engine, tmp_path: Path
) -> None:
    """Someone who drops the triggers and edits an event is caught by verify."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS)
    engine.fire("C1", "refer_to_cmht", LETS)
    assert engine.store.verify().ok
    with sqlite3.connect(tmp_path / "cases.db") as conn:
        conn.execute("DROP TRIGGER events_refuse_update")
        conn.execute("UPDATE events SET to_team = 'cmht' WHERE position = 2")
    result = engine.store.verify()
    assert not result.ok
    assert result.failed_position == 2
    assert "contents do not match its hash" in (result.problem or "")


def test_truncation_is_caught_only_against_a_checkpoint(
    engine: pathway.Engine, tmp_path: Path
) -> None:
    """Deleting the newest events leaves a valid shorter chain; a checkpoint catches it."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS)
    head = engine.store.checkpoint()
    assert head.position == 2
    with sqlite3.connect(tmp_path / "cases.db") as conn:
        conn.execute("DROP TRIGGER events_refuse_delete")
        conn.execute("DELETE FROM events WHERE position = 2")
    assert engine.store.verify().ok
    result = engine.store.verify(against=head)
    assert not result.ok
    assert "truncation" in (result.problem or "")
    assert pathway.Checkpoint.from_json(head.to_json()) == head


def test_stale_expected_version_raises_and_writes_nothing(
    engine: pathway.Engine, tmp_path: Path
) -> None:
    """Optimistic concurrency: a stale version is a ConcurrencyConflict with no event written."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS, expected_version=1)
    count = _events(tmp_path / "cases.db")
    with pytest.raises(pathway.ConcurrencyConflict) as info:
        engine.fire("C1", "refer_to_cmht", LETS, expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert _events(tmp_path / "cases.db") == count
    assert engine.store.case("C1").state == "choice_appointment"


def test_idempotency_key_replays_the_first_result(engine: pathway.Engine, tmp_path: Path) -> None:
    """The same key again returns the first result and writes nothing."""
    engine.open_case("C1", HUB)
    first = engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k1")
    count = _events(tmp_path / "cases.db")
    again = engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k1")
    assert again == first
    assert _events(tmp_path / "cases.db") == count
    with pytest.raises(pathway.InvalidRequest, match="already used"):
        engine.fire("C1", "refer_to_cmht", LETS, idempotency_key="k1")


def test_idempotency_key_replays_a_refusal(engine: pathway.Engine, tmp_path: Path) -> None:
    """A refused call replayed with its key is refused again, with no second refused event."""
    engine.open_case("C1", HUB)
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "start_enablement", LETS, idempotency_key="k2")
    count = _events(tmp_path / "cases.db")
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire("C1", "start_enablement", LETS, idempotency_key="k2")
    assert "cannot be fired" in info.value.reasons[0]
    assert _events(tmp_path / "cases.db") == count


def test_personal_details_stay_out_of_the_chain_and_can_be_erased(
    engine: pathway.Engine, tmp_path: Path
) -> None:
    """Name, date of birth and NHS number live apart; erasing them keeps the chain valid."""
    person = pathway.Person(name="Ada Example", date_of_birth="1980-02-03", nhs_number="9434765919")
    engine.open_case("C1", HUB, person=person)
    assert engine.store.person("C1") == person
    raw = (tmp_path / "cases.db").read_bytes()
    with sqlite3.connect(tmp_path / "cases.db") as conn:
        chained = conn.execute("SELECT * FROM events").fetchall()
    assert all("Ada Example" not in str(row) for row in chained)
    assert raw  # the file exists
    assert engine.store.erase_person("C1")
    assert engine.store.person("C1") is None
    assert engine.store.verify().ok


def test_events_must_be_in_time_order(engine: pathway.Engine, clock: FakeClock) -> None:
    """Backdating is allowed, but not before the case's newest event."""
    opened = engine.open_case("C1", HUB)
    with pytest.raises(pathway.InvalidRequest, match="before the case's newest event"):
        engine.fire("C1", "book_choice_appointment", LETS, at=opened.opened_at.replace(year=2025))
    assert engine.store.case("C1").version == 1


def test_unknown_case_trigger_team_and_duplicate_case(engine: pathway.Engine) -> None:
    """Bad requests raise clear errors and write nothing."""
    with pytest.raises(pathway.CaseNotFound, match="no case 'C9'"):
        engine.fire("C9", "close", LETS)
    engine.open_case("C1", HUB)
    with pytest.raises(pathway.CaseExists):
        engine.open_case("C1", HUB)
    with pytest.raises(pathway.InvalidRequest, match="unknown trigger 'fly'"):
        engine.fire("C1", "fly", LETS)
    with pytest.raises(pathway.InvalidRequest, match="unknown team 'nasa'"):
        engine.fire("C1", "close", pathway.Actor("x", "nasa"))
    with pytest.raises(pathway.InvalidRequest, match="plain JSON values"):
        engine.fire("C1", "book_choice_appointment", LETS, data={"when": object()})
    assert len(engine.store.history("C1")) == 1


def test_a_foreign_sqlite_file_is_not_taken_over(tmp_path: Path) -> None:
    """Opening a database that is not a care-pathway store is refused, untouched."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER)")
    with pytest.raises(pathway.StoreError, match="not a care-pathway store"):
        pathway.open_store(other)
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["patients"]


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    """A store written by a newer care-pathway is not opened by an older one."""
    path = tmp_path / "s.db"
    pathway.open_store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(pathway.StoreError, match="newer than this"):
        pathway.open_store(path)


def test_durability_settings(store: pathway.store.SqliteStore) -> None:
    """The store runs in WAL mode with synchronous=FULL."""
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.integrity_check() == "ok"


def test_a_version_1_store_is_migrated_and_its_reports_do_not_change(tmp_path: Path) -> None:
    """Opening a store of schema version 1 adds version 2 (episode lengths, report indexes).

    The store is built now, then taken back to version 1 by removing what version 2 added; on
    the next open the migration fills every closed episode's length from its start and end, and
    each report gives the same JSON as before.
    """
    from datetime import UTC, datetime

    from pathway.importer import import_events
    from pathway.reports import Scope, handoffs_report, holding_report

    path = tmp_path / "old.db"
    log = "\n".join(
        [
            "case_id,occurred_at,state,team",
            "a,2026-01-01T09:00:00Z,referral,hub",
            "a,2026-01-03T09:00:00Z,enablement,lets",
            "a,2026-01-04T21:00:00Z,review,hub",
            "a,2026-01-09T09:00:00Z,closed,hub",
            "b,2026-01-02T09:00:00Z,referral,hub",
            "b,2026-01-05T09:00:00Z,support,cmht",
        ]
    )
    store = pathway.open_store(path)
    import_events(store, "log.csv", text=log, final_states=["closed"])
    scope = Scope(as_of=datetime(2026, 2, 1, tzinfo=UTC))
    before = [
        handoffs_report(store.connection, scope).to_json(),
        holding_report(store.connection, scope).to_json(),
    ]
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX closed_episodes_by_length")
        conn.execute("DROP INDEX closed_episodes_by_team")
        conn.execute("DROP INDEX handoffs_by_pair")
        conn.execute("ALTER TABLE closed_episodes DROP COLUMN seconds")
        conn.execute("DROP TABLE placement_periods")  # and what version 3 added
        conn.execute("PRAGMA user_version = 1")
    store = pathway.open_store(path)
    conn = store.connection
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    lengths = conn.execute(
        "SELECT seconds, end_at - start_at FROM closed_episodes ORDER BY case_id, n"
    ).fetchall()
    assert len(lengths) == 4 and all(a == b for a, b in lengths)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"closed_episodes_by_length", "closed_episodes_by_team", "handoffs_by_pair"} <= indexes
    after = [
        handoffs_report(conn, scope).to_json(),
        holding_report(conn, scope).to_json(),
    ]
    assert after == before
    # Hand-worked: hub held a for 2 and 4.5 days and b for 3; cmht has held b since 5 January.
    cmht, hub, lets = before[1]["by_team"]
    assert lets["team"] == "lets" and lets["days"] == pytest.approx(1.5)
    assert cmht["team"] == "cmht" and cmht["days"] == pytest.approx(26.625)
    assert hub == {
        "team": "hub",
        "organisation": "unknown",
        "days": pytest.approx(9.5),
        "episodes": 3,
        "cases": 2,
        "median_days": pytest.approx(3.0),
        "p90_days": pytest.approx(3.0 + 0.8 * (4.5 - 3.0)),
    }
    store.close()
