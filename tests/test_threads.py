"""One Engine shared by 8 threads, on each store (issue 18 item 3).

Each thread fires on a case of its own and on two cases all threads share, with the optimistic
concurrency an embedding web app uses: read the case, fire with ``expected_version``, and on a
``ConcurrencyConflict`` (the only error expected) read again and retry. No update may be lost:
every fire that returned is an applied event, each case's versions and sequence numbers run
1, 2, 3... with no gap, each event leaves from the state the one before reached, and the audit
chain verifies. A ninth thread meanwhile reads pages and runs a report on ``store.reader()``,
which must see one consistent snapshot each time.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import HUB, MINIMAL, Backend

import pathway
from pathway.reports import Scope, handoffs_report

LOOP = Path(__file__).resolve().parent / "data" / "loop.yaml"
THREADS = 8
ROUNDS = 12
SHARED = ("s1", "s2")


def test_one_engine_from_eight_threads_loses_no_update(store_factory: Backend) -> None:
    location = store_factory.location("threads")
    if store_factory.name == "postgres":
        location += "&pool_max=4"  # fewer connections than threads: borrowers wait their turn
    definition = pathway.load_pathway(LOOP)
    store = store_factory.open(location)
    engine = pathway.Engine(definition, store)
    for case_id in (*SHARED, *(f"own{n}" for n in range(THREADS))):
        engine.open_case(case_id, pathway.Actor("opener", "ta"))
    applied: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS + 1)
    writing = threading.Event()
    writing.set()

    def fire(case_id: str, actor: pathway.Actor) -> None:
        while True:
            case = store.case(case_id)
            trigger = "go" if case.state == "a" else "back"
            try:
                engine.fire(case_id, trigger, actor, expected_version=case.version)
            except pathway.ConcurrencyConflict:
                with lock:
                    conflicts[case_id] += 1
                continue  # someone else moved it first: read again and retry
            with lock:
                applied[case_id] += 1
            return

    def writer(n: int) -> None:
        try:
            actor = pathway.Actor(f"w{n}", "ta")
            start.wait()
            for i in range(ROUNDS):
                fire(f"own{n}", actor)
                fire(SHARED[i % 2], actor)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    snapshots: list[tuple[int, int]] = []

    def reader() -> None:
        try:
            start.wait()
            while writing.is_set():
                page = store.query_cases(pathway.CaseQuery(state="b", limit=5))
                assert all(case.state == "b" for case in page.items)
                with store.reader() as conn:
                    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                    head = conn.execute("SELECT max(position) FROM events").fetchone()[0]
                    handoffs_report(conn, Scope(as_of=datetime(2100, 1, 1, tzinfo=UTC)))
                    again = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                snapshots.append((events, again))
                assert events == head == again  # one snapshot for the whole block
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    watcher = threading.Thread(target=reader)
    for thread in (*threads, watcher):
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    writing.clear()
    watcher.join(timeout=60)
    try:
        assert not errors, errors
        assert not any(t.is_alive() for t in (*threads, watcher))
        assert snapshots  # the reader ran while the writers wrote
        for n in range(THREADS):
            assert applied[f"own{n}"] == ROUNDS
        assert applied[SHARED[0]] + applied[SHARED[1]] == THREADS * ROUNDS
        total = 0
        for case in store.cases():
            history = store.history(case.id)
            total += len(history)
            # No lost update: every fire that returned is one applied event of its case ...
            assert case.version == 1 + applied[case.id]
            assert [e.seq for e in history] == list(range(1, case.version + 1))
            assert all(e.outcome == "applied" for e in history)
            # ... and each left from the state the one before it reached.
            for before, after in pairwise(history):
                assert after.from_state == before.to_state
            assert history[-1].to_state == case.state
        assert total == len(SHARED) + THREADS + 2 * THREADS * ROUNDS
        result = store.verify()
        assert result.ok and result.derived, result.problem
        assert store.checkpoint().position == total
        assert store.integrity_check() == "ok"
    finally:
        store.close()


def _counts(conn: Any) -> tuple[int, int]:
    return (
        conn.execute("SELECT count(*) FROM cases").fetchone()[0],
        conn.execute("SELECT count(*) FROM events").fetchone()[0],
    )


def test_a_reader_writes_nothing_and_reports_agree(store_factory: Backend) -> None:
    """``store.reader()``: the reports give the same figures as on the store's connection; it
    sees the snapshot of its first read while others write; nothing written on it stays."""

    from pathway.reports import holding_report

    store = store_factory.open(store_factory.location("reader"))
    try:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        for n in range(5):
            engine.open_case(f"C{n}", HUB)
            engine.fire(f"C{n}", "book_choice_appointment", pathway.Actor("w", "lets"))
        scope = Scope(as_of=datetime(2100, 1, 1, tzinfo=UTC))
        direct = [
            handoffs_report(store.connection, scope).to_json(),
            holding_report(store.connection, scope).to_json(),
        ]
        with store.reader() as conn:
            assert _counts(conn) == (5, 10)
            engine.open_case("late", HUB)  # committed by the writer meanwhile
            assert _counts(conn) == (5, 10)  # the reader keeps its snapshot
            via_reader = [
                handoffs_report(conn, scope).to_json(),
                holding_report(conn, scope).to_json(),
            ]
            try:
                conn.execute("INSERT INTO meta (key, value) VALUES ('reader', 'wrote')")
            except Exception:  # SQLite's mode=ro refuses it at once
                refused = True
            else:
                refused = False
        assert via_reader == direct
        assert store_factory.name == "postgres" or refused  # PostgreSQL rolls it back instead
        assert store.get_meta("reader") is None
        with store.reader() as conn:
            assert _counts(conn) == (6, 11)
    finally:
        store.close()


def test_an_in_memory_store_reader_is_its_own_connection() -> None:

    with pathway.open_store(":memory:") as store:
        pathway.Engine(pathway.load_pathway(MINIMAL), store).open_case("C1", HUB)
        with store.reader() as conn:
            assert conn is store.connection
            assert _counts(conn) == (1, 1)
        assert not store.connection.in_transaction
        assert store.case("C1").id == "C1"


def test_a_closed_store_has_no_reader(tmp_path: Path) -> None:
    store = pathway.open_store(tmp_path / "c.db")
    store.close()
    with pytest.raises(pathway.StoreUnusable, match="closed"), store.reader():
        pass


def test_a_connection_outlives_the_store_object_it_came_from(tmp_path: Path) -> None:
    """``report(open_store(path).connection, ...)``: the store object goes at once, its
    connection must not close under the caller (a regression: a finaliser once closed it)."""
    import gc

    path = tmp_path / "c.db"
    pathway.open_store(path).close()
    conn = pathway.open_store(path).connection
    gc.collect()
    assert conn.execute("SELECT count(*) FROM cases").fetchone() == (0,)


def test_a_thread_connection_goes_when_the_thread_ends(tmp_path: Path) -> None:
    import gc

    store = pathway.open_store(tmp_path / "c.db")
    try:
        thread = threading.Thread(target=lambda: list(store.cases()))
        thread.start()
        thread.join()
        gc.collect()
        assert len(store._held) == 1  # the opening thread's only
    finally:
        store.close()
