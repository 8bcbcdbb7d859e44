"""Several OS processes writing one SQLite store: no lost updates, stale versions refused.

Each worker is a separate Python process (``subprocess`` running a small script written to
``tmp_path``) that opens its *own* store on the shared file, so the only coordination between
writers is SQLite's locking and the engine's optimistic version check.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import pathway
from pathway.store import sqlite as sqlite_store

# A loop that can be fired forever: a (held by a council team) <-> b (held by a trust team).
LOOP_YAML = (Path(__file__).resolve().parent / "data" / "loop.yaml").read_text()

# Reads a case, waits a little (a person looking at the screen), fires the trigger that leads out
# of the state it read with expected_version = the version it read, and retries on a conflict.
WORKER = """\
import json, random, sys, time
import pathway

store_path, pathway_path, name, team, cases, target, seed = sys.argv[1:8]
cases = cases.split(",")
target = int(target)
rng = random.Random(int(seed))
definition = pathway.load_pathway(pathway_path)
store = pathway.open_store(store_path, create=False)
engine = pathway.Engine(definition, store)
actor = pathway.Actor(name, team)
print("ready", flush=True)
sys.stdin.readline()
applied, conflicts = [], []
deadline = time.monotonic() + 30
attempt = 0
while len(applied) < target and time.monotonic() < deadline:
    attempt += 1
    case_id = rng.choice(cases)
    case = store.case(case_id)
    trigger = "go" if case.state == "a" else "back"
    if rng.random() < 0.6:
        time.sleep(rng.random() * 0.003)
    note = f"{name}-{attempt}"
    try:
        result = engine.fire(case_id, trigger, actor, expected_version=case.version, note=note)
    except pathway.ConcurrencyConflict as exc:
        conflicts.append({"case": case_id, "read": case.version, "expected": exc.expected,
                          "actual": exc.actual})
        continue
    applied.append({"case": case_id, "note": note, "trigger": trigger, "read": case.version,
                    "version": result.version, "state": result.state})
store.close()
print(json.dumps({"applied": applied, "conflicts": conflicts}), flush=True)
"""

# Fires one call with one idempotency key as soon as it is told to go; prints the outcome.
SAME_KEY_WORKER = """\
import json, sys
import pathway
from pathway.serialize import to_dict

store_path, pathway_path, name, case_id, key = sys.argv[1:6]
store = pathway.open_store(store_path, create=False)
engine = pathway.Engine(pathway.load_pathway(pathway_path), store)
print("ready", flush=True)
sys.stdin.readline()
result = engine.fire(case_id, "go", pathway.Actor(name, "ta"), idempotency_key=key)
print(json.dumps(to_dict(result)), flush=True)
"""

# Opens the same case id as every other worker at once; prints "opened" or "exists".
OPEN_WORKER = """\
import sys
import pathway

store_path, pathway_path, name, case_id = sys.argv[1:5]
store = pathway.open_store(store_path, create=False)
engine = pathway.Engine(pathway.load_pathway(pathway_path), store)
print("ready", flush=True)
sys.stdin.readline()
try:
    engine.open_case(case_id, pathway.Actor(name, "ta"))
except pathway.CaseExists:
    print("exists", flush=True)
else:
    print("opened", flush=True)
"""

# Holds a write lock on a (new, not yet WAL) SQLite file for a while, like a process creating it.
HOLD_WRITE_LOCK = """\
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""

CASES = ("c1", "c2", "c3")


@pytest.fixture
def loop_path(tmp_path: Path) -> Path:
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP_YAML, encoding="utf-8")
    return path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    # The parent creates the store before any worker starts (see the first-open tests below for
    # why workers must not all create it at once).
    path = tmp_path / "cases.db"
    pathway.open_store(path).close()
    return path


def _run_together(
    tmp_path: Path, script: str, argvs: list[list[str]], timeout: float = 60
) -> list[str]:
    """Start one process per argv, wait until all are ready, release them at once; their stdout."""
    script_path = tmp_path / f"worker_{abs(hash(script))}.py"
    script_path.write_text(script, encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script_path), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                _, err = proc.communicate(timeout=timeout)
                raise AssertionError(f"worker did not start: {line!r}\n{err}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            outputs.append(out)
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _open_cases(store_path: Path, loop_path: Path, case_ids: tuple[str, ...]) -> None:
    with pathway.open_store(store_path) as store:
        engine = pathway.Engine(pathway.load_pathway(loop_path), store)
        for case_id in case_ids:
            engine.open_case(case_id, pathway.Actor("opener", "ta"))


@pytest.mark.parametrize(
    ("workers", "target"),
    [(4, 40), pytest.param(8, 400, marks=pytest.mark.stress, id="stress")],
)
def test_processes_racing_on_few_cases_lose_no_update(
    tmp_path: Path, loop_path: Path, store_path: Path, workers: int, target: int
) -> None:
    """Processes firing at three cases with expected_version: every success is exactly one event."""
    _open_cases(store_path, loop_path, CASES)
    argvs = [
        [
            str(store_path),
            str(loop_path),
            f"w{n}",
            ("ta", "tb")[n % 2],
            ",".join(CASES),
            str(target),
            str(n),
        ]
        for n in range(workers)
    ]
    reports = [
        json.loads(out.strip().splitlines()[-1]) for out in _run_together(tmp_path, WORKER, argvs)
    ]

    applied = [a for r in reports for a in r["applied"]]
    conflicts = [c for r in reports for c in r["conflicts"]]
    assert all(len(r["applied"]) == target for r in reports)

    with pathway.open_store(store_path, create=False) as store:
        assert store.integrity_check() == "ok"
        assert store.verify().ok
        total_events = 0
        for case_id in CASES:
            case = store.case(case_id)
            mine = sorted((a for a in applied if a["case"] == case_id), key=lambda a: a["version"])
            # No lost update: every success moved the version by one, and no two successes
            # claimed the same version.
            assert len(mine) == case.version - 1
            assert [a["version"] for a in mine] == list(range(2, case.version + 1))
            assert all(a["version"] == a["read"] + 1 for a in mine)

            history = store.history(case_id)
            total_events += len(history)
            assert [e.seq for e in history] == list(range(1, len(history) + 1))
            assert all(e.outcome == "applied" for e in history)  # stale calls wrote nothing
            assert history[0].trigger == "open"
            # Exactly one applied event per success, in the order of the versions they returned.
            assert [e.note for e in history[1:]] == [a["note"] for a in mine]
            assert [e.to_state for e in history[1:]] == [a["state"] for a in mine]
            assert [e.trigger for e in history[1:]] == [a["trigger"] for a in mine]
            # The events form one unbroken walk a -> b -> a ...
            assert all(e.from_state == p.to_state for p, e in pairwise(history))
            assert history[-1].to_state == case.state
            assert case.team == ("ta" if case.state == "a" else "tb")
            assert case.organisation == ("council" if case.state == "a" else "trust")
        assert store.checkpoint().position == total_events == len(list(store.events()))

    # The race really happened, and every refusal named a version someone else had moved past.
    assert conflicts, "no process ever fired with a stale version"
    for c in conflicts:
        assert c["expected"] == c["read"]
        assert c["actual"] > c["expected"]


def test_stale_expected_version_from_another_engine_is_refused_and_writes_nothing(
    loop_path: Path, store_path: Path
) -> None:
    """A version read before another engine fired gives ConcurrencyConflict and no new event."""
    definition = pathway.load_pathway(loop_path)
    with pathway.open_store(store_path) as mine, pathway.open_store(store_path) as theirs:
        me, them = pathway.Engine(definition, mine), pathway.Engine(definition, theirs)
        actor = pathway.Actor("w1", "ta")
        me.open_case("c1", actor)
        read = mine.case("c1")
        them.fire("c1", "go", pathway.Actor("w2", "tb"), expected_version=read.version)
        before_case, before_history, before_head = (
            mine.case("c1"),
            mine.history("c1"),
            mine.checkpoint(),
        )

        with pytest.raises(pathway.ConcurrencyConflict) as info:
            me.fire("c1", "go", actor, expected_version=read.version, idempotency_key="k1")
        assert (info.value.case_id, info.value.expected, info.value.actual) == ("c1", 1, 2)
        assert mine.case("c1") == before_case
        assert mine.history("c1") == before_history
        assert theirs.checkpoint() == before_head

        # The conflict did not use up the idempotency key: a retry on the fresh version applies.
        fresh = mine.case("c1")
        retried = me.fire("c1", "back", actor, expected_version=fresh.version, idempotency_key="k1")
        assert (retried.state, retried.version) == ("a", 3)
        assert len(theirs.history("c1")) == 3
        assert theirs.verify().ok


def test_same_idempotency_key_from_several_processes_applies_once(
    tmp_path: Path, loop_path: Path, store_path: Path
) -> None:
    """Four processes sending one call with one key at once: one applied event, one result."""
    _open_cases(store_path, loop_path, ("c1",))
    argvs = [[str(store_path), str(loop_path), f"w{n}", "c1", "key-1"] for n in range(4)]
    results = [json.loads(out.strip()) for out in _run_together(tmp_path, SAME_KEY_WORKER, argvs)]
    assert all(r == results[0] for r in results)
    assert (results[0]["state"], results[0]["version"]) == ("b", 2)
    with pathway.open_store(store_path, create=False) as store:
        assert [e.trigger for e in store.history("c1")] == ["open", "go"]
        assert store.case("c1").version == 2
        assert store.verify().ok


def test_same_case_opened_by_several_processes_opens_once(
    tmp_path: Path, loop_path: Path, store_path: Path
) -> None:
    """Four processes opening one case id at once: one opens it, the rest get CaseExists."""
    argvs = [[str(store_path), str(loop_path), f"w{n}", "c1"] for n in range(4)]
    outcomes = Counter(out.strip() for out in _run_together(tmp_path, OPEN_WORKER, argvs))
    assert outcomes == {"opened": 1, "exists": 3}
    with pathway.open_store(store_path, create=False) as store:
        assert [e.trigger for e in store.history("c1")] == ["open"]
        assert store.verify().ok


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
