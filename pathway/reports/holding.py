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

import heapq
import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs

from ..store.dialect import greatest
from ..timeutil import format_instant, parse_instant
from .scope import DAY, Scope
from .sql import CASES_OF_TEAM, clipped_episodes, days_of_us, sum_us, us_total


@attrs.frozen
class TeamHolding:
    """How long a team held cases in the period: total and median days, episodes and cases."""

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
    """The holding report: time each team held cases in the period, and time unallocated."""

    scope: Scope
    by_team: tuple[TeamHolding, ...]
    unallocated_days: float
    episodes: tuple[Episode, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_holding.schema.json``."""
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


def _open_lengths(conn: Any, team: str, end: float) -> Iterator[float]:
    """The team's open-episode lengths up to ``end``, shortest first, streamed.

    Read backwards along the ``cases_open_by_team`` index (the newest start is the shortest
    length), so nothing is sorted or held in memory.
    """
    rows = conn.execute(
        f"SELECT {greatest(conn, '0.0', ':end - open_start')} FROM cases "
        "WHERE open_n IS NOT NULL AND open_team = :team AND open_start <= :end "
        "ORDER BY open_team DESC, open_start DESC",
        {"end": end, "team": team},
    )
    return (row[0] for row in rows)


def _kth_pair(
    conn: Any, team: str, closed: int, opened: int, end: float, k: int
) -> tuple[float, float]:
    """The k-th and (k+1)-th smallest episode lengths of ``team`` (0-based; the second capped).

    The team's ``closed`` episodes are read in order from their index, its ``opened`` episodes
    (fewer: at most one a case) in order from theirs (:func:`_open_lengths`). Among the first k+1
    lengths at most ``opened`` are open ones, so the k-th lies in the slice of closed lengths
    from ``k - opened``: stream that slice, merge it with the open lengths, and pick. Memory
    stays the same whatever the number of episodes.
    """
    start = max(0, k - opened)
    rows = conn.execute(
        "SELECT seconds FROM closed_episodes WHERE team = ? ORDER BY seconds LIMIT ? OFFSET ?",
        (team, opened + 2, start),
    )
    last = closed + opened - 1
    merged = heapq.merge((row[0] for row in rows), _open_lengths(conn, team, end))
    picked = list(itertools.islice(merged, k - start, min(k + 1, last) - start + 1))
    return picked[0], picked[-1]


def _whole_history(conn: Any, scope: Scope) -> HoldingReport | None:
    """The report read from indexes, when no event of any case is after the window's end.

    Then every closed episode lies wholly inside the window (there is no ``--since``), so its
    length is stored (``closed_episodes.seconds``, indexed by team) and only the open episodes,
    one at most per case, are cut at the window's end. Totals come from the index without a sort,
    and each quantile from a slice of it merged with the open episodes read in order from theirs
    (:func:`_kth_pair`), so memory does not grow with the events or the cases. None when this
    does not apply.
    """
    if scope.since is not None or scope.team is not None:
        return None
    end = scope.end
    newest = conn.execute("SELECT MAX(last_at) FROM cases").fetchone()[0]
    if newest is not None and parse_instant(str(newest)).timestamp() > end:
        return None
    # team -> [closed episodes, open episodes, microseconds, organisation, cases]; durations are
    # added up as whole microseconds, exactly and in any order (see sql.sum_us)
    teams: dict[str | None, list[Any]] = {}
    for team, count, whole, micros, org in conn.execute(
        f"SELECT team, COUNT(*), {sum_us('seconds')}, MAX(organisation) FROM closed_episodes "
        "GROUP BY team"
    ):
        teams[team] = [count, 0, us_total(whole, micros), org, 0]
    open_length = greatest(conn, "0.0", ":end - open_start")
    for team, count, whole, micros, org in conn.execute(
        f"SELECT open_team, COUNT(*), {sum_us(open_length)}, MAX(open_organisation) "
        "FROM cases WHERE open_n IS NOT NULL AND open_start <= :end GROUP BY open_team",
        {"end": end},
    ):
        entry = teams.setdefault(team, [0, 0, 0, None, 0])
        entry[1] = count
        entry[2] += us_total(whole, micros)
        if org is not None and (entry[3] is None or org > entry[3]):
            entry[3] = org
    for team, cases in conn.execute(
        "SELECT team, COUNT(DISTINCT case_id) FROM closed_episodes WHERE team IS NOT NULL "
        "GROUP BY team"
    ):
        teams[team][4] = cases
    for team, cases in conn.execute(
        "SELECT c.open_team, COUNT(*) FROM cases AS c WHERE c.open_n IS NOT NULL "
        "AND c.open_team IS NOT NULL AND c.open_start <= :end AND NOT EXISTS ("
        "SELECT 1 FROM closed_episodes AS e WHERE e.team = c.open_team AND e.case_id = c.id) "
        "GROUP BY c.open_team",
        {"end": end},
    ):
        teams[team][4] += cases
    unallocated = teams.pop(None, [0, 0, 0, None, 0])[2]
    by_team = []

    for team in [t for t in teams if t is not None]:
        closed, opened, micros, org, cases = teams[team]
        count = closed + opened
        quantiles = []
        for q in (0.5, 0.9):
            pos = q * (count - 1)
            low, high = _kth_pair(conn, team, closed, opened, end, int(pos))
            quantiles.append(low + (pos - int(pos)) * (high - low))
        by_team.append(
            TeamHolding(
                team, org, days_of_us(micros), count, cases, quantiles[0] / DAY, quantiles[1] / DAY
            )
        )
    by_team.sort(key=lambda t: (-t.days, t.team))
    return HoldingReport(scope, tuple(by_team), days_of_us(unallocated), None)


def holding_report(conn: Any, scope: Scope, case_id: str | None = None) -> HoldingReport:
    """Compute the holding report inside the database; ``case_id`` adds that case's episodes."""
    if case_id is None:
        fast = _whole_history(conn, scope)
        if fast is not None:
            return fast
    params = {**scope.params(), "case_id": case_id}
    filters = []
    if scope.team is not None:
        filters.append(f"case_id IN ({CASES_OF_TEAM})")
    if case_id is not None:
        filters.append("case_id = :case_id")
    where = (" AND " + " AND ".join(filters)) if filters else ""
    clipped = clipped_episodes(conn) + where
    team_only = " AND team = :team" if scope.team is not None else ""
    totals = [
        (team, org, us_total(whole, micros), count, cases)
        for team, org, whole, micros, count, cases in conn.execute(
            f"""SELECT team, MAX(organisation), {sum_us("seconds")}, COUNT(*),
                       COUNT(DISTINCT case_id)
                  FROM ({clipped}) AS clipped WHERE team IS NOT NULL{team_only}
                 GROUP BY team""",
            params,
        )
    ]
    quantiles = _team_quantiles(
        conn.execute(
            f"SELECT team, seconds FROM ({clipped}) AS clipped WHERE team IS NOT NULL{team_only} "
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
                    days_of_us(total),
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
    unallocated = us_total(
        *conn.execute(
            f"SELECT {sum_us('seconds')} FROM ({clipped}) AS clipped WHERE team IS NULL", params
        ).fetchone()
    )
    episodes = None
    if case_id is not None:
        episodes = tuple(
            Episode(cid, team, org, _instant(start) or "", _instant(end), seconds / DAY)
            for cid, _n, team, org, start, end, seconds in conn.execute(
                clipped + " ORDER BY n", params
            )
        )
    return HoldingReport(scope, by_team, days_of_us(unallocated), episodes)
