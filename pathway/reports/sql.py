"""SQL shared by the reports: which cases are in scope, and episodes cut to the window.

One text serves both backends (SQLite, and PostgreSQL through its connection adapter); where the
dialects differ the text is built for the connection (:mod:`pathway.store.dialect`).
"""

from __future__ import annotations

from typing import Any

from ..store.dialect import greatest, least

CASES_IN_SCOPE = """
    SELECT case_id FROM case_flow
     WHERE first_at <= :wend
       AND (
            case_id IN (SELECT case_id FROM episodes
                         WHERE start_at <= :wend AND COALESCE(end_at, :wend) >= :wstart)
         OR case_id IN (SELECT case_id FROM handoffs WHERE at BETWEEN :wstart AND :wend)
         OR first_at BETWEEN :wstart AND :wend
       )
"""
"""Cases with an event at or before the window's end that were held, handed on or opened in it."""

CASES_OF_TEAM = """
    SELECT case_id FROM episodes
     WHERE team = :team AND start_at <= :wend AND COALESCE(end_at, :wend) >= :wstart
    UNION
    SELECT case_id FROM handoffs
     WHERE (from_team = :team OR to_team = :team) AND at BETWEEN :wstart AND :wend
"""
"""Cases the team held during the window, or handed on or received in it."""


def clipped_episodes(conn: Any) -> str:
    """Episodes overlapping the window, with the seconds that fall inside it (``seconds``)."""
    inside = f"{least(conn, 'COALESCE(end_at, :wend)', ':wend')} - {greatest(conn, 'start_at', ':wstart')}"
    return f"""
    SELECT case_id, n, team, organisation, start_at, end_at,
           {greatest(conn, "0.0", inside)} AS seconds
      FROM episodes
     WHERE start_at <= :wend AND COALESCE(end_at, :wend) >= :wstart
"""


CLIPPED_EPISODES = clipped_episodes(None)
"""The SQLite text of :func:`clipped_episodes` (kept for plug-ins that use it)."""


CASES_UP_TO = "SELECT case_id FROM case_flow WHERE first_at <= :wend"
"""With no period start, CASES_IN_SCOPE's last clause holds for every case it keeps: this is it."""


def scoped_cases(team_filter: bool, has_start: bool = True) -> str:
    """The SQL of the case ids a report covers (``has_start``: the period has a --since)."""
    base = CASES_IN_SCOPE if has_start else CASES_UP_TO
    if team_filter:
        return f"SELECT case_id FROM ({base}) AS scoped WHERE case_id IN ({CASES_OF_TEAM})"
    return base


def sum_us(expr: str) -> str:
    """Two aggregate columns that add up ``expr`` (seconds) as whole microseconds, exactly.

    A sum of floats depends on the order rows are added in, and SQLite and PostgreSQL add them in
    different orders; whole microseconds added as integers give the same answer on both (and the
    exact one: stored instants have microsecond precision). The first column sums whole seconds,
    the second the microseconds beyond them, so neither overflows. :func:`us_total` joins them.
    """
    us = f"CAST(ROUND(({expr}) * 1000000) AS BIGINT)"
    return f"SUM({us} / 1000000), SUM({us} % 1000000)"


def us_total(whole: Any, micros: Any) -> int:
    """The microseconds of a :func:`sum_us` pair (0 for an empty sum)."""
    return int(whole or 0) * 1_000_000 + int(micros or 0)


def us_of(seconds: float) -> int:
    """One length in seconds as whole microseconds, as :func:`sum_us` rounds each in SQL."""
    return round(seconds * 1_000_000)


def days_of_us(us: int) -> float:
    """Whole microseconds as decimal days (correctly rounded)."""
    return us / 86_400_000_000
