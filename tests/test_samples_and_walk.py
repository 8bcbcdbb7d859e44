"""Sample cases: loading with clear errors, replay, and the trainer's walk on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pathway
from pathway.samples import load_sample, play, sample_pathway

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "minimal-handoff.yaml"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sample_replays_with_refusals_exactly_where_scripted() -> None:
    """Every step goes as scripted and the case ends where the script says."""
    sample = load_sample(SAMPLE)
    engine = pathway.Engine(sample_pathway(sample), pathway.open_store(":memory:"))
    outcomes = list(play(engine, sample))
    assert [o.as_scripted for o in outcomes] == [True] * 6
    assert [o.applied for o in outcomes] == [True, True, False, True, True, True]
    final = engine.store.case(sample.id)
    assert (final.state, final.team) == (sample.end_state, sample.end_team)
    assert outcomes[-1].holdings[0].team == "hub" and outcomes[-1].holdings[0].days == 1.0
    assert outcomes[-1].holdings[1].days == 6.0


def test_a_sample_with_a_wrong_expectation_is_reported_not_as_scripted(tmp_path: Path) -> None:
    """If a step is refused for other reasons than scripted, as_scripted is False."""
    text = SAMPLE.read_text().replace("required data missing: enablement_plan", "something else")
    path = DATA / "tmp-wrong.yaml"
    try:
        path.write_text(text)
        sample = load_sample(path)
        engine = pathway.Engine(sample_pathway(sample), pathway.open_store(":memory:"))
        flags = [o.as_scripted for o in play(engine, sample)]
    finally:
        path.unlink()
    assert flags[2] is False


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("trigger: open", "trigger: book_choice_appointment"),
            "/steps/0/trigger: the first step must be `open`",
        ),
        (
            ('when: "2026-01-12T09:00"', 'when: "2025-01-12T09:00"'),
            "/steps/5/when: steps must be in time order",
        ),
        (
            ('when: "2026-01-06T09:00"', 'when: "tomorrow"'),
            "/steps/1/when: 'tomorrow' is not an ISO 8601",
        ),
        (("learning_point:", "lesson:"), "'learning_point' is a required property"),
    ],
)
def test_bad_sample_files_name_the_place(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    """A broken sample gives a DefinitionError naming file, line and pointer."""
    path = tmp_path / "bad.yaml"
    path.write_text(SAMPLE.read_text().replace(*edit, 1))
    with pytest.raises(pathway.DefinitionError) as info:
        load_sample(path)
    assert any(message in str(p) for p in info.value.problems), [
        str(p) for p in info.value.problems
    ]
    assert all(p.line for p in info.value.problems)


def test_walk_no_pause_explains_every_step() -> None:
    """walk --no-pause prints each step: who, trigger, before -> after, guards, holding."""
    done = run("walk", str(SAMPLE), "--no-pause")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Learning point: A declined offer goes back" in out
    assert "Step 3 of 6 · 2026-01-07 09:00 · w-cmht (cmht) fires start_enablement" in out
    assert "guard   [FAIL] team_may_perform: team cmht may not perform brief_enablement" in out
    assert "result  REFUSED (as scripted)" in out
    assert "state   cmht_offered -> choice_appointment" in out
    assert "held    hub 1.0 day, lets 6.0 days" in out
    assert out.rstrip().endswith("End: brief_enablement, held by lets (council)")


def test_walk_pauses_for_enter() -> None:
    """Without --no-pause the walk waits for Enter between steps (driven through stdin)."""
    done = run("walk", str(SAMPLE), stdin="\n" * 5)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("[Enter for the next step]") == 5


def test_walk_interactive_lets_the_trainee_choose_and_explains_the_rest() -> None:
    """--interactive lists allowed triggers and why others are not; choices are fired."""
    # Step 2: Enter (scripted). Step 3: choose 1 = start_enablement as cmht, refused as scripted
    # (not allowed choices are explained and asked again). Then 'q' stops.
    done = run("walk", str(SAMPLE), "--interactive", stdin="\n\nq\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "What should w-lets (lets) do now?" in out
    assert "1. book_choice_appointment -> choice_appointment" in out
    assert "not allowed: team lets may not perform mha_assessment" in out
    assert "Step 3 of 6" in out and "REFUSED (as scripted)" in out
    assert "Stopped." in out
    assert "Step 4 of 6" not in out


def test_walk_interactive_choosing_another_trigger_fires_it() -> None:
    """A trainee who picks another allowed trigger sees it applied and the script's choice named."""
    # Steps 2-5 as scripted (Enter); at step 6 choose 2 = refer_to_cmht instead of start_enablement.
    done = run("walk", str(SAMPLE), "--interactive", stdin="\n\n\n\n2\n")
    assert done.returncode == 0, done.stderr
    assert "(The script fires start_enablement here; you chose refer_to_cmht.)" in done.stdout
    assert "state   choice_appointment -> cmht_offered" in done.stdout


def test_walk_of_an_unknown_sample_is_a_clear_error() -> None:
    """An unknown sample name lists the samples there are."""
    done = run("walk", "no-such-sample", "--no-pause")
    assert done.returncode == 2
    assert "no sample case of that name" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_accepts_the_shipped_pathway_and_every_sample() -> None:
    """`pathway validate` accepts the default pathway and plays every shipped sample as scripted."""
    root = Path(__file__).resolve().parent.parent
    samples = sorted(str(p) for p in (root / "sample_cases").glob("*.yaml"))
    done = run("validate", str(root / "pathway/definitions/barnet-enablement.yaml"), *samples)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("as scripted") == len(samples) >= 10


def test_validate_names_the_step_that_does_not_go_as_scripted(tmp_path: Path) -> None:
    """A sample whose refusal reasons are wrong is reported at that step's line."""
    text = SAMPLE.read_text().replace("required data missing: enablement_plan", "nope")
    (tmp_path / "pathway.yaml").write_text(
        (DATA.parent.parent / "docs/examples/minimal.yaml").read_text()
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("../../docs/examples/minimal.yaml", "pathway.yaml"))
    done = run("validate", str(bad))
    assert done.returncode == 1
    # The third step (line 9 of the file) is the scripted refusal.
    assert f"{bad}:9: /steps/2: refused for other reasons than scripted" in done.stderr
