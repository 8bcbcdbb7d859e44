"""Each built-in guard passing and refusing, with the reasons a person reads."""

from __future__ import annotations

import pytest
from conftest import AMHP, CMHT, HUB, LETS, FakeClock

import pathway


def _to_choice_appointment(engine: pathway.Engine, case_id: str = "C1") -> None:
    engine.open_case(case_id, HUB)
    engine.fire(case_id, "book_choice_appointment", LETS)


def test_team_may_perform_passes_for_a_team_in_the_task_matrix(engine: pathway.Engine) -> None:
    """lets may do brief enablement: the automatic task-matrix guard passes and says why."""
    _to_choice_appointment(engine)
    decision = engine.check("C1", "start_enablement", LETS, data={"enablement_plan": "p"})
    assert decision.allowed
    check = next(c for c in decision.checks if c.guard == "team_may_perform")
    assert check.passed
    assert "team lets may perform brief_enablement" in check.reason


def test_team_may_perform_refuses_a_team_outside_the_task_matrix(engine: pathway.Engine) -> None:
    """cmht may not do brief enablement: refused, naming the teams the matrix allows."""
    _to_choice_appointment(engine)
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire("C1", "start_enablement", CMHT, data={"enablement_plan": "p"})
    assert info.value.reasons == (
        "team cmht may not perform brief_enablement: the task matrix allows lets",
    )


def test_has_role_passes_and_refuses(engine: pathway.Engine) -> None:
    """Only an actor holding the amhp role may request an MHA assessment."""
    engine.open_case("C1", HUB)
    refused = engine.check("C1", "request_mha_assessment", pathway.Actor("w9", "amhp"))
    assert not refused.allowed
    assert refused.reasons == ("w9 does not hold the amhp role (roles held: none)",)
    allowed = engine.check("C1", "request_mha_assessment", AMHP)
    assert allowed.allowed
    assert any(c.guard == "has_role" and c.passed for c in allowed.checks)


def test_data_present_refuses_until_the_plan_is_given(engine: pathway.Engine) -> None:
    """Enablement needs an enablement plan, given with the call or already on the case."""
    _to_choice_appointment(engine)
    assert engine.check("C1", "start_enablement", LETS).reasons == (
        "required data missing: enablement_plan",
    )
    assert not engine.check("C1", "start_enablement", LETS, data={"enablement_plan": "  "}).allowed
    case = engine.fire("C1", "start_enablement", LETS, data={"enablement_plan": "one page"})
    assert case.state == "brief_enablement"
    assert case.attributes["enablement_plan"] == "one page"


def test_within_time_limit_passes_then_refuses_after_six_weeks(
    engine: pathway.Engine, clock: FakeClock
) -> None:
    """Brief enablement has a 42-day limit: day 42 passes, day 43 is refused."""
    _to_choice_appointment(engine)
    engine.fire("C1", "start_enablement", LETS, data={"enablement_plan": "p"})
    clock.advance(days=42)
    ok = engine.check("C1", "complete_enablement", LETS)
    assert ok.allowed
    assert "42 days in brief_enablement, within 42" in ok.checks[-1].reason
    clock.advance(days=1)
    late = engine.check("C1", "complete_enablement", LETS)
    assert late.reasons == ("43 days in brief_enablement, over its limit of 42 days",)


def test_receiving_team_guard_lets_only_the_receiving_team_decide(engine: pathway.Engine) -> None:
    """An offer to the CMHT is accepted or declined by the CMHT, not by the offering team."""
    _to_choice_appointment(engine)
    offered = engine.fire("C1", "refer_to_cmht", LETS)
    assert (offered.state, offered.team) == ("cmht_offered", "lets")  # the sender still holds it
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire("C1", "accept_handoff", LETS)
    assert info.value.reasons == (
        "team lets may not perform specialist_support: the task matrix allows cmht",
        "only cmht, the team the case is offered to, may accept or decline it (the actor is in lets)",
    )
    accepted = engine.fire("C1", "accept_handoff", CMHT)
    assert (accepted.state, accepted.team, accepted.organisation) == (
        "specialist_support",
        "cmht",
        "trust",
    )


def test_declined_handoff_returns_the_case_to_the_sender(engine: pathway.Engine) -> None:
    """A declined offer goes back to the state and team it came from: never without a holder."""
    _to_choice_appointment(engine)
    engine.fire("C1", "refer_to_cmht", LETS)
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire("C1", "decline_handoff", CMHT)
    assert info.value.reasons == ("required data missing with this step: decline_reason",)
    back = engine.fire("C1", "decline_handoff", CMHT, data={"decline_reason": "not SMI"})
    assert (back.state, back.team) == ("choice_appointment", "lets")


def test_every_failing_reason_is_given(engine: pathway.Engine) -> None:
    """A refusal lists every failing guard, not just the first."""
    _to_choice_appointment(engine)
    decision = engine.check("C1", "start_enablement", CMHT)
    assert decision.reasons == (
        "team cmht may not perform brief_enablement: the task matrix allows lets",
        "required data missing: enablement_plan",
    )


def test_registry_refuses_a_second_guard_of_the_same_name() -> None:
    """Registering a guard name twice is an error, not a silent replacement."""
    registry = pathway.BUILTIN_GUARDS.copy()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry["has_role"])
