"""The handoffs report: how often cases were passed around, between whom, and across the S75 line.

Definitions (docs/reports.md has them with worked examples):

* a **handoff** is a change of holding team between consecutive applied events of a case;
  unallocated gaps are skipped (A, nobody, B is one handoff A -> B);
* an **S75 crossing** is a handoff between teams of different organisations;
* a **ping-pong** is a handoff back to the team that just passed the case on (in the collapsed
  team sequence t1..tk, each i >= 3 with t_i = t_(i-2));
* handoffs are counted when they happen inside the period (at or before ``as_of``); the cases are
  those in scope (see :mod:`pathway.reports.sql`); with a team, only handoffs from or to it, over the
  cases it held or handed on.

Refused transitions are never handoffs (see the refusals in the ``waits`` report).

An offer that is declined is not a handoff either (the offering team held the case throughout),
yet a referral bounced between teams is exactly what governance asks about. So where the pathway
defines offers, the report also counts **offers**: applied events in the period that put a case in
an offer state, by offering team and the team offered to, and how many of them were **declined**
(the case left the offer state by a ``return`` transition). Without a pathway these are null.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from ..definition import Pathway
from ..flow import TEAM_SEPARATOR
from .scope import Scope
from .sql import scoped_cases


@attrs.frozen
class PairCount:
    from_team: str
    to_team: str
    count: int


@attrs.frozen
class CaseHandoffs:
    case_id: str
    handoffs: int
    ping_pongs: int
    s75_crossings: int
    teams: tuple[str, ...]


@attrs.frozen
class OfferCount:
    from_team: str
    to_team: str
    offered: int
    declined: int


@attrs.frozen
class DistributionRow:
    handoffs: int
    cases: int


@attrs.frozen
class HandoffsReport:
    """Figures of the handoffs report; ``by_case`` holds every case in scope, most passed first."""

    scope: Scope
    cases: int
    events: int
    handoffs: int
    ping_pongs: int
    s75_crossings: int
    by_pair: tuple[PairCount, ...]
    by_case: tuple[CaseHandoffs, ...]
    distribution: tuple[DistributionRow, ...]
    offers: int | None = None
    offers_declined: int | None = None
    by_offer: tuple[OfferCount, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "report": "handoffs",
            **self.scope.header(),
            "cases": self.cases,
            "events": self.events,
            "handoffs": self.handoffs,
            "ping_pongs": self.ping_pongs,
            "s75_crossings": self.s75_crossings,
            "by_pair": [attrs.asdict(p) for p in self.by_pair],
            "by_case": [
                {**attrs.asdict(c, recurse=False), "teams": list(c.teams)} for c in self.by_case
            ],
            "distribution": [attrs.asdict(d) for d in self.distribution],
            "offers": self.offers,
            "offers_declined": self.offers_declined,
            "by_offer": None if self.by_offer is None else [attrs.asdict(o) for o in self.by_offer],
        }


def _history_within(conn: Any, scope: Scope, params: dict[str, Any]) -> tuple[bool, int]:
    """Whether every event of the cases in scope lies inside the period, and how many there are.

    True when the period is everything up to as-of and no case in scope has a later event (the
    usual case: a report as of now). Then each case row's own counts are the answer and no event
    or handoff needs reading.
    """
    if scope.since is not None or scope.until is not None:
        return False, 0
    newest, total = conn.execute(
        "SELECT MAX(c.last_at), COALESCE(SUM(c.last_seq), 0) "
        "FROM cases AS c JOIN report_cases AS r ON r.case_id = c.id"
    ).fetchone()
    return newest is None or str(newest) <= params["as_of_text"], int(total)


def _count_events(conn: Any, scope: Scope, params: dict[str, Any]) -> int:
    """Audit events of the cases in scope in the period, up to as-of, counted from the events."""
    sql = """
        SELECT COUNT(*) FROM events JOIN report_cases USING (case_id)
         WHERE occurred_at <= :as_of_text
    """
    if scope.since is not None or scope.until is not None:
        params["since_text"] = scope.header()["since"] or ""
        params["until_text"] = scope.header()["until"] or scope.as_of_text
        sql += " AND occurred_at >= :since_text AND occurred_at <= :until_text"
    return int(conn.execute(sql, params).fetchone()[0])


def _offers(conn: Any, scope: Scope, pathway: Pathway) -> tuple[OfferCount, ...]:
    """Offers made in the period by offering team and receiving team, and how many were declined."""
    offer_states = {name: s.offer_to for name, s in pathway.states.items() if s.offer_to}
    if not offer_states:
        return ()
    declines = {
        (t.trigger, source) for t in pathway.transitions if t.returns for source in t.sources
    }
    header = scope.header()
    bounds = [header["since"] or "", min(header["until"] or scope.as_of_text, scope.as_of_text)]
    marks = ", ".join("?" * len(offer_states))
    team_sql = " AND (from_team = ? OR to_team = ? OR actor_team = ?)" if scope.team else ""
    team_args = [scope.team] * 3 if scope.team else []
    made: dict[tuple[str, str], int] = {}
    for state, held_by, n in conn.execute(
        f"""SELECT to_state, to_team, COUNT(*) FROM events
             WHERE outcome = 'applied' AND occurred_at >= ? AND occurred_at <= ?
               AND to_state IN ({marks}) AND (from_state IS NULL OR from_state != to_state){team_sql}
             GROUP BY to_state, to_team""",
        [*bounds, *offer_states, *team_args],
    ):
        key = (str(held_by), str(offer_states[state]))
        made[key] = made.get(key, 0) + n
    declined: dict[tuple[str, str], int] = {}
    for trigger, state, held_by, n in conn.execute(
        f"""SELECT trigger, from_state, from_team, COUNT(*) FROM events
             WHERE outcome = 'applied' AND occurred_at >= ? AND occurred_at <= ?
               AND from_state IN ({marks}){team_sql}
             GROUP BY trigger, from_state, from_team""",
        [*bounds, *offer_states, *team_args],
    ):
        if (trigger, state) in declines:
            key = (str(held_by), str(offer_states[state]))
            declined[key] = declined.get(key, 0) + n
    keys = sorted(set(made) | set(declined), key=lambda k: (-made.get(k, 0), k))
    return tuple(OfferCount(a, b, made.get((a, b), 0), declined.get((a, b), 0)) for a, b in keys)


def handoffs_report(conn: Any, scope: Scope, pathway: Pathway | None = None) -> HandoffsReport:
    """Compute the handoffs report inside the database (``pathway``: also count its offers)."""
    params = {**scope.params(), "as_of_text": scope.as_of_text}
    team = scope.team is not None
    conn.execute("DROP TABLE IF EXISTS temp.report_cases")
    conn.execute(
        f"CREATE TEMP TABLE report_cases AS {scoped_cases(team, scope.since is not None)}", params
    )
    conn.execute("CREATE UNIQUE INDEX temp.report_cases_id ON report_cases (case_id)")
    team_clause = "AND (h.from_team = :team OR h.to_team = :team)" if team else ""
    in_window = f"""
        SELECT h.* FROM handoffs AS h JOIN report_cases USING (case_id)
         WHERE h.at BETWEEN :wstart AND :wend {team_clause}
    """
    cases = conn.execute("SELECT COUNT(*) FROM report_cases").fetchone()[0]
    complete, all_events = _history_within(conn, scope, params)
    events = all_events if complete else _count_events(conn, scope, params)
    whole = complete and not team  # with a team, only its handoffs count: read them
    if whole:
        # Every case's whole history is inside the period: its row's own counts are the answer.
        total, ping, crossing = conn.execute(
            "SELECT COALESCE(SUM(c.handoffs), 0), COALESCE(SUM(c.ping_pongs), 0), "
            "COALESCE(SUM(c.crossings), 0) FROM cases AS c JOIN report_cases AS r ON r.case_id = c.id"
        ).fetchone()
    else:
        total, ping, crossing = conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(ping_pong), 0), COALESCE(SUM(crossing), 0) FROM ({in_window})",
            params,
        ).fetchone()
    by_pair = tuple(
        PairCount(*row)
        for row in conn.execute(
            f"""SELECT from_team, to_team, COUNT(*) AS n FROM ({in_window})
                 GROUP BY from_team, to_team ORDER BY n DESC, from_team, to_team""",
            params,
        )
    )
    if whole:
        rows = conn.execute(
            """SELECT c.id, c.handoffs, c.ping_pongs, c.crossings, c.team_sequence
                 FROM cases AS c JOIN report_cases AS r ON r.case_id = c.id
                ORDER BY c.handoffs DESC, c.ping_pongs DESC, c.id"""
        )
    else:
        rows = conn.execute(
            f"""
            WITH counted AS (
                SELECT case_id, COUNT(*) AS n, SUM(ping_pong) AS p, SUM(crossing) AS c
                  FROM ({in_window}) GROUP BY case_id
            ),
            sequence AS (
                SELECT case_id, group_concat(team, char(31)) AS teams FROM (
                    SELECT f.case_id, 0 AS n, f.first_team AS team
                      FROM case_flow AS f JOIN report_cases USING (case_id)
                     WHERE f.first_team IS NOT NULL AND f.first_team_at <= :wend
                    UNION ALL
                    SELECT h.case_id, h.n, h.to_team
                      FROM handoffs AS h JOIN report_cases USING (case_id)
                     WHERE h.at <= :wend
                     ORDER BY 1, 2
                ) GROUP BY case_id
            )
            SELECT r.case_id, COALESCE(c.n, 0), COALESCE(c.p, 0), COALESCE(c.c, 0), s.teams
              FROM report_cases AS r
              LEFT JOIN counted AS c USING (case_id)
              LEFT JOIN sequence AS s USING (case_id)
             ORDER BY COALESCE(c.n, 0) DESC, COALESCE(c.p, 0) DESC, r.case_id
            """,
            params,
        )
    by_case = tuple(
        CaseHandoffs(cid, n, p, c, tuple(teams.split(TEAM_SEPARATOR)) if teams else ())
        for cid, n, p, c, teams in rows
    )
    counts = Counter(c.handoffs for c in by_case)
    distribution = tuple(DistributionRow(k, counts[k]) for k in sorted(counts))
    conn.execute("DROP TABLE temp.report_cases")
    by_offer = _offers(conn, scope, pathway) if pathway is not None else None
    return HandoffsReport(
        scope, cases, events, total, ping, crossing, by_pair, by_case, distribution,
        offers=None if by_offer is None else sum(o.offered for o in by_offer),
        offers_declined=None if by_offer is None else sum(o.declined for o in by_offer),
        by_offer=by_offer,
    )  # fmt: skip
