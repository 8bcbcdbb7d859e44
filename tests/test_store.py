"""SQLite-only properties of the file store (the shared guarantees are in test_store_contract.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import pathway


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
