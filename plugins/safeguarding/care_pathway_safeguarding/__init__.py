"""care-pathway plug-in ``safeguarding``: Care Act section 42 enquiries inside the safeguarding step.

The default pathway's ``safeguarding`` state is an interruption raised from any open state. This
plug-in records what happens inside it: the council's decision whether the section 42 duty
arises (``decide_s42``), the enquiry (``start_enquiry``), its outcome (``record_outcome``), and
the end of the interruption (``conclude_safeguarding``, which returns the case to where it was).
It registers the guard ``s42_duty_decided`` and the report ``safeguarding``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

import pathway
from pathway.plugins import ReportSpec
from pathway.reports import Scope
from pathway.store.dialect import json_text

__version__ = "0.1.0"

PATHWAY_ID = "barnet_enablement"
S42_ANSWERS = ("yes", "no")

FRAGMENT = """
tasks:
  - id: s42_duty_decision
    teams: [lets, network]
    description: "Care Act 2014 s42(1)-(2): deciding whether the section 42 enquiry duty arises, and the outcome of an enquiry, are the council's and cannot be delegated (domain notes: S75); the council teams of Appendix A's 'Safeguarding' row (Network Plus)."
  - id: s42_enquiry
    teams: [lets, network, cmht]
    description: "Care Act 2014 s42(2): making (or causing to be made) the enquiry; exactly the teams Appendix A ticks for 'Safeguarding' (Network Plus)."
states:
  - id: safeguarding.s42_decision
    holder: lets
    task: s42_duty_decision
    description: "The council has decided whether the section 42 duty arises: the adult has care and support needs, is experiencing or at risk of abuse or neglect and cannot protect themselves because of those needs (Care Act 2014 s42(1); BEP 1.10)."
  - id: safeguarding.enquiry
    holder: lets
    task: s42_enquiry
    description: "Section 42 enquiry under way, led by the team that raised the concern (Care Act 2014 s42(2); Care and Support Statutory Guidance 14.77-14.92; Appendix A: Safeguarding)."
  - id: safeguarding.outcome
    holder: lets
    task: s42_duty_decision
    description: "The enquiry's outcome and the action to be taken are recorded (Care Act 2014 s42(2): what action should be taken and by whom; BEP 7.6.2)."
transitions:
  - trigger: decide_s42
    sources: [safeguarding]
    dest: safeguarding.s42_decision
    holder: keep
    task: s42_duty_decision
    description: "A council worker decides, with this step, whether the section 42 duty arises (s42_duty: yes or no) on a concern anyone may have raised (Care Act 2014 s42(1); default pathway choice (21))."
    guards: [s42_duty_decided]
  - trigger: start_enquiry
    sources: [safeguarding.s42_decision]
    dest: safeguarding.enquiry
    holder: actor
    description: "The duty arises, so the section 42 enquiry starts, led by the LETs, Network or CMHT worker who starts it, whose team holds the case while it runs; a concern raised by the hub, triage, the AMHP service or the IET is led by one of them (Care Act 2014 s42(2); Appendix A: Safeguarding; default pathway choice (21))."
    guards:
      - {guard: data_in, params: {field: s42_duty, values: ["yes"]}}
  - trigger: record_outcome
    sources: [safeguarding.enquiry]
    dest: safeguarding.outcome
    holder: keep
    description: "The council records the enquiry's outcome with this step (Care Act 2014 s42(2); BEP 7.6.2)."
    guards:
      - {guard: data_present, params: {fields: [safeguarding_outcome], this_call: true}}
  - trigger: conclude_safeguarding
    sources: [safeguarding.outcome]
    return: true
    task: safeguarding
    description: "Conclude safeguarding after the enquiry's outcome and give the case back to where it was (BEP 7.6.2)."
  - trigger: conclude_safeguarding
    sources: [safeguarding.s42_decision]
    return: true
    task: safeguarding
    description: "Conclude safeguarding when the section 42 duty does not arise (no enquiry) and give the case back to where it was (Care Act 2014 s42(1))."
    guards:
      - {guard: data_in, params: {field: s42_duty, values: ["no"]}}
"""


@pathway.hookimpl
def pathway_fragment(pathway_id: str) -> str | None:
    """The section 42 steps, for the Barnet Enablement Pathway (and nothing for others)."""
    return FRAGMENT if pathway_id == PATHWAY_ID else None


def s42_duty_decided(ctx: Any) -> pathway.GuardResult:
    """This step records the section 42 decision: s42_duty is yes or no."""
    value = ctx.data.get("s42_duty")
    if value is None or value == "":
        return pathway.refused("required data missing with this step: s42_duty (yes or no)")
    if value not in S42_ANSWERS:
        return pathway.refused(f"s42_duty is {value!r}, not yes or no")
    return pathway.passed(f"the section 42 decision is recorded: s42_duty is {value}")


@pathway.hookimpl
def pathway_guards() -> list[pathway.GuardSpec]:
    """The plug-in's guard: the section 42 decision given with the step."""
    return [
        pathway.GuardSpec(
            "s42_duty_decided",
            s42_duty_decided,
            "This step records whether the section 42 duty arises (s42_duty: yes or no); a "
            "decision left on the case from an earlier concern does not count.",
        )
    ]


@attrs.frozen
class SafeguardingReport:
    """Safeguarding figures for one scope (see README.md for each figure's definition)."""

    scope: Scope
    concerns: int
    s42_yes: int
    s42_no: int
    enquiries_started: int
    enquiries_open: int
    outcomes: int
    concluded: int

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "safeguarding",
            **self.scope.header(),
            "concerns": self.concerns,
            "s42_decisions": {"yes": self.s42_yes, "no": self.s42_no},
            "enquiries_started": self.enquiries_started,
            "enquiries_open": self.enquiries_open,
            "outcomes": self.outcomes,
            "concluded": self.concluded,
        }


def safeguarding_report(conn: Any, scope: Scope, compiled: Any = None) -> SafeguardingReport:
    """Count concerns, s42 decisions, enquiries and outcomes inside the database."""
    header = scope.header()
    bounds = [header["since"] or "", min(header["until"] or scope.as_of_text, scope.as_of_text)]
    team_sql = " AND actor_team = ?" if scope.team else ""
    team_args = [scope.team] if scope.team else []
    counts: Mapping[str, int] = dict(
        conn.execute(
            "SELECT trigger, COUNT(*) FROM events WHERE outcome = 'applied' "
            "AND occurred_at >= ? AND occurred_at <= ? AND trigger IN "
            "('raise_safeguarding', 'start_enquiry', 'record_outcome', 'conclude_safeguarding')"
            f"{team_sql} GROUP BY trigger",
            [*bounds, *team_args],
        ).fetchall()
    )
    # s42_duty is text ("yes"/"no", as the guard takes it); any other value counts as neither.
    decisions: Mapping[str, int] = dict(
        conn.execute(
            f"SELECT {json_text(conn, 'data', 's42_duty')}, COUNT(*) FROM events "
            "WHERE outcome = 'applied' AND trigger = 'decide_s42' "
            f"AND occurred_at >= ? AND occurred_at <= ?{team_sql} GROUP BY 1",
            [*bounds, *team_args],
        ).fetchall()
    )
    # Open at as-of: enquiries started and not yet given an outcome, per case (an enquiry may
    # hold another concern's enquiry nested inside it), each counted for the team leading it.
    open_by_case: dict[str, list[str]] = {}
    for case_id, trigger, team in conn.execute(
        "SELECT case_id, trigger, to_team FROM events WHERE outcome = 'applied' "
        "AND occurred_at <= ? AND trigger IN ('start_enquiry', 'record_outcome') "
        "ORDER BY case_id, seq",
        [scope.as_of_text],
    ):
        leads = open_by_case.setdefault(case_id, [])
        if trigger == "start_enquiry":
            leads.append(team)
        elif leads:
            leads.pop()
    enquiries_open = sum(
        1
        for leads in open_by_case.values()
        for team in leads
        if scope.team is None or team == scope.team
    )
    return SafeguardingReport(
        scope,
        concerns=counts.get("raise_safeguarding", 0),
        s42_yes=decisions.get("yes", 0),
        s42_no=decisions.get("no", 0),
        enquiries_started=counts.get("start_enquiry", 0),
        enquiries_open=enquiries_open,
        outcomes=counts.get("record_outcome", 0),
        concluded=counts.get("conclude_safeguarding", 0),
    )


@pathway.hookimpl
def pathway_reports() -> list[ReportSpec]:
    """The plug-in's report: `pathway report safeguarding`."""
    return [
        ReportSpec(
            "safeguarding",
            safeguarding_report,
            "Safeguarding concerns raised, section 42 decisions (yes/no), enquiries started "
            "and open at as-of, outcomes recorded and concerns concluded in the period.",
        )
    ]
