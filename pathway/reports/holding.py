"""The holding report: which teams held the cases, for how long, in how many episodes.

Definitions (docs/reports.md):

* the team of an applied event holds the case from that event to the next applied event; after
  the last one, until ``as_of``, unless the case was closed (a closing event ends holding: a
  closed case is held by nobody until it is re-referred);
* consecutive time with one team is one **episode**; time with no team is **unallocated**;
* only time inside the period counts; an episode overlapping the period counts once for
  ``episodes`` and ``cases``, and its days in the period make up ``days``, ``median_days`` and
  ``p90_days`` (linearly interpolated quantiles of the per-episode days, as numpy's default);
* with a team, the figures cover that team's row only, and unallocated time of the cases it held.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import attrs

from ..timeutil import format_instant
from .scope import DAY, Scope
from .sql import CASES_OF_TEAM, CLIPPED_EPISODES


@attrs.frozen
class TeamHolding:
    team: str
    organisation: str | None
    days: float
    episodes: int
    cases: int
    median_days: float
    p90_days: float


@attrs.frozen
class Episode:
    """One episode of one case, cut to the report's period."""

    case_id: str
    team: str | None
    organisation: str | None
    start: str
    end: str | None
    days: float


@attrs.frozen
class HoldingReport:
    scope: Scope
    by_team: tuple[TeamHolding, ...]
    unallocated_days: float
    episodes: tuple[Episode, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "report": "holding",
            **self.scope.header(),
            "by_team": [attrs.asdict(t) for t in self.by_team],
            "unallocated_days": self.unallocated_days,
        }
        if self.episodes is not None:
            result["episodes"] = [attrs.asdict(e) for e in self.episodes]
        return result


def _team_quantiles(
    rows: Iterable[tuple[str, float]], counts: dict[str, int], qs: tuple[float, ...]
) -> dict[str, list[float]]:
    """Linearly interpolated quantiles per team from rows sorted by team, then value.

    Streams the sorted rows once, keeping only the values at the ranks each quantile needs, so
    memory does not grow with the number of episodes.
    """
    wanted: dict[str, dict[int, float]] = {}
    for team, n in counts.items():
        ranks: set[int] = set()
        for q in qs:
            pos = q * (n - 1)
            ranks.update((int(pos), min(int(pos) + 1, n - 1)))
        wanted[team] = dict.fromkeys(ranks, 0.0)
    current, index = None, 0
    for team, value in rows:
        if team != current:
            current, index = team, 0
        picks = wanted[team]
        if index in picks:
            picks[index] = value
        index += 1
    result: dict[str, list[float]] = {}
    for team, n in counts.items():
        values = []
        for q in qs:
            pos = q * (n - 1)
            low = int(pos)
            high = min(low + 1, n - 1)
            values.append(
                wanted[team][low] + (pos - low) * (wanted[team][high] - wanted[team][low])
            )
        result[team] = values
    return result


def _instant(seconds: float | None) -> str | None:
    return format_instant(datetime.fromtimestamp(seconds, UTC)) if seconds is not None else None


def holding_report(conn: Any, scope: Scope, case_id: str | None = None) -> HoldingReport:
    """Compute the holding report inside the database; ``case_id`` adds that case's episodes."""
    params = {**scope.params(), "case_id": case_id}
    filters = []
    if scope.team is not None:
        filters.append(f"case_id IN ({CASES_OF_TEAM})")
    if case_id is not None:
        filters.append("case_id = :case_id")
    where = (" AND " + " AND ".join(filters)) if filters else ""
    clipped = CLIPPED_EPISODES + where
    team_only = " AND team = :team" if scope.team is not None else ""
    totals = conn.execute(
        f"""SELECT team, MAX(organisation), SUM(seconds), COUNT(*), COUNT(DISTINCT case_id)
              FROM ({clipped}) WHERE team IS NOT NULL{team_only}
             GROUP BY team""",
        params,
    ).fetchall()
    quantiles = _team_quantiles(
        conn.execute(
            f"SELECT team, seconds FROM ({clipped}) WHERE team IS NOT NULL{team_only} "
            "ORDER BY team, seconds",
            params,
        ),
        {team: count for team, _o, _s, count, _c in totals},
        (0.5, 0.9),
    )
    by_team = tuple(
        sorted(
            (
                TeamHolding(
                    team,
                    org,
                    total / DAY,
                    count,
                    cases,
                    quantiles[team][0] / DAY,
                    quantiles[team][1] / DAY,
                )
                for team, org, total, count, cases in totals
            ),
            key=lambda t: (-t.days, t.team),
        )
    )
    unallocated = conn.execute(
        f"SELECT COALESCE(SUM(seconds), 0) FROM ({clipped}) WHERE team IS NULL", params
    ).fetchone()[0]
    episodes = None
    if case_id is not None:
        episodes = tuple(
            Episode(cid, team, org, _instant(start) or "", _instant(end), seconds / DAY)
            for cid, _n, team, org, start, end, seconds in conn.execute(
                clipped + " ORDER BY n", params
            )
        )
    return HoldingReport(scope, by_team, unallocated / DAY, episodes)
