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

Built-in guards are registered in :data:`BUILTIN_GUARDS`; a :class:`GuardRegistry` can be copied
and extended (plug-ins add their own). Each guard declares a JSON Schema for its parameters, which
the definition loader checks, so a misspelt parameter is a load-time error with its line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from . import placements
from .model import Actor, Case
from .placements import Placement

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


def _present(value: Any) -> bool:
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
    missing = [name for name in fields if not _present(values.get(name))]
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
    if not _present(value):
        return refused(f"required data missing with this step: {field} (a date such as 2026-01-05)")
    day = placements.optional_day(value)
    if day is None:
        return refused(f"{field} is {value!r}, not a date such as 2026-01-05")
    if day > ctx.at.date():
        return refused(
            f"{field} {day.isoformat()} is after this step ({ctx.at.date().isoformat()})"
        )
    return passed(f"{field} is {day.isoformat()}")


def _latest_date(values: Mapping[str, Any], fields: Iterable[str]) -> tuple[str, Any] | None:
    """The field among ``fields`` with the latest recorded date, and that date."""
    dated = [(day, name) for name in fields if (day := placements.optional_day(values.get(name)))]
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
    ended = placements.optional_day(values.get("s117_end_date"))
    if ended is not None and ended >= start and _present(values.get("s117_end_decision")):
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
    if not _present(ctx.data.get(field)):
        return refused(
            f"a safeguarding concern or enquiry is open ({open_in}), so its outcome must be given "
            f"with this step: required data missing with this step: {field}"
        )
    return passed(f"the outcome of the safeguarding concern ({open_in}) is given with this step")


# --- placements and who pays for them ----------------------------------------------------------


def _placement(ctx: GuardContext) -> tuple[str, Placement | None, Placement] | None:
    """The step's placement action and the placement before and after it (None: no placement step)."""
    action = ctx.transition.placement
    if action is None or "placement_id" not in ctx.data:
        return None
    before, after = placements.after(action, ctx.case.attributes, ctx.data)
    return action, before, after


def _not_placement() -> GuardResult:
    return passed("not a placement step, so there is no placement to check")


def _council_exempt(action: str, placement: Placement) -> GuardResult | None:
    pid = placement.placement_id
    if action == "end":
        return passed(f"ending placement {pid} commits no new money")
    if not placement.council_funded:
        return passed(f"placement {pid} is not council-funded (council share 0)")
    if placement.s117:
        return passed(
            f"placement {pid} is section 117 aftercare, a joint council and NHS duty that does "
            "not rest on Care Act eligibility"
        )
    return None


def care_act_eligibility(ctx: GuardContext, /) -> GuardResult:
    """A council-funded placement rests on a Care Act assessment and eligibility determination.

    Both dates must be recorded on the case (or given with the step), the determination on or
    before the day the council's share begins. Section 117 aftercare is exempt (MHA s117), and so
    is a placement that meets urgent needs before the decision, with its reason
    (``urgent_reason``, Care Act s19(3)): the funding report lists it until the decision is
    recorded on the placement.
    """
    found = _placement(ctx)
    if found is None:
        return _not_placement()
    action, _before, placement = found
    exempt = _council_exempt(action, placement)
    if exempt is not None:
        return exempt
    pid, begins = placement.placement_id, placement.period_start.isoformat()
    decided = placement.eligibility is not None and placement.eligibility.isoformat() <= begins
    if placement.urgent_reason and not decided:
        return passed(
            f"placement {pid} meets urgent needs before an eligibility decision (Care Act "
            f"s19(3): {placement.urgent_reason}); it stays on the funding report's scrutiny list "
            f"until the decision ({placements.ELIGIBILITY}) is recorded on the placement"
        )
    assessment = placements.optional_day(ctx.values.get(placements.ASSESSMENT))
    missing = [
        name
        for name, value in (
            (placements.ASSESSMENT, assessment),
            (placements.ELIGIBILITY, placement.eligibility),
        )
        if value is None
    ]
    if missing:
        return refused(
            f"placement {pid} is council-funded but the case has no Care Act eligibility "
            f"determination: required data missing (dates): {', '.join(missing)}"
        )
    assert placement.eligibility is not None
    if placement.eligibility.isoformat() > begins:
        return refused(
            f"placement {pid}: eligibility was determined on {placement.eligibility.isoformat()}, "
            f"after the council's funding begins on {begins}"
        )
    return passed(
        f"placement {pid} is council-funded on a Care Act eligibility determination of "
        f"{placement.eligibility.isoformat()}"
    )


def health_screen(ctx: GuardContext, /, refuse: list[str] | None = None) -> GuardResult:
    """A council-funded placement has a recorded health needs screen (is it really a health need?).

    The screen is the NHS continuing healthcare checklist: its date and its outcome
    (``chc_checklist``: negative, positive or pending) are recorded on or before the day the
    council's share begins. A positive checklist means a full CHC assessment is owed, and if the
    person is eligible the NHS funds the whole package (National Framework for NHS Continuing
    Healthcare); council funding meanwhile goes on the funding report's scrutiny list, or, for the
    outcomes listed in ``refuse``, is refused.
    """
    found = _placement(ctx)
    if found is None:
        return _not_placement()
    action, _before, placement = found
    exempt = _council_exempt(action, placement)
    if exempt is not None:
        return exempt
    pid, begins = placement.placement_id, placement.period_start.isoformat()
    if placement.health_screen is None:
        return refused(
            f"placement {pid} is council-funded but no health needs screen is recorded: required "
            f"data missing (date): {placements.HEALTH_SCREEN}"
        )
    if placement.health_screen.isoformat() > begins:
        return refused(
            f"placement {pid}: the health needs screen of {placement.health_screen.isoformat()} "
            f"comes after the council's funding begins on {begins}"
        )
    screened = placement.health_screen.isoformat()
    outcome = placement.chc_checklist
    if outcome is None:
        return refused(
            f"placement {pid} is council-funded but the outcome of the continuing healthcare "
            f"checklist of {screened} is not recorded: required data missing: "
            f"{placements.CHC_CHECKLIST} ({', '.join(placements.CHC_OUTCOMES)})"
        )
    if outcome == "negative":
        return passed(
            f"placement {pid}: health needs screened on {screened}, continuing healthcare "
            "checklist negative"
        )
    owed = (
        "a full NHS continuing healthcare assessment is owed"
        if outcome == "positive"
        else "its outcome is not yet known"
    )
    if outcome in (refuse or []):
        return refused(
            f"placement {pid}: the continuing healthcare checklist of {screened} is {outcome} "
            f"({owed}), and this pathway does not let the council fund a placement until the NHS "
            "has decided: the NHS funds the whole package of a person eligible for continuing "
            "healthcare"
        )
    return passed(
        f"placement {pid}: the continuing healthcare checklist of {screened} is {outcome} "
        f"({owed}); council funding is listed for scrutiny as a possible health need"
    )


def s117_eligible(ctx: GuardContext, /, evidence: list[str] | None = None) -> GuardResult:
    """A section 117 placement needs the person's section 117 eligibility recorded on the case,
    and cannot begin before it: aftercare follows a detention (MHA s117(1)).

    ``evidence``: the fields any one of which records it (default: ``s117_eligibility_date`` and
    the start of a section 3, 37, 45A, 47 or 48). A placement (or the period that makes it
    section 117) dated before the earliest of the recorded dates is refused.
    """
    found = _placement(ctx)
    if found is None:
        return _not_placement()
    action, _before, placement = found
    pid = placement.placement_id
    if action == "end" or not placement.s117:
        return passed(f"placement {pid} is not section 117 aftercare")
    fields = evidence or list(placements.S117_EVIDENCE)
    present = placements.s117_evidence(ctx.values, fields)
    if not present:
        return refused(
            f"placement {pid} is section 117 aftercare but the person's section 117 eligibility "
            f"is not recorded: required data missing (one of): {', '.join(fields)}"
        )
    dated = sorted((day, name) for name, day in present if day is not None)
    begins = placement.period_start
    if dated and begins < dated[0][0]:
        day, name = dated[0]
        return refused(
            f"placement {pid} is section 117 aftercare from {begins.isoformat()}, before the "
            f"section began ({name} {day.isoformat()}): aftercare follows detention (Mental "
            "Health Act 1983 s117)"
        )
    return passed(f"placement {pid}: section 117 eligibility recorded ({present[0][0]})")


def s117_free(ctx: GuardContext, /, evidence: list[str] | None = None) -> GuardResult:
    """Nothing is charged to a person entitled to section 117 aftercare, whatever the
    placement's ``s117`` flag (MHA s117; R v Manchester CC ex p Stennett [2002] UKHL 34).

    The person is entitled while one of the ``evidence`` fields (default: the section 117
    eligibility date or the start of a section 3, 37, 45A, 47 or 48) is recorded and no joint
    decision (``s117_end_decision``) has ended the aftercare.
    """
    found = _placement(ctx)
    if found is None:
        return _not_placement()
    action, _before, placement = found
    pid = placement.placement_id
    fields = evidence or list(placements.S117_EVIDENCE)
    entitled = placements.s117_person(ctx.values, fields)
    if action == "end" or not (placement.s117 or entitled):
        return passed(
            f"placement {pid} is not section 117 aftercare and the person is not entitled to it"
        )
    charge = placements.format_share(placement.person_bp)
    if placement.person_bp > 0 and placement.s117:
        return refused(
            f"placement {pid} is section 117 aftercare, which is free, but charges the person "
            f"{charge} percent"
        )
    if placement.person_bp > 0:
        return refused(
            f"placement {pid} charges the person {charge} percent, but the person is entitled "
            "to section 117 aftercare, which is never charged for, whether or not the placement "
            "is marked s117 (a joint s117_end_decision ends the entitlement)"
        )
    if placement.s117:
        return passed(f"placement {pid} is section 117 aftercare and charges the person nothing")
    return passed(
        f"placement {pid} charges nothing to the person, who is entitled to section 117 aftercare"
    )


def nursing_nhs_share(ctx: GuardContext, /) -> GuardResult:
    """A council-funded nursing placement has an NHS share: the NHS pays for registered nursing
    care in a nursing home (NHS-funded nursing care, FNC), or all of it under continuing
    healthcare, and a council may not provide nursing care by a registered nurse (Care Act
    s22(3))."""
    found = _placement(ctx)
    if found is None:
        return _not_placement()
    action, _before, placement = found
    pid = placement.placement_id
    if action == "end" or placement.care_type != "nursing":
        return passed(f"placement {pid} is not a nursing placement being started or changed")
    if not placement.council_funded or placement.nhs_bp > 0:
        return passed(
            f"nursing placement {pid}: the NHS pays "
            f"{placements.format_share(placement.nhs_bp)} percent (FNC or continuing healthcare)"
        )
    return refused(
        f"nursing placement {pid} is charged to the council with no NHS share: the NHS pays for "
        "registered nursing care in a nursing home (NHS-funded nursing care, FNC), or all of it "
        "under continuing healthcare, and a council may not provide nursing care by a registered "
        "nurse (Care Act s22(3)); record the NHS share (nhs_pct)"
    )


def open_placement(ctx: GuardContext, /, care_types: list[str] | None = None) -> GuardResult:
    """The case has an open placement recorded by a placement step (of one of ``care_types``,
    or any), or this very step starts one: an offer or move that depends on a placement rests on
    a costed, guarded placement, not on free text."""
    wanted = care_types or list(placements.CARE_TYPES)
    kinds = ", ".join(wanted)
    found = _placement(ctx)
    if found is not None and found[0] == "start":
        started = found[2]
        if started.care_type in wanted:
            return passed(
                f"this step starts placement {started.placement_id} ({started.care_type})"
            )
        return refused(
            f"placement {started.placement_id} is {started.care_type}, not one of: {kinds}"
        )
    current = sorted(
        (p for p in placements.placements_of(ctx.case.attributes).values() if p.is_open),
        key=lambda p: p.placement_id,
    )
    fitting = [p for p in current if p.care_type in wanted]
    if fitting:
        p = fitting[0]
        return passed(
            f"the case has open placement {p.placement_id} ({p.care_type}, since "
            f"{p.start.isoformat()})"
        )
    return refused(
        f"the case has no open placement of care type {kinds}: record it first with "
        "placement_start (care type, provider, weekly cost, funding split, panel)"
    )


def funding_change_reason(ctx: GuardContext, /) -> GuardResult:
    """A change of who pays (the funding split or section 117) names its reason with the step."""
    found = _placement(ctx)
    if found is None:
        return _not_placement()
    action, before, placement = found
    pid = placement.placement_id
    if action != "change" or before is None:
        return passed(f"{action} of placement {pid} is not a change of funding")
    split = (placement.council_bp, placement.nhs_bp, placement.person_bp, placement.s117)
    if split == (before.council_bp, before.nhs_bp, before.person_bp, before.s117):
        return passed(f"the funding of placement {pid} does not change")
    if not _present(ctx.data.get("reason")):
        return refused(
            f"the funding of placement {pid} changes, so the reason must be given with this "
            "step: required data missing: reason"
        )
    return passed(f"the funding of placement {pid} changes for a reason given")


def no_open_placement(ctx: GuardContext, /) -> GuardResult:
    """The case has no open placement: closed with one, it would go on counting as spend.

    Meant for the step that closes a case: end each placement first (its end step records the
    last day), so the funding report and the scrutiny board see when the council stopped paying.
    """
    still_open = sorted(
        f"{p.placement_id} ({p.care_type}, since {p.start.isoformat()})"
        for p in placements.placements_of(ctx.case.attributes).values()
        if p.is_open
    )
    if still_open:
        return refused(
            f"the case still has open placements, which would go on counting as spend after it "
            f"closes: {', '.join(still_open)}; end them first"
        )
    return passed("the case has no open placement")


_EVIDENCE_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evidence"],
    "properties": {"evidence": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
}

BUILTIN_GUARDS = GuardRegistry(
    [
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
            "care_act_eligibility",
            care_act_eligibility,
            "A council-funded placement rests on a Care Act assessment and eligibility "
            "determination recorded on or before the day the council's share begins (section 117 "
            "aftercare is exempt).",
        ),
        GuardSpec(
            "health_screen",
            health_screen,
            "A council-funded placement has a health needs screen (continuing healthcare "
            "checklist: date and outcome) recorded on or before the day the council's share "
            "begins (section 117 aftercare is exempt); the outcomes in `refuse` (positive, "
            "pending) are refused, others pass and the funding report lists positive and pending.",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "refuse": {
                        "type": "array",
                        "uniqueItems": True,
                        "items": {"enum": ["positive", "pending"]},
                    }
                },
            },
        ),
        GuardSpec(
            "s117_eligible",
            s117_eligible,
            "A section 117 placement needs the person's section 117 eligibility on the case.",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "evidence": {"type": "array", "minItems": 1, "items": {"type": "string"}}
                },
            },
        ),
        GuardSpec(
            "s117_free",
            s117_free,
            "Nothing is charged to a person entitled to section 117 aftercare (evidence on the "
            "case, no s117_end_decision), whatever the placement's s117 flag.",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "evidence": {"type": "array", "minItems": 1, "items": {"type": "string"}}
                },
            },
        ),
        GuardSpec(
            "nursing_nhs_share",
            nursing_nhs_share,
            "A council-funded nursing placement has an NHS share (FNC or continuing healthcare; "
            "Care Act s22(3)).",
        ),
        GuardSpec(
            "open_placement",
            open_placement,
            "The case has an open placement of one of the care types (or this step starts one).",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "care_types": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"enum": list(placements.CARE_TYPES)},
                    }
                },
            },
        ),
        GuardSpec(
            "funding_change_reason",
            funding_change_reason,
            "A change of a placement's funding split (or of section 117) gives its reason with "
            "the step.",
        ),
        GuardSpec(
            "no_open_placement",
            no_open_placement,
            "The case has no open placement (for closing steps: an open placement on a closed "
            "case would go on counting as spend).",
        ),
        GuardSpec(
            "not_in_states",
            not_in_states,
            "The case is not in one of the listed states (nor a plug-in's sub-step of one).",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["states"],
                "properties": {
                    "states": {"type": "array", "minItems": 1, "items": {"type": "string"}}
                },
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
    ]
)
"""The built-in guards every pathway may use (a plug-in's guards are added to a copy)."""
"""The guards every pathway can use."""
