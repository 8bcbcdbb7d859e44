"""care-pathway plug-in ``amhp``: the steps of a Mental Health Act assessment by an AMHP.

It adds four sub-steps inside the default pathway's ``mha_assessment`` interruption (request,
gathering information, consulting the nearest relative, interview), the assessment outcomes from
the interview, and three guards:

* ``amhp_qualified``: the actor is an Approved Mental Health Professional (role ``amhp``);
* ``nearest_relative_consulted``: this step records that the nearest relative was consulted, or
  why that was not reasonably practicable;
* ``section_start_date``: this step gives the start date of a detention, a real date not after the
  step itself.

Detention under section 3 makes the person eligible for section 117 aftercare: the start date it
requires is the fact the default pathway's ``offer_s117_aftercare`` checks, and the plug-in's
observer logs a notice when a section 3 detention is recorded (see README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pathway

__version__ = "0.1.0"

PATHWAY_ID = "barnet_enablement"
ROLE = "amhp"
NEAREST_RELATIVE_FIELDS = ("nearest_relative_consulted", "nearest_relative_not_practicable")

log = logging.getLogger("care_pathway_amhp")

FRAGMENT = """
states:
  - id: mha_assessment.request
    holder: amhp
    task: mh_act_assessment
    description: "AMHP assessment step 1: the request for a Mental Health Act assessment is received and accepted by the AMHP service on its 24-hour rota (MHA 1983 s13(1), s13(4); BEP 5.1.3)."
  - id: mha_assessment.gather_information
    holder: amhp
    task: mh_act_assessment
    description: "AMHP assessment step 2: gathering information from the care team, GP, police and family before seeing the person (MHA Code of Practice 14.56-14.60; BEP 5.1.3)."
  - id: mha_assessment.nearest_relative_consulted
    holder: amhp
    task: mh_act_assessment
    description: "AMHP assessment step 3: the nearest relative has been consulted, or it was not reasonably practicable (MHA 1983 s11(3), s11(4); Code of Practice 14.65-14.72)."
  - id: mha_assessment.interview
    holder: amhp
    task: mh_act_assessment
    description: "AMHP assessment step 4: the AMHP interviews the person 'in a suitable manner' with the doctors, considering all the circumstances and less restrictive alternatives (MHA 1983 s13(2); Code of Practice 14.49-14.55)."
transitions:
  - trigger: record_request
    sources: [mha_assessment]
    dest: mha_assessment.request
    description: "The AMHP records who asked for the assessment and why (MHA 1983 s13(1), s13(4))."
    guards:
      - amhp_qualified
      - {guard: data_present, params: {fields: [assessment_requested_by], this_call: true}}
  - trigger: gather_information
    sources: [mha_assessment.request]
    dest: mha_assessment.gather_information
    description: "The AMHP gathers information about the person before the interview (Code of Practice 14.56-14.60)."
    guards: [amhp_qualified]
  - trigger: consult_nearest_relative
    sources: [mha_assessment.gather_information]
    dest: mha_assessment.nearest_relative_consulted
    description: "The AMHP consults the nearest relative, or records why it was not reasonably practicable (MHA 1983 s11(3), s11(4))."
    guards: [amhp_qualified, nearest_relative_consulted]
  - trigger: interview
    sources: [mha_assessment.nearest_relative_consulted]
    dest: mha_assessment.interview
    description: "The AMHP interviews the person with the doctors (MHA 1983 s13(2))."
    guards: [amhp_qualified]
  - trigger: admit_informally
    sources: [mha_assessment.interview]
    dest: offered_hospital_social_work
    handoff: true
    task: mh_act_assessment
    description: "Assessment outcome after the interview: informal admission; offered to the IET for hospital social work (BEP Table 9; Appendix A: Hospital Social work)."
    guards: [amhp_qualified]
  - trigger: detain_section_2
    sources: [mha_assessment.interview]
    dest: offered_hospital_social_work
    handoff: true
    task: mh_act_assessment
    description: "Assessment outcome after the interview: the AMHP applies for detention under section 2 (up to 28 days), with its start date; offered to the IET (MHA 1983 s2, s11(1); BEP Table 9)."
    guards:
      - amhp_qualified
      - {guard: section_start_date, params: {field: section_2_start}}
  - trigger: detain_section_3
    sources: [mha_assessment.interview]
    dest: offered_hospital_social_work
    handoff: true
    task: mh_act_assessment
    description: "Assessment outcome after the interview: the AMHP applies for detention under section 3 (up to six months), with its start date, which makes the person eligible for section 117 aftercare on discharge; offered to the IET (MHA 1983 s3, s117; BEP Table 9)."
    guards:
      - amhp_qualified
      - {guard: section_start_date, params: {field: section_3_start}}
  - trigger: no_detention
    sources: [mha_assessment.interview]
    return: true
    task: mh_act_assessment
    description: "Assessment outcome after the interview: no detention; the case goes back to the state and team the assessment interrupted (BEP 5.1.3, Table 9)."
    guards: [amhp_qualified]
"""


@pathway.hookimpl
def pathway_fragment(pathway_id: str) -> str | None:
    """The assessment sub-steps, for the Barnet Enablement Pathway (and nothing for others)."""
    return FRAGMENT if pathway_id == PATHWAY_ID else None


def amhp_qualified(ctx: Any) -> pathway.GuardResult:
    """The actor is an Approved Mental Health Professional (holds the amhp role)."""
    if ROLE in ctx.actor.roles:
        return pathway.passed(f"{ctx.actor.id} is an approved mental health professional")
    held = ", ".join(ctx.actor.roles) or "none"
    return pathway.refused(
        f"{ctx.actor.id} is not an approved mental health professional: only an AMHP may take "
        f"this step of a Mental Health Act assessment (roles held: {held})"
    )


def _given(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name)
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value is not False and value != [] and value != {}


def nearest_relative_consulted(ctx: Any) -> pathway.GuardResult:
    """This step records the nearest relative's consultation, or why it was not practicable."""
    if _given(ctx.data, "nearest_relative_consulted"):
        return pathway.passed("the nearest relative's consultation is recorded")
    if _given(ctx.data, "nearest_relative_not_practicable"):
        return pathway.passed(
            "the reason the nearest relative could not be consulted is recorded (MHA s11(4))"
        )
    return pathway.refused(
        "required data missing with this step: nearest_relative_consulted, or "
        "nearest_relative_not_practicable with the reason (MHA s11(4))"
    )


def _as_date(value: Any) -> date | None:
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


def section_start_date(ctx: Any, field: str) -> pathway.GuardResult:
    """This step gives the detention's start date: a date, not after the day of the step."""
    if not _given(ctx.data, field):
        return pathway.refused(f"required data missing with this step: {field}")
    value = ctx.data[field]
    start = _as_date(value)
    if start is None:
        return pathway.refused(f"{field} is {value!r}, not a date (YYYY-MM-DD)")
    today = ctx.at.date()
    if start > today:
        return pathway.refused(f"{field} {start.isoformat()} is after this step ({today})")
    return pathway.passed(f"{field} is {start.isoformat()}")


@pathway.hookimpl
def pathway_guards() -> list[pathway.GuardSpec]:
    """The plug-in's guards: AMHP qualification, nearest relative, detention start date."""
    return [
        pathway.GuardSpec(
            "amhp_qualified",
            amhp_qualified,
            "The actor is an Approved Mental Health Professional (role amhp).",
            roles=lambda params: [ROLE],
        ),
        pathway.GuardSpec(
            "nearest_relative_consulted",
            nearest_relative_consulted,
            "This step records that the nearest relative was consulted "
            "(nearest_relative_consulted) or why it was not practicable "
            "(nearest_relative_not_practicable).",
        ),
        pathway.GuardSpec(
            "section_start_date",
            section_start_date,
            "This step gives a detention's start date in FIELD, a date not after the step.",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["field"],
                "properties": {"field": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}},
            },
        ),
    ]


@pathway.hookimpl
def audit_event_recorded(event: Any, case: Any) -> None:
    """Log a notice that section 117 aftercare is owed when a section 3 detention is recorded."""
    if event.trigger == "detain_section_3" and event.outcome == "applied":
        log.info(
            "case %s: detained under section 3 from %s; eligible for section 117 aftercare "
            "on discharge (offer_s117_aftercare)",
            event.case_id,
            case.attributes.get("section_3_start"),
        )
