"""The monthly report: handoffs, S75 crossings, cases opened and closures per calendar month.

Definitions (docs/reports.md):

* months are calendar months in UTC (``YYYY-MM``); every month from the period's first to its
  last is listed, months with nothing in them too. Without ``--since`` the first month is the one
  in which the earliest case in scope was opened; the first and last months may be partial;
* **handoffs** and **S75 crossings** are those of the handoffs report, counted in the month they
  happened: over the same cases in scope, so the months add up to that report's totals (with a
  team, the handoffs from or to it, over the cases it held or handed on);
* **opened**: cases in scope whose first event falls in the month (a re-referral of a closed case
  is not a new case);
* **closed**: applied events of the cases in scope in the month that closed a case (a case closed
  twice in one month counts twice).

Computed inside the database from the derived ``handoffs`` rows, the ``case_flow`` view and the
events' ``closes`` flag.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from ..store.dialect import utc_month
from .scope import Scope
from .sql import scoped_cases


@attrs.frozen
class MonthCounts:
    """One calendar month's (UTC) handoffs, S75 crossings, openings and closings."""

    month: str
    handoffs: int
    s75_crossings: int
    opened: int
    closed: int


@attrs.frozen
class MonthlyReport:
    """The monthly report: counts for each calendar month of the period."""

    scope: Scope
    months: tuple[MonthCounts, ...]

    @property
    def handoffs(self) -> int:
        """All months' handoffs."""
        return sum(m.handoffs for m in self.months)

    @property
    def s75_crossings(self) -> int:
        """All months' S75 crossings."""
        return sum(m.s75_crossings for m in self.months)

    @property
    def opened(self) -> int:
        """All months' cases opened."""
        return sum(m.opened for m in self.months)

    @property
    def closed(self) -> int:
        """All months' cases closed."""
        return sum(m.closed for m in self.months)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_monthly.schema.json``."""
        return {
            "report": "monthly",
            **self.scope.header(),
            "handoffs": self.handoffs,
            "s75_crossings": self.s75_crossings,
            "opened": self.opened,
            "closed": self.closed,
            "months": [attrs.asdict(m) for m in self.months],
        }


def _month_of(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m")


def _months_between(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last`` inclusive (empty if ``first`` is later)."""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def monthly_report(conn: Any, scope: Scope) -> MonthlyReport:
    """Count handoffs, S75 crossings, cases opened and closures per calendar month (UTC)."""
    params = scope.params()
    header = scope.header()
    params["since_text"] = header["since"] or ""
    params["until_text"] = min(header["until"] or scope.as_of_text, scope.as_of_text)
    team = scope.team is not None
    cases = scoped_cases(team, scope.since is not None)
    team_clause = " AND (from_team = :team OR to_team = :team)" if team else ""
    handed = {
        month: (int(n), int(crossings))
        for month, n, crossings in conn.execute(
            f"""SELECT {utc_month(conn, "at")} AS month, COUNT(*), SUM(crossing)
                  FROM handoffs
                 WHERE at BETWEEN :wstart AND :wend AND case_id IN ({cases}){team_clause}
                 GROUP BY month""",
            params,
        )
    }
    opened = dict(
        conn.execute(
            f"""SELECT {utc_month(conn, "first_at")} AS month, COUNT(*)
                  FROM case_flow
                 WHERE first_at BETWEEN :wstart AND :wend AND case_id IN ({cases})
                 GROUP BY month""",
            params,
        ).fetchall()
    )
    closed = dict(
        conn.execute(
            f"""SELECT substr(occurred_at, 1, 7) AS month, COUNT(*) FROM events
                 WHERE outcome = 'applied' AND closes = 1
                   AND occurred_at >= :since_text AND occurred_at <= :until_text
                   AND case_id IN ({cases})
                 GROUP BY month""",
            params,
        ).fetchall()
    )
    last = _month_of(scope.end)
    if scope.since is not None:
        first = _month_of(scope.start)
    else:
        first_at = conn.execute(
            f"SELECT MIN(first_at) FROM case_flow WHERE case_id IN ({cases})", params
        ).fetchone()[0]
        if first_at is None:
            return MonthlyReport(scope, ())
        first = _month_of(first_at)
    months = tuple(
        MonthCounts(
            month,
            handed.get(month, (0, 0))[0],
            handed.get(month, (0, 0))[1],
            int(opened.get(month, 0)),
            int(closed.get(month, 0)),
        )
        for month in _months_between(first, last)
    )
    return MonthlyReport(scope, months)
