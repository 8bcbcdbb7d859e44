"""Issue 15 (part): the statutory rules of the shipped pathway for safeguarding (Care Act 2014
s42), the Mental Health Act and section 117 aftercare, each allowed and refused, with the reason
a practitioner reads. Choices (21)-(25) of the definition's description; docs/pathway.md,
"Appendix A and statutory duties: how they are encoded"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import pathway
from pathway.guards import GuardContext, safeguarding_outcome
from pathway.model import ReturnPoint

HUB = pathway.Actor("w-hub", "hub")
TRIAGE = pathway.Actor("w-triage", "triage")
LETS = pathway.Actor("w-lets", "lets")
NETWORK = pathway.Actor("w-net", "network")
CMHT = pathway.Actor("w-cmht", "cmht")
IET = pathway.Actor("w-iet", "iet")
AMHP_TEAM = pathway.Actor("w-amhp-trainee", "amhp")
AMHP = pathway.Actor("w-amhp", "amhp", roles=("amhp",))
ALL_TEAMS = [HUB, TRIAGE, LETS, NETWORK, CMHT, IET, AMHP]

BARNET = pathway.load_pathway("barnet-enablement")
S117_STARTS = ["section_3_start", "section_37_start", "section_45a_start"]
S117_STARTS += ["section_47_start", "section_48_start"]
S117_MISSING = (
    "section 117 aftercare follows detention under section 3, 37, 45A, 47 or 48 (not section 2 "
    "or an informal admission), and no start date of one is recorded: required data missing "
    "(one of): " + ", ".join(S117_STARTS)
)
LEAD_REFUSED = "team {} may not perform safeguarding: the task matrix allows cmht, lets, network"
END = {"s117_end_decision": "joint ICB and council review: no aftercare needs remain"}


def s117_refusal(field: str, start: str) -> str:
    return (
        f"the person is eligible for section 117 aftercare ({field} {start}), which ends only by "
        "a joint decision of the council and the NHS: required data missing: s117_end_decision "
        f"and s117_end_date (on or after {start})"
    )


class Walk:
    """One case on the shipped pathway, an hour per step from 5 January 2026."""

    def __init__(self) -> None:
        self.engine = pathway.Engine(BARNET, pathway.open_store(":memory:"))
        self.at = datetime(2026, 1, 5, 9, tzinfo=UTC)
        self.engine.open_case("C1", HUB, at=self.at)

    def fire(self, trigger: str, actor: pathway.Actor, **data: Any) -> pathway.Case:
        self.at += timedelta(hours=1)
        return self.engine.fire("C1", trigger, actor, at=self.at, data=data or None)

    def refused(self, trigger: str, actor: pathway.Actor, **data: Any) -> tuple[str, ...]:
        self.at += timedelta(hours=1)
        with pytest.raises(pathway.TransitionRefused) as info:
            self.engine.fire("C1", trigger, actor, at=self.at, data=data or None)
        return info.value.reasons

    def to_offer_to_network(self) -> pathway.Case:
        self.fire("self_refer", HUB)
        self.fire("offer_choice_appointment", HUB)
        self.fire("accept_handoff", LETS)
        self.fire("book_choice_meeting", LETS)
        return self.fire("offer_standard_enablement", LETS, enablement_plan="one page")

    def to_standard_enablement(self) -> pathway.Case:
        self.to_offer_to_network()
        return self.fire("accept_handoff", NETWORK)

    def admitted(self, section: str, start: str = "2026-01-05") -> pathway.Case:
        """In hospital social work with the IET after detention under ``section``."""
        if section in ("2", "3"):
            self.fire("start_mha_assessment", AMHP)
            self.fire(f"detain_section_{section}", AMHP, **{f"section_{section}_start": start})
        else:
            self.fire(f"detain_section_{section}", IET, **{f"section_{section}_start": start})
        return self.fire("accept_handoff", IET)


# --- Safeguarding: anyone raises, Appendix A teams lead (choice (21)) ---------------------------


@pytest.mark.parametrize("actor", ALL_TEAMS, ids=lambda a: a.team)
def test_anyone_raises_a_concern_and_the_holder_keeps_the_case(actor: pathway.Actor) -> None:
    """Hub, triage, AMHP and IET included (002 lines 102-103, 393): raised, not refused."""
    walk = Walk()
    walk.to_standard_enablement()
    raised = walk.fire("raise_safeguarding", actor)
    assert (raised.state, raised.team) == ("safeguarding", "network")
    assert [p.state for p in raised.return_stack] == ["standard_enablement"]


@pytest.mark.parametrize("actor", [HUB, TRIAGE, IET, AMHP], ids=lambda a: a.team)
def test_a_team_outside_appendix_a_may_not_lead_the_enquiry(actor: pathway.Actor) -> None:
    walk = Walk()
    walk.to_standard_enablement()
    walk.fire("raise_safeguarding", IET)
    reasons = walk.refused("lead_safeguarding", actor)
    assert LEAD_REFUSED.format(actor.team) in reasons


@pytest.mark.parametrize("actor", [LETS, NETWORK, CMHT], ids=lambda a: a.team)
def test_an_appendix_a_team_leads_and_holds_the_enquiry(actor: pathway.Actor) -> None:
    """Appendix A 'Safeguarding' (002 lines 949, 956): LETs, Network, CMHT."""
    walk = Walk()
    walk.to_standard_enablement()
    walk.fire("raise_safeguarding", IET)
    led = walk.fire("lead_safeguarding", actor)
    assert (led.state, led.team) == ("safeguarding_enquiry", actor.team)
    back = walk.fire("conclude_safeguarding", actor, safeguarding_outcome="risk removed")
    assert (back.state, back.team, back.return_stack) == ("standard_enablement", "network", ())


def test_an_enquiry_concludes_only_with_its_outcome() -> None:
    walk = Walk()
    walk.to_standard_enablement()
    walk.fire("raise_safeguarding", NETWORK)
    walk.fire("lead_safeguarding", NETWORK)
    assert walk.refused("conclude_safeguarding", NETWORK) == (
        "required data missing with this step: safeguarding_outcome",
    )
    assert walk.refused("conclude_safeguarding", IET, safeguarding_outcome="x") == (
        LEAD_REFUSED.format("iet"),
    )
    back = walk.fire("conclude_safeguarding", NETWORK, safeguarding_outcome="no further action")
    assert back.state == "standard_enablement"


def test_a_concern_needing_no_enquiry_is_concluded_by_a_lead_team_with_its_outcome() -> None:
    walk = Walk()
    walk.to_standard_enablement()
    walk.fire("raise_safeguarding", HUB)
    assert walk.refused("conclude_safeguarding", HUB, safeguarding_outcome="x") == (
        LEAD_REFUSED.format("hub"),
    )
    back = walk.fire("conclude_safeguarding", LETS, safeguarding_outcome="not a s42 concern")
    assert (back.state, back.team) == ("standard_enablement", "network")


@pytest.mark.parametrize("state", ["safeguarding", "safeguarding_enquiry"])
def test_a_case_is_not_closed_in_an_open_enquiry_without_its_outcome(state: str) -> None:
    """Care Act 2014 s42(2): the closing step gives the outcome (choice (22))."""
    walk = Walk()
    walk.to_standard_enablement()
    walk.fire("raise_safeguarding", NETWORK)
    if state == "safeguarding_enquiry":
        walk.fire("lead_safeguarding", NETWORK)
    assert walk.refused("close", NETWORK, closure_reason="moved away") == (
        f"a safeguarding concern or enquiry is open ({state}), so its outcome must be given "
        "with this step: required data missing with this step: safeguarding_outcome",
    )
    closed = walk.fire(
        "close", NETWORK, closure_reason="moved away", safeguarding_outcome="referred on"
    )
    assert closed.state == "closed"


def _context(state: str, stack: tuple[str, ...], data: dict[str, Any]) -> GuardContext:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    case = pathway.Case(
        id="C1", pathway_id="barnet_enablement", pathway_version="1", state=state, team="lets",
        organisation="lbb", version=3, opened_at=at, state_entered_at=at,
        return_stack=tuple(ReturnPoint(s, "lets", at) for s in stack),
    )  # fmt: skip
    return GuardContext(BARNET, case, LETS, at, BARNET.triggers["close"][0], data)


def test_an_enquiry_on_the_return_stack_or_in_a_plugin_sub_step_is_open() -> None:
    """An interruption nested inside an enquiry, or a plug-in's sub-step of it, is still open."""
    states = ["safeguarding", "safeguarding_enquiry"]
    field = "safeguarding_outcome"
    nested = _context("carers_assessment", ("choice_meeting", "safeguarding_enquiry"), {})
    assert safeguarding_outcome(nested, states=states, field=field).reason == (
        "a safeguarding concern or enquiry is open (safeguarding_enquiry), so its outcome must "
        "be given with this step: required data missing with this step: safeguarding_outcome"
    )
    sub_step = _context("safeguarding.enquiry", ("choice_meeting",), {})
    assert not safeguarding_outcome(sub_step, states=states, field=field).passed
    given = _context("safeguarding.enquiry", (), {field: "risk removed"})
    assert safeguarding_outcome(given, states=states, field=field).passed
    elsewhere = _context("choice_meeting", ("safeguarding_x",), {})
    assert safeguarding_outcome(elsewhere, states=states, field=field).passed


# --- Mental Health Act (choice (23)) -----------------------------------------------------------


def test_an_amhp_assessment_can_start_from_every_open_state_but_itself() -> None:
    """Structurally: every non-final state (and closed) is a source, so nothing is left out."""
    sources = {s for t in BARNET.triggers["start_mha_assessment"] for s in t.sources}
    assert sources == set(BARNET.states)


@pytest.mark.parametrize(
    "where", ["pending offer", "safeguarding", "enquiry", "carer's assessment", "review"]
)
def test_an_amhp_assessment_interrupts_and_no_detention_returns(where: str) -> None:
    walk = Walk()
    if where == "pending offer":
        before = walk.to_offer_to_network()
    else:
        walk.to_standard_enablement()
        if where in ("safeguarding", "enquiry"):
            before = walk.fire("raise_safeguarding", NETWORK)
            if where == "enquiry":
                before = walk.fire("lead_safeguarding", NETWORK)
        elif where == "carer's assessment":
            before = walk.fire("start_carers_assessment", LETS)
        else:
            before = walk.fire("start_community_review", NETWORK)
    assessing = walk.fire("start_mha_assessment", AMHP)
    assert (assessing.state, assessing.team) == ("mha_assessment", "amhp")
    back = walk.fire("no_detention", AMHP)
    assert (back.state, back.team) == (before.state, before.team)


def test_an_assessment_is_not_started_twice_nor_by_a_non_amhp() -> None:
    walk = Walk()
    walk.to_standard_enablement()
    assert walk.refused("start_mha_assessment", CMHT) == (
        "team cmht may not perform mh_act_assessment: the task matrix allows amhp",
        "w-cmht does not hold the amhp role (roles held: none)",
    )
    assert walk.refused("start_mha_assessment", AMHP_TEAM) == (
        "w-amhp-trainee does not hold the amhp role (roles held: none)",
    )
    walk.fire("start_mha_assessment", AMHP)
    assert walk.refused("start_mha_assessment", AMHP) == (
        "not while the case is in mha_assessment: this step is not taken from mha_assessment",
    )


@pytest.mark.parametrize("actor", ALL_TEAMS, ids=lambda a: a.team)
def test_any_team_requests_an_assessment_and_the_case_stays_put(actor: pathway.Actor) -> None:
    walk = Walk()
    walk.to_standard_enablement()
    assert walk.refused("request_mha_assessment", actor) == (
        "required data missing with this step: mha_request_reason",
    )
    asked = walk.fire("request_mha_assessment", actor, mha_request_reason="relapse")
    assert (asked.state, asked.team, asked.return_stack) == ("standard_enablement", "network", ())


def test_section_2_converts_to_section_3_during_the_admission() -> None:
    walk = Walk()
    walk.admitted("2")
    assert walk.refused("offer_s117_aftercare", IET) == (S117_MISSING,)
    walk.fire("start_mha_assessment", AMHP)
    walk.fire("detain_section_3", AMHP, section_3_start="2026-01-05")
    converted = walk.fire("accept_handoff", IET)
    assert (converted.state, converted.team, converted.return_stack) == (
        "hospital_social_work",
        "iet",
        (),
    )
    assert walk.fire("offer_s117_aftercare", IET).state == "offered_s117_aftercare"


# --- Section 117 (choice (24)) -----------------------------------------------------------------


@pytest.mark.parametrize("section", ["3", "37", "45a", "47", "48"])
def test_s117_aftercare_follows_each_qualifying_detention(section: str) -> None:
    walk = Walk()
    held = walk.admitted(section)
    assert (held.state, held.team) == ("hospital_social_work", "iet")
    walk.fire("offer_s117_aftercare", IET)
    assert walk.fire("accept_handoff", CMHT).state == "s117_aftercare"


@pytest.mark.parametrize("section", ["2", "informal"])
def test_s117_aftercare_never_follows_section_2_or_an_informal_admission(section: str) -> None:
    walk = Walk()
    if section == "informal":
        walk.fire("start_mha_assessment", AMHP)
        walk.fire("admit_informally", AMHP)
        walk.fire("accept_handoff", IET)
    else:
        walk.admitted(section)
    assert walk.refused("offer_s117_aftercare", IET) == (S117_MISSING,)
    # not eligible, so closing needs no section 117 end decision
    assert walk.fire("close", IET, closure_reason="discharged home").state == "closed"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            None,
            "required data missing with this step: section_37_start (a date such as 2026-01-05)",
        ),
        ("next week", "section_37_start is 'next week', not a date such as 2026-01-05"),
        ("2026-02-01", "section_37_start 2026-02-01 is after this step (2026-01-05)"),
    ],
)
def test_a_court_or_prison_detention_needs_a_real_start_date(value: Any, reason: str) -> None:
    walk = Walk()
    data = {} if value is None else {"section_37_start": value}
    assert walk.refused("detain_section_37", IET, **data) == (reason,)


def test_an_s117_person_is_not_closed_from_hospital_without_the_joint_end_decision() -> None:
    walk = Walk()
    walk.admitted("3", "2026-01-05")
    assert walk.refused("close", IET, closure_reason="discharged") == (
        s117_refusal("section_3_start", "2026-01-05"),
    )
    # an end decision dated before the detention began is not this detention's
    assert walk.refused(
        "close", IET, closure_reason="discharged", s117_end_date="2026-01-04", **END
    ) == (s117_refusal("section_3_start", "2026-01-05"),)
    closed = walk.fire("close", IET, closure_reason="discharged", s117_end_date="2026-01-05", **END)
    assert closed.state == "closed"


def test_s117_persists_through_intensive_enablement_after_discharge_to_a_placement() -> None:
    walk = Walk()
    walk.admitted("37", "2026-01-05")
    placed = walk.fire(
        "discharge_to_placement",
        IET,
        placement_id="SL-1",
        care_type="supported_living",
        provider="supported living (invented)",
        weekly_cost="457.00",
        start_date="2026-01-05",
        s117=True,
        council_pct=50,
        nhs_pct=50,
        agreed_by="lbb",
    )
    assert placed.state == "intensive_enablement"
    # The placement ends (a move to the person's own home); the s117 entitlement does not.
    walk.fire("placement_end", IET, placement_id="SL-1", end_date="2026-01-05")
    assert walk.refused("close", IET, closure_reason="settled") == (
        s117_refusal("section_37_start", "2026-01-05"),
    )
    assert walk.fire(
        "close", IET, closure_reason="settled", s117_end_date="2026-01-05", **END
    ).state == "closed"  # fmt: skip


def test_s117_persists_through_network_plus_after_a_step_down_from_aftercare() -> None:
    walk = Walk()
    walk.admitted("47", "2026-01-05")
    walk.fire("offer_s117_aftercare", IET)
    walk.fire("accept_handoff", CMHT)
    walk.fire("offer_standard_enablement", CMHT, enablement_plan="peer work, college")
    assert walk.fire("accept_handoff", NETWORK).state == "standard_enablement"
    assert walk.refused("complete_standard_enablement", NETWORK) == (
        s117_refusal("section_47_start", "2026-01-05"),
    )
    done = walk.fire("complete_standard_enablement", NETWORK, s117_end_date="2026-01-05", **END)
    assert done.state == "closed"


def test_close_is_available_from_s117_aftercare_with_the_joint_end_decision() -> None:
    walk = Walk()
    walk.admitted("48", "2026-01-05")
    walk.fire("offer_s117_aftercare", IET)
    walk.fire("accept_handoff", CMHT)
    assert walk.refused("close", CMHT, closure_reason="well") == (
        s117_refusal("section_48_start", "2026-01-05"),
    )
    assert walk.refused("end_s117_aftercare", CMHT, **END) == (
        "required data missing with this step: s117_end_date",
        s117_refusal("section_48_start", "2026-01-05"),
    )
    closed = walk.fire("close", CMHT, closure_reason="well", s117_end_date="2026-01-06", **END)
    assert (closed.state, closed.team) == ("closed", "cmht")


def test_a_later_detention_makes_the_person_eligible_again() -> None:
    walk = Walk()
    walk.admitted("3", "2026-01-05")
    walk.fire("close", IET, closure_reason="discharged", s117_end_date="2026-01-05", **END)
    walk.fire("re_refer", HUB)
    walk.at += timedelta(days=30)
    walk.fire("detain_section_37", IET, section_37_start="2026-02-04")
    walk.fire("accept_handoff", IET)
    assert walk.refused("close", IET, closure_reason="discharged") == (
        s117_refusal("section_37_start", "2026-02-04"),
    )


# --- Carer's assessment (choice (25)) ----------------------------------------------------------


def test_a_carers_assessment_leaves_the_cared_for_persons_case_with_its_holder() -> None:
    walk = Walk()
    walk.to_standard_enablement()
    assert walk.refused("start_carers_assessment", HUB) == (
        "team hub may not perform carer_and_family_support: the task matrix allows cmht, iet, "
        "lets, network",
    )
    during = walk.fire("start_carers_assessment", LETS)
    assert (during.state, during.team) == ("carers_assessment", "network")
    back = walk.fire("complete_carers_assessment", LETS)
    assert (back.state, back.team, back.return_stack) == ("standard_enablement", "network", ())
