"""A short governance summary of a store, for ``pathway demo``, built from the report functions.

It is the handoffs, holding and caseload reports, cut down to a few headline figures, so the demo
and ``pathway report`` always agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from .definition import Pathway
from .reports import Scope, caseload_report, handoffs_report, holding_report
from .reports.handoffs import CaseHandoffs
from .reports.holding import TeamHolding


@attrs.frozen
class StoreSummary:
    """Headline figures of a store as of one moment."""

    as_of: datetime
    cases: int
    open_cases: int
    events: int
    refusals: int
    handoffs: int
    s75_crossings: int
    offers: int | None
    offers_declined: int | None
    teams: tuple[TeamHolding, ...]
    most_passed: tuple[CaseHandoffs, ...]
    """The most passed-around cases: by passes then days between teams with a pathway, by
    handoffs without one (the handoffs report's order)."""
    interruptions: int | None = None
    passes: int | None = None
    days_between_teams: float | None = None


def summarise(
    conn: Any, as_of: datetime, pathway: Pathway | None = None, top: int = 5
) -> StoreSummary:
    """Summarise the store behind ``conn`` as of ``as_of`` (``pathway``: also count offers)."""
    scope = Scope(as_of=as_of)
    passed = handoffs_report(conn, scope, pathway)
    held = holding_report(conn, scope)
    as_of_text = scope.as_of_text
    refusals = conn.execute(
        "SELECT COUNT(*) FROM events WHERE outcome = 'refused' AND occurred_at <= ?", (as_of_text,)
    ).fetchone()[0]
    open_cases = caseload_report(conn, scope).open_cases
    return StoreSummary(
        as_of, passed.cases, open_cases, passed.events, refusals, passed.handoffs,
        passed.s75_crossings, passed.offers, passed.offers_declined, held.by_team,
        passed.by_case[:top], passed.interruptions, passed.passes, passed.days_between_teams,
    )  # fmt: skip
