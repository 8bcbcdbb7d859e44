"""The waits report on small logs worked out by hand.

Each figure is worked out by hand from docs/reports.md ("Common rules" and "Waits") in the
comments beside it, never copied from the report.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

import pathway
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
