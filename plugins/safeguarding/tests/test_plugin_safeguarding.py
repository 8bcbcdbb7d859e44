"""The safeguarding plug-in: section 42 steps inside the safeguarding interruption, and its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import care_pathway_safeguarding
import pytest

import pathway
from pathway.reports import Scope

PLUGIN_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = PLUGIN_ROOT / "samples" / "safeguarding-sample.yaml"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

HUB = pathway.Actor("w-hub-01", "hub")
LETS = pathway.Actor("w-lets-01", "lets")
NETWORK = pathway.Actor("w-net-01", "network")
CMHT = pathway.Actor("w-cmht-01", "cmht")


class Case:
    """One case on the pathway with the plug-in, fired at one-hour steps."""

    def __init__(self, engine: pathway.Engine, case_id: str = "C1", start: datetime = START):
        self.engine, self.id, self.at = engine, case_id, start
        engine.open_case(case_id, HUB, at=self.at)

    def fire(self, trigger: str, actor: pathway.Actor, **data: object) -> pathway.Case:
        self.at += timedelta(hours=1)
        return self.engine.fire(self.id, trigger, actor, at=self.at, data=data or None)

    def refused(self, trigger: str, actor: pathway.Actor, **data: object) -> list[str]:
        self.at += timedelta(hours=1)
        with pytest.raises(pathway.TransitionRefused) as info:
            self.engine.fire(self.id, trigger, actor, at=self.at, data=data or None)
        return list(info.value.reasons)

    def to_offer_to_network(self) -> pathway.Case:
        self.fire("gp_refer", HUB)
        self.fire("offer_choice_appointment", HUB)
        self.fire("accept_handoff", LETS)
        self.fire("book_choice_meeting", LETS)
        return self.fire("offer_standard_enablement", LETS, enablement_plan="one-page plan")

    def to_standard_enablement(self) -> pathway.Case:
        self.to_offer_to_network()
        return self.fire("accept_handoff", NETWORK)

    def full_enquiry(self, actor: pathway.Actor) -> pathway.Case:
        self.fire("raise_safeguarding", actor)
        self.fire("decide_s42", actor, s42_duty="yes")
        self.fire("start_enquiry", actor)
        self.fire("record_outcome", actor, safeguarding_outcome="risk removed")
        return self.fire("conclude_safeguarding", actor)


@pytest.fixture(scope="module")
def compiled() -> pathway.Pathway:
    """The default pathway with the safeguarding plug-in."""
    return pathway.load_pathway("barnet-enablement", plugins=[care_pathway_safeguarding])


@pytest.fixture
def engine(compiled: pathway.Pathway) -> pathway.Engine:
    return pathway.Engine(compiled, pathway.open_store(":memory:"))


@pytest.fixture
def case(engine: pathway.Engine) -> Case:
    return Case(engine)


def test_fragment_adds_sourced_states_and_tasks(compiled: pathway.Pathway) -> None:
    """Three sub-states citing the Care Act; the decision task is council-only, the enquiry's is Appendix A's."""
    for name in ("s42_decision", "enquiry", "outcome"):
        assert "Care Act 2014 s42" in compiled.states[f"safeguarding.{name}"].description
    assert compiled.tasks["s42_duty_decision"].teams == frozenset({"lets", "network"})
    assert compiled.tasks["s42_enquiry"].teams == compiled.tasks["safeguarding"].teams
    assert care_pathway_safeguarding.pathway_fragment("another_pathway") is None


def test_full_enquiry_returns_to_the_interrupted_support(case: Case) -> None:
    """Concern, s42 yes, enquiry, outcome, conclusion: back to Network Plus with the Network."""
    case.to_standard_enablement()
    case.fire("raise_safeguarding", NETWORK)
    assert case.fire("decide_s42", NETWORK, s42_duty="yes").state == "safeguarding.s42_decision"
    assert case.fire("start_enquiry", NETWORK).state == "safeguarding.enquiry"
    outcome = case.fire("record_outcome", NETWORK, safeguarding_outcome="risk reduced")
    assert (outcome.state, outcome.team) == ("safeguarding.outcome", "network")
    back = case.fire("conclude_safeguarding", NETWORK)
    assert (back.state, back.team, back.return_stack) == ("standard_enablement", "network", ())


def test_no_s42_duty_concludes_without_an_enquiry(case: Case) -> None:
    """With s42_duty no, no enquiry may start and the concern concludes from the decision."""
    case.to_standard_enablement()
    case.fire("raise_safeguarding", NETWORK)
    case.fire("decide_s42", NETWORK, s42_duty="no")
    assert case.refused("start_enquiry", NETWORK) == ["s42_duty is 'no', not one of: yes"]
    back = case.fire("conclude_safeguarding", NETWORK)
    assert (back.state, back.team) == ("standard_enablement", "network")


def test_guards_refuse_with_reasons(case: Case) -> None:
    """Missing or bad decisions, a trust team deciding, a missing outcome and an early conclusion are refused."""
    case.to_standard_enablement()
    case.fire("raise_safeguarding", NETWORK)
    assert case.refused("decide_s42", NETWORK) == [
        "required data missing with this step: s42_duty (yes or no)"
    ]
    assert case.refused("decide_s42", NETWORK, s42_duty="maybe") == [
        "s42_duty is 'maybe', not yes or no"
    ]
    assert case.refused("decide_s42", CMHT, s42_duty="yes") == [
        "team cmht may not perform s42_duty_decision: the task matrix allows lets, network"
    ]
    case.fire("decide_s42", NETWORK, s42_duty="yes")
    assert case.refused("conclude_safeguarding", NETWORK) == ["s42_duty is 'yes', not one of: no"]
    case.fire("start_enquiry", NETWORK)
    assert case.refused("record_outcome", NETWORK) == [
        "required data missing with this step: safeguarding_outcome"
    ]


def test_cmht_leads_the_enquiry_it_raised_after_a_council_decision(case: Case) -> None:
    """A CMHT concern stays with the CMHT while a council worker makes the s42 decision."""
    case.to_offer_to_network()
    case.fire("decline_handoff", NETWORK, decline_reason="needs specialist support")
    case.fire("offer_specialist_support", LETS)
    case.fire("accept_handoff", CMHT)
    case.fire("raise_safeguarding", CMHT)
    decided = case.fire("decide_s42", LETS, s42_duty="yes")
    assert (decided.state, decided.team) == ("safeguarding.s42_decision", "cmht")
    assert case.fire("start_enquiry", CMHT).team == "cmht"
    case.fire("record_outcome", LETS, safeguarding_outcome="protection plan agreed")
    back = case.fire("conclude_safeguarding", CMHT)
    assert (back.state, back.team) == ("specialist_support", "cmht")


def test_a_decision_from_an_earlier_concern_does_not_count(case: Case) -> None:
    """A second concern needs its own s42 decision and its own outcome."""
    case.to_standard_enablement()
    case.full_enquiry(NETWORK)
    case.fire("raise_safeguarding", NETWORK)
    assert case.refused("decide_s42", NETWORK) == [
        "required data missing with this step: s42_duty (yes or no)"
    ]


def test_a_concern_inside_an_enquiry_returns_to_the_enquiry(case: Case) -> None:
    """Nested: a second concern raised during an enquiry returns to it, then to enablement."""
    case.to_standard_enablement()
    case.fire("raise_safeguarding", NETWORK)
    case.fire("decide_s42", NETWORK, s42_duty="yes")
    case.fire("start_enquiry", NETWORK)
    inner = case.fire("raise_safeguarding", LETS)
    assert (inner.state, inner.team) == ("safeguarding", "network")  # raising keeps the holder
    decided = case.fire("decide_s42", LETS, s42_duty="no")
    assert (decided.state, decided.team) == ("safeguarding.s42_decision", "network")
    back = case.fire("conclude_safeguarding", LETS)
    assert (back.state, back.team) == ("safeguarding.enquiry", "network")
    case.fire("record_outcome", NETWORK, safeguarding_outcome="closed, no further risk")
    end = case.fire("conclude_safeguarding", NETWORK)
    assert (end.state, end.team, end.return_stack) == ("standard_enablement", "network", ())


def test_a_concern_during_a_pending_offer_returns_to_the_offer(case: Case) -> None:
    """Raised while an offer waits, the enquiry returns to the offer, which can still be accepted."""
    case.to_offer_to_network()
    case.full_enquiry(NETWORK)
    after = case.engine.store.case("C1")
    assert (after.state, after.team) == ("offered_to_network", "lets")
    assert case.fire("accept_handoff", NETWORK).state == "standard_enablement"


def test_report_counts_concerns_decisions_enquiries_and_outcomes(engine: pathway.Engine) -> None:
    """Three cases: an enquiry concluded, a no-duty decision, an enquiry still open at as-of."""
    done, no_duty, still_open = (
        Case(engine, f"C{n}", START + timedelta(days=n)) for n in (1, 2, 3)
    )
    for c in (done, no_duty, still_open):
        c.to_standard_enablement()
    done.full_enquiry(NETWORK)
    no_duty.fire("raise_safeguarding", LETS)
    no_duty.fire("decide_s42", LETS, s42_duty="no")
    no_duty.fire("conclude_safeguarding", LETS)
    still_open.fire("raise_safeguarding", NETWORK)
    still_open.fire("decide_s42", NETWORK, s42_duty="yes")
    still_open.fire("start_enquiry", NETWORK)
    conn = engine.store.connection
    as_of = START + timedelta(days=30)
    report = care_pathway_safeguarding.safeguarding_report(conn, Scope(as_of)).to_json()
    assert report == {
        "report": "safeguarding",
        "as_of": "2026-04-01T09:00:00.000000+00:00",
        "since": None,
        "until": None,
        "team": None,
        "concerns": 3,
        "s42_decisions": {"yes": 2, "no": 1},
        "enquiries_started": 2,
        "enquiries_open": 1,
        "outcomes": 1,
        "concluded": 2,
    }
    lets_only = care_pathway_safeguarding.safeguarding_report(conn, Scope(as_of, team="lets"))
    assert (lets_only.concerns, lets_only.s42_no, lets_only.enquiries_open) == (1, 1, 0)
    before = care_pathway_safeguarding.safeguarding_report(conn, Scope(START + timedelta(days=1)))
    assert (before.concerns, before.enquiries_open) == (0, 0)
    assert engine.pathway.reports["safeguarding"].function is (
        care_pathway_safeguarding.safeguarding_report
    )


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
    assert "End: standard_enablement, held by network (lbb)" in done.stdout
    assert "expected" not in done.stdout.splitlines()[-1]


def test_validate_and_report_with_a_definition_naming_the_plugin(tmp_path: Path) -> None:
    """`pathway validate` accepts the definition; `pathway report safeguarding` runs on a walked store."""
    base = Path(pathway.__file__).parent / "definitions" / "barnet-enablement.yaml"
    definition = tmp_path / "with-safeguarding.yaml"
    definition.write_text(
        base.read_text().replace(
            'version: "1"', 'version: "1"\nplugins: [care_pathway_safeguarding]', 1
        )
    )
    done = _run("validate", str(definition), cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    db = str(tmp_path / "walk.db")
    assert _run("walk", str(SAMPLE), "--no-pause", "--db", db, cwd=tmp_path).returncode == 0
    done = _run(
        "report", "safeguarding", "--db", db, "--pathway", str(definition),
        "--as-of", "2026-12-31", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["report"] == "safeguarding"
    assert (figures["concerns"], figures["s42_decisions"], figures["outcomes"]) == (
        2,
        {"yes": 1, "no": 1},
        1,
    )
    assert figures["enquiries_open"] == 0
