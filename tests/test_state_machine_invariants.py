"""Random sequences of engine calls on the minimal example pathway keep every invariant.

A hypothesis ``RuleBasedStateMachine`` opens cases and fires random triggers (all of the pathway's
triggers, and triggers that lead out of the case's state) as random actors, with random data,
stale versions and reused idempotency keys, on a file store with a fake clock. A plain reference
model (case id -> state, version, event count) is updated from what the engine returns or raises,
and after every step the store is checked against it and against the definition: the audit trail
is walked event by event, and every applied event must be a transition the definition allows whose
guards, re-checked independently from the trail alone, pass (and every refused event one they
refuse).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import Backend
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import pathway
from pathway.spec import ACTOR_HOLDER, KEEP_HOLDER, GuardRef, Transition

MINIMAL = Path(__file__).resolve().parent.parent / "docs" / "examples" / "minimal.yaml"
PATHWAY = pathway.load_pathway(MINIMAL)
TRIGGERS = list(PATHWAY.triggers)
TEAMS = list(PATHWAY.teams)
NON_FINAL = [name for name, state in PATHWAY.states.items() if not state.final]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

actors = st.builds(
    pathway.Actor,
    id=st.sampled_from(["ana", "ben", "cy"]),
    team=st.sampled_from(TEAMS),
    roles=st.sampled_from([(), ("amhp",)]),
)
payloads = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "enablement_plan": st.sampled_from(["six-week plan", "", "   ", [], ["walk daily"]]),
            "decline_reason": st.sampled_from(["no capacity", ""]),
            "risk": st.sampled_from(["low", "high", 3]),
        },
    ),
)
# Mostly fresh calls; a stale or future expected_version now and then.
version_choices = st.sampled_from(["none", "current", "current", "none", "stale", "ahead"])
notes = st.sampled_from([None, "phoned the person"])
# How long the fake clock moves on before a call (brief enablement has a 42-day limit).
waits = st.sampled_from(
    [
        timedelta(0),
        timedelta(minutes=5),
        timedelta(hours=7),
        timedelta(days=1),
        timedelta(days=20),
        timedelta(days=42),  # exactly the limit: still within it
        timedelta(days=43),
    ]
)


# --- an independent reading of the definition -------------------------------------------------


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple):
        return bool(value)
    return True


@attrs.define
class Walk:
    """Where a case stands, as far as its audit events so far say."""

    state: str
    team: str
    entered_at: datetime
    attributes: dict[str, Any]
    # (state, team, entered_at) pushed by an offer or an interruption, newest last
    stack: list[tuple[str, str, datetime]] = attrs.field(factory=list)
    closed_at: datetime | None = None
    applied: int = 1
    # holding episodes [team, organisation, start, end] and handoffs, derived independently
    episodes: list[list[Any]] = attrs.field(factory=list)
    handoffs: list[tuple[Any, ...]] = attrs.field(factory=list)
    teams_seen: list[str] = attrs.field(factory=list)
    closed_since: float | None = None
    closed_time: float = 0.0

    def hold(self, event: pathway.AuditEvent) -> None:
        """Episodes and handoffs: the holding team after each applied event."""
        at, team = event.occurred_at.timestamp(), event.to_team
        assert team is not None
        if self.closed_since is not None:  # re-opened (re-referred) after a closure
            self.closed_time += at - self.closed_since
            self.closed_since = None
        if event.closes:
            self.closed_since = at
        current = self.episodes[-1] if self.episodes and self.episodes[-1][3] is None else None
        if current is not None and (event.closes or current[0] != team):
            current[3] = at
            current = None
        if not event.closes and current is None:
            self.episodes.append([team, event.to_organisation, at, None])
        if self.teams_seen and self.teams_seen[-1] != team:
            before = self.teams_seen[-1]
            self.handoffs.append(
                (
                    before,
                    team,
                    PATHWAY.organisation_of(before) != event.to_organisation,
                    len(self.teams_seen) >= 2 and self.teams_seen[-2] == team,
                    at,
                )
            )
        if not self.teams_seen or self.teams_seen[-1] != team:
            self.teams_seen.append(team)


def _task_of(transition: Transition, ref: GuardRef | None = None) -> str | None:
    if ref is not None and ref.params.get("task"):
        return str(ref.params["task"])
    if transition.task is not None:
        return transition.task
    if transition.dest is not None:
        return PATHWAY.states[transition.dest].task
    return None


def _guard_passes(
    ref: GuardRef, transition: Transition, walk: Walk, event: pathway.AuditEvent
) -> bool:
    """Re-check one guard from the audit trail alone (the case as the events left it)."""
    values = {**walk.attributes, **event.data}
    if ref.name == "team_may_perform":
        task = _task_of(transition, ref)
        return task is None or event.actor_team in PATHWAY.tasks[task].teams
    if ref.name == "has_role":
        return ref.params["role"] in event.actor_roles
    if ref.name == "data_present":
        given = event.data if ref.params.get("this_call") else values
        return all(_present(given.get(name)) for name in ref.params["fields"])
    if ref.name == "data_in":
        return values.get(ref.params["field"]) in ref.params["values"]
    if ref.name == "within_time_limit":
        state = ref.params.get("state") or walk.state
        limit = ref.params.get("days") or PATHWAY.states[state].time_limit_days
        if limit is None or walk.state != state:
            return True
        return event.occurred_at - walk.entered_at <= timedelta(days=limit)
    if ref.name == "receiving_team":
        return PATHWAY.states[walk.state].offer_to == event.actor_team
    if ref.name == "holding_team":
        return event.actor_team == walk.team
    raise AssertionError(f"the test has no reference for guard {ref.name}")


def _candidates(trigger: str, walk: Walk) -> list[tuple[Transition, str]]:
    """The definition's transitions for ``trigger`` out of the walk's state, with destinations."""
    found = []
    for t in PATHWAY.transitions:
        if t.trigger != trigger or walk.state not in t.sources:
            continue
        if t.returns:
            if walk.stack:  # back to where the newest offer or interruption was made from
                found.append((t, walk.stack[-1][0]))
        else:
            assert t.dest is not None
            found.append((t, t.dest))
    return found


def _passing(trigger: str, walk: Walk, event: pathway.AuditEvent) -> list[tuple[Transition, str]]:
    return [
        (t, dest)
        for t, dest in _candidates(trigger, walk)
        if all(_guard_passes(ref, t, walk, event) for ref in t.guards)
    ]


def _holder(transition: Transition, dest: str, walk: Walk, event: pathway.AuditEvent) -> str:
    """Who holds the case after a transition, by the pathway's holding rules."""
    if transition.holder == ACTOR_HOLDER:
        return event.actor_team
    if transition.holder == KEEP_HOLDER:
        return walk.team
    if transition.holder is not None:
        return transition.holder
    if transition.returns and walk.stack:
        return walk.stack[-1][1]
    holder = PATHWAY.states[dest].holder
    return walk.team if holder is None else holder  # an offer: the offering team keeps it


def _move(walk: Walk, transition: Transition, dest: str, event: pathway.AuditEvent) -> None:
    resumed = None
    if PATHWAY.states[dest].final:
        walk.stack.clear()
    elif transition.returns:
        resumed = walk.stack.pop()
    elif transition.handoff or transition.interrupt:
        walk.stack.append((walk.state, walk.team, walk.entered_at))
    elif PATHWAY.states[walk.state].offer_to is not None and walk.stack:
        walk.stack.pop()  # leaving an offer other than by declining it accepts it
    if dest != walk.state:
        walk.entered_at = event.occurred_at
    if resumed is not None:
        # a return restores when the case entered the state it goes back to: an offer or an
        # interruption does not restart that state's time limit
        walk.entered_at = resumed[2]
    walk.state, walk.team = dest, str(event.to_team)
    walk.attributes.update(event.data)
    walk.closed_at = event.occurred_at if PATHWAY.states[dest].final else None
    walk.applied += 1


def check_trail(case: pathway.Case, history: list[pathway.AuditEvent]) -> Walk:
    """Walk a case's events: each is justified by the definition and the case is where they lead."""
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert all(e.case_id == case.id for e in history)
    assert all(a.occurred_at <= b.occurred_at for a, b in pairwise(history))
    opening = history[0]
    assert (opening.trigger, opening.outcome) == ("open", "applied")
    assert (opening.from_state, opening.to_state) == (None, PATHWAY.initial)
    assert opening.to_team == PATHWAY.states[PATHWAY.initial].holder
    walk = Walk(
        state=PATHWAY.initial,
        team=str(opening.to_team),
        entered_at=opening.occurred_at,
        attributes=dict(opening.data),
    )
    walk.hold(opening)
    for event in history[1:]:
        assert event.trigger in PATHWAY.triggers
        assert (event.from_state, event.from_team) == (walk.state, walk.team)
        passing = _passing(event.trigger, walk, event)
        if event.outcome == "refused":
            assert event.reasons, "a refusal gives its reasons"
            assert not passing, f"seq {event.seq}: {event.trigger} refused, but {passing} allow it"
            assert (event.to_state, event.to_team) == (walk.state, walk.team)
            assert not event.closes
            continue
        assert event.outcome == "applied"
        chosen = [(t, dest) for t, dest in passing if dest == event.to_state]
        assert chosen, (
            f"seq {event.seq}: {event.trigger} {event.from_state}->{event.to_state} by "
            f"{event.actor_team} {event.actor_roles} is not a transition the definition allows"
        )
        transition, dest = chosen[0]
        task = _task_of(transition)
        if task is not None:  # the task matrix
            assert event.actor_team in PATHWAY.tasks[task].teams
        assert event.to_team == _holder(transition, dest, walk, event)
        assert event.to_organisation == PATHWAY.teams[str(event.to_team)].organisation
        assert event.closes == PATHWAY.states[dest].final
        _move(walk, transition, dest, event)
        walk.hold(event)
    assert case.version == walk.applied == sum(e.outcome == "applied" for e in history)
    last_applied = [e for e in history if e.outcome == "applied"][-1]
    assert last_applied.to_state == case.state
    assert (case.state, case.team) == (walk.state, walk.team)
    assert case.organisation == PATHWAY.teams[case.team].organisation
    assert [(p.state, p.team, p.entered_at) for p in case.return_stack] == walk.stack
    assert case.state_entered_at == walk.entered_at
    assert case.opened_at == opening.occurred_at
    assert case.closed_at == walk.closed_at
    assert dict(case.attributes) == walk.attributes
    return walk


def check_holding(conn: Any, case: pathway.Case, walk: Walk, as_of: datetime) -> None:
    """The derived episode and handoff rows agree with the trail; holding adds up to the time open."""
    episodes = conn.execute(
        "SELECT n, team, organisation, start_at, end_at FROM episodes WHERE case_id = ? ORDER BY n",
        (case.id,),
    ).fetchall()
    assert [tuple(e[1:]) for e in episodes] == [tuple(e) for e in walk.episodes]
    assert [e[0] for e in episodes] == list(range(1, len(episodes) + 1))
    handoffs = conn.execute(
        "SELECT n, from_team, to_team, crossing, ping_pong, at FROM handoffs "
        "WHERE case_id = ? ORDER BY n",
        (case.id,),
    ).fetchall()
    assert [(f, t, bool(c), bool(p), at) for _, f, t, c, p, at in handoffs] == walk.handoffs
    assert [h[0] for h in handoffs] == list(range(1, len(handoffs) + 1))
    # One open episode exactly while the case is open, held by the case's team.
    open_episodes = [e for e in walk.episodes if e[3] is None]
    assert len(open_episodes) == (0 if case.is_closed else 1)
    if not case.is_closed:
        assert walk.episodes[-1] is open_episodes[0] and open_episodes[0][0] == case.team
    # Holding durations (the open episode cut at as_of) plus the time the case spent closed add
    # up to as_of minus its first event.
    now = as_of.timestamp()
    held = sum((now if end is None else end) - start for _, _, start, end in walk.episodes)
    closed = walk.closed_time + (now - walk.closed_since if walk.closed_since is not None else 0)
    assert held + closed == pytest.approx(now - walk.episodes[0][2], abs=1e-3)


# --- the state machine ---------------------------------------------------------------------------


@attrs.define
class Ref:
    """The reference model of one case."""

    state: str
    version: int
    events: int


def _same_call(call: Mapping[str, Any], first: Mapping[str, Any]) -> bool:
    """Whether two fire calls (with the same case and trigger) are one request, worked out
    independently of the engine: the same actor (roles as a set), data (None is no data),
    expected version and note."""
    a, b = call["actor"], first["actor"]
    return (
        (a.id, a.team, set(a.roles)) == (b.id, b.team, set(b.roles))
        and (call["data"] or {}) == (first["data"] or {})
        and call["expected_version"] == first["expected_version"]
        and call["note"] == first["note"]
    )


class PathwayMachine(RuleBasedStateMachine):
    """Cases of the minimal pathway under random calls; the store must agree with the model."""

    cases = Bundle("cases")
    backend: Backend | None = None
    """Where each run's store lives (the contract fixture's backend); None: a temporary file."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="pathway-sm-"))
        self.path: str | Path = (
            self.backend.location(f"sm{self.dir.name[-8:]}")
            if self.backend is not None
            else self.dir / "cases.db"
        )
        self.now = [T0]
        self.store = pathway.open_store(self.path)
        self.engine = self._engine()
        self.ref: dict[str, Ref] = {}
        # key -> (case id, trigger, the case the first call returned or the reasons it was
        # refused, the first call's other arguments)
        self.keys: dict[str, tuple[str, str, pathway.Case | tuple[str, ...], dict[str, Any]]] = {}
        self.counter = 0
        self.changed_since_reopen = False

    def _engine(self) -> pathway.Engine:
        return pathway.Engine(PATHWAY, self.store, clock=lambda: self.now[0])

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _snapshot(self) -> tuple[Any, ...]:
        """Everything a call could change: cases, the chain head, derived rows, used keys."""
        conn = self.store.connection
        counts = tuple(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("closed_episodes", "handoffs", "idempotency")
        )
        return tuple(self.store.cases()), self.store.checkpoint(), counts

    def _expected(self, case_id: str, choice: str) -> int | None:
        version = self.ref[case_id].version
        return {"none": None, "current": version, "stale": version - 1, "ahead": version + 1}[
            choice
        ]

    def _new_key(self) -> str:
        self.counter += 1
        return f"key-{self.counter}"

    # --- rules ---

    @precondition(lambda self: len(self.ref) < 4)
    @rule(target=cases, actor=actors, data=payloads)
    def open_case(self, actor: pathway.Actor, data: Mapping[str, Any] | None) -> str:
        self.counter += 1
        case_id = f"C{self.counter}"
        case = self.engine.open_case(case_id, actor, data=data)
        assert (case.state, case.version, dict(case.attributes)) == (PATHWAY.initial, 1, data or {})
        assert self.store.case(case_id) == case
        self.ref[case_id] = Ref(case.state, 1, 1)
        return case_id

    @rule(
        case_id=cases,
        from_state=st.booleans(),
        trigger=st.sampled_from(TRIGGERS),
        pick=st.integers(0, 100),
        actor=actors,
        data=payloads,
        version=version_choices,
        keyed=st.booleans(),
        note=notes,
        wait=waits,
    )
    def fire(
        self,
        case_id: str,
        from_state: bool,
        trigger: str,
        pick: int,
        actor: pathway.Actor,
        data: Any,
        version: str,
        keyed: bool,
        note: str | None,
        wait: timedelta,
    ) -> None:
        """Any trigger of the pathway, or one that leads out of the case's state, by anyone."""
        if from_state:
            state = self.ref[case_id].state
            possible = list(
                dict.fromkeys(t.trigger for t in PATHWAY.transitions if state in t.sources)
            )
            assert possible, f"state {state} has no way out"
            trigger = possible[pick % len(possible)]
        self.now[0] += wait
        self._fire(case_id, trigger, actor, data, version, keyed, note)

    @rule(
        case_id=cases,
        pick=st.integers(0, 100),
        anywhere=st.integers(0, 3),
        any_team=st.integers(0, 3),
        amhp=st.booleans(),
        with_data=st.booleans(),
        keyed=st.booleans(),
        wait=waits,
    )
    def fire_as_the_right_team(
        self,
        case_id: str,
        pick: int,
        anywhere: int,
        any_team: int,
        amhp: bool,
        with_data: bool,
        keyed: bool,
        wait: timedelta,
    ) -> None:
        """A trigger out of the case's state, mostly by a team (and with data) its guards ask for."""
        state = self.ref[case_id].state
        possible = [t for t in PATHWAY.transitions if state in t.sources]
        # Mostly the state's own ways out rather than those from anywhere
        # (request_mha_assessment), so that cases get deep into the pathway.
        own = [t for t in possible if len(t.sources) < len(NON_FINAL)]
        if own and anywhere:
            possible = own
        transition = possible[pick % len(possible)]
        task = _task_of(transition)
        if not any_team:  # now and then a team the guards may turn away
            team = TEAMS[pick % len(TEAMS)]
        elif PATHWAY.states[state].offer_to is not None:
            team = PATHWAY.states[state].offer_to
        elif task is not None:
            team = sorted(PATHWAY.tasks[task].teams)[pick % len(PATHWAY.tasks[task].teams)]
        else:
            team = TEAMS[pick % len(TEAMS)]
        actor = pathway.Actor(f"w-{team}", str(team), roles=("amhp",) if amhp else ())
        data = {"enablement_plan": "six-week plan", "decline_reason": "no capacity"}
        self.now[0] += wait
        self._fire(
            case_id, transition.trigger, actor, data if with_data else None, "current", keyed, None
        )

    def _fire(
        self,
        case_id: str,
        trigger: str,
        actor: pathway.Actor,
        data: Mapping[str, Any] | None,
        version: str,
        keyed: bool,
        note: str | None,
    ) -> None:
        self.changed_since_reopen = True
        ref = self.ref[case_id]
        expected = self._expected(case_id, version)
        key = self._new_key() if keyed else None
        first_call = {"actor": actor, "expected_version": expected, "data": data, "note": note}
        before_case = self.store.case(case_id)
        before = self._snapshot()
        decision = self.engine.check(case_id, trigger, actor, data=data)
        assert self._snapshot() == before  # check writes nothing
        try:
            result = self.engine.fire(
                case_id,
                trigger,
                actor,
                expected_version=expected,
                data=data,
                note=note,
                idempotency_key=key,
            )
        except pathway.ConcurrencyConflict as exc:
            assert expected is not None and expected != ref.version
            assert (exc.case_id, exc.expected, exc.actual) == (case_id, expected, ref.version)
            assert self._snapshot() == before  # a stale call writes nothing at all
            return
        except pathway.TransitionRefused as exc:
            assert expected in (None, ref.version)
            assert not decision.allowed
            assert exc.reasons == decision.reasons
            ref.events += 1
            assert self.store.case(case_id) == before_case  # the case itself did not change
            last = self.store.history(case_id)[-1]
            assert (last.seq, last.trigger, last.outcome) == (ref.events, trigger, "refused")
            assert (last.reasons, last.note, dict(last.data)) == (exc.reasons, note, data or {})
            assert self.store.checkpoint().position == before[1].position + 1
            if key is not None:
                self.keys[key] = (case_id, trigger, exc.reasons, first_call)
            return
        assert expected in (None, ref.version)
        assert decision.allowed and result.state == decision.dest
        assert result.version == ref.version + 1
        assert dict(result.attributes) == {**before_case.attributes, **(data or {})}
        ref.state, ref.version, ref.events = result.state, result.version, ref.events + 1
        assert self.store.case(case_id) == result
        last = self.store.history(case_id)[-1]
        assert (last.seq, last.trigger, last.outcome) == (ref.events, trigger, "applied")
        assert (last.from_state, last.to_state) == (before_case.state, result.state)
        assert (last.actor_id, last.actor_team, last.actor_roles) == (
            actor.id,
            actor.team,
            actor.roles,
        )
        assert (last.note, dict(last.data), last.occurred_at) == (note, data or {}, self.now[0])
        if key is not None:
            self.keys[key] = (case_id, trigger, result, first_call)

    @precondition(lambda self: self.keys)
    @rule(
        pick=st.integers(0, 10**6),
        actor=actors,
        data=payloads,
        version=version_choices,
        same=st.booleans(),
    )
    def repeat_idempotency_key(
        self, pick: int, actor: pathway.Actor, data: Any, version: str, same: bool
    ) -> None:
        """A key again: the very same call replays its first result; any other call with it is
        an IdempotencyMismatch. Either way nothing is written."""
        key = sorted(self.keys)[pick % len(self.keys)]
        case_id, trigger, first, first_call = self.keys[key]
        before = self._snapshot()
        call = (
            dict(first_call)
            if same
            else {
                "actor": actor,
                "expected_version": self._expected(case_id, version),
                "data": data,
                "note": None,
            }
        )
        if _same_call(call, first_call):
            if isinstance(first, pathway.Case):
                assert self.engine.fire(case_id, trigger, idempotency_key=key, **call) == first
            else:
                with pytest.raises(pathway.TransitionRefused) as info:
                    self.engine.fire(case_id, trigger, idempotency_key=key, **call)
                assert info.value.reasons == first
        else:
            with pytest.raises(pathway.IdempotencyMismatch, match="already used"):
                self.engine.fire(case_id, trigger, idempotency_key=key, **call)
        assert self._snapshot() == before  # a repeated key adds nothing

    @rule(
        kind=st.sampled_from(["open_existing", "unknown_case", "backdated", "key_elsewhere"]),
        case_id=cases,
        trigger=st.sampled_from(TRIGGERS),
        actor=actors,
        pick=st.integers(0, 10**6),
        keyed=st.booleans(),
    )
    def call_that_fails(
        self, kind: str, case_id: str, trigger: str, actor: pathway.Actor, pick: int, keyed: bool
    ) -> None:
        """A call the engine must turn down without writing anything."""
        before = self._snapshot()
        key = self._new_key() if keyed else None
        if kind == "open_existing":
            with pytest.raises(pathway.CaseExists):
                self.engine.open_case(case_id, actor)
        elif kind == "unknown_case":
            with pytest.raises(pathway.CaseNotFound):
                self.engine.fire("no-such-case", trigger, actor, idempotency_key=key)
        elif kind == "backdated":  # business time before the case's newest event
            newest = self.store.history(case_id)[-1].occurred_at
            back = timedelta(microseconds=1) if pick % 2 else timedelta(days=3)
            with pytest.raises(pathway.InvalidRequest):
                self.engine.fire(case_id, trigger, actor, at=newest - back, idempotency_key=key)
        elif self.keys:  # an idempotency key already used for another case or trigger
            key = sorted(self.keys)[pick % len(self.keys)]
            first_case, first_trigger, _, _ = self.keys[key]
            if (case_id, trigger) == (first_case, first_trigger):
                trigger = next(t for t in TRIGGERS if t != first_trigger)
            with pytest.raises(pathway.InvalidRequest):
                self.engine.fire(case_id, trigger, actor, idempotency_key=key)
        assert self._snapshot() == before

    @precondition(lambda self: self.changed_since_reopen)
    @rule()
    def close_and_reopen_store(self) -> None:
        self.changed_since_reopen = False
        cases_before = {case_id: self.store.case(case_id) for case_id in self.ref}
        events_before = list(self.store.events())
        head = self.store.checkpoint()
        self.store.close()
        self.store = pathway.open_store(self.path, create=False)
        self.engine = self._engine()
        assert {case_id: self.store.case(case_id) for case_id in self.ref} == cases_before
        assert list(self.store.events()) == events_before
        assert self.store.checkpoint() == head
        assert self.store.verify(against=head).ok

    # --- invariants, checked after every step ---

    @invariant()
    def store_agrees_with_model_and_definition(self) -> None:
        assert self.store.integrity_check() == "ok"
        verified = self.store.verify()
        assert verified.ok, verified.problem
        events = list(self.store.events())
        assert verified.events == len(events) == self.store.checkpoint().position
        assert len(events) == sum(ref.events for ref in self.ref.values())
        assert {case.id for case in self.store.cases()} == set(self.ref)
        for case_id, ref in self.ref.items():
            case = self.store.case(case_id)
            assert (case.state, case.version) == (ref.state, ref.version)
            history = self.store.history(case_id)
            assert len(history) == ref.events
            assert history == [e for e in events if e.case_id == case_id]
            walk = check_trail(case, history)
            check_holding(self.store.connection, case, walk, self.now[0])

    @invariant()
    def a_fresh_connection_sees_the_same_store(self) -> None:
        with pathway.open_store(self.path, create=False) as fresh:
            assert list(fresh.cases()) == list(self.store.cases())
            assert fresh.checkpoint() == self.store.checkpoint()
            for case_id in self.ref:
                assert fresh.history(case_id) == self.store.history(case_id)


def test_random_calls_keep_the_pathway_invariants(store_factory: Backend) -> None:
    """Random opens, fires, stale versions, reused keys and reopens keep every store invariant,
    on SQLite and on PostgreSQL (fewer runs there: every step opens a second store)."""
    machine = type("Machine", (PathwayMachine,), {"backend": store_factory})
    examples = 30 if store_factory.name == "sqlite" else 12
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=examples, stateful_step_count=30, deadline=None),
    )


@pytest.mark.stress
def test_random_calls_keep_the_pathway_invariants_long() -> None:
    """The same state machine, ten times the runs and longer ones (rare guard boundaries)."""
    run_state_machine_as_test(
        PathwayMachine,
        settings=settings(max_examples=300, stateful_step_count=60, deadline=None),
    )


# --- data the engine accepts comes back exactly as stored (a bug found by this machine) ---------


@pytest.mark.parametrize(
    "data",
    [{"goals": ("walk", "cook")}, {1: "first contact"}, {1: "first contact", "risk": "low"}],
    ids=["tuple-value", "int-key", "mixed-keys"],
)
def test_fire_returns_the_case_it_stores_and_replays_for_any_accepted_data(
    tmp_path: Path, data: dict[Any, Any]
) -> None:
    """Data fire accepts comes back the same from fire, the store and a replay, or is refused."""
    now = [T0]
    with pathway.open_store(tmp_path / "cases.db") as store:
        engine = pathway.Engine(PATHWAY, store, clock=lambda: now[0])
        engine.open_case("C1", pathway.Actor("w-hub", "hub"))
        head = store.checkpoint()
        lets = pathway.Actor("w-lets", "lets")
        try:
            # once: tuples and int keys were accepted but stored as lists and "1"; mixed key
            # types passed the check and then failed hashing the event with a raw TypeError
            first = engine.fire(
                "C1", "book_choice_appointment", lets, data=data, idempotency_key="k"
            )
        except pathway.InvalidRequest:  # refusing such data is a fine answer too
            assert store.checkpoint() == head
            return
        assert first == store.case("C1")
        again = engine.fire("C1", "book_choice_appointment", lets, data=data, idempotency_key="k")
        assert again == first
