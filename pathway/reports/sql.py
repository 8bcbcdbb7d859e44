"""SQL shared by the reports: which cases are in scope, and episodes cut to the window."""

from __future__ import annotations

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

CLIPPED_EPISODES = """
    SELECT case_id, n, team, organisation, start_at, end_at,
           MAX(0.0, MIN(COALESCE(end_at, :wend), :wend) - MAX(start_at, :wstart)) AS seconds
      FROM episodes
     WHERE start_at <= :wend AND COALESCE(end_at, :wend) >= :wstart
"""
"""Episodes overlapping the window, with the seconds that fall inside it."""


CASES_UP_TO = "SELECT case_id FROM case_flow WHERE first_at <= :wend"
"""With no period start, CASES_IN_SCOPE's last clause holds for every case it keeps: this is it."""


def scoped_cases(team_filter: bool, has_start: bool = True) -> str:
    """The SQL of the case ids a report covers (``has_start``: the period has a --since)."""
    base = CASES_IN_SCOPE if has_start else CASES_UP_TO
    if team_filter:
        return f"SELECT case_id FROM ({base}) WHERE case_id IN ({CASES_OF_TEAM})"
    return base
