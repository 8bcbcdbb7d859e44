"""The engine: the one place where pathway rules run against stored cases.

Each call reads the case inside one ``BEGIN IMMEDIATE`` transaction, asks the pathway's compiled
machine for a decision, and writes the new case row and its audit event together. A refusal is
recorded as a ``refused`` audit event (governance counts refused referrals) and raised as
:class:`TransitionRefused`; the case itself does not change.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import placements
from .canonical import canonical_json, new_event_id
from .definition import Pathway
from .errors import (
    ConcurrencyConflict,
    IdempotencyMismatch,
    InvalidRequest,
    TransitionRefused,
)
from .machine import Evaluation
from .model import Actor, AuditEvent, Case, Decision, Person, ReturnPoint
from .spec import ACTOR_HOLDER, KEEP_HOLDER
from .store.base import IdempotencyRecord, NewEvent, Store, StoreTransaction
from .store.common import read_person
from .timeutil import (
    Clock,
    NaiveTime,
    as_naive_time,
    check_instant,
    format_instant,
    system_clock,
    to_utc,
)
from .versioning import DefinitionChanges, check_definition

_log = logging.getLogger("pathway.plugins")


@attrs.frozen
class ObserverFailure:
    """A plug-in that failed while observing an audit event; the event was committed regardless."""

    plugin: str
    event_id: str
    error: str


OPEN_TRIGGER = "open"
"""The trigger name of the event that opens a case."""

DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far past the engine's clock a caller's ``at`` may be (clocks of two machines differ a
little); further is refused, since an event in the future would put every later call "before
the case's newest event"."""


def _check_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data as JSON will store it, or InvalidRequest.

    Data becomes part of the hash-chained audit event and the case, so it is normalised to its
    JSON form here (tuples become lists; nested keys text): what ``fire`` returns is then exactly
    what the store gives back, and what an idempotent replay returns.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidRequest("data must be a mapping of field names to JSON values")
    if not data:
        return {}
    for key in data:
        if not isinstance(key, str):
            raise InvalidRequest(f"data field names must be text, not {key!r}")
    if placements.PLACEMENTS in data:
        raise InvalidRequest(
            f"{placements.PLACEMENTS} is kept by the engine from placement steps and cannot be "
            "given as data"
        )
    try:
        normalised: dict[str, Any] = json.loads(json.dumps(dict(data), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"data must be plain JSON values: {exc}") from None
    return normalised


def _fingerprint(request: Mapping[str, Any]) -> dict[str, str]:
    """A digest of each part of a request (SHA-256 of its canonical JSON), kept with its
    idempotency key: a retry is compared part by part, so a mismatch can say what differs,
    and the record holds digests rather than the request's data again."""
    return {
        part: hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
        for part, value in request.items()
    }


def _request(
    case_id: str,
    trigger: str,
    actor: Actor,
    at: datetime | None,
    data: Mapping[str, Any],
    note: str | None,
    expected_version: int | None,
) -> dict[str, Any]:
    """The parts of a call an idempotency key stands for, in canonical form: ``at`` as UTC text
    (None, "now", stays None: a retry a moment later is the same request), roles as a set,
    data as JSON."""
    return {
        "case": case_id,
        "trigger": trigger,
        "actor id": actor.id,
        "actor team": actor.team,
        "actor roles": sorted(set(actor.roles)),
        "at": format_instant(at) if at is not None else None,
        "data": dict(data),
        "note": note,
        "expected_version": expected_version,
    }


def _describe(span: timedelta) -> str:
    """A skew as a person reads it: "5 minutes", "2 days", "90 seconds"."""
    seconds = span.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


class Engine:
    """Runs one pathway's rules on the cases of one store.

    ``clock`` is injected (default: the system clock in UTC) so tests and replays are
    deterministic; an ``at`` given to a call is business time and may be in the past, but never
    before the case's newest event, nor more than ``max_clock_skew`` (default five minutes) past
    the engine's clock: one event dated in the future (a sending system's clock set to 2099)
    would put every later call on the case "before its newest event".

    ``naive_time`` says how a naive ``at`` (a datetime without ``tzinfo``) is read: a
    :class:`~pathway.timeutil.NaiveTime` or its text (``"utc"``, ``"local:Europe/London"``,
    ``"refuse"``); None (the default) takes the policy in force at each call
    (``$PATHWAY_NAIVE_TIME``, else UTC; see :mod:`pathway.timeutil`). An ``at`` with ``tzinfo``
    is never affected.

    An engine keeps no state between calls (``observer_failures`` aside, which is only appended
    to), so one engine may serve many threads when its store may be shared: a SQLite store on a
    file or a PostgreSQL store (docs/embedding.md, "Threads and connections").
    """

    def __init__(
        self,
        pathway: Pathway,
        store: Store,
        *,
        clock: Clock = system_clock,
        max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
        naive_time: NaiveTime | str | None = None,
    ) -> None:
        if not isinstance(max_clock_skew, timedelta) or max_clock_skew < timedelta(0):
            raise ValueError(
                f"max_clock_skew must be a timedelta of zero or more, not {max_clock_skew!r}"
            )
        self.pathway = pathway
        self.store = store
        self._clock = clock
        self.max_clock_skew = max_clock_skew
        self.naive_time: NaiveTime | None = (
            as_naive_time(naive_time) if naive_time is not None else None
        )
        """How a naive ``at`` is read (None: the policy in force at each call)."""
        self.observer_failures: list[ObserverFailure] = []
        """Failures of plug-ins observing audit events (the events themselves were committed)."""
        self.definition_changes: DefinitionChanges | None = check_definition(
            store, pathway, clock=clock
        )
        """What changed since the store last recorded this pathway's definition (None: nothing;
        see :mod:`pathway.versioning`). The new definition is recorded; an engine whose
        definition has no place for open cases is refused with ``PathwayChanged``."""

    # --- helpers ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return to_utc(self._clock())

    def _check_actor(self, actor: Actor) -> None:
        if not isinstance(actor, Actor):
            raise InvalidRequest("actor must be a pathway.Actor")
        if not actor.id:
            raise InvalidRequest("actor id must not be empty")
        if actor.team not in self.pathway.teams:
            known = ", ".join(self.pathway.teams)
            raise InvalidRequest(
                f"unknown team {actor.team!r} for pathway {self.pathway.id} (teams: {known})"
            )

    def _check_trigger(self, trigger: str) -> None:
        if trigger not in self.pathway.triggers:
            known = ", ".join(self.pathway.triggers)
            raise InvalidRequest(
                f"unknown trigger {trigger!r} for pathway {self.pathway.id} (triggers: {known})"
            )

    def _check_case(self, case: Case) -> None:
        if case.pathway_id != self.pathway.id:
            raise InvalidRequest(
                f"case {case.id} runs on pathway {case.pathway_id}, not {self.pathway.id}"
            )

    def _given(self, at: datetime | None) -> datetime | None:
        """A caller's ``at`` in UTC (None stays None: "now", read later), or InvalidRequest for
        one that is not a datetime or is more than the allowed skew past the engine's clock."""
        if at is None:
            return None
        if not isinstance(at, datetime):
            raise InvalidRequest("at must be a datetime")
        when = check_instant(at, "at", self.naive_time)
        now = self._now()
        if when - now > self.max_clock_skew:
            raise InvalidRequest(
                f"at {format_instant(when)} is more than {_describe(self.max_clock_skew)} ahead "
                f"of the clock ({format_instant(now)}): an event in the future would stop every "
                "later event of the case; check the sending system's clock"
            )
        return when

    def _event(
        self,
        before: Case | None,
        after: Case,
        trigger: str,
        actor: Actor,
        at: datetime,
        outcome: str,
        reasons: tuple[str, ...] = (),
        note: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> NewEvent:
        return NewEvent(
            event_id=new_event_id(),
            case_id=after.id,
            occurred_at=at,
            recorded_at=self._now(),
            trigger=trigger,
            from_state=before.state if before else None,
            to_state=after.state,
            from_team=before.team if before else None,
            to_team=after.team,
            from_organisation=before.organisation if before else None,
            to_organisation=after.organisation,
            actor_id=actor.id,
            actor_team=actor.team,
            actor_roles=tuple(actor.roles),
            outcome="applied" if outcome == "applied" else "refused",
            pathway_id=self.pathway.id,
            pathway_version=self.pathway.version,
            reasons=reasons,
            note=note,
            data=dict(data or {}),
            closes=outcome == "applied" and self.pathway.states[after.state].final,
            free_text=_free_keys(data, self.pathway.free_text),
        )

    def _check_time_order(self, tx: StoreTransaction, case: Case, at: datetime) -> None:
        problem = _time_order_problem(case.id, at, tx.last_event_at(case.id))
        if problem is not None:
            raise InvalidRequest(problem)

    def _holder(self, case: Case, evaluation: Evaluation, actor: Actor) -> tuple[str, str | None]:
        transition = evaluation.transition
        assert transition is not None and evaluation.dest is not None
        dest = self.pathway.states[evaluation.dest]
        if transition.internal:
            return case.team, case.worker
        if transition.holder == ACTOR_HOLDER:
            return actor.team, actor.id
        if transition.holder == KEEP_HOLDER:
            team = case.team
        elif transition.holder is not None:
            team = transition.holder
        elif transition.returns and case.return_stack:
            team = case.return_stack[-1].team
        elif dest.holder is None:  # an offer state: the offering team keeps the case
            team = case.team
        else:
            team = dest.holder
        return team, (case.worker if team == case.team else None)

    def _return_stack(self, case: Case, evaluation: Evaluation) -> tuple[ReturnPoint, ...]:
        """Push on an offer or interruption, pop on a return; an accepted offer drops its point.

        A case that leaves an interruption other than by returning (an admission offered from a
        Mental Health Act assessment and accepted) will not go back to where it was before the
        interruption either, so that point is dropped too: otherwise it would stay on the stack
        for the rest of the case's life.
        """
        transition = evaluation.transition
        assert transition is not None and evaluation.dest is not None
        stack = case.return_stack
        inside = self.pathway.interruption_states
        if transition.internal:
            return stack  # the case stays where it is, offer and interruptions included
        if self.pathway.states[evaluation.dest].final:
            return ()
        if transition.returns:
            return stack[:-1]
        if transition.remembers:
            return (*stack, ReturnPoint(case.state, case.team, case.state_entered_at))
        if self.pathway.states[case.state].is_offer and stack:
            accepted, stack = stack[-1], stack[:-1]  # the case has moved on, will not go back
            return _leave_interruption(stack, inside) if accepted.state in inside else stack
        if case.state in inside and evaluation.dest not in inside:
            return _leave_interruption(stack, inside)
        return stack

    def _apply(
        self,
        case: Case,
        evaluation: Evaluation,
        actor: Actor,
        at: datetime,
        data: Mapping[str, Any],
    ) -> Case:
        dest = evaluation.dest
        assert dest is not None and evaluation.transition is not None
        team, worker = self._holder(case, evaluation, actor)
        action = evaluation.transition.placement
        attributes = (
            placements.attributes_after(action, case.attributes, data)
            if action is not None
            else {**case.attributes, **data}
        )
        moved = dest != case.state
        entered_at = at if moved else case.state_entered_at
        if (
            evaluation.transition is not None
            and evaluation.transition.returns
            and case.return_stack
        ):
            entered_at = case.return_stack[-1].entered_at or entered_at
        return attrs.evolve(
            case,
            state=dest,
            team=team,
            organisation=self.pathway.organisation_of(team),
            worker=worker,
            version=case.version + 1,
            pathway_version=self.pathway.version,  # the version the case moved under
            state_entered_at=entered_at,
            return_stack=self._return_stack(case, evaluation),
            closed_at=at if self.pathway.states[dest].final else None,
            attributes=attributes,
        )

    def _prepare(self, case: Case, trigger: str, data: dict[str, Any]) -> dict[str, Any]:
        """A placement step's data checked and normalised (InvalidRequest naming the field)."""
        action = self.pathway.placement_action(trigger)
        if action is None:
            return data
        return placements.prepare(action, trigger, case, data, self.pathway)

    # --- public API ---------------------------------------------------------------------------

    def open_case(
        self,
        case_id: str,
        actor: Actor,
        at: datetime | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        note: str | None = None,
        person: Person | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        """Open a new case in the pathway's initial state; the opening is the case's first event.

        ``person`` (name, date of birth, NHS number) is stored apart from the audit trail, so it can
        be erased at the end of retention without breaking the hash chain. With an
        ``idempotency_key`` already used for the same request, it returns the case that call
        opened and writes nothing (see :meth:`fire`).
        """
        if not isinstance(case_id, str) or not case_id.strip():
            raise InvalidRequest("case id must be a non-empty string")
        self._check_actor(actor)
        values = _check_data(data)
        given = self._given(at)
        request = _request(case_id, OPEN_TRIGGER, actor, given, values, note, None)
        request["person"] = person is not None
        when = given if given is not None else self._now()
        initial = self.pathway.states[self.pathway.initial]
        holder = self.pathway.initial_holder or initial.holder or ACTOR_HOLDER
        team = actor.team if holder == ACTOR_HOLDER else holder
        case = Case(
            id=case_id,
            pathway_id=self.pathway.id,
            pathway_version=self.pathway.version,
            state=initial.id,
            team=team,
            organisation=self.pathway.organisation_of(team),
            version=1,
            opened_at=when,
            state_entered_at=when,
            worker=actor.id if team == actor.team else None,
            closed_at=when if initial.final else None,
            attributes=values,
        )
        with self.store.transaction() as tx:
            if idempotency_key is not None:
                prior = tx.idempotency(idempotency_key)
                if prior is not None:
                    self._same_request(prior, request)
                    stored = read_person(tx.connection, case_id) if person is not None else None
                    if stored is not None and stored != person:
                        # Personal details are not in the fingerprint (a digest of them would
                        # outlive their erasure): compared with the stored ones while they exist.
                        raise IdempotencyMismatch(
                            prior.key, prior.case_id, prior.trigger, ("person",)
                        )
                    return self._replay(prior, case_id, OPEN_TRIGGER)
            event = tx.open_case(
                case,
                self._event(None, case, OPEN_TRIGGER, actor, when, "applied", (), note, values),
            )
            if person is not None:
                tx.save_person(case_id, person)
            if idempotency_key is not None:
                tx.save_idempotency(
                    IdempotencyRecord(
                        idempotency_key, case_id, OPEN_TRIGGER, "applied", case, (),
                        _fingerprint(request),
                    )
                )  # fmt: skip
        self._notify(event, case)
        return case

    def fire(
        self,
        case_id: str,
        trigger: str,
        actor: Actor,
        at: datetime | None = None,
        expected_version: int | None = None,
        data: Mapping[str, Any] | None = None,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        """Fire ``trigger`` on a case and return the case after it.

        Raises :class:`TransitionRefused` (after recording the refusal) when a guard refuses,
        :class:`ConcurrencyConflict` (writing nothing) when ``expected_version`` is stale, and
        :class:`CaseNotFound` for an unknown case. With an ``idempotency_key`` already used for
        the same request (case, trigger, actor id, team and roles, ``at``, data, note and
        expected version), it returns (or raises) what the first call did and writes nothing;
        with the key of a different request it raises :class:`IdempotencyMismatch`.
        """
        self._check_actor(actor)
        self._check_trigger(trigger)
        values = _check_data(data)
        given = self._given(at)
        request = _request(case_id, trigger, actor, given, values, note, expected_version)
        refusal: TransitionRefused | None = None
        with self.store.transaction() as tx:
            if idempotency_key is not None:
                prior = tx.idempotency(idempotency_key)
                if prior is not None:
                    self._same_request(prior, request)
                    return self._replay(prior, case_id, trigger)
            case = tx.load_case(case_id)
            self._check_case(case)
            if expected_version is not None and case.version != expected_version:
                raise ConcurrencyConflict(case_id, expected_version, case.version)
            # "Now" is read once the case is held: a call that waited for another writer on the
            # same case must not be dated before the event that writer just committed.
            when = given if given is not None else self._now()
            self._check_time_order(tx, case, when)
            values = self._prepare(case, trigger, values)
            evaluation = self.pathway.machine.evaluate(case, trigger, actor, when, values)
            if evaluation.allowed:
                result = self._apply(case, evaluation, actor, when, values)
                action = self.pathway.placement_action(trigger)
                new_event = self._event(
                    case, result, trigger, actor, when, "applied", (), note, values
                )
                if action is None:
                    event = tx.apply_transition(result, case.version, new_event)
                else:  # its periods are written in this transaction, with the event
                    change = placements.change_for(action, case, values, self.pathway)
                    event = tx.apply_transition(result, case.version, new_event, placement=change)
                record = IdempotencyRecord(
                    idempotency_key or "", case_id, trigger, "applied", result, (),
                    _fingerprint(request) if idempotency_key is not None else None,
                )  # fmt: skip
            else:
                result = case
                event = tx.record_refusal(
                    case,
                    self._event(
                        case,
                        case,
                        trigger,
                        actor,
                        when,
                        "refused",
                        evaluation.reasons,
                        note,
                        values,
                    ),
                )
                refusal = TransitionRefused(case_id, trigger, evaluation.reasons)
                record = IdempotencyRecord(
                    idempotency_key or "", case_id, trigger, "refused", None, evaluation.reasons,
                    _fingerprint(request) if idempotency_key is not None else None,
                )  # fmt: skip
            if idempotency_key is not None:
                tx.save_idempotency(record)
        self._notify(event, result)
        if refusal is not None:
            raise refusal
        return result

    def _notify(self, event: AuditEvent, case: Case) -> None:
        """Tell plug-ins observing audit events, after the commit; a failure loses nothing."""
        hooks = self.pathway.hooks
        if hooks is None:
            return
        for impl in hooks.hook.audit_event_recorded.get_hookimpls():
            try:
                impl.function(event=event, case=case)
            except Exception as exc:
                failure = ObserverFailure(
                    impl.plugin_name, event.event_id, f"{type(exc).__name__}: {exc}"
                )
                self.observer_failures.append(failure)
                _log.error(
                    "plug-in %s failed observing event %s (the event is recorded): %s",
                    failure.plugin, failure.event_id, failure.error,
                )  # fmt: skip

    @staticmethod
    def _same_request(prior: IdempotencyRecord, request: Mapping[str, Any]) -> None:
        """Refuse a key used again for another request, naming the parts that differ.

        A record from before fingerprints were kept (schema version 5) can only be compared on
        its case and trigger: such keys keep the old behaviour.
        """
        if prior.fingerprint is None:
            differs = [
                part
                for part, first in (("case", prior.case_id), ("trigger", prior.trigger))
                if request[part] != first
            ]
        else:
            now = _fingerprint(request)
            differs = [part for part in now if prior.fingerprint.get(part) != now[part]]
        if differs:
            raise IdempotencyMismatch(prior.key, prior.case_id, prior.trigger, differs)

    def _replay(self, prior: IdempotencyRecord, case_id: str, trigger: str) -> Case:
        if prior.outcome == "refused" or prior.case is None:
            raise TransitionRefused(case_id, trigger, prior.reasons)
        return prior.case

    def _decision(self, evaluation: Evaluation) -> Decision:
        return Decision(
            trigger=evaluation.trigger,
            allowed=evaluation.allowed,
            reasons=evaluation.reasons,
            dest=evaluation.dest,
            checks=evaluation.checks,
        )

    def check(
        self,
        case_id: str,
        trigger: str,
        actor: Actor,
        at: datetime | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> Decision:
        """Would :meth:`fire` with these arguments succeed now? Writes nothing.

        It makes the checks ``fire`` makes, in the same order, and gives the same answer:
        ``allowed`` exactly when ``fire`` would return a case. What ``fire`` raises before it
        looks at the case (an unknown trigger or team, data that is not JSON, an ``at`` too far
        ahead of the clock, a key used for another request, an unknown case) ``check`` raises
        too; what ``fire`` turns down because of the case as it stands (a stale
        ``expected_version``, an ``at`` before the case's newest event, malformed placement
        data, a guard) is a reason in the decision. A key already used for this very request
        gives the decision the first call had. Each read is of the store as it is at that
        moment: a writer in between can still change the answer.
        """
        self._check_actor(actor)
        self._check_trigger(trigger)
        values = _check_data(data)
        given = self._given(at)
        if idempotency_key is not None:
            prior = self.store.idempotency(idempotency_key)
            if prior is not None:
                self._same_request(
                    prior, _request(case_id, trigger, actor, given, values, note, expected_version)
                )
                if prior.outcome == "refused" or prior.case is None:
                    return Decision(trigger=trigger, allowed=False, reasons=prior.reasons)
                return Decision(trigger=trigger, allowed=True, dest=prior.case.state)
        case = self.store.case(case_id)
        self._check_case(case)
        if expected_version is not None and case.version != expected_version:
            conflict = ConcurrencyConflict(case_id, expected_version, case.version)
            return Decision(trigger=trigger, allowed=False, reasons=(str(conflict),))
        when = given if given is not None else self._now()
        problem = self._time_problem(case, when)
        if problem is not None:
            return Decision(trigger=trigger, allowed=False, reasons=(problem,))
        return self._check_one(case, trigger, actor, when, values)

    def _time_problem(self, case: Case, at: datetime) -> str | None:
        """Why ``at`` cannot be a new event of the case (read outside a transaction), or None."""
        history = self.store.history(case.id)
        return _time_order_problem(case.id, at, history[-1].occurred_at) if history else None

    def _check_one(
        self, case: Case, trigger: str, actor: Actor, at: datetime, values: dict[str, Any]
    ) -> Decision:
        """Evaluate one trigger; placement data that ``fire`` would reject is a reason here."""
        try:
            prepared = self._prepare(case, trigger, values)
        except InvalidRequest as exc:
            return Decision(trigger=trigger, allowed=False, reasons=(str(exc),))
        return self._decision(self.pathway.machine.evaluate(case, trigger, actor, at, prepared))

    def available(
        self,
        case_id: str,
        actor: Actor,
        at: datetime | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> list[Decision]:
        """Every trigger leading out of the case's current state, allowed or not, with reasons.

        ``data`` is what the actor would give with the call (guards such as ``data_present`` see it).
        Each decision is the one :meth:`check` gives for that trigger.
        """
        self._check_actor(actor)
        values = _check_data(data)
        given = self._given(at)
        case = self.store.case(case_id)
        self._check_case(case)
        when = given if given is not None else self._now()
        triggers = self.pathway.machine.triggers_from(case.state)
        problem = self._time_problem(case, when)
        if problem is not None:
            return [Decision(trigger=t, allowed=False, reasons=(problem,)) for t in triggers]
        return [self._check_one(case, trigger, actor, when, values) for trigger in triggers]

    def history(self, case_id: str) -> list[AuditEvent]:
        """The case's audit events in order (a convenience for ``engine.store.history``)."""
        return self.store.history(case_id)


def _time_order_problem(case_id: str, at: datetime, newest: datetime) -> str | None:
    """Why an event at ``at`` cannot follow the case's newest event, or None if it can."""
    if at < newest:
        return (
            f"case {case_id}: at {format_instant(at)} is before the case's newest event "
            f"({format_instant(newest)}); events of a case must be in time order"
        )
    return None


def _leave_interruption(
    stack: tuple[ReturnPoint, ...], inside: frozenset[str]
) -> tuple[ReturnPoint, ...]:
    """The stack once the case has left the interruption it is in: the points of interruptions
    nested in it (their states are inside one) and the point that started it are dropped."""
    while stack and stack[-1].state in inside:
        stack = stack[:-1]
    return stack[:-1]


def _free_keys(data: Mapping[str, Any] | None, declared: frozenset[str]) -> tuple[str, ...]:
    """The fields of ``data`` the pathway declares free text (sealed outside the chain)."""
    if not data or not declared:
        return ()
    return tuple(sorted(key for key in data if key in declared))
