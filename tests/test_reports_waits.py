"""The waits report on small logs worked out by hand.

Each figure is worked out by hand from docs/reports.md ("Common rules" and "Waits") in the
comments beside it, never copied from the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

import pathway
from pathway.errors import TransitionRefused
from pathway.importer import import_events
from pathway.reports import Scope, waits_report
from pathway.validation import load_schema

DAY_US = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS[.ffffff]]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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
# As of 1 Jan 2026; 1 Jan 2025 is exactly 365 days before (2025 is not a leap year).
# v1: reviewed 31 Dec 2024 23:59:59: 365 days and 1 s ago: overdue.
# v2: reviewed 1 Jan 2025: exactly 365 days: not overdue (more than 365 is).
# v3: never reviewed, one event, opened 31 Dec 2024: 366 days: overdue; held by cmht.
# v4: never reviewed, opened 1 Jan 2025: 365 days: not overdue.
# v5: ENTERED review on 1 Nov 2024; the 1 Mar 2025 line stays in review (a new team, not a new
#     review), so the last review is 1 Nov 2024: 30 + 31 + 365 = 426 days: overdue; held by cmht.
# v6: closed: not open, not listed.
# v7: reviewed 1 Mar 2024, closed, re-referred 1 Dec 2025: open; its last review is still 1 Mar
#     2024: 365 + 306 = 671 days.
# v8: closed and re-referred, never reviewed: opened means its first event, 1 Jan 2024:
#     366 + 365 = 731 days.
# v9: one event, 1 Dec 2024: 31 + 365 = 396 days.
# v10: closed and re-referred at the same instant, closing line first: open, never reviewed,
#      opened 1 Jan 2024: 731 days.
# v11: its review is a microsecond after as_of: never reviewed by then; opened 1 Oct 2024:
#      92 + 365 = 457 days.
# v12: its first event enters review (1 Jun 2024), then it moves on: 365 + 214 = 579 days.


def review(case_id: str, last: str | None, days: float) -> dict[str, Any]:
    return {"case_id": case_id, "last_review": last and us(last), "days_since": d(days)}


def test_reviews_overdue(small: pathway.Pathway) -> None:
    """Open cases last reviewed (or, never reviewed, opened) more than 365 days before as_of."""
    report = waits(load(REVIEWS, small), small, "2026-01-01")
    assert report["reviews_overdue"] == [
        review("v10", None, 731),
        review("v8", None, 731),
        review("v7", "2024-03-01", 671),
        review("v12", "2024-06-01", 579),
        review("v11", None, 457),
        review("v5", "2024-11-01", 426),
        review("v9", None, 396),
        review("v3", None, 366),
        review("v1", "2024-12-31T23:59:59", 365 + 1 / 86_400),
    ]


def test_reviews_overdue_whatever_the_period(small: pathway.Pathway) -> None:
    """Overdue reviews are as at as_of: a period (here one before every event) changes nothing."""
    store = load(REVIEWS, small)
    whole = waits(store, small, "2026-01-01")["reviews_overdue"]
    period = waits(store, small, "2026-01-01", since="2020-01-01", until="2020-12-31")
    assert period["reviews_overdue"] == whole


def test_reviews_overdue_tie_and_team(small: pathway.Pathway) -> None:
    """v10 closed after its re-referral at the same instant is not open; --team: who holds it."""
    store = load(swap_lines(REVIEWS, "v10,2025-06-01,closed", "v10,2025-06-01,referred"), small)
    assert "v10" not in [r["case_id"] for r in waits(store, small, "2026-01-01")["reviews_overdue"]]
    # Held by cmht at as_of: v3 and v5 (v5 passed to cmht on 1 Mar 2025).
    team = waits(load(REVIEWS, small), small, "2026-01-01", team="cmht")
    assert team["reviews_overdue"] == [review("v5", "2024-11-01", 426), review("v3", None, 366)]


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
