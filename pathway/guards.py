"""Guards: named, pure checks that decide whether a transition may happen, with a readable reason.

A guard is a function ``guard(ctx, **params) -> GuardResult``. It must depend only on the context
(case, actor, time, data) and its parameters, never on the database or the clock, so that the
explanation of a refusal (re-checking every guard) always matches the decision.

**How parameters reach a guard.** A transition names a guard either bare (``guards:
[has_role]``: called as ``guard(ctx)``) or with parameters (``{guard: has_role, params: {role:
amhp}}``: called as ``guard(ctx, role="amhp")``). The ``params`` mapping is checked against the
guard's :attr:`GuardSpec.params_schema` (a JSON Schema) when the definition is loaded, so a
misspelt or missing parameter is a load-time error naming its line; at each check the engine
then calls ``spec.function(ctx, **params)``, each key of ``params`` as a keyword argument.
Declare the parameters as keyword arguments with the defaults the schema leaves optional, and
make ``ctx`` positional-only (``def has_role(ctx, /, role: str)``) so a parameter can never be
called ``ctx``. The same parameters reach :attr:`GuardSpec.roles`, which names the roles a use
of the guard asks for.

This module holds the guard machinery and the general guards (:data:`GENERAL_GUARDS`); the rules
of placements and who pays for them are in :mod:`pathway.funding_guards`. Both are registered in
:data:`pathway.builtin_guards.BUILTIN_GUARDS`; a :class:`GuardRegistry` can be copied and
extended (plug-ins add their own). Each guard declares a JSON Schema for its parameters, which
the definition loader checks, so a misspelt parameter is a load-time error with its line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .model import Actor, Case
from .timeutil import optional_day

if TYPE_CHECKING:
    from .definition import Pathway
    from .spec import Transition


@attrs.frozen
class GuardResult:
    """A guard's verdict: passed or not, and why, in words for a practitioner."""

    passed: bool
    """True if the transition may happen as far as this guard is concerned."""
    reason: str
    """Why, in words a practitioner reads (shown on refusal and in ``check``)."""


def passed(reason: str) -> GuardResult:
    """A passing verdict."""
    return GuardResult(True, reason)


def refused(reason: str) -> GuardResult:
    """A refusing verdict."""
    return GuardResult(False, reason)


@attrs.frozen
class GuardContext:
    """What a guard may look at: the case before the transition, who acts, when, and with what data.

    ``values`` is the case's attributes updated with the data given to this call, so a guard sees
    what the case will know if the transition is applied.
    """

    pathway: Pathway
    """The pathway the case runs on."""
    case: Case
    """The case as it stands before the transition."""
    actor: Actor
    """Who is acting: id, team and roles."""
    at: datetime
    """When the transition would happen (business time, UTC)."""
    transition: Transition
    """The transition being checked (its trigger, sources, destination, task)."""
    data: Mapping[str, Any]
    """The data given to this call (``fire(..., data=...)``)."""

    @property
    def values(self) -> Mapping[str, Any]:
        """The case's attributes updated with this call's data: what the case will know."""
        return {**self.case.attributes, **self.data}


GuardFunction = Callable[..., GuardResult]
"""``guard(ctx, **params) -> GuardResult``: the guard's parameters come from the definition."""


@attrs.frozen
class GuardSpec:
    """A registered guard: its function, what it checks, and the JSON Schema of its parameters.

    ``roles`` returns the role names a use of the guard asks for (they make up ``Pathway.roles``).
    """

    name: str
    """The name transitions use for it."""
    function: GuardFunction
    """``function(ctx, **params) -> GuardResult`` (see the module's docstring for params)."""
    description: str
    """What it checks, in a sentence (shown by ``pathway validate`` and the diagram)."""
    params_schema: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "additionalProperties": False}
    )
    """The JSON Schema a use's ``params`` must match (default: no parameters)."""
    roles: Callable[[Mapping[str, Any]], Iterable[str]] = lambda params: ()
    """``roles(params)``: the role names a use of the guard with these params asks for."""


class GuardRegistry(Mapping[str, GuardSpec]):
    """Guards by name. Registering a name twice is an error, never a silent replacement."""

    def __init__(self, specs: Iterable[GuardSpec] = ()) -> None:
        self._specs: dict[str, GuardSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: GuardSpec) -> None:
        """Add a guard (``ValueError`` if its name is taken)."""
        if spec.name in self._specs:
            raise ValueError(f"a guard named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def copy(self) -> GuardRegistry:
        """A new registry with the same guards, to extend without changing this one."""
        return GuardRegistry(self._specs.values())

    def __getitem__(self, name: str) -> GuardSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _task_of(ctx: GuardContext, task: str | None) -> str | None:
    if task is not None:
        return task
    if ctx.transition.task is not None:
        return ctx.transition.task
    if ctx.transition.dest is not None:
        return ctx.pathway.states[ctx.transition.dest].task
    return None


def team_may_perform(ctx: GuardContext, /, task: str | None = None) -> GuardResult:
    """The actor's team may perform the step, by the pathway's task matrix."""
    name = _task_of(ctx, task)
    if name is None:
        return passed("no task is named for this step, so any team may perform it")
    allowed = ctx.pathway.tasks[name].teams
    team = ctx.actor.team
    listed = ", ".join(sorted(allowed))
    if team in allowed:
        return passed(f"team {team} may perform {name} (task matrix: {listed})")
    return refused(f"team {team} may not perform {name}: the task matrix allows {listed}")


def has_role(ctx: GuardContext, /, role: str) -> GuardResult:
    """The actor holds a role (e.g. ``amhp`` for a Mental Health Act application)."""
    if role in ctx.actor.roles:
        return passed(f"{ctx.actor.id} holds the {role} role")
    held = ", ".join(ctx.actor.roles) or "none"
    return refused(f"{ctx.actor.id} does not hold the {role} role (roles held: {held})")


def present(value: Any) -> bool:
    """Whether a data value is given: not None, and not empty or only spaces."""
    if value is None:
        return False
    if isinstance(value, str | list | dict | tuple):
        return bool(value.strip()) if isinstance(value, str) else bool(value)
    return True


def data_present(ctx: GuardContext, /, fields: list[str], this_call: bool = False) -> GuardResult:
    """Required data is recorded on the case or given with this call (e.g. an enablement plan).

    With ``this_call``, only data given with this very call counts: a reason for declining an
    offer or closing a case must be given each time, not found left over from an earlier step.
    """
    values = ctx.data if this_call else ctx.values
    missing = [name for name in fields if not present(values.get(name))]
    if missing:
        where = " with this step" if this_call else ""
        return refused(f"required data missing{where}: " + ", ".join(missing))
    return passed("required data present: " + ", ".join(fields))


def _fmt_days(days: float) -> str:
    return f"{days:.1f}".rstrip("0").rstrip(".")


def within_time_limit(
    ctx: GuardContext, /, state: str | None = None, days: float | None = None
) -> GuardResult:
    """The case has not been in a state longer than its time limit (default: the current state's)."""
    state_name = state or ctx.case.state
    limit = days if days is not None else ctx.pathway.states[state_name].time_limit_days
    if limit is None:
        return passed(f"{state_name} has no time limit")
    if ctx.case.state != state_name:
        return passed(f"the case is not in {state_name}, so its time limit does not apply")
    spent = (ctx.at - ctx.case.state_entered_at) / timedelta(days=1)
    if spent <= limit:
        return passed(f"{_fmt_days(spent)} days in {state_name}, within {_fmt_days(limit)}")
    return refused(
        f"{_fmt_days(spent)} days in {state_name}, over its limit of {_fmt_days(limit)} days"
    )


def receiving_team(ctx: GuardContext, /) -> GuardResult:
    """Only the team a case is offered to may accept (or decline) the handoff."""
    state = ctx.pathway.states[ctx.case.state]
    if state.offer_to is None:
        return refused(f"{ctx.case.state} is not a handoff offer, so there is nothing to accept")
    if ctx.actor.team == state.offer_to:
        return passed(f"{state.offer_to}, the team the case is offered to, decides the handoff")
    return refused(
        f"only {state.offer_to}, the team the case is offered to, may accept or decline it "
        f"(the actor is in {ctx.actor.team})"
    )


def holding_team(ctx: GuardContext, /) -> GuardResult:
    """Only the team that holds the case may do this (no one acts on another team's case)."""
    if ctx.actor.team == ctx.case.team:
        return passed(f"{ctx.actor.team} holds the case")
    return refused(
        f"only {ctx.case.team}, the team that holds the case, may do this (the actor is in {ctx.actor.team})"
    )


def data_in(ctx: GuardContext, /, field: str, values: list[Any]) -> GuardResult:
    """A recorded field has one of the allowed values (e.g. a referral route from a fixed list)."""
    value = ctx.values.get(field)
    listed = ", ".join(str(v) for v in values)
    if value in values:
        return passed(f"{field} is {value}, one of: {listed}")
    if value is None:
        return refused(f"required data missing: {field} (one of: {listed})")
    return refused(f"{field} is {value!r}, not one of: {listed}")


def _in_any(state: str, states: Iterable[str]) -> str | None:
    """The listed state ``state`` is, or is a plug-in sub-step of (``safeguarding.enquiry`` of
    ``safeguarding``), else None: plug-ins name the steps they add inside a state that way."""
    for name in states:
        if state == name or state.startswith(name + "."):
            return name
    return None


def not_in_states(ctx: GuardContext, /, states: list[str]) -> GuardResult:
    """The case is not in one of ``states`` (or a plug-in's sub-step of one): e.g. a Mental Health
    Act assessment is not started again while one is under way."""
    found = _in_any(ctx.case.state, states)
    if found is not None:
        return refused(
            f"not while the case is in {ctx.case.state}: this step is not taken from {found}"
        )
    return passed(f"the case is in {ctx.case.state}, not in " + ", ".join(states))


def date_given(ctx: GuardContext, /, field: str) -> GuardResult:
    """This step gives a date in ``field`` (YYYY-MM-DD), not after the day of the step: the start
    of a detention, say, which later rules (section 117) compare with other dates."""
    value = ctx.data.get(field)
    if not present(value):
        return refused(f"required data missing with this step: {field} (a date such as 2026-01-05)")
    day = optional_day(value)
    if day is None:
        return refused(f"{field} is {value!r}, not a date such as 2026-01-05")
    if day > ctx.at.date():
        return refused(
            f"{field} {day.isoformat()} is after this step ({ctx.at.date().isoformat()})"
        )
    return passed(f"{field} is {day.isoformat()}")


def _latest_date(values: Mapping[str, Any], fields: Iterable[str]) -> tuple[str, Any] | None:
    """The field among ``fields`` with the latest recorded date, and that date."""
    dated = [(day, name) for name in fields if (day := optional_day(values.get(name)))]
    if not dated:
        return None
    day, name = max(dated)
    return name, day


S117_END_FIELDS = ("s117_end_decision", "s117_end_date")
"""The joint decision to end section 117 aftercare: what was decided and by whom, and its date."""


def s117_detention(ctx: GuardContext, /, evidence: list[str]) -> GuardResult:
    """Section 117 aftercare follows detention under section 3, 37, 45A, 47 or 48, never section 2
    or an informal admission (MHA 1983 s117(1)): one of the ``evidence`` start dates is recorded."""
    found = _latest_date(ctx.values, evidence)
    if found is None:
        return refused(
            "section 117 aftercare follows detention under section 3, 37, 45A, 47 or 48 (not "
            "section 2 or an informal admission), and no start date of one is recorded: required "
            "data missing (one of): " + ", ".join(evidence)
        )
    return passed(f"eligible for section 117 aftercare: {found[0]} is {found[1].isoformat()}")


def s117_end_decided(ctx: GuardContext, /, evidence: list[str]) -> GuardResult:
    """A person eligible for section 117 aftercare is not closed without the recorded joint decision
    of the council and the NHS to end it (MHA 1983 s117(2)).

    Eligible: one of the ``evidence`` dates is recorded and no end decision (``s117_end_decision``
    with ``s117_end_date``) is dated on or after the latest of them; the decision may be given with
    the closing step. A later detention makes the person eligible again.
    """
    values = ctx.values
    found = _latest_date(values, evidence)
    if found is None:
        return passed(
            "the person is not eligible for section 117 aftercare (no qualifying detention)"
        )
    name, start = found
    ended = optional_day(values.get("s117_end_date"))
    if ended is not None and ended >= start and present(values.get("s117_end_decision")):
        return passed(
            f"section 117 aftercare ended by joint decision on {ended.isoformat()} "
            f"(after {name} {start.isoformat()})"
        )
    return refused(
        f"the person is eligible for section 117 aftercare ({name} {start.isoformat()}), which "
        "ends only by a joint decision of the council and the NHS: required data missing: "
        "s117_end_decision and s117_end_date (on or after " + start.isoformat() + ")"
    )


def safeguarding_outcome(ctx: GuardContext, /, states: list[str], field: str) -> GuardResult:
    """A case is not closed, nor its safeguarding ended, while a concern or enquiry is open without
    the outcome given with this step (Care Act 2014 s42(2): what action is taken and by whom).

    Open: the case is in one of ``states`` (or a plug-in's sub-step of one), or one of them is on
    its return stack (an interruption nested inside the enquiry)."""
    where = [ctx.case.state, *(point.state for point in ctx.case.return_stack)]
    open_in = next((s for s in where if _in_any(s, states) is not None), None)
    if open_in is None:
        return passed("no safeguarding concern or enquiry is open")
    if not present(ctx.data.get(field)):
        return refused(
            f"a safeguarding concern or enquiry is open ({open_in}), so its outcome must be given "
            f"with this step: required data missing with this step: {field}"
        )
    return passed(f"the outcome of the safeguarding concern ({open_in}) is given with this step")


_EVIDENCE_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evidence"],
    "properties": {"evidence": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
}

GENERAL_GUARDS: tuple[GuardSpec, ...] = (
    GuardSpec(
        "team_may_perform",
        team_may_perform,
        "The actor's team may perform the step (the task matrix). Applied automatically to "
        "every transition that names a task, or whose destination state does.",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"task": {"type": "string"}},
        },
    ),
    GuardSpec(
        "has_role",
        has_role,
        "The actor holds a role.",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["role"],
            "properties": {"role": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}},
        },
        roles=lambda params: [str(params["role"])],
    ),
    GuardSpec(
        "data_present",
        data_present,
        "Required data is on the case or given with the call.",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["fields"],
            "properties": {
                "fields": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "this_call": {"type": "boolean"},
            },
        },
    ),
    GuardSpec(
        "within_time_limit",
        within_time_limit,
        "The case has not overrun a state's time limit.",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "state": {"type": "string"},
                "days": {"type": "number", "exclusiveMinimum": 0},
            },
        },
    ),
    GuardSpec(
        "holding_team",
        holding_team,
        "Only the team that holds the case may fire the transition.",
    ),
    GuardSpec(
        "data_in",
        data_in,
        "A data field has one of a list of allowed values.",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["field", "values"],
            "properties": {
                "field": {"type": "string"},
                "values": {"type": "array", "minItems": 1},
            },
        },
    ),
    GuardSpec(
        "not_in_states",
        not_in_states,
        "The case is not in one of the listed states (nor a plug-in's sub-step of one).",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["states"],
            "properties": {"states": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
        },
    ),
    GuardSpec(
        "date_given",
        date_given,
        "This step gives a date (YYYY-MM-DD) in the field, not after the day of the step.",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["field"],
            "properties": {"field": {"type": "string"}},
        },
    ),
    GuardSpec(
        "s117_detention",
        s117_detention,
        "One of the evidence fields records the start of a detention that section 117 "
        "aftercare follows (section 3, 37, 45A, 47 or 48; never section 2).",
        _EVIDENCE_SCHEMA,
    ),
    GuardSpec(
        "s117_end_decided",
        s117_end_decided,
        "A person eligible for section 117 aftercare (one of the evidence dates) has a "
        "recorded joint end decision (s117_end_decision, s117_end_date) dated on or after it.",
        _EVIDENCE_SCHEMA,
    ),
    GuardSpec(
        "safeguarding_outcome",
        safeguarding_outcome,
        "While a safeguarding concern or enquiry is open (one of the states, on the case or "
        "its return stack), the step gives its outcome in the field.",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["states", "field"],
            "properties": {
                "states": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "field": {"type": "string"},
            },
        },
    ),
    GuardSpec(
        "receiving_team",
        receiving_team,
        "The receiving team has accepted (or declined) the handoff: only a member of the team "
        "the case is offered to may fire the transition.",
    ),
)
"""The general guards (the funding rules are :data:`pathway.funding_guards.FUNDING_GUARDS`; both
are in :data:`pathway.builtin_guards.BUILTIN_GUARDS`)."""
