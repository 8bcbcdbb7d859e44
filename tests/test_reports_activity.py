"""The activity report against small logs worked out by hand and an independent reference.

The activity report (docs/reports.md, "Activity") counts, per stage of the plan, the applied
events in the period that *entered* one of the stage's states (moved the case into it from
another state) or fired one of its triggers, against the yearly plan prorated to the period. No
other test checked its figures, so a report that counted a stay as an entry, ignored the as-of
cut or prorated by the wrong year would have gone unnoticed.

The hand-worked logs are imported CSV text (the importer keeps a ``trigger`` column) and, for
refusals and the acting team, events the engine makes. Every figure asserted was worked out by
hand from the definitions in the comments beside it. The reference at the end is plain Python
written from the same definitions (not from the report's SQL): it reads the plan YAML itself,
orders each case's rows itself and decides entry by comparing each row's state with the row
before; it is compared stage by stage with the report on a seeded log of a few thousand cases
walked through the default pathway's transitions.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from conftest import SESSION_PREFIX, Backend, PostgresBackend
from report_helpers import DAY_US, EPOCH, MICRO, at, parse_us

import pathway
from pathway import Actor, Engine
from pathway.cli import cli
from pathway.errors import DefinitionError, InvalidRequest, TransitionRefused
from pathway.importer import import_events
from pathway.reports import Scope, activity_report, load_plan
from pathway.validation import load_schema

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PLAN = ROOT / "pathway" / "data" / "activity_plan.yaml"
BARNET = pathway.load_pathway("barnet-enablement")

# The shipped plan's stages (Table 15), by a short name for the tests.
STAGES = {
    "referrals": "Referrals (weighted population, secondary care)",
    "choice_appointments": "Choice appointments",
    "choice_meetings": "Choice meetings",
    "brief": "Up to 6 week enablement packages",
    "network_plus": "Network Plus",
    "specialist": "Specialist services (CMHT)",
    "safeguarding": "Safeguarding",
    "community_reviews": "Community reviews",
    "iet": "Intensive Enablement Team",
    "carers": "Carers' assessments (referrals of carers)",
    "amhp": "AMHP Mental Health Act assessments (capacity 700-1000)",
}
# Table 15's yearly plan for each stage, as printed in the business case (AMHP: 700-1000).
TABLE_15 = {
    "referrals": 5000,
    "choice_appointments": 1310,
    "choice_meetings": 1180,
    "brief": 1100,
    "network_plus": 770,
    "specialist": 500,
    "safeguarding": 120,
    "community_reviews": 145,
    "iet": 140,
    "carers": 600,
    "amhp": 700,
}
NONE = dict.fromkeys(STAGES, 0)


def load(text: str) -> pathway.store.SqliteStore:
    """A store holding the CSV log, imported against the default pathway (``closed`` closes)."""
    store = pathway.open_store(":memory:")
    import_events(store, "x.csv", text=text, pathway=BARNET)
    return store


def activity(store: Any, as_of: str, plan: Any = None, **scope: Any) -> dict[str, Any]:
    """The report's JSON, checked against its schema every time (so every test checks it)."""
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    report = activity_report(store.connection, Scope(at(as_of), **scope), plan).to_json()
    jsonschema.validate(report, load_schema("report_activity"))
    return report


def actuals(report: dict[str, Any]) -> dict[str, int]:
    """The shipped plan's actual counts by short stage name (every stage, in the plan's order)."""
    names = {name: short for short, name in STAGES.items()}
    assert [row["stage"] for row in report["stages"]] == list(STAGES.values())
    return {names[row["stage"]]: row["actual"] for row in report["stages"]}


def counts(**given: int) -> dict[str, int]:
    """Every shipped stage at 0 except those given."""
    assert set(given) <= set(STAGES)
    return {**NONE, **given}


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


# --- one log, worked by hand ----------------------------------------------------------------------

LOG = """case_id,occurred_at,state,team,trigger
A,2026-01-02T09:00,contact,hub,open
A,2026-01-02T09:30,referral,hub,self_refer
A,2026-01-03T09:00,offered_to_lets,hub,offer_choice_appointment
A,2026-01-05T09:00,choice_appointment,lets,accept_handoff
A,2026-01-10T09:00,closed,lets,close
A,2026-02-01T09:00,contact,hub,re_refer
A,2026-02-01T09:00,referral,hub,gp_refer
A,2026-02-03T09:00,offered_to_lets,hub,offer_choice_appointment
A,2026-02-04T09:00,choice_appointment,lets,accept_handoff
A,2026-02-04T15:00,choice_appointment,lets,placement_start
A,2026-02-11T09:00,choice_meeting,lets,book_choice_meeting
B,2026-01-20T09:00,choice_meeting,lets,
B,2026-01-21T09:00,safeguarding,lets,raise_safeguarding
B,2026-01-21T10:00:00+01:00,choice_meeting,lets,conclude_safeguarding
C,2026-03-01T12:00,brief_enablement,lets,start_brief_enablement
C,2026-03-10T12:00,brief_enablement,network,
C,2026-03-20T12:00,offered_to_network,lets,offer_standard_enablement
C,2026-03-25T12:00,standard_enablement,network,accept_handoff
C,2026-04-02T12:00,community_review,network,start_community_review
D,2026-02-10T12:00,mha_assessment,amhp,start_mha_assessment
E,2025-12-31T23:59:59.999999,specialist_support,cmht,accept_handoff
E,2026-01-01T00:00,community_review,cmht,start_community_review
E,2026-03-15T00:00,specialist_support,cmht,complete_community_review
E,2026-03-15T00:00:00.000001,carers_assessment,cmht,start_carers_assessment
F,2025-03-31T23:59:59,intensive_enablement,iet,accept_handoff
F,2025-04-01T00:00,residential_review,iet,start_residential_review
F,2025-04-01T00:00,intensive_enablement,iet,complete_residential_review
F,2026-04-01T00:00,safeguarding,cmht,raise_safeguarding
"""
# Entries, case by case (an entry: the row's state differs from the case's row before it; a case's
# first row enters its state; rows ordered by time, ties by line):
#   A  closed and re-referred. Jan 2 09:30 self_refer: a referral. Jan 5 choice_appointment.
#      Feb 1 re_refer takes the closed case back to contact (no route yet: not a referral);
#      Feb 1 gp_refer, at the same instant, after it in the file: the route, a referral.
#      Feb 4 09:00 choice_appointment again (entered from offered_to_lets): a re-entry counts.
#      Feb 4 15:00 placement step in choice_appointment: a stay, not an entry.
#      Feb 11 choice_meeting.
#   B  ties. Jan 20 choice_meeting (its first row). Jan 21 09:00 safeguarding, and 10:00+01:00 (the
#      same instant, next in the file) back to choice_meeting: a second choice-meeting entry.
#   C  open at every as-of. Mar 1 brief_enablement (first row); Mar 10 the same state with another
#      team: a stay. Mar 25 standard_enablement. Apr 2 community_review: after the as-of.
#   D  one row: Feb 10 mha_assessment, its first and only event, enters it.
#   E  the window's edges. Dec 31 23:59:59.999999 specialist_support (1 us before Jan 1);
#      Jan 1 00:00 community_review; Mar 15 00:00 back to specialist_support (a return re-enters);
#      Mar 15 00:00:00.000001 carers_assessment (1 us after Mar 15).
#   F  the default period's edges. Mar 31 2025 23:59:59 intensive_enablement (first row, 1 s
#      before the default period); Apr 1 2025 00:00 residential_review, then, tied, back to
#      intensive_enablement; Apr 1 2026 00:00 safeguarding, exactly at the as-of below.

AS_OF = "2026-04-01T00:00"


def test_default_period_is_the_year_up_to_as_of() -> None:
    """Without --since the period is the 365 days up to as-of, both ends in; plans are Table 15."""
    report = activity(load(LOG), AS_OF)
    # Period: 2025-04-01T00:00 to 2026-04-01T00:00 = 365 days, so each plan is its yearly figure.
    assert (report["since"], report["until"], report["team"]) == (None, None, None)
    assert report["as_of"] == "2026-04-01T00:00:00.000000+00:00"
    assert report["period_days"] == 365
    assert report["plan_source"] == "Barnet Enablement Pathway business case, Table 15 (7.6.1)"
    # referrals: A self_refer, A gp_refer = 2 (A's re_refer is not one);
    # choice appointments: A Jan 5, A Feb 4 = 2; choice meetings: A Feb 11, B Jan 20, B Jan 21 = 3;
    # brief: C Mar 1; Network Plus: C Mar 25; specialist: E Dec 31, E Mar 15 = 2;
    # safeguarding: B Jan 21, F Apr 1 2026 at the as-of = 2; community reviews: E Jan 1 (C Apr 2
    # is after the as-of); IET: F Apr 1 2025 00:00 at the period's start = 1 (Mar 31 is before);
    # carers: E Mar 15 + 1 us; AMHP: D.
    assert actuals(report) == counts(
        referrals=2, choice_appointments=2, choice_meetings=3, brief=1, network_plus=1,
        specialist=2, safeguarding=2, community_reviews=1, iet=1, carers=1, amhp=1,
    )  # fmt: skip
    rows = {row["stage"]: row for row in report["stages"]}
    for short, yearly in TABLE_15.items():
        row = rows[STAGES[short]]
        assert row["plan"] == approx(yearly), short
        # ratio = actual / prorated plan, e.g. referrals 2 / 5000 = 0.0004.
        assert row["ratio"] == approx(row["actual"] / yearly), short
        assert row["plan_high"] == (1000 if short == "amhp" else None), short
    assert rows[STAGES["referrals"]]["ratio"] == approx(0.0004)
    assert rows[STAGES["amhp"]]["ratio"] == approx(1 / 700)


def test_window_counts_both_edges_and_prorates_the_plan() -> None:
    """since/until are inclusive; the plan is prorated by the window's days / 365."""
    report = activity(load(LOG), AS_OF, since="2026-01-01", until="2026-03-15")
    # Jan 1 00:00 to Mar 15 00:00: 31 + 28 + 14 = 73 days = 365 / 5, so every plan is a fifth.
    assert report["period_days"] == 73
    assert report["since"] == "2026-01-01T00:00:00.000000+00:00"
    assert report["until"] == "2026-03-15T00:00:00.000000+00:00"
    # In [Jan 1 00:00, Mar 15 00:00]: referrals A x2; choice appointments A x2; choice meetings
    # A, B, B = 3; brief C Mar 1; Network Plus 0 (C Mar 25 is after until); specialist: E Mar 15
    # 00:00 exactly at until = 1 (E Dec 31 is 1 us before since); safeguarding B = 1 (F's is
    # after until); community reviews: E Jan 1 00:00 exactly at since = 1; IET 0; carers 0 (1 us
    # after until); AMHP D = 1.
    assert actuals(report) == counts(
        referrals=2, choice_appointments=2, choice_meetings=3, brief=1, specialist=1,
        safeguarding=1, community_reviews=1, amhp=1,
    )  # fmt: skip
    # Plans / 5: 1000, 262, 236, 220, 154, 100, 24, 29, 28, 120, 140; AMHP high 1000 / 5 = 200.
    fifth = {
        "referrals": 1000, "choice_appointments": 262, "choice_meetings": 236, "brief": 220,
        "network_plus": 154, "specialist": 100, "safeguarding": 24, "community_reviews": 29,
        "iet": 28, "carers": 120, "amhp": 140,
    }  # fmt: skip
    rows = {row["stage"]: row for row in report["stages"]}
    for short, plan in fifth.items():
        assert rows[STAGES[short]]["plan"] == approx(plan), short
    assert rows[STAGES["amhp"]]["plan_high"] == approx(200)
    # Ratios: 2/1000, 2/262, 3/236, 1/220, 0/154, 1/100, 1/24, 1/29, 0/28, 0/120, 1/140.
    ratios = {
        "referrals": 0.002, "choice_appointments": 2 / 262, "choice_meetings": 3 / 236,
        "brief": 1 / 220, "network_plus": 0.0, "specialist": 0.01, "safeguarding": 1 / 24,
        "community_reviews": 1 / 29, "iet": 0.0, "carers": 0.0, "amhp": 1 / 140,
    }  # fmt: skip
    for short, ratio in ratios.items():
        assert rows[STAGES[short]]["ratio"] == approx(ratio), short


def test_one_microsecond_inside_each_edge() -> None:
    """Moving the window by a microsecond drops exactly the event on the edge it leaves."""
    store = load(LOG)
    # since Jan 1 00:00:00.000001 loses E's community review (Jan 1 00:00); until Mar 14
    # 23:59:59.999999 loses E's return to specialist support (Mar 15 00:00).
    later = actuals(activity(store, AS_OF, since="2026-01-01T00:00:00.000001", until="2026-03-15"))
    assert (later["community_reviews"], later["specialist"]) == (0, 1)
    earlier = actuals(
        activity(store, AS_OF, since="2026-01-01", until="2026-03-14T23:59:59.999999")
    )
    assert (earlier["community_reviews"], earlier["specialist"]) == (1, 0)
    # since Dec 31 23:59:59.999999 takes E's first specialist entry in as well: 2.
    assert actuals(activity(store, AS_OF, since="2025-12-31T23:59:59.999999"))["specialist"] == 2


def test_default_period_edges_move_with_as_of() -> None:
    """The default year ends at as-of: one second later, F's edge entry at its start is out."""
    store = load(LOG)
    # As of Apr 1 2026 00:00:01 the year starts Apr 1 2025 00:00:01: F's IET re-entry at 00:00 is
    # out (0); F's safeguarding at Apr 1 2026 00:00 is still in (B's and F's = 2).
    report = actuals(activity(store, "2026-04-01T00:00:01"))
    assert (report["iet"], report["safeguarding"]) == (0, 2)
    # As of Mar 31 2026 23:59:59 the year is Mar 31 2025 23:59:59 to then: F's first row (the
    # opening entry into intensive enablement) and its tied re-entry at Apr 1 00:00 are both in
    # (2), F's safeguarding at Apr 1 2026 is after the as-of (B's = 1).
    report = actuals(activity(store, "2026-03-31T23:59:59"))
    assert (report["iet"], report["safeguarding"]) == (2, 1)


def test_until_without_since_is_the_year_up_to_until() -> None:
    """With --until alone the period is the 365 days up to until."""
    report = activity(load(LOG), AS_OF, until="2026-01-10")
    # 2025-01-10 to 2026-01-10: A self_refer (Jan 2) = 1 referral; A Jan 5 choice appointment;
    # B is later; E Dec 31 specialist and Jan 1 community review; F Mar 31 2025 IET (first row)
    # and Apr 1 2025 re-entry = 2.
    assert report["period_days"] == 365
    assert actuals(report) == counts(
        referrals=1, choice_appointments=1, specialist=1, community_reviews=1, iet=2
    )


def test_as_of_cuts_the_period_and_later_events() -> None:
    """An until after as-of stops at as-of: later events are left out and the plan is shorter."""
    report = activity(load(LOG), "2026-03-22T00:00", since="2026-03-01", until="2026-04-30")
    # Period Mar 1 to Mar 22 (as-of, not until): 21 days. In it: C brief Mar 1 (Mar 10 a stay),
    # E specialist Mar 15 00:00, E carers Mar 15 + 1 us. C Mar 25 (Network Plus), F Apr 1
    # (safeguarding) and C Apr 2 (community review) are before until but after the as-of.
    assert report["period_days"] == 21
    assert report["until"] == "2026-04-30T00:00:00.000000+00:00"  # as asked
    assert actuals(report) == counts(brief=1, specialist=1, carers=1)
    rows = {row["stage"]: row for row in report["stages"]}
    for short, yearly in TABLE_15.items():
        assert rows[STAGES[short]]["plan"] == approx(yearly * 21 / 365), short
    assert rows[STAGES["amhp"]]["plan_high"] == approx(1000 * 21 / 365)
    # Before the first event nothing counts at all.
    assert actuals(activity(load(LOG), "2025-03-01")) == NONE


def test_a_closed_case_re_referred_counts_each_referral_once() -> None:
    """A re-referral is one referral, and re-entering a state after closure counts again.

    The default pathway takes a closed case back to contact with ``re_refer`` and records the
    route of referral again from there (``gp_refer`` etc.), so one re-referral makes both events.
    The shipped plan once listed ``re_refer`` among the referral triggers as well as the routes,
    which counted each re-referral twice: this log gave 3 referrals for 2.
    """
    store = load("\n".join(line for line in LOG.splitlines() if line[:2] in ("ca", "A,")) + "\n")
    # A: self_refer Jan 2 and gp_refer Feb 1 are its two referrals; choice appointment entered on
    # Jan 5 and again on Feb 4 after the closure; the placement step in it is a stay; one meeting.
    assert actuals(activity(store, AS_OF)) == counts(
        referrals=2, choice_appointments=2, choice_meetings=1
    )
    # Up to the closure (as of Jan 20): one referral and one choice appointment.
    assert actuals(activity(store, "2026-01-20")) == counts(referrals=1, choice_appointments=1)


TIES = """case_id,occurred_at,state,team,trigger
B,2026-01-20T09:00,choice_meeting,lets,
B,2026-01-21T09:00,safeguarding,lets,raise_safeguarding
B,2026-01-21T10:00:00+01:00,choice_meeting,lets,conclude_safeguarding
"""


def test_ties_are_ordered_by_line() -> None:
    """Rows at the same instant keep their file order, and the order decides what is an entry."""
    # As in LOG: choice_meeting, safeguarding, choice_meeting: 2 meetings, 1 safeguarding.
    assert actuals(activity(load(TIES), AS_OF)) == counts(choice_meetings=2, safeguarding=1)
    # Swapped: choice_meeting, choice_meeting (a stay), safeguarding: 1 meeting, 1 safeguarding.
    lines = TIES.splitlines()
    swapped = "\n".join([*lines[:2], lines[3], lines[2]]) + "\n"
    assert actuals(activity(load(swapped), AS_OF)) == counts(choice_meetings=1, safeguarding=1)


def test_a_single_event_case_enters_its_state() -> None:
    """A case's first (here only) event enters the state it puts the case in."""
    store = load(
        "case_id,occurred_at,state,team\n"
        "D,2026-02-10T12:00,mha_assessment,amhp\n"
        "G,2026-02-11T12:00,closed,hub\n"
        "H,2026-05-01T12:00,safeguarding,lets\n"
    )
    # D: its one row enters mha_assessment (no trigger column: imported rows' trigger is
    # "imported", which no stage lists). G: closed is in no stage. H: after the as-of.
    assert actuals(activity(store, AS_OF)) == counts(amhp=1)
    assert actuals(activity(store, "2026-05-01T12:00")) == counts(amhp=1, safeguarding=1)
    # D's event is before a window that starts a microsecond later.
    assert actuals(activity(store, AS_OF, since="2026-02-10T12:00:00.000001")) == NONE


def test_staying_is_not_an_entry_but_coming_back_is() -> None:
    """Rows that leave a case in its state never count; leaving and coming back counts again."""
    store = load(
        "case_id,occurred_at,state,team\n"
        "S,2026-01-01,specialist_support,cmht\n"
        "S,2026-01-02,specialist_support,cmht\n"
        "S,2026-01-03,specialist_support,iet\n"
        "S,2026-01-04,community_review,cmht\n"
        "S,2026-01-05,community_review,cmht\n"
        "S,2026-01-06,specialist_support,cmht\n"
        "S,2026-01-07,specialist_support,cmht\n"
    )
    # Specialist: entered Jan 1 (first row) and Jan 6 (from community_review) = 2; Jan 2, 3
    # (another team, same state) and 7 are stays. Community review: entered Jan 4 = 1.
    assert actuals(activity(store, AS_OF)) == counts(specialist=2, community_reviews=1)


# --- the engine's own events: refusals, the acting team -------------------------------------------


OUTCOME = {"safeguarding_outcome": "no further action"}


def engine_log(store: Any = None) -> Any:
    """One case through the engine (into ``store``, else a new in-memory one), with three
    refusals, two stays, a closure and a re-referral."""
    store = store if store is not None else pathway.open_store(":memory:")
    engine = Engine(BARNET, store)
    hub, lets = Actor("w-hub", "hub"), Actor("w-lets", "lets")
    engine.open_case("E1", hub, at=at("2026-01-05T09:00"))  # contact: no stage
    with pytest.raises(TransitionRefused):  # no referral_source: refused, recorded
        engine.fire("E1", "other_refer", hub, at=at("2026-01-05T09:10"))
    steps: list[tuple[str, Actor, str, dict[str, str]]] = [
        ("self_refer", hub, "2026-01-05T09:20", {}),  # referral (hub)
        ("offer_choice_appointment", hub, "2026-01-06T09:00", {}),
        ("accept_handoff", lets, "2026-01-07T09:00", {}),  # choice appointment (lets)
        ("raise_safeguarding", lets, "2026-01-08T09:00", {}),  # safeguarding (lets)
        ("raise_safeguarding", lets, "2026-01-08T10:00", {}),  # safeguarding -> itself: a stay
        ("conclude_safeguarding", lets, "2026-01-09T09:00", OUTCOME),  # back to the outer one
        ("conclude_safeguarding", lets, "2026-01-10T09:00", OUTCOME),  # choice appointment again
        ("close", lets, "2026-01-12T09:00", {"closure_reason": "signposted"}),
        ("re_refer", hub, "2026-02-02T09:00", {}),  # back to contact: not a referral
        ("gp_refer", lets, "2026-02-02T09:00", {}),  # the route, recorded by a LETs worker
    ]
    for trigger, actor, when, data in steps:
        engine.fire("E1", trigger, actor, at=at(when), data=data)
    with pytest.raises(TransitionRefused):  # closing without a reason: refused
        engine.fire("E1", "close", hub, at=at("2026-02-03T09:00"))
    with pytest.raises(TransitionRefused):  # the LETs may not close the hub's referral
        engine.fire("E1", "close", lets, at=at("2026-02-03T10:00"), data={"closure_reason": "x"})
    return store


def test_refused_events_never_count() -> None:
    """Refusals count for no stage: a route without its source, a close without a reason,
    a close by a team that does not hold the case."""
    store = engine_log()
    outcomes = [e.outcome for e in store.history("E1")]
    assert outcomes.count("refused") == 3
    # Applied: self_refer and gp_refer = 2 referrals (the refused other_refer and the re_refer
    # are not); choice appointment entered Jan 7 and Jan 10 = 2; safeguarding entered Jan 8
    # 09:00 only (10:00 and the first conclusion leave it in safeguarding; the refused raise
    # moved nothing) = 1.
    assert actuals(activity(store, "2026-03-01")) == counts(
        referrals=2, choice_appointments=2, safeguarding=1
    )


def test_team_counts_the_events_the_team_recorded() -> None:
    """With a team: the engine's events its staff recorded; an imported row's team is its own."""
    store = engine_log()
    # lets recorded: accept (choice appointment), the safeguarding raises and conclusions (one
    # entry into safeguarding, the return to choice appointment), close, and gp_refer (a LETs
    # worker recording a GP referral: the case goes to the hub, the LETs recorded it).
    assert actuals(activity(store, "2026-03-01", team="lets")) == counts(
        referrals=1, choice_appointments=2, safeguarding=1
    )
    # hub recorded the opening, self_refer, the offer and re_refer: 1 referral.
    assert actuals(activity(store, "2026-03-01", team="hub")) == counts(referrals=1)
    report = activity(store, "2026-03-01", team="hub")
    assert report["team"] == "hub"
    # The plan is the partnership's, not narrowed to the team.
    assert report["stages"][0]["plan"] == approx(5000)
    # Imported rows: the row's team. cmht in LOG: E's four rows and F's safeguarding; in the
    # default year: specialist 2, community review 1, carers 1, safeguarding 1.
    assert actuals(activity(load(LOG), AS_OF, team="cmht")) == counts(
        specialist=2, community_reviews=1, carers=1, safeguarding=1
    )


def test_an_empty_period_is_refused() -> None:
    """A period of no length cannot carry a prorated plan: since = until is refused."""
    store = load(LOG)
    with pytest.raises(InvalidRequest, match="period is empty"):
        activity(store, AS_OF, since="2026-01-01", until="2026-01-01")
    with pytest.raises(InvalidRequest, match="period is empty"):
        activity(store, "2026-01-01", since="2026-01-01")


# --- plans of one's own ----------------------------------------------------------------------------

PLAN = """# A plan of our own
stages:
  - {stage: Front door, plan: 730, triggers: [self_refer, gp_refer], states: [referral]}
  - {stage: Meetings, plan: 0, states: [choice_meeting]}
  - {stage: Crisis, plan: 365, plan_high: 730, states: [mha_assessment, safeguarding]}
  - {stage: Nothing named here, plan: 10, triggers: [no_such_trigger]}
  - {stage: Safeguarding too, plan: 365, states: [safeguarding]}
"""


def test_a_plan_file_of_ones_own(tmp_path: Path) -> None:
    """A stage counts an event once even when it both enters a state and fires a trigger."""
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    report = activity(load(LOG), AS_OF, load_plan(path), since="2026-01-01", until="2026-03-15")
    # No `source`: the plan is named by its file.
    assert report["plan_source"] == str(path)
    # Window Jan 1 - Mar 15 (73 days). Front door: A self_refer and A gp_refer each fire a
    # trigger AND enter referral: 2, not 4. Meetings: A, B, B = 3 against a plan of 0: ratio
    # null. Crisis: D's assessment and B's safeguarding = 2, plan 365 * 73 / 365 = 73, high 146.
    # Nothing named here: 0 against 10 * 73 / 365 = 2. Safeguarding too: B's entry again (two
    # stages may count one event) = 1 against 73.
    assert report["stages"] == [
        {"stage": "Front door", "actual": 2, "plan": approx(146), "plan_high": None,
         "ratio": approx(2 / 146)},
        {"stage": "Meetings", "actual": 3, "plan": 0.0, "plan_high": None, "ratio": None},
        {"stage": "Crisis", "actual": 2, "plan": approx(73), "plan_high": approx(146),
         "ratio": approx(2 / 73)},
        {"stage": "Nothing named here", "actual": 0, "plan": approx(2), "plan_high": None,
         "ratio": 0.0},
        {"stage": "Safeguarding too", "actual": 1, "plan": approx(73), "plan_high": None,
         "ratio": approx(1 / 73)},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "pointer", "message"),
    [
        (
            "stages:\n  - {stage: A, plan: 1, states: [x]}\n  - {stage: B, states: [y]}\n",
            3, "/stages/1", "'plan' is a required property",
        ),
        (
            "stages:\n  - stage: A\n    plan: -5\n    states: [x]\n",
            3, "/stages/0/plan", "less than the minimum of 0",
        ),
        (
            "stages:\n  - {stage: A, plan: 1, state: [x]}\n",
            2, "/stages/0", "check the spelling",
        ),
        (
            "source: mine\nstages:\n  - {stage: A, plan: 1}\n",
            3, "/stages/0", "is not valid under any of the given schemas",
        ),
        ("stages: [\n  {stage: A, plan: 1\n", None, "", "not valid YAML"),
    ],
    ids=["no-plan", "negative", "misspelt", "neither-states-nor-triggers", "not-yaml"],
)  # fmt: skip
def test_an_invalid_plan_names_the_file_and_the_place(
    tmp_path: Path, text: str, line: int | None, pointer: str, message: str
) -> None:
    """An invalid plan is refused with its file, line and JSON pointer."""
    path = tmp_path / "bad-plan.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError) as caught:
        load_plan(path)
    assert {p.source for p in caught.value.problems} == {str(path)}
    matching = [p for p in caught.value.problems if message in p.message]
    assert matching, [str(p) for p in caught.value.problems]
    problem = matching[0]
    assert problem.pointer == pointer
    if line is not None:
        assert problem.line == line
    else:
        assert problem.line is not None  # YAML errors carry the line PyYAML marks


def test_a_missing_plan_file_is_named(tmp_path: Path) -> None:
    """A plan path that does not exist is named, not taken for the shipped plan."""
    with pytest.raises(DefinitionError, match="no such file") as caught:
        load_plan(tmp_path / "nowhere.yaml")
    assert caught.value.problems[0].source == str(tmp_path / "nowhere.yaml")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """A store file holding LOG."""
    path = tmp_path / "cases.db"
    store = pathway.open_store(path)
    import_events(store, "log.csv", text=LOG, pathway=BARNET)
    store.close()
    yield path


def report_cli(db: Path, *args: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["report", "activity", "--db", str(db), "--as-of", AS_OF, "--format", "json", *args],
    )


def test_cli_plan_file_and_schema(db: Path, tmp_path: Path) -> None:
    """The CLI's JSON with --plan is the library's, and matches the schema."""
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    done = report_cli(db, "--plan", str(path), "--since", "2026-01-01", "--until", "2026-03-15")
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, load_schema("report_activity"))
    # As in test_a_plan_file_of_ones_own.
    assert [(s["stage"], s["actual"]) for s in data["stages"]] == [
        ("Front door", 2), ("Meetings", 3), ("Crisis", 2), ("Nothing named here", 0),
        ("Safeguarding too", 1),
    ]  # fmt: skip
    # Without --plan: the shipped plan, the default year (as test_default_period...).
    done = report_cli(db)
    assert done.exit_code == 0, done.stderr
    assert actuals(json.loads(done.stdout))["choice_meetings"] == 3


def test_cli_invalid_plan_writes_nothing(db: Path, tmp_path: Path) -> None:
    """An invalid plan: exit 2, the file and place on stderr, nothing on stdout, store as before."""
    before = db.read_bytes()
    path = tmp_path / "bad-plan.yaml"
    path.write_text("stages:\n  - {stage: A, plan: 1, states: [x]}\n  - {stage: B, states: [y]}\n")
    done = report_cli(db, "--plan", str(path))
    assert done.exit_code == 2
    assert done.stdout == ""
    assert f"{path}:3: /stages/1: 'plan' is a required property" in done.stderr
    assert db.read_bytes() == before


# --- PostgreSQL ------------------------------------------------------------------------------------

PG_SCOPES: list[tuple[str, dict[str, str]]] = [
    (AS_OF, {}),
    (AS_OF, {"since": "2026-01-01", "until": "2026-03-15"}),
    (AS_OF, {"since": "2026-01-01T00:00:00.000001", "until": "2026-03-14T23:59:59.999999"}),
    ("2026-04-01T00:00:01", {}),
    ("2026-03-22", {"since": "2026-03-01", "until": "2026-04-30"}),
    (AS_OF, {"team": "cmht"}),
    ("2026-03-01", {"team": "lets"}),
]


@pytest.mark.postgres
def test_postgres_gives_the_same_json(pg_url: str) -> None:
    """The hand-worked logs give byte-identical JSON on PostgreSQL at every scope above.

    The report compares stored instants as text; a microsecond either side of an edge must fall
    the same way on both stores.
    """
    backend = PostgresBackend(pg_url, f"{SESSION_PREFIX}_activity")
    try:
        pg = backend.open(backend.location())
        import_events(pg, "x.csv", text=LOG, pathway=BARNET)
        engine_log(pg)
        lite = load(LOG)
        engine_log(lite)
        for as_of, scope in PG_SCOPES:
            mine, theirs = activity(lite, as_of, **scope), activity(pg, as_of, **scope)
            assert json.dumps(theirs) == json.dumps(mine), (as_of, scope)
        pg.close()
    finally:
        backend.cleanup()


# --- the independent reference ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    at: int  # microseconds since the epoch
    line: int  # line in the file: breaks ties
    state: str
    team: str
    trigger: str  # "" when the cell is empty


def read_log(text: str) -> dict[str, list[Row]]:
    """Each case's rows in time order, ties by line."""
    reader = csv.DictReader(io.StringIO(text))
    cases: dict[str, list[Row]] = defaultdict(list)
    for record in reader:
        cases[record["case_id"]].append(
            Row(
                parse_us(record["occurred_at"]),
                reader.line_num,
                record["state"],
                record["team"],
                record["trigger"],
            )
        )
    for rows in cases.values():
        rows.sort(key=lambda r: (r.at, r.line))
    return dict(cases)


def reference_activity(
    cases: dict[str, list[Row]],
    plan: dict[str, Any],
    as_of: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """The activity figures read straight from docs/reports.md, in exact microseconds.

    Period: from since (else 365 days before its end) to the earlier of until and as-of, both
    ends in. A row enters its state when the case's row before it had another state, or it is
    the case's first row. A stage counts the rows in the period that enter one of its states or
    name one of its triggers, each row once; with a team, only the rows of that team.
    """
    end = parse_us(as_of.isoformat())
    if until is not None:
        end = min(end, parse_us(until.isoformat()))
    start = parse_us(since.isoformat()) if since is not None else end - 365 * DAY_US
    days = (end - start) / DAY_US
    counted = [0] * len(plan["stages"])
    for rows in cases.values():
        before: str | None = None
        for row in rows:
            entered, before = row.state != before, row.state
            if not start <= row.at <= end or (team is not None and row.team != team):
                continue
            for i, stage in enumerate(plan["stages"]):
                if (entered and row.state in stage.get("states", ())) or (
                    row.trigger in stage.get("triggers", ())
                ):
                    counted[i] += 1
    stages = []
    for n, stage in zip(counted, plan["stages"], strict=True):
        planned = stage["plan"] * days / 365
        high = stage.get("plan_high")
        stages.append(
            {
                "stage": stage["stage"],
                "actual": n,
                "plan": planned,
                "plan_high": None if high is None else high * days / 365,
                "ratio": n / planned if planned else None,
            }
        )
    return {"period_days": days, "stages": stages}


SEED = 20260415
T0 = datetime(2025, 1, 1, tzinfo=UTC)
OFFSETS = ("Z", "+00:00", "+01:00", "-05:00")
ACTING_TEAMS = ("lets", "network", "cmht", "iet")  # who takes an interruption held by its actor


def _stamp(rng: random.Random, at: datetime) -> str:
    """The instant written with a random UTC offset (the same instant either way)."""
    offset = rng.choice(OFFSETS)
    hours = 0 if offset in ("Z", "+00:00") else int(offset[:3])
    return (at + timedelta(hours=hours)).replace(tzinfo=None).isoformat() + offset


def generate_log(seed: int = SEED, n_cases: int = 3000) -> str:
    """A seeded log walked through the default pathway's transitions (guards are not checked).

    Most cases open in contact; one in ten starts part-way (history imported from another system)
    in a random open state. Each step fires a transition allowed from the current state (returns
    go back where the case came from); one row in fifteen leaves the state as it is (a note, a
    change of worker or team). Closures are followed by re-referrals or AMHP assessments, one
    gap in eight is zero (ties) and the rows are shuffled, so file order breaks the ties.
    """
    rng = random.Random(seed)
    moves: dict[str, list[Any]] = defaultdict(list)
    for transition in BARNET.transitions:
        for source in transition.sources:
            moves[source].append(transition)
    states = BARNET.states
    open_states = sorted(name for name, state in states.items() if not state.final)
    rows: list[list[str]] = []
    for i in range(n_cases):
        case_id = f"a{i:05d}"
        when = T0 + timedelta(seconds=rng.randrange(0, 420 * 86_400))
        if rng.random() < 0.1:
            state, trigger = rng.choice(open_states), ""
        else:
            state, trigger = BARNET.initial, "open"
        team = states[state].holder or "hub"
        stack: list[tuple[str, str]] = []  # where offers and interruptions go back to
        rows.append([case_id, _stamp(rng, when), state, team, trigger])
        for _ in range(rng.choice((0, 0, 1, 2, 4, 6, 8, 12, 16, 24, 32))):
            if rng.random() < 1 / 15:
                trigger = rng.choice(("", "note"))
                team = rng.choice((team, team, *ACTING_TEAMS))
            else:
                options = [t for t in moves[state] if stack or not t.returns]
                if not options:
                    break
                chosen = rng.choice(options)
                trigger = chosen.trigger
                if chosen.returns:
                    state, team = stack.pop()
                elif not chosen.internal:
                    if chosen.interrupt or states[chosen.dest].offer_to:
                        stack.append((state, team))
                    elif states[state].offer_to and stack:
                        stack.pop()  # an accepted offer does not go back
                    state = chosen.dest
                    if chosen.holder == "actor":
                        team = rng.choice(ACTING_TEAMS)
                    elif states[state].holder:
                        team = states[state].holder
                    if states[state].final:
                        stack.clear()
            if rng.random() >= 1 / 8:  # else a tie: the same instant as the row before
                gap = int(rng.expovariate(1 / (6 * 86_400)))
                when += timedelta(
                    seconds=gap, microseconds=rng.choice((0, 0, rng.randrange(MICRO)))
                )
            rows.append([case_id, _stamp(rng, when), state, team, trigger])
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "occurred_at", "state", "team", "trigger"])
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def generated() -> Iterator[tuple[Any, dict[str, list[Row]]]]:
    text = generate_log()
    store = pathway.open_store(":memory:")
    import_events(store, "generated.csv", text=text, pathway=BARNET)
    yield store, read_log(text)
    store.close()


@pytest.fixture(scope="module")
def shipped_plan() -> dict[str, Any]:
    """The shipped plan read as plain YAML, not through load_plan."""
    plan: dict[str, Any] = yaml.safe_load(SHIPPED_PLAN.read_text(encoding="utf-8"))
    return plan


def _span(cases: dict[str, list[Row]]) -> tuple[datetime, datetime]:
    stamps = [r.at for rows in cases.values() for r in rows]
    return (
        EPOCH + timedelta(microseconds=min(stamps)),
        EPOCH + timedelta(microseconds=max(stamps)),
    )


def _scopes(cases: dict[str, list[Row]]) -> dict[str, dict[str, Any]]:
    lo, hi = _span(cases)
    middle = lo + (hi - lo) / 2
    return {
        "after-the-log": {"as_of": hi + timedelta(days=10)},
        "as-of-mid-log": {"as_of": middle},
        "window": {"as_of": hi, "since": lo + (hi - lo) / 4, "until": middle},
        "until-past-as-of": {"as_of": middle, "since": lo + (hi - lo) / 3, "until": hi},
        "until-only": {"as_of": hi, "until": middle + timedelta(days=20)},
        "team": {"as_of": hi, "since": lo, "team": "lets"},
    }


def test_generated_log_has_the_shapes_under_test(generated) -> None:
    """Closures with re-referrals, ties, stays, part-way starts and single-row cases all occur."""
    _store, cases = generated
    assert len(cases) == 3000
    rows = [r for rs in cases.values() for r in rs]
    assert len(rows) > 20_000  # more than one import batch
    closed_then_re_referred = sum(
        any(a.state == "closed" and b.trigger == "re_refer" for a, b in itertools.pairwise(rs))
        for rs in cases.values()
    )
    assert closed_then_re_referred > 50
    assert sum(len({r.at for r in rs}) < len(rs) for rs in cases.values()) > 100  # ties
    stays = sum(a.state == b.state for rs in cases.values() for a, b in itertools.pairwise(rs))
    assert stays > 500
    assert sum(len(rs) == 1 for rs in cases.values()) > 300
    assert sum(rs[0].state != "contact" for rs in cases.values()) > 100


@pytest.mark.parametrize(
    "name",
    ["after-the-log", "as-of-mid-log", "window", "until-past-as-of", "until-only", "team"],
)
def test_generated_log_matches_the_reference(generated, shipped_plan, name: str) -> None:
    """Every stage's figures equal the reference's on the generated log, at this scope."""
    store, cases = generated
    scope = _scopes(cases)[name]
    got = activity_report(store.connection, Scope(**scope)).to_json()
    jsonschema.validate(got, load_schema("report_activity"))
    want = reference_activity(cases, shipped_plan, **scope)
    assert got["period_days"] == approx(want["period_days"])
    assert [s["stage"] for s in got["stages"]] == [s["stage"] for s in want["stages"]]
    for mine, theirs in zip(want["stages"], got["stages"], strict=True):
        assert theirs["actual"] == mine["actual"], mine["stage"]
        assert theirs["plan"] == approx(mine["plan"]), mine["stage"]
        if mine["plan_high"] is None:
            assert theirs["plan_high"] is None, mine["stage"]
        else:
            assert theirs["plan_high"] == approx(mine["plan_high"]), mine["stage"]
        assert theirs["ratio"] == approx(mine["ratio"]), mine["stage"]
    # Every stage of Table 15 has activity here (the team's: most), so none passes by counting
    # nothing.
    active = sum(s["actual"] > 0 for s in want["stages"])
    assert active == len(want["stages"]) or (name == "team" and active >= 6), want["stages"]


# --- a return is no new entry (with the pathway) --------------------------------------------------

INTERRUPTED_STAYS = Path(__file__).resolve().parent / "data" / "interrupted-stays.yaml"


def test_a_return_is_no_new_package_with_the_pathway(
    tmp_path: Path, store_factory: Backend
) -> None:
    """With the pathway, the end of an interruption or a declined offer takes the case back to a
    package it had begun: one package, as the engine's clock and the waits report see it.

    r1: enablement 2 Jan; safeguarding 10 Jan, back 12 Jan (a return); offered to the CMHT
        20 Jan, declined 22 Jan (a return); finished 1 Feb; re-referred 5 Feb, enablement again
        6 Feb (a fresh package). Enablement entries: 2 Jan, 12 Jan, 22 Jan, 6 Feb = 4 moves into
        the state; with the pathway the two returns are no entries: 2 packages. Safeguarding: 1.
    """
    path = pathway.load_pathway(INTERRUPTED_STAYS)
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(
        "source: test\nstages:\n"
        "  - {stage: Enablement packages, plan: 365, states: [enablement]}\n"
        "  - {stage: Safeguarding, plan: 365, states: [safeguarding]}\n",
        encoding="utf-8",
    )
    plan = load_plan(plan_file)
    store = store_factory.open(store_factory.location("returns"))
    engine = Engine(path, store, clock=lambda: at("2030-01-01"))
    hub, lets, cmht = Actor("w-hub", "hub"), Actor("w-lets", "lets"), Actor("w-cmht", "cmht")
    engine.open_case("r1", hub, at=at("2026-01-01"))
    for trigger, actor, when in (
        ("enable", hub, "2026-01-02"),
        ("raise_safeguarding", lets, "2026-01-10"),
        ("conclude_safeguarding", lets, "2026-01-12"),
        ("offer_support", lets, "2026-01-20"),
        ("decline_handoff", cmht, "2026-01-22"),
        ("finish", lets, "2026-02-01"),
        ("re_refer", hub, "2026-02-05"),
        ("enable", hub, "2026-02-06"),
    ):
        engine.fire("r1", trigger, actor, at=at(when))
    scope = Scope(at("2026-03-01"), since=at("2026-01-01"))
    conn = store.connection
    with_pathway = activity_report(conn, scope, plan, path).to_json()
    without = activity_report(conn, scope, plan).to_json()
    store.close()
    assert [s["actual"] for s in with_pathway["stages"]] == [2, 1]
    assert [s["actual"] for s in without["stages"]] == [4, 1]


def test_referrals_of_a_log_imported_without_triggers_count_by_their_state() -> None:
    """The shipped plan counts referrals by their route triggers and by entries into `referral`
    (each route moves the case there, an event doing both counts once), so a council's export
    with no trigger column still shows its referrals.

    n1: contact 1 Jan, referral 2 Jan (an entry: 1), choice_appointment 5 Jan.
    n2: referral 3 Jan as its first event (a first event enters its state: 1).
    n3: contact 4 Jan, referral 6 Jan with the trigger gp_refer (entry and trigger: once, 1).
    Referrals in 1 Jan - 31 Jan: 3.
    """
    store = pathway.open_store(":memory:")
    import_events(
        store,
        "x.csv",
        text="case_id,occurred_at,state,team,trigger\n"
        "n1,2026-01-01,contact,hub,\n"
        "n1,2026-01-02,referral,hub,\n"
        "n1,2026-01-05,choice_appointment,lets,\n"
        "n2,2026-01-03,referral,hub,\n"
        "n3,2026-01-04,contact,hub,\n"
        "n3,2026-01-06,referral,hub,gp_refer\n",
    )
    report = activity_report(
        store.connection, Scope(at("2026-02-01"), since=at("2026-01-01"), until=at("2026-01-31"))
    ).to_json()
    referrals = report["stages"][0]
    assert referrals["stage"].startswith("Referrals") and referrals["actual"] == 3
