"""care-pathway plug-in: Network Plus enablement modules, support plan outcomes and the top-up.

BEP 5.1.4: the Network's enablement programme runs through three modules, WRAP (Wellness Recovery
Action Plan), New Steps and Skills in Action; Table 11 measures the "proportion of support plan
outcomes achieved" against a target of 80%. BEP 7.3.1: Network Plus adds a "top up" offer "for
those requiring brief interventions following completion of the enablement programme".

This plug-in adds, to the ``barnet_enablement`` pathway, while in ``standard_enablement``:

* ``complete_module`` (a self-transition: the state's clock runs on): a module completed, with
  ``module`` one of wrap, new_steps, skills_in_action, given with the step;
* ``complete_enablement_programme`` (a self-transition): the programme ends with its support plan
  outcomes reviewed: ``outcomes_planned`` (a whole number, at least 1) and ``outcomes_achieved``
  (a whole number, not more than planned), both given with the step;
* ``start_network_plus_top_up``: standard_enablement -> top_up, only after the programme is
  completed (the outcomes are recorded), with the brief intervention needed (``top_up_reason``).

All three are the holding team's (the Network) and need the task matrix's 'Brief enablement
programme' (LETs, Network). The report ``network_outcomes`` gives the support plan outcomes
achieved in the period as a percentage against the 80% target, and the modules completed by type.
"""

from __future__ import annotations

from typing import Any

import attrs

import pathway
from pathway.plugins import ReportSpec
from pathway.reports.scope import Scope
from pathway.store.dialect import json_integer, json_text

__version__ = "0.1.0"

PATHWAY_ID = "barnet_enablement"
MODULES = ("wrap", "new_steps", "skills_in_action")
TARGET_PERCENT = 80.0
"""BEP Table 11: proportion of support plan outcomes achieved, year 1 target."""

FRAGMENT = """
transitions:
  - trigger: complete_module
    sources: [standard_enablement]
    dest: standard_enablement
    holder: keep
    task: brief_enablement_programme
    description: "An enablement module is completed: WRAP, New Steps or Skills in Action (BEP 5.1.4, Appendix A: WRAP, brief enablement programme)."
    guards:
      - holding_team
      - {guard: data_present, params: {fields: [module], this_call: true}}
      - {guard: data_in, params: {field: module, values: [wrap, new_steps, skills_in_action]}}
  - trigger: complete_enablement_programme
    sources: [standard_enablement]
    dest: standard_enablement
    holder: keep
    task: brief_enablement_programme
    description: "The enablement programme is completed and its support plan outcomes reviewed (BEP 7.3.1, Table 11)."
    guards:
      - holding_team
      - support_plan_outcomes
  - trigger: start_network_plus_top_up
    sources: [standard_enablement]
    dest: top_up
    task: brief_enablement_programme
    description: "A top-up brief intervention after the enablement programme is completed (BEP 7.3.1)."
    guards:
      - holding_team
      - enablement_programme_completed
      - {guard: data_present, params: {fields: [top_up_reason], this_call: true}}
"""


# --- Guards ---------------------------------------------------------------------------------------


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def support_plan_outcomes(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """outcomes_planned (>= 1) and outcomes_achieved (<= planned) are whole numbers given now."""
    planned = ctx.data.get("outcomes_planned")
    achieved = ctx.data.get("outcomes_achieved")
    problems = []
    if planned is None:
        problems.append("outcomes_planned is not given with this step")
    elif not _whole(planned) or planned < 1:
        problems.append(f"outcomes_planned must be a whole number of at least 1, not {planned!r}")
    if achieved is None:
        problems.append("outcomes_achieved is not given with this step")
    elif not _whole(achieved):
        problems.append(f"outcomes_achieved must be a whole number, not {achieved!r}")
    if problems or planned is None or achieved is None:
        return pathway.refused("; ".join(problems))
    if achieved > planned:
        return pathway.refused(
            f"outcomes_achieved ({achieved}) is more than outcomes_planned ({planned})"
        )
    return pathway.passed(f"{achieved} of {planned} support plan outcomes achieved")


def enablement_programme_completed(ctx: pathway.GuardContext) -> pathway.GuardResult:
    """The enablement programme is completed: its support plan outcomes are recorded on the case."""
    attributes = ctx.case.attributes
    planned, achieved = attributes.get("outcomes_planned"), attributes.get("outcomes_achieved")
    if _whole(planned) and _whole(achieved):
        return pathway.passed(
            f"the enablement programme is completed ({achieved} of {planned} outcomes achieved)"
        )
    return pathway.refused(
        "the enablement programme is not completed: record its support plan outcomes "
        "(complete_enablement_programme) before a top-up (BEP 7.3.1)"
    )


GUARDS = (
    pathway.GuardSpec(
        "support_plan_outcomes",
        support_plan_outcomes,
        "outcomes_planned (at least 1) and outcomes_achieved (not more) are given as whole numbers",
    ),
    pathway.GuardSpec(
        "enablement_programme_completed",
        enablement_programme_completed,
        "the enablement programme's support plan outcomes are recorded on the case",
    ),
)


# --- The network_outcomes report -------------------------------------------------------------------


@attrs.frozen
class ModuleCount:
    module: str
    completed: int
    people: int


@attrs.frozen
class NetworkOutcomesReport:
    scope: Scope
    programmes_completed: int
    outcomes_planned: int
    outcomes_achieved: int
    modules: tuple[ModuleCount, ...]
    top_ups_started: int

    @property
    def percent_achieved(self) -> float | None:
        if not self.outcomes_planned:
            return None
        return round(100.0 * self.outcomes_achieved / self.outcomes_planned, 1)

    def to_json(self) -> dict[str, Any]:
        percent = self.percent_achieved
        return {
            "report": "network_outcomes",
            **self.scope.header(),
            "programmes_completed": self.programmes_completed,
            "outcomes_planned": self.outcomes_planned,
            "outcomes_achieved": self.outcomes_achieved,
            "percent_achieved": percent,
            "target_percent": TARGET_PERCENT,
            "target_met": None if percent is None else percent >= TARGET_PERCENT,
            "modules_completed": sum(m.completed for m in self.modules),
            "modules": [attrs.asdict(m) for m in self.modules],
            "top_ups_started": self.top_ups_started,
        }


def network_outcomes_report(
    conn: Any, scope: Scope, pathway_: pathway.Pathway
) -> NetworkOutcomesReport:
    """Compute the network_outcomes report inside the database.

    Counts applied events in the period (``since`` to the earlier of ``until`` and ``as_of``):
    programmes completed with their outcomes planned and achieved (summed, so the percentage is
    of all outcomes, as Table 11 measures it), modules completed by type, and top-ups started (by
    either trigger). ``team`` keeps the steps taken by that team's workers.
    """
    header = scope.header()
    as_of = header["as_of"]
    since = header["since"] or "0000"
    until = min(header["until"] or as_of, as_of)
    team_sql = " AND actor_team = ?" if scope.team else ""
    args = [since, until, *([scope.team] if scope.team else [])]
    window = f"""SELECT * FROM events WHERE outcome = 'applied'
                   AND occurred_at >= ? AND occurred_at <= ?{team_sql}"""
    planned_sql = json_integer(conn, "data", "outcomes_planned")
    achieved_sql = json_integer(conn, "data", "outcomes_achieved")
    programmes, planned, achieved = conn.execute(
        f"""SELECT COUNT(*),
                   COALESCE(SUM({planned_sql}), 0),
                   COALESCE(SUM({achieved_sql}), 0)
              FROM ({window}) AS w WHERE trigger = 'complete_enablement_programme'""",
        args,
    ).fetchone()
    found = {
        module: (completed, people)
        for module, completed, people in conn.execute(
            f"""SELECT {json_text(conn, "data", "module")}, COUNT(*), COUNT(DISTINCT case_id)
                  FROM ({window}) AS w WHERE trigger = 'complete_module' GROUP BY 1""",
            args,
        )
    }
    top_ups = conn.execute(
        f"""SELECT COUNT(*) FROM ({window}) AS w
             WHERE to_state = 'top_up' AND trigger IN ('start_top_up', 'start_network_plus_top_up')""",
        args,
    ).fetchone()[0]
    modules = tuple(ModuleCount(m, *found.get(m, (0, 0))) for m in MODULES)
    return NetworkOutcomesReport(
        scope, int(programmes), int(planned), int(achieved), modules, int(top_ups)
    )


# --- Hooks -----------------------------------------------------------------------------------------


@pathway.hookimpl
def pathway_fragment(pathway_id: str) -> str | None:
    """Modules, programme completion and the top-up, for the Barnet pathway only."""
    return FRAGMENT if pathway_id == PATHWAY_ID else None


@pathway.hookimpl
def pathway_guards() -> tuple[pathway.GuardSpec, ...]:
    """The plug-in's guards: support plan outcomes, programme completed."""
    return GUARDS


@pathway.hookimpl
def pathway_reports() -> list[ReportSpec]:
    """The network_outcomes report."""
    return [
        ReportSpec(
            "network_outcomes",
            network_outcomes_report,
            "Support plan outcomes achieved against the 80% target (BEP Table 11), modules completed by type",
        )
    ]
