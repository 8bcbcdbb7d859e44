"""The network_plus plug-in: modules, support plan outcomes, the top-up, the network_outcomes report."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import care_pathway_network_plus as plugin
import pytest

import pathway
from pathway.reports.scope import Scope

PLUGIN_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = PLUGIN_ROOT / "samples" / "network_plus-sample.yaml"
START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)

HUB = pathway.Actor("w-hub", "hub")
LETS = pathway.Actor("w-lets", "lets")
NETWORK = pathway.Actor("w-net", "network")
CMHT = pathway.Actor("w-cmht", "cmht")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def days(self, n: float) -> datetime:
        self.now += timedelta(days=n)
        return self.now


@pytest.fixture
def loaded() -> pathway.Pathway:
    return pathway.load_pathway("barnet-enablement", plugins=[plugin])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(loaded: pathway.Pathway, clock: Clock) -> pathway.Engine:
    return pathway.Engine(loaded, pathway.open_store(":memory:"), clock=clock)


def to_network(engine: pathway.Engine, case_id: str) -> pathway.Case:
    """Open a case and bring it into standard enablement with the Network."""
    engine.open_case(case_id, HUB)
    engine.fire(case_id, "self_refer", HUB)
    engine.fire(case_id, "offer_choice_appointment", HUB)
    engine.fire(case_id, "accept_handoff", LETS)
    engine.fire(case_id, "book_choice_meeting", LETS)
    engine.fire(case_id, "offer_standard_enablement", LETS, data={"enablement_plan": "plan"})
    return engine.fire(case_id, "accept_handoff", NETWORK)


def reasons(
    engine: pathway.Engine, case_id: str, trigger: str, actor: pathway.Actor, **data: object
) -> list[str]:
    with pytest.raises(pathway.TransitionRefused) as info:
        engine.fire(case_id, trigger, actor, data=data)
    return list(info.value.reasons)


def test_plugin_loads_with_its_version_guards_and_report(loaded: pathway.Pathway) -> None:
    """Loading adds the three triggers, two guards and the report, and versions the pathway."""
    assert loaded.version == f"1+care_pathway_network_plus-{plugin.__version__}"
    triggers = {t.trigger for t in loaded.transitions}
    assert {
        "complete_module",
        "complete_enablement_programme",
        "start_network_plus_top_up",
    } <= triggers
    assert "network_outcomes" in loaded.reports
    assert plugin.pathway_fragment("minimal") is None


def test_modules_are_recorded_as_self_transitions_keeping_the_clock(
    engine: pathway.Engine, clock: Clock
) -> None:
    """complete_module keeps the case in standard_enablement with its clock and holder."""
    entered = to_network(engine, "C1").state_entered_at
    clock.days(20)
    case = engine.fire("C1", "complete_module", NETWORK, data={"module": "wrap"})
    assert (case.state, case.team) == ("standard_enablement", "network")
    assert case.state_entered_at == entered
    case2 = engine.fire("C1", "complete_module", NETWORK, data={"module": "new_steps"})
    assert case2.state_entered_at == case.state_entered_at
    assert case2.attributes["module"] == "new_steps"


def test_module_guards_refuse_with_reasons(engine: pathway.Engine) -> None:
    """Unknown module, no module given this time, another team: each refused with its reason."""
    to_network(engine, "C1")
    assert reasons(engine, "C1", "complete_module", NETWORK, module="gardening") == [
        "module is 'gardening', not one of: wrap, new_steps, skills_in_action"
    ]
    engine.fire("C1", "complete_module", NETWORK, data={"module": "wrap"})
    assert reasons(engine, "C1", "complete_module", NETWORK) == [
        "required data missing with this step: module"
    ]
    refused = reasons(engine, "C1", "complete_module", CMHT, module="wrap")
    assert (
        "team cmht may not perform brief_enablement_programme: the task matrix allows lets, network"
        in refused
    )
    assert len(refused) == 2  # and the holding_team guard


def test_outcomes_guard(engine: pathway.Engine) -> None:
    """Outcomes must be whole numbers given with the step, planned >= 1, achieved <= planned."""
    to_network(engine, "C1")
    assert reasons(engine, "C1", "complete_enablement_programme", NETWORK) == [
        "outcomes_planned is not given with this step; outcomes_achieved is not given with this step"
    ]
    assert reasons(
        engine,
        "C1",
        "complete_enablement_programme",
        NETWORK,
        outcomes_planned=3,
        outcomes_achieved=4,
    ) == ["outcomes_achieved (4) is more than outcomes_planned (3)"]
    assert reasons(
        engine,
        "C1",
        "complete_enablement_programme",
        NETWORK,
        outcomes_planned=0,
        outcomes_achieved="2",
    ) == [
        "outcomes_planned must be a whole number of at least 1, not 0; outcomes_achieved must be a whole number, not '2'"
    ]
    case = engine.fire(
        "C1",
        "complete_enablement_programme",
        NETWORK,
        data={"outcomes_planned": 3, "outcomes_achieved": 3},
    )
    assert case.state == "standard_enablement"


def test_top_up_needs_the_programme_completed_and_a_reason(engine: pathway.Engine) -> None:
    """start_network_plus_top_up is refused before the outcomes are recorded or without a reason."""
    to_network(engine, "C1")
    assert reasons(engine, "C1", "start_network_plus_top_up", NETWORK, top_up_reason="setback") == [
        "the enablement programme is not completed: record its support plan outcomes (complete_enablement_programme) before a top-up (BEP 7.3.1)"
    ]
    engine.fire(
        "C1",
        "complete_enablement_programme",
        NETWORK,
        data={"outcomes_planned": 4, "outcomes_achieved": 2},
    )
    assert reasons(engine, "C1", "start_network_plus_top_up", NETWORK) == [
        "required data missing with this step: top_up_reason"
    ]
    case = engine.fire(
        "C1", "start_network_plus_top_up", NETWORK, data={"top_up_reason": "setback"}
    )
    assert (case.state, case.team) == ("top_up", "network")
    assert engine.fire("C1", "complete_standard_enablement", NETWORK).state == "closed"


def test_network_outcomes_report_on_hand_made_cases(
    engine: pathway.Engine, clock: Clock, loaded: pathway.Pathway
) -> None:
    """Percent of outcomes achieved against 80%, modules by type, top-ups, in the period only."""
    to_network(engine, "A")
    to_network(engine, "B")
    to_network(engine, "C")
    early = clock.days(1)
    engine.fire(
        "C", "complete_module", NETWORK, data={"module": "skills_in_action"}
    )  # before the period
    engine.fire(
        "C",
        "complete_enablement_programme",
        NETWORK,
        data={"outcomes_planned": 10, "outcomes_achieved": 0},
    )
    since = clock.days(1)
    engine.fire("A", "complete_module", NETWORK, data={"module": "wrap"})
    engine.fire("A", "complete_module", NETWORK, data={"module": "new_steps"})
    engine.fire("B", "complete_module", NETWORK, data={"module": "wrap"})
    engine.fire(
        "A",
        "complete_enablement_programme",
        NETWORK,
        data={"outcomes_planned": 5, "outcomes_achieved": 4},
    )
    engine.fire(
        "B",
        "complete_enablement_programme",
        NETWORK,
        data={"outcomes_planned": 5, "outcomes_achieved": 3},
    )
    engine.fire("A", "start_network_plus_top_up", NETWORK, data={"top_up_reason": "refresher"})
    engine.fire("B", "start_top_up", NETWORK)  # the base pathway's unguarded trigger still counts
    as_of = clock.days(1)
    clock.days(1)
    engine.fire("C", "complete_module", NETWORK, data={"module": "wrap"})  # after as-of

    report = loaded.reports["network_outcomes"].function
    result = report(engine.store.connection, Scope(as_of, since=since), loaded).to_json()
    assert result["report"] == "network_outcomes"
    assert result["since"] == since.isoformat(timespec="microseconds")
    assert (
        result["programmes_completed"],
        result["outcomes_planned"],
        result["outcomes_achieved"],
    ) == (2, 10, 7)
    assert result["percent_achieved"] == 70.0
    assert result["target_percent"] == 80.0
    assert result["target_met"] is False
    assert result["modules"] == [
        {"module": "wrap", "completed": 2, "people": 2},
        {"module": "new_steps", "completed": 1, "people": 1},
        {"module": "skills_in_action", "completed": 0, "people": 0},
    ]
    assert result["modules_completed"] == 3
    assert result["top_ups_started"] == 2

    everything = report(engine.store.connection, Scope(as_of), loaded).to_json()
    assert (everything["outcomes_planned"], everything["outcomes_achieved"]) == (20, 7)
    assert everything["percent_achieved"] == 35.0
    assert everything["modules"][2]["completed"] == 1
    assert early < since

    nobody = report(engine.store.connection, Scope(as_of, team="lets"), loaded).to_json()
    assert (nobody["programmes_completed"], nobody["percent_achieved"], nobody["target_met"]) == (
        0,
        None,
        None,
    )


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
    assert "End: closed, held by network (lbb)" in done.stdout
    assert "NOT AS SCRIPTED" not in done.stdout
    checked = run("validate", str(SAMPLE), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_validate_a_definition_naming_the_plugin(tmp_path: Path) -> None:
    """A definition with `plugins: [care_pathway_network_plus]` validates and has the new triggers."""
    base = Path(pathway.__file__).parent / "definitions" / "barnet-enablement.yaml"
    text = base.read_text().replace(
        'version: "1"', 'version: "1"\nplugins: [care_pathway_network_plus]', 1
    )
    definition = tmp_path / "with-network-plus.yaml"
    definition.write_text(text)
    done = run("validate", str(definition), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "network_outcomes" in pathway.load_pathway(definition).reports
