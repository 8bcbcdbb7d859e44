"""An import on SQLite builds everything outside the write lock, and chains again if it must.

The import stages the file, folds each case, hashes every event after the newest event it saw
and builds the derived rows in temporary tables, without the write lock; under the lock it only
copies them in. A writer that appends events meanwhile moves the chain's head, so the staged
events must be chained again after the new head: outside the lock at first, under it once
``RECHAIN_ATTEMPTS`` rounds have each been overtaken by another writer.

Each result is checked independently of the importer: every event's hash is recomputed from the
event as read (``audit.event_hash``, the keyword-argument ``payload_json`` path, not the row
formatter the importer and ``verify`` share), positions run 1..n, and ``verify`` (chain, case
rows and derived rows) passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import HUB, MINIMAL

import pathway
from pathway import importer
from pathway.audit import event_hash
from pathway.canonical import GENESIS_HASH

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LOG = "case_id,occurred_at,state,team\n" + "".join(
    f"I{n:04d},2025-01-{1 + n % 28:02d}T09:00:00Z,referred,hub\n"
    f"I{n:04d},2025-02-{1 + n % 28:02d}T09:00:00Z,assessed,{'cmht' if n % 2 else 'hub'}\n"
    for n in range(300)
)


def _lock_is_free(path: Path) -> bool:
    """Whether another connection could take the store's write lock at once."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        conn.close()


class _OtherWriter:
    """Another process's engine, on its own connection, opening a new case on each call."""

    def __init__(self, path: Path) -> None:
        self.store = pathway.open_store(path)
        self.engine = pathway.Engine(pathway.load_pathway(MINIMAL), self.store)
        self.opened: list[str] = []

    def __call__(self) -> None:
        case = f"F{len(self.opened)}"
        self.engine.open_case(case, HUB, at=T0 + timedelta(minutes=len(self.opened)))
        self.opened.append(case)


def _check_chain(path: Path, opened: list[str]) -> None:
    with pathway.open_store(path, create=False) as store:
        assert store.verify().ok, store.verify().problems
        events = list(store.events())
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        prev = GENESIS_HASH
        for event in events:
            assert event.prev_hash == prev
            prev = event_hash(event)
        assert store.checkpoint().hash == prev
        imported = [e for e in events if e.imported]
        assert len(imported) == 600 and len({e.case_id for e in imported}) == 300
        assert {c.id for c in store.cases()} == {f"I{n:04d}" for n in range(300)} | {
            "C0",
            *opened,
        }
        # every event of another writer came before the import's (it committed first)
        last_fire = max(e.position for e in events if not e.imported)
        assert last_fire < min(e.position for e in imported)


def _spy_rechain(
    monkeypatch: pytest.MonkeyPatch, path: Path, after: Callable[[], None] | None
) -> list[bool]:
    """Record, for each call of ``_rechain``, whether the write lock was free (and then run
    ``after``, if given, while it still is)."""
    calls: list[bool] = []
    real = importer._rechain

    def spy(*args: Any) -> Any:
        result = real(*args)
        calls.append(_lock_is_free(path))
        if after is not None and calls[-1]:
            after()
        return result

    monkeypatch.setattr(importer, "_rechain", spy)
    return calls


def _fire_after_staging(monkeypatch: pytest.MonkeyPatch, fire: Callable[[], None]) -> None:
    """Another writer appends an event once the import has read the store's head for staging."""
    real = importer._create_staged_tables

    def staged(conn: Any) -> None:
        real(conn)
        fire()

    monkeypatch.setattr(importer, "_create_staged_tables", staged)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    location = tmp_path / "store.db"
    with pathway.open_store(location) as store:
        pathway.Engine(pathway.load_pathway(MINIMAL), store).open_case("C0", HUB, at=T0)
    return location


def test_an_import_without_other_writers_is_chained_once(path: Path, monkeypatch: Any) -> None:
    calls = _spy_rechain(monkeypatch, path, None)
    with pathway.open_store(path) as store:
        result = importer.import_events(store, "log.csv", text=LOG)
    assert calls == []
    assert (result.first_position, result.last_position) == (2, 601)
    _check_chain(path, [])


def test_events_appended_while_staging_are_chained_after_outside_the_lock(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _OtherWriter(path)
    _fire_after_staging(monkeypatch, other)
    calls = _spy_rechain(monkeypatch, path, None)
    with pathway.open_store(path) as store:
        result = importer.import_events(store, "log.csv", text=LOG)
        assert result.last_hash == store.checkpoint().hash
    assert other.opened == ["F0"]
    assert calls == [True]  # chained again once, with the write lock free
    assert (result.first_position, result.last_position) == (3, 602)
    other.store.close()
    _check_chain(path, ["F0"])


def test_an_import_overtaken_every_time_chains_under_the_lock_at_last(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _OtherWriter(path)
    _fire_after_staging(monkeypatch, other)
    calls = _spy_rechain(monkeypatch, path, other)  # each re-chaining is overtaken again
    with pathway.open_store(path) as store:
        result = importer.import_events(store, "log.csv", text=LOG)
        assert result.last_hash == store.checkpoint().hash
    attempts = importer.RECHAIN_ATTEMPTS
    assert calls == [True] * (attempts - 1) + [False]  # the last one under the lock
    assert len(other.opened) == attempts
    assert result.first_position == 2 + attempts
    other.store.close()
    _check_chain(path, other.opened)


def test_a_refused_import_leaves_no_staged_tables(path: Path) -> None:
    with pathway.open_store(path) as store:
        with pytest.raises(pathway.DefinitionError, match="already in the store"):
            importer.import_events(store, "log.csv", text=LOG + "C0,2025-03-01T09:00:00Z,x,hub\n")
        importer.import_events(store, "log.csv", text=LOG)  # the same connection imports again
        tables = store.connection.execute("SELECT name FROM temp.sqlite_master").fetchall()
        assert tables == []
    _check_chain(path, [])


def test_kept_free_text_follows_its_events_when_they_are_chained_again(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept column's text names its event by position: an import overtaken by another writer
    moves every staged event one place on, and each text must move with its event (else verify
    would find texts whose commitments are in other events, and history would show them on the
    wrong event)."""
    other = _OtherWriter(path)
    _fire_after_staging(monkeypatch, other)
    log = "case_id,occurred_at,state,team,client_note\n" + "".join(
        f"K{n},2025-01-{1 + n:02d}T09:00:00Z,referred,hub,note for K{n}\n" for n in range(5)
    )
    with pathway.open_store(path) as store:
        result = importer.import_events(store, "log.csv", text=log, keep=["client_note"])
        assert result.first_position == 3  # C0 at 1, the other writer's F0 at 2
        assert store.verify().ok, store.verify().problems
        for n in range(5):
            (event,) = store.history(f"K{n}")
            assert event.data["client_note"] == f"note for K{n}"
        positions = [
            row[0]
            for row in store.connection.execute(
                "SELECT event_position FROM free_text ORDER BY event_position"
            )
        ]
        assert positions == [e.position for e in store.events() if e.imported]
    other.store.close()
