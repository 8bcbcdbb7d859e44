"""The S75 report checked figure by figure: small logs worked by hand, and an independent reference.

The first half imports small logs (CSV text in the test) and checks every figure of the report
(``by_organisation`` days and cases, ``crossings`` by direction, ``cases_over_threshold``) against
values worked out by hand from docs/reports.md ("Common rules", "Holding", "Handoffs", "S75") in
the comments beside them, never copied from the report's output. Every report is also checked
against ``schemas/report_s75.schema.json``.

The second half is a plain-Python reading of the same definitions, written without
``pathway.flow`` or the report SQL: it keeps every row, orders each case itself, cuts it at
``as_of`` and works out each figure in exact integer microseconds. It is compared with the
report on a seeded generated log of a few thousand cases (organisations from an ``organisation``
column, from the pathway's teams and ``unknown``; empty teams, closures and re-referrals, ties,
bouncing cases) at several scopes and thresholds, and on the real receipt log with organisations
given to its groups.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import CMHT, HUB, LETS
from report_helpers import DAY_US, EPOCH, at, load, parse_us, to_us

import pathway
from pathway.errors import InvalidRequest
from pathway.importer import import_events
from pathway.reports import Scope, s75_report

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "docs" / "examples" / "minimal.yaml"
SCHEMA = json.loads((ROOT / "schemas" / "report_s75.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


# --- helpers ------------------------------------------------------------------------------------


def d(value: float) -> Any:
    """Days compared with a float tolerance (the library keeps instants as float seconds)."""
    return pytest.approx(value, rel=1e-12, abs=1e-11)


def s75(store: Any, as_of: str, threshold: int | None = None, **scope: Any) -> dict[str, Any]:
    """The report's JSON, checked against its schema first (every hand-worked test checks it)."""
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    conn, chosen = store.connection, Scope(at(as_of), **scope)
    record = s75_report(conn, chosen) if threshold is None else s75_report(conn, chosen, threshold)
    data = record.to_json()
    VALIDATOR.validate(data)
    # The schema says date-time; jsonschema checks formats only with extra packages: parse them.
    for key in ("as_of", "since", "until"):
        assert data[key] is None or datetime.fromisoformat(data[key]).tzinfo is not None
    return data


def orgs(*rows: tuple[str, float, int]) -> list[dict[str, Any]]:
    """The expected ``by_organisation`` list, in the given order, days with a float tolerance."""
    return [{"organisation": o, "days": d(days), "cases": n} for o, days, n in rows]


def crossings(*rows: tuple[str, str, int]) -> list[dict[str, Any]]:
    """The expected ``crossings`` list, in the given order."""
    return [{"from_organisation": a, "to_organisation": b, "count": n} for a, b, n in rows]


def over(*rows: tuple[str, int]) -> list[dict[str, Any]]:
    """The expected ``cases_over_threshold`` list, in the given order."""
    return [{"case_id": c, "crossings": n} for c, n in rows]


# --- a basic log: days, cases, crossings each way, thresholds -----------------------------------

BASIC = """case_id,occurred_at,state,team,organisation
k1,2026-01-01,w,hub,council
k1,2026-01-02,w,cmht,trust
k1,2026-01-04,w,hub,council
k1,2026-01-05,w,cmht,trust
k1,2026-01-07,w,hub,council
k2,2026-01-01,w,lets,council
k2,2026-01-03,w,hub,council
k2,2026-01-06,w,iet,trust
k3,2026-01-02,w,cmht,trust
k3,2026-01-08,w,lets,council
"""
# As of the 10th (no window):
# k1: hub [1st,2nd] 1 d council; cmht [2nd,4th] 2 d trust; hub [4th,5th] 1 d council;
#     cmht [5th,7th] 2 d trust; hub [7th,10th] 3 d council (open: held until as_of).
#     Crossings: council->trust at the 2nd and 5th, trust->council at the 4th and 7th: 4.
# k2: lets [1st,3rd] 2 d council; hub [3rd,6th] 3 d council (lets->hub: a handoff, no crossing);
#     iet [6th,10th] 4 d trust. Crossing council->trust at the 6th: 1.
# k3: cmht [2nd,8th] 6 d trust; lets [8th,10th] 2 d council. Crossing trust->council: 1.
# council: k1 1 + 1 + 3, k2 2 + 3, k3 2 = 12 d over 3 cases.
# trust:   k1 2 + 2, k2 4, k3 6 = 14 d over 3 cases. (12 + 14 = 26 = k1 9 + k2 9 + k3 8.)
# crossings: council->trust k1 2 + k2 1 = 3; trust->council k1 2 + k3 1 = 3.


def test_days_cases_and_crossings_each_way() -> None:
    """Days and cases by organisation, and crossings by direction, on a log worked by hand."""
    report = s75(load(BASIC), "2026-01-10")
    assert report["by_organisation"] == orgs(("trust", 14, 3), ("council", 12, 3))
    # Equal counts: by from_organisation, then to_organisation.
    assert report["crossings"] == crossings(("council", "trust", 3), ("trust", "council", 3))
    # Default threshold 3: only k1 (4 crossings) crossed more than 3 times.
    assert report["threshold"] == 3
    assert report["cases_over_threshold"] == over(("k1", 4))
    assert (report["since"], report["until"], report["team"]) == (None, None, None)
    assert report["as_of"] == "2026-01-10T00:00:00.000000+00:00"


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (4, []),  # k1's 4 is not more than 4
        (3, [("k1", 4)]),
        (1, [("k1", 4)]),  # k2 and k3 crossed once: not more than 1
        (0, [("k1", 4), ("k2", 1), ("k3", 1)]),  # most first, then case id
    ],
)
def test_threshold_is_strictly_more_than(threshold: int, expected: list[tuple[str, int]]) -> None:
    """A case is listed when its crossings are more than the threshold, most first then by id."""
    report = s75(load(BASIC), "2026-01-10", threshold=threshold)
    assert report["threshold"] == threshold
    assert report["cases_over_threshold"] == over(*expected)


# --- ties ---------------------------------------------------------------------------------------

TIES = """case_id,occurred_at,state,team,organisation
t1,2026-01-01T09:00:00Z,w,hub,council
t1,2026-01-02T09:00:00Z,w,cmht,trust
t1,2026-01-02T10:00:00+01:00,w,lets,council
"""
# Lines 3 and 4 are the same instant (10:00+01:00 = 09:00Z): file order decides, hub, cmht, lets.
# As of the 5th 09:00: hub 1 d council; cmht from 09:00 to 09:00 = 0 d trust (still an episode,
# so t1 is one of trust's cases); lets 3 d council. Crossings council->trust and trust->council,
# both at the 2nd 09:00.


def test_ties_are_ordered_by_line() -> None:
    """Events at the same instant keep their file order; a zero-length holding still counts."""
    report = s75(load(TIES), "2026-01-05T09:00", threshold=1)
    assert report["by_organisation"] == orgs(("council", 4, 1), ("trust", 0, 1))
    assert report["crossings"] == crossings(("council", "trust", 1), ("trust", "council", 1))
    # Two crossings at one instant: more than 1.
    assert report["cases_over_threshold"] == over(("t1", 2))


def test_ties_swapped_in_the_file_swap_the_order() -> None:
    """Swapping the tied rows makes it hub, lets, cmht: one crossing, and cmht holds 3 days."""
    lines = TIES.splitlines()
    store = load("\n".join([*lines[:2], lines[3], lines[2]]) + "\n")
    # hub 1 d council; lets 0 d council; cmht 3 d trust. hub->lets is no crossing; lets->cmht is.
    report = s75(store, "2026-01-05T09:00", threshold=0)
    assert report["by_organisation"] == orgs(("trust", 3, 1), ("council", 1, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("t1", 1))


# --- as_of: open cases held until it; later events and cases left out ---------------------------

ASOF = """case_id,occurred_at,state,team,organisation
a1,2026-01-01,w,hub,council
a1,2026-01-05,w,cmht,trust
a1,2026-01-09,w,hub,council
a2,2026-01-07,w,cmht,trust
"""


def test_as_of_cuts_later_events_and_cases() -> None:
    """The open case is held until as_of; a later event and a case opened later are left out."""
    store = load(ASOF)
    # As of the 6th 12:00: a1 hub [1st,5th] 4 d; cmht [5th, as_of] 1.5 d; a1's hub at the 9th is
    # later (no trust->council crossing yet); a2 starts on the 7th: not in the report.
    report = s75(store, "2026-01-06T12:00", threshold=0)
    assert report["by_organisation"] == orgs(("council", 4, 1), ("trust", 1.5, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("a1", 1))
    # As of the 10th: a1 hub 4 d + [9th,10th] 1 d = 5 d council; a1 cmht [5th,9th] 4 d and
    # a2 cmht [7th,10th] 3 d = 7 d trust over 2 cases. Crossings one each way.
    report = s75(store, "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(("trust", 7, 2), ("council", 5, 1))
    assert report["crossings"] == crossings(("council", "trust", 1), ("trust", "council", 1))
    assert report["cases_over_threshold"] == over(("a1", 2))


def test_event_at_as_of_counts() -> None:
    """An event exactly at as_of is in: its crossing counts, its team holds the case 0 days."""
    report = s75(load(ASOF), "2026-01-05", threshold=0)
    # hub [1st,5th] 4 d; cmht from the 5th to as_of (the 5th): 0 d, but a1 is one of trust's.
    assert report["by_organisation"] == orgs(("council", 4, 1), ("trust", 0, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))


def test_before_any_event_the_report_is_empty() -> None:
    """As of a moment before every event, nothing is held and nothing crossed."""
    report = s75(load(ASOF), "2025-12-31", threshold=0)
    assert (report["by_organisation"], report["crossings"], report["cases_over_threshold"]) == (
        [],
        [],
        [],
    )


# --- closed and re-referred; single events -----------------------------------------------------

CLOSED = """case_id,occurred_at,state,team,organisation
r1,2026-01-01,w,hub,council
r1,2026-01-03,closed,hub,council
r1,2026-01-08,w,cmht,trust
r2,2026-01-01,w,cmht,trust
r2,2026-01-02,closed,cmht,trust
r2,2026-01-06,w,cmht,trust
s1,2026-01-04,w,lets,council
s2,2026-01-05,closed,cmht,trust
"""
# 'closed' closes (final_states). As of the 10th:
# r1: hub [1st,3rd] 2 d council; closed: nobody holds it from the 3rd to the 8th (not hub, not
#     council, not unallocated time); re-referred to cmht [8th,10th] 2 d trust. The handoff
#     hub->cmht (the closing event's team, then the re-referral's) is at the 8th: a crossing.
# r2: cmht [1st,2nd] 1 d trust; closed 2nd-6th; cmht again [6th,10th] 4 d trust; no handoff.
# s1: a single event: lets holds it from the 4th to as_of, 6 d council.
# s2: a single closing event: nobody ever holds it; it is in no figure.
# council: r1 2 + s1 6 = 8 d over r1, s1. trust: r1 2 + r2 1 + 4 = 7 d over r1, r2.
# (Were the closed gaps held, council would have 13 d and trust 11 d.)


def test_closed_case_re_referred() -> None:
    """The closed gap is nobody's; the re-referral to another organisation is a crossing."""
    report = s75(load(CLOSED, finals=("closed",)), "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(("council", 8, 2), ("trust", 7, 2))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("r1", 1))


def test_closed_case_before_its_re_referral() -> None:
    """Between the closure and the re-referral the case adds no days to anyone."""
    report = s75(load(CLOSED, finals=("closed",)), "2026-01-05", threshold=0)
    # r1 hub 2 d; r2 cmht 1 d; s1 lets [4th,5th] 1 d; s2 closed at the 5th (at as_of): nothing.
    # council: r1 2 + s1 1 = 3 d over 2 cases; trust: r2 1 d over 1 case. No crossing yet.
    assert report["by_organisation"] == orgs(("council", 3, 2), ("trust", 1, 1))
    assert report["crossings"] == []
    assert report["cases_over_threshold"] == []


# --- unallocated gaps ----------------------------------------------------------------------------

GAPS = """case_id,occurred_at,state,team,organisation
u1,2026-01-01,w,hub,council
u1,2026-01-02,waiting,,
u1,2026-01-04,w,cmht,trust
u2,2026-01-01,w,cmht,trust
u2,2026-01-02,waiting,,trust
u2,2026-01-05,w,cmht,trust
u3,2026-01-01,waiting,,council
u3,2026-01-03,w,hub,council
"""
# An empty team is nobody, whatever the organisation column says. As of the 10th:
# u1: hub [1st,2nd] 1 d council; nobody [2nd,4th]; cmht [4th,10th] 6 d trust. A, (nobody), B is
#     one handoff hub->cmht at the 4th (when cmht took it): a council->trust crossing.
# u2: cmht [1st,2nd] 1 d trust; nobody [2nd,5th] (its 'trust' cell does not make it trust's);
#     cmht [5th,10th] 5 d trust; cmht, (nobody), cmht is no handoff.
# u3: nobody [1st,3rd]; hub [3rd,10th] 7 d council; no handoff (hub is its first team).
# council: u1 1 + u3 7 = 8 d over u1, u3. trust: u1 6 + u2 1 + 5 = 12 d over u1, u2.
# (27 case-days in all, 7 unallocated: 20 = 8 + 12.)


def test_unallocated_time_is_nobodys() -> None:
    """Unallocated time counts for no organisation; A, (nobody), B is one crossing at B's event."""
    report = s75(load(GAPS), "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(("trust", 12, 2), ("council", 8, 2))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("u1", 1))


def test_crossing_across_a_gap_is_timed_at_the_receiving_event() -> None:
    """The hub->cmht crossing of u1 is at the 4th: in a window that holds the 4th, not the 2nd."""
    store = load(GAPS)
    # Window [2nd 12:00, 3rd]: hub let go at the 2nd, cmht took it on the 4th: no crossing.
    # Days: u1 nobody; u2 nobody; u3 nobody, then hub [3rd,3rd] 0 d: council 0 d, 1 case (u3).
    report = s75(store, "2026-01-10", threshold=0, since="2026-01-02T12:00", until="2026-01-03")
    assert report["by_organisation"] == orgs(("council", 0, 1))
    assert report["crossings"] == []
    # Window [4th, 4th]: the crossing is on the edge (inclusive). u1 cmht [4th..] 0 d; u2 nobody;
    # u3 hub 0 d: council 0 d (u3), trust 0 d (u1).
    report = s75(store, "2026-01-10", threshold=0, since="2026-01-04", until="2026-01-04")
    assert report["by_organisation"] == orgs(("council", 0, 1), ("trust", 0, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("u1", 1))


# --- where the organisation comes from ----------------------------------------------------------

SOURCES = """case_id,occurred_at,state,team,organisation
m1,2026-01-01,referred,hub,
m1,2026-01-02,w,cmht,
m1,2026-01-04,w,agency,
m1,2026-01-07,w,lets,
m2,2026-01-01,w,cmht,voluntary
m2,2026-01-06,w,amhp,council
m3,2026-01-02,w,agency,council
m3,2026-01-05,w,hub,
"""
# minimal.yaml: hub, lets, amhp are the council's, cmht the trust's; agency is not in it.
# The organisation column wins when given; else the pathway's; else 'unknown'. As of the 10th:
# m1: hub (pathway: council) [1st,2nd] 1 d; cmht (trust) [2nd,4th] 2 d; agency (unknown)
#     [4th,7th] 3 d; lets (council) [7th,10th] 3 d. Crossings council->trust, trust->unknown,
#     unknown->council.
# m2: cmht, column 'voluntary' [1st,6th] 5 d; amhp 'council' [6th,10th] 4 d: voluntary->council.
# m3: agency, column 'council' [2nd,5th] 3 d; hub (pathway: council) [5th,10th] 5 d: no crossing.
# council: m1 1 + 3, m2 4, m3 3 + 5 = 16 d over 3 cases; voluntary 5 d (m2); unknown 3 d (m1);
# trust 2 d (m1). (26 = m1 9 + m2 9 + m3 8.)
# Without a pathway hub, cmht, lets, agency (no column) are all 'unknown':
# m1: all 9 d unknown, no crossing; m2: voluntary 5, council 4, voluntary->council;
# m3: council 3 (agency, column), unknown 5 (hub): council->unknown.
# unknown 9 + 5 = 14 d over m1, m3; council 4 + 3 = 7 d over m2, m3; voluntary 5 d over m2.


def test_organisation_from_column_then_pathway_then_unknown() -> None:
    """The organisation column wins; else the pathway's team organisation; else 'unknown'."""
    store = load(SOURCES, pathway=pathway.load_pathway(MINIMAL))
    report = s75(store, "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(
        ("council", 16, 3), ("voluntary", 5, 1), ("unknown", 3, 1), ("trust", 2, 1)
    )
    # Each direction once: by from_organisation, then to_organisation (byte order).
    assert report["crossings"] == crossings(
        ("council", "trust", 1),
        ("trust", "unknown", 1),
        ("unknown", "council", 1),
        ("voluntary", "council", 1),
    )
    assert report["cases_over_threshold"] == over(("m1", 3), ("m2", 1))


def test_organisation_without_a_pathway() -> None:
    """Without a pathway a team with no organisation cell is 'unknown'."""
    report = s75(load(SOURCES), "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(
        ("unknown", 14, 2), ("council", 7, 2), ("voluntary", 5, 1)
    )
    assert report["crossings"] == crossings(("council", "unknown", 1), ("voluntary", "council", 1))
    assert report["cases_over_threshold"] == over(("m2", 1), ("m3", 1))


DEFAULT_PATHWAY = """case_id,occurred_at,state,team
b1,2026-01-01,referred,hub
b1,2026-01-03,w,iet
b1,2026-01-04,w,cmht
b1,2026-01-06T12:00,w,triage
b1,2026-01-08,closed,network
"""
# barnet-enablement: hub, iet, network are lbb's (the council), cmht and triage behmt's (the
# trust); 'closed' is final in it. As of the 10th:
# hub [1st,3rd] 2 d lbb; iet [3rd,4th] 1 d lbb; cmht [4th,6th 12:00] 2.5 d behmt;
# triage [6th 12:00, 8th] 1.5 d behmt; closed on the 8th by network: nobody holds it after.
# lbb 3 d, behmt 4 d. Handoffs hub->iet (no), iet->cmht (lbb->behmt), cmht->triage (no),
# triage->network (behmt->lbb: the closing event's team takes it, then closes it).


def test_organisation_from_the_default_pathway() -> None:
    """The default pathway's teams give the organisations; its final state closes the case."""
    store = load(DEFAULT_PATHWAY, pathway=pathway.load_pathway("barnet-enablement"))
    report = s75(store, "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(("behmt", 4, 1), ("lbb", 3, 1))
    assert report["crossings"] == crossings(("behmt", "lbb", 1), ("lbb", "behmt", 1))
    assert report["cases_over_threshold"] == over(("b1", 2))


CHANGED = """case_id,occurred_at,state,team,organisation
c1,2026-01-01,w,hub,council
c1,2026-01-03,w,hub,trust
c1,2026-01-05,w,cmht,trust
c2,2026-01-01,w,iet,trust
c2,2026-01-02,w,iet,
c2,2026-01-04,w,lets,council
"""
# The same team named with another organisation on a later row (docs/reports.md, S75: an
# episode keeps the organisation of the event that began it). As of the 10th, no pathway:
# c1: hub [1st,5th] is one episode begun as the council's: 4 d council (not 2 d council and
#     2 d trust); cmht [5th,10th] 5 d trust. The handoff hub->cmht is between the 3rd's row
#     (hub, trust) and cmht (trust): no crossing.
# c2: iet [1st,4th] begun as the trust's: 3 d trust (the 2nd's empty cell would make it
#     'unknown'); lets [4th,10th] 6 d council. The handoff iet->lets is between the 2nd's row
#     (iet, 'unknown': no column, no pathway) and lets (council): unknown->council.
# council: c1 4 + c2 6 = 10 d over 2 cases; trust: c1 5 + c2 3 = 8 d over 2 cases.


def test_an_episode_keeps_the_organisation_it_began_with() -> None:
    """Days follow the organisation of an episode's first row; a crossing, its own two rows'."""
    report = s75(load(CHANGED), "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(("council", 10, 2), ("trust", 8, 2))
    assert report["crossings"] == crossings(("unknown", "council", 1))
    assert report["cases_over_threshold"] == over(("c2", 1))
    # Window [3rd, 4th]: c1 hub's episode (begun as the council's) 1 d council; c2 iet [3rd,4th]
    # 1 d trust, lets [4th..] 0 d council. c2's crossing at the 4th is in.
    report = s75(load(CHANGED), "2026-01-10", threshold=0, since="2026-01-03", until="2026-01-04")
    assert report["by_organisation"] == orgs(("council", 1, 2), ("trust", 1, 1))
    assert report["crossings"] == crossings(("unknown", "council", 1))


def test_engine_events_offers_and_refusals() -> None:
    """The engine's own events: an offer (declined or pending) and a refusal move nobody."""
    store = pathway.open_store(":memory:")
    engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
    engine.open_case("e1", HUB, at=at("2026-01-01"))  # referred: hub (council)
    engine.fire("e1", "book_choice_appointment", LETS, at=at("2026-01-02"))  # lets (council)
    engine.fire("e1", "refer_to_cmht", LETS, at=at("2026-01-03"))  # offered: lets keeps it
    engine.fire("e1", "decline_handoff", CMHT, at=at("2026-01-04"), data={"decline_reason": "x"})
    engine.fire("e1", "refer_to_cmht", LETS, at=at("2026-01-05"))
    with pytest.raises(pathway.TransitionRefused):  # lets has no amhp: refused, changes nothing
        engine.fire("e1", "request_mha_assessment", LETS, at=at("2026-01-05T12:00"))
    engine.fire("e1", "accept_handoff", CMHT, at=at("2026-01-06"))  # cmht (trust) takes it
    engine.fire("e1", "close", CMHT, at=at("2026-01-08"))  # closed: nobody holds it after
    # hub [1st,2nd] 1 d + lets [2nd,6th] 4 d (through both offers) = 5 d council; cmht [6th,8th]
    # 2 d trust. One crossing, council->trust at the 6th (the declined offer is none).
    report = s75(store, "2026-01-10", threshold=0)
    assert report["by_organisation"] == orgs(("council", 5, 1), ("trust", 2, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("e1", 1))


# --- the period: since/until cut episodes, edges inclusive ---------------------------------------


def test_window_cuts_episodes() -> None:
    """Only the days inside [since, until] count; episodes touching an edge count their case."""
    store = load(BASIC)
    # Window [3rd, 6th], as_of the 10th:
    # k1: hub [1st,2nd] out; cmht [2nd,4th] -> [3rd,4th] 1 d trust; hub [4th,5th] 1 d council;
    #     cmht [5th,7th] -> [5th,6th] 1 d trust; hub from the 7th: out.
    #     Crossings in the window: trust->council (4th), council->trust (5th); 2nd, 7th out.
    # k2: lets [1st,3rd] touches the 3rd: 0 d council; hub [3rd,6th] 3 d council; iet from the 6th
    #     touches the end: 0 d trust. Crossing council->trust at the 6th (the edge): in.
    # k3: cmht [2nd,8th] -> [3rd,6th] 3 d trust; its crossing (8th) is out.
    # council: k1 1 + k2 3 = 4 d over k1, k2. trust: k1 2 + k2 0 + k3 3 = 5 d over 3 cases.
    report = s75(store, "2026-01-10", threshold=1, since="2026-01-03", until="2026-01-06")
    assert report["since"] == "2026-01-03T00:00:00.000000+00:00"
    assert report["until"] == "2026-01-06T00:00:00.000000+00:00"
    assert report["by_organisation"] == orgs(("trust", 5, 3), ("council", 4, 2))
    assert report["crossings"] == crossings(("council", "trust", 2), ("trust", "council", 1))
    assert report["cases_over_threshold"] == over(("k1", 2))


def test_window_of_one_instant() -> None:
    """since = until: every episode covering or touching the instant counts with 0 days."""
    store = load(BASIC)
    # The 4th: k1 cmht [2nd,4th] and hub [4th,5th] touch it; k2 hub [3rd,6th] and k3 cmht
    # [2nd,8th] cover it. council 0 d (k1, k2), trust 0 d (k1, k3); k1's trust->council at the 4th.
    report = s75(store, "2026-01-10", threshold=0, since="2026-01-04", until="2026-01-04")
    assert report["by_organisation"] == orgs(("council", 0, 2), ("trust", 0, 2))
    assert report["crossings"] == crossings(("trust", "council", 1))
    assert report["cases_over_threshold"] == over(("k1", 1))


def test_since_only_and_until_only() -> None:
    """Without until the period runs to as_of; without since it starts with the first event."""
    store = load(BASIC)
    # since the 6th, as_of the 10th:
    # k1: cmht [5th,7th] -> [6th,7th] 1 d trust; hub [7th,10th] 3 d council; crossing t->c (7th).
    # k2: hub [3rd,6th] touches: 0 d council; iet [6th,10th] 4 d trust; crossing c->t (6th).
    # k3: cmht [2nd,8th] -> [6th,8th] 2 d trust; lets [8th,10th] 2 d council; t->c (8th).
    # council 3 + 0 + 2 = 5 d, 3 cases; trust 1 + 4 + 2 = 7 d, 3 cases. t->c 2, c->t 1.
    report = s75(store, "2026-01-10", threshold=0, since="2026-01-06")
    assert report["by_organisation"] == orgs(("trust", 7, 3), ("council", 5, 3))
    assert report["crossings"] == crossings(("trust", "council", 2), ("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("k1", 1), ("k2", 1), ("k3", 1))
    # until the 4th, as_of the 10th:
    # k1: hub 1 d council; cmht [2nd,4th] 2 d trust; hub [4th,5th] -> 0 d council;
    #     crossings c->t (2nd), t->c (4th).
    # k2: lets [1st,3rd] 2 d; hub [3rd,4th] 1 d: council 3 d. k3: cmht [2nd,4th] 2 d trust.
    # council 1 + 0 + 3 = 4 d (k1, k2); trust 2 + 2 = 4 d (k1, k3): equal days, by name.
    report = s75(store, "2026-01-10", threshold=0, until="2026-01-04")
    assert report["by_organisation"] == orgs(("council", 4, 2), ("trust", 4, 2))
    assert report["crossings"] == crossings(("council", "trust", 1), ("trust", "council", 1))
    assert report["cases_over_threshold"] == over(("k1", 2))


def test_until_after_as_of_stops_at_as_of() -> None:
    """The period never runs past as_of: until the 30th as of the 6th is the window [3rd, 6th]."""
    store = load(BASIC)
    # The 6th is as_of: k1's hub (7th), k3's lets (8th) are later and left out; k2's iet at the
    # 6th is in. The figures are those of test_window_cuts_episodes.
    report = s75(store, "2026-01-06", threshold=1, since="2026-01-03", until="2026-01-30")
    assert report["by_organisation"] == orgs(("trust", 5, 3), ("council", 4, 2))
    assert report["crossings"] == crossings(("council", "trust", 2), ("trust", "council", 1))
    assert report["cases_over_threshold"] == over(("k1", 2))


# --- the team filter -----------------------------------------------------------------------------


def test_team_narrows_to_the_cases_it_held_or_handed_on() -> None:
    """With a team: the cases it held, handed on or received in the period, all their figures."""
    store = load(BASIC)
    # iet held only k2: k2's own figures (council 2 + 3 = 5 d, trust 4 d; council->trust 1).
    report = s75(store, "2026-01-10", threshold=0, team="iet")
    assert report["team"] == "iet"
    assert report["by_organisation"] == orgs(("council", 5, 1), ("trust", 4, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("k2", 1))
    # hub held k1 and k2 (not k3): council k1 5 + k2 5 = 10 d, trust k1 4 + k2 4 = 8 d;
    # council->trust k1 2 + k2 1 = 3; trust->council k1 2 (k3's crossing is not counted).
    report = s75(store, "2026-01-10", team="hub")
    assert report["by_organisation"] == orgs(("council", 10, 2), ("trust", 8, 2))
    assert report["crossings"] == crossings(("council", "trust", 3), ("trust", "council", 2))
    assert report["cases_over_threshold"] == over(("k1", 4))
    # k2's hub->iet crossing is counted for lets too, though lets was not part of it: lets held
    # k2 until the 3rd (touching the window [3rd, 6th]), so k2 is lets's case; k3's lets
    # (from the 8th) is after the window. k2 in the window: lets 0 d, hub 3 d council; iet 0 d.
    report = s75(
        store, "2026-01-10", threshold=0, team="lets", since="2026-01-03", until="2026-01-06"
    )
    assert report["by_organisation"] == orgs(("council", 3, 1), ("trust", 0, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("k2", 1))


def test_team_that_only_handed_on_across_a_gap() -> None:
    """A team that let go before the period but whose handoff (across a gap) is in it counts."""
    store = load(GAPS)
    # Window [3rd, 5th]: hub held u1 until the 2nd (out), but hub->cmht is at the 4th (in): u1 is
    # hub's case. u1 in the window: nobody [3rd,4th]; cmht [4th,5th] 1 d trust. u3's hub [3rd..]
    # is hub's too: hub [3rd,5th] 2 d council.
    report = s75(
        store, "2026-01-10", threshold=0, team="hub", since="2026-01-03", until="2026-01-05"
    )
    assert report["by_organisation"] == orgs(("council", 2, 1), ("trust", 1, 1))
    assert report["crossings"] == crossings(("council", "trust", 1))
    assert report["cases_over_threshold"] == over(("u1", 1))


# --- the reference: a plain-Python reading of the definitions ------------------------------------


@dataclass(frozen=True)
class Row:
    """One imported row, with what the definitions need of it."""

    at: int  # microseconds since the epoch
    line: int  # the row's place in the file: breaks ties
    state: str
    team: str | None  # None: the case is unallocated from this row
    organisation: str | None  # the holding team's organisation (None with no team)


def read_rows(
    text: str, team_orgs: dict[str, str], mapping: dict[str, str] | None = None
) -> dict[str, list[Row]]:
    """Each case's rows in time order, ties by file order (*Order*); organisations by *Organisation*.

    The organisation column if given, else the pathway's organisation of the team (``team_orgs``),
    else 'unknown'; an empty team is nobody, whatever the organisation column says.
    """
    reader = csv.reader(io.StringIO(text))
    header = [(mapping or {}).get(name, name) for name in next(reader)]
    col = {name: i for i, name in enumerate(header)}
    cases: dict[str, list[Row]] = defaultdict(list)
    for number, fields in enumerate(reader):
        if not fields:
            continue
        team = fields[col["team"]].strip() or None
        given = fields[col["organisation"]].strip() if "organisation" in col else ""
        organisation = None if team is None else given or team_orgs.get(team, "unknown")
        cases[fields[col["case_id"]].strip()].append(
            Row(
                parse_us(fields[col["occurred_at"]]),
                number,
                fields[col["state"]].strip(),
                team,
                organisation,
            )
        )
    for rows in cases.values():
        rows.sort(key=lambda r: (r.at, r.line))
    return dict(cases)


@dataclass
class Spell:
    """A run of one case's time with one team (or nobody), not broken by a closure."""

    team: str | None
    organisation: str | None
    start: int
    end: int


@dataclass(frozen=True)
class Handoff:
    """Two consecutive rows with named teams that differ, at the receiving row's time."""

    at: int
    from_team: str
    to_team: str
    from_organisation: str
    to_organisation: str

    @property
    def crossing(self) -> bool:
        """An S75 crossing: the two rows' organisations differ."""
        return self.from_organisation != self.to_organisation


def case_at(rows: list[Row], as_of: int, finals: set[str]) -> tuple[list[Spell], list[Handoff]]:
    """One case as it stood at ``as_of``: its holding spells and its handoffs.

    *Holding*: each row's team holds the case from the row's time to the next row's (after the
    last, to as_of) unless the row closed the case; after a closing row nobody holds it until the
    next. Consecutive time with one team is one spell (an *episode*); it keeps the organisation of
    the row that began it (docs/reports.md, S75). *Handoffs*: consecutive rows with named teams
    (empty teams skipped) whose teams differ, each with the organisations of its two rows.
    """
    seen = [r for r in rows if r.at <= as_of]
    spells: list[Spell] = []
    current: Spell | None = None
    for i, row in enumerate(seen):
        if row.state in finals:
            current = None  # the closed gap: held by nobody, not even unallocated
            continue
        end = seen[i + 1].at if i + 1 < len(seen) else as_of
        if current is not None and current.team == row.team:
            current.end = end
        else:
            current = Spell(row.team, row.organisation, row.at, end)
            spells.append(current)
    handoffs: list[Handoff] = []
    named = [r for r in seen if r.team is not None]
    for before, after in itertools.pairwise(named):
        if before.team != after.team:
            assert before.team and after.team and before.organisation and after.organisation
            handoffs.append(
                Handoff(after.at, before.team, after.team, before.organisation, after.organisation)
            )
    return spells, handoffs


def reference_s75(
    cases: dict[str, list[Row]], finals: set[str], scope: Scope, threshold: int
) -> dict[str, Any]:
    """The S75 figures from the definitions, days in exact microseconds (organisation: (us, n))."""
    as_of = to_us(scope.as_of)
    start = None if scope.since is None else to_us(scope.since)
    end = as_of if scope.until is None else min(as_of, to_us(scope.until))

    def overlaps(spell: Spell) -> bool:  # touching the period counts
        return spell.start <= end and (start is None or spell.end >= start)

    def inside(instant: int) -> bool:
        return (start is None or instant >= start) and instant <= end

    def clipped(spell: Spell) -> int:
        begin = spell.start if start is None else max(spell.start, start)
        return max(0, min(spell.end, end) - begin)

    days: Counter[str] = Counter()
    held: dict[str, set[str]] = defaultdict(set)
    directions: Counter[tuple[str, str]] = Counter()
    per_case: Counter[str] = Counter()
    for case_id, rows in cases.items():
        spells, handoffs = case_at(rows, as_of, finals)
        if scope.team is not None and not (
            # The cases the team held in the period, or handed on or received in it.
            any(s.team == scope.team and overlaps(s) for s in spells)
            or any(inside(h.at) and scope.team in (h.from_team, h.to_team) for h in handoffs)
        ):
            continue
        for spell in spells:
            if spell.team is not None and overlaps(spell):
                assert spell.organisation is not None
                days[spell.organisation] += clipped(spell)
                held[spell.organisation].add(case_id)
        for handoff in handoffs:
            if handoff.crossing and inside(handoff.at):
                directions[(handoff.from_organisation, handoff.to_organisation)] += 1
                per_case[case_id] += 1
    return {
        "by_organisation": {o: (days[o], len(held[o])) for o in held},
        "crossings": sorted(
            (
                {"from_organisation": a, "to_organisation": b, "count": n}
                for (a, b), n in directions.items()
            ),
            key=lambda c: (-c["count"], c["from_organisation"], c["to_organisation"]),
        ),
        "cases_over_threshold": sorted(
            ({"case_id": c, "crossings": n} for c, n in per_case.items() if n > threshold),
            key=lambda c: (-c["crossings"], c["case_id"]),
        ),
    }


def compare(
    store: Any, cases: dict[str, list[Row]], finals: set[str], scope: Scope, threshold: int
) -> dict[str, Any]:
    """The report against the reference, figure by figure; returns the reference's figures."""
    got = s75_report(store.connection, scope, threshold).to_json()
    VALIDATOR.validate(got)
    want = reference_s75(cases, finals, scope, threshold)
    # Lists in the documented order: most days first, then by name.
    keys = [(-o["days"], o["organisation"]) for o in got["by_organisation"]]
    assert keys == sorted(keys)
    mine = {o["organisation"]: (o["days"], o["cases"]) for o in got["by_organisation"]}
    assert set(mine) == set(want["by_organisation"])
    for org, (us, n) in want["by_organisation"].items():
        assert mine[org][1] == n, (org, "cases")
        assert mine[org][0] == pytest.approx(us / DAY_US, rel=1e-9, abs=1e-11), (org, "days")
    assert got["crossings"] == want["crossings"]
    assert got["cases_over_threshold"] == want["cases_over_threshold"]
    assert got["threshold"] == threshold
    return want


# --- the generated log ---------------------------------------------------------------------------

SEED = 20260307
N_CASES = 3000
MINIMAL_ORGS = {"hub": "council", "lets": "council", "amhp": "council", "cmht": "trust"}
"""docs/examples/minimal.yaml's teams and organisations, written out (the reference's own copy)."""
COUNCIL_TEAMS = ("hub", "lets", "amhp")
TRUST_TEAMS = ("cmht", "iet")
OTHER_TEAMS = ("agency", "vcs")  # not in the pathway
GENERATED_FINALS = {"closed", "discharged"}  # 'closed' is final in minimal.yaml
T0 = datetime(2025, 1, 1, tzinfo=UTC)
OFFSETS = ("+00:00", "Z", "+01:00", "-05:00", "")  # "" = naive, read as UTC


def _organisation_cell(rng: random.Random, team: str) -> str:
    """What a case system might put in the organisation column for this team (often nothing)."""
    roll = rng.random()
    if team in MINIMAL_ORGS:  # mostly left to the pathway; sometimes given, rarely another
        own = MINIMAL_ORGS[team]
        if roll < 0.85:
            return ""
        return own if roll < 0.95 else {"council": "trust", "trust": "council"}[own]
    if team == "iet":  # a trust team the pathway does not know: 'unknown' when the cell is empty
        return "trust" if roll < 0.8 else ""
    if team == "vcs":
        return "voluntary" if roll < 0.9 else ""
    return "" if roll < 0.9 else "council"  # agency


def _stamp(rng: random.Random, instant: datetime) -> str:
    """The instant written with a random UTC offset (or none), 'T' or space."""
    offset = rng.choice(OFFSETS)
    local = instant
    if offset not in ("", "Z", "+00:00"):
        local = instant + (1 if offset[0] == "+" else -1) * timedelta(hours=int(offset[1:3]))
    return local.replace(tzinfo=None).isoformat(sep=rng.choice("T ")) + offset


def generate_log(seed: int = SEED, n_cases: int = N_CASES) -> str:
    """A seeded log: three organisation sources, gaps, closures, re-referrals, ties, bouncing."""
    rng = random.Random(seed)
    teams = COUNCIL_TEAMS + TRUST_TEAMS + OTHER_TEAMS
    rows: list[list[str]] = []
    for i in range(n_cases):
        case_id = f"g{i:05d}"
        instant = T0 + timedelta(seconds=rng.randrange(0, 300 * 86_400))
        bouncing = rng.random() < 0.15  # passed between council and trust again and again
        count = rng.randint(5, 16) if bouncing else rng.choice((1, 1, 2, 3, 4, 5, 7, 10))
        holder = rng.choice(teams)
        for _ in range(count):
            roll = rng.random()
            if roll < 0.1:
                team = ""  # unallocated from here (any organisation cell is ignored)
            elif bouncing:
                team = rng.choice(TRUST_TEAMS if holder in COUNCIL_TEAMS else COUNCIL_TEAMS)
            elif roll < 0.35:
                team = holder  # stays: same team, maybe another organisation cell
            else:
                team = rng.choice(teams)
            holder = team or holder
            organisation = (
                _organisation_cell(rng, team) if team else rng.choice(("", "", "council", "trust"))
            )
            state = rng.choice(sorted(GENERATED_FINALS)) if rng.random() < 0.08 else "working"
            micros = rng.choice((0, 0, rng.randrange(1_000_000)))
            stamp = _stamp(rng, instant.replace(microsecond=micros))
            rows.append([case_id, stamp, state, team, organisation])
            # Ties: one time in ten the next row is at the same instant.
            gap = 0 if rng.random() < 0.1 else int(rng.expovariate(1 / (6 * 86_400)))
            instant += timedelta(seconds=gap)
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "occurred_at", "state", "team", "organisation"])
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def generated() -> Iterator[tuple[Any, dict[str, list[Row]]]]:
    """The generated log imported with minimal.yaml (and 'discharged' as a final state)."""
    text = generate_log()
    minimal = pathway.load_pathway(MINIMAL)
    assert {t: minimal.teams[t].organisation for t in MINIMAL_ORGS} == MINIMAL_ORGS
    store = pathway.open_store(":memory:")
    import_events(store, "generated.csv", text=text, pathway=minimal, final_states=["discharged"])
    yield store, read_rows(text, MINIMAL_ORGS)
    store.close()


def test_generated_log_has_the_shapes_under_test(generated: Any) -> None:
    """The log has what the comparisons must cover, so that they are not vacuous."""
    _store, cases = generated
    rows = [r for rs in cases.values() for r in rs]
    assert len(cases) == N_CASES
    assert sum(len(rs) == 1 for rs in cases.values()) > 200  # single-event cases
    assert sum(r.team is None for r in rows) > 1000  # unallocated rows
    assert sum(len({r.at for r in rs}) < len(rs) for rs in cases.values()) > 300  # ties
    reopened = sum(
        any(r.state in GENERATED_FINALS for r in rs[:-1]) for rs in cases.values()
    )  # closed, then re-referred
    assert reopened > 200
    assert {r.organisation for r in rows} >= {"council", "trust", "voluntary", "unknown", None}
    # The same team on consecutive rows with another organisation (the episode keeps the first).
    changes = sum(
        a.team == b.team and a.team is not None and a.organisation != b.organisation
        for rs in cases.values()
        for a, b in itertools.pairwise(rs)
    )
    assert changes > 50


def _span(cases: dict[str, list[Row]]) -> tuple[datetime, datetime]:
    stamps = [r.at for rs in cases.values() for r in rs]
    return (
        EPOCH + timedelta(microseconds=min(stamps)),
        EPOCH + timedelta(microseconds=max(stamps)),
    )


def _crossing_at(cases: dict[str, list[Row]]) -> list[datetime]:
    """The instants of every crossing (at the end of time), sorted: the edges' candidates."""
    instants = {
        h.at for rs in cases.values() for h in case_at(rs, rs[-1].at, set())[1] if h.crossing
    }
    return [EPOCH + timedelta(microseconds=us) for us in sorted(instants)]


def _scopes(cases: dict[str, list[Row]], team: str) -> dict[str, Scope]:
    """Scopes over the log's span; since/until fall exactly on crossings, so edges are tested."""
    lo, hi = _span(cases)
    edges = _crossing_at(cases)

    def edge(target: datetime) -> datetime:  # the first crossing at or after the target
        return next(e for e in edges if e >= target)

    third = (hi - lo) / 3
    late = hi + timedelta(days=30)
    since, until = edge(lo + third), edge(lo + 2 * third)
    return {
        "all": Scope(late),
        "middle": Scope(edge(lo + 1.5 * third)),
        "window": Scope(late, since=since, until=until),
        "since": Scope(lo + 2.5 * third, since=since),
        "until-after-as-of": Scope(until, since=edge(lo + third / 2), until=late),
        "team": Scope(late, team=team),
        "team-window": Scope(lo + 2.5 * third, since=since, until=until, team=team),
    }


SCOPES = ["all", "middle", "window", "since", "until-after-as-of", "team", "team-window"]


@pytest.mark.parametrize("name", SCOPES)
@pytest.mark.parametrize("threshold", [0, 1, 3])
def test_generated_log_matches_reference(generated: Any, name: str, threshold: int) -> None:
    """Every figure of the report equals the reference on the generated log, for this scope."""
    store, cases = generated
    scope = _scopes(cases, "cmht")[name]
    want = compare(store, cases, GENERATED_FINALS, scope, threshold)
    # Not vacuous: time under several organisations, crossings each way, cases listed.
    assert len(want["by_organisation"]) >= 4
    assert len(want["crossings"]) >= 6
    assert want["cases_over_threshold"]


def test_generated_log_with_a_team_outside_the_pathway(generated: Any) -> None:
    """The team filter works the same for a team the pathway does not know ('vcs')."""
    store, cases = generated
    want = compare(store, cases, GENERATED_FINALS, _scopes(cases, "vcs")["team-window"], 1)
    assert want["crossings"]


# --- the receipt log -----------------------------------------------------------------------------

RECEIPT_MAP = {
    "case:concept:name": "case_id",
    "time:timestamp": "occurred_at",
    "concept:name": "state",
    "org:group": "team",
    "org:resource": "actor",
}
RECEIPT_DROP = (
    "case:channel", "case:deadline", "case:department", "case:enddate", "case:enddate_planned",
    "case:group", "case:responsible", "case:startdate", "concept:instance", "lifecycle:transition",
)  # fmt: skip
"""Its other columns, left out (``--drop``): an import refuses undeclared columns (issue 21)."""
RECEIPT_ORGS = {"Group 1": "council", "Group 2": "council", "Group 3": "trust", "Group 4": "trust"}
"""Organisations given to the receipt log's groups (others, 'EMPTY' among them, stay unknown)."""
RECEIPT_FINALS = {"T10 Determine necessity to stop indication"}


def receipt_path() -> Path | None:
    """The receipt log (PATHWAY_RECEIPT_CSV, else shared/data/receipt.csv), None if absent."""
    given = os.environ.get("PATHWAY_RECEIPT_CSV")
    path = Path(given) if given else ROOT.parent / "shared" / "data" / "receipt.csv"
    return path if path.is_file() else None


def with_organisations(text: str) -> str:
    """The receipt CSV with an ``organisation`` column from RECEIPT_ORGS (empty for the rest)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    group = header.index("org:group")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*header, "organisation"])
    writer.writerows([*r, RECEIPT_ORGS.get(r[group], "")] for r in reader if r)
    return out.getvalue()


@pytest.fixture(scope="module")
def receipt() -> Iterator[tuple[Any, dict[str, list[Row]]]]:
    """The receipt log with organisations, T10 closing the case."""
    path = receipt_path()
    if path is None:
        pytest.skip("receipt.csv not found: set PATHWAY_RECEIPT_CSV or put it in shared/data/")
    text = with_organisations(path.read_text(encoding="utf-8-sig"))
    store = pathway.open_store(":memory:")
    import_events(
        store,
        "receipt.csv",
        text=text,
        mapping=RECEIPT_MAP,
        final_states=sorted(RECEIPT_FINALS),
        drop=RECEIPT_DROP,
    )
    yield store, read_rows(text, {}, RECEIPT_MAP)
    store.close()


def test_receipt_matches_reference(receipt: Any) -> None:
    """On the real receipt log (millisecond times across a DST change) every figure agrees."""
    store, cases = receipt
    assert len(cases) == 1434
    scopes = _scopes(cases, "Group 4")
    for name in ("all", "middle", "window", "team", "team-window"):
        want = compare(store, cases, RECEIPT_FINALS, scopes[name], 1)
        assert want["crossings"], name


@pytest.mark.parametrize("threshold", [-1, 1.5, True])
def test_a_threshold_that_is_not_a_count_is_refused(threshold: Any) -> None:
    """The library refuses what the CLI refuses: the JSON's ``threshold`` is a count (minimum 0)."""
    store = pathway.open_store(":memory:")
    with pytest.raises(InvalidRequest, match="threshold"):
        s75_report(store.connection, Scope(datetime(2026, 1, 1, tzinfo=UTC)), threshold)
