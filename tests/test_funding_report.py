"""The funding report against figures worked by hand: part weeks, cost changes, open placements,
splits, window edges, as-of, budget and scrutiny; and a property against a day-by-day count."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from placement_helpers import LETS, T0, small_pathway, start_data

import pathway
from pathway.errors import DefinitionError
from pathway.placements import CARE_TYPES
from pathway.reports import Scope, funding_report, load_unit_costs
from pathway.validation import load_schema


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> pathway.Engine:
    """The small pathway (no funding guards) with cases C1 and C2 open."""
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(tmp_path / "f.db"))
    engine.open_case("C1", LETS, at=T0)
    engine.open_case("C2", LETS, at=T0)
    return engine


def report(
    engine: pathway.Engine,
    since: str | None,
    until: str | None,
    as_of: str = "2026-12-31",
    **kwargs: Any,
) -> dict[str, Any]:
    scope = Scope(
        as_of=day(as_of), since=day(since) if since else None, until=day(until) if until else None
    )
    data = funding_report(engine.store.connection, scope, **kwargs).to_json()
    jsonschema.validate(data, load_schema("report_funding"))
    return data


def row(data: dict[str, Any], care_type: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in data["by_care_type"] if r["care_type"] == care_type)
    return found


def start(engine: pathway.Engine, case: str = "C1", **data: Any) -> None:
    engine.fire(case, "placement_start", LETS, at=T0, data=start_data(**data))


def test_whole_and_part_weeks(engine: pathway.Engine) -> None:
    """£700 a week: a whole week is £700.00, three days £300.00; both window ends count."""
    start(engine)
    assert report(engine, "2026-01-05", "2026-01-11")["spend"] == "700.00"
    three = report(engine, "2026-01-01", "2026-01-03")
    assert (three["spend"], three["by_funder"]["council"], three["days"]) == ("300.00", "300.00", 3)


def test_pence_round_half_up_only_when_shown(engine: pathway.Engine) -> None:
    """£100 a week split 60/40: one day is £14.2857… shown £14.29; council £8.57, NHS £5.71.

    Each figure is rounded from its exact value, so the parts (14.28) may differ from the
    total (14.29) by a penny.
    """
    start(engine, weekly_cost="100", council_pct=60, nhs_pct=40)
    one = report(engine, "2026-01-01", "2026-01-01")
    assert (one["spend"], one["by_funder"]) == (
        "14.29",
        {"council": "8.57", "nhs": "5.71", "person": "0.00"},
    )
    two = report(engine, "2026-01-01", "2026-01-02")
    assert (two["spend"], two["by_funder"]["council"], two["by_funder"]["nhs"]) == (
        "28.57", "17.14", "11.43",
    )  # fmt: skip
    # £1.75 a week is 25p a day: 1 day is exactly 0.25, and 60% of it, 0.15, stays exact.
    start(engine, "C2", placement_id="P2", weekly_cost="1.75", council_pct=60, nhs_pct=40,
          care_type="day_care")  # fmt: skip
    tiny = row(report(engine, "2026-01-01", "2026-01-01"), "day_care")
    assert (tiny["spend"], tiny["council"], tiny["nhs"]) == ("0.25", "0.15", "0.10")
    # ... and 30p a week for one day, 0.042857…, shows as 0.04; a half penny rounds up.
    start(engine, "C2", placement_id="P3", weekly_cost="0.07", care_type="home_care",
          council_pct=50, person_pct=50)  # fmt: skip
    half = row(report(engine, "2026-01-01", "2026-01-01"), "home_care")
    assert (half["spend"], half["council"], half["person"]) == ("0.01", "0.01", "0.01")


def test_a_cost_and_split_change_in_the_middle_of_the_period(engine: pathway.Engine) -> None:
    """£700 all council from 1 Jan; from 15 Jan £770, 60% council and 40% NHS. January:
    14 days at £100 a day = £1,400.00 council, then 17 days at £110 = £1,870.00, of which
    £1,122.00 council and £748.00 NHS; £3,270.00 in all. Weekly average: £22,890 / 31 x 7."""
    start(engine)
    engine.fire(
        "C1", "placement_change", LETS, at=T0 + timedelta(days=15),
        data={"placement_id": "P1", "effective_date": "2026-01-15", "weekly_cost": "770",
              "council_pct": 60, "nhs_pct": 40, "reason": "CHC joint package"},
    )  # fmt: skip
    data = report(engine, "2026-01-01", "2026-01-31")
    assert data["spend"] == "3270.00"
    assert data["by_funder"] == {"council": "2522.00", "nhs": "748.00", "person": "0.00"}
    residential = row(data, "residential")
    assert (residential["clients"], residential["spend"], residential["average_weekly_cost"]) == (
        1, "3270.00", "738.39",
    )  # fmt: skip


def test_an_open_placement_runs_to_the_as_of_date(engine: pathway.Engine) -> None:
    """Open since 1 Jan: as of 10 Jan (noon) it has run 10 days, £1,000.00, whatever --until says."""
    start(engine)
    assert report(engine, None, None, as_of="2026-01-10T12:00")["spend"] == "1000.00"
    assert report(engine, None, "2026-02-28", as_of="2026-01-10T12:00")["spend"] == "1000.00"
    data = report(engine, None, "2026-01-04")
    assert (data["first_day"], data["last_day"], data["days"], data["spend"]) == (
        None, "2026-01-04", None, "400.00",
    )  # fmt: skip


def test_placements_are_read_as_known_at_as_of(engine: pathway.Engine) -> None:
    """A change recorded on 20 Jan, backdated to 15 Jan, is unknown as of 18 Jan."""
    start(engine)
    engine.fire(
        "C1", "placement_change", LETS, at=day("2026-01-20T10:00"),
        data={"placement_id": "P1", "effective_date": "2026-01-15", "weekly_cost": "770"},
    )  # fmt: skip
    assert report(engine, "2026-01-01", "2026-01-18", as_of="2026-01-18")["spend"] == "1800.00"
    # As of 21 Jan the change is known: 14 days at £100 and 4 at £110.
    assert report(engine, "2026-01-01", "2026-01-18", as_of="2026-01-21")["spend"] == "1840.00"


def test_an_ended_placement_and_the_window_edges(engine: pathway.Engine) -> None:
    """Ended on 10 Feb (its last day): February counts 10 days; a start or end on an edge counts."""
    start(engine)
    engine.fire(
        "C1", "placement_end", LETS, at=T0 + timedelta(days=50),
        data={"placement_id": "P1", "end_date": "2026-02-10"},
    )  # fmt: skip
    assert report(engine, "2026-02-01", "2026-02-28")["spend"] == "1000.00"
    assert report(engine, "2026-02-10", "2026-02-28")["spend"] == "100.00"
    assert report(engine, "2026-02-11", "2026-02-28")["spend"] == "0.00"
    assert report(engine, "2025-12-01", "2026-01-01")["spend"] == "100.00"


def test_clients_are_distinct_cases_and_every_care_type_is_listed(engine: pathway.Engine) -> None:
    """Two residential placements of C1 and one of C2: 2 clients; the other five types are zeros."""
    start(engine)
    start(engine, placement_id="P2", start_date="2026-01-10")
    start(engine, "C2", weekly_cost="350", nhs_pct=100, council_pct=None)
    start(engine, "C2", placement_id="P9", start_date="2027-01-01")  # after the window
    data = report(engine, "2026-01-01", "2026-01-14")
    assert [r["care_type"] for r in data["by_care_type"]] == list(CARE_TYPES)
    residential = row(data, "residential")
    # C1: 14 + 5 days at £100; C2: 14 days at £50 (NHS).
    assert (residential["clients"], residential["spend"], residential["nhs"]) == (
        2, "2600.00", "700.00",
    )  # fmt: skip
    nursing = row(data, "nursing")
    assert (nursing["clients"], nursing["spend"], nursing["average_weekly_cost"]) == (
        0, "0.00", None,
    )  # fmt: skip
    assert (nursing["reference_clients"], nursing["reference_average_weekly_cost"]) == (2, "752.00")
    assert data["unit_costs_source"].startswith("Barnet Enablement Pathway business case, Table 13")


def test_budget_difference_and_percent(engine: pathway.Engine) -> None:
    """Council spend £2,522.00 against £3,000.00: £478.00 under, 84.1 percent."""
    start(engine, weekly_cost="770", council_pct=60, nhs_pct=40)
    start(engine, "C2", weekly_cost="700", start_date="2026-01-18")
    data = report(engine, "2026-01-01", "2026-01-31", budget_pence=300_000)
    # C1: 31 days x £110 x 60% = £2,046.00; C2: 14 days x £100 = £1,400.00 -> £3,446.00.
    assert data["budget"] == {
        "amount": "3000.00", "council_spend": "3446.00", "difference": "446.00", "percent": "114.9",
    }  # fmt: skip
    assert report(engine, "2026-01-01", "2026-01-31")["budget"] is None
    zero = report(engine, "2026-01-01", "2026-01-31", budget_pence=0)["budget"]
    assert (zero["difference"], zero["percent"]) == ("3446.00", None)
    under = report(engine, "2026-01-01", "2026-01-01", budget_pence=300_000)["budget"]
    assert (under["council_spend"], under["difference"], under["percent"]) == (
        "66.00", "-2934.00", "2.2",
    )  # fmt: skip


def test_section_117_spend_is_shown_apart(engine: pathway.Engine) -> None:
    """A s117 placement, £457 a week half council, half NHS: 7 days = £457.00, £228.50 each."""
    start(engine, care_type="supported_living", weekly_cost="457", s117=True, council_pct=50,
          nhs_pct=50)  # fmt: skip
    data = report(engine, "2026-01-01", "2026-01-07")
    assert data["section_117"] == {"spend": "457.00", "council": "228.50", "nhs": "228.50"}


def test_the_scrutiny_list(engine: pathway.Engine) -> None:
    """Each rule, with its amount in the period; placements outside the period are not listed."""
    screened = {"eligibility_date": "2025-12-20", "health_screen_date": "2025-12-21"}
    start(engine, placement_id="OK", **screened)
    # Dates given with a step are recorded on the case, so later placements of C1 see them too:
    # the cases below have their own.
    engine.open_case("C3", LETS, at=T0)
    engine.open_case("C4", LETS, at=T0)
    start(engine, "C3", placement_id="NO-ELIG", health_screen_date="2025-12-21")
    start(engine, "C4", placement_id="LATE-SCREEN", eligibility_date="2025-12-20",
          health_screen_date="2026-01-02")  # fmt: skip
    start(engine, "C2", placement_id="TRUST", agreed_by="trust", **screened)
    start(engine, "C2", placement_id="S117", s117=True, council_pct=50, nhs_pct=40,
          person_pct=10)  # fmt: skip
    start(engine, "C2", placement_id="LATER", start_date="2026-03-01")
    data = report(engine, "2026-01-01", "2026-01-07")
    found = [(i["case_id"], i["placement_id"], i["rule"], i["amount"]) for i in data["scrutiny"]]
    assert found == [
        ("C2", "TRUST", "trust_panel_council_funded", "700.00"),
        ("C3", "NO-ELIG", "no_eligibility", "700.00"),
        ("C4", "LATE-SCREEN", "no_health_screen", "700.00"),
        ("C2", "S117", "s117_charged_to_person", "70.00"),
    ]
    trust = next(i for i in data["scrutiny"] if i["rule"] == "trust_panel_council_funded")
    assert trust["explanation"] == (
        "agreed by the panel of trust, an NHS trust, and charged to the council: the council "
        "pays 700.00 in the period"
    )
    assert all(i["care_type"] == "residential" for i in data["scrutiny"])


def test_a_placement_still_charged_after_its_case_closed_is_listed(engine: pathway.Engine) -> None:
    """C1's £700 a week, all council, from 1 January; the case is closed on 10 January (this small
    pathway has no no_open_placement guard) and the placement never ended. In January the council
    pays for 21 days after the closing day: 700 x 21 / 7 = £2,100.00. As of a moment before the
    closure nothing is listed; C2's placement, on an open case, never is."""
    start(engine, eligibility_date="2025-12-20", health_screen_date="2025-12-21")
    start(engine, "C2", placement_id="P2", eligibility_date="2025-12-20",
          health_screen_date="2025-12-21")  # fmt: skip
    engine.fire("C1", "close", LETS, at=day("2026-01-10T15:00:00"))
    data = report(engine, "2026-01-01", "2026-01-31")
    found = [(i["case_id"], i["placement_id"], i["rule"], i["amount"]) for i in data["scrutiny"]]
    assert found == [("C1", "P1", "after_case_closed", "2100.00")]
    assert data["scrutiny"][0]["explanation"] == (
        "charged to the council for days after the case was closed: the council pays 2100.00 "
        "in the period"
    )
    assert row(data, "residential")["spend"] == "6200.00"  # the spend itself is unchanged
    before = report(engine, "2026-01-01", "2026-01-31", as_of="2026-01-10T14:00:00")
    assert before["scrutiny"] == []
    inside = report(engine, "2026-01-01", "2026-01-10")  # no day after the closing day
    assert inside["scrutiny"] == []


def test_money_in_the_json_is_always_decimal_text(engine: pathway.Engine) -> None:
    """No money field is a number: every one is text with exactly two decimals."""
    start(engine, weekly_cost="1234.57")
    data = report(engine, "2026-01-01", "2026-01-07", budget_pence=123_457)
    money = [data["spend"], *data["by_funder"].values(), *data["section_117"].values()]
    money += [data["budget"][k] for k in ("amount", "council_spend", "difference")]
    for r in data["by_care_type"]:
        money += [r[k] for k in ("spend", "council", "nhs", "person")]
    assert all(isinstance(m, str) and re.fullmatch(r"-?\d+\.\d\d", m) for m in money), money
    assert data["spend"] == "1234.57" and data["budget"]["difference"] == "0.00"


def test_the_team_narrows_to_cases_it_held(tmp_path: Path) -> None:
    """With --team cmht, only the case the CMHT took counts."""
    engine = pathway.Engine(small_pathway(tmp_path), pathway.open_store(tmp_path / "t.db"))
    cmht = pathway.Actor("w-cmht-01", "cmht")
    for case in ("C1", "C2"):
        engine.open_case(case, LETS, at=T0)
        engine.fire(case, "placement_start", LETS, at=T0, data=start_data())
    engine.fire("C2", "offer", LETS, at=T0)
    engine.fire("C2", "accept", cmht, at=T0)
    scope = Scope(as_of=day("2026-01-07"), since=day("2026-01-01"), team="cmht")
    assert funding_report(engine.store.connection, scope).spend == "700.00"


def test_unit_costs_can_be_replaced_and_are_checked(tmp_path: Path) -> None:
    """A council's own unit costs file replaces Table 13; a bad one names its place."""
    own = tmp_path / "costs.yaml"
    own.write_text(
        "source: our 2025/26 finance\ncare_types:\n"
        '  - {care_type: residential, clients: 10, average_weekly_cost: "999.99"}\n'
    )
    costs = load_unit_costs(own)
    assert costs.source == "our 2025/26 finance"
    assert costs.by_care_type["residential"].average_weekly_pence == 99_999
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "care_types:\n"
        '  - {care_type: residential, clients: 10, average_weekly_cost: "9.999"}\n'
        '  - {care_type: residential, clients: 1, average_weekly_cost: "1"}\n'
    )
    with pytest.raises(DefinitionError, match=r"bad.yaml:2: /care_types/0/average_weekly_cost"):
        load_unit_costs(bad)
    bad.write_text(
        "care_types:\n"
        '  - {care_type: residential, clients: 10, average_weekly_cost: "9.99"}\n'
        '  - {care_type: residential, clients: 1, average_weekly_cost: "1"}\n'
    )
    with pytest.raises(DefinitionError, match="care type residential is listed twice"):
        load_unit_costs(bad)


PERIODS = st.lists(
    st.tuples(
        st.integers(0, 250_000),  # weekly pence
        st.integers(0, 60),  # start, days after 1 Dec 2025
        st.one_of(st.none(), st.integers(0, 60)),  # length in days (None: open)
        st.sampled_from([(100, 0, 0), (60, 40, 0), (0, 100, 0), (33.33, 33.33, 33.34)]),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(periods=PERIODS, since=st.integers(0, 90), length=st.integers(0, 40))
def test_the_report_matches_a_day_by_day_count(
    tmp_path_factory: pytest.TempPathFactory,
    periods: list[tuple[int, int, int | None, tuple[float, float, float]]],
    since: int,
    length: int,
) -> None:
    """Property: every figure equals the exact day-by-day sum (weekly / 7 a day) rounded half up,
    and the funders' exact shares add up to the exact total."""
    folder = tmp_path_factory.mktemp("prop")
    engine = pathway.Engine(small_pathway(folder), pathway.open_store(":memory:"))
    engine.open_case("C1", LETS, at=T0)
    base = date(2025, 12, 1)
    expected = {
        "spend": Fraction(0),
        "council": Fraction(0),
        "nhs": Fraction(0),
        "person": Fraction(0),
    }
    first, last = base + timedelta(days=since), base + timedelta(days=since + length)
    for n, (pence, offset, days, split) in enumerate(periods):
        begin = base + timedelta(days=offset)
        end = begin + timedelta(days=days) if days is not None else None
        shares = [str(s) for s in split]
        engine.fire(
            "C1", "placement_start", LETS, at=T0,
            data=start_data(placement_id=f"P{n}", weekly_cost=f"{pence // 100}.{pence % 100:02d}",
                            start_date=begin.isoformat(),
                            end_date=end.isoformat() if end else None,
                            council_pct=shares[0], nhs_pct=shares[1], person_pct=shares[2]),
        )  # fmt: skip
        current = first
        while current <= last:
            if begin <= current and (end is None or current <= end):
                daily = Fraction(pence, 7)
                expected["spend"] += daily
                for funder, share in zip(("council", "nhs", "person"), shares, strict=True):
                    expected[funder] += daily * Fraction(share) / 100
            current += timedelta(days=1)
    assert expected["council"] + expected["nhs"] + expected["person"] == expected["spend"]
    scope = Scope(
        as_of=datetime(2026, 12, 31, tzinfo=UTC),
        since=datetime.combine(first, datetime.min.time(), UTC),
        until=datetime.combine(last, datetime.min.time(), UTC),
    )
    result = funding_report(engine.store.connection, scope)

    def shown(value: Fraction) -> str:
        pence = int(value + Fraction(1, 2))  # non-negative: half up
        return f"{pence // 100}.{pence % 100:02d}"

    assert result.spend == shown(expected["spend"])
    assert dict(result.by_funder) == {f: shown(expected[f]) for f in ("council", "nhs", "person")}
    parts = sum(Fraction(v) for v in result.by_funder.values())
    assert abs(parts - Fraction(result.spend)) <= Fraction(2, 100)
