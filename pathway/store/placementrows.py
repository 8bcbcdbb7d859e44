"""Persist placement periods: the derived rows the funding report adds up.

A placement (care package) is a run of **periods**, each at one weekly cost and one funding split.
Every placement step writes, in the transaction of its audit event, the periods it makes known:
it marks the placement's open period (if it replaces it) as known only until the event, and
inserts the periods as they stand after it. So each row carries when it became known
(``known_from``) and when it was replaced (``known_until``, ``NULL`` while current), and a report
as of a moment reads the periods known then: what the council knew on that date, as the other
reports show the world as it stood at ``--as-of``.

The records, :class:`~pathway.periods.Period` and :class:`~pathway.periods.PlacementChange`, are
the domain's (:mod:`pathway.periods`); this module only turns them into rows.

Money is integer pence, shares integer basis points (percent x 100, adding up to 10,000), dates
ISO text with their day numbers (``date.toordinal()``) beside them, so that the funding report's
arithmetic is plain integer SQL any database runs the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..periods import Period, PlacementChange

PERIOD_COLUMNS = (
    "case_id", "placement_id", "care_type", "provider", "weekly_pence", "council_bp", "nhs_bp",
    "person_bp", "s117", "agreed_by", "agreed_kind", "panel", "start_date", "start_day",
    "end_date", "end_day", "eligibility_date", "eligibility_day", "health_screen_date",
    "health_screen_day", "reason", "known_from", "known_until", "event_position",
    "urgent_reason", "chc_checklist", "s117_person",
)  # fmt: skip

PERIOD_INSERT = (
    f"INSERT INTO placement_periods ({', '.join(PERIOD_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(PERIOD_COLUMNS))})"
)
REPLACE_OPEN = (
    "UPDATE placement_periods SET known_until = ? WHERE case_id = ? AND placement_id = ? "
    "AND known_until IS NULL AND end_day IS NULL"
)


def _day(value: date | None) -> tuple[str | None, int | None]:
    return (value.isoformat(), value.toordinal()) if value is not None else (None, None)


def period_row(period: Period, known_from: float, position: int) -> tuple[Any, ...]:
    """The ``placement_periods`` row of a period (``known_until`` empty: current)."""
    return (
        period.case_id, period.placement_id, period.care_type, period.provider,
        period.weekly_pence, period.council_bp, period.nhs_bp, period.person_bp,
        int(period.s117), period.agreed_by, period.agreed_kind, period.panel,
        *_day(period.start), *_day(period.end), *_day(period.eligibility),
        *_day(period.health_screen), period.reason, known_from, None, position,
        period.urgent_reason, period.chc_checklist, int(period.s117_person),
    )  # fmt: skip


def write_placement(conn: Any, change: PlacementChange, at: float, position: int) -> None:
    """Write a placement step's periods; ``at`` is its event's time, ``position`` its place in the chain."""
    if change.replaces_open:
        conn.execute(REPLACE_OPEN, (at, change.case_id, change.placement_id))
    known_from = change.known_from if change.known_from is not None else at
    conn.executemany(PERIOD_INSERT, (period_row(p, known_from, position) for p in change.periods))
