"""The waits report on small logs worked out by hand, and against an independent reference.

Part one: small logs (CSV text imported into a throw-away store, plus a few engine-driven cases
for refusals), each figure worked out by hand from docs/reports.md ("Common rules" and "Waits")
in the comments beside it, never copied from the report. Part two: a seeded generated log of a
few thousand cases on the default pathway, and a plain-Python reading of the same definitions
(exact integer microseconds, each case's events ordered by the reference itself), compared with
the report figure by figure without a window, with a since/until window, with an as-of in the
middle of the log and with a team.

Where docs/reports.md leaves a choice open, the library's choice is stated there (the Waits
section) and tested here: waits run from the case's very first event even across a closure and
re-referral; ``--team`` does not narrow ``first_appointment``; a stay counts for the team holding
the case when it entered the state; an open offer's ``since`` is when the case entered the offer
state.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import SESSION_PREFIX, PostgresBackend
from report_helpers import DAY_US, EPOCH, at, parse_us, to_us
from test_reports_reference import quantile

import pathway
from pathway.definition import ReviewRules
from pathway.errors import TransitionRefused
from pathway.importer import import_events
from pathway.placement_import import import_placements
from pathway.reports import Scope, waits_report
from pathway.validation import load_schema

SCHEMA = load_schema("report_waits")

# A small pathway with everything the waits report looks at: an offer state (offered to the
# LETs), the default milestone (choice_appointment), two time-limited states with different
# limits (assessment 14 days, enablement 42), a review state (its name contains "review"), a
# final state, and an internal step (note) that leaves a case where it is.
WAITS_YAML = """\
id: waits_test
version: "1"
title: Waits test pathway
description: Invented for the waits report tests.
organisations:
  - {id: council, name: The council, kind: council}
  - {id: trust, name: The trust, kind: nhs_trust}
teams:
  - {id: hub, organisation: council, name: Hub}
  - {id: lets, organisation: council, name: LETs}
  - {id: cmht, organisation: trust, name: CMHT}
states:
  - {id: referred, holder: hub}
  - {id: offered, offer_to: lets}
  - {id: choice_appointment, holder: lets}
  - {id: assessment, holder: lets, time_limit_days: 14}
  - {id: enablement, holder: lets, time_limit_days: 42}
  - {id: annual_review, holder: lets}
  - {id: closed, holder: hub, final: true}
initial: referred
transitions:
  - {trigger: offer, sources: [referred], dest: offered, handoff: true}
  - {trigger: accept_handoff, sources: [offered], dest: choice_appointment, guards: [receiving_team]}
  - trigger: decline_handoff
    sources: [offered]
    return: true
    guards:
      - receiving_team
      - {guard: data_present, params: {fields: [decline_reason], this_call: true}}
  - {trigger: assess, sources: [choice_appointment], dest: assessment}
  - {trigger: enable, sources: [assessment], dest: enablement}
  - {trigger: review, sources: [enablement], dest: annual_review}
  - {trigger: note, sources: "*", internal: true}
  - {trigger: close, sources: "*", dest: closed, guards: [holding_team]}
  - {trigger: re_refer, sources: [closed], dest: referred}
"""

HUB = pathway.Actor("w-hub", "hub")
LETS = pathway.Actor("w-lets", "lets")
CMHT = pathway.Actor("w-cmht", "cmht")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> pathway.Pathway:
    """The small waits pathway above, loaded from a file as a user's would be."""
    path = tmp_path_factory.mktemp("waits") / "waits.yaml"
    path.write_text(WAITS_YAML, encoding="utf-8")
    return pathway.load_pathway(path)


def d(value: float) -> Any:
    """Days compared as floats: the report's days are exact microseconds / 86,400,000,000."""
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def us(text: str) -> str:
    """The stored text of an instant given as 'YYYY-MM-DD[THH:MM[:SS[.ffffff]]]' (UTC)."""
    return at(text).isoformat(timespec="microseconds")


def load(text: str, small: pathway.Pathway) -> Any:
    """A throw-away store holding the CSV log (closed: the pathway's final state)."""
    store = pathway.open_store(":memory:")
    import_events(store, "x.csv", text=text, pathway=small)
    return store


def waits(
    store: Any, small: pathway.Pathway, as_of: str, milestone: str | None = None, **scope: Any
) -> dict[str, Any]:
    """The report's JSON as the CLI prints it, checked against its schema first."""
    scope = {k: at(v) if k in ("since", "until") else v for k, v in scope.items()}
    extra = {} if milestone is None else {"milestone": milestone}
    record = waits_report(store.connection, Scope(at(as_of), **scope), small, **extra)
    report: dict[str, Any] = json.loads(json.dumps(record.to_json()))
    jsonschema.validate(report, SCHEMA)
    return report


def swap_lines(text: str, a: str, b: str) -> str:
    """The log with the two lines starting ``a`` and ``b`` swapped (a tie's file order)."""
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(a))
    j = next(n for n, line in enumerate(lines) if line.startswith(b))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


# --- first appointment --------------------------------------------------------------------------

FIRST = """case_id,occurred_at,state,team
f1,2026-01-01,referred,hub
f1,2026-01-03,offered,hub
f1,2026-01-11,choice_appointment,lets
f1,2026-01-20,assessment,lets
f2,2026-01-01T12:00,referred,hub
f2,2026-01-02,choice_appointment,lets
f2,2026-01-10,referred,hub
f2,2026-02-01,choice_appointment,lets
f3,2026-01-05T09:00,referred,hub
f3,2026-01-05T10:00+01:00,choice_appointment,lets
f4,2026-01-01,referred,hub
f4,2026-01-10,closed,hub
f4,2026-01-10,referred,hub
f5,2026-01-01,referred,hub
f5,2026-01-05,closed,hub
f5,2026-02-01,referred,hub
f5,2026-02-11,choice_appointment,lets
f6,2026-02-19,referred,hub
f7,2026-01-01,referred,hub
f7,2026-01-02,closed,hub
f8,2026-01-15T12:00,referred,hub
f8,2026-01-16,offered,hub
f9,2026-02-20,referred,hub
f9,2026-03-05,choice_appointment,lets
f10,2026-02-01,choice_appointment,lets
f11,2026-01-04T08:59:59.999999,referred,hub
f11,2026-01-05T08:59:59.999999,choice_appointment,lets
f12,2026-01-31T00:00:00.000001,referred,hub
f12,2026-02-01T00:00:00.000001,choice_appointment,lets
"""
# The wait runs from the case's first event to its FIRST entry into choice_appointment.
# f1: 1 Jan -> 11 Jan = 10 days.
# f2: 1 Jan 12:00 -> 2 Jan = 0.5 days (its second entry on 1 Feb does not count).
# f3: referred and choice_appointment at the same instant (10:00+01:00 = 09:00Z): 0 days.
# f4: closed and re-referred at the same instant, closing line first: open, never reached.
# f5: closed on 5 Jan, re-referred 1 Feb, reached 11 Feb: the wait runs from its first event,
#     1 Jan, across the closure: 31 + 10 = 41 days.
# f6: one event (19 Feb), open: waiting. f7: closed without reaching it: not waiting.
# f8: open, offered, not reached: waiting since 15 Jan 12:00.
# f9: reaches it on 5 Mar, after the as-of of 1 Mar: still waiting at 1 Mar (9 days).
# f10: its single event is the milestone itself: 0 days.
# f11: 1 day, reached 1 us before 5 Jan 09:00. f12: 1 day, reached 1 us after 1 Feb 00:00.


def test_first_appointment_waits_and_quantiles(small: pathway.Pathway) -> None:
    """Waits to the first entry into the milestone, with numpy-linear median and p90."""
    report = waits(load(FIRST, small), small, "2026-03-01")
    assert report["milestone"] == "choice_appointment"
    first = report["first_appointment"]
    # Reached by 1 Mar: f1 10, f2 0.5, f3 0, f5 41, f10 0, f11 1, f12 1.
    # Sorted 0, 0, 0.5, 1, 1, 10, 41 (n = 7): median at position 3 = 1;
    # p90 at position 0.9 * 6 = 5.4: 10 + 0.4 * (41 - 10) = 22.4.
    assert first["reached"] == 7
    assert first["median_days"] == d(1)
    assert first["p90_days"] == d(22.4)
    # Longest first, then case id (as text: f10 before f3, f11 before f12).
    assert first["waits"] == [
        {"case_id": "f5", "days": d(41)},
        {"case_id": "f1", "days": d(10)},
        {"case_id": "f11", "days": d(1)},
        {"case_id": "f12", "days": d(1)},
        {"case_id": "f2", "days": d(0.5)},
        {"case_id": "f10", "days": d(0)},
        {"case_id": "f3", "days": d(0)},
    ]
    # Open at 1 Mar and not reached: f4 from 1 Jan (59 days: 31 + 28), f8 from 15 Jan 12:00
    # (16.5 + 28 = 44.5), f6 from 19 Feb (10), f9 from 20 Feb (9). f7 is closed.
    assert first["still_waiting"] == [
        {"case_id": "f4", "days": d(59)},
        {"case_id": "f8", "days": d(44.5)},
        {"case_id": "f6", "days": d(10)},
        {"case_id": "f9", "days": d(9)},
    ]


def test_first_appointment_window_edges_are_inclusive(small: pathway.Pathway) -> None:
    """Only waits that END in the period count; both edges are in, a microsecond outside is not."""
    store = load(FIRST, small)
    report = waits(store, small, "2026-03-01", since="2026-01-05T09:00", until="2026-02-01")
    first = report["first_appointment"]
    # Reached in [5 Jan 09:00, 1 Feb 00:00]: f1 (11 Jan, 10 days), f3 (5 Jan 09:00: the since
    # edge, 0), f10 (1 Feb 00:00: the until edge, 0). Out: f2 (2 Jan), f11 (1 us before since),
    # f12 (1 us after until), f5 (11 Feb). Sorted 0, 0, 10: median 0; p90 at position 1.8:
    # 0 + 0.8 * 10 = 8.
    assert first["reached"] == 3
    assert first["median_days"] == d(0)
    assert first["p90_days"] == d(8)
    assert [w["case_id"] for w in first["waits"]] == ["f1", "f10", "f3"]
    # still_waiting is as of 1 Mar whatever the period (documented): the same four cases as
    # without it, f6 and f9 included though their first events come after the period.
    assert [w["case_id"] for w in first["still_waiting"]] == ["f4", "f8", "f6", "f9"]


def test_first_appointment_as_of_cuts_later_events(small: pathway.Pathway) -> None:
    """As of 1 Feb 00:00, later events are left out and an event exactly at as_of counts."""
    first = waits(load(FIRST, small), small, "2026-02-01")["first_appointment"]
    # Reached by 1 Feb 00:00: f1 10, f2 0.5 (2 Jan), f3 0, f10 0 (its event is at as_of), f11 1.
    # Sorted 0, 0, 0.5, 1, 10: median 0.5; p90 at position 3.6: 1 + 0.6 * 9 = 6.4.
    assert first["reached"] == 5
    assert first["median_days"] == d(0.5)
    assert first["p90_days"] == d(6.4)
    assert [w["case_id"] for w in first["waits"]] == ["f1", "f11", "f2", "f10", "f3"]
    # Waiting: f4 (31 days), f5 (closed 5 Jan, re-referred at 1 Feb 00:00 = as_of, so open; from
    # its first event, 31 days), f8 (15 Jan 12:00: 16.5), f12 (opened 31 Jan 00:00:00.000001:
    # one day less a microsecond; it reaches the milestone after as_of). f6 and f9 have no event
    # by then: not in the report.
    assert first["still_waiting"] == [
        {"case_id": "f4", "days": d(31)},
        {"case_id": "f5", "days": d(31)},
        {"case_id": "f8", "days": d(16.5)},
        {"case_id": "f12", "days": d((DAY_US - 1) / DAY_US)},
    ]


def test_first_appointment_tie_order_decides_open_or_closed(small: pathway.Pathway) -> None:
    """f4's closure and re-referral share an instant: with the re-referral first it is closed."""
    store = load(swap_lines(FIRST, "f4,2026-01-10,closed", "f4,2026-01-10,referred"), small)
    first = waits(store, small, "2026-03-01")["first_appointment"]
    assert [w["case_id"] for w in first["still_waiting"]] == ["f8", "f6", "f9"]


def test_first_appointment_is_not_narrowed_by_team(small: pathway.Pathway) -> None:
    """--team leaves first_appointment as it is (documented choice): the same figures."""
    store = load(FIRST, small)
    whole = waits(store, small, "2026-03-01")["first_appointment"]
    assert waits(store, small, "2026-03-01", team="cmht")["first_appointment"] == whole
    assert waits(store, small, "2026-03-01", team="lets")["first_appointment"] == whole


MILESTONE = """case_id,occurred_at,state,team
m1,2026-01-01,referred,hub
m1,2026-01-04,choice_appointment,lets
m1,2026-01-11,assessment,lets
m2,2026-01-01,referred,hub
m2,2026-01-02,choice_appointment,lets
"""


def test_another_milestone(small: pathway.Pathway) -> None:
    """--milestone changes the state that ends the wait."""
    store = load(MILESTONE, small)
    # Default (choice_appointment): m1 3 days, m2 1 day: median 2, p90 1 + 0.9 * 2 = 2.8.
    default = waits(store, small, "2026-01-21")
    assert default["first_appointment"]["reached"] == 2
    assert default["first_appointment"]["median_days"] == d(2)
    assert default["first_appointment"]["p90_days"] == d(2.8)
    assert default["first_appointment"]["still_waiting"] == []
    # assessment: m1 1 Jan -> 11 Jan = 10 days; m2 never got there: waiting 1 Jan -> 21 Jan = 20.
    other = waits(store, small, "2026-01-21", milestone="assessment")
    assert other["milestone"] == "assessment"
    assert other["first_appointment"] == {
        "reached": 1,
        "median_days": d(10),
        "p90_days": d(10),
        "still_waiting": [{"case_id": "m2", "days": d(20)}],
        "waits": [{"case_id": "m1", "days": d(10)}],
    }
    # A state no case reaches: nothing reached, null quantiles, both waiting 20 days.
    none = waits(store, small, "2026-01-21", milestone="nowhere")["first_appointment"]
    assert (none["reached"], none["median_days"], none["p90_days"], none["waits"]) == (
        0,
        None,
        None,
        [],
    )
    assert none["still_waiting"] == [
        {"case_id": "m1", "days": d(20)},
        {"case_id": "m2", "days": d(20)},
    ]


# --- stays over a time limit --------------------------------------------------------------------

STAYS = """case_id,occurred_at,state,team
s1,2025-12-31,referred,hub
s1,2026-01-01,enablement,lets
s1,2026-01-01T00:00:01,enablement,cmht
s1,2026-02-13T00:00:01,closed,hub
s2,2026-01-01,enablement,lets
s2,2026-02-12,choice_appointment,lets
s3,2026-02-01,referred,hub
s3,2026-03-01,enablement,lets
s4,2026-01-01,enablement,lets
s4,2026-01-10,closed,hub
s4,2026-01-20,enablement,lets
s5,2026-01-01,enablement,lets
s5,2026-01-31,annual_review,lets
s5,2026-02-10,enablement,lets
s5,2026-03-20,closed,hub
s6,2026-05-01,choice_appointment,lets
s6,2026-05-10,assessment,cmht
s7,2026-04-01,enablement,lets
s8,2026-01-01,enablement,lets
s8,2026-03-01,choice_appointment,lets
s8,2026-03-01,enablement,lets
s9,2025-10-01,enablement,lets
s9,2025-12-01,closed,hub
"""
# Limits: enablement 42 days, assessment 14. A stay begins on entering the state from another
# (or at a case's first event) and ends at the next event that moves the case elsewhere or
# closes it; over the limit means strictly longer.
# s1: enablement 1 Jan -> closed 13 Feb 00:00:01 = 43 days 1 s: over. The line a second after
#     1 Jan stays in enablement (a new team, not a new stay: else it would be a second overrun
#     of exactly 43 days).
# s2: 1 Jan -> 12 Feb = exactly 42 days: not over.
# s3: from 1 Mar, still there: 92 days at 1 Jun (31 + 30 + 31): over, left null.
# s4: 1 Jan -> closed 10 Jan (9 days); re-referred straight into enablement on 20 Jan (entered
#     from closed: a new stay), still there at 1 Jun: 132 days (11 + 28 + 31 + 30 + 31 + 1).
# s5: 1 Jan -> 31 Jan (30 days), a review, 10 Feb -> 20 Mar (18 + 20 = 38): two stays, neither
#     over, though 68 days in enablement in all (rows without a trigger cannot show a return,
#     so the review splits the stay; see test_a_return_continues_the_stay_it_interrupted).
# s6: assessment from 10 May, still there at 1 Jun: 22 days > 14: over, limit 14.
# s7: a single event in enablement on 1 Apr: a stay from it, 61 days at 1 Jun: over.
# s8: 1 Jan -> 1 Mar (59 days, over); at 1 Mar the choice_appointment line comes first, so the
#     enablement line at the same instant starts a new stay: 92 days at 1 Jun, over.
# s9: 1 Oct 2025 -> 1 Dec 2025 = 61 days: over.


def overrun(
    case_id: str, state: str, entered: str, left: str | None, days: float
) -> dict[str, Any]:
    """One expected row of over_time_limit (the limit follows from the state)."""
    limit = {"enablement": 42, "assessment": 14}[state]
    return {
        "case_id": case_id,
        "state": state,
        "entered": us(entered),
        "left": None if left is None else us(left),
        "days": d(days),
        "limit_days": d(limit),
    }


S1 = overrun("s1", "enablement", "2026-01-01", "2026-02-13T00:00:01", 43 + 1 / 86_400)
S3 = overrun("s3", "enablement", "2026-03-01", None, 92)
S4 = overrun("s4", "enablement", "2026-01-20", None, 132)
S6 = overrun("s6", "assessment", "2026-05-10", None, 22)
S7 = overrun("s7", "enablement", "2026-04-01", None, 61)
S8A = overrun("s8", "enablement", "2026-01-01", "2026-03-01", 59)
S8B = overrun("s8", "enablement", "2026-03-01", None, 92)
S9 = overrun("s9", "enablement", "2025-10-01", "2025-12-01", 61)


def test_over_time_limit(small: pathway.Pathway) -> None:
    """Stays longer than their state's limit, ended or running at as_of; longest first."""
    report = waits(load(STAYS, small), small, "2026-06-01")
    # Longest first, ties by case id (s3 before s8 at 92, s7 before s9 at 61).
    assert report["over_time_limit"] == [S4, S3, S8B, S7, S9, S8A, S1, S6]


def test_over_time_limit_tie_order(small: pathway.Pathway) -> None:
    """Swapping s8's two lines at 1 Mar: the stay goes on through 1 Mar and ends there."""
    store = load(swap_lines(STAYS, "s8,2026-03-01,choice", "s8,2026-03-01,enablement"), small)
    # enablement at 1 Mar is now no entry (the case is already there); choice_appointment ends
    # the one stay at 1 Mar: 59 days.
    rows = [r for r in waits(store, small, "2026-06-01")["over_time_limit"] if r["case_id"] == "s8"]
    assert rows == [S8A]


def test_over_time_limit_in_a_window(small: pathway.Pathway) -> None:
    """Stays that overlap the period count (touching an edge does); their days are not cut."""
    store = load(STAYS, small)
    # Period 13 Feb 00:00:01 -> 1 Mar: s1 ends at 13 Feb 00:00:01 (touches since: in); s3 enters
    # at 1 Mar (touches until: in); s4 and s8's stays run through it; s9 ended in Dec (out);
    # s6 and s7 begin after it (out).
    report = waits(store, small, "2026-06-01", since="2026-02-13T00:00:01", until="2026-03-01")
    assert report["over_time_limit"] == [S4, S3, S8B, S8A, S1]
    # A microsecond later start leaves s1 out; a microsecond earlier end leaves s3 (and s8's
    # second stay, entered at 1 Mar) out.
    later = waits(
        store, small, "2026-06-01", since="2026-02-13T00:00:01.000001", until="2026-03-01"
    )
    assert later["over_time_limit"] == [S4, S3, S8B, S8A]
    earlier = waits(
        store, small, "2026-06-01", since="2026-02-13", until="2026-02-28T23:59:59.999999"
    )
    assert earlier["over_time_limit"] == [S4, S8A, S1]


def test_over_time_limit_as_of_cut(small: pathway.Pathway) -> None:
    """As of 13 Feb 00:00 s1's closing (a second later) is not known: still running, 43 days."""
    report = waits(load(STAYS, small), small, "2026-02-13")
    # s1 1 Jan -> 13 Feb = 43 days, left null; s8 the same; s9 61 (ended). s2 left at 42 days;
    # s4 (24 days) and s5 (3 days) are under; s3, s6 and s7 have not entered yet.
    assert report["over_time_limit"] == [
        S9,
        overrun("s1", "enablement", "2026-01-01", None, 43),
        overrun("s8", "enablement", "2026-01-01", None, 43),
    ]


def test_over_time_limit_team_is_the_team_on_entry(small: pathway.Pathway) -> None:
    """With --team, a stay counts for the team holding the case when it entered the state."""
    store = load(STAYS, small)
    # cmht entered only s6's assessment; it took s1 over a second after s1 entered enablement.
    assert waits(store, small, "2026-06-01", team="cmht")["over_time_limit"] == [S6]
    assert waits(store, small, "2026-06-01", team="lets")["over_time_limit"] == [
        S4,
        S3,
        S8B,
        S7,
        S9,
        S8A,
        S1,
    ]


# --- reviews overdue ----------------------------------------------------------------------------

REVIEWS = """case_id,occurred_at,state,team
v1,2024-06-01,referred,hub
v1,2024-12-31T23:59:59,annual_review,lets
v2,2024-06-01,referred,hub
v2,2025-01-01,annual_review,lets
v3,2024-12-31,referred,cmht
v4,2025-01-01,referred,hub
v5,2024-06-01,enablement,lets
v5,2024-11-01,annual_review,lets
v5,2025-03-01,annual_review,cmht
v6,2024-01-01,referred,hub
v6,2024-06-01,closed,hub
v7,2024-01-01,referred,hub
v7,2024-03-01,annual_review,lets
v7,2024-06-01,closed,hub
v7,2025-12-01,referred,hub
v8,2024-01-01,referred,hub
v8,2024-02-01,closed,hub
v8,2025-12-01,referred,hub
v9,2024-12-01,referred,hub
v10,2024-01-01,referred,hub
v10,2025-06-01,closed,hub
v10,2025-06-01,referred,hub
v11,2024-10-01,referred,hub
v11,2026-01-01T00:00:00.000001,annual_review,lets
v12,2024-06-01,annual_review,lets
v12,2025-06-01,enablement,lets
"""
REVIEW_PLACEMENTS = (
    "case_id,placement_id,care_type,weekly_cost,start_date,end_date,council_pct,nhs_pct,person_pct,agreed_by\n"
    "v1,P1,home_care,156,2024-06-01,,100,0,0,council\n"
    "v2,P2,home_care,156,2024-06-01,,100,0,0,council\n"
    "v3,P3,home_care,156,2025-11-05,,100,0,0,council\n"
    "v4,P4,home_care,156,2025-11-06,,100,0,0,council\n"
    "v5,P5,residential,887,2024-10-01,,100,0,0,council\n"
    "v6,P6,residential,887,2024-01-01,,100,0,0,council\n"
    "v7,P7,residential,887,2025-12-01,,100,0,0,council\n"
    "v8,P8,home_care,156,2026-02-01,,100,0,0,council\n"
    "v9,P9,home_care,156,2024-12-01,2025-10-31,100,0,0,council\n"
    "v11,P11,home_care,156,2025-10-01,,100,0,0,council\n"
    "v12,P12,supported_living,457,2024-05-01,,100,0,0,council\n"
)
"""The placements (care packages) the reviews are owed for, imported onto the REVIEWS cases."""

# As of 1 Jan 2026, with the default rules (first review 56 days after the start, then 365 days
# after the last; 2025 is not a leap year). A review is an entry into a review state on or after
# the placement's first day.
# v1: reviewed 31 Dec 2024 23:59:59, due 31 Dec 2025 23:59:59: overdue by 1 s.
# v2: reviewed 1 Jan 2025: due exactly at as_of: not overdue (only after the due moment is).
# v3: never reviewed, placement from 5 Nov 2025: due 31 Dec 2025 (5 Nov + 56): 1 day overdue.
# v4: from 6 Nov 2025: due 1 Jan 2026: not overdue.
# v5: ENTERED review on 1 Nov 2024 (the 1 Mar 2025 line is a new team, not a new review): due
#     1 Nov 2025: 30 + 31 = 61 days overdue; held by cmht. With residential care reviewed every
#     182 days: due 2 May 2025: 30 + 30 + 31 + 31 + 30 + 31 + 30 + 31 = 244 days.
# v6: closed: owes no review.
# v7: reviewed 1 Mar 2024, but its placement began 1 Dec 2025 (after the re-referral): that
#     review does not count; due 26 Jan 2026: not overdue.
# v8: its placement begins 1 Feb 2026, after as_of: not listed.
# v9: its placement ended 31 Oct 2025: not listed.
# v10: no placement: owes no review.
# v11: its review is a microsecond after as_of: never reviewed by then; from 1 Oct 2025, due
#      26 Nov 2025: 4 + 31 + 1 = 36 days overdue.
# v12: reviewed 1 Jun 2024 (after its placement began on 1 May 2024), due 1 Jun 2025:
#      29 + 31 + 31 + 30 + 31 + 30 + 31 + 1 = 214 days overdue.


def load_reviews(small: pathway.Pathway, log: str = REVIEWS) -> Any:
    store = load(log, small)
    import_placements(store, "placements.csv", text=REVIEW_PLACEMENTS, pathway=small)
    return store


def review(
    case_id: str, care_type: str, started: str, last: str | None, due: str, days: float
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "placement_id": "P" + case_id[1:],
        "care_type": care_type,
        "started": started,
        "last_review": last and us(last),
        "due": us(due),
        "days_overdue": d(days),
    }


V12 = review("v12", "supported_living", "2024-05-01", "2024-06-01", "2025-06-01", 214)
V11 = review("v11", "home_care", "2025-10-01", None, "2025-11-26", 36)
V3 = review("v3", "home_care", "2025-11-05", None, "2025-12-31", 1)
V1 = review("v1", "home_care", "2024-06-01", "2024-12-31T23:59:59", "2025-12-31T23:59:59",
            1 / 86_400)  # fmt: skip


def test_reviews_overdue(small: pathway.Pathway) -> None:
    """Open placements whose first review (56 days) or next (365 days after the last) is late."""
    report = waits(load_reviews(small), small, "2026-01-01")
    v5 = review("v5", "residential", "2024-10-01", "2024-11-01", "2025-11-01", 61)
    assert report["reviews_overdue"] == [V12, v5, V11, V3, V1]


def test_reviews_in_residential_care_are_owed_more_often(small: pathway.Pathway) -> None:
    """The care type's own interval (BEP line 152: more regular in residential care)."""
    rules = ReviewRules(interval_days_by_care_type={"residential": 182})
    record = waits_report(load_reviews(small).connection, Scope(at("2026-01-01")), small,
                          review_rules=rules)  # fmt: skip
    report = json.loads(json.dumps(record.to_json()))
    jsonschema.validate(report, SCHEMA)
    v5 = review("v5", "residential", "2024-10-01", "2024-11-01", "2025-05-02", 244)
    assert report["reviews_overdue"] == [v5, V12, V11, V3, V1]


def test_the_shipped_pathway_reviews_residential_care_twice_a_year() -> None:
    rules = pathway.load_pathway("barnet-enablement").reviews
    assert (rules.first_review_days, rules.interval_days) == (56, 365)
    assert rules.interval_for("residential") == rules.interval_for("nursing") == 182
    assert rules.interval_for("direct_payment") == 365


def test_reviews_overdue_whatever_the_period(small: pathway.Pathway) -> None:
    """Overdue reviews are as at as_of: a period (here one before every event) changes nothing."""
    store = load_reviews(small)
    whole = waits(store, small, "2026-01-01")["reviews_overdue"]
    period = waits(store, small, "2026-01-01", since="2020-01-01", until="2020-12-31")
    assert period["reviews_overdue"] == whole


def test_reviews_overdue_team(small: pathway.Pathway) -> None:
    """--team: the placements of the cases the team holds at as_of (v3 and v5: cmht)."""
    team = waits(load_reviews(small), small, "2026-01-01", team="cmht")
    v5 = review("v5", "residential", "2024-10-01", "2024-11-01", "2025-11-01", 61)
    assert team["reviews_overdue"] == [v5, V3]


def test_no_placement_owes_no_review(small: pathway.Pathway) -> None:
    """Without placements (the log alone) nothing is overdue: reviews are owed per package."""
    assert waits(load(REVIEWS, small), small, "2026-01-01")["reviews_overdue"] == []


# --- open offers --------------------------------------------------------------------------------

OFFERS = """case_id,occurred_at,state,team
o1,2026-01-01,referred,hub
o1,2026-01-10,offered,hub
o2,2026-01-01,referred,hub
o2,2026-01-05,offered,hub
o2,2026-01-06,choice_appointment,lets
o3,2026-01-01,referred,hub
o3,2026-01-05,offered,hub
o3,2026-01-08,referred,hub
o4,2026-01-01,referred,hub
o4,2026-01-20,offered,hub
o4,2026-01-25,offered,hub
o5,2026-01-01,referred,hub
o5,2026-01-15,offered,
o6,2026-01-31T12:00,offered,hub
o7,2026-01-01,referred,hub
o7,2026-02-01T00:00:00.000001,offered,hub
o8,2026-01-01,referred,hub
o8,2026-02-01,offered,hub
o9,2025-12-01,offered,hub
o9,2025-12-10,closed,hub
o9,2025-12-20,referred,hub
o9,2026-01-02,offered,cmht
o10,2026-01-01,referred,hub
o10,2026-01-10,offered,hub
o10,2026-01-10,choice_appointment,lets
"""
# As of 1 Feb 2026. "offered" is offered to the LETs; held_by is the team of the latest event.
# o1: offered 10 Jan: 22 days. o2: accepted (choice_appointment): no. o3: declined: no.
# o4: offered 20 Jan; the 25 Jan line leaves it in the offer state (not a new offer): since
#     20 Jan, 12 days.
# o5: offered 15 Jan with no team: nobody holds it meanwhile (held_by null), 17 days.
# o6: a single event in the offer state, 31 Jan 12:00: 0.5 days.
# o7: offered a microsecond after as_of: not yet. o8: offered at as_of exactly: 0 days.
# o9: offered, closed, re-referred, offered again on 2 Jan, held by cmht: 30 days.
# o10: offered and accepted at the same instant, the acceptance line last: not open.


def offer(case_id: str, held_by: str | None, since: str, days: float) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "state": "offered",
        "offered_to": "lets",
        "held_by": held_by,
        "since": us(since),
        "days": d(days),
    }


O1 = offer("o1", "hub", "2026-01-10", 22)
O4 = offer("o4", "hub", "2026-01-20", 12)
O5 = offer("o5", None, "2026-01-15", 17)
O6 = offer("o6", "hub", "2026-01-31T12:00", 0.5)
O8 = offer("o8", "hub", "2026-02-01", 0)
O9 = offer("o9", "cmht", "2026-01-02", 30)


def test_open_offers(small: pathway.Pathway) -> None:
    """Cases left in an offer state at as_of, waiting since they entered it; longest first."""
    report = waits(load(OFFERS, small), small, "2026-02-01")
    assert report["open_offers"] == [O9, O1, O5, O4, O6, O8]


def test_open_offers_whatever_the_period(small: pathway.Pathway) -> None:
    """Open offers are as at as_of: a period (here a day before most offers) changes nothing."""
    store = load(OFFERS, small)
    report = waits(store, small, "2026-02-01", since="2026-01-01", until="2026-01-01")
    assert report["open_offers"] == [O9, O1, O5, O4, O6, O8]


def test_open_offers_team(small: pathway.Pathway) -> None:
    """--team: offers held by the team or offered to it."""
    store = load(OFFERS, small)
    assert waits(store, small, "2026-02-01", team="cmht")["open_offers"] == [O9]
    assert waits(store, small, "2026-02-01", team="hub")["open_offers"] == [O1, O4, O6, O8]
    assert waits(store, small, "2026-02-01", team="lets")["open_offers"] == [O9, O1, O5, O4, O6, O8]


def test_open_offers_tie_order(small: pathway.Pathway) -> None:
    """o10 with its acceptance line first: the offer comes last, so it is open (22 days)."""
    store = load(swap_lines(OFFERS, "o10,2026-01-10,offered", "o10,2026-01-10,choice"), small)
    report = waits(store, small, "2026-02-01")
    assert report["open_offers"] == [O9, O1, offer("o10", "hub", "2026-01-10", 22), O5, O4, O6, O8]


# --- refusals (from the engine) and refused events are not applied ------------------------------


def drive_scenario(store: Any, small: pathway.Pathway) -> dict[str, tuple[str, ...]]:
    """Cases driven through the engine; the reasons of each refusal it raised, by name.

    e1: opened 1 Jan by the hub (hub holds, referred); offered 2 Jan (the hub keeps it);
        a note (internal step) 5 Jan; accept by cmht 6 Jan: refused (not the receiving team);
        decline by the hub 7 Jan without a reason: refused twice over (receiving team, reason);
        decline by cmht 8 Jan without a reason: refused, the same two kinds of reason.
    e2: opened 1 Jan, closed by the hub 3 Jan; close again 4 Jan: refused (closed already).
    e3: opened 1 Jan; accept by lets 20 Jan: refused (nothing offered). Open, not offered.
    """
    engine = pathway.Engine(small, store, clock=lambda: at("2030-01-01"))
    reasons: dict[str, tuple[str, ...]] = {}

    def refused(name: str, *args: Any, **kwargs: Any) -> None:
        with pytest.raises(TransitionRefused) as caught:
            engine.fire(*args, **kwargs)
        reasons[name] = caught.value.reasons

    engine.open_case("e1", HUB, at=at("2026-01-01"))
    engine.fire("e1", "offer", HUB, at=at("2026-01-02"))
    engine.fire("e1", "note", HUB, at=at("2026-01-05"))
    refused("accept-cmht", "e1", "accept_handoff", CMHT, at=at("2026-01-06"))
    refused("decline-hub", "e1", "decline_handoff", HUB, at=at("2026-01-07"))
    refused("decline-cmht", "e1", "decline_handoff", CMHT, at=at("2026-01-08"))
    engine.open_case("e2", HUB, at=at("2026-01-01"))
    engine.fire("e2", "close", HUB, at=at("2026-01-03"))
    refused("close-closed", "e2", "close", HUB, at=at("2026-01-04"))
    engine.open_case("e3", HUB, at=at("2026-01-01"))
    refused("accept-lets", "e3", "accept_handoff", LETS, at=at("2026-01-20"))
    return reasons


Scenario = tuple[Any, dict[str, tuple[str, ...]]]  # a store and its refusals' reasons by name


@pytest.fixture
def engine_store(small: pathway.Pathway) -> Iterator[Scenario]:
    """A throw-away store holding only the engine-driven scenario, and its refusals' reasons."""
    store = pathway.open_store(":memory:")
    reasons = drive_scenario(store, small)
    yield store, reasons
    store.close()


def test_refusal_reasons_are_as_the_scenario_says(engine_store: Scenario) -> None:
    """The scenario's refusals have the reasons the hand counts below assume."""
    _store, reasons = engine_store
    assert {name: len(r) for name, r in reasons.items()} == {
        "accept-cmht": 1,
        "decline-hub": 2,
        "decline-cmht": 2,
        "close-closed": 1,
        "accept-lets": 1,
    }
    # The receiving-team reason names the acting team, so cmht's two are the same text and the
    # hub's differs; the missing decline reason is the same text for both.
    assert reasons["decline-cmht"][0] == reasons["accept-cmht"][0]
    assert reasons["decline-hub"][0] != reasons["decline-cmht"][0]
    assert reasons["decline-hub"][1] == reasons["decline-cmht"][1]


def test_refusals_by_team_and_reason(engine_store: Scenario, small: pathway.Pathway) -> None:
    """Each reason of each refusal in the period counts once, by acting team; most first."""
    store, reasons = engine_store
    recv_cmht, why = reasons["decline-cmht"]
    recv_hub, _ = reasons["decline-hub"]
    (closed_already,) = reasons["close-closed"]
    (nothing_offered,) = reasons["accept-lets"]

    def expect(counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
        rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"team": t, "reason": r, "count": n} for (t, r), n in rows]

    # As of 1 Feb: cmht 6 Jan (receiving team), cmht 8 Jan (receiving team + reason), hub 7 Jan
    # (receiving team + reason), hub 4 Jan (closed), lets 20 Jan (nothing offered).
    report = waits(store, small, "2026-02-01")
    assert report["refusals"] == expect(
        {
            ("cmht", recv_cmht): 2,
            ("cmht", why): 1,
            ("hub", recv_hub): 1,
            ("hub", why): 1,
            ("hub", closed_already): 1,
            ("lets", nothing_offered): 1,
        }
    )
    # Period 7 Jan -> 8 Jan, both edges in (the refusals are at 00:00): the two declines only.
    report = waits(store, small, "2026-02-01", since="2026-01-07", until="2026-01-08")
    assert report["refusals"] == expect(
        {("cmht", recv_cmht): 1, ("cmht", why): 1, ("hub", recv_hub): 1, ("hub", why): 1}
    )
    # As of 6 Jan 12:00: only the 4 Jan and 6 Jan refusals have happened.
    report = waits(store, small, "2026-01-06T12:00")
    assert report["refusals"] == expect({("cmht", recv_cmht): 1, ("hub", closed_already): 1})
    # --team: refusals of that team's actors.
    report = waits(store, small, "2026-02-01", team="cmht")
    assert report["refusals"] == expect({("cmht", recv_cmht): 2, ("cmht", why): 1})


def test_refused_events_change_nothing(engine_store: Scenario, small: pathway.Pathway) -> None:
    """Refusals never move a case: e2 stays closed, e1's offer runs from 2 Jan (the note and
    the refusals after it are no new offer)."""
    store, _reasons = engine_store
    report = waits(store, small, "2026-02-01")
    # e1 and e3 are open and never reached the milestone: 31 days each; e2 is closed.
    assert report["first_appointment"]["still_waiting"] == [
        {"case_id": "e1", "days": d(31)},
        {"case_id": "e3", "days": d(31)},
    ]
    assert report["open_offers"] == [
        {
            "case_id": "e1",
            "state": "offered",
            "offered_to": "lets",
            "held_by": "hub",
            "since": us("2026-01-02"),
            "days": d(30),
        }
    ]


# --- the same JSON on PostgreSQL ----------------------------------------------------------------

# Every hand-worked log (case ids do not clash) and the engine scenario, at the scopes above.
HANDWORKED_SCOPES: tuple[tuple[str, dict[str, str]], ...] = (
    ("2026-03-01", {}),
    ("2026-03-01", {"since": "2026-01-05T09:00", "until": "2026-02-01"}),
    ("2026-02-01", {}),
    ("2026-01-21", {"milestone": "assessment"}),
    ("2026-06-01", {}),
    ("2026-06-01", {"since": "2026-02-13T00:00:01", "until": "2026-03-01"}),
    ("2026-02-13", {}),
    ("2026-06-01", {"team": "cmht"}),
    ("2026-01-01", {}),
    ("2026-01-01", {"team": "cmht"}),
    ("2026-02-01", {"team": "hub"}),
    ("2026-02-01", {"since": "2026-01-07", "until": "2026-01-08"}),
    ("2026-01-06T12:00", {}),
)


@pytest.mark.postgres
def test_handworked_logs_give_the_same_json_on_postgres(
    pg_url: str, small: pathway.Pathway
) -> None:
    """The report's SQL runs on both stores: the same text of JSON for every hand-worked scope."""

    backend = PostgresBackend(pg_url, f"{SESSION_PREFIX}_waits")
    bodies = [log.split("\n", 1)[1] for log in (MILESTONE, STAYS, REVIEWS, OFFERS)]
    text = FIRST + "".join(bodies)
    stores = [pathway.open_store(":memory:"), pathway.open_store(backend.location("waits"))]
    try:
        for store in stores:
            import_events(store, "x.csv", text=text, pathway=small)
            drive_scenario(store, small)
        for as_of, options in HANDWORKED_SCOPES:
            scope = Scope(
                at(as_of),
                since=at(options["since"]) if "since" in options else None,
                until=at(options["until"]) if "until" in options else None,
                team=options.get("team"),
            )
            milestone = options.get("milestone", "choice_appointment")
            lite, server = (
                json.dumps(waits_report(s.connection, scope, small, milestone).to_json())
                for s in stores
            )
            assert lite == server, (as_of, options)
    finally:
        for store in stores:
            store.close()
        backend.cleanup()


# --- the reference ------------------------------------------------------------------------------
#
# Written from docs/reports.md, not from the report's SQL: each case's events (applied and
# refused) are kept in a list, ordered here by time and then by their order in the file (or, for
# engine-driven cases, the order they were fired in); everything after as_of is dropped; entries,
# stays, reviews and offers are worked out by walking the list, in integer microseconds.


@dataclass(frozen=True)
class Ev:
    """One event as the reference sees it."""

    at: int  # microseconds since the epoch
    order: int  # line in the file, or firing order for engine-driven cases (ties)
    state: str  # the case's state after the event (a refusal leaves it where it was)
    team: str | None  # the holding team after the event (None: nobody)
    applied: bool = True
    actor_team: str = ""
    reasons: tuple[str, ...] = ()
    trigger: str = ""  # what moved the case here (an imported log without triggers: "")


def text_of(at_us: int) -> str:
    """The stored text of an instant in microseconds."""
    return (EPOCH + timedelta(microseconds=at_us)).isoformat(timespec="microseconds")


def reference_waits(
    cases: dict[str, list[Ev]], scope: Scope, path: pathway.Pathway, milestone: str
) -> dict[str, Any]:
    """Every figure of the waits report, from the definitions."""
    as_of = to_us(scope.as_of)
    start = None if scope.since is None else to_us(scope.since)
    end = as_of if scope.until is None else min(as_of, to_us(scope.until))
    team = scope.team
    limits = {n: s.time_limit_days for n, s in path.states.items() if s.time_limit_days}
    offer_to = {n: s.offer_to for n, s in path.states.items() if s.offer_to}
    finals = set(path.final_states())
    returns = {(t.trigger, src) for t in path.transitions if t.returns for src in t.sources}
    interrupts = {(t.trigger, src) for t in path.transitions if t.interrupt for src in t.sources}
    helping = path.governance.helping_teams
    aside = path.interruption_states

    def in_period(t: int) -> bool:
        return (start is None or t >= start) and t <= end

    reached_waits: list[tuple[str, int]] = []
    still: list[tuple[str, int]] = []
    # Each row with its sort key: longest first (exact microseconds), then case id.
    overruns: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
    overdue: list[tuple[tuple[int, str], dict[str, Any]]] = []  # none: see below
    offers: list[tuple[tuple[int, str], dict[str, Any]]] = []
    refusals: Counter[tuple[str, str]] = Counter()
    for case_id, events in cases.items():
        seen = sorted((e for e in events if e.at <= as_of), key=lambda e: (e.at, e.order))
        for e in seen:
            if not e.applied and in_period(e.at) and (team is None or e.actor_team == team):
                refusals.update((e.actor_team, reason) for reason in e.reasons)
        applied = [e for e in seen if e.applied]
        if not applied:
            continue
        opened, last = applied[0].at, applied[-1]
        is_open = last.state not in finals
        # An entry: the case's first event, or one that moves it into a state from another.
        entries = [i for i, e in enumerate(applied) if i == 0 or applied[i - 1].state != e.state]
        # First appointment: first event -> first entry into the milestone.
        reached = next((e.at for e in applied if e.state == milestone), None)
        if reached is not None and in_period(reached):
            reached_waits.append((case_id, reached - opened))
        # A case helped by any route (an event after which a helping team is responsible for
        # it: not closing, not an offer, not inside or back from an interruption, not a
        # decline) needed no first appointment: not waiting for one.
        helped = any(
            e.team in helping
            and e.state not in finals
            and e.state not in offer_to
            and e.state not in aside
            and (e.trigger, applied[i - 1].state if i else None) not in returns | interrupts
            for i, e in enumerate(applied)
        )
        if reached is None and is_open and not helped:
            still.append((case_id, as_of - opened))
        # Stays: from an entry into a time-limited state to the next event that moves the case
        # elsewhere or closes it (or as_of); an entry by a `return` transition (its trigger and
        # the state it came from) goes on with the stay it interrupted, as the engine's clock
        # does. Overlapping the period, longer than the limit; the team is the one on entry.
        stays: list[list[Any]] = []  # [entry event, left]
        newest: dict[str, list[Any]] = {}
        for i in entries:
            e = applied[i]
            if e.state not in limits:
                continue
            left = next(
                (x.at for x in applied[i + 1 :] if x.state != e.state or x.state in finals), None
            )
            came_from = applied[i - 1].state if i > 0 else None
            if e.state in newest and (e.trigger, came_from) in returns:
                newest[e.state][1] = left
                continue
            newest[e.state] = [e, left]
            stays.append(newest[e.state])
        for e, left in stays:
            if team is not None and e.team != team:
                continue
            stop = as_of if left is None else left
            overlaps = e.at <= end and (start is None or stop >= start)
            if overlaps and stop - e.at > limits[e.state] * DAY_US:
                row = {
                    "case_id": case_id,
                    "state": e.state,
                    "entered": text_of(e.at),
                    "left": None if left is None else text_of(left),
                    "days": d((stop - e.at) / DAY_US),
                    "limit_days": d(limits[e.state]),
                }
                overruns.append(((e.at - stop, case_id, e.at), row))
        # Reviews are owed per placement (care package); these generated logs carry none, so
        # none is overdue (the per-placement rule is worked by hand above).
        # Open offers: the latest event left the case in an offer state; waiting since it
        # entered that state.
        if last.state in offer_to and (team is None or team in (last.team, offer_to[last.state])):
            since = max(applied[i].at for i in entries if applied[i].state == last.state)
            row = {
                "case_id": case_id,
                "state": last.state,
                "offered_to": offer_to[last.state],
                "held_by": last.team,
                "since": text_of(since),
                "days": d((as_of - since) / DAY_US),
            }
            offers.append(((since - as_of, case_id), row))
    days = sorted(us / DAY_US for _c, us in reached_waits)

    def listed(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
        ordered = sorted(pairs, key=lambda p: (-p[1], p[0]))
        return [{"case_id": c, "days": d(us / DAY_US)} for c, us in ordered]

    return {
        "first_appointment": {
            "reached": len(days),
            "median_days": d(quantile(days, 0.5)) if days else None,
            "p90_days": d(quantile(days, 0.9)) if days else None,
            "still_waiting": listed(still),
            "waits": listed(reached_waits),
        },
        "over_time_limit": [row for _key, row in sorted(overruns, key=lambda kr: kr[0])],
        "reviews_overdue": [row for _key, row in sorted(overdue, key=lambda kr: kr[0])],
        "open_offers": [row for _key, row in sorted(offers, key=lambda kr: kr[0])],
        "refusals": [
            {"team": t, "reason": r, "count": n}
            for (t, r), n in sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


# --- the generated log --------------------------------------------------------------------------

SEED = 20260317
N_CASES = 3000
N_ENGINE = 120
T0 = datetime(2023, 1, 1, tzinfo=UTC)
OFFSETS = ("Z", "+00:00", "+02:00", "-05:00", "")  # "": naive, read as UTC
BARNET = pathway.load_pathway("barnet-enablement")


def _stamp(rng: random.Random, when: datetime) -> str:
    """``when`` written with a random UTC offset, 'T' or space, as another system might."""
    offset = rng.choice(OFFSETS)
    hours = 0 if offset in ("", "Z", "+00:00") else int(offset[:3])
    local = (when + timedelta(hours=hours)).replace(tzinfo=None)
    return local.isoformat(sep=rng.choice("T ")) + offset


def generate_log(path: pathway.Pathway, seed: int = SEED, n_cases: int = N_CASES) -> str:
    """A seeded log over the pathway's states, rows shuffled.

    It walks each case at random (imports are history, not checked against transitions), weighted
    so that every figure has cases: the milestone, the time-limited state, offer states and review
    states are frequent; a row often repeats the case's state (no new entry, maybe a new team);
    closures and re-referrals, empty teams, ties and gaps of a year or more occur.
    """
    rng = random.Random(seed)
    states = sorted(path.states)
    offers = sorted(n for n, s in path.states.items() if s.offer_to)
    reviews = sorted(n for n in path.states if "review" in n)
    limited = sorted(n for n, s in path.states.items() if s.time_limit_days)
    teams = sorted(path.teams)

    def next_state(current: str | None) -> str:
        roll = rng.random()
        if current is not None and roll < 0.15:
            return current
        for threshold, choices in (
            (0.25, ["closed"]),
            (0.37, ["choice_appointment"]),
            (0.50, limited),
            (0.65, offers),
            (0.75, reviews),
        ):
            if roll < threshold:
                return rng.choice(choices)
        return rng.choice(states)

    rows: list[list[str]] = []
    for i in range(n_cases):
        # Two cases in five live on midnights, with gaps of whole days that are often exactly a
        # time limit or a year: with scopes at midnight, the strict and inclusive edges are hit.
        on_grid = rng.random() < 0.4
        when = T0 + timedelta(days=rng.randrange(700))
        if not on_grid:
            when += timedelta(seconds=rng.randrange(86_400))
        state = rng.choice(("contact", "referral")) if rng.random() < 0.6 else next_state(None)
        team: str | None = "hub"
        for n in range(rng.choice((1, 1, 2, 3, 4, 5, 6, 8, 10, 14))):
            if n:
                state = next_state(state)
            holder = path.states[state].holder
            if rng.random() < 0.08:
                team = None
            elif rng.random() < 0.2 or (holder is None and team is None):
                team = rng.choice(teams)
            elif holder is not None:
                team = holder  # an offer state keeps the sender
            rows.append([f"g{i:05d}", _stamp(rng, when), state, team or ""])
            roll = rng.random()
            if roll < 0.1:
                continue  # a tie: the next row is at the same instant, the file order decides
            if on_grid:
                when += timedelta(days=rng.choice((1, 7, 14, 15, 30, 42, 43, 100, 365, 400)))
                continue
            # Now and then a long gap: reviews fall due, stays run over.
            days = rng.uniform(100, 500) if roll < 0.18 else rng.expovariate(1 / 15)
            micros = rng.choice((0, 0, rng.randrange(1_000_000)))
            when += timedelta(days=int(days), seconds=rng.randrange(86_400), microseconds=micros)
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "occurred_at", "state", "team"])
    writer.writerows(rows)
    return out.getvalue()


def read_log(text: str) -> dict[str, list[Ev]]:
    """The generated log's events by case (lines give the order of ties)."""
    reader = csv.reader(io.StringIO(text))
    next(reader)
    cases: dict[str, list[Ev]] = {}
    for row in reader:
        case_id, stamp, state, team = row
        cases.setdefault(case_id, []).append(
            Ev(parse_us(stamp), reader.line_num, state, team or None)
        )
    return cases


# What the engine-driven cases try: (trigger, data). Most are refused from most states (wrong
# state, wrong team, no reason given), which is what makes refusals; some move the case on.
ATTEMPTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("self_refer", {}),
    ("other_refer", {}),
    ("refer_to_triage", {}),
    ("offer_choice_appointment", {}),
    ("accept_handoff", {}),
    ("decline_handoff", {}),
    ("decline_handoff", {"decline_reason": "no capacity"}),
    ("close", {}),
    ("close", {"closure_reason": "signposted"}),
    ("re_refer", {}),
)


def drive_engine(
    store: Any, path: pathway.Pathway, seed: int = SEED, n_cases: int = N_ENGINE
) -> dict[str, list[Ev]]:
    """Cases opened and moved through the engine, refusals included, as the reference sees them.

    Each applied step's state and team are the case the engine returns; each refusal keeps the
    case where it was, with the acting team and the reasons of the TransitionRefused.
    """
    rng = random.Random(seed + 1)
    engine = pathway.Engine(path, store, clock=lambda: at("2030-01-01"))
    actors = [pathway.Actor(f"w-{t}", t) for t in sorted(path.teams)]
    cases: dict[str, list[Ev]] = {}
    order = 10_000_000  # after every line of the file: only the order within a case matters
    for i in range(n_cases):
        case_id = f"e{i:04d}"
        when = T0 + timedelta(days=rng.randrange(700))  # midnights: edges of the windows
        actor = rng.choice(actors)
        case = engine.open_case(case_id, actor, at=when)
        events = cases[case_id] = [Ev(to_us(when), order, case.state, case.team)]
        for _ in range(rng.randrange(1, 8)):
            order += 1
            when += timedelta(days=rng.choice((0, rng.randrange(1, 90))))
            actor = rng.choice(actors)
            trigger, data = rng.choice(ATTEMPTS)
            try:
                case = engine.fire(case_id, trigger, actor, at=when, data=data)
            except TransitionRefused as refusal:
                refused = Ev(
                    to_us(when), order, case.state, case.team, False, actor.team, refusal.reasons
                )
                events.append(refused)
            else:
                events.append(Ev(to_us(when), order, case.state, case.team, trigger=trigger))
    return cases


Generated = tuple[Any, dict[str, list[Ev]]]  # a store and the reference's copy of its events


@pytest.fixture(scope="module")
def generated() -> Iterator[Generated]:
    """The generated log imported, plus the engine-driven cases, and the reference's copy."""
    text = generate_log(BARNET)
    store = pathway.open_store(":memory:")
    import_events(store, "generated.csv", text=text, pathway=BARNET)
    cases = read_log(text)
    cases.update(drive_engine(store, BARNET))
    yield store, cases
    store.close()


def _scopes(cases: dict[str, list[Ev]]) -> dict[str, tuple[Scope, str]]:
    """Scopes at midnights (where the grid cases' events fall), by quantile of the log's time."""
    stamps = sorted(e.at for evs in cases.values() for e in evs)

    def q(fraction: float) -> datetime:
        """The midnight (UTC) before the event at this fraction of the log."""
        instant = EPOCH + timedelta(microseconds=stamps[int(fraction * (len(stamps) - 1))])
        return instant.replace(hour=0, minute=0, second=0, microsecond=0)

    late = q(1) + timedelta(days=30)
    default = "choice_appointment"
    # A window from the end of one overrun to the start of another: stays touching its edges.
    overall = reference_waits(cases, Scope(late), BARNET, default)["over_time_limit"]
    ends = sorted(r["left"] for r in overall if r["left"] is not None)
    starts = sorted(r["entered"] for r in overall)
    edge_since = datetime.fromisoformat(ends[len(ends) // 3])
    edge_until = datetime.fromisoformat(min(t for t in starts if t > ends[2 * len(ends) // 3]))
    return {
        "edges": (Scope(late, since=edge_since, until=edge_until), default),
        "all": (Scope(late), default),
        "window": (Scope(late, since=q(1 / 3), until=q(2 / 3)), default),
        "middle": (Scope(q(0.5)), default),
        "middle-until-later": (Scope(q(0.5), since=q(0.25), until=q(1)), default),
        "team": (Scope(late, team="cmht"), default),
        "team-window": (Scope(q(0.6), since=q(0.2), until=q(0.5), team="hub"), default),
        "milestone": (Scope(q(0.5)), "specialist_support"),
    }


def test_generated_log_has_the_shapes_under_test(generated: Generated) -> None:
    """Ties, re-referrals, repeated states, empty teams and refusals all occur in the log."""
    _store, cases = generated
    assert len(cases) == N_CASES + N_ENGINE
    events = [e for evs in cases.values() for e in evs]
    assert sum(not e.applied for e in events) > 100
    assert sum(len({e.at for e in evs}) < len(evs) for evs in cases.values()) > 100
    ordered = {c: sorted(evs, key=lambda e: (e.at, e.order)) for c, evs in cases.items()}
    assert sum(any(e.state == "closed" for e in evs[:-1]) for evs in ordered.values()) > 100
    repeats = Counter(
        b.state
        for evs in ordered.values()
        for a, b in itertools.pairwise(e for e in evs if e.applied)
        if a.state == b.state
    )
    assert repeats["brief_enablement"] > 20 and repeats["offered_to_cmht"] > 5
    assert repeats["community_review"] + repeats["residential_review"] > 20
    assert sum(e.team is None for e in events) > 500


@pytest.mark.parametrize(
    "name",
    ["all", "window", "edges", "middle", "middle-until-later", "team", "team-window", "milestone"],
)
def test_generated_waits_match_reference(generated: Generated, name: str) -> None:
    """Every figure of the waits report equals the reference's, in the same order."""
    store, cases = generated
    scope, milestone = _scopes(cases)[name]
    record = waits_report(store.connection, scope, BARNET, milestone=milestone)
    got = json.loads(json.dumps(record.to_json()))
    jsonschema.validate(got, SCHEMA)
    want = reference_waits(cases, scope, BARNET, milestone)
    for key in ("reached", "median_days", "p90_days", "waits", "still_waiting"):
        assert got["first_appointment"][key] == want["first_appointment"][key], key
    # Two stays of one case may be equally long: the report orders by days and case only.
    overruns = sorted(
        got["over_time_limit"], key=lambda r: (-r["days"], r["case_id"], r["entered"])
    )
    assert [(r["days"], r["case_id"]) for r in got["over_time_limit"]] == [
        (r["days"], r["case_id"]) for r in overruns
    ]
    assert overruns == want["over_time_limit"]
    for key in ("reviews_overdue", "open_offers", "refusals"):
        assert got[key] == want[key], key
    # Every figure has something in it at this scope (else the comparison proves little);
    # reviews are owed per placement and the generated logs have none (worked by hand above).
    assert want["first_appointment"]["still_waiting"] and want["reviews_overdue"] == []
    assert want["over_time_limit"] and want["open_offers"] and want["refusals"]
    if name != "milestone":
        assert want["first_appointment"]["reached"] > 10


# --- an interrupted stay goes on: the engine's clock and the report agree -----------------------

INTERRUPTED_STAYS = Path(__file__).resolve().parent / "data" / "interrupted-stays.yaml"


@pytest.fixture(scope="module")
def interrupts() -> pathway.Pathway:
    """A pathway with an interruption and a declinable offer out of a time-limited state."""
    return pathway.load_pathway(INTERRUPTED_STAYS)


def test_a_return_continues_the_stay_it_interrupted(interrupts: pathway.Pathway) -> None:
    """The engine restores a state's clock when a `return` brings the case back (six weeks of
    enablement stay six weeks however often they are interrupted); the report's stays do too.

    i1: enablement from 2 Jan; safeguarding 20 Jan - 25 Jan (an interruption, then a return);
        finished 20 Feb. One stay, 2 Jan -> 20 Feb = 49 days: over 42. (Split at the
        interruption it would be 18 + 26 days, neither over.)
    i2: enablement from 2 Jan; offered to the CMHT 10 Jan, declined 12 Jan (a return); still in
        enablement at 1 Mar: one stay, 2 Jan -> 1 Mar = 58 days, running (left null).
    i3: enablement from 5 Feb, safeguarding from 10 Feb, still there at 1 Mar: the stay ended
        when the case left for safeguarding (5 days) and nothing has continued it: not over.
    """
    store = pathway.open_store(":memory:")
    engine = pathway.Engine(interrupts, store, clock=lambda: at("2030-01-01"))
    lets = pathway.Actor("w-lets", "lets")
    cmht = pathway.Actor("w-cmht", "cmht")
    for case_id in ("i1", "i2", "i3"):
        engine.open_case(case_id, HUB, at=at("2026-01-01"))
    engine.fire("i1", "enable", HUB, at=at("2026-01-02"))
    engine.fire("i1", "raise_safeguarding", lets, at=at("2026-01-20"))
    engine.fire("i1", "conclude_safeguarding", lets, at=at("2026-01-25"))
    engine.fire("i1", "finish", lets, at=at("2026-02-20"))
    engine.fire("i2", "enable", HUB, at=at("2026-01-02"))
    engine.fire("i2", "offer_support", lets, at=at("2026-01-10"))
    engine.fire("i2", "decline_handoff", cmht, at=at("2026-01-12"))
    engine.fire("i3", "enable", HUB, at=at("2026-02-05"))
    engine.fire("i3", "raise_safeguarding", lets, at=at("2026-02-10"))
    report = waits(store, interrupts, "2026-03-01")
    assert report["over_time_limit"] == [
        {"case_id": "i2", "state": "enablement", "entered": us("2026-01-02"), "left": None,
         "days": d(58), "limit_days": d(42)},
        {"case_id": "i1", "state": "enablement", "entered": us("2026-01-02"),
         "left": us("2026-02-20"), "days": d(49), "limit_days": d(42)},
    ]  # fmt: skip
    # The same history imported with its triggers reads the same; without them (a log that
    # cannot tell a return from a fresh entry) the interruption splits the stay.
    rows = (
        "case_id,occurred_at,state,team,trigger\n"
        "j1,2026-01-01,referred,hub,open\n"
        "j1,2026-01-02,enablement,lets,enable\n"
        "j1,2026-01-20,safeguarding,lets,raise_safeguarding\n"
        "j1,2026-01-25,enablement,lets,conclude_safeguarding\n"
        "j1,2026-02-20,closed,hub,finish\n"
    )
    with_triggers = pathway.open_store(":memory:")
    import_events(with_triggers, "x.csv", text=rows, pathway=interrupts)
    over = waits(with_triggers, interrupts, "2026-03-01")["over_time_limit"]
    assert [(o["case_id"], o["days"]) for o in over] == [("j1", d(49))]
    without = pathway.open_store(":memory:")
    import_events(
        without, "x.csv", text=rows.replace(",conclude_safeguarding", ","), pathway=interrupts
    )
    assert waits(without, interrupts, "2026-03-01")["over_time_limit"] == []
