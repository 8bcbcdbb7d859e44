"""SQLite-only properties of the file store (the shared guarantees are in test_store_contract.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import pathway
from pathway.store.base import SCHEMA_VERSION


def test_a_foreign_sqlite_file_is_not_taken_over(tmp_path: Path) -> None:
    """Opening a database that is not a care-pathway store is refused, untouched."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER)")
    with pytest.raises(pathway.StoreError, match="not a care-pathway store"):
        pathway.open_store(other)
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["patients"]


def test_durability_settings(store: pathway.store.SqliteStore) -> None:
    """The store runs in WAL mode with synchronous=FULL."""
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.integrity_check() == "ok"


def test_a_version_1_store_is_migrated_and_its_reports_do_not_change(tmp_path: Path) -> None:
    """Opening a store of schema version 1 adds version 2 (episode lengths, report indexes).

    The store is built now, then taken back to version 1 by removing what versions 2-4 added; on
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
        conn.execute("DROP INDEX cases_open_by_team")  # and version 4
        conn.execute("ALTER TABLE idempotency DROP COLUMN fingerprint")  # and version 6
        conn.execute("DROP INDEX closed_episodes_by_case")  # and the derived rows by case
        conn.execute("DROP INDEX handoffs_by_case")
        conn.execute("DROP TABLE free_text")  # and the free-text version
        conn.execute("DROP TABLE redactions")
        for index in (
            "cases_by_state",
            "cases_by_team",
            "cases_by_change",
            "cases_open",
            "cases_open_by_team_id",
        ):
            conn.execute(f"DROP INDEX {index}")  # and the case query indexes
        conn.execute("PRAGMA user_version = 1")
    store = pathway.open_store(path)
    conn = store.connection
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    lengths = conn.execute(
        "SELECT seconds, end_at - start_at FROM closed_episodes ORDER BY case_id, n"
    ).fetchall()
    assert len(lengths) == 4 and all(a == b for a, b in lengths)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {
        "closed_episodes_by_length",
        "closed_episodes_by_team",
        "handoffs_by_pair",
        "cases_open_by_team",
        "closed_episodes_by_case",
        "handoffs_by_case",
        "cases_by_state",
        "cases_by_team",
        "cases_by_change",
        "cases_open",
        "cases_open_by_team_id",
    } <= indexes
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
