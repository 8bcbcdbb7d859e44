"""care-pathway plug-in: the IET's placement audit, move-on potential and move-on milestones.

BEP 6.2.5: the Intensive Enablement Team's work "will be directed by an in-depth audit of those in
placements and set milestones for each person and their move-on potential". This plug-in adds, to
the ``barnet_enablement`` pathway, sub-steps of ``intensive_enablement`` taken in order:

1. ``start_placement_audit``: intensive_enablement -> intensive_enablement.placement_audit, with
   the kind of placement (``placement_type``: residential, nursing or supported_living, the care
   types of the business case's Table 13 that the pathway's placement steps use) and, if known,
   when it began (``placement_start``, an ISO date not in the future); the case must have an open
   placement of that care type recorded by a placement step (issue 15: every placement goes
   through the placement steps and their funding guards);
2. ``assess_move_on_potential``: -> intensive_enablement.move_on_potential, with the audit's
   findings (``audit_findings``) and ``move_on_potential`` (high, medium, low or none);
3. ``set_move_on_milestones``: -> intensive_enablement.move_on_plan, only when there is some
   move-on potential, with the plan (``move_on_plan``) and its ``milestones`` (a list of names);
4. ``record_milestone`` (repeatable; a self-transition, so the step's clock runs on): a milestone of
   the plan is achieved (``milestone``);
5. ``move_on`` (the pathway's own trigger, here also from the plan step): offer to Network Plus;
   a decline brings the case back to the plan;

and ``end_placement_audit`` back to intensive_enablement when the person stays in placement (no
potential, or a plan stopped with ``plan_stopped_reason``). An AMHP may start a Mental Health Act
assessment from every sub-step, by the default pathway's own step from any open state (its
choice (23)), so the plug-in adds none. Every step is the IET's
(Appendix A: 'Move-on and Residential review').

The report ``move_on`` lists the people in residential care or supported living (cases in
intensive enablement, its sub-steps or a residential review, or offered on to Network Plus by
``move_on``) as of the report's moment, by move-on stage, with their time in placement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

import pathway
from pathway.placements import placements_of
from pathway.plugins import ReportSpec
from pathway.reports.scope import Scope
from pathway.store.dialect import (
    day_us,
    instant_us,
    json_array_length,
    json_text,
    us_to_days,
)

__version__ = "0.1.0"

PATHWAY_ID = "barnet_enablement"
PLACEMENT_TYPES = ("residential", "nursing", "supported_living")
"""The care types of the pathway's placements (Table 13) that intensive enablement works with."""
POTENTIALS = ("high", "medium", "low", "none")
SUB_STEPS = (
    "intensive_enablement.placement_audit",
    "intensive_enablement.move_on_potential",
    "intensive_enablement.move_on_plan",
)

FRAGMENT = """
states:
  - id: intensive_enablement.placement_audit
    holder: iet
    task: move_on_and_residential_review
    description: "In-depth audit of the person's placement by the IET (BEP 6.2.5; delivery plan 6.1: audit of all placements)."
  - id: intensive_enablement.move_on_potential
    holder: iet
    task: move_on_and_residential_review
    description: "Audit done: the person's move-on potential is recorded (BEP 6.2.5)."
  - id: intensive_enablement.move_on_plan
    holder: iet
    task: move_on_and_residential_review
    description: "Working to a move-on plan with milestones set for the person (BEP 6.2.5, Table 1 no. 5)."
transitions:
  - trigger: start_placement_audit
    sources: [intensive_enablement]
    dest: intensive_enablement.placement_audit
    description: "Start the in-depth audit of a person in residential care or supported living (BEP 6.2.5)."
    guards:
      - {guard: data_in, params: {field: placement_type, values: [residential, nursing, supported_living]}}
      - placement_recorded
      - placement_start_valid
  - trigger: assess_move_on_potential
    sources: [intensive_enablement.placement_audit]
    dest: intensive_enablement.move_on_potential
    description: "Record the audit's findings and the person's move-on potential (BEP 6.2.5)."
    guards:
      - {guard: data_present, params: {fields: [audit_findings], this_call: true}}
      - {guard: data_in, params: {field: move_on_potential, values: [high, medium, low, none]}}
  - trigger: set_move_on_milestones
    sources: [intensive_enablement.move_on_potential]
    dest: intensive_enablement.move_on_plan
    description: "Agree the move-on plan and set the person's milestones (BEP 6.2.5: set milestones for each person)."
    guards:
      - move_on_possible
      - {guard: data_present, params: {fields: [move_on_plan]}}
      - milestones_set
  - trigger: record_milestone
    sources: [intensive_enablement.move_on_plan]
    dest: intensive_enablement.move_on_plan
    holder: keep
    description: "A milestone of the move-on plan is achieved (BEP 6.2.5)."
    guards:
      - milestone_in_plan
  - trigger: move_on
    sources: [intensive_enablement.move_on_plan]
    dest: offered_to_network
    handoff: true
    task: move_on_and_residential_review
    description: "Move on, by the plan, from residential care or supported living to Network Plus (BEP 6.2.5, Table 1 no. 5)."
    guards:
      - {guard: data_present, params: {fields: [move_on_plan]}}
  - trigger: end_placement_audit
    sources: [intensive_enablement.move_on_potential]
    dest: intensive_enablement
    description: "End the audit: the person stays in placement with intensive enablement (no move-on plan now)."
  - trigger: end_placement_audit
    sources: [intensive_enablement.move_on_plan]
    dest: intensive_enablement
    description: "Stop the move-on plan, saying why; the person stays in placement with intensive enablement."
    guards:
      - {guard: data_present, params: {fields: [plan_stopped_reason], this_call: true}}
"""


# --- Guards ---------------------------------------------------------------------------------------


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def placement_recorded(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """The audited placement is an open placement of the case, recorded by a placement step, of
    the care type given as ``placement_type``: the audit works on a costed placement, not on a
    free-text note."""
    kind = ctx.values.get("placement_type")
    if kind not in PLACEMENT_TYPES:
        return pathway.passed("no known placement_type is given (its own guard says so)")
    open_ = sorted(
        (p for p in placements_of(ctx.case.attributes).values() if p.is_open),
        key=lambda p: p.placement_id,
    )
    same = [p for p in open_ if p.care_type == kind]
    if same:
        return pathway.passed(f"the case has open {kind} placement {same[0].placement_id}")
    held = ", ".join(f"{p.placement_id} ({p.care_type})" for p in open_) or "none"
    return pathway.refused(
        f"the case has no open {kind} placement recorded by a placement step (open placements: "
        f"{held}); record it with placement_start"
    )


def placement_start_valid(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """``placement_start``, if recorded, is a date on or before the step."""
    raw = ctx.values.get("placement_start")
    if raw in (None, ""):
        return pathway.passed(
            "no placement_start recorded: time in placement counts from entry to intensive enablement"
        )
    day = _parse_date(raw)
    if day is None:
        return pathway.refused(f"placement_start {raw!r} is not a date (YYYY-MM-DD)")
    if day > ctx.at.astimezone(UTC).date():
        return pathway.refused(f"placement_start {day.isoformat()} is in the future")
    return pathway.passed(f"placement began {day.isoformat()}")


def move_on_possible(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """The recorded move-on potential is high, medium or low (not none)."""
    potential = ctx.values.get("move_on_potential")
    if potential in ("high", "medium", "low"):
        return pathway.passed(f"move-on potential is {potential}")
    if potential == "none":
        return pathway.refused(
            "move-on potential is none: end the audit (end_placement_audit) instead of planning a move-on"
        )
    return pathway.refused("move-on potential is not recorded")


def _milestones(values: Mapping[str, Any]) -> list[str] | None:
    raw = values.get("milestones")
    if not isinstance(raw, list) or not raw:
        return None
    if not all(isinstance(m, str) and m.strip() for m in raw):
        return None
    return [m.strip() for m in raw]


def milestones_set(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """``milestones`` is a non-empty list of distinct milestone names."""
    milestones = _milestones(ctx.values)
    if milestones is None:
        return pathway.refused("milestones must be a non-empty list of milestone names")
    repeated = sorted({m for m in milestones if milestones.count(m) > 1})
    if repeated:
        return pathway.refused("milestones are listed twice: " + ", ".join(repeated))
    return pathway.passed(f"{len(milestones)} milestones set: " + ", ".join(milestones))


def milestone_in_plan(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """The ``milestone`` given with this step is one of the plan's milestones."""
    given = ctx.data.get("milestone")
    if not isinstance(given, str) or not given.strip():
        return pathway.refused("say which milestone is achieved (milestone) with this step")
    planned = _milestones(ctx.case.attributes) or []
    if given.strip() not in planned:
        listed = ", ".join(planned) or "none"
        return pathway.refused(
            f"milestone {given.strip()!r} is not in the move-on plan (milestones: {listed})"
        )
    return pathway.passed(f"milestone {given.strip()!r} is in the move-on plan")


GUARDS = (
    pathway.GuardSpec(
        "placement_recorded",
        placement_recorded,
        "the case has an open placement of the care type given as placement_type",
    ),
    pathway.GuardSpec(
        "placement_start_valid",
        placement_start_valid,
        "placement_start, if recorded, is a date on or before the step",
    ),
    pathway.GuardSpec(
        "move_on_possible", move_on_possible, "the move-on potential is high, medium or low"
    ),
    pathway.GuardSpec(
        "milestones_set", milestones_set, "milestones is a non-empty list of distinct names"
    ),
    pathway.GuardSpec(
        "milestone_in_plan",
        milestone_in_plan,
        "the milestone given with this step is one of the move-on plan's milestones",
    ),
)


# --- The move_on report ----------------------------------------------------------------------------

STAGES = (
    "awaiting_audit",
    "placement_audit",
    "move_on_potential",
    "move_on_plan",
    "moving_on",
    "audited_staying",
    "residential_review",
)
"""Move-on stages, in the order the report lists them."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.frozen
class PersonInPlacement:
    case_id: str
    team: str
    state: str
    stage: str
    placement_type: str | None
    move_on_potential: str | None
    placement_start: str | None
    days_in_placement: float | None
    days_in_intensive_enablement: float | None
    days: float | None
    milestones_planned: int
    milestones_achieved: int


@attrs.frozen
class StageCount:
    stage: str
    people: int
    residential: int
    nursing: int
    supported_living: int
    average_days: float | None
    longest_days: float | None


@attrs.frozen
class MoveOnReport:
    scope: Scope
    stages: tuple[StageCount, ...]
    people: tuple[PersonInPlacement, ...]
    move_on_offers: int
    milestones_achieved: int

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "move_on",
            **self.scope.header(),
            "people_in_placement": len(self.people),
            "move_on_offers": self.move_on_offers,
            "milestones_achieved": self.milestones_achieved,
            "by_stage": [attrs.asdict(s) for s in self.stages],
            "people": [attrs.asdict(p) for p in self.people],
        }


def _entries(pathway_: pathway.Pathway) -> list[tuple[str, str]]:
    """(trigger, source) pairs that bring a case into intensive enablement (not returns or sub-steps)."""
    inside = {"intensive_enablement", *SUB_STEPS}
    return sorted(
        (t.trigger, source)
        for t in pathway_.transitions
        if t.dest == "intensive_enablement" and not t.returns
        for source in t.sources
        if source not in inside
    )


def move_on_report(conn: Any, scope: Scope, pathway_: pathway.Pathway) -> MoveOnReport:
    """Compute the move_on report inside the database.

    As of ``scope.as_of``, the people in a placement: cases whose newest applied event put them in
    intensive_enablement, one of its sub-steps or a residential review, or in offered_to_network by
    ``move_on``. ``days`` is the time since the placement began (``placement_start``) or, without
    it, since the case last entered intensive enablement. ``team`` keeps the cases the team holds
    at that moment. ``since``/``until`` bound the period in which ``move_on_offers`` and
    ``milestones_achieved`` are counted.
    """
    header = scope.header()
    as_of = header["as_of"]
    since = header["since"] or "0000"
    until = min(header["until"] or as_of, as_of)
    entries = _entries(pathway_) or [("", "")]
    entry_sql = " OR ".join("(trigger = ? AND from_state = ?)" for _ in entries)
    entry_args = [value for pair in entries for value in pair]
    held = ("intensive_enablement", *SUB_STEPS, "residential_review")
    marks = ", ".join("?" * len(held))
    team_sql = " AND n.to_team = ?" if scope.team else ""
    kind_sql, potential_sql, start_sql = (
        json_text(conn, "a.data", key)
        for key in ("placement_type", "move_on_potential", "placement_start")
    )
    # Days are counted from as-of in whole microseconds on both stores; placement_start is the
    # day it names (as the guard reads it: a bare date, or the date a date-time begins with).
    as_of_us = (datetime.fromisoformat(as_of) - EPOCH) // timedelta(microseconds=1)
    rows = conn.execute(
        f"""
        WITH a AS (SELECT * FROM events WHERE outcome = 'applied' AND occurred_at <= ?),
        newest AS (
            SELECT case_id, MAX(seq) AS seq FROM a GROUP BY case_id
        ),
        now_at AS (
            SELECT a.case_id, a.to_state, a.to_team FROM a JOIN newest USING (case_id, seq)
        ),
        offered AS (
            SELECT case_id, trigger FROM a AS x
             WHERE x.seq = (SELECT MAX(y.seq) FROM a AS y WHERE y.case_id = x.case_id
                              AND y.trigger IN ('move_on', 'offer_standard_enablement')
                              AND y.to_state = 'offered_to_network')
        ),
        cohort AS (
            SELECT n.case_id, n.to_state AS state, n.to_team AS team FROM now_at AS n
             WHERE (n.to_state IN ({marks})
                    OR (n.to_state = 'offered_to_network'
                        AND (SELECT trigger FROM offered AS o WHERE o.case_id = n.case_id) = 'move_on')
                   ){team_sql}
        ),
        latest AS (
            SELECT c.case_id,
                   (SELECT {kind_sql} FROM a WHERE a.case_id = c.case_id
                       AND {kind_sql} IS NOT NULL
                     ORDER BY a.seq DESC LIMIT 1) AS placement_type,
                   (SELECT {potential_sql} FROM a WHERE a.case_id = c.case_id
                       AND {potential_sql} IS NOT NULL
                     ORDER BY a.seq DESC LIMIT 1) AS potential,
                   (SELECT {start_sql} FROM a WHERE a.case_id = c.case_id
                       AND {start_sql} IS NOT NULL
                     ORDER BY a.seq DESC LIMIT 1) AS placement_start,
                   (SELECT MAX(a.seq) FROM a WHERE a.case_id = c.case_id
                       AND a.to_state = 'intensive_enablement' AND ({entry_sql})) AS entry_seq,
                   (SELECT MAX(a.seq) FROM a WHERE a.case_id = c.case_id
                       AND a.trigger = 'assess_move_on_potential') AS assessed_seq,
                   (SELECT MAX(a.seq) FROM a WHERE a.case_id = c.case_id
                       AND a.trigger = 'set_move_on_milestones') AS plan_seq
              FROM cohort AS c
        )
        SELECT c.case_id, c.team, c.state, l.placement_type, l.potential, l.placement_start,
               {us_to_days(conn, f"? - {day_us(conn, 'l.placement_start')}")},
               {us_to_days(conn, f"? - {instant_us(conn, 'e.occurred_at')}")},
               l.assessed_seq IS NOT NULL AND l.assessed_seq > COALESCE(l.entry_seq, 0),
               (SELECT {json_array_length(conn, "a.data", "milestones")} FROM a
                 WHERE a.case_id = c.case_id AND a.seq = l.plan_seq),
               (SELECT COUNT(DISTINCT {json_text(conn, "a.data", "milestone")}) FROM a
                 WHERE a.case_id = c.case_id AND a.trigger = 'record_milestone'
                   AND a.seq > COALESCE(l.plan_seq, 0))
          FROM cohort AS c JOIN latest AS l USING (case_id)
          LEFT JOIN a AS e ON e.case_id = c.case_id AND e.seq = l.entry_seq
         ORDER BY c.case_id
        """,
        [as_of, *held, *([scope.team] if scope.team else []), *entry_args, as_of_us, as_of_us],
    ).fetchall()
    people = []
    for row in rows:
        case_id, team, state, kind, potential, start, in_placement, in_iet = row[:8]
        audited, planned, achieved = row[8:]
        stage = {
            "intensive_enablement.placement_audit": "placement_audit",
            "intensive_enablement.move_on_potential": "move_on_potential",
            "intensive_enablement.move_on_plan": "move_on_plan",
            "offered_to_network": "moving_on",
            "residential_review": "residential_review",
        }.get(state, "audited_staying" if audited else "awaiting_audit")
        people.append(
            PersonInPlacement(
                case_id, team, state, stage, kind, potential, start,
                _round(in_placement), _round(in_iet),
                _round(in_placement if in_placement is not None else in_iet),
                int(planned or 0) if stage in ("move_on_plan", "moving_on") else 0,
                int(achieved or 0) if stage in ("move_on_plan", "moving_on") else 0,
            )
        )  # fmt: skip
    stages = []
    for stage in STAGES:
        group = [p for p in people if p.stage == stage]
        known = [p.days for p in group if p.days is not None]
        stages.append(
            StageCount(
                stage,
                len(group),
                sum(p.placement_type == "residential" for p in group),
                sum(p.placement_type == "nursing" for p in group),
                sum(p.placement_type == "supported_living" for p in group),
                _round(sum(known) / len(known)) if known else None,
                _round(max(known)) if known else None,
            )
        )
    period_team = " AND actor_team = ?" if scope.team else ""
    team_arg = [scope.team] if scope.team else []
    offers, milestones = conn.execute(
        f"""SELECT COALESCE(SUM(CASE WHEN trigger = 'move_on' THEN 1 ELSE 0 END), 0),
                  COALESCE(SUM(CASE WHEN trigger = 'record_milestone' THEN 1 ELSE 0 END), 0)
              FROM events WHERE outcome = 'applied' AND occurred_at >= ? AND occurred_at <= ?
               AND trigger IN ('move_on', 'record_milestone'){period_team}""",
        [since, until, *team_arg],
    ).fetchone()
    return MoveOnReport(scope, tuple(stages), tuple(people), int(offers), int(milestones))


def _round(days: float | None) -> float | None:
    return None if days is None else round(float(days), 1)


# --- Hooks -----------------------------------------------------------------------------------------


@pathway.hookimpl
def pathway_fragment(pathway_id: str) -> str | None:
    """The sub-steps of intensive enablement, for the Barnet pathway only."""
    return FRAGMENT if pathway_id == PATHWAY_ID else None


@pathway.hookimpl
def pathway_guards() -> tuple[pathway.GuardSpec, ...]:
    """The plug-in's guards: placement start, move-on potential, milestones."""
    return GUARDS


@pathway.hookimpl
def pathway_reports() -> list[ReportSpec]:
    """The move_on report."""
    return [
        ReportSpec(
            "move_on",
            move_on_report,
            "People in residential care or supported living by move-on stage and time in placement",
        )
    ]
