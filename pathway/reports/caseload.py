"""The caseload report: who holds the open cases at the as-of moment, by team and organisation.

Definitions (docs/reports.md):

* a case is **open** at ``as_of`` when it has a holding episode running at that moment: one that
  started at or before ``as_of`` and had not ended by it. A closing event ends a case's episode
  and opens none, so a case closed at or before ``as_of`` (and not re-referred since) is not open;
* only cases in scope count (see :mod:`pathway.reports.sql`); without ``--until`` before ``as_of``
  that is every case with an event at or before ``as_of``;
* the open case's **holder** is the team of that episode, with its organisation; an episode with no
  team is **unallocated**: the case is open and nobody holds it;
* with a team, only the open cases that team holds;
* the **worker** of a held open case is the ``actor_id`` of the most recent applied event at or
  before ``as_of`` made by a member of the holding team (``actor_team`` is the holding team)
  since that team took the case: after the case's latest event, at or before ``as_of``, that
  left it with another team or nobody, or closed it. None (the case counts "without a worker")
  if there is no such event or its actor id is empty. ``by_worker`` and ``team_workers`` count
  the open cases per worker and per team against the business case's average caseload per
  worker (BEP Table 11, 002 line 519: 25 in 2013, 26 in 2014).
"""

from __future__ import annotations

from typing import Any

import attrs

from ..timeutil import format_instant, to_utc
from .scope import Scope
from .sql import scoped_cases


@attrs.frozen
class TeamCaseload:
    """Open cases a team holds at ``as_of``."""

    team: str
    organisation: str | None
    cases: int


@attrs.frozen
class OrganisationCaseload:
    """Open cases held by an organisation's teams at ``as_of``."""

    organisation: str
    cases: int


@attrs.frozen
class WorkerCaseload:
    """Open cases a worker holds at ``as_of``, and whether that is above the benchmark."""

    worker: str
    team: str
    open_cases: int
    above_benchmark: bool
    """More open cases than the benchmark's upper figure (26)."""


@attrs.frozen
class TeamWorkers:
    """A team's workers at ``as_of``: how many, how many of its cases have a worker or none, and the mean per worker."""

    team: str
    workers: int
    with_worker: int
    without_worker: int
    mean_per_worker: float | None
    """``with_worker / workers``; None when the team has no worker."""


@attrs.frozen
class Benchmark:
    """The caseload benchmark per worker (low and high) and the document it comes from."""

    per_worker_low: int
    per_worker_high: int
    source: str


BENCHMARK = Benchmark(
    25,
    26,
    "BEP Table 11 (002 line 519): the Network's average caseload per worker, 25 in "
    "Jan-Dec 2013 and 26 in Jan-Dec 2014 (recorded figures, not a target)",
)
"""The business case's caseload per worker, the only such figure in the sources."""


@attrs.frozen
class CaseloadReport:
    """The caseload report: open cases at ``as_of`` by team, organisation and worker."""

    scope: Scope
    open_cases: int
    unallocated: int
    by_team: tuple[TeamCaseload, ...]
    by_organisation: tuple[OrganisationCaseload, ...]
    by_worker: tuple[WorkerCaseload, ...] = ()
    team_workers: tuple[TeamWorkers, ...] = ()
    benchmark: Benchmark = BENCHMARK

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_caseload.schema.json``."""
        return {
            "report": "caseload",
            **self.scope.header(),
            "open_cases": self.open_cases,
            "unallocated": self.unallocated,
            "by_team": [attrs.asdict(t) for t in self.by_team],
            "by_organisation": [attrs.asdict(o) for o in self.by_organisation],
            "by_worker": [attrs.asdict(w) for w in self.by_worker],
            "team_workers": [attrs.asdict(t) for t in self.team_workers],
            "benchmark": attrs.asdict(self.benchmark),
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
    by_worker, team_workers = _workers(conn, scope, params, [t.team for t in held])
    return CaseloadReport(
        scope,
        sum(t.cases for t in held) + unallocated,
        unallocated,
        tuple(held),
        by_organisation,
        by_worker,
        team_workers,
    )


def _workers(
    conn: Any, scope: Scope, params: dict[str, Any], teams: list[str]
) -> tuple[tuple[WorkerCaseload, ...], tuple[TeamWorkers, ...]]:
    """Open cases per worker and per team (``teams``: the holding teams, in the report's order).

    Read from the events of the open held cases only, in their order (``occurred_at``, then
    ``seq``): the boundary of a case is its latest event that left it with another team or
    nobody, or closed it; its worker is the actor of its latest event after the boundary whose
    ``actor_team`` is the holding team. The engine's ``Case.worker`` is not used: accepting an
    offer clears it, and an imported log has none.
    """
    team_clause = " AND team = :team" if scope.team is not None else ""
    rows = conn.execute(
        f"""WITH open_held AS (
                SELECT case_id, team AS holder FROM episodes
                 WHERE start_at <= :as_of_s AND (end_at IS NULL OR end_at > :as_of_s)
                   AND team IS NOT NULL
                   AND case_id IN ({scoped_cases(False, scope.since is not None)}){team_clause}
            ),
            ranked AS (
                SELECT e.case_id, o.holder, e.actor_id, e.actor_team,
                       COALESCE(e.to_team, '') AS team, e.closes,
                       ROW_NUMBER() OVER (PARTITION BY e.case_id
                                          ORDER BY e.occurred_at, e.seq) AS rn
                  FROM events AS e JOIN open_held AS o ON o.case_id = e.case_id
                 WHERE e.outcome = 'applied' AND e.occurred_at <= :as_of_text
            ),
            picked AS (
                SELECT r.case_id, MAX(r.rn) AS rn FROM ranked AS r
                 WHERE r.actor_team = r.holder AND r.actor_id <> ''
                   AND r.rn > (SELECT COALESCE(MAX(b.rn), 0) FROM ranked AS b
                                WHERE b.case_id = r.case_id
                                  AND (b.team <> b.holder OR b.closes = 1))
                 GROUP BY r.case_id
            )
            SELECT o.holder, w.actor_id, COUNT(*)
              FROM open_held AS o
              LEFT JOIN picked AS p ON p.case_id = o.case_id
              LEFT JOIN ranked AS w ON w.case_id = p.case_id AND w.rn = p.rn
             GROUP BY o.holder, w.actor_id""",
        {**params, "as_of_text": format_instant(scope.as_of)},
    ).fetchall()
    workers = sorted(
        (
            WorkerCaseload(worker, team, n, n > BENCHMARK.per_worker_high)
            for team, worker, n in rows
            if worker is not None
        ),
        key=lambda w: (-w.open_cases, w.team, w.worker),
    )
    per_team = []
    for team in teams:
        counts = [n for holder, worker, n in rows if holder == team and worker is not None]
        without = sum(n for holder, worker, n in rows if holder == team and worker is None)
        with_worker = sum(counts)
        mean = with_worker / len(counts) if counts else None
        per_team.append(TeamWorkers(team, len(counts), with_worker, without, mean))
    return tuple(workers), tuple(per_team)
