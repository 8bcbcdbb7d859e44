"""A short governance summary of a store, for ``pathway demo``, built from the report functions.

It is the handoffs, holding and caseload reports, cut down to a few headline figures, so the demo
and ``pathway report`` always agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from .definition import Pathway
from .reports import (
    Scope,
    caseload_report,
    handoffs_report,
    holding_report,
    s75_report,
    waits_report,
)
from .reports.caseload import WorkerCaseload
from .reports.handoffs import CaseHandoffs
from .reports.holding import TeamHolding
from .reports.s75 import FunctionTotal
from .reports.waits import EscalationList, TimeToHelp


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
    time_to_help: TimeToHelp | None = None
    escalation: EscalationList | None = None
    functions: tuple[FunctionTotal, ...] = ()
    """Statutory functions carried out in the period (the S75 report's totals)."""
    busy_workers: tuple[WorkerCaseload, ...] = ()
    """Workers holding more open cases than the business case's 25-26 (Table 11)."""


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
    caseload = caseload_report(conn, scope)
    waits = waits_report(conn, scope, pathway) if pathway is not None else None
    functions = s75_report(conn, scope, pathway=pathway).functions
    return StoreSummary(
        as_of, passed.cases, caseload.open_cases, passed.events, refusals, passed.handoffs,
        passed.s75_crossings, passed.offers, passed.offers_declined, held.by_team,
        passed.by_case[:top], passed.interruptions, passed.passes, passed.days_between_teams,
        waits.time_to_help if waits is not None else None,
        waits.escalation if waits is not None else None,
        functions.totals if functions is not None else (),
        tuple(w for w in caseload.by_worker if w.above_benchmark),
    )  # fmt: skip
