"""The store contract: every guarantee of the case store, on SQLite and on PostgreSQL alike.

Each test takes the ``store_factory`` fixture (tests/conftest.py), parametrised ``sqlite`` and
``postgres``, and runs unchanged on both: a fresh SQLite file, or a fresh schema on the
PostgreSQL server of ``PATHWAY_TEST_POSTGRES`` (skipped without one, a failure under CI).

* single process: one event per transition, refusals audited, append-only events, tampering and
  truncation caught, optimistic versions, idempotency keys, personal details outside the chain,
  time order, bad requests, foreign and newer stores refused;
* several OS processes: racing on shared cases with ``expected_version`` (no lost update), one
  idempotency key sent at once, one case id opened at once, a new store opened at once. Each worker
  is a separate Python process running a small script written to ``tmp_path``, with its *own*
  store on the shared location;
* crashes: a writer SIGKILLed at random moments (inside a transaction, during COMMIT, between
  COMMIT and its acknowledgement) leaves a store that verifies, with no partial transition, and
  its idempotency keys replay; a failure at any point inside a transaction leaves no trace.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import HUB, LETS, MINIMAL, Backend, FakeClock

import pathway
from pathway.serialize import from_dict, to_dict
from pathway.store import common
from pathway.validation import load_schema

LOOP_YAML = (Path(__file__).resolve().parent / "data" / "loop.yaml").read_text()
ACTOR = pathway.Actor("checker", "ta")
CRASH_ACTOR = pathway.Actor("crash-worker", "ta")
"""The crash worker's actor: a retry of its calls must repeat them exactly, actor included."""


# --- one process ---------------------------------------------------------------------------------


@pytest.fixture
def engine(
    minimal: pathway.Pathway, store_factory: Backend, clock: FakeClock
) -> Iterator[pathway.Engine]:
    """An engine on a fresh store of the backend under test (location: ``engine.location``)."""
    location = store_factory.location()
    store = store_factory.open(location)
    engine = pathway.Engine(minimal, store, clock=clock)
    engine.location = location  # type: ignore[attr-defined]
    yield engine
    store.close()


def _events(engine: pathway.Engine) -> int:
    """Events in the store, counted through a connection of its own."""
    with pathway.open_store(engine.location, create=False) as other:  # type: ignore[attr-defined]
        return int(other.connection.execute("SELECT count(*) FROM events").fetchone()[0])


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
    assert (second.position, engine.store.checkpoint().position) == (2, 2)


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
    engine.open_case("C1", HUB, data={"route": "self", "n": [1, 2.5, None]})
    case = engine.fire("C1", "book_choice_appointment", LETS)
    jsonschema.validate(to_dict(case), load_schema("case"))
    for event in engine.store.history("C1"):
        jsonschema.validate(to_dict(event), load_schema("audit_event"))
        assert from_dict(pathway.AuditEvent, to_dict(event)) == event
    assert from_dict(pathway.Case, to_dict(case)) == case
    assert engine.store.case("C1") == case


def test_update_and_delete_of_events_are_refused(
    engine: pathway.Engine, store_factory: Backend
) -> None:
    """Triggers make the events table append-only, even through a raw owner's connection."""
    engine.open_case("C1", HUB)
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        with pytest.raises(store_factory.refused_error, match="append-only: UPDATE refused"):
            conn.execute("UPDATE events SET trigger = 'x'")
        with pytest.raises(store_factory.refused_error, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM events")
        if store_factory.name == "postgres":
            with pytest.raises(store_factory.refused_error, match="append-only: TRUNCATE refused"):
                conn.execute("TRUNCATE events")
    assert engine.store.verify().ok
    assert _events(engine) == 1


def test_tampering_is_caught_and_the_first_bad_event_named(
    engine: pathway.Engine, store_factory: Backend
) -> None:
    """Someone who drops the triggers and edits an event is caught by verify."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS)
    engine.fire("C1", "refer_to_cmht", LETS)
    assert engine.store.verify().ok
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        store_factory.drop_trigger(conn, "events_refuse_update")
        conn.execute("UPDATE events SET to_team = 'cmht' WHERE position = 2")
    result = engine.store.verify()
    assert not result.ok
    assert result.failed_position == 2
    assert "contents do not match its hash" in (result.problem or "")


def test_a_stored_time_rewritten_in_an_equivalent_form_is_caught(
    engine: pathway.Engine, store_factory: Backend
) -> None:
    """verify checks the text as stored, which is what was hashed: the same instant written with
    another offset is an alteration too (a reader of the raw table would see a different time)."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS)
    with pathway.open_store(engine.location, create=False) as other:  # type: ignore[attr-defined]
        query = "SELECT occurred_at FROM events WHERE position = 2"
        stored = str(other.connection.execute(query).fetchone()[0])
    moved = datetime.fromisoformat(stored).astimezone(timezone(timedelta(hours=1))).isoformat()
    assert datetime.fromisoformat(moved) == datetime.fromisoformat(stored) and moved != stored
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        store_factory.drop_trigger(conn, "events_refuse_update")
        conn.execute(f"UPDATE events SET occurred_at = '{moved}' WHERE position = 2")
    result = engine.store.verify()
    assert (result.ok, result.failed_position) == (False, 2)
    assert "contents do not match its hash" in (result.problem or "")


def test_truncation_is_caught_only_against_a_checkpoint(
    engine: pathway.Engine, store_factory: Backend
) -> None:
    """Deleting the newest events leaves a valid shorter chain; a checkpoint catches it. (Left
    as is, the case row still counts the deleted event, so verify fails without the checkpoint
    too; deleting the whole case with its events leaves a store only the checkpoint convicts.)"""
    engine.open_case("C0", HUB)
    engine.open_case("C1", HUB)
    head = engine.store.checkpoint()
    assert head.position == 2
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        store_factory.drop_trigger(conn, "events_refuse_delete")
        conn.execute("DELETE FROM events WHERE position = 2")
    assert "case C1 has no events" in (engine.store.verify().problem or "")
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        conn.execute("DELETE FROM cases WHERE id = 'C1'")
    assert engine.store.verify().ok
    result = engine.store.verify(against=head)
    assert not result.ok
    assert "truncation" in (result.problem or "")
    assert pathway.Checkpoint.from_json(head.to_json()) == head


def test_stale_expected_version_raises_and_writes_nothing(engine: pathway.Engine) -> None:
    """Optimistic concurrency: a stale version is a ConcurrencyConflict with no event written."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS, expected_version=1)
    count = _events(engine)
    with pytest.raises(pathway.ConcurrencyConflict) as info:
        engine.fire("C1", "refer_to_cmht", LETS, expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert _events(engine) == count
    assert engine.store.case("C1").state == "choice_appointment"


def test_stale_version_inside_the_store_writes_nothing(engine: pathway.Engine) -> None:
    """The store's own versioned UPDATE refuses a stale version even if the caller skipped the check."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS)
    head = engine.store.checkpoint()
    other = pathway.Engine(engine.pathway, engine.store)
    with engine.store.transaction() as tx:  # a transaction that read the case...
        case = tx.load_case("C1")
    moved = other.fire("C1", "refer_to_cmht", LETS)  # ...then someone else moved it on
    new_event = other._event(case, moved, "refer_to_cmht", LETS, moved.opened_at, "applied")
    with pytest.raises(pathway.ConcurrencyConflict) as info, engine.store.transaction() as tx:
        tx.load_case("C1")
        tx.apply_transition(moved, case.version, new_event)
    assert (info.value.expected, info.value.actual) == (2, 3)
    assert engine.store.checkpoint().position == head.position + 1  # only the other's event
    assert engine.store.verify().ok


def test_idempotency_key_replays_the_first_result(engine: pathway.Engine) -> None:
    """The same key again returns the first result and writes nothing."""
    engine.open_case("C1", HUB)
    first = engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k1")
    count = _events(engine)
    again = engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k1")
    assert again == first
    assert _events(engine) == count
    with pytest.raises(pathway.InvalidRequest, match="already used"):
        engine.fire("C1", "refer_to_cmht", LETS, idempotency_key="k1")


def test_idempotency_key_replays_a_refusal(engine: pathway.Engine) -> None:
    """A refused call replayed with its key is refused again, with no second refused event."""
    engine.open_case("C1", HUB)
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "start_enablement", LETS, idempotency_key="k2")
    count = _events(engine)
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire("C1", "start_enablement", LETS, idempotency_key="k2")
    assert "cannot be fired" in info.value.reasons[0]
    assert _events(engine) == count


def test_personal_details_stay_out_of_the_chain_and_can_be_erased(
    engine: pathway.Engine, store_factory: Backend
) -> None:
    """Name, date of birth and NHS number live apart; erasing them keeps the chain valid."""
    person = pathway.Person(name="Ada Example", date_of_birth="1980-02-03", nhs_number="9434765919")
    engine.open_case("C1", HUB, person=person)
    assert engine.store.person("C1") == person
    with store_factory.raw(engine.location) as conn:  # type: ignore[attr-defined]
        chained = conn.execute("SELECT * FROM events").fetchall()
        cases = conn.execute("SELECT * FROM cases").fetchall()
    assert chained and cases
    assert all("Ada Example" not in str(row) for row in [*chained, *cases])
    assert engine.store.erase_person("C1")
    assert engine.store.person("C1") is None
    assert not engine.store.erase_person("C1")
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
    with pytest.raises(pathway.CaseNotFound):
        engine.store.history("C9")
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
    assert _events(engine) == 1


def test_meta_and_reopening_keep_everything(engine: pathway.Engine) -> None:
    """Meta values, cases, events and the chain head read back the same after reopening."""
    engine.open_case("C1", HUB)
    engine.fire("C1", "book_choice_appointment", LETS, idempotency_key="k")
    engine.store.set_meta("pathway", "minimal")
    engine.store.set_meta("pathway", "barnet-enablement")
    with pathway.open_store(engine.location, create=False) as again:  # type: ignore[attr-defined]
        assert again.get_meta("pathway") == "barnet-enablement"
        assert again.get_meta("nothing") is None
        assert list(again.cases()) == list(engine.store.cases())
        assert list(again.events()) == list(engine.store.events())
        assert again.checkpoint() == engine.store.checkpoint()
        assert again.integrity_check() == "ok"
        replayed = pathway.Engine(engine.pathway, again).fire(
            "C1", "book_choice_appointment", LETS, idempotency_key="k"
        )
        assert replayed == engine.store.case("C1")


def test_a_missing_store_is_not_created_when_asked_not_to(store_factory: Backend) -> None:
    """``create=False`` on a location with no store is a clear StoreError, and creates nothing."""
    location = store_factory.location("missing")
    with pytest.raises(pathway.StoreError, match=r"no (such )?store"):
        store_factory.open(location, create=False)
    with pytest.raises(pathway.StoreError, match=r"no (such )?store"):
        store_factory.open(location, create=False)  # still nothing there


def test_a_foreign_database_is_not_taken_over(store_factory: Backend) -> None:
    """A database (or schema) with tables of its own is refused, untouched."""
    location = store_factory.location("foreign")
    store_factory.make_foreign(location)
    with pytest.raises(pathway.StoreError, match="not a care-pathway store"):
        store_factory.open(location)
    assert store_factory.foreign_tables(location) == ["patients"]


def test_a_newer_schema_version_is_refused(store_factory: Backend) -> None:
    """A store written by a newer care-pathway is not opened by an older one."""
    location = store_factory.location()
    store_factory.open(location).close()
    with store_factory.raw(location) as conn:
        store_factory.set_schema_version(conn, 99)
    with pytest.raises(pathway.StoreError, match="schema version 99 is newer than this"):
        store_factory.open(location)


# --- several processes -------------------------------------------------------------------------

# A loop that can be fired forever: a (held by a council team) <-> b (held by a trust team):
# tests/data/loop.yaml, in LOOP_YAML.

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


# Opens (and so creates) a store that does not exist yet, at the same moment as the others.
FIRST_OPEN_WORKER = """\
import sys
import pathway

print("ready", flush=True)
sys.stdin.readline()
with pathway.open_store(sys.argv[1]) as store:
    print("ok", store.checkpoint().position, flush=True)
"""

CASES = ("c1", "c2", "c3")


@pytest.fixture
def loop_path(tmp_path: Path) -> Path:
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP_YAML, encoding="utf-8")
    return path


@pytest.fixture
def store_path(store_factory: Backend) -> str:
    """A new store's location; the parent creates it before any worker starts."""
    location = store_factory.location()
    store_factory.open(location).close()
    return location


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


def _open_cases(store_path: str, loop_path: Path, case_ids: tuple[str, ...]) -> None:
    with pathway.open_store(store_path) as store:
        engine = pathway.Engine(pathway.load_pathway(loop_path), store)
        for case_id in case_ids:
            engine.open_case(case_id, pathway.Actor("opener", "ta"))


@pytest.mark.parametrize(
    ("workers", "target"),
    [(4, 40), pytest.param(8, 400, marks=pytest.mark.stress, id="stress")],
)
def test_processes_racing_on_few_cases_lose_no_update(
    tmp_path: Path, loop_path: Path, store_path: str, workers: int, target: int
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
    loop_path: Path, store_path: str
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
    tmp_path: Path, loop_path: Path, store_path: str
) -> None:
    """Four processes sending one call with one key at once: one applied event, one result.

    The same call: one worker's request retried from four processes (a key sent with another
    actor would be a different request, refused as an IdempotencyMismatch)."""
    _open_cases(store_path, loop_path, ("c1",))
    argvs = [[str(store_path), str(loop_path), "w1", "c1", "key-1"] for _ in range(4)]
    results = [json.loads(out.strip()) for out in _run_together(tmp_path, SAME_KEY_WORKER, argvs)]
    assert all(r == results[0] for r in results)
    assert (results[0]["state"], results[0]["version"]) == ("b", 2)
    with pathway.open_store(store_path, create=False) as store:
        assert [e.trigger for e in store.history("c1")] == ["open", "go"]
        assert store.case("c1").version == 2
        assert store.verify().ok


def test_same_case_opened_by_several_processes_opens_once(
    tmp_path: Path, loop_path: Path, store_path: str
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


def test_a_new_store_opened_by_several_processes_at_once_is_created_once(
    tmp_path: Path, store_factory: Backend
) -> None:
    """Four processes opening (creating) one new store at once: all succeed, one schema results."""
    location = store_factory.location("fresh")
    outcomes = _run_together(tmp_path, FIRST_OPEN_WORKER, [[location] for _ in range(4)])
    assert [out.strip() for out in outcomes] == ["ok 0"] * 4
    with pathway.open_store(location, create=False) as store:
        assert store.checkpoint().position == 0
        assert store.integrity_check() == "ok"


# --- crashes --------------------------------------------------------------------------------

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


@pytest.fixture
def setup(tmp_path: Path, store_factory: Backend) -> tuple[str, Path, Path]:
    """A new store's location, the loop pathway and the crash worker's script."""
    loop_path = tmp_path / "loop.yaml"
    loop_path.write_text(LOOP_YAML, encoding="utf-8")
    script = tmp_path / "crash_worker.py"
    script.write_text(CRASH_WORKER, encoding="utf-8")
    location = store_factory.location()
    store_factory.open(location).close()
    return location, loop_path, script


def _call(n: int, cases: tuple[str, ...], tag: str) -> tuple[str, str, str]:
    """The worker's n-th call: (case id, trigger, idempotency key)."""
    return cases[n % len(cases)], ("go" if (n // len(cases)) % 2 == 0 else "back"), f"{tag}-k-{n}"


def _open_round(store_path: str, loop_path: Path, cases: tuple[str, ...]) -> None:
    with pathway.open_store(store_path, create=False) as store:
        engine = pathway.Engine(pathway.load_pathway(loop_path), store)
        for case_id in cases:
            engine.open_case(case_id, ACTOR)


def _start_worker(
    script: Path, store_path: str, loop_path: Path, tag: str, cases: tuple[str, ...]
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


def _check_store(store: Any) -> None:
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
    store: Any,
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


def _crash_rounds(setup: tuple[str, Path, Path], rounds: int, seed: int) -> dict[str, int]:
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
                result = engine.fire(case_id, trigger, CRASH_ACTOR, idempotency_key=key)
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


def test_killed_writer_leaves_a_sound_store_and_keys_replay(setup: tuple[str, Path, Path]) -> None:
    """30 writers SIGKILLed mid-loop: store sound, versions = applied events, keys replay once."""
    stats = _crash_rounds(setup, rounds=30, seed=20260105)
    assert stats["acknowledged"] > 0
    # Kills between COMMIT and the acknowledgement happen (most rounds, in practice): that is
    # why retries need idempotency keys.
    assert stats["committed_unacknowledged"] > 0


@pytest.mark.stress
def test_killed_writer_stress(setup: tuple[str, Path, Path]) -> None:
    """300 SIGKILL rounds; some kill lands between COMMIT and the acknowledgement."""
    stats = _crash_rounds(setup, rounds=300, seed=7)
    assert stats["acknowledged"] > 0
    assert stats["committed_unacknowledged"] > 0


def test_keys_replayed_in_a_fresh_process_after_a_kill_add_nothing(
    setup: tuple[str, Path, Path],
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
#
# A write is: the case row (checked against its version), the reports' derived rows, then the
# audit event appended to the chain. A failure at each point, and after all of them, must leave
# nothing, and the store must be usable again at once with the idempotency key still free.


@pytest.fixture
def minimal_engine(store_factory: Backend) -> Iterator[tuple[pathway.Engine, str, Backend]]:
    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    location = store_factory.location("atomic")
    store = store_factory.open(location)
    engine = pathway.Engine(pathway.load_pathway(MINIMAL), store, clock=lambda: now[0])
    engine.open_case("C1", pathway.Actor("w-hub", "hub"))
    now[0] += timedelta(hours=1)
    yield engine, location, store_factory
    store.close()


def _snapshot(location: str, case_id: str) -> tuple[Any, ...]:
    """What another connection sees: the case, its history, the chain head, every derived row."""
    with pathway.open_store(location, create=False) as other:
        derived = tuple(
            tuple(other.connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2"))
            for table in ("case_flow", "closed_episodes", "episodes", "handoffs", "idempotency")
        )
        assert other.integrity_check() == "ok"
        return other.case(case_id), other.history(case_id), other.checkpoint(), derived


def _disk_went_away(*args: Any, **kwargs: Any) -> None:
    raise OSError("disk went away")


@pytest.mark.parametrize("failing", ["derived_rows", "event_append"])
def test_failure_part_way_through_a_transition_leaves_nothing(
    minimal_engine: tuple[pathway.Engine, str, Backend],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """A failure building the derived rows, or appending the event after the case row and the
    derived rows were written: none of them stays, and the key is still free."""
    engine, location, backend = minimal_engine
    store = engine.store
    before = _snapshot(location, "C1")
    written: list[int] = []
    real_write = backend.transaction_class._write_case

    def spy_write(self: Any, statement: str, values: Any, derived: Any) -> int:
        written.append(real_write(self, statement, values, derived))
        return written[-1]

    if failing == "derived_rows":
        monkeypatch.setattr(common.flowrows, "step_rows", _disk_went_away)
    else:
        monkeypatch.setattr(backend.transaction_class, "_write_case", spy_write)
        monkeypatch.setattr(backend.transaction_class, "_insert_event", _disk_went_away)
    lets = pathway.Actor("w-lets", "lets")
    with pytest.raises(OSError, match="disk went away"):
        engine.fire("C1", "book_choice_appointment", lets, expected_version=1, idempotency_key="k1")
    assert written == ([] if failing == "derived_rows" else [1])  # the case row was updated
    assert (store.case("C1"), store.history("C1"), store.checkpoint()) == before[:3]
    assert _snapshot(location, "C1") == before

    # The store is usable again and the key was not used up by the failed call.
    monkeypatch.undo()
    moved = engine.fire(
        "C1", "book_choice_appointment", lets, expected_version=1, idempotency_key="k1"
    )
    assert (moved.state, moved.version) == ("choice_appointment", 2)
    assert [e.trigger for e in store.history("C1")] == ["open", "book_choice_appointment"]
    assert store.verify().ok


def test_failure_after_the_whole_transition_was_written_rolls_back_everything(
    minimal_engine: tuple[pathway.Engine, str, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the case row, derived rows and event were all written: none of them stays."""
    engine, location, backend = minimal_engine
    store = engine.store
    before = _snapshot(location, "C1")
    written: list[pathway.AuditEvent] = []
    real_apply = backend.transaction_class.apply_transition

    def apply_then_fail(
        self: Any, case: pathway.Case, expected_version: int, event: Any
    ) -> pathway.AuditEvent:
        written.append(real_apply(self, case, expected_version, event))
        raise OSError("disk went away")

    monkeypatch.setattr(backend.transaction_class, "apply_transition", apply_then_fail)
    lets = pathway.Actor("w-lets", "lets")
    with pytest.raises(OSError, match="disk went away"):
        engine.fire("C1", "book_choice_appointment", lets, idempotency_key="k1")
    assert [(e.position, e.to_state, e.to_team) for e in written] == [
        (2, "choice_appointment", "lets")
    ]
    assert _snapshot(location, "C1") == before  # case row, events, episodes, handoffs, keys
    assert (store.case("C1"), store.history("C1"), store.checkpoint()) == before[:3]

    monkeypatch.undo()
    moved = engine.fire("C1", "book_choice_appointment", lets, idempotency_key="k1")
    assert (moved.state, moved.team, moved.version) == ("choice_appointment", "lets", 2)
    assert store.history("C1")[-1].position == 2  # the rolled-back position was not used up
    assert store.verify().ok


def test_failure_saving_the_idempotency_record_rolls_back_everything(
    minimal_engine: tuple[pathway.Engine, str, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """save_idempotency failing after the event was appended: no case change, no event."""
    engine, location, backend = minimal_engine
    before = _snapshot(location, "C1")
    monkeypatch.setattr(backend.transaction_class, "save_idempotency", _disk_went_away)
    with pytest.raises(OSError):
        engine.fire(
            "C1", "book_choice_appointment", pathway.Actor("w", "lets"), idempotency_key="k"
        )
    with pytest.raises(OSError):  # the refused path writes a refused event first, then the key
        engine.fire("C1", "close", pathway.Actor("w", "lets"), idempotency_key="k2")
    assert _snapshot(location, "C1") == before
    assert engine.store.verify().ok


def test_failure_while_opening_leaves_no_case(
    minimal_engine: tuple[pathway.Engine, str, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure appending the opening event after the case row was inserted: no case row, no
    event, and the id is still free."""
    engine, location, backend = minimal_engine
    head = engine.store.checkpoint()
    monkeypatch.setattr(backend.transaction_class, "_insert_event", _disk_went_away)
    with pytest.raises(OSError):
        engine.open_case("C2", pathway.Actor("w-hub", "hub"))
    monkeypatch.undo()
    with pytest.raises(pathway.CaseNotFound):
        engine.store.case("C2")
    with pathway.open_store(location, create=False) as other, pytest.raises(pathway.CaseNotFound):
        other.history("C2")
    assert engine.store.checkpoint() == head
    opened = engine.open_case("C2", pathway.Actor("w-hub", "hub"))
    assert opened.version == 1
    assert len(engine.store.history("C2")) == 1
