"""The caseload report: who holds the open cases at the as-of moment, by team and organisation.

Definitions (docs/reports.md):

* a case is **open** at ``as_of`` when it has a holding episode running at that moment: one that
  started at or before ``as_of`` and had not ended by it. A closing event ends a case's episode
  and opens none, so a case closed at or before ``as_of`` (and not re-referred since) is not open;
* only cases in scope count (see :mod:`pathway.reports.sql`); without ``--until`` before ``as_of``
  that is every case with an event at or before ``as_of``;
* the open case's **holder** is the team of that episode, with its organisation; an episode with no
  team is **unallocated**: the case is open and nobody holds it;
* with a team, only the open cases that team holds.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..timeutil import to_utc
from .scope import Scope
from .sql import scoped_cases


@attrs.frozen
class TeamCaseload:
    team: str
    organisation: str | None
    cases: int


@attrs.frozen
class OrganisationCaseload:
    organisation: str
    cases: int


@attrs.frozen
class CaseloadReport:
    scope: Scope
    open_cases: int
    unallocated: int
    by_team: tuple[TeamCaseload, ...]
    by_organisation: tuple[OrganisationCaseload, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "caseload",
            **self.scope.header(),
            "open_cases": self.open_cases,
            "unallocated": self.unallocated,
            "by_team": [attrs.asdict(t) for t in self.by_team],
            "by_organisation": [attrs.asdict(o) for o in self.by_organisation],
        }


def caseload_report(conn: Any, scope: Scope) -> CaseloadReport:
    """Count the open cases at ``scope.as_of`` by the team (and organisation) holding them."""
    params = {**scope.params(), "as_of_s": to_utc(scope.as_of).timestamp()}
    team_clause = " AND team = :team" if scope.team is not None else ""
    rows = conn.execute(
        f"""SELECT team, MAX(organisation), COUNT(DISTINCT case_id) FROM episodes
             WHERE start_at <= :as_of_s AND (end_at IS NULL OR end_at > :as_of_s)
               AND case_id IN ({scoped_cases(False, scope.since is not None)}){team_clause}
             GROUP BY team""",
        params,
    ).fetchall()
    held = sorted(
        (TeamCaseload(team, org, n) for team, org, n in rows if team is not None),
        key=lambda t: (-t.cases, t.team),
    )
    unallocated = sum(n for team, _org, n in rows if team is None)
    organisations: dict[str, int] = {}
    for row in held:
        key = row.organisation or "unknown"
        organisations[key] = organisations.get(key, 0) + row.cases
    by_organisation = tuple(
        OrganisationCaseload(org, n)
        for org, n in sorted(organisations.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return CaseloadReport(
        scope,
        sum(t.cases for t in held) + unallocated,
        unallocated,
        tuple(held),
        by_organisation,
    )
