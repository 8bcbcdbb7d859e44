"""Crashes: a writer killed with SIGKILL at random moments, retries with idempotency keys, atomicity.

The worker is a separate Python process that loops firing transitions with idempotency keys
``<round>-k-<n>`` and prints each key (with the case it got back) only after ``fire`` returned, so
every printed key is an acknowledged transition. It is killed 5-80 ms after it is ready, which
lands anywhere: between calls, inside a transaction, during COMMIT, between COMMIT and the print.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import pathway
import pathway.store.sqlite as sqlite_store
from pathway.serialize import to_dict
from pathway.store.sqlite import SqliteTransaction

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "docs" / "examples" / "minimal.yaml"

LOOP_YAML = (Path(__file__).resolve().parent / "data" / "loop.yaml").read_text()

# Key n fires on case n % len(cases); per case the calls alternate go, back, go, ... so the calls
# are the same sequence however often the worker is restarted from key 0. In "loop" mode it runs
# until killed; in "replay" mode it runs keys 0..limit-1 and also reports the case's event count
# before and after each call.
CRASH_WORKER = """\
import json, sys
import pathway
from pathway.serialize import to_dict

store_path, pathway_path, tag, cases, mode, limit = sys.argv[1:7]
cases = cases.split(",")
store = pathway.open_store(store_path, create=False)
engine = pathway.Engine(pathway.load_pathway(pathway_path), store)
actor = pathway.Actor("crash-worker", "ta")
print("ready", flush=True)
sys.stdin.readline()
n = 0
while mode == "loop" or n < int(limit):
    case_id = cases[n % len(cases)]
    trigger = "go" if (n // len(cases)) % 2 == 0 else "back"
    key = f"{tag}-k-{n}"
    line = {"key": key}
    if mode == "replay":
        line["before"] = len(store.history(case_id))
    result = engine.fire(case_id, trigger, actor, idempotency_key=key)
    if mode == "replay":
        line["after"] = len(store.history(case_id))
    line["case"] = to_dict(result)
    print(json.dumps(line), flush=True)
    n += 1
"""

ACTOR = pathway.Actor("checker", "ta")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    loop_path = tmp_path / "loop.yaml"
    loop_path.write_text(LOOP_YAML, encoding="utf-8")
    script = tmp_path / "crash_worker.py"
    script.write_text(CRASH_WORKER, encoding="utf-8")
    store_path = tmp_path / "cases.db"
    pathway.open_store(store_path).close()
    return store_path, loop_path, script


def _call(n: int, cases: tuple[str, ...], tag: str) -> tuple[str, str, str]:
    """The worker's n-th call: (case id, trigger, idempotency key)."""
    return cases[n % len(cases)], ("go" if (n // len(cases)) % 2 == 0 else "back"), f"{tag}-k-{n}"


def _open_round(store_path: Path, loop_path: Path, cases: tuple[str, ...]) -> None:
    with pathway.open_store(store_path, create=False) as store:
        engine = pathway.Engine(pathway.load_pathway(loop_path), store)
        for case_id in cases:
            engine.open_case(case_id, ACTOR)


def _start_worker(
    script: Path, store_path: Path, loop_path: Path, tag: str, cases: tuple[str, ...]
) -> subprocess.Popen[str]:
    """Start a loop worker; it imports, opens its store, prints "ready" and waits for "go"."""
    return subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(store_path),
            str(loop_path),
            tag,
            ",".join(cases),
            "loop",
            "0",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _go_and_kill(proc: subprocess.Popen[str], delay: float) -> list[dict[str, Any]]:
    """Let the worker loop, SIGKILL it ``delay`` seconds later; the calls it acknowledged."""
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        # Drain stdout while it runs so a full pipe never pauses the worker at a safe point.
        chunks: list[str] = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
        reader.start()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Only whole lines: a line is printed in one write, after fire returned.
    return [json.loads(line) for line in "".join(chunks).split("\n")[:-1]]


def _check_store(store: pathway.store.SqliteStore) -> None:
    """The store-wide invariants that must hold after any crash (one pass over the events)."""
    assert store.integrity_check() == "ok"
    result = store.verify()
    assert result.ok, result.problem
    by_case: dict[str, list[pathway.AuditEvent]] = {}
    for event in store.events():
        by_case.setdefault(event.case_id, []).append(event)
    cases = {case.id: case for case in store.cases()}
    assert set(by_case) == set(cases)
    for case_id, case in cases.items():
        _check_case(case, by_case[case_id])
    assert store.checkpoint().position == result.events == sum(map(len, by_case.values()))
    _check_derived(store, cases, by_case)


def _check_derived(
    store: pathway.store.SqliteStore,
    cases: dict[str, pathway.Case],
    by_case: dict[str, list[pathway.AuditEvent]],
) -> None:
    """The reports' derived rows moved with the events: no crash leaves them half written."""
    conn = store.connection
    flow = {
        row[0]: row[1:]
        for row in conn.execute("SELECT case_id, last_seq, handoffs, open_team FROM case_flow")
    }
    handoffs = dict(conn.execute("SELECT case_id, count(*) FROM handoffs GROUP BY case_id"))
    episodes = dict(conn.execute("SELECT case_id, count(*) FROM episodes GROUP BY case_id"))
    assert set(flow) == set(cases)
    for case_id, case in cases.items():
        teams = [e.to_team for e in by_case[case_id] if e.outcome == "applied"]
        runs = 1 + sum(a != b for a, b in pairwise(teams))  # the loop pathway never closes
        last_seq, flow_handoffs, open_team = flow[case_id]
        assert last_seq == len(by_case[case_id])
        assert flow_handoffs == handoffs.get(case_id, 0) == runs - 1
        assert episodes[case_id] == runs
        assert open_team == case.team


def _check_case(case: pathway.Case, history: list[pathway.AuditEvent]) -> None:
    """A case agrees with its events: seq 1..n, version = applied events, state = last to_state."""
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    applied = [e for e in history if e.outcome == "applied"]
    assert case.version == len(applied)
    assert applied[0].trigger == "open"
    assert applied[-1].to_state == case.state
    assert applied[-1].to_team == case.team
    assert all(e.from_state == p.to_state for p, e in pairwise(applied))


def _crash_rounds(setup: tuple[Path, Path, Path], rounds: int, seed: int) -> dict[str, int]:
    store_path, loop_path, script = setup
    definition = pathway.load_pathway(loop_path)
    rng = random.Random(seed)
    stats = {"acknowledged": 0, "committed_unacknowledged": 0}
    cases_of = [(f"r{rnd}-c0", f"r{rnd}-c1") for rnd in range(rounds)]
    worker = _start_worker(script, store_path, loop_path, "r0", cases_of[0])
    for rnd in range(rounds):
        tag, cases = f"r{rnd}", cases_of[rnd]
        _open_round(store_path, loop_path, cases)
        acknowledged = _go_and_kill(worker, rng.uniform(0.005, 0.080))
        if rnd + 1 < rounds:  # the next worker starts up while this round is checked
            worker = _start_worker(script, store_path, loop_path, f"r{rnd + 1}", cases_of[rnd + 1])

        with pathway.open_store(store_path, create=False) as store:
            _check_store(store)
            # The acknowledged calls are keys 0..P-1 in order; at most one more call committed
            # without its caller hearing of it (killed between COMMIT and the print).
            acked = len(acknowledged)
            assert [a["key"] for a in acknowledged] == [
                _call(n, cases, tag)[2] for n in range(acked)
            ]
            committed = sum(store.case(c).version - 1 for c in cases)
            assert acked <= committed <= acked + 1
            stats["acknowledged"] += acked
            stats["committed_unacknowledged"] += committed - acked

            # The caller retries every call from key 0 (here, in this process, with a new
            # connection): committed keys return their first result and write nothing; the rest
            # apply once each.
            engine = pathway.Engine(definition, store)
            for n in range(committed + 2):
                case_id, trigger, key = _call(n, cases, tag)
                head = store.checkpoint()
                result = engine.fire(case_id, trigger, ACTOR, idempotency_key=key)
                assert result.version == 2 + n // len(cases)
                assert result.state == ("b" if trigger == "go" else "a")
                if n < committed:
                    assert store.checkpoint() == head  # not a single event anywhere
                    if n < acked:
                        assert to_dict(result) == acknowledged[n]["case"]
                else:
                    assert store.checkpoint().position == head.position + 1
            for case_id in cases:
                _check_case(store.case(case_id), store.history(case_id))
    with pathway.open_store(store_path, create=False) as store:
        _check_store(store)
    return stats


def test_killed_writer_leaves_a_sound_store_and_keys_replay(setup: tuple[Path, Path, Path]) -> None:
    """30 writers SIGKILLed mid-loop: store sound, versions = applied events, keys replay once."""
    stats = _crash_rounds(setup, rounds=30, seed=20260105)
    assert stats["acknowledged"] > 0
    # Kills between COMMIT and the acknowledgement happen (most rounds, in practice): that is
    # why retries need idempotency keys.
    assert stats["committed_unacknowledged"] > 0


@pytest.mark.stress
def test_killed_writer_stress(setup: tuple[Path, Path, Path]) -> None:
    """300 SIGKILL rounds; some kill lands between COMMIT and the acknowledgement."""
    stats = _crash_rounds(setup, rounds=300, seed=7)
    assert stats["acknowledged"] > 0
    assert stats["committed_unacknowledged"] > 0


def test_keys_replayed_in_a_fresh_process_after_a_kill_add_nothing(
    setup: tuple[Path, Path, Path],
) -> None:
    """A new process re-running every key after a kill: committed keys add no event, same result."""
    store_path, loop_path, script = setup
    tag, cases = "fresh", ("fresh-c0", "fresh-c1")
    worker = _start_worker(script, store_path, loop_path, tag, cases)
    _open_round(store_path, loop_path, cases)
    acknowledged = _go_and_kill(worker, 0.05)
    with pathway.open_store(store_path, create=False) as store:
        committed = sum(store.case(c).version - 1 for c in cases)
        events_before = store.checkpoint().position
    assert len(acknowledged) <= committed <= len(acknowledged) + 1

    extra = 4
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(store_path),
            str(loop_path),
            tag,
            ",".join(cases),
            "replay",
            str(committed + extra),
        ],
        input="go\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    replayed = [json.loads(line) for line in done.stdout.splitlines()[1:]]
    assert [r["key"] for r in replayed] == [
        _call(n, cases, tag)[2] for n in range(committed + extra)
    ]
    for n, line in enumerate(replayed):
        assert line["case"]["version"] == 2 + n // len(cases)
        if n < committed:
            assert line["after"] == line["before"]
            if n < len(acknowledged):
                assert line["case"] == acknowledged[n]["case"]
        else:
            assert line["after"] == line["before"] + 1
    with pathway.open_store(store_path, create=False) as store:
        assert store.checkpoint().position == events_before + extra
        _check_store(store)


# --- atomicity: a failure inside the transaction leaves no trace -----------------------------


@pytest.fixture
def minimal_engine(tmp_path: Path) -> Iterator[tuple[pathway.Engine, Path]]:
    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    path = tmp_path / "atomic.db"
    store = pathway.open_store(path)
    engine = pathway.Engine(pathway.load_pathway(MINIMAL), store, clock=lambda: now[0])
    engine.open_case("C1", pathway.Actor("w-hub", "hub"))
    now[0] += timedelta(hours=1)
    yield engine, path
    store.close()


def _snapshot(path: Path, case_id: str) -> tuple[Any, ...]:
    """What another connection sees: the case, its history, the chain head, every derived row."""
    with pathway.open_store(path, create=False) as other:
        derived = tuple(
            tuple(other.connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2"))
            for table in ("case_flow", "closed_episodes", "episodes", "handoffs", "idempotency")
        )
        return other.case(case_id), other.history(case_id), other.checkpoint(), derived


def test_failure_between_the_event_insert_and_the_case_update_leaves_neither(
    minimal_engine: tuple[pathway.Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the audit event was inserted, before the case row is updated: neither stays."""
    engine, path = minimal_engine
    store = engine.store
    before = _snapshot(path, "C1")
    inserted: list[pathway.AuditEvent] = []
    real_insert = SqliteTransaction._insert_event

    def spy_insert(self: SqliteTransaction, event: Any, seq: int) -> pathway.AuditEvent:
        chained = real_insert(self, event, seq)
        inserted.append(chained)
        return chained

    def failing_step(*args: Any, **kwargs: Any) -> None:
        assert inserted, "the event should be inserted before the derived rows and the case row"
        raise OSError("disk went away")

    monkeypatch.setattr(SqliteTransaction, "_insert_event", spy_insert)
    monkeypatch.setattr(sqlite_store, "write_step", failing_step)
    lets = pathway.Actor("w-lets", "lets")
    with pytest.raises(OSError, match="disk went away"):
        engine.fire("C1", "book_choice_appointment", lets, expected_version=1, idempotency_key="k1")
    assert inserted[0].trigger == "book_choice_appointment"  # it was written, then rolled back
    assert (store.case("C1"), store.history("C1"), store.checkpoint()) == before[:3]
    assert _snapshot(path, "C1") == before
    assert store.case("C1").version == 1

    # The connection is usable again and the key was not used up by the failed call.
    monkeypatch.undo()
    moved = engine.fire(
        "C1", "book_choice_appointment", lets, expected_version=1, idempotency_key="k1"
    )
    assert (moved.state, moved.version) == ("choice_appointment", 2)
    assert [e.trigger for e in store.history("C1")] == ["open", "book_choice_appointment"]
    assert store.verify().ok


def test_failure_after_the_case_row_was_updated_rolls_back_everything(
    minimal_engine: tuple[pathway.Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the event, derived rows and case row were all written: none of them stays."""
    engine, path = minimal_engine
    store = engine.store
    before = _snapshot(path, "C1")
    written: list[pathway.Case] = []
    real_apply = SqliteTransaction.apply_transition

    def apply_then_fail(
        self: SqliteTransaction, case: pathway.Case, expected_version: int, event: Any
    ) -> pathway.AuditEvent:
        real_apply(self, case, expected_version, event)
        written.append(case)
        raise OSError("disk went away")

    monkeypatch.setattr(SqliteTransaction, "apply_transition", apply_then_fail)
    lets = pathway.Actor("w-lets", "lets")
    with pytest.raises(OSError, match="disk went away"):
        engine.fire("C1", "book_choice_appointment", lets, idempotency_key="k1")
    assert [(c.state, c.team, c.version) for c in written] == [("choice_appointment", "lets", 2)]
    assert _snapshot(path, "C1") == before  # case row, events, episodes, handoffs, keys
    assert (store.case("C1"), store.history("C1"), store.checkpoint()) == before[:3]

    monkeypatch.undo()
    moved = engine.fire("C1", "book_choice_appointment", lets, idempotency_key="k1")
    assert (moved.state, moved.team, moved.version) == ("choice_appointment", "lets", 2)
    assert store.verify().ok


def test_failure_saving_the_idempotency_record_rolls_back_everything(
    minimal_engine: tuple[pathway.Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """save_idempotency failing after the event was appended: no case change, no event."""
    engine, path = minimal_engine
    before = _snapshot(path, "C1")

    def failing_save(self: SqliteTransaction, *args: Any, **kwargs: Any) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(SqliteTransaction, "save_idempotency", failing_save)
    with pytest.raises(OSError):
        engine.fire(
            "C1", "book_choice_appointment", pathway.Actor("w", "lets"), idempotency_key="k"
        )
    with pytest.raises(OSError):  # the refused path writes a refused event first, then the key
        engine.fire("C1", "close", pathway.Actor("w", "lets"), idempotency_key="k2")
    assert _snapshot(path, "C1") == before
    assert engine.store.verify().ok


def test_failure_while_opening_leaves_no_case(
    minimal_engine: tuple[pathway.Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the opening event was inserted: no case row, no event, the id is still free."""
    engine, path = minimal_engine
    head = engine.store.checkpoint()

    def failing_step(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(sqlite_store, "write_step", failing_step)
    with pytest.raises(OSError):
        engine.open_case("C2", pathway.Actor("w-hub", "hub"))
    monkeypatch.undo()
    with pytest.raises(pathway.CaseNotFound):
        engine.store.case("C2")
    with pathway.open_store(path, create=False) as other, pytest.raises(pathway.CaseNotFound):
        other.history("C2")
    assert engine.store.checkpoint() == head
    opened = engine.open_case("C2", pathway.Actor("w-hub", "hub"))
    assert opened.version == 1
    assert len(engine.store.history("C2")) == 1
