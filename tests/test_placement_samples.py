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


def test_s16_nursing_needs_the_nhs_share_then_moves_to_continuing_healthcare() -> None:
    """Refused 100% council (no FNC); with the NHS's FNC share applied; the change without a reason
    refused; then the council pays 66.22% to 11 January and the NHS all of it from 12 January."""
    engine, steps = played("s16-continuing-healthcare-moves-funding")
    assert placement_steps(steps) == [
        ("placement_start", False), ("placement_start", True), ("placement_change", False),
        ("placement_change", True),
    ]  # fmt: skip
    refused = next(r for t, ok, r in steps if t == "placement_start" and not ok)
    assert refused == (
        "nursing placement N-3100 is charged to the council with no NHS share: the NHS pays for "
        "registered nursing care in a nursing home (NHS-funded nursing care, FNC), or all of it "
        "under continuing healthcare, and a council may not provide nursing care by a registered "
        "nurse (Care Act s22(3)); record the NHS share (nhs_pct)",
    )
    rows = engine.store.connection.execute(
        "SELECT start_date, end_date, council_bp, nhs_bp FROM placement_periods "
        "WHERE known_until IS NULL ORDER BY start_day"
    ).fetchall()
    assert rows == [("2025-10-01", "2026-01-11", 6622, 3378), ("2026-01-12", None, 0, 10000)]
    # FNC at the 2025/26 standard rate, £254.06 a week, is 33.78% of £752 to a basis point.
    assert round(752 * 3378 / 10000, 2) == 254.03


def _scrutiny(engine: pathway.Engine, since: str, until: str) -> list[tuple[str, str, str]]:
    scope = Scope(
        as_of=datetime(2026, 6, 1, tzinfo=UTC),
        since=datetime.fromisoformat(since).replace(tzinfo=UTC),
        until=datetime.fromisoformat(until).replace(tzinfo=UTC),
    )
    report = funding_report(engine.store.connection, scope)
    return [(i.placement_id, i.rule, i.amount) for i in report.scrutiny]


def test_s21_urgent_placement_is_listed_until_the_eligibility_decision() -> None:
    """Refused with no reason; allowed with its s19(3) reason; listed for its 18 days before the
    decision of 6 February (887 x 18 / 7 = £2,280.86), and not for the days after it."""
    engine, steps = played("s21-urgent-placement-before-eligibility")
    assert placement_steps(steps) == [
        ("placement_start", False), ("placement_start", True), ("placement_change", True),
    ]  # fmt: skip
    assert _scrutiny(engine, "2026-01-01", "2026-03-31") == [
        ("R-2101", "urgent_pending_eligibility", "2280.86")
    ]
    assert _scrutiny(engine, "2026-02-06", "2026-03-31") == []


def test_s22_positive_checklist_is_allowed_and_listed() -> None:
    """A positive CHC checklist does not stop the council paying, but it is on the scrutiny list:
    887 x 58 / 7 = £7,349.43 from 2 February to 31 March."""
    engine, steps = played("s22-positive-chc-checklist")
    assert placement_steps(steps) == [("placement_start", True)]
    assert _scrutiny(engine, "2025-04-01", "2026-03-31") == [
        ("R-2201", "chc_checklist_positive_or_pending", "7349.43")
    ]


def test_s05_s08_and_s09_cost_their_placements() -> None:
    """The discharge to supported living, the direct payment and the care home are placements."""
    for name, case_id, pid, care_type in (
        ("s05-crisis-section-2-supported-living", "BEP-S05", "SL-0501", "supported_living"),
        ("s08-overdue-annual-review", "BEP-S08", "DP-0801", "direct_payment"),
        ("s09-task-matrix-refusal", "BEP-S09", "R-0907", "residential"),
    ):
        engine, _steps = played(name)
        placement = engine.store.case(case_id).attributes["placements"][pid]
        assert placement["care_type"] == care_type and placement["council_pct"] == "100"


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
