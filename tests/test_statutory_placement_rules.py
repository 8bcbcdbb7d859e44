"""Issue 15, placements and who pays: each statutory rule of the default pathway, allowed and
refused with the reason a practitioner reads, and the funding report's scrutiny row for each.

Rules (docs/pathway.md, "Placements, funding and reviews: statutory duties"): NHS-funded nursing
care in a nursing home (Care Act s22(3)); the continuing healthcare checklist outcome; urgent
needs before an eligibility decision (Care Act s19(3)); section 117 aftercare is never charged
and follows a detention under s3, 37, 45A, 47 or 48 (MHA 1983 s117); every placement goes
through the placement steps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from placement_helpers import ELIGIBLE, LETS, T0, small_pathway, start_data

import pathway
from pathway.errors import DefinitionError, InvalidRequest
from pathway.reports import Scope, funding_report
from pathway.validation import load_schema

HUB = pathway.Actor("w-hub-01", "hub")


@pytest.fixture
def barnet(tmp_path: Path) -> pathway.Engine:
    engine = pathway.Engine(
        pathway.load_pathway("barnet-enablement"), pathway.open_store(tmp_path / "b.db")
    )
    engine.open_case("C1", HUB, at=T0)
    return engine


def start(**overrides: Any) -> dict[str, Any]:
    return start_data(agreed_by="lbb", **overrides)


def reasons(engine: pathway.Engine, trigger: str, data: dict[str, Any]) -> tuple[str, ...]:
    """The failing reasons of a check (empty: allowed)."""
    decision = engine.check("C1", trigger, HUB, at=T0, data=data)
    return tuple(c.reason for c in decision.checks if not c.passed)


def passing(engine: pathway.Engine, trigger: str, data: dict[str, Any], guard: str) -> str:
    decision = engine.check("C1", trigger, HUB, at=T0, data=data)
    assert decision.allowed, decision.reasons
    return next(c.reason for c in decision.checks if c.guard == guard)


# --- nursing: FNC and Care Act s22(3) ----------------------------------------------------------


def test_council_funded_nursing_without_an_nhs_share_is_refused(barnet: pathway.Engine) -> None:
    assert reasons(barnet, "placement_start", start(care_type="nursing", **ELIGIBLE)) == (
        "nursing placement P1 is charged to the council with no NHS share: the NHS pays for "
        "registered nursing care in a nursing home (NHS-funded nursing care, FNC), or all of it "
        "under continuing healthcare, and a council may not provide nursing care by a registered "
        "nurse (Care Act s22(3)); record the NHS share (nhs_pct)",
    )


def test_nursing_with_fnc_or_all_nhs_is_allowed(barnet: pathway.Engine) -> None:
    fnc = start(care_type="nursing", council_pct="66.22", nhs_pct="33.78", **ELIGIBLE)
    assert passing(barnet, "placement_start", fnc, "nursing_nhs_share") == (
        "nursing placement P1: the NHS pays 33.78 percent (FNC or continuing healthcare)"
    )
    chc = start(care_type="nursing", council_pct=0, nhs_pct=100)
    assert barnet.check("C1", "placement_start", HUB, at=T0, data=chc).allowed
    # Residential care has no registered nursing: the rule does not apply.
    assert not reasons(barnet, "placement_start", start(**ELIGIBLE))


def test_a_change_to_all_council_nursing_is_refused(barnet: pathway.Engine) -> None:
    barnet.fire("C1", "placement_start", HUB, at=T0,
                data=start(care_type="nursing", council_pct=70, nhs_pct=30, **ELIGIBLE))  # fmt: skip
    change = {"placement_id": "P1", "effective_date": "2026-02-01", "council_pct": 100,
              "nhs_pct": 0, "reason": "FNC stopped"}  # fmt: skip
    assert any("no NHS share" in r for r in reasons(barnet, "placement_change", change))


# --- the continuing healthcare checklist --------------------------------------------------------


def test_the_checklist_outcome_is_required(barnet: pathway.Engine) -> None:
    data = start(**{**ELIGIBLE, "chc_checklist": None})
    assert reasons(barnet, "placement_start", data) == (
        "placement P1 is council-funded but the outcome of the continuing healthcare checklist "
        "of 2025-12-15 is not recorded: required data missing: chc_checklist (negative, "
        "positive, pending)",
    )


@pytest.mark.parametrize(
    ("outcome", "owed"),
    [
        ("positive", "a full NHS continuing healthcare assessment is owed"),
        ("pending", "its outcome is not yet known"),
    ],
)
def test_positive_or_pending_is_allowed_for_scrutiny(
    barnet: pathway.Engine, outcome: str, owed: str
) -> None:
    data = start(**{**ELIGIBLE, "chc_checklist": outcome})
    assert passing(barnet, "placement_start", data, "health_screen") == (
        f"placement P1: the continuing healthcare checklist of 2025-12-15 is {outcome} ({owed}); "
        "council funding is listed for scrutiny as a possible health need"
    )


def test_a_definition_can_refuse_a_positive_checklist(tmp_path: Path) -> None:
    source = (
        resources.files("pathway.definitions").joinpath("barnet-enablement.yaml").read_text("utf-8")
    )
    strict = source.replace(
        "      - health_screen\n", "      - {guard: health_screen, params: {refuse: [positive]}}\n"
    )
    assert strict != source
    path = tmp_path / "strict.yaml"
    path.write_text(strict, encoding="utf-8")
    engine = pathway.Engine(pathway.load_pathway(path), pathway.open_store(tmp_path / "s.db"))
    engine.open_case("C1", HUB, at=T0)
    assert reasons(
        engine, "placement_start", start(**{**ELIGIBLE, "chc_checklist": "positive"})
    ) == (
        "placement P1: the continuing healthcare checklist of 2025-12-15 is positive (a full NHS "
        "continuing healthcare assessment is owed), and this pathway does not let the council "
        "fund a placement until the NHS has decided: the NHS funds the whole package of a person "
        "eligible for continuing healthcare",
    )
    assert not reasons(engine, "placement_start", start(**{**ELIGIBLE, "chc_checklist": "pending"}))
    bad = strict.replace("refuse: [positive]", "refuse: [negative]")
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(DefinitionError):
        pathway.load_pathway(path)


def test_an_unknown_checklist_outcome_is_one_clear_error(barnet: pathway.Engine) -> None:
    with pytest.raises(InvalidRequest, match="chc_checklist 'maybe' is not one of negative, "):
        barnet.fire("C1", "placement_start", HUB, at=T0,
                    data=start(**{**ELIGIBLE, "chc_checklist": "maybe"}))  # fmt: skip


# --- Care Act s19(3): urgent needs ---------------------------------------------------------------

URGENT_SCREEN = {"health_screen_date": "2025-12-15", "chc_checklist": "negative"}


def test_no_eligibility_and_no_urgent_reason_is_refused(barnet: pathway.Engine) -> None:
    assert reasons(barnet, "placement_start", start(**URGENT_SCREEN)) == (
        "placement P1 is council-funded but the case has no Care Act eligibility determination: "
        "required data missing (dates): care_act_assessment_date, eligibility_date",
    )


def test_urgent_needs_before_the_decision_are_allowed_with_the_reason(
    barnet: pathway.Engine,
) -> None:
    data = start(urgent_reason="carer admitted to hospital tonight", **URGENT_SCREEN)
    assert passing(barnet, "placement_start", data, "care_act_eligibility") == (
        "placement P1 meets urgent needs before an eligibility decision (Care Act s19(3): carer "
        "admitted to hospital tonight); it stays on the funding report's scrutiny list until the "
        "decision (eligibility_date) is recorded on the placement"
    )
    barnet.fire("C1", "placement_start", HUB, at=T0, data=data)
    # The decision, recorded on the placement, is a change (nothing else changes).
    decided = {"placement_id": "P1", "effective_date": "2026-01-20",
               "care_act_assessment_date": "2026-01-16", "eligibility_date": "2026-01-20"}  # fmt: skip
    case = barnet.fire("C1", "placement_change", HUB, at=T0, data=decided)
    assert case.attributes["placements"]["P1"]["eligibility_date"] == "2026-01-20"


def test_urgent_reason_belongs_to_the_start(barnet: pathway.Engine) -> None:
    barnet.fire("C1", "placement_start", HUB, at=T0,
                data=start(urgent_reason="no one at home", **URGENT_SCREEN))  # fmt: skip
    with pytest.raises(InvalidRequest, match="urgent_reason is given when a placement starts"):
        barnet.fire("C1", "placement_change", HUB, at=T0,
                    data={"placement_id": "P1", "effective_date": "2026-01-02",
                          "urgent_reason": "still urgent", "weekly_cost": "710"})  # fmt: skip


# --- section 117 --------------------------------------------------------------------------------


def test_no_charge_to_a_person_entitled_to_s117_whatever_the_flag(barnet: pathway.Engine) -> None:
    """A s37 hospital order is evidence; a placement not marked s117 may not charge the person."""
    data = start(council_pct=70, person_pct=30, section_37_start="2025-06-01", **ELIGIBLE)
    assert reasons(barnet, "placement_start", data) == (
        "placement P1 charges the person 30 percent, but the person is entitled to section 117 "
        "aftercare, which is never charged for, whether or not the placement is marked s117 (a "
        "joint s117_end_decision ends the entitlement)",
    )
    free = start(section_37_start="2025-06-01", **ELIGIBLE)
    assert passing(barnet, "placement_start", free, "s117_free") == (
        "placement P1 charges nothing to the person, who is entitled to section 117 aftercare"
    )
    ended = {**data, "s117_end_decision": "joint ICB and council decision of 2025-11-30"}
    assert not reasons(barnet, "placement_start", ended)


def test_section_2_alone_gives_no_s117(barnet: pathway.Engine) -> None:
    data = start(council_pct=70, person_pct=30, section_2_start="2025-06-01", **ELIGIBLE)
    assert not reasons(barnet, "placement_start", data)
    s117 = start(s117=True, council_pct=50, nhs_pct=50, section_2_start="2025-06-01")
    assert reasons(barnet, "placement_start", s117)[0].startswith(
        "placement P1 is section 117 aftercare but the person's section 117 eligibility is not "
        "recorded"
    )


@pytest.mark.parametrize(
    "field",
    ["section_3_start", "section_37_start", "section_45a_start", "section_47_start",
     "section_48_start", "s117_eligibility_date"],
)  # fmt: skip
def test_an_s117_placement_cannot_begin_before_the_section(
    barnet: pathway.Engine, field: str
) -> None:
    early = start(s117=True, council_pct=50, nhs_pct=50, **{field: "2026-01-02"})
    assert reasons(barnet, "placement_start", early) == (
        f"placement P1 is section 117 aftercare from 2026-01-01, before the section began "
        f"({field} 2026-01-02): aftercare follows detention (Mental Health Act 1983 s117)",
    )
    on_time = start(s117=True, council_pct=50, nhs_pct=50, **{field: "2026-01-01"})
    assert passing(barnet, "placement_start", on_time, "s117_eligible") == (
        f"placement P1: section 117 eligibility recorded ({field})"
    )


# --- every placement through the placement steps -------------------------------------------------


def _to_hospital_social_work(engine: pathway.Engine) -> pathway.Actor:
    amhp = pathway.Actor("w-amhp-01", "amhp", roles=("amhp",))
    iet = pathway.Actor("w-iet-01", "iet")
    engine.fire("C1", "start_mha_assessment", amhp, at=T0)
    engine.fire("C1", "detain_section_2", amhp, at=T0, data={"section_2_start": "2025-12-01"})
    engine.fire("C1", "accept_handoff", iet, at=T0)
    return iet


def test_discharge_to_placement_is_a_placement_step(barnet: pathway.Engine) -> None:
    iet = _to_hospital_social_work(barnet)
    with pytest.raises(InvalidRequest, match="discharge_to_placement: placement_id is required"):
        barnet.fire("C1", "discharge_to_placement", iet, at=T0,
                    data={"placement": "a care home"})  # fmt: skip
    home = start(care_type="home_care", **ELIGIBLE)
    refused = barnet.check("C1", "discharge_to_placement", iet, at=T0, data=home)
    assert refused.reasons == (
        "placement P1 is home_care, not one of: residential, nursing, supported_living",
    )
    case = barnet.fire("C1", "discharge_to_placement", iet, at=T0,
                       data=start(care_type="supported_living", weekly_cost="457", **ELIGIBLE))  # fmt: skip
    assert case.state == "intensive_enablement"
    assert case.attributes["placements"]["P1"]["weekly_cost"] == "457.00"
    period = barnet.store.connection.execute(
        "SELECT care_type, weekly_pence FROM placement_periods"
    ).fetchall()
    assert period == [("supported_living", 45700)]


def test_discharge_to_placement_has_the_funding_guards(barnet: pathway.Engine) -> None:
    iet = _to_hospital_social_work(barnet)
    refused = barnet.check("C1", "discharge_to_placement", iet, at=T0, data=start())
    assert refused.reasons[0].startswith(
        "placement P1 is council-funded but the case has no Care Act eligibility determination"
    )


def test_intensive_enablement_needs_an_open_placement(barnet: pathway.Engine) -> None:
    lets = pathway.Actor("w-lets-01", "lets")
    barnet.fire("C1", "refer_via_hub", HUB, at=T0)
    barnet.fire("C1", "offer_choice_appointment", HUB, at=T0)
    barnet.fire("C1", "accept_handoff", lets, at=T0)
    barnet.fire("C1", "book_choice_meeting", lets, at=T0)
    plan = {"enablement_plan": "one-page plan", "placement": "a care home"}
    refused = barnet.check("C1", "offer_intensive_enablement", lets, at=T0, data=plan)
    assert refused.reasons == (
        "the case has no open placement of care type residential, nursing, supported_living: "
        "record it first with placement_start (care type, provider, weekly cost, funding split, "
        "panel)",
    )
    barnet.fire("C1", "placement_start", lets, at=T0, data=start(**ELIGIBLE))
    allowed = barnet.check("C1", "offer_intensive_enablement", lets, at=T0, data=plan)
    assert allowed.allowed
    assert "the case has open placement P1 (residential, since 2026-01-01)" in [
        c.reason for c in allowed.checks
    ]


# --- the funding report's scrutiny rows ------------------------------------------------------------


def test_each_new_rule_has_its_scrutiny_row(tmp_path: Path) -> None:
    """On the small pathway (no guards, as an import would be): £700 a week for the week of 1-7
    January 2026 is £700.00; the person's 30 percent of it £210.00."""
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(tmp_path / "f.db"))
    for case in ("C1", "C2", "C3", "C4", "C5", "C6"):
        engine.open_case(case, LETS, at=T0)
    ok = {"eligibility_date": "2025-12-20", "health_screen_date": "2025-12-21"}

    def go(case: str, **data: Any) -> None:
        engine.fire(case, "placement_start", LETS, at=T0, data=start_data(**data))

    go(
        "C1",
        placement_id="URGENT",
        urgent_reason="carer in hospital",
        health_screen_date="2025-12-21",
    )
    go("C2", placement_id="CHC", chc_checklist="pending", **ok)
    go("C3", placement_id="NURSING", care_type="nursing", **ok)
    go(
        "C4",
        placement_id="CHARGED",
        council_pct=70,
        person_pct=30,
        section_3_start="2025-11-01",
        **ok,
    )
    go("C5", placement_id="ENDED", council_pct=70, person_pct=30, section_3_start="2025-11-01",
       s117_end_decision="joint decision", **ok)  # fmt: skip
    go("C6", placement_id="NEGATIVE", chc_checklist="negative", care_type="nursing",
       council_pct=80, nhs_pct=20, **ok)  # fmt: skip
    scope = Scope(
        as_of=datetime(2026, 12, 31, tzinfo=UTC),
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 7, tzinfo=UTC),
    )
    data = funding_report(engine.store.connection, scope).to_json()
    jsonschema.validate(data, load_schema("report_funding"))
    found = [(i["placement_id"], i["rule"], i["amount"]) for i in data["scrutiny"]]
    assert found == [
        ("URGENT", "urgent_pending_eligibility", "700.00"),
        ("CHC", "chc_checklist_positive_or_pending", "700.00"),
        ("NURSING", "nursing_without_nhs", "700.00"),
        ("CHARGED", "charged_to_s117_eligible_person", "210.00"),
    ]
    explained = {i["rule"]: i["explanation"] for i in data["scrutiny"]}
    assert explained["charged_to_s117_eligible_person"] == (
        "charged to a person entitled to section 117 aftercare, which is never charged for: the "
        "person pays 210.00 in the period"
    )
    assert explained["urgent_pending_eligibility"] == (
        "council-funded to meet urgent needs before an eligibility decision (Care Act s19(3)), "
        "the decision not yet recorded on the placement: the council pays 700.00 in the period"
    )
