"""The handoffs and holding reports on small logs worked out by hand, and the import's rejections.

Each log is CSV text in the test; every figure asserted was computed by hand in the comments next
to it (days are exact decimals, compared with pytest.approx only because they are floats).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from report_helpers import RECEIPT_DROP, RECEIPT_MAP, at, load, receipt_path

import pathway
from pathway.importer import import_events
from pathway.reports import Scope, handoffs_report, holding_report

MINIMAL = Path(__file__).resolve().parent.parent / "docs" / "examples" / "minimal.yaml"


def handoffs(store: Any, as_of: str, **scope: Any) -> dict[str, Any]:
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    return handoffs_report(store.connection, Scope(at(as_of), **scope)).to_json()


def holding(store: Any, as_of: str, **scope: Any) -> dict[str, Any]:
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    return holding_report(store.connection, Scope(at(as_of), **scope)).to_json()


PASSED_AROUND = ("offers", "offers_declined", "interruptions", "passes", "days_between_teams")
"""The per-case figures that need the pathway: these reports run without one, so they are null."""


def by_case(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's cases, each checked to have null passed-around figures (no pathway here)
    and shown without them."""
    rows = []
    for row in report["by_case"]:
        assert {k: row[k] for k in PASSED_AROUND} == dict.fromkeys(PASSED_AROUND), row
        rows.append({k: v for k, v in row.items() if k not in PASSED_AROUND})
    return rows


def case(report: dict[str, Any], case_id: str) -> dict[str, Any]:
    rows = [r for r in by_case(report) if r["case_id"] == case_id]
    assert len(rows) == 1, f"{case_id} not in by_case once"
    return rows[0]


def teams(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["team"]: row for row in report["by_team"]}


def d(value: float) -> Any:
    """Days as decimals, compared with a float tolerance.

    The library keeps instants as float POSIX seconds, exact to about 2.4e-7 s in 2011-2026, so
    millisecond timestamps (the receipt log) come out up to ~1e-7 s off: abs 1e-11 d is 0.86 us.
    """
    return pytest.approx(value, rel=1e-12, abs=1e-11)


def row(team: str, org: str | None, days, episodes, cases, median, p90) -> dict[str, Any]:
    return {
        "team": team,
        "organisation": org,
        "days": d(days),
        "episodes": episodes,
        "cases": cases,
        "median_days": d(median),
        "p90_days": d(p90),
    }


# --- ties and order -----------------------------------------------------------------------------

TIES = """case_id,occurred_at,state,team
t1,2026-01-01T09:00:00Z,open,A
t1,2026-01-02T09:00:00Z,work,B
t1,2026-01-02T10:00:00+01:00,work,C
"""
# Lines 3 and 4 are the same instant (10:00+01:00 = 09:00Z): the file order decides, so A, B, C.
# Handoffs A->B and B->C, both at 2026-01-02 09:00. Holding at 2026-01-05 09:00:
# A 1 day; B from 09:00 to 09:00 = 0 days (still one episode); C 3 days.


def test_ties_are_ordered_by_line() -> None:
    """Events at the same instant keep their order in the file."""
    store = load(TIES)
    report = handoffs(store, "2026-01-05T09:00")
    assert report["handoffs"] == 2
    assert report["by_pair"] == [
        {"from_team": "A", "to_team": "B", "count": 1},
        {"from_team": "B", "to_team": "C", "count": 1},
    ]
    assert case(report, "t1")["teams"] == ["A", "B", "C"]
    held = teams(holding(store, "2026-01-05T09:00"))
    assert held["A"] == row("A", "unknown", 1, 1, 1, 1, 1)
    assert held["B"] == row("B", "unknown", 0, 1, 1, 0, 0)
    assert held["C"] == row("C", "unknown", 3, 1, 1, 3, 3)


def test_ties_swapped_in_the_file_swap_the_order() -> None:
    """Swapping two tied rows in the file swaps them in the case's sequence."""
    lines = TIES.splitlines()
    store = load("\n".join([*lines[:2], lines[3], lines[2]]) + "\n")
    # Now A, C, B: handoffs A->C, C->B; C holds 0 days, B 3 days.
    report = handoffs(store, "2026-01-05T09:00")
    assert case(report, "t1")["teams"] == ["A", "C", "B"]
    held = teams(holding(store, "2026-01-05T09:00"))
    assert held["C"]["days"] == 0
    assert held["B"]["days"] == d(3)


def test_rows_out_of_order_in_the_file() -> None:
    """Rows given in any order are ordered by time within each case."""
    store = load(
        "case_id,occurred_at,state,team\n"
        "x1,2026-01-04,work,C\n"
        "x2,2026-01-03,work,A\n"
        "x1,2026-01-01,open,A\n"
        "x1,2026-01-02,work,B\n"
    )
    # x1 in time order: A (1st), B (2nd), C (4th). Handoffs A->B, B->C; teams A, B, C.
    # Holding at the 10th: A 1 day, B 2 days, C 6 days; x2: A from the 3rd, 7 days.
    report = handoffs(store, "2026-01-10")
    assert case(report, "x1") == {
        "case_id": "x1",
        "handoffs": 2,
        "ping_pongs": 0,
        "s75_crossings": 0,
        "teams": ["A", "B", "C"],
    }
    assert [e.to_team for e in store.history("x1")] == ["A", "B", "C"]
    held = teams(holding(store, "2026-01-10"))
    # A: episodes 1 day (x1) and 7 days (x2): median 4, p90 = 1 + 0.9 * 6 = 6.4.
    assert held["A"] == row("A", "unknown", 8, 2, 2, 4, 6.4)
    assert held["B"] == row("B", "unknown", 2, 1, 1, 2, 2)
    assert held["C"] == row("C", "unknown", 6, 1, 1, 6, 6)


# --- open, closed, single -----------------------------------------------------------------------


def test_open_case_is_held_until_as_of() -> None:
    """The last team of an open case holds it until as_of, whatever as_of is."""
    store = load("case_id,occurred_at,state,team\no1,2026-01-01,open,A\no1,2026-01-03,work,B\n")
    # A from the 1st to the 3rd: 2 days; B from the 3rd to as_of.
    assert teams(holding(store, "2026-01-10"))["B"]["days"] == d(7)
    assert teams(holding(store, "2026-01-20T12:00"))["B"]["days"] == d(17.5)
    assert teams(holding(store, "2026-01-20T12:00"))["A"]["days"] == d(2)
    assert holding(store, "2026-01-20")["unallocated_days"] == 0


CLOSED = """case_id,occurred_at,state,team
r1,2026-01-01,open,A
r1,2026-01-03,closed,A
r1,2026-01-08,open,B
r2,2026-01-01,open,A
r2,2026-01-02,closed,A
r2,2026-01-06,open,A
"""
# r1: A holds the 1st to the 3rd (2 days); closed on the 3rd: nobody holds it, not unallocated;
#     re-referred to B on the 8th (a handoff A->B at the 8th); B holds to as_of.
# r2: A the 1st to the 2nd (1 day); closed; re-referred to A on the 6th: no handoff, but a new
#     episode (the closed gap splits them).


def test_closed_case_re_referred() -> None:
    """A closed case is held by nobody (and not unallocated) until it is re-referred."""
    store = load(CLOSED, finals=("closed",))
    held = holding(store, "2026-01-10")
    # A: r1 2 days, r2 1 day and 4 days (6th to 10th) = 7 days in 3 episodes over 2 cases;
    # sorted 1, 2, 4: median 2, p90 = position 1.8 -> 2 + 0.8 * 2 = 3.6. B: r1 8th-10th, 2 days.
    assert teams(held) == {
        "A": row("A", "unknown", 7, 3, 2, 2, 3.6),
        "B": row("B", "unknown", 2, 1, 1, 2, 2),
    }
    assert held["unallocated_days"] == 0
    report = handoffs(store, "2026-01-10")
    assert report["handoffs"] == 1
    assert case(report, "r1")["teams"] == ["A", "B"]
    assert case(report, "r2")["teams"] == ["A"]
    assert case(report, "r2")["handoffs"] == 0


def test_closed_case_before_its_re_referral() -> None:
    """Between closure and re-referral the case is in the report but held by nobody."""
    store = load(CLOSED, finals=("closed",))
    # At the 5th: r1 closed on the 3rd (A 2 days), r2 closed on the 2nd (A 1 day).
    held = holding(store, "2026-01-05")
    assert teams(held) == {"A": row("A", "unknown", 3, 2, 2, 1.5, 1.9)}
    assert held["unallocated_days"] == 0
    report = handoffs(store, "2026-01-05")
    assert report["cases"] == 2
    assert report["events"] == 4
    assert report["handoffs"] == 0
    assert report["distribution"] == [{"handoffs": 0, "cases": 2}]


def test_single_event_cases() -> None:
    """A one-event case is held from that event to as_of, or by nobody if the event closed it."""
    store = load(
        "case_id,occurred_at,state,team\ns1,2026-01-01,open,A\ns2,2026-01-02,closed,B\n",
        finals=("closed",),
    )
    # s1: A 1st to 4th = 3 days. s2: closed at once, nobody ever holds it.
    held = holding(store, "2026-01-04")
    assert teams(held) == {"A": row("A", "unknown", 3, 1, 1, 3, 3)}
    assert held["unallocated_days"] == 0
    report = handoffs(store, "2026-01-04")
    assert report["cases"] == 2
    assert report["handoffs"] == 0
    assert case(report, "s1")["teams"] == ["A"]
    assert case(report, "s2")["teams"] == ["B"]
    assert report["distribution"] == [{"handoffs": 0, "cases": 2}]


# --- unallocated gaps ---------------------------------------------------------------------------

GAPS = """case_id,occurred_at,state,team
u1,2026-01-01,open,A
u1,2026-01-02,waiting,
u1,2026-01-04,work,B
u2,2026-01-01,open,A
u2,2026-01-02,waiting,
u2,2026-01-04,work,A
"""
# u1: A 1st-2nd (1 day), nobody 2nd-4th (2 days unallocated), B from the 4th: ONE handoff A->B,
#     at the 4th (when B took it).
# u2: A 1st-2nd (1 day), nobody 2nd-4th (2 days), A again from the 4th: no handoff, 2 A episodes.


def test_unallocated_gaps() -> None:
    """A, (empty), B is one handoff at B's event; A, (empty), A is none; the gap is unallocated."""
    store = load(GAPS)
    report = handoffs(store, "2026-01-10")
    assert report["handoffs"] == 1
    assert report["by_pair"] == [{"from_team": "A", "to_team": "B", "count": 1}]
    assert case(report, "u1")["teams"] == ["A", "B"]
    assert case(report, "u2") == {
        "case_id": "u2",
        "handoffs": 0,
        "ping_pongs": 0,
        "s75_crossings": 0,
        "teams": ["A"],
    }
    held = holding(store, "2026-01-10")
    # A: u1 1 day, u2 1 day and 6 days (4th-10th): 8 days, 3 episodes, 2 cases;
    # sorted 1, 1, 6: median 1, p90 = position 1.8 -> 1 + 0.8 * 5 = 5. B: u1 4th-10th, 6 days.
    assert teams(held) == {
        "A": row("A", "unknown", 8, 3, 2, 1, 5),
        "B": row("B", "unknown", 6, 1, 1, 6, 6),
    }
    assert held["unallocated_days"] == d(4)


def test_handoff_across_a_gap_is_timed_at_the_receiving_event() -> None:
    """The A->B handoff across a gap falls at B's event: in a window after A let go, not before."""
    store = load(GAPS)
    # Window 3rd-5th: the handoff (4th) is in it. Window 1st-3rd: it is not.
    assert handoffs(store, "2026-01-10", since="2026-01-03", until="2026-01-05")["handoffs"] == 1
    assert handoffs(store, "2026-01-10", since="2026-01-01", until="2026-01-03")["handoffs"] == 0


# --- ping-pongs and S75 crossings ---------------------------------------------------------------

PING = """case_id,occurred_at,state,team
p1,2026-01-01,w,A
p1,2026-01-02,w,B
p1,2026-01-03,w,A
p1,2026-01-04,w,B
p2,2026-01-01,w,A
p2,2026-01-02,w,B
p2,2026-01-03,w,C
p2,2026-01-04,w,A
p3,2026-01-01,w,A
p3,2026-01-02,w,B
p3,2026-01-03,w,B
p3,2026-01-04,w,
p3,2026-01-05,w,A
"""
# p1: A,B,A,B: 3 handoffs; t3 = t1 (A) and t4 = t2 (B): 2 ping-pongs.
# p2: A,B,C,A: 3 handoffs; t3 = C != A, t4 = A != B: 0 ping-pongs.
# p3: A,B,B,(empty),A collapses to A,B,A: 2 handoffs, 1 ping-pong.
# by_pair: A->B p1 x2 + p2 + p3 = 4; B->A p1 + p3 = 2; B->C 1; C->A 1.


def test_ping_pongs() -> None:
    """A,B,A,B has two ping-pongs; A,B,C,A none; repeats and gaps collapse before counting."""
    store = load(PING)
    report = handoffs(store, "2026-01-10")
    assert (report["handoffs"], report["ping_pongs"], report["s75_crossings"]) == (8, 3, 0)
    # Ordered by handoffs desc, ping-pongs desc, case id.
    assert by_case(report) == [
        {"case_id": "p1", "handoffs": 3, "ping_pongs": 2, "s75_crossings": 0,
         "teams": ["A", "B", "A", "B"]},
        {"case_id": "p2", "handoffs": 3, "ping_pongs": 0, "s75_crossings": 0,
         "teams": ["A", "B", "C", "A"]},
        {"case_id": "p3", "handoffs": 2, "ping_pongs": 1, "s75_crossings": 0,
         "teams": ["A", "B", "A"]},
    ]  # fmt: skip
    assert report["by_pair"] == [
        {"from_team": "A", "to_team": "B", "count": 4},
        {"from_team": "B", "to_team": "A", "count": 2},
        {"from_team": "B", "to_team": "C", "count": 1},
        {"from_team": "C", "to_team": "A", "count": 1},
    ]
    assert report["distribution"] == [{"handoffs": 2, "cases": 1}, {"handoffs": 3, "cases": 2}]
    assert report["events"] == 13


S75 = """case_id,occurred_at,state,team,organisation
o1,2026-01-01,w,hub,council
o1,2026-01-02,w,lets,council
o1,2026-01-03,w,cmht,trust
o1,2026-01-04,w,,
o1,2026-01-05,w,hub,council
o1,2026-01-06,w,agency,
"""
# hub->lets (council->council): no crossing; lets->cmht (council->trust): crossing;
# cmht->(gap)->hub (trust->council): crossing; hub->agency (council->"unknown": no organisation
# given, no pathway): crossing. 4 handoffs, 3 crossings; hub,lets,cmht,hub,agency: no ping-pong.


def test_s75_crossings_with_an_organisation_column() -> None:
    """A handoff is an S75 crossing when the organisations (column, else 'unknown') differ."""
    store = load(S75)
    report = handoffs(store, "2026-01-10")
    assert (report["handoffs"], report["ping_pongs"], report["s75_crossings"]) == (4, 0, 3)
    assert case(report, "o1")["teams"] == ["hub", "lets", "cmht", "hub", "agency"]
    held = teams(holding(store, "2026-01-10"))
    # hub: 1st-2nd and 5th-6th = 2 days, 2 episodes; cmht 3rd-4th 1 day; agency 6th-10th 4 days.
    assert held["hub"] == row("hub", "council", 2, 2, 1, 1, 1)
    assert held["cmht"] == row("cmht", "trust", 1, 1, 1, 1, 1)
    assert held["agency"] == row("agency", "unknown", 4, 1, 1, 4, 4)


def test_s75_crossings_from_the_pathway_organisations() -> None:
    """Without an organisation column the pathway's team organisations decide crossings."""
    store = load(
        "case_id,occurred_at,state,team\n"
        "m1,2026-01-01,referred,hub\n"
        "m1,2026-01-02,choice_appointment,lets\n"
        "m1,2026-01-03,specialist_support,cmht\n"
        "m1,2026-01-04,x,elsewhere\n"
        "m1,2026-01-05,closed,lets\n",
        pathway=pathway.load_pathway(MINIMAL),
    )
    # minimal.yaml: hub, lets council; cmht trust; 'elsewhere' is not in it: "unknown".
    # hub->lets no; lets->cmht yes; cmht->elsewhere yes; elsewhere->lets yes: 4 handoffs, 3.
    # 'closed' is final in the pathway: lets holds nothing after the 5th.
    report = handoffs(store, "2026-01-10")
    assert (report["handoffs"], report["s75_crossings"]) == (4, 3)
    held = teams(holding(store, "2026-01-10"))
    assert held["lets"] == row("lets", "council", 1, 1, 1, 1, 1)
    assert held["cmht"]["organisation"] == "trust"
    assert held["elsewhere"]["organisation"] == "unknown"


# --- as_of, windows, team filter ----------------------------------------------------------------

ASOF = """case_id,occurred_at,state,team
a1,2026-01-01,w,A
a1,2026-01-05,w,B
a1,2026-01-09,w,C
a2,2026-01-07,w,A
"""


def test_as_of_leaves_out_later_events_and_cases() -> None:
    """Events after as_of are left out; a case whose first event is after it is absent."""
    store = load(ASOF)
    # At the 6th: a1 has A (1st), B (5th); C (9th) is later. a2 starts on the 7th: absent.
    report = handoffs(store, "2026-01-06")
    assert report["cases"] == 1
    assert report["events"] == 2
    assert by_case(report) == [
        {"case_id": "a1", "handoffs": 1, "ping_pongs": 0, "s75_crossings": 0, "teams": ["A", "B"]}
    ]
    # A 1st-5th = 4 days (a2's A is not yet); B 5th to as_of = 1 day.
    assert teams(holding(store, "2026-01-06")) == {
        "A": row("A", "unknown", 4, 1, 1, 4, 4),
        "B": row("B", "unknown", 1, 1, 1, 1, 1),
    }
    # Before any event: an empty report.
    empty = handoffs(store, "2025-12-31")
    assert (empty["cases"], empty["events"], empty["by_case"], empty["distribution"]) == (
        0,
        0,
        [],
        [],
    )
    assert holding(store, "2025-12-31")["by_team"] == []


def test_team_sequence_stops_at_as_of() -> None:
    """A named team first given after as_of (or after until) is not in the case's teams."""
    # A regression test: case_flow.first_team is folded over the whole history, and the handoffs
    # report once put it first in `teams` without checking its time against the window end.
    store = load("case_id,occurred_at,state,team\nb1,2026-01-01,open,\nb1,2026-01-08,work,A\n")
    # At the 6th b1 has only its unallocated event: it is in the report, with no named team.
    assert case(handoffs(store, "2026-01-06"), "b1")["teams"] == []
    assert case(handoffs(store, "2026-01-10", until="2026-01-06"), "b1")["teams"] == []


WINDOW = """case_id,occurred_at,state,team
w1,2026-01-01,w,A
w1,2026-01-05,w,B
w1,2026-01-09,w,C
w2,2026-01-02,w,A
"""


def test_window_cuts_episodes() -> None:
    """With since/until, only the days inside the window count; overlapping episodes count."""
    store = load(WINDOW)
    # Window 3rd-7th, as_of the 20th.
    # w1: A [1st, 5th] -> [3rd, 5th] 2 days; B [5th, 9th] -> [5th, 7th] 2 days; C from the 9th: out.
    # w2: A [2nd, 20th] -> [3rd, 7th] 4 days.
    # A: 6 days, 2 episodes, 2 cases, median of 2 and 4 = 3, p90 = 2 + 0.9 * 2 = 3.8.
    held = holding(store, "2026-01-20", since="2026-01-03", until="2026-01-07")
    assert teams(held) == {
        "A": row("A", "unknown", 6, 2, 2, 3, 3.8),
        "B": row("B", "unknown", 2, 1, 1, 2, 2),
    }
    # Handoffs: A->B (5th) is in; B->C (9th) is not. w1's teams up to the 7th: A, B.
    report = handoffs(store, "2026-01-20", since="2026-01-03", until="2026-01-07")
    assert (report["cases"], report["events"], report["handoffs"]) == (2, 1, 1)
    assert case(report, "w1")["teams"] == ["A", "B"]
    assert report["distribution"] == [{"handoffs": 0, "cases": 1}, {"handoffs": 1, "cases": 1}]


def test_window_edges_are_inclusive() -> None:
    """An episode touching the window's edge counts (with 0 days); a handoff on the edge counts."""
    store = load(WINDOW)
    # Window = the instant of the 9th: B [5th, 9th] and C [9th, ...] touch it; w2's A covers it.
    held = holding(store, "2026-01-20", since="2026-01-09", until="2026-01-09")
    assert teams(held) == {
        "A": row("A", "unknown", 0, 1, 1, 0, 0),
        "B": row("B", "unknown", 0, 1, 1, 0, 0),
        "C": row("C", "unknown", 0, 1, 1, 0, 0),
    }
    report = handoffs(store, "2026-01-20", since="2026-01-09", until="2026-01-09")
    assert report["handoffs"] == 1  # B->C at the 9th
    assert report["events"] == 1


def test_until_after_as_of_stops_at_as_of() -> None:
    """The window never runs past as_of."""
    store = load(WINDOW)
    # as_of the 6th, until the 30th: window [3rd, 6th]. A: w1 2 days + w2 3 days; B 1 day.
    held = holding(store, "2026-01-06", since="2026-01-03", until="2026-01-30")
    assert teams(held) == {
        "A": row("A", "unknown", 5, 2, 2, 2.5, 2.9),
        "B": row("B", "unknown", 1, 1, 1, 1, 1),
    }


FILTER = """case_id,occurred_at,state,team
f1,2026-01-01,w,A
f1,2026-01-03,w,B
f1,2026-01-06,w,A
f2,2026-01-01,w,B
f2,2026-01-02,w,
f2,2026-01-04,w,C
f3,2026-01-02,w,C
"""
# f1: A [1,3] 2 d, B [3,6] 3 d, A [6,10] 4 d; handoffs A->B, B->A (a ping-pong).
# f2: B [1,2] 1 d, unallocated [2,4] 2 d, C [4,10] 6 d; handoff B->C at the 4th.
# f3: C [2,10] 8 d.


def test_team_filter() -> None:
    """With a team, only its handoffs, its cases, its row and its cases' unallocated time count."""
    store = load(FILTER)
    a = handoffs(store, "2026-01-10", team="A")
    # A's cases: f1. Its handoffs: A->B, B->A (ping-pong). All three f1 events.
    assert (a["cases"], a["events"], a["handoffs"], a["ping_pongs"]) == (1, 3, 2, 1)
    assert by_case(a) == [
        {"case_id": "f1", "handoffs": 2, "ping_pongs": 1, "s75_crossings": 0,
         "teams": ["A", "B", "A"]}
    ]  # fmt: skip
    b = handoffs(store, "2026-01-10", team="B")
    # B's cases: f1, f2. Handoffs from or to B: f1 A->B, B->A; f2 B->C.
    assert (b["cases"], b["events"], b["handoffs"], b["ping_pongs"]) == (2, 6, 3, 1)
    assert [(r["case_id"], r["handoffs"]) for r in b["by_case"]] == [("f1", 2), ("f2", 1)]
    assert b["by_pair"] == [
        {"from_team": "A", "to_team": "B", "count": 1},
        {"from_team": "B", "to_team": "A", "count": 1},
        {"from_team": "B", "to_team": "C", "count": 1},
    ]
    c = handoffs(store, "2026-01-10", team="C")
    # C's cases: f2 (received B->C), f3 (held). One handoff.
    assert [(r["case_id"], r["handoffs"]) for r in c["by_case"]] == [("f2", 1), ("f3", 0)]
    assert c["distribution"] == [{"handoffs": 0, "cases": 1}, {"handoffs": 1, "cases": 1}]

    held_a = holding(store, "2026-01-10", team="A")
    # A: 2 + 4 = 6 days, 2 episodes, 1 case; median 3; p90 2 + 0.9 * 2 = 3.8. f1 never unallocated.
    assert held_a["by_team"] == [row("A", "unknown", 6, 2, 1, 3, 3.8)]
    assert held_a["unallocated_days"] == 0
    held_b = holding(store, "2026-01-10", team="B")
    # B: f1 3 days + f2 1 day; median 2, p90 1 + 0.9 * 2 = 2.8; f2's 2 unallocated days.
    assert held_b["by_team"] == [row("B", "unknown", 4, 2, 2, 2, 2.8)]
    assert held_b["unallocated_days"] == d(2)
    held_c = holding(store, "2026-01-10", team="C")
    # C: f2 6 days + f3 8 days; median 7, p90 6 + 0.9 * 2 = 7.8; f2's 2 unallocated days.
    assert held_c["by_team"] == [row("C", "unknown", 14, 2, 2, 7, 7.8)]
    assert held_c["unallocated_days"] == d(2)


# --- the import's rejections ----------------------------------------------------------------------


def counts(store: Any) -> dict[str, int]:
    conn = store.connection
    return {
        table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("cases", "events", "episodes", "handoffs", "case_flow")
    }


EMPTY_STORE = {"cases": 0, "events": 0, "episodes": 0, "handoffs": 0, "case_flow": 0}


def rejected(store: Any, text: str, **kwargs: Any) -> list[pathway.Problem]:
    with pytest.raises(pathway.DefinitionError) as caught:
        import_events(store, "bad.csv", text=text, **kwargs)
    problems = list(caught.value.problems)
    assert problems and all(p.source == "bad.csv" for p in problems)
    return problems


def test_rejects_a_missing_required_column() -> None:
    """A header without a required column is refused at line 1, naming the column."""
    store = pathway.open_store(":memory:")
    [problem] = rejected(store, "case_id,occurred_at,state\nc1,2026-01-01,open\n")
    assert problem.line == 1
    assert problem.pointer == ""  # header problems have no single field
    assert "missing required column(s) team" in problem.message
    assert counts(store) == EMPTY_STORE


def test_rejects_an_unparseable_date() -> None:
    """A bad date rejects the whole file, naming its line and the occurred_at field."""
    store = pathway.open_store(":memory:")
    [problem] = rejected(
        store, "case_id,occurred_at,state,team\nc1,2026-01-01,open,A\nc1,2026-13-45,w,B\n"
    )
    assert (problem.line, problem.pointer) == (3, "occurred_at")
    assert "2026-13-45" in problem.message
    assert counts(store) == EMPTY_STORE  # not even the good line 2


def test_rejects_an_empty_case_id() -> None:
    """An empty case id is refused with its line and the case_id field."""
    store = pathway.open_store(":memory:")
    [problem] = rejected(
        store, "case_id,occurred_at,state,team\nc1,2026-01-01,open,A\n  ,2026-01-02,w,B\n"
    )
    assert (problem.line, problem.pointer, problem.message) == (3, "case_id", "empty case id")
    assert counts(store) == EMPTY_STORE


def test_rejects_a_wrong_field_count() -> None:
    """A row with more or fewer fields than the header is refused with its line."""
    store = pathway.open_store(":memory:")
    problems = rejected(
        store,
        "case_id,occurred_at,state,team\nc1,2026-01-01,open,A\nc1,2026-01-02,w,B,extra\n\n"
        "c1,2026-01-03,w\n",
    )
    # Line 4 is blank (skipped); line 5 has 3 fields.
    assert [(p.line, p.pointer, p.message) for p in problems] == [
        (3, "", "has 5 fields, the header has 4"),
        (5, "", "has 3 fields, the header has 4"),
    ]
    assert counts(store) == EMPTY_STORE


def test_rejects_a_case_already_in_the_store() -> None:
    """A case id already in the store is refused with its line; nothing of the file is added."""
    store = pathway.open_store(":memory:")
    import_events(store, "first.csv", text="case_id,occurred_at,state,team\nc1,2026-01-01,open,A\n")
    before = counts(store)
    head = store.checkpoint()
    [problem] = rejected(
        store,
        "case_id,occurred_at,state,team\nc2,2026-01-01,open,A\nc1,2026-01-02,w,B\n",
    )
    assert (problem.line, problem.pointer) == (3, "case_id")
    assert "'c1' is already in the store" in problem.message
    assert counts(store) == before == {**EMPTY_STORE, "cases": 1, "events": 1, "episodes": 1,
                                       "case_flow": 1}  # fmt: skip
    assert store.checkpoint() == head
    assert [c.id for c in store.cases()] == ["c1"]


def test_rejects_an_empty_file() -> None:
    """An empty file is refused at line 1; a header without rows too."""
    store = pathway.open_store(":memory:")
    [problem] = rejected(store, "")
    assert (problem.line, problem.pointer) == (1, "")
    assert "empty" in problem.message
    [problem] = rejected(store, "case_id,occurred_at,state,team\n")
    assert (problem.line, problem.message) == (1, "the file has a header but no rows")
    assert counts(store) == EMPTY_STORE


def test_rejects_a_map_of_a_column_the_header_lacks() -> None:
    """A --map naming a column the header lacks is refused at line 1, naming the column."""
    store = pathway.open_store(":memory:")
    problems = rejected(
        store,
        "case_id,occurred_at,state,team\nc1,2026-01-01,open,A\n",
        mapping={"org:group": "team"},
    )
    assert [(p.line, p.pointer) for p in problems] == [(1, "")]
    assert "'org:group'" in problems[0].message
    assert counts(store) == EMPTY_STORE


def test_imported_events_verify_and_are_marked_imported() -> None:
    """Imported events join the hash chain (which verifies) and are marked imported."""
    store = pathway.open_store(":memory:")
    rejected(store, "case_id,occurred_at,state,team\nz1,nonsense,open,A\n")
    result = import_events(store, "x.csv", text=PING)
    import_events(store, "y.csv", text=GAPS)
    assert (result.rows, result.cases) == (13, 3)
    check = store.verify()
    assert check.ok, check.problem
    assert check.events == 13 + 6
    events = list(store.events())
    assert all(e.imported for e in events)
    assert all(e.trigger == "imported" for e in events)
    assert [e.position for e in events] == list(range(1, 20))


# --- real cases from the receipt log --------------------------------------------------------------


def receipt_cases(*case_ids: str) -> str:
    """The rows of the given receipt cases (with the header), as CSV text; skip without the file."""
    path = receipt_path()
    if path is None:
        pytest.skip("receipt.csv not found: set PATHWAY_RECEIPT_CSV or put it in shared/data/")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        writer.writerow(header)
        index = header.index("case:concept:name")
        writer.writerows(r for r in reader if r and r[index] in case_ids)
    return out.getvalue()


def test_receipt_case_10011() -> None:
    """case-10011 (across the October DST change) worked by hand."""
    store = load(receipt_cases("case-10011"), mapping=RECEIPT_MAP, drop=RECEIPT_DROP)
    # Rows (local time -> UTC):
    #   Group 1  2011-10-11 13:45:40.276+02:00 = 11:45:40.276Z
    #   Group 4  2011-10-12 08:26:25.398+02:00 = 06:26:25.398Z
    #   Group 1  2011-11-24 15:36:51.302+01:00 = 14:36:51.302Z
    #   Group 4  2011-11-24 15:37:16.553+01:00 = 14:37:16.553Z
    # Teams G1, G4, G1, G4: 3 handoffs, 2 ping-pongs; no organisation: all "unknown", no crossing.
    report = handoffs(store, "2011-12-01")
    assert by_case(report) == [
        {"case_id": "case-10011", "handoffs": 3, "ping_pongs": 2, "s75_crossings": 0,
         "teams": ["Group 1", "Group 4", "Group 1", "Group 4"]}
    ]  # fmt: skip
    assert report["events"] == 4
    # Group 1: 11:45:40.276 -> next day 06:26:25.398 = 18:40:45.122 = 67245.122 s,
    #          and 14:36:51.302 -> 14:37:16.553 = 25.251 s.
    # Group 4: 10-12 06:26:25.398 -> 11-24 14:36:51.302 = 43 d + 8:10:25.904 = 3744625.904 s,
    #          and 11-24 14:37:16.553 -> as_of 12-01 00:00 = 6 d + 9:22:43.447 = 552163.447 s.
    g1 = (67245.122, 25.251)
    g4 = (3744625.904, 552163.447)
    held = teams(holding(store, "2011-12-01"))
    assert held["Group 1"] == row(
        "Group 1", "unknown", sum(g1) / 86400, 2, 1,
        (g1[0] + g1[1]) / 2 / 86400, (g1[1] + 0.9 * (g1[0] - g1[1])) / 86400,
    )  # fmt: skip
    assert held["Group 4"] == row(
        "Group 4", "unknown", sum(g4) / 86400, 2, 1,
        (g4[0] + g4[1]) / 2 / 86400, (g4[1] + 0.9 * (g4[0] - g4[1])) / 86400,
    )  # fmt: skip


def test_receipt_case_10017() -> None:
    """case-10017: a case passed back and forth nine times in ten minutes, worked by hand."""
    store = load(receipt_cases("case-10017"), mapping=RECEIPT_MAP, drop=RECEIPT_DROP)
    # All on 2011-10-18, +02:00 (UTC = local - 2 h); 'EMPTY' is a literal group name in this log,
    # so it is a named team here, not an empty one:
    #   13:46:39.679 EMPTY, 13:47:06.950 G1, 13:47:26.235 G4, 13:47:41.811 G1, 13:47:57.979 G4,
    #   13:48:15.357 G1, 13:48:30.632 G1, 13:51:01.525 G4, 13:56:57.603 G1.
    # Collapsed: EMPTY, G1, G4, G1, G4, G1, G4, G1: 7 handoffs; t4..t8 each equal t_(i-2): 5.
    report = handoffs(store, "2011-10-18T12:00")  # 14:00 local
    assert by_case(report) == [
        {"case_id": "case-10017", "handoffs": 7, "ping_pongs": 5, "s75_crossings": 0,
         "teams": ["EMPTY", "Group 1", "Group 4", "Group 1", "Group 4", "Group 1", "Group 4",
                   "Group 1"]}
    ]  # fmt: skip
    # Group 1 episodes (s): 06.950->26.235 = 19.285; 41.811->57.979 = 16.168;
    #   13:48:15.357->13:51:01.525 = 166.168 (two G1 rows, one episode); 13:56:57.603->14:00 =
    #   182.397. Sorted 16.168, 19.285, 166.168, 182.397: median (19.285 + 166.168) / 2 =
    #   92.7265; p90 at position 2.7: 166.168 + 0.7 * 16.229 = 177.5283.
    # Group 4: 26.235->41.811 = 15.576; 57.979->15.357 = 17.378; 13:51:01.525->13:56:57.603 =
    #   356.078. Median 17.378; p90 at 1.8: 17.378 + 0.8 * 338.7 = 288.338.
    # EMPTY: 39.679 -> 06.950 = 27.271.
    held = teams(holding(store, "2011-10-18T12:00"))
    day = 86400
    assert held == {
        "Group 1": row("Group 1", "unknown", 384.018 / day, 4, 1, 92.7265 / day, 177.5283 / day),
        "Group 4": row("Group 4", "unknown", 389.032 / day, 3, 1, 17.378 / day, 288.338 / day),
        "EMPTY": row("EMPTY", "unknown", 27.271 / day, 1, 1, 27.271 / day, 27.271 / day),
    }


def test_receipt_case_10024_as_of_mid_case() -> None:
    """case-10024 cut at an as_of in the middle of its events, beside case-10011, by hand."""
    store = load(receipt_cases("case-10024", "case-10011"), mapping=RECEIPT_MAP, drop=RECEIPT_DROP)
    # case-10024, 2011-10-18 +02:00: 15:53:19.732 EMPTY, 15:53:38.108 G4, 15:53:53.778 G3,
    #   15:54:06.717 G2, 15:54:24.121 G1, 15:57:18.847 G1.
    # as_of 13:54:10Z = 15:54:10 local: both G1 rows are later and left out.
    #   EMPTY 19.732 -> 38.108 = 18.376 s; G4 38.108 -> 53.778 = 15.670 s;
    #   G3 53.778 -> 06.717 = 12.939 s; G2 06.717 -> as_of 10.000 = 3.283 s.
    #   Handoffs EMPTY->G4, G4->G3, G3->G2: 3; teams EMPTY, G4, G3, G2.
    # case-10011 by then: G1 (10-11 11:45:40.276Z), G4 (10-12 06:26:25.398Z): 1 handoff; G4 holds
    #   to as_of: 6 d + 13:54:10 - 06:26:25.398 = 6 d + 7:27:44.602 = 545264.602 s.
    report = handoffs(store, "2011-10-18T13:54:10")
    assert (report["cases"], report["events"], report["handoffs"]) == (2, 6, 4)
    assert by_case(report) == [
        {"case_id": "case-10024", "handoffs": 3, "ping_pongs": 0, "s75_crossings": 0,
         "teams": ["EMPTY", "Group 4", "Group 3", "Group 2"]},
        {"case_id": "case-10011", "handoffs": 1, "ping_pongs": 0, "s75_crossings": 0,
         "teams": ["Group 1", "Group 4"]},
    ]  # fmt: skip
    held = teams(holding(store, "2011-10-18T13:54:10"))
    day = 86400
    # Group 4: 545264.602 + 15.670 = 545280.272 s in 2 episodes of 2 cases;
    #   median (15.670 + 545264.602) / 2 = 272640.136; p90 15.670 + 0.9 * 545248.932 = 490739.7088.
    assert held["Group 4"] == row(
        "Group 4", "unknown", 545280.272 / day, 2, 2, 272640.136 / day, 490739.7088 / day
    )
    assert held["EMPTY"]["days"] == d(18.376 / day)
    assert held["Group 3"]["days"] == d(12.939 / day)
    assert held["Group 2"]["days"] == d(3.283 / day)
    # Group 1: case-10011's 67245.122 s only (case-10024's G1 rows are after as_of).
    assert held["Group 1"] == row(
        "Group 1", "unknown", 67245.122 / day, 1, 1, 67245.122 / day, 67245.122 / day
    )
