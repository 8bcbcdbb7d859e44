"""The monthly and caseload reports on a small log worked out by hand, and their agreement with the
handoffs report on larger generated logs.

Every figure asserted for the hand-made log is computed in the comments next to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_helpers import at

import pathway
from pathway.importer import import_events
from pathway.reports import Scope, caseload_report, handoffs_report, monthly_report
from pathway.validation import load_schema

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate_log  # noqa: E402  (the benchmarks' seeded log generator)

LOG = """case_id,occurred_at,state,team,organisation
m1,2026-01-30T10:00:00Z,referral,hub,council
m1,2026-02-02T09:00:00Z,work,cmht,trust
m1,2026-02-27T23:59:59Z,work,hub,council
m1,2026-03-01T00:00:00Z,closed,hub,council
m2,2026-02-15T12:00:00Z,referral,hub,council
m2,2026-02-16T12:00:00Z,work,,
m2,2026-04-03T08:00:00Z,work,lets,council
m3,2026-04-01T00:00:00+01:00,referral,lets,council
m3,2026-04-20T00:00:00Z,closed,lets,council
m3,2026-05-10T00:00:00Z,referral,hub,council
"""
# m1: opened in January; hub -> cmht (Feb 2) and cmht -> hub (Feb 27, 23:59:59), both S75
#     crossings; closed at the first instant of March.
# m2: opened Feb 15; unallocated from Feb 16; hub -> lets on Apr 3 (the gap is skipped: one
#     handoff, both council, no crossing).
# m3: first event 2026-04-01T00:00+01:00 = 2026-03-31T23:00Z, so opened in MARCH (UTC months);
#     closed Apr 20; re-referred to hub May 10: a handoff lets -> hub in May, not a new case.


@pytest.fixture(scope="module")
def store() -> Any:
    s = pathway.open_store(":memory:")
    import_events(s, "log.csv", text=LOG, final_states=["closed"])
    yield s
    s.close()


def months(store: Any, as_of: str, **scope: Any) -> dict[str, Any]:
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    report = monthly_report(store.connection, Scope(at(as_of), **scope)).to_json()
    jsonschema.validate(report, load_schema("report_monthly"))
    return report


def rows(report: dict[str, Any]) -> list[tuple[str, int, int, int, int]]:
    return [
        (m["month"], m["handoffs"], m["s75_crossings"], m["opened"], m["closed"])
        for m in report["months"]
    ]


def caseload(store: Any, as_of: str, **scope: Any) -> dict[str, Any]:
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    report = caseload_report(store.connection, Scope(at(as_of), **scope)).to_json()
    jsonschema.validate(report, load_schema("report_caseload"))
    return report


# --- monthly ------------------------------------------------------------------------------------


def test_monthly_whole_history(store: Any) -> None:
    """Every month from the first case's to as-of's, empty months included, in UTC."""
    report = months(store, "2026-06-15")
    assert rows(report) == [
        # month     handoffs s75 opened closed
        ("2026-01", 0, 0, 1, 0),  # m1 opened
        ("2026-02", 2, 2, 1, 0),  # m1 hub->cmht->hub; m2 opened
        ("2026-03", 0, 0, 1, 1),  # m3 opened (23:00Z on the 31st); m1 closed at 00:00 on the 1st
        ("2026-04", 1, 0, 0, 1),  # m2 hub->lets; m3 closed
        ("2026-05", 1, 0, 0, 0),  # m3 re-referred: lets->hub, not a new case
        ("2026-06", 0, 0, 0, 0),  # nothing, but inside the period
    ]
    assert (report["handoffs"], report["s75_crossings"], report["opened"], report["closed"]) == (
        4,
        2,
        3,
        2,
    )


def test_monthly_as_of_cuts_later_events(store: Any) -> None:
    """Events after as-of are left out; the last month is as-of's."""
    # As of Feb 28: the Feb 27 handoff is in; m1's closure (Mar 1) is not; m3 does not exist yet.
    assert rows(months(store, "2026-02-28")) == [
        ("2026-01", 0, 0, 1, 0),
        ("2026-02", 2, 2, 1, 0),
    ]


def test_monthly_period(store: Any) -> None:
    """With --since/--until only the months of the period, and only what happened inside it."""
    report = months(store, "2026-06-15", since="2026-02-10", until="2026-04-30")
    # Feb 2 (hub->cmht) is before the period; m1 was opened in January, before it.
    assert rows(report) == [
        ("2026-02", 1, 1, 1, 0),  # cmht->hub (a crossing); m2 opened
        ("2026-03", 0, 0, 1, 1),  # m3 opened; m1 closed
        ("2026-04", 1, 0, 0, 1),  # m2 hub->lets; m3 closed; May's re-referral is after the period
    ]
    assert report["since"] == "2026-02-10T00:00:00.000000+00:00"


def test_monthly_team(store: Any) -> None:
    """With a team: its handoffs, over the cases it held; those cases' openings and closures."""
    report = months(store, "2026-06-15", team="cmht")
    # cmht held only m1: opened in January, both its handoffs in February, closed in March.
    assert rows(report) == [
        ("2026-01", 0, 0, 1, 0),
        ("2026-02", 2, 2, 0, 0),
        ("2026-03", 0, 0, 0, 1),
        ("2026-04", 0, 0, 0, 0),
        ("2026-05", 0, 0, 0, 0),
        ("2026-06", 0, 0, 0, 0),
    ]
    assert report["team"] == "cmht"


def test_monthly_of_an_empty_store_has_no_months() -> None:
    """No cases: no months, totals zero."""
    empty = pathway.open_store(":memory:")
    report = monthly_report(empty.connection, Scope(at("2026-06-15"))).to_json()
    jsonschema.validate(report, load_schema("report_monthly"))
    assert report["months"] == [] and report["handoffs"] == 0 and report["opened"] == 0


def test_monthly_since_without_until_runs_to_as_of(store: Any) -> None:
    """A --since alone: months from its month to as-of's, including empty ones at the start."""
    report = months(store, "2026-05-31", since="2025-12-20")
    assert [m["month"] for m in report["months"]] == [
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
        "2026-05",
    ]
    assert report["months"][0] == {
        "month": "2025-12",
        "handoffs": 0,
        "s75_crossings": 0,
        "opened": 0,
        "closed": 0,
    }
    assert report["handoffs"] == 4


# --- caseload -----------------------------------------------------------------------------------


def test_caseload_after_everything(store: Any) -> None:
    """m1 and m3 were closed, m3 was re-referred to hub; m2 is with lets."""
    report = caseload(store, "2026-06-15")
    assert (report["open_cases"], report["unallocated"]) == (2, 0)
    assert report["by_team"] == [
        {"team": "hub", "organisation": "council", "cases": 1},
        {"team": "lets", "organisation": "council", "cases": 1},
    ]
    assert report["by_organisation"] == [{"organisation": "council", "cases": 2}]


def test_caseload_counts_unallocated_open_cases(store: Any) -> None:
    """As of the instant m1 closes: m1 is closed, m2 is open with nobody, m3 not yet opened."""
    report = caseload(store, "2026-03-01T00:00:00")
    assert (report["open_cases"], report["unallocated"], report["by_team"]) == (1, 1, [])


def test_caseload_an_event_at_as_of_counts(store: Any) -> None:
    """As of the second cmht hands m1 back to hub, hub holds it; m2 is unallocated."""
    report = caseload(store, "2026-02-27T23:59:59")
    assert (report["open_cases"], report["unallocated"]) == (2, 1)
    assert report["by_team"] == [{"team": "hub", "organisation": "council", "cases": 1}]
    # A second earlier, cmht still held it.
    before = caseload(store, "2026-02-27T23:59:58")
    assert before["by_team"] == [{"team": "cmht", "organisation": "trust", "cases": 1}]
    assert before["by_organisation"] == [{"organisation": "trust", "cases": 1}]


def test_caseload_team_and_period(store: Any) -> None:
    """--team: only the open cases that team holds; --until: only cases in scope of the period."""
    lets = caseload(store, "2026-06-15", team="lets")
    assert (lets["open_cases"], lets["unallocated"], lets["by_team"]) == (
        1,
        0,
        [{"team": "lets", "organisation": "council", "cases": 1}],
    )
    # Until Mar 15, m3 (first event Mar 31) is not in scope; m1 is closed; m2 is with lets.
    early = caseload(store, "2026-06-15", until="2026-03-15")
    assert early["open_cases"] == 1
    assert early["by_team"] == [{"team": "lets", "organisation": "council", "cases": 1}]


# --- agreement with the handoffs report ---------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A seeded generated log of 300 cases (ping-pongs, gaps, closures, re-referrals, ties)."""
    folder = tmp_path_factory.mktemp("generated")
    csv_path = folder / "events.csv"
    generate_log.write_log(csv_path, 300, 7)
    s = pathway.open_store(folder / "generated.db")
    import_events(s, csv_path, final_states=["closed"])
    yield s
    s.close()


SCOPES = [
    {},
    {"since": "2024-03-15"},
    {"until": "2025-07-01T12:00:00"},
    {"since": "2023-11-01", "until": "2026-02-28"},
    {"team": "cmht"},
    {"team": "lets", "since": "2024-01-01", "until": "2025-12-31"},
]


@pytest.mark.parametrize("extra", SCOPES, ids=[str(s) or "whole" for s in SCOPES])
def test_monthly_adds_up_to_the_handoffs_report(generated: Any, extra: dict[str, str]) -> None:
    """For each scope, the months' handoffs and crossings sum to the handoffs report's totals,
    and the months' openings equal the cases in scope whose first event is in the period."""
    scope = Scope(
        as_of=generate_log.END,
        **{k: at(v) if k in ("since", "until") else v for k, v in extra.items()},
    )
    monthly = monthly_report(generated.connection, scope)
    handed = handoffs_report(generated.connection, scope)
    assert handed.handoffs > 0
    assert monthly.handoffs == handed.handoffs
    assert monthly.s75_crossings == handed.s75_crossings
    assert monthly.opened <= handed.cases
    if not extra:
        assert monthly.opened == handed.cases == 300


def test_caseload_agrees_with_the_store_as_it_stands(generated: Any) -> None:
    """As of after the last event, the open cases are exactly the cases whose row is not closed."""
    report = caseload_report(generated.connection, Scope(as_of=generate_log.END))
    rows = generated.connection.execute(
        "SELECT COALESCE(NULLIF(team, ''), NULL), COUNT(*) FROM cases "
        "WHERE closed_at IS NULL GROUP BY 1"
    ).fetchall()
    expected = {team: n for team, n in rows}
    held = {row.team: row.cases for row in report.by_team}
    assert report.open_cases == sum(expected.values()) > 0
    assert held == {t: n for t, n in expected.items() if t is not None}
    assert report.unallocated == expected.get(None, 0)


# --- on the command line ------------------------------------------------------------------------


def test_monthly_and_caseload_from_the_cli(tmp_path: Path) -> None:
    """`pathway report monthly|caseload --format json` print the library's figures."""
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pathway", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    (tmp_path / "log.csv").write_text(LOG)
    assert run("import", "log.csv", "--final-state", "closed").returncode == 0
    monthly = run("report", "monthly", "--as-of", "2026-06-15", "--format", "json")
    assert monthly.returncode == 0, monthly.stderr
    data = json.loads(monthly.stdout)
    assert data["months"][0]["month"] == "2026-01" and len(data["months"]) == 6
    assert data["handoffs"] == 4
    table = run("report", "caseload", "--as-of", "2026-06-15")
    assert table.returncode == 0, table.stderr
    assert "open_cases" in table.stdout and "lets" in table.stdout
    held = json.loads(run("report", "caseload", "--as-of", "2026-06-15", "--format", "json").stdout)
    assert (held["open_cases"], held["unallocated"]) == (2, 0)


# --- caseload per worker ------------------------------------------------------------------------

WORKERS = """case_id,occurred_at,state,team,organisation,actor
w1,2026-01-01,referral,hub,council,h1
w1,2026-01-02,work,lets,council,l1
w1,2026-01-03,work,lets,council,l2
w2,2026-01-01,referral,hub,council,h1
w2,2026-01-02,work,lets,council,l1
w2,2026-01-04,work,cmht,trust,c1
w2,2026-01-06,work,lets,council,
w3,2026-01-01,referral,lets,council,l1
w3,2026-01-02,closed,lets,council,l1
w3,2026-01-05,referral,lets,council,
w4,2026-01-01,referral,lets,council,l1
w4,2026-01-02,work,,,l9
w4,2026-01-03,work,lets,council,
w5,2026-01-01,referral,cmht,trust,c1
"""
# The worker of an open held case: the actor of its latest event (at or before as-of) since the
# holding team took the case, i.e. after its latest event that left it with another team or
# nobody, or closed it. As of the 10th:
# w1: lets since the 2nd (l1), then l2 on the 3rd: worker l2.
# w2: lets, cmht, then back to lets on the 6th with no actor: l1's event of the 2nd was before
#     cmht took it, so it does not count: no worker.
# w3: closed on the 2nd by l1, re-referred to lets on the 5th with no actor: no worker (l1's events
#     are before the closure).
# w4: lets, then nobody (the 2nd), then lets again on the 3rd with no actor: no worker.
# w5: cmht, c1: worker c1.
# lets holds w1..w4: workers {l2}: 1 with a worker, 3 without, mean 1/1 = 1.0.
# cmht holds w5: workers {c1}: 1 with, 0 without, mean 1.0.
# As of the 2nd 12:00: w1 lets (l1); w2 lets (l1); w3 closed (not open); w4 unallocated (the 2nd);
# w5 cmht (c1): l1 has 2 open cases, c1 has 1.


def test_workers_as_of_the_end() -> None:
    """Open cases per worker and per team, worked by hand above."""
    s = pathway.open_store(":memory:")
    import_events(s, "w.csv", text=WORKERS, final_states=["closed"])
    report = caseload(s, "2026-01-10")
    assert report["by_worker"] == [
        {"worker": "c1", "team": "cmht", "open_cases": 1, "above_benchmark": False},
        {"worker": "l2", "team": "lets", "open_cases": 1, "above_benchmark": False},
    ]
    assert report["team_workers"] == [
        {"team": "lets", "workers": 1, "with_worker": 1, "without_worker": 3,
         "mean_per_worker": 1.0},
        {"team": "cmht", "workers": 1, "with_worker": 1, "without_worker": 0,
         "mean_per_worker": 1.0},
    ]  # fmt: skip
    assert report["benchmark"]["per_worker_low"] == 25
    assert report["benchmark"]["per_worker_high"] == 26
    assert "Table 11" in report["benchmark"]["source"]
    # With --team: only that team's open cases and workers.
    only = caseload(s, "2026-01-10", team="cmht")
    assert [w["worker"] for w in only["by_worker"]] == ["c1"]
    assert [t["team"] for t in only["team_workers"]] == ["cmht"]


def test_workers_at_an_earlier_as_of() -> None:
    """As of the 2nd 12:00 l1 holds two open cases; later events do not count."""
    s = pathway.open_store(":memory:")
    import_events(s, "w.csv", text=WORKERS, final_states=["closed"])
    report = caseload(s, "2026-01-02T12:00")
    assert report["by_worker"] == [
        {"worker": "l1", "team": "lets", "open_cases": 2, "above_benchmark": False},
        {"worker": "c1", "team": "cmht", "open_cases": 1, "above_benchmark": False},
    ]
    assert report["unallocated"] == 1  # w4


def test_above_benchmark_is_more_than_26() -> None:
    """27 open cases of one worker are above the business case's 25-26; 26 are not."""
    rows = ["case_id,occurred_at,state,team,organisation,actor"]
    rows += [f"a{i},2026-01-01,work,lets,council,busy" for i in range(27)]
    rows += [f"b{i},2026-01-01,work,lets,council,usual" for i in range(26)]
    s = pathway.open_store(":memory:")
    import_events(s, "b.csv", text="\n".join(rows) + "\n")
    report = caseload(s, "2026-01-02")
    assert [(w["worker"], w["open_cases"], w["above_benchmark"]) for w in report["by_worker"]] == [
        ("busy", 27, True),
        ("usual", 26, False),
    ]
    assert report["team_workers"][0]["mean_per_worker"] == 26.5  # 53 / 2


def test_worker_from_the_engine_where_case_worker_is_cleared(tmp_path: Path) -> None:
    """The engine's events: an offer accepted by a LETs worker makes that worker the case's (the
    hub worker who made the offer is no member of the holding team), and a safeguarding enquiry
    the LETs worker leads keeps it so; before the acceptance the hub's worker had it."""
    from datetime import timedelta

    compiled = pathway.load_pathway("barnet-enablement")
    s = pathway.open_store(tmp_path / "e.db")
    engine = pathway.Engine(compiled, s)
    hub, lets = pathway.Actor("w-hub", "hub"), pathway.Actor("w-lets-7", "lets")
    t0 = at("2026-03-02T09:00")
    engine.open_case("E1", hub, at=t0)
    engine.fire("E1", "self_refer", hub, at=t0 + timedelta(hours=1))
    engine.fire("E1", "offer_choice_appointment", hub, at=t0 + timedelta(hours=2))
    case = engine.fire("E1", "accept_handoff", lets, at=t0 + timedelta(hours=3))
    assert case.team == "lets"
    engine.fire(
        "E1", "raise_safeguarding", lets, at=t0 + timedelta(days=1)
    )  # lets keeps it (actor holder)
    report = caseload(s, "2026-03-05")
    assert report["by_worker"] == [
        {"worker": "w-lets-7", "team": "lets", "open_cases": 1, "above_benchmark": False}
    ]
    # Before the LETs accepted, the hub held it with its own worker.
    early = caseload(s, "2026-03-02T10:30")
    assert [(w["worker"], w["team"]) for w in early["by_worker"]] == [("w-hub", "hub")]
