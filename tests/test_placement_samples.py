"""The placement sample cases teach what they say: each refusal, then the placement as agreed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pathway
from pathway.reports import Scope, funding_report
from pathway.samples import load_sample, play, sample_pathway


def played(name: str) -> tuple[pathway.Engine, list[tuple[str, bool, tuple[str, ...]]]]:
    sample = load_sample(name)
    engine = pathway.Engine(sample_pathway(sample), pathway.open_store(":memory:"))
    steps = [(o.step.trigger, o.applied, o.reasons) for o in play(engine, sample)]
    return engine, steps


def placement_steps(steps: list[tuple[str, bool, tuple[str, ...]]]) -> list[tuple[str, bool]]:
    return [(t, ok) for t, ok, _ in steps if t.startswith("placement_")]


def test_s14_refuses_council_funding_until_eligibility_is_decided() -> None:
    """The first placement_start is refused for eligibility and the health screen; the second goes."""
    engine, steps = played("s14-placement-refused-without-eligibility")
    assert placement_steps(steps) == [("placement_start", False), ("placement_start", True)]
    refused = next(r for t, ok, r in steps if t == "placement_start" and not ok)
    assert "no Care Act eligibility determination" in refused[0]
    assert "no health needs screen" in refused[1]
    report = funding_report(
        engine.store.connection,
        Scope(as_of=datetime(2026, 3, 8, tzinfo=UTC), since=datetime(2026, 3, 2, tzinfo=UTC)),
    )
    assert report.spend == "887.00" and report.scrutiny == ()  # one week from 2 March


def test_s15_section_117_is_never_charged_to_the_person() -> None:
    """Refused while charging the person 10 percent; applied half council, half NHS."""
    engine, steps = played("s15-section-117-aftercare-placement")
    assert placement_steps(steps) == [("placement_start", False), ("placement_start", True)]
    placement = engine.store.case("BEP-S15").attributes["placements"]["SL-2040"]
    assert (placement["s117"], placement["person_pct"], placement["council_pct"]) == (
        True,
        "0",
        "50",
    )


def test_s16_moves_funding_to_the_nhs_from_the_continuing_healthcare_date() -> None:
    """Refused without a reason; then the council pays to 11 January and the NHS from 12 January."""
    engine, steps = played("s16-continuing-healthcare-moves-funding")
    assert placement_steps(steps) == [
        ("placement_start", True), ("placement_change", False), ("placement_change", True),
    ]  # fmt: skip
    rows = engine.store.connection.execute(
        "SELECT start_date, end_date, council_bp, nhs_bp FROM placement_periods "
        "WHERE known_until IS NULL ORDER BY start_day"
    ).fetchall()
    assert rows == [("2025-10-01", "2026-01-11", 10000, 0), ("2026-01-12", None, 0, 10000)]


def test_walk_explains_a_placement_step() -> None:
    """`pathway walk` says the case stays where it is and shows the placement as it stands."""
    out = subprocess.run(
        [sys.executable, "-m", "pathway", "walk", "s15-section-117-aftercare-placement", "--no-pause"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert "  state   s117_aftercare (kept: this step moves nothing)" in out
    assert (
        "  placement SL-2040: supported_living, 457.00 a week, section 117; council 50%, NHS 50%, "
        "person 0% from 2026-02-16, open; agreed by lbb"
    ) in out
