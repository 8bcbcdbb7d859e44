"""The funding guards, as the default pathway switches them on: each one's pass and refusal.

Refusals are audited like any other: a refused event with every failing reason, and no period.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from placement_helpers import ELIGIBLE, LETS, SMALL, T0, period_rows, small_pathway, start_data

import pathway

HUB = pathway.Actor("w-hub-01", "hub")
CMHT = pathway.Actor("w-cmht-01", "cmht")


@pytest.fixture
def barnet(tmp_path: Path) -> pathway.Engine:
    """The default pathway on a fresh store, with case C1 opened (held by the hub)."""
    engine = pathway.Engine(
        pathway.load_pathway("barnet-enablement"), pathway.open_store(tmp_path / "b.db")
    )
    engine.open_case("C1", HUB, at=T0)
    return engine


def start(**overrides: Any) -> dict[str, Any]:
    return start_data(agreed_by="lbb", **overrides)


def refused(engine: pathway.Engine, trigger: str, data: dict[str, Any]) -> tuple[str, ...]:
    """Fire and expect a refusal; check it was audited and wrote no period. Returns the reasons."""
    rows = period_rows(engine.store, current_only=False)
    with pytest.raises(pathway.TransitionRefused) as raised:
        engine.fire("C1", trigger, HUB, at=T0, data=data)
    event = engine.store.history("C1")[-1]
    assert (event.trigger, event.outcome, event.reasons) == (
        trigger,
        "refused",
        raised.value.reasons,
    )
    assert period_rows(engine.store, current_only=False) == rows
    return raised.value.reasons


def test_council_funding_without_eligibility_or_screen_is_refused_for_both(
    barnet: pathway.Engine,
) -> None:
    """No assessment, no eligibility determination, no health screen: two reasons, audited."""
    reasons = refused(barnet, "placement_start", start())
    assert reasons == (
        "placement P1 is council-funded but the case has no Care Act eligibility determination: "
        "required data missing (dates): care_act_assessment_date, eligibility_date",
        "placement P1 is council-funded but no health needs screen is recorded: required data "
        "missing (date): health_screen_date",
    )


def test_council_funding_with_eligibility_and_screen_passes(barnet: pathway.Engine) -> None:
    """Given with the step (or recorded on the case before), the determination lets it through."""
    decision = barnet.check("C1", "placement_start", HUB, at=T0, data=start(**ELIGIBLE))
    assert decision.allowed
    checks = {c.guard: c.reason for c in decision.checks}
    assert checks["care_act_eligibility"] == (
        "placement P1 is council-funded on a Care Act eligibility determination of 2025-12-12"
    )
    assert checks["health_screen"] == (
        "placement P1: health needs screened on 2025-12-15, continuing healthcare checklist negative"
    )
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(**ELIGIBLE))
    assert barnet.store.case("C1").attributes["eligibility_date"] == "2025-12-12"
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(placement_id="P2"))  # on the case


def test_a_determination_or_screen_after_the_council_pays_is_refused(
    barnet: pathway.Engine,
) -> None:
    """Eligibility determined, or health screened, after the council's funding begins: refused."""
    late = {**ELIGIBLE, "eligibility_date": "2026-01-02", "health_screen_date": "2026-01-03"}
    assert refused(barnet, "placement_start", start(**late)) == (
        "placement P1: eligibility was determined on 2026-01-02, after the council's funding "
        "begins on 2026-01-01",
        "placement P1: the health needs screen of 2026-01-03 comes after the council's funding "
        "begins on 2026-01-01",
    )


def test_nhs_funding_needs_no_care_act_determination(barnet: pathway.Engine) -> None:
    """A placement the NHS pays for in full passes both council guards without any determination."""
    case = barnet.fire(
        "C1", "placement_start", HUB, at=T0, data=start(council_pct=None, nhs_pct=100)
    )
    assert case.attributes["placements"]["P1"]["nhs_pct"] == "100"


def test_section_117_needs_eligibility_and_is_free(barnet: pathway.Engine) -> None:
    """A s117 placement: refused without s117 eligibility and when charging the person."""
    s117 = start(s117=True, council_pct=50, nhs_pct=40, person_pct=10)
    assert refused(barnet, "placement_start", s117) == (
        "placement P1 is section 117 aftercare but the person's section 117 eligibility is not "
        "recorded: required data missing (one of): s117_eligibility_date, section_3_start, "
        "section_37_start, section_45a_start, section_47_start, section_48_start",
        "placement P1 is section 117 aftercare, which is free, but charges the person 10 percent",
    )
    free = start(s117="yes", council_pct=50, nhs_pct=50, s117_eligibility_date="2025-12-20")
    case = barnet.fire("C1", "placement_start", HUB, at=T0, data=free)
    assert case.attributes["placements"]["P1"]["s117"] is True
    # No Care Act determination was needed: s117 aftercare does not rest on it.
    assert "eligibility_date" not in case.attributes


def test_section_3_start_is_evidence_of_s117_eligibility_on_the_default_pathway(
    barnet: pathway.Engine,
) -> None:
    """The default pathway takes the section 3 start it already records as s117 evidence."""
    data = start(s117=True, council_pct=50, nhs_pct=50, section_3_start="2025-09-01")
    decision = barnet.check("C1", "placement_start", HUB, at=T0, data=data)
    reasons = {c.guard: c.reason for c in decision.checks}
    assert decision.allowed
    assert (
        reasons["s117_eligible"]
        == "placement P1: section 117 eligibility recorded (section_3_start)"
    )


def test_a_change_of_who_pays_needs_its_reason(barnet: pathway.Engine) -> None:
    """Council to NHS (continuing healthcare) is refused without a reason, applied with one."""
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(**ELIGIBLE))
    chc = {"placement_id": "P1", "effective_date": "2026-02-01", "council_pct": 0, "nhs_pct": 100}
    assert refused(barnet, "placement_change", chc) == (
        "the funding of placement P1 changes, so the reason must be given with this step: "
        "required data missing: reason",
    )
    barnet.fire("C1", "placement_change", HUB, at=T0, data={**chc, "reason": "NHS CHC eligible"})
    assert period_rows(barnet.store)[-1] == ("P1", 70000, 0, 10000, 0, "2026-02-01", None)


def test_a_change_of_cost_alone_needs_no_reason(barnet: pathway.Engine) -> None:
    """A new weekly cost with the same split passes funding_change_reason without a reason."""
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(**ELIGIBLE))
    decision = barnet.check(
        "C1", "placement_change", HUB, at=T0,
        data={"placement_id": "P1", "effective_date": "2026-03-01", "weekly_cost": "735.00"},
    )  # fmt: skip
    assert decision.allowed
    assert {c.guard: c.reason for c in decision.checks}["funding_change_reason"] == (
        "the funding of placement P1 does not change"
    )


def test_moving_funding_to_the_council_needs_a_determination_before_it(
    barnet: pathway.Engine,
) -> None:
    """NHS-funded, then the council takes over: its determination must precede that date."""
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(council_pct=None, nhs_pct=100))
    to_council = {
        "placement_id": "P1", "effective_date": "2026-03-01", "council_pct": 100, "nhs_pct": 0,
        "reason": "CHC review: no longer eligible", **ELIGIBLE, "eligibility_date": "2026-03-05",
    }  # fmt: skip
    assert refused(barnet, "placement_change", to_council) == (
        "placement P1: eligibility was determined on 2026-03-05, after the council's funding "
        "begins on 2026-03-01",
    )
    barnet.fire(
        "C1", "placement_change", HUB, at=T0, data={**to_council, "eligibility_date": "2026-02-20"}
    )


def test_only_the_holding_team_records_placements(barnet: pathway.Engine) -> None:
    """The default pathway lets the team holding the case record its placements, no other."""
    with pytest.raises(pathway.TransitionRefused) as raised:
        barnet.fire("C1", "placement_start", CMHT, at=T0, data=start(**ELIGIBLE))
    assert raised.value.reasons == (
        "only hub, the team that holds the case, may do this (the actor is in cmht)",
    )


def test_ending_a_placement_needs_no_funding_checks(barnet: pathway.Engine) -> None:
    """placement_end only needs the holding team."""
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(**ELIGIBLE))
    case = barnet.fire(
        "C1", "placement_end", HUB, at=T0 + timedelta(days=1),
        data={"placement_id": "P1", "end_date": "2026-01-31"},
    )  # fmt: skip
    assert case.attributes["placements"]["P1"]["end_date"] == "2026-01-31"


def test_a_case_with_an_open_placement_is_not_closed_until_the_placement_ends(
    barnet: pathway.Engine,
) -> None:
    """Closed with its placement open, the case would go on counting as spend: the closure is
    refused (and audited) naming the placement; once it has ended, the case closes."""
    barnet.fire("C1", "placement_start", HUB, at=T0, data=start(**ELIGIBLE))
    with pytest.raises(pathway.TransitionRefused) as raised:
        barnet.fire("C1", "close", HUB, at=T0 + timedelta(days=1), data={"closure_reason": "x"})
    assert raised.value.reasons == (
        "the case still has open placements, which would go on counting as spend after it "
        "closes: P1 (residential, since 2026-01-01); end them first",
    )
    assert barnet.store.history("C1")[-1].outcome == "refused"
    barnet.fire(
        "C1", "placement_end", HUB, at=T0 + timedelta(days=2),
        data={"placement_id": "P1", "end_date": "2026-01-31"},
    )  # fmt: skip
    closed = barnet.fire(
        "C1", "close", HUB, at=T0 + timedelta(days=3), data={"closure_reason": "moved away"}
    )
    assert closed.state == "closed"


def test_a_pathway_without_the_guards_records_any_placement(tmp_path: Path) -> None:
    """The guards are a council's choice: without them, council funding needs no determination."""
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(tmp_path / "s.db"))
    engine.open_case("C1", LETS, at=T0)
    engine.fire("C1", "placement_start", LETS, at=T0, data=start_data(s117=True, person_pct=10,
                                                                      council_pct=90))  # fmt: skip
    assert period_rows(engine.store) == [("P1", 70000, 9000, 0, 1000, "2026-01-01", None)]


def test_funding_guards_on_a_step_that_is_not_a_placement_pass(tmp_path: Path) -> None:
    """A funding guard named on an ordinary step has nothing to check, and says so."""
    text = SMALL.replace(
        "{trigger: offer, sources: [open], dest: offered, handoff: true}",
        "{trigger: offer, sources: [open], dest: offered, handoff: true, guards: "
        "[care_act_eligibility, health_screen, s117_eligible, s117_free, funding_change_reason]}",
    )
    engine = pathway.Engine(small_pathway(tmp_path, text), pathway.open_store(tmp_path / "s.db"))
    engine.open_case("C1", LETS, at=T0)
    decision = engine.check("C1", "offer", LETS, at=T0)
    assert decision.allowed and len(decision.checks) == 5
    assert {c.reason for c in decision.checks} == {
        "not a placement step, so there is no placement to check"
    }
