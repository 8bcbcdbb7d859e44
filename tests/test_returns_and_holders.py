"""Offers and interruptions nest: each return goes back to where its own offer or interruption began."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import pathway
from pathway.model import ReturnPoint

HUB = pathway.Actor("w-hub", "hub")
LETS = pathway.Actor("w-lets", "lets")
T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def barnet() -> pathway.Pathway:
    return pathway.load_pathway("barnet-enablement")


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def test_safeguarding_inside_an_offer_returns_to_the_offer_then_the_decline_to_the_sender(
    barnet: pathway.Pathway,
) -> None:
    """hub offers to LETs; safeguarding interrupts; concluding returns to the offer; a decline returns to the hub."""
    engine = pathway.Engine(barnet, pathway.open_store(":memory:"))
    engine.open_case("B1", HUB, at=at(0))
    engine.fire("B1", "refer_via_hub", HUB, at=at(0))
    offered = engine.fire("B1", "offer_choice_appointment", HUB, at=at(1))
    assert offered.return_stack == (ReturnPoint("referral", "hub", at(0)),)
    interrupted = engine.fire("B1", "raise_safeguarding", LETS, at=at(2))
    assert (interrupted.state, interrupted.team) == ("safeguarding", "hub")  # raising keeps it
    assert [p.state for p in interrupted.return_stack] == ["referral", "offered_to_lets"]
    led = engine.fire("B1", "lead_safeguarding", LETS, at=at(2))
    assert (led.state, led.team) == ("safeguarding_enquiry", "lets")
    assert [p.state for p in led.return_stack] == ["referral", "offered_to_lets"]
    back = engine.fire(
        "B1", "conclude_safeguarding", LETS, at=at(3), data={"safeguarding_outcome": "no risk"}
    )
    assert (back.state, back.team) == ("offered_to_lets", "hub")
    declined = engine.fire(
        "B1", "decline_handoff", LETS, at=at(4), data={"decline_reason": "not known to LETs"}
    )
    assert (declined.state, declined.team, declined.return_stack) == ("referral", "hub", ())


def test_an_interruption_does_not_restart_a_time_limit(barnet: pathway.Pathway) -> None:
    """Brief enablement interrupted by safeguarding keeps counting from when it began."""
    engine = pathway.Engine(barnet, pathway.open_store(":memory:"))
    engine.open_case("B3", HUB, at=at(0))
    engine.fire("B3", "self_refer", HUB, at=at(0))
    engine.fire("B3", "offer_choice_appointment", HUB, at=at(0))
    engine.fire("B3", "accept_handoff", LETS, at=at(1))
    engine.fire("B3", "book_choice_meeting", LETS, at=at(2))
    started = engine.fire(
        "B3", "start_brief_enablement", LETS, at=at(3), data={"enablement_plan": "p"}
    )
    engine.fire("B3", "raise_safeguarding", LETS, at=at(30))
    back = engine.fire(
        "B3", "conclude_safeguarding", LETS, at=at(35), data={"safeguarding_outcome": "no risk"}
    )
    assert back.state == "brief_enablement"
    assert back.state_entered_at == started.state_entered_at == at(3)
    late = engine.check("B3", "complete_brief_enablement", LETS, at=at(50))
    assert late.reasons == ("47 days in brief_enablement, over its limit of 42 days",)


def test_an_accepted_offer_drops_its_return_point(barnet: pathway.Pathway) -> None:
    """After acceptance there is nothing to go back to: the stack is empty again."""
    engine = pathway.Engine(barnet, pathway.open_store(":memory:"))
    engine.open_case("B2", HUB, at=at(0))
    engine.fire("B2", "refer_via_hub", HUB, at=at(0))
    engine.fire("B2", "offer_choice_appointment", HUB, at=at(1))
    accepted = engine.fire("B2", "accept_handoff", LETS, at=at(2))
    assert (accepted.state, accepted.team, accepted.return_stack) == (
        "choice_appointment",
        "lets",
        (),
    )


AMHP = pathway.Actor("w-amhp", "amhp", roles=("amhp",))
IET = pathway.Actor("w-iet", "iet")


def _assessed(engine: pathway.Engine, case_id: str) -> None:
    """A case in standard enablement with the Network, then a Mental Health Act assessment and a
    section 2 detention offered to the IET."""
    engine.open_case(case_id, HUB, at=at(0))
    engine.fire(case_id, "self_refer", HUB, at=at(0))
    engine.fire(case_id, "offer_choice_appointment", HUB, at=at(0))
    engine.fire(case_id, "accept_handoff", LETS, at=at(1))
    engine.fire(case_id, "book_choice_meeting", LETS, at=at(2))
    engine.fire(case_id, "start_brief_enablement", LETS, at=at(3), data={"enablement_plan": "p"})
    assessing = engine.fire(case_id, "start_mha_assessment", AMHP, at=at(10))
    assert [(p.state, p.team) for p in assessing.return_stack] == [("brief_enablement", "lets")]
    offered = engine.fire(
        case_id, "detain_section_2", AMHP, at=at(11), data={"section_2_start": "2026-02-13"}
    )
    assert (offered.state, offered.team) == ("offered_hospital_social_work", "amhp")
    assert [p.state for p in offered.return_stack] == ["brief_enablement", "mha_assessment"]


def test_an_admission_accepted_after_an_assessment_leaves_nothing_to_go_back_to(
    barnet: pathway.Pathway,
) -> None:
    """The assessment interrupted brief enablement; the admission it led to was accepted by the
    IET, so the case has left the interruption for good: neither the offer's point nor the
    interruption's stays on the stack (it used to keep brief_enablement there for ever)."""
    engine = pathway.Engine(barnet, pathway.open_store(":memory:"))
    _assessed(engine, "M1")
    admitted = engine.fire("M1", "accept_handoff", IET, at=at(12))
    assert (admitted.state, admitted.team) == ("hospital_social_work", "iet")
    assert admitted.return_stack == ()


def test_a_declined_admission_goes_back_to_the_assessment_and_no_detention_back_to_before_it(
    barnet: pathway.Pathway,
) -> None:
    """Declining pops only the offer's point; the interruption's is still there for its return."""
    engine = pathway.Engine(barnet, pathway.open_store(":memory:"))
    _assessed(engine, "M2")
    declined = engine.fire(
        "M2", "decline_handoff", IET, at=at(12), data={"decline_reason": "wrong ward"}
    )
    assert (declined.state, declined.team) == ("mha_assessment", "amhp")
    assert [p.state for p in declined.return_stack] == ["brief_enablement"]
    back = engine.fire("M2", "no_detention", AMHP, at=at(13))
    assert (back.state, back.team, back.return_stack) == ("brief_enablement", "lets", ())
    assert back.state_entered_at == at(3)


def test_interruption_states_are_where_the_interruptions_lead(barnet: pathway.Pathway) -> None:
    """(A plug-in's sub-steps of an interruption count too: see the amhp plug-in's tests.)"""
    assert barnet.interruption_states == {
        "safeguarding", "safeguarding_enquiry", "mha_assessment", "residential_review",
        "community_review", "carers_assessment",
    }  # fmt: skip


LOOP = """
id: holders
version: "1"
organisations: [{id: council}, {id: trust}]
teams: [{id: a, organisation: council}, {id: b, organisation: trust}]
states:
  - {id: start, holder: a}
  - {id: working, holder: b}
  - {id: done, holder: a, final: true}
initial: start
transitions:
  - {trigger: note, sources: [start], dest: start, holder: keep, guards: [holding_team]}
  - trigger: go
    sources: [start]
    dest: working
    guards: [{guard: data_in, params: {field: route, values: [gp, self]}}]
  - {trigger: finish, sources: [working], dest: done, holder: keep}
"""


@pytest.fixture
def loop(tmp_path: Path) -> pathway.Engine:
    path = tmp_path / "holders.yaml"
    path.write_text(LOOP)
    return pathway.Engine(pathway.load_pathway(path), pathway.open_store(":memory:"))


def test_holding_team_guard_refuses_other_teams(loop: pathway.Engine) -> None:
    """Only the team holding the case may act on it where holding_team guards a transition."""
    loop.open_case("H1", pathway.Actor("x", "a"), at=at(0))
    with pytest.raises(pathway.TransitionRefused) as info:
        loop.fire("H1", "note", pathway.Actor("y", "b"), at=at(1))
    assert info.value.reasons == (
        "only a, the team that holds the case, may do this (the actor is in b)",
    )
    kept = loop.fire("H1", "note", pathway.Actor("x", "a"), at=at(1))
    assert kept.team == "a"


def test_data_in_guard_checks_the_value(loop: pathway.Engine) -> None:
    """data_in refuses a missing or unlisted value and names the allowed ones."""
    loop.open_case("H2", pathway.Actor("x", "a"), at=at(0))
    actor = pathway.Actor("x", "a")
    assert loop.check("H2", "go", actor).reasons == (
        "required data missing: route (one of: gp, self)",
    )
    assert loop.check("H2", "go", actor, data={"route": "post"}).reasons == (
        "route is 'post', not one of: gp, self",
    )
    moved = loop.fire("H2", "go", actor, at=at(1), data={"route": "gp"})
    assert (moved.state, moved.team, moved.organisation) == ("working", "b", "trust")


def test_keep_holder_leaves_the_case_with_its_team(loop: pathway.Engine) -> None:
    """holder: keep means the team that holds the case keeps it, whoever acts."""
    loop.open_case("H3", pathway.Actor("x", "a"), at=at(0))
    loop.fire("H3", "go", pathway.Actor("x", "a"), at=at(1), data={"route": "self"})
    done = loop.fire("H3", "finish", pathway.Actor("z", "a"), at=at(2))
    assert (done.state, done.team, done.is_closed) == ("done", "b", True)


def test_a_return_with_nothing_to_return_to_is_a_definition_error(tmp_path: Path) -> None:
    """A return from a state no offer or interruption leads into is refused at load time."""
    path = tmp_path / "bad.yaml"
    path.write_text(LOOP + "  - {trigger: undo, sources: [working], return: true}\n")
    with pytest.raises(pathway.DefinitionError) as info:
        pathway.load_pathway(path)
    (problem,) = info.value.problems
    assert problem.pointer == "/transitions/3/return"
    assert "nothing to return to" in problem.message
