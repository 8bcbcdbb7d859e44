"""Shared pieces of the placement and funding tests: a small pathway without funding guards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pathway

SMALL = """\
id: small
version: "1"
organisations: [{id: council, kind: council}, {id: trust, kind: nhs_trust}]
teams: [{id: lets, organisation: council}, {id: cmht, organisation: trust}]
states:
  - {id: open, holder: lets}
  - {id: offered, offer_to: cmht}
  - {id: support, holder: cmht}
  - {id: closed, holder: lets, final: true}
initial: open
transitions:
  - {trigger: offer, sources: [open], dest: offered, handoff: true}
  - {trigger: accept, sources: [offered], dest: support, guards: [receiving_team]}
  - {trigger: decline, sources: [offered], return: true, guards: [receiving_team]}
  - {trigger: close, sources: "*", dest: closed}
  - {trigger: placement_start, sources: "*", internal: true, placement: start}
  - {trigger: placement_change, sources: "*", internal: true, placement: change}
  - {trigger: placement_end, sources: "*", internal: true, placement: end}
"""
"""A pathway with placement steps and none of the funding guards switched on."""

LETS = pathway.Actor("w-lets-01", "lets")
CMHT = pathway.Actor("w-cmht-01", "cmht")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ELIGIBLE = {
    "care_act_assessment_date": "2025-12-10",
    "eligibility_date": "2025-12-12",
    "health_screen_date": "2025-12-15",
    "chc_checklist": "negative",
}
"""A Care Act assessment, eligibility determination and negative health screen (CHC checklist)
before 1 January 2026: everything council funding of a placement starting then rests on."""


def small_pathway(folder: Path, text: str = SMALL) -> pathway.Pathway:
    path = folder / "small.yaml"
    path.write_text(text, encoding="utf-8")
    return pathway.load_pathway(path)


def start_data(**overrides: Any) -> dict[str, Any]:
    """A valid placement_start: residential, £700 a week, all council, from 1 January 2026."""
    data: dict[str, Any] = {
        "placement_id": "P1",
        "care_type": "residential",
        "weekly_cost": "700.00",
        "start_date": "2026-01-01",
        "council_pct": 100,
        "agreed_by": "council",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def period_rows(
    store: pathway.store.SqliteStore, current_only: bool = True
) -> list[tuple[Any, ...]]:
    """(placement, weekly pence, council, nhs, person bp, start, end) of the stored periods."""
    where = " WHERE known_until IS NULL" if current_only else ""
    return store.connection.execute(
        "SELECT placement_id, weekly_pence, council_bp, nhs_bp, person_bp, start_date, end_date "
        f"FROM placement_periods{where} ORDER BY placement_id, start_day, known_from"
    ).fetchall()
