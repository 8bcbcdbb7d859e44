"""`pathway report funding` and `pathway import --placements` on the command line.

The store is the demo's: every sample case played, nine of them with placements (S05 supported
living, S08 a direct payment, S09 and S14 residential, S15 section 117 supported living, S16
nursing with FNC moving to NHS funding, S21 an urgent s19(3) care home bed, S22 residential with a
positive CHC checklist), and then a finance extract imported onto other sample cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from pathway.validation import load_schema

EXTRACT = (
    "case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,"
    "person_pct,agreed_by,s117,eligibility_date,health_screen_date\n"
    "BEP-S05,H-1,home_care,156.00,2026-03-01,2026-03-14,100,,,behmt,no,2026-02-01,2026-02-01\n"
    "BEP-S13,D-1,direct_payment,154,2026-03-25,,90,,10,lbb,yes,,\n"
)
"""Two placements to scrutinise: a trust panel charging the council, and s117 charged to the person."""

YEAR = (
    "--db",
    "demo.db",
    "--since",
    "2025-04-01",
    "--until",
    "2026-03-31",
    "--as-of",
    "2026-06-01",
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store with the extract imported (built once for this module)."""
    folder = tmp_path_factory.mktemp("funding")
    played = run("demo", "--db", "demo.db", cwd=folder)
    assert played.returncode == 0, played.stderr
    (folder / "extract.csv").write_text(EXTRACT)
    done = run("import", "--placements", "extract.csv", "--db", "demo.db", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "Imported 2 placement periods (2 placements of 2 cases) from extract.csv into demo.db"
    )
    return folder


def test_funding_json_worked_by_hand(demo: Path) -> None:
    """The financial year 2025/26 (365 days), worked by hand from the samples and the extract.

    Days in the window and spend (weekly cost x days / 7): S05 supported living £457 from 26 Mar,
    6 days = £391.71; S08 direct payment £99 (its rise to £132 is from 4 May), 365 days =
    £5,162.14; S09 residential £887 since 2023, 365 days = £46,250.71; S14 residential £887 from
    2 Mar, 30 days = £3,801.43; S15 s117 supported living £457 from 16 Feb, half and half, 44 days
    = £2,872.57 (£1,436.29 each); S16 nursing £752, 1 Oct-11 Jan (103 days, £11,065.14) at
    66.22% council and 33.78% NHS (FNC), then all NHS from 12 Jan (79 days, £8,486.86); S21
    residential £887 from 19 Jan, 72 days (18 urgent before the decision, £2,280.86; 54 after);
    S22 residential £887 from 2 Feb, 58 days = £7,349.43. Extract: home care £156 for 14 days =
    £312.00 (council); direct payment £154 from 25 Mar, 7 days = £154.00, 90% council, 10% the
    person. Nursing: council 77,456 x 66.22% / 7 = £7,327.34, NHS £3,737.81 + £8,486.86 exact =
    £12,224.66. Each total is rounded once from its exact value.
    """
    done = run("report", "funding", *YEAR, "--budget", "£11,500,000", "--format", "json", cwd=demo)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, load_schema("report_funding"))
    assert (data["first_day"], data["last_day"], data["days"]) == ("2025-04-01", "2026-03-31", 365)
    rows = {r["care_type"]: r for r in data["by_care_type"]}
    assert [r["care_type"] for r in data["by_care_type"]] == [
        "residential", "nursing", "home_care", "supported_living", "day_care", "direct_payment",
    ]  # fmt: skip
    assert (rows["residential"]["spend"], rows["residential"]["clients"]) == ("66525.00", 4)
    assert (rows["nursing"]["council"], rows["nursing"]["nhs"], rows["nursing"]["spend"]) == (
        "7327.34", "12224.66", "19552.00",
    )  # fmt: skip
    assert rows["nursing"]["average_weekly_cost"] == "752.00"
    assert rows["nursing"]["reference_average_weekly_cost"] == "752.00"
    assert (rows["supported_living"]["council"], rows["supported_living"]["nhs"]) == (
        "1828.00", "1436.29",
    )  # fmt: skip
    assert (rows["home_care"]["spend"], rows["direct_payment"]["person"]) == ("312.00", "15.40")
    assert rows["direct_payment"]["spend"] == "5316.14"
    assert data["spend"] == "94969.43"
    assert data["by_funder"] == {"council": "81293.08", "nhs": "13660.95", "person": "15.40"}
    assert data["section_117"] == {"spend": "3026.57", "council": "1574.89", "nhs": "1436.29"}
    assert data["budget"] == {
        "amount": "11500000.00", "council_spend": "81293.08", "difference": "-11418706.92",
        "percent": "0.7",
    }  # fmt: skip
    rules = [(i["case_id"], i["placement_id"], i["rule"], i["amount"]) for i in data["scrutiny"]]
    assert rules == [
        ("BEP-S22", "R-2201", "chc_checklist_positive_or_pending", "7349.43"),
        ("BEP-S21", "R-2101", "urgent_pending_eligibility", "2280.86"),
        ("BEP-S05", "H-1", "trust_panel_council_funded", "312.00"),
        ("BEP-S13", "D-1", "s117_charged_to_person", "15.40"),
    ]


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
def test_funding_in_each_view(demo: Path, fmt: str) -> None:
    """Table, CSV and Markdown show the headline figures and every list, money as text."""
    done = run("report", "funding", *YEAR, "--budget", "11500000", "--format", fmt, cwd=demo)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "94969.43" in out and "81293.08" in out and "7327.34" in out
    assert "trust_panel_council_funded" in out and "s117_charged_to_person" in out
    title = {"table": "by_care_type\n", "csv": "# by_care_type", "markdown": "## by_care_type"}
    assert title[fmt] in out


def test_bad_budget_and_unit_costs_are_one_clear_error(demo: Path) -> None:
    """--budget that is not pounds with two decimals, or a bad unit costs file: exit 2, no trace."""
    for amount in ("12.345", "-5", "lots"):
        done = run("report", "funding", "--db", "demo.db", "--budget", amount, cwd=demo)
        assert done.returncode == 2
        assert "Invalid value for '--budget'" in done.stderr and "Traceback" not in done.stderr
    (demo / "costs.yaml").write_text("care_types:\n  - {care_type: spa, clients: 1}\n")
    bad = run("report", "funding", "--db", "demo.db", "--unit-costs", "costs.yaml", cwd=demo)
    assert bad.returncode == 2
    assert "costs.yaml:2: /care_types/0" in bad.stderr and "Traceback" not in bad.stderr


def test_own_unit_costs_replace_table_13(demo: Path) -> None:
    """--unit-costs FILE puts a council's own reference figures beside its spend."""
    (demo / "ours.yaml").write_text(
        "source: our 2025/26 budget book\ncare_types:\n"
        '  - {care_type: nursing, clients: 3, average_weekly_cost: "800.00"}\n'
    )
    done = run(
        "report", "funding", *YEAR, "--unit-costs", "ours.yaml", "--format", "json", cwd=demo
    )
    data = json.loads(done.stdout)
    assert data["unit_costs_source"] == "our 2025/26 budget book"
    nursing = next(r for r in data["by_care_type"] if r["care_type"] == "nursing")
    assert (nursing["reference_clients"], nursing["reference_average_weekly_cost"]) == (3, "800.00")
    residential = next(r for r in data["by_care_type"] if r["care_type"] == "residential")
    assert residential["reference_clients"] is None


def test_import_placements_rejections_on_the_command_line(demo: Path) -> None:
    """A bad extract names line and field (exit 2) and writes nothing; wrong usage is explained."""
    before = run("audit", "checkpoint", "--db", "demo.db", cwd=demo).stdout
    (demo / "bad.csv").write_text(EXTRACT.replace("156.00", "156.001").replace("154,", "-1,"))
    done = run("import", "--placements", "bad.csv", "--db", "demo.db", cwd=demo)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "bad.csv:2: weekly_cost: '156.001' is not an amount in pounds" in done.stderr
    assert "bad.csv:3: weekly_cost: '-1' is negative" in done.stderr
    (demo / "nocase.csv").write_text(EXTRACT.replace("BEP-S13", "NOPE"))
    done = run("import", "--placements", "nocase.csv", "--db", "demo.db", cwd=demo)
    assert done.returncode == 2
    assert "nocase.csv:3: case_id: case 'NOPE' is not in the store" in done.stderr
    assert run("audit", "checkpoint", "--db", "demo.db", cwd=demo).stdout == before
    neither = run("import", "--db", "demo.db", cwd=demo)
    assert (
        neither.returncode == 2 and "give an event log FILE or --placements FILE" in neither.stderr
    )
    both = run("import", "x.csv", "--placements", "bad.csv", cwd=demo)
    assert both.returncode == 2 and "(one of them)" in both.stderr
    nostore = run("import", "--placements", "bad.csv", "--db", "none.db", cwd=demo)
    assert nostore.returncode == 2 and "none.db: no such store" in nostore.stderr
    assert not (demo / "none.db").exists()


def test_a_placement_step_on_the_command_line_takes_pounds_as_text(demo: Path) -> None:
    """`case fire` with --set weekly_cost=912.50 is refused (a float); quoted text goes through."""
    args = (
        "case", "fire", "BEP-S13", "placement_start", "--actor", "w-cmht-02", "--team", "cmht",
        "--db", "demo.db", "--at", "2026-11-01", "--set", "placement_id=HC-9",
        "--set", "care_type=home_care", "--set", "start_date=2026-11-02", "--set", "council_pct=50",
        "--set", "nhs_pct=50", "--set", "s117=true", "--set", "agreed_by=lbb",
    )  # fmt: skip
    before = run("audit", "checkpoint", "--db", "demo.db", cwd=demo).stdout
    floated = run(*args, "--set", "weekly_cost=912.50", cwd=demo)
    assert floated.returncode == 2 and "Traceback" not in floated.stderr
    assert 'weekly_cost: give pounds as text such as "912.50"' in floated.stderr
    assert run("audit", "checkpoint", "--db", "demo.db", cwd=demo).stdout == before
    done = run(*args, "--set", 'weekly_cost="912.50"', "--format", "json", cwd=demo)
    assert done.returncode == 0, done.stderr
    placement = json.loads(done.stdout)["attributes"]["placements"]["HC-9"]
    assert (placement["weekly_cost"], placement["s117"]) == ("912.50", True)
