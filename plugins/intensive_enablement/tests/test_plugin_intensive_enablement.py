"""The intensive_enablement plug-in: audit sub-steps in order, its guards, the move_on report."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import care_pathway_intensive_enablement as plugin
import pytest

import pathway
from pathway.reports.scope import Scope

PLUGIN_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = PLUGIN_ROOT / "samples" / "intensive_enablement-sample.yaml"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

HUB = pathway.Actor("w-hub", "hub")
LETS = pathway.Actor("w-lets", "lets")
IET = pathway.Actor("w-iet", "iet")
NETWORK = pathway.Actor("w-net", "network")
AMHP = pathway.Actor("w-amhp", "amhp", roles=("amhp",))
PLAN = {
    "move_on_plan": "a tenancy of their own",
    "milestones": ["housing_register", "budgeting_course", "tenancy_signed"],
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def days(self, n: float) -> None:
        self.now += timedelta(days=n)


@pytest.fixture
def loaded() -> pathway.Pathway:
    return pathway.load_pathway("barnet-enablement", plugins=[plugin])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(loaded: pathway.Pathway, clock: Clock) -> pathway.Engine:
    return pathway.Engine(loaded, pathway.open_store(":memory:"), clock=clock)


def to_iet(
    engine: pathway.Engine,
    clock: Clock,
    case_id: str,
    care_type: str = "residential",
    **data: object,
) -> None:
    """Open a case and bring it into intensive enablement through a choice meeting, with an open
    placement of ``care_type`` (or of ``placement_type`` when given) recorded first."""
    engine.open_case(case_id, HUB)
    engine.fire(case_id, "refer_via_hub", HUB)
    engine.fire(case_id, "offer_choice_appointment", HUB)
    engine.fire(case_id, "accept_handoff", LETS)
    engine.fire(case_id, "book_choice_meeting", LETS)
    kind = str(data.get("placement_type", care_type))
    engine.fire(case_id, "placement_start", LETS, data={
        "placement_id": f"{case_id}-P", "care_type": kind, "weekly_cost": "887.00",
        "start_date": "2024-01-01", "council_pct": 100, "agreed_by": "lbb",
        "care_act_assessment_date": "2023-12-01", "eligibility_date": "2023-12-05",
        "health_screen_date": "2023-12-04", "chc_checklist": "negative",
    })  # fmt: skip
    engine.fire(
        case_id,
        "offer_intensive_enablement",
        LETS,
        data={"enablement_plan": "plan", **data},
    )
    engine.fire(case_id, "accept_handoff", IET)


def reasons(
    engine: pathway.Engine, case_id: str, trigger: str, actor: pathway.Actor, **data: object
) -> list[str]:
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire(case_id, trigger, actor, data=data)
    return list(info.value.reasons)


def test_plugin_loads_with_its_version_states_guards_and_report(loaded: pathway.Pathway) -> None:
    """Loading adds the three sub-steps, four guards and the move_on report, and versions the pathway."""
    assert [i.name for i in loaded.plugins] == ["care_pathway_intensive_enablement"]
    assert loaded.version == f"1+care_pathway_intensive_enablement-{plugin.__version__}"
    for state in plugin.SUB_STEPS:
        assert loaded.states[state].holder == "iet"
    assert "move_on" in loaded.reports
    assert plugin.pathway_fragment("some_other_pathway") is None


def test_sub_steps_go_in_order_to_move_on(engine: pathway.Engine, clock: Clock) -> None:
    """Audit, potential, milestones, each milestone, then move_on to Network Plus."""
    to_iet(engine, clock, "C1")
    data = {"placement_type": "residential", "placement_start": "2023-05-01"}
    assert engine.fire("C1", "start_placement_audit", IET, data=data).state == (
        "intensive_enablement.placement_audit"
    )
    # Out of order: milestones cannot be set before the move-on potential is assessed.
    with pytest.raises(pathway.TransitionRefused):
        engine.fire("C1", "set_move_on_milestones", IET, data=PLAN)
    case = engine.fire(
        "C1",
        "assess_move_on_potential",
        IET,
        data={"audit_findings": "stable", "move_on_potential": "medium"},
    )
    assert case.state == "intensive_enablement.move_on_potential"
    case = engine.fire("C1", "set_move_on_milestones", IET, data=PLAN)
    entered = case.state_entered_at
    clock.days(10)
    case = engine.fire("C1", "record_milestone", IET, data={"milestone": "housing_register"})
    assert case.state == "intensive_enablement.move_on_plan"
    assert case.state_entered_at == entered  # a self-transition keeps the step's clock
    case = engine.fire("C1", "move_on", IET)
    assert (case.state, case.team) == ("offered_to_network", "iet")
    case = engine.fire("C1", "decline_handoff", NETWORK, data={"decline_reason": "no capacity"})
    assert (case.state, case.team) == ("intensive_enablement.move_on_plan", "iet")
    engine.fire("C1", "move_on", IET)
    assert engine.fire("C1", "accept_handoff", NETWORK).state == "standard_enablement"


def test_placement_type_and_start_are_checked(engine: pathway.Engine, clock: Clock) -> None:
    """start_placement_audit needs a known placement type and a past placement start date."""
    to_iet(engine, clock, "C1", care_type="supported_living")
    assert reasons(engine, "C1", "start_placement_audit", IET) == [
        "required data missing: placement_type (one of: residential, nursing, supported_living)"
    ]
    assert reasons(engine, "C1", "start_placement_audit", IET, placement_type="residential") == [
        "the case has no open residential placement recorded by a placement step (open "
        "placements: C1-P (supported_living)); record it with placement_start"
    ]
    assert reasons(
        engine,
        "C1",
        "start_placement_audit",
        IET,
        placement_type="hostel",
        placement_start="2030-01-01",
    ) == [
        "placement_type is 'hostel', not one of: residential, nursing, supported_living",
        "placement_start 2030-01-01 is in the future",
    ]
    assert reasons(
        engine,
        "C1",
        "start_placement_audit",
        IET,
        placement_type="supported_living",
        placement_start="last May",
    ) == ["placement_start 'last May' is not a date (YYYY-MM-DD)"]
    assert reasons(
        engine, "C1", "start_placement_audit", LETS, placement_type="supported_living"
    ) == ["team lets may not perform move_on_and_residential_review: the task matrix allows iet"]
    case = engine.fire(
        "C1", "start_placement_audit", IET, data={"placement_type": "supported_living"}
    )
    assert case.state == "intensive_enablement.placement_audit"


def test_move_on_potential_and_milestone_guards(engine: pathway.Engine, clock: Clock) -> None:
    """data_in on move_on_potential, no plan with potential none, milestones a list, milestones in plan."""
    to_iet(engine, clock, "C1", placement_type="residential")
    engine.fire("C1", "start_placement_audit", IET)
    assert reasons(engine, "C1", "assess_move_on_potential", IET, move_on_potential="maybe") == [
        "required data missing with this step: audit_findings",
        "move_on_potential is 'maybe', not one of: high, medium, low, none",
    ]
    engine.fire(
        "C1",
        "assess_move_on_potential",
        IET,
        data={"audit_findings": "f", "move_on_potential": "none"},
    )
    assert reasons(engine, "C1", "set_move_on_milestones", IET, **PLAN) == [
        "move-on potential is none: end the audit (end_placement_audit) instead of planning a move-on"
    ]
    assert engine.fire("C1", "end_placement_audit", IET).state == "intensive_enablement"
    engine.fire("C1", "start_placement_audit", IET)
    engine.fire(
        "C1",
        "assess_move_on_potential",
        IET,
        data={"audit_findings": "f", "move_on_potential": "low"},
    )
    assert reasons(
        engine, "C1", "set_move_on_milestones", IET, move_on_plan="p", milestones=["a", "b", "a"]
    ) == ["milestones are listed twice: a"]
    assert reasons(
        engine, "C1", "set_move_on_milestones", IET, move_on_plan="p", milestones="a"
    ) == ["milestones must be a non-empty list of milestone names"]
    engine.fire("C1", "set_move_on_milestones", IET, data=PLAN)
    assert reasons(engine, "C1", "record_milestone", IET, milestone="job") == [
        "milestone 'job' is not in the move-on plan (milestones: housing_register, budgeting_course, tenancy_signed)"
    ]
    assert reasons(engine, "C1", "record_milestone", IET) == [
        "say which milestone is achieved (milestone) with this step"
    ]
    assert reasons(engine, "C1", "end_placement_audit", IET) == [
        "required data missing with this step: plan_stopped_reason"
    ]
    case = engine.fire("C1", "end_placement_audit", IET, data={"plan_stopped_reason": "relapse"})
    assert case.state == "intensive_enablement"


def test_amhp_assessment_from_a_sub_step_returns_to_it(
    engine: pathway.Engine, clock: Clock
) -> None:
    """An AMHP may assess during the audit; no detention brings the case back to the audit step."""
    to_iet(engine, clock, "C1", placement_type="residential")
    engine.fire("C1", "start_placement_audit", IET)
    assert engine.fire("C1", "start_mha_assessment", AMHP).state == "mha_assessment"
    case = engine.fire("C1", "no_detention", AMHP)
    assert (case.state, case.team) == ("intensive_enablement.placement_audit", "iet")


def test_move_on_report_counts_people_by_stage_and_time_in_placement(
    engine: pathway.Engine, clock: Clock, loaded: pathway.Pathway
) -> None:
    """Hand-made cases: stages, placement types, days in placement (dated or from IET entry)."""
    to_iet(engine, clock, "A")  # in intensive enablement, never audited
    to_iet(engine, clock, "B", placement_type="supported_living", placement_start="2025-01-05")
    engine.fire("B", "start_placement_audit", IET)
    engine.fire(
        "B",
        "assess_move_on_potential",
        IET,
        data={"audit_findings": "f", "move_on_potential": "high"},
    )
    engine.fire("B", "set_move_on_milestones", IET, data=PLAN)
    engine.fire("B", "record_milestone", IET, data={"milestone": "housing_register"})
    engine.fire("B", "record_milestone", IET, data={"milestone": "budgeting_course"})
    to_iet(engine, clock, "C", placement_type="residential")
    engine.fire("C", "start_placement_audit", IET)
    engine.fire(
        "C",
        "assess_move_on_potential",
        IET,
        data={"audit_findings": "f", "move_on_potential": "none"},
    )
    engine.fire("C", "end_placement_audit", IET)
    to_iet(engine, clock, "D", placement_type="residential")  # moved on before as-of
    engine.fire("D", "start_placement_audit", IET)
    engine.fire(
        "D",
        "assess_move_on_potential",
        IET,
        data={"audit_findings": "f", "move_on_potential": "low"},
    )
    engine.fire("D", "set_move_on_milestones", IET, data=PLAN)
    engine.fire("D", "move_on", IET)
    engine.fire("D", "accept_handoff", NETWORK)
    engine.open_case("E", HUB)  # not in a placement at all
    clock.days(100)
    as_of = clock.now
    clock.days(1)
    engine.fire(
        "A", "start_placement_audit", IET, data={"placement_type": "residential"}
    )  # after as-of

    result = (
        loaded.reports["move_on"].function(engine.store.connection, Scope(as_of), loaded).to_json()
    )
    assert result["report"] == "move_on"
    assert result["as_of"] == as_of.isoformat(timespec="microseconds")
    people = {p["case_id"]: p for p in result["people"]}
    assert sorted(people) == ["A", "B", "C"]
    assert people["A"]["stage"] == "awaiting_audit"
    assert people["A"]["days_in_placement"] is None
    assert people["A"]["days"] == people["A"]["days_in_intensive_enablement"] == 100.0
    assert people["B"]["stage"] == "move_on_plan"
    assert people["B"]["days_in_placement"] == round(
        (as_of - datetime(2025, 1, 5, tzinfo=UTC)).total_seconds() / 86400, 1
    )
    assert (people["B"]["milestones_planned"], people["B"]["milestones_achieved"]) == (3, 2)
    assert (people["C"]["stage"], people["C"]["move_on_potential"]) == ("audited_staying", "none")
    stages = {s["stage"]: s for s in result["by_stage"]}
    assert stages["move_on_plan"]["supported_living"] == 1
    assert stages["audited_staying"]["residential"] == 1
    assert stages["awaiting_audit"]["average_days"] == 100.0
    assert result["people_in_placement"] == 3
    assert result["move_on_offers"] == 1
    assert result["milestones_achieved"] == 2
    # Narrowed to another team, nobody is in the list.
    other = loaded.reports["move_on"].function(
        engine.store.connection, Scope(as_of, team="lets"), loaded
    )
    assert other.to_json()["people"] == []


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
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


def test_walk_plays_the_sample_as_scripted(tmp_path: Path) -> None:
    """`pathway walk` plays the plug-in's sample case to its end, every refusal as scripted."""
    done = run("walk", str(SAMPLE), "--no-pause", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "End: standard_enablement, held by network (lbb)" in done.stdout
    assert "NOT AS SCRIPTED" not in done.stdout
    checked = run("validate", str(SAMPLE), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_validate_a_definition_naming_the_plugin(tmp_path: Path) -> None:
    """A definition with `plugins: [care_pathway_intensive_enablement]` validates and uses the sub-steps."""
    base = Path(pathway.__file__).parent / "definitions" / "barnet-enablement.yaml"
    text = base.read_text().replace(
        'version: "1"', 'version: "1"\nplugins: [care_pathway_intensive_enablement]', 1
    )
    definition = tmp_path / "with-iet-audit.yaml"
    definition.write_text(text)
    done = run("validate", str(definition), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = pathway.load_pathway(definition)
    assert "intensive_enablement.move_on_plan" in loaded.states
