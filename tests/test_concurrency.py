"""SQLite-only: several processes opening a new store file at once.

The concurrency guarantees both backends share (processes racing on shared cases, one key or one
case id sent at once) are in test_store_contract.py.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pathway
from pathway.store import sqlite as sqlite_store

# Holds a write lock on a (new, not yet WAL) SQLite file for a while, like a process creating it.
HOLD_WRITE_LOCK = """\
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""

# --- first open of a new store file by several processes ---------------------------------------
#
# Regression tests: both once failed (several processes starting on a new store path at once got
# "database is locked" from PRAGMA journal_mode, or "has tables of its own" from a check made
# outside the write lock).


def test_first_open_waits_for_a_writer_instead_of_failing_locked(tmp_path: Path) -> None:
    """Opening a new store while another process holds its write lock waits, not fails locked."""
    path = tmp_path / "cases.db"
    # Another process is in the middle of creating the file: it holds the write lock for 0.3 s.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(path), "0.3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        store = pathway.open_store(path)  # once: StoreError "database is locked" at once
        try:
            waited = time.monotonic() - started
            assert store.integrity_check() == "ok"
            assert waited > 0.1
        finally:
            store.close()
    finally:
        holder.wait(timeout=30)


@pytest.mark.parametrize("after", ["application_id", "user_version"])
def test_first_open_accepts_a_store_another_process_created_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    """Another process creating the store between our first look and our lock is not "foreign"."""
    path = tmp_path / "cases.db"
    real_connect = sqlite3.connect
    interleaved: list[bool] = []

    class Interleaving(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            # The opener has just read PRAGMA application_id (or user_version) of the new, empty
            # file outside any lock; before it looks further, another process (here: another
            # connection) creates the store. "user_version" is the window the first version of
            # the store lost: it then saw the other's tables and called the file foreign.
            cursor = super().execute(sql, *args)
            if f"PRAGMA {after}" in sql and "=" not in sql and not interleaved:
                interleaved.append(True)
                pathway.open_store(path).close()
            return cursor

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, factory=Interleaving, **kwargs)

    monkeypatch.setattr(sqlite_store.sqlite3, "connect", connect)
    store = pathway.open_store(path)
    try:
        assert interleaved
        assert store.integrity_check() == "ok"
        assert store.verify().ok
    finally:
        store.close()
