"""The S75 report: time under council and under trust responsibility, and crossings between them.

* ``by_organisation``: the days of holding episodes inside the period, by the holding team's
  organisation, and the cases each organisation held (unallocated time is not anyone's);
* ``crossings``: S75 crossings (handoffs between teams of different organisations) in the period,
  by direction;
* ``cases_over_threshold``: cases whose responsibility crossed the boundary more than
  ``threshold`` times in the period, most first, with their crossings.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import InvalidRequest
from .scope import Scope
from .sql import CASES_OF_TEAM, clipped_episodes, days_of_us, sum_us, us_total

DEFAULT_THRESHOLD = 3


@attrs.frozen
class OrganisationTime:
    organisation: str
    days: float
    cases: int


@attrs.frozen
class Crossing:
    from_organisation: str
    to_organisation: str
    count: int


@attrs.frozen
class CaseCrossings:
    case_id: str
    crossings: int


@attrs.frozen
class S75Report:
    scope: Scope
    threshold: int
    by_organisation: tuple[OrganisationTime, ...]
    crossings: tuple[Crossing, ...]
    cases_over_threshold: tuple[CaseCrossings, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "s75",
            **self.scope.header(),
            "threshold": self.threshold,
            "by_organisation": [attrs.asdict(o) for o in self.by_organisation],
            "crossings": [attrs.asdict(c) for c in self.crossings],
            "cases_over_threshold": [attrs.asdict(c) for c in self.cases_over_threshold],
        }


def s75_report(conn: Any, scope: Scope, threshold: int = DEFAULT_THRESHOLD) -> S75Report:
    """Compute the S75 report inside the database.

    Raises :class:`InvalidRequest` for a negative ``threshold`` (the CLI refuses one too): the
    report's JSON schema, and any reader of it, expect a count.
    """
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        raise InvalidRequest(
            f"threshold must be a whole number of crossings, 0 or more: {threshold!r}"
        )
    params = scope.params()
    team_filter = f" AND case_id IN ({CASES_OF_TEAM})" if scope.team is not None else ""
    totals = [
        (org, us_total(whole, micros), cases)
        for org, whole, micros, cases in conn.execute(
            f"""SELECT organisation, {sum_us("seconds")}, COUNT(DISTINCT case_id)
                  FROM ({clipped_episodes(conn)}{team_filter}) AS clipped WHERE team IS NOT NULL
                 GROUP BY organisation""",
            params,
        )
    ]
    by_org = tuple(
        OrganisationTime(org, days_of_us(us), cases)
        for org, us, cases in sorted(totals, key=lambda t: (-t[1], t[0] is not None, t[0] or ""))
    )
    crossing_rows = f"""
        SELECT * FROM handoffs
         WHERE crossing = 1 AND at BETWEEN :wstart AND :wend{team_filter}
    """
    crossings = tuple(
        Crossing(a or "unknown", b or "unknown", n)
        for a, b, n in conn.execute(
            f"""SELECT from_organisation, to_organisation, COUNT(*) FROM ({crossing_rows}) AS h
                 GROUP BY from_organisation, to_organisation
                 ORDER BY COUNT(*) DESC, from_organisation NULLS FIRST,
                          to_organisation NULLS FIRST""",
            params,
        )
    )
    over = tuple(
        CaseCrossings(case_id, n)
        for case_id, n in conn.execute(
            f"""SELECT case_id, COUNT(*) AS n FROM ({crossing_rows}) AS h
                 GROUP BY case_id HAVING COUNT(*) > :threshold ORDER BY n DESC, case_id""",
            {**params, "threshold": threshold},
        )
    )
    return S75Report(scope, threshold, by_org, crossings, over)
