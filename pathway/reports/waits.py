"""The waits report: how long people wait, and where the pathway's time limits are broken.

* ``first_appointment``: from a case's first event to its first entry into the milestone state
  (default ``choice_appointment``), for cases that reached it in the period; and the cases still
  waiting at ``as_of`` (open, not yet there), with the days so far;
* ``over_time_limit``: stays in a state with a time limit (brief enablement: six weeks) that
  overlap the period and lasted longer than the limit (still running at ``as_of`` or ended);
* ``reviews_overdue``: open cases whose last review (entry into a review state) was more than
  ``review_interval_days`` (365) before ``as_of``, or which were never reviewed and were opened
  longer ago than that;
* ``open_offers``: cases sitting in an offer state at ``as_of``: offered to a team that has not
  yet accepted or declined, with how long they have waited.

Refused transitions are listed by team and reason in ``refusals``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ..definition import Pathway
from ..store.dialect import days_between, inline_cte
from ..timeutil import parse_instant
from .scope import Scope

DEFAULT_MILESTONE = "choice_appointment"
REVIEW_INTERVAL_DAYS = 365.0


@attrs.frozen
class Wait:
    case_id: str
    days: float


@attrs.frozen
class WaitSummary:
    reached: int
    median_days: float | None
    p90_days: float | None
    still_waiting: tuple[Wait, ...]
    waits: tuple[Wait, ...]


@attrs.frozen
class Overrun:
    case_id: str
    state: str
    entered: str
    left: str | None
    days: float
    limit_days: float


@attrs.frozen
class OverdueReview:
    case_id: str
    last_review: str | None
    days_since: float


@attrs.frozen
class OpenOffer:
    case_id: str
    state: str
    offered_to: str
    held_by: str | None  # None: nobody holds the case meanwhile (an empty team)
    since: str
    days: float


@attrs.frozen
class Refusal:
    team: str
    reason: str
    count: int


@attrs.frozen
class WaitsReport:
    scope: Scope
    milestone: str
    first_appointment: WaitSummary
    over_time_limit: tuple[Overrun, ...]
    reviews_overdue: tuple[OverdueReview, ...]
    open_offers: tuple[OpenOffer, ...]
    refusals: tuple[Refusal, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "waits",
            **self.scope.header(),
            "milestone": self.milestone,
            "first_appointment": attrs.asdict(self.first_appointment),
            "over_time_limit": [attrs.asdict(o) for o in self.over_time_limit],
            "reviews_overdue": [attrs.asdict(r) for r in self.reviews_overdue],
            "open_offers": [attrs.asdict(o) for o in self.open_offers],
            "refusals": [attrs.asdict(r) for r in self.refusals],
        }


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (pos - low) * (sorted_values[high] - sorted_values[low])


def _named(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Named placeholders for an IN list (``NULL`` when empty) and their values."""
    names = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{name}" for name in names) or "NULL", names


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _days_between(later: str, earlier: str) -> float:
    """As :func:`pathway.store.dialect.days_between` computes it in SQL: exact microseconds."""
    us = (parse_instant(later) - parse_instant(earlier)) // timedelta(microseconds=1)
    return us / 86_400_000_000


def waits_report(
    conn: Any,
    scope: Scope,
    pathway: Pathway | None,
    milestone: str = DEFAULT_MILESTONE,
    review_states: Iterable[str] | None = None,
    review_interval_days: float = REVIEW_INTERVAL_DAYS,
) -> WaitsReport:
    """Compute the waits report (``pathway`` gives time limits, offer and review states)."""
    header = scope.header()
    as_of = header["as_of"]
    since = header["since"] or "0000"
    until = min(header["until"] or as_of, as_of)
    team = scope.team
    team_sql = " AND e.to_team = :team" if team else ""
    params: dict[str, Any] = {"as_of": as_of, "milestone": milestone, "team": team}
    applied = "SELECT * FROM events WHERE outcome = 'applied' AND occurred_at <= :as_of"
    inline = inline_cte(conn)  # PostgreSQL would materialise `a` and scan it per correlated row

    # 1. First appointment.
    rows = conn.execute(
        f"""
        WITH a AS {inline}({applied}),
        first AS (SELECT case_id, MIN(occurred_at) AS opened FROM a GROUP BY case_id),
        reached AS (
            SELECT case_id, MIN(occurred_at) AS at FROM a WHERE to_state = :milestone
             GROUP BY case_id
        ),
        w AS (
            SELECT f.case_id, f.opened, r.at, COALESCE(r.at, :as_of) AS until_at,
                   (SELECT closes FROM a AS l WHERE l.case_id = f.case_id
                     ORDER BY seq DESC LIMIT 1) AS closed
              FROM first AS f LEFT JOIN reached AS r USING (case_id)
        )
        SELECT case_id, opened, at, {days_between(conn, "until_at", "opened")}, closed FROM w
        """,
        params,
    ).fetchall()
    waits = sorted(
        (
            Wait(cid, days)
            for cid, _o, at, days, _c in rows
            if at is not None and since <= at <= until
        ),
        key=lambda w: (-w.days, w.case_id),
    )
    still = sorted(
        (Wait(cid, days) for cid, _o, at, days, closed in rows if at is None and not closed),
        key=lambda w: (-w.days, w.case_id),
    )
    values = sorted(w.days for w in waits)
    summary = WaitSummary(
        len(waits), _quantile(values, 0.5), _quantile(values, 0.9), tuple(still), tuple(waits)
    )

    # 2. Stays over a state's time limit.
    limits = {
        n: s.time_limit_days
        for n, s in (pathway.states.items() if pathway else [])
        if s.time_limit_days
    }
    overruns: list[Overrun] = []
    if limits:
        marks, names = _named("limit", limits)
        for cid, state, entered, left in conn.execute(
            f"""
            WITH a AS {inline}({applied})
            SELECT e.case_id, e.to_state, e.occurred_at,
                   (SELECT MIN(x.occurred_at) FROM a AS x
                     WHERE x.case_id = e.case_id AND x.seq > e.seq
                       AND (x.to_state != e.to_state OR x.closes = 1))
              FROM a AS e
             WHERE e.to_state IN ({marks})
               AND (e.from_state IS NULL OR e.from_state != e.to_state){team_sql}
            """,
            {**params, **names},
        ):
            end = left or as_of
            if end < since or entered > until:
                continue
            days = _days_between(end, entered)
            if days > limits[state]:
                overruns.append(Overrun(cid, state, entered, left, days, float(limits[state])))
    overruns.sort(key=lambda o: (-o.days, o.case_id))

    # 3. Reviews overdue, on cases open at as_of. A review is an entry into a review state: a later
    # event that leaves the case there (an internal step, an imported row) is no new review.
    reviews = (
        list(review_states)
        if review_states is not None
        else [n for n in (pathway.states if pathway else []) if "review" in n]
    )
    marks, names = _named("review", reviews)
    overdue = [
        OverdueReview(cid, last_review, days)
        for cid, last_review, days in conn.execute(
            f"""
            WITH a AS {inline}({applied}),
            latest AS (SELECT case_id, MAX(seq) AS seq FROM a GROUP BY case_id),
            open_cases AS (
                SELECT e.case_id, e.to_team FROM a AS e JOIN latest USING (case_id, seq)
                 WHERE e.closes = 0
            ),
            last_review AS (
                SELECT case_id, MAX(occurred_at) AS at FROM a
                 WHERE to_state IN ({marks}) AND (from_state IS NULL OR from_state != to_state)
                 GROUP BY case_id
            ),
            opened AS (SELECT case_id, MIN(occurred_at) AS at FROM a GROUP BY case_id),
            due AS (
                SELECT o.case_id, r.at AS last_review,
                       {days_between(conn, ":as_of", "COALESCE(r.at, op.at)")} AS days
                  FROM open_cases AS o JOIN opened AS op USING (case_id)
                  LEFT JOIN last_review AS r USING (case_id)
                 WHERE 1 = 1{" AND o.to_team = :team" if team else ""}
            )
            SELECT case_id, last_review, days FROM due WHERE days > :interval
             ORDER BY days DESC, case_id
            """,
            {**params, **names, "interval": review_interval_days},
        )
    ]

    # 4. Offers not yet accepted or declined.
    offer_states = {
        n: s.offer_to for n, s in (pathway.states.items() if pathway else []) if s.offer_to
    }
    offers: list[OpenOffer] = []
    if offer_states:
        marks, names = _named("offer", offer_states)
        # The wait runs from the case's entry into the offer state: a later event that leaves it
        # there (an internal step, an imported row with another team) is no new offer.
        for cid, state, held_by, at, days in conn.execute(
            f"""
            WITH a AS {inline}({applied}),
            latest AS (SELECT case_id, MAX(seq) AS seq FROM a GROUP BY case_id),
            pending AS (
                SELECT e.case_id, e.to_state, e.to_team,
                       (SELECT MAX(x.occurred_at) FROM a AS x
                         WHERE x.case_id = e.case_id AND x.seq <= e.seq
                           AND x.to_state = e.to_state
                           AND (x.from_state IS NULL OR x.from_state != x.to_state)) AS since
                  FROM a AS e JOIN latest USING (case_id, seq)
                 WHERE e.to_state IN ({marks})
            )
            SELECT case_id, to_state, to_team, since,
                   {days_between(conn, ":as_of", "since")} AS days
              FROM pending
             ORDER BY days DESC, case_id
            """,
            {**params, **names},
        ):
            if team is None or team in (held_by, offer_states[state]):
                offers.append(OpenOffer(cid, state, str(offer_states[state]), held_by, at, days))

    # 5. Refusals in the period, by acting team and reason.
    counts: dict[tuple[str, str], int] = {}
    for actor_team, reasons in conn.execute(
        "SELECT actor_team, reasons FROM events WHERE outcome = 'refused' "
        "AND occurred_at >= ? AND occurred_at <= ?" + (" AND actor_team = ?" if team else ""),
        [since, until, *([team] if team else [])],
    ):
        for reason in json.loads(reasons):
            counts[(actor_team, reason)] = counts.get((actor_team, reason), 0) + 1
    refusals = tuple(
        Refusal(t, r, n) for (t, r), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return WaitsReport(
        scope, milestone, summary, tuple(overruns), tuple(overdue), tuple(offers), refusals
    )
