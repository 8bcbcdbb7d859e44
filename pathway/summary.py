"""A short governance summary of a store: cases, handoffs, and who held the cases for how long.

Used by ``pathway demo``. It reads each case's history in Python, which is fine for the sample
cases; the governance reports (``pathway report``) are the tool for real volumes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from .definition import Pathway
from .samples import holdings
from .store.base import Store


@attrs.frozen
class TeamHolding:
    team: str
    organisation: str
    cases: int
    days: float


@attrs.frozen
class StoreSummary:
    """Totals over every case of a store as of one moment."""

    as_of: datetime
    cases: int
    open_cases: int
    events: int
    refusals: int
    handoffs: int
    s75_crossings: int
    teams: tuple[TeamHolding, ...]
    most_passed: tuple[tuple[str, int, tuple[str, ...]], ...]


def summarise(store: Store, pathway_of: Callable[[str], Pathway], as_of: datetime) -> StoreSummary:
    """Summarise ``store`` as of ``as_of``; ``pathway_of(pathway_id)`` gives each case's pathway."""
    cases = events = refusals = handoffs = crossings = open_cases = 0
    per_team: dict[str, tuple[str, set[str], float]] = {}
    passed: list[tuple[str, int, tuple[str, ...]]] = []
    for case in store.cases():
        pathway = pathway_of(case.pathway_id)
        history = [e for e in store.history(case.id) if e.occurred_at <= as_of]
        if not history:
            continue
        cases += 1
        open_cases += 0 if case.closed_at is not None and case.closed_at <= as_of else 1
        events += len(history)
        refusals += sum(1 for e in history if e.outcome == "refused")
        teams_in_order: list[str] = []
        case_handoffs = 0
        for event in history:
            if event.outcome != "applied" or event.to_team is None:
                continue
            if teams_in_order and teams_in_order[-1] != event.to_team:
                case_handoffs += 1
                if event.from_organisation != event.to_organisation:
                    crossings += 1
            if not teams_in_order or teams_in_order[-1] != event.to_team:
                teams_in_order.append(event.to_team)
        handoffs += case_handoffs
        passed.append((case.id, case_handoffs, tuple(teams_in_order)))
        for held in holdings(history, pathway, as_of):
            org, ids, days = per_team.get(held.team, (held.organisation, set(), 0.0))
            ids.add(case.id)
            per_team[held.team] = (org, ids, days + held.days)
    teams = tuple(
        TeamHolding(team, org, len(ids), days)
        for team, (org, ids, days) in sorted(per_team.items(), key=lambda kv: -kv[1][2])
    )
    top = tuple(sorted(passed, key=lambda p: (-p[1], p[0]))[:5])
    return StoreSummary(as_of, cases, open_cases, events, refusals, handoffs, crossings, teams, top)
