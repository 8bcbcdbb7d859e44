"""Guards of placements and who pays for them: the funding rules, behind the guard registry.

Each is a guard like those of :mod:`pathway.guards` (``guard(ctx, **params) -> GuardResult``, pure),
checking a placement step against the law that decides who pays: Care Act eligibility and the
health needs screen before council funding, section 117 aftercare (free to the person), the NHS
share of nursing care, a reason for a change of funding, no open placement on a closing case.
They are registered with the general guards in :data:`pathway.builtin_guards.BUILTIN_GUARDS`; a
pathway names them in its transitions like any other guard. The generic guard module does not
import this one; this one imports the placement rules (:mod:`pathway.placements`).
"""

from __future__ import annotations

from . import placements
from .guards import GuardContext, GuardResult, GuardSpec, passed, present, refused
from .placements import Placement
from .timeutil import optional_day


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
    assessment = optional_day(ctx.values.get(placements.ASSESSMENT))
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
    if not present(ctx.data.get("reason")):
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


FUNDING_GUARDS: tuple[GuardSpec, ...] = (
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
)
"""The funding guards, as registered in :data:`pathway.builtin_guards.BUILTIN_GUARDS`."""
