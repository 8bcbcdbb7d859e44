"""The amhp plug-in: MHA assessment sub-steps, their guards, outcomes, observer and CLI use."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import care_pathway_amhp
import pytest

import pathway

PLUGIN_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = PLUGIN_ROOT / "samples" / "amhp-sample.yaml"
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

CMHT = pathway.Actor("w-cmht-01", "cmht")
LETS = pathway.Actor("w-lets-01", "lets")
HUB = pathway.Actor("w-hub-01", "hub")
AMHP = pathway.Actor("w-amhp-01", "amhp", roles=("amhp",))
TRAINEE = pathway.Actor("w-amhp-09", "amhp")
IET = pathway.Actor("w-iet-01", "iet")


class Case:
    """One case on the pathway with the plug-in, fired at one-hour steps."""

    def __init__(self, compiled: pathway.Pathway) -> None:
        self.engine = pathway.Engine(compiled, pathway.open_store(":memory:"))
        self.at = START
        self.engine.open_case("C1", HUB, at=self.at)

    def fire(self, trigger: str, actor: pathway.Actor, **data: object) -> pathway.Case:
        self.at += timedelta(hours=1)
        return self.engine.fire("C1", trigger, actor, at=self.at, data=data or None)

    def refused(self, trigger: str, actor: pathway.Actor, **data: object) -> list[str]:
        self.at += timedelta(hours=1)
        with pytest.raises(pathway.TransitionRefused) as info:
            self.engine.fire("C1", trigger, actor, at=self.at, data=data or None)
        return list(info.value.reasons)

    def to_specialist_support(self) -> pathway.Case:
        self.fire("gp_refer", HUB)
        self.fire("offer_choice_appointment", HUB)
        self.fire("accept_handoff", LETS)
        self.fire("book_choice_meeting", LETS)
        self.fire("offer_specialist_support", LETS, enablement_plan="one-page plan")
        return self.fire("accept_handoff", CMHT)

    def to_interview(self) -> pathway.Case:
        self.to_specialist_support()
        self.fire("start_mha_assessment", AMHP)
        self.fire("record_request", AMHP, assessment_requested_by="CMHT care coordinator")
        self.fire("gather_information", AMHP)
        self.fire("consult_nearest_relative", AMHP, nearest_relative_consulted="sister, by phone")
        return self.fire("interview", AMHP)


@pytest.fixture(scope="module")
def compiled() -> pathway.Pathway:
    """The default pathway with the amhp plug-in."""
    return pathway.load_pathway("barnet-enablement", plugins=[care_pathway_amhp])


@pytest.fixture
def case(compiled: pathway.Pathway) -> Case:
    return Case(compiled)


def test_fragment_adds_four_sourced_sub_steps_held_by_amhp(compiled: pathway.Pathway) -> None:
    """The four sub-steps exist, are held by the AMHP service and each cites its source."""
    for step in ("request", "gather_information", "nearest_relative_consulted", "interview"):
        state = compiled.states[f"mha_assessment.{step}"]
        assert state.holder == "amhp"
        assert "MHA" in state.description or "Code of Practice" in state.description
    assert compiled.plugins == (pathway.plugins.PluginInfo("care_pathway_amhp", "0.1.0"),)
    assert care_pathway_amhp.pathway_fragment("some_other_pathway") is None


def test_steps_in_order_then_section_3_offers_hospital_and_s117(case: Case) -> None:
    """Request, information, nearest relative, interview, s3; the IET accepts; s117 may follow."""
    after = case.to_interview()
    assert (after.state, after.team) == ("mha_assessment.interview", "amhp")
    after = case.fire("detain_section_3", AMHP, section_3_start="2026-06-01")
    assert (after.state, after.team) == ("offered_hospital_social_work", "amhp")
    after = case.fire("accept_handoff", IET)
    assert (after.state, after.team) == ("hospital_social_work", "iet")
    after = case.fire("offer_s117_aftercare", IET)
    assert after.state == "offered_s117_aftercare"
    assert after.attributes["section_3_start"] == "2026-06-01"


def test_the_sub_steps_are_inside_the_interruption(compiled: pathway.Pathway) -> None:
    """Entered only from the assessment, the sub-steps are inside it like the assessment itself."""
    bare = pathway.load_pathway("barnet-enablement")
    assert compiled.interruption_states - bare.interruption_states == {
        "mha_assessment.request", "mha_assessment.gather_information",
        "mha_assessment.nearest_relative_consulted", "mha_assessment.interview",
    }  # fmt: skip


def test_an_admission_from_the_interview_accepted_leaves_nothing_to_go_back_to(case: Case) -> None:
    """Accepted by the IET, the admission ends the assessment for good: the CMHT's specialist
    support (where the assessment began) is no longer on the return stack."""
    case.to_interview()
    offered = case.fire("detain_section_2", AMHP, section_2_start="2026-06-01")
    assert [p.state for p in offered.return_stack] == [
        "specialist_support",
        "mha_assessment.interview",
    ]
    assert case.fire("accept_handoff", IET).return_stack == ()


def test_steps_cannot_be_skipped(case: Case) -> None:
    """The interview cannot come before the nearest relative step: no such transition."""
    case.to_specialist_support()
    case.fire("start_mha_assessment", AMHP)
    case.fire("record_request", AMHP, assessment_requested_by="GP")
    decision = case.engine.check("C1", "interview", AMHP, at=case.at + timedelta(hours=1))
    assert not decision.allowed


def test_no_detention_from_interview_returns_to_where_assessment_began(case: Case) -> None:
    """No detention after the interview gives the case back to the CMHT's specialist support."""
    case.to_interview()
    after = case.fire("no_detention", AMHP)
    assert (after.state, after.team) == ("specialist_support", "cmht")
    assert after.return_stack == ()


def test_only_an_amhp_records_the_outcome(case: Case) -> None:
    """A worker of the AMHP service without the role, and a CMHT worker, are refused, with reasons."""
    case.to_interview()
    assert case.refused("detain_section_2", TRAINEE, section_2_start="2026-06-01") == [
        "w-amhp-09 is not an approved mental health professional: only an AMHP may take this "
        "step of a Mental Health Act assessment (roles held: none)"
    ]
    cmht_with_role = pathway.Actor("w-cmht-02", "cmht", roles=("amhp",))
    assert case.refused("no_detention", cmht_with_role) == [
        "team cmht may not perform mh_act_assessment: the task matrix allows amhp"
    ]
    after = case.fire("detain_section_2", AMHP, section_2_start="2026-06-01")
    assert after.state == "offered_hospital_social_work"


def test_nearest_relative_consultation_or_reason_is_required(case: Case) -> None:
    """Consulting the nearest relative needs the consultation or a reason it was not practicable."""
    case.to_specialist_support()
    case.fire("start_mha_assessment", AMHP)
    case.fire("record_request", AMHP, assessment_requested_by="police (s136)")
    case.fire("gather_information", AMHP)
    assert case.refused("consult_nearest_relative", AMHP) == [
        "required data missing with this step: nearest_relative_consulted, or "
        "nearest_relative_not_practicable with the reason (MHA s11(4))"
    ]
    after = case.fire(
        "consult_nearest_relative", AMHP, nearest_relative_not_practicable="no known relative"
    )
    assert after.state == "mha_assessment.nearest_relative_consulted"


def test_detention_needs_a_real_start_date_given_with_the_step(case: Case) -> None:
    """A missing, malformed or future start date is refused; a date given earlier does not count."""
    case.to_interview()
    assert case.refused("detain_section_3", AMHP) == [
        "required data missing with this step: section_3_start"
    ]
    assert case.refused("detain_section_3", AMHP, section_3_start="soon") == [
        "section_3_start is 'soon', not a date (YYYY-MM-DD)"
    ]
    assert case.refused("detain_section_3", AMHP, section_3_start="2026-07-01") == [
        "section_3_start 2026-07-01 is after this step (2026-06-01)"
    ]


def test_safeguarding_inside_the_assessment_returns_to_the_sub_step(case: Case) -> None:
    """A concern raised mid-assessment returns to the sub-step; no detention then returns to CMHT."""
    case.to_specialist_support()
    case.fire("start_mha_assessment", AMHP)
    case.fire("record_request", AMHP, assessment_requested_by="GP")
    case.fire("gather_information", AMHP)
    during = case.fire("raise_safeguarding", CMHT)
    assert (during.state, during.team) == ("safeguarding", "amhp")  # raised by anyone; kept
    assert [p.state for p in during.return_stack] == [
        "specialist_support",
        "mha_assessment.gather_information",
    ]
    back = case.fire("conclude_safeguarding", CMHT, safeguarding_outcome="no enquiry needed")
    assert (back.state, back.team) == ("mha_assessment.gather_information", "amhp")
    case.fire("consult_nearest_relative", AMHP, nearest_relative_consulted="mother")
    case.fire("interview", AMHP)
    after = case.fire("no_detention", AMHP)
    assert (after.state, after.team, after.return_stack) == ("specialist_support", "cmht", ())


def test_observer_logs_s117_eligibility_on_section_3(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    """Recording a section 3 detention logs that section 117 aftercare will be owed."""
    case.to_interview()
    with caplog.at_level(logging.INFO, logger="care_pathway_amhp"):
        case.fire("detain_section_3", AMHP, section_3_start="2026-06-01")
    assert [r.getMessage() for r in caplog.records if r.name == "care_pathway_amhp"] == [
        "case C1: detained under section 3 from 2026-06-01; eligible for section 117 aftercare "
        "on discharge (offer_s117_aftercare)"
    ]
    assert case.engine.observer_failures == []


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PLUGIN_ROOT)}
    env.pop("PATHWAY_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_walk_plays_the_sample_to_its_end(tmp_path: Path) -> None:
    """`pathway walk` plays the plug-in's sample case, loading the plug-in by module name."""
    done = _run("walk", str(SAMPLE), "--no-pause", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "End: s117_aftercare, held by cmht (behmt)" in done.stdout
    assert "expected" not in done.stdout.splitlines()[-1]


def test_validate_accepts_a_definition_naming_the_plugin(tmp_path: Path) -> None:
    """`pathway validate` accepts a definition whose plugins list names the plug-in."""
    base = Path(pathway.__file__).parent / "definitions" / "barnet-enablement.yaml"
    definition = tmp_path / "with-amhp.yaml"
    definition.write_text(
        base.read_text().replace('version: "1"', 'version: "1"\nplugins: [care_pathway_amhp]', 1)
    )
    done = _run("validate", str(definition), cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert pathway.load_pathway(definition).plugins[0].name == "care_pathway_amhp"
