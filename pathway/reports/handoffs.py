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

import json
from collections.abc import Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring
from typing import Any, TextIO

import attrs

from ..definition import Pathway
from ..flow import TEAM_SEPARATOR
from ..store.dialect import char, is_postgres, string_agg, temp_table, text_type
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
    from_team: str | None  # None: the case was unallocated when offered (an imported empty team)
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


@attrs.frozen
class _Plan:
    """How one scope is read: which cases are in it, which handoffs fall in the window."""

    params: dict[str, Any]
    whole: bool
    """Every case in scope has its whole history inside the period and there is no team: the
    counters in each case's row are the answer."""
    in_scope: str
    """A condition on ``cases AS c`` that picks the cases in scope."""
    in_window: str
    """The handoffs that count, as a sub-query."""
    events: int | None
    """The events of the cases in scope, when already known."""


def _history_within(
    conn: Any, scope: Scope, params: dict[str, Any], cases: str
) -> tuple[bool, int]:
    """Whether every event of the cases in scope lies inside the period, and how many there are.

    True when the period is everything up to as-of and no case in scope has a later event (the
    usual case: a report as of now). Then each case row's own counts are the answer and no event
    or handoff needs reading. ``cases`` is the condition on ``cases AS c`` that picks the cases in
    scope.
    """
    if scope.since is not None or scope.until is not None:
        return False, 0
    newest, total = conn.execute(
        f"SELECT MAX(c.last_at), COALESCE(SUM(c.last_seq), 0) FROM cases AS c WHERE {cases}",
        params,
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


@contextmanager
def _planned(conn: Any, scope: Scope) -> Iterator[_Plan]:
    """Decide how to read ``scope``; select its cases into a temporary table when that is needed.

    The usual report (as of now, no period start, no team) reads only the case rows, whose
    counters the store keeps up to date with every event, and the handoffs for the matrix.
    """
    params = {**scope.params(), "as_of_text": scope.as_of_text}
    team = scope.team is not None
    in_scope = "c.first_at <= :wend"  # the cases in scope when there is no team and no --since
    complete, events = (False, 0) if team else _history_within(conn, scope, params, in_scope)
    whole = complete and not team  # with a team, only its handoffs count: read them
    if team:
        in_window = """
            SELECT h.* FROM handoffs AS h JOIN report_cases USING (case_id)
             WHERE h.at BETWEEN :wstart AND :wend AND (h.from_team = :team OR h.to_team = :team)
        """
    else:
        # Every handoff in the window belongs to a case in scope: the scope's cases are exactly
        # those opened by the window's end that were held, handed on or opened in it.
        in_window = "SELECT h.* FROM handoffs AS h WHERE h.at BETWEEN :wstart AND :wend"
    if whole:
        yield _Plan(params, True, in_scope, in_window, events)
        return
    table = temp_table(conn, "report_cases")
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TEMP TABLE report_cases (case_id {text_type(conn)} PRIMARY KEY)")
    conn.execute(f"INSERT INTO {table} {scoped_cases(team, scope.since is not None)}", params)
    if is_postgres(conn):
        conn.execute("ANALYZE report_cases")  # temporary tables get no automatic statistics
    try:
        yield _Plan(
            params,
            False,
            "c.id IN (SELECT case_id FROM report_cases)",
            in_window,
            events if complete else _count_events(conn, scope, params),
        )
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _counted(plan: _Plan) -> str:
    """Per case in scope: its handoffs, ping-pongs and crossings in the window (``n``, ``p``, ``c``)."""
    if plan.whole:
        return f"""SELECT c.id AS case_id, c.handoffs AS n, c.ping_pongs AS p, c.crossings AS c
                     FROM cases AS c WHERE {plan.in_scope}"""
    return f"""
        SELECT r.case_id, COALESCE(w.n, 0) AS n, COALESCE(w.p, 0) AS p, COALESCE(w.c, 0) AS c
          FROM report_cases AS r LEFT JOIN (
                SELECT case_id, COUNT(*) AS n, SUM(ping_pong) AS p, SUM(crossing) AS c
                  FROM ({plan.in_window}) AS h GROUP BY case_id
          ) AS w USING (case_id)
    """


def _case_rows(conn: Any, plan: _Plan) -> Any:
    """A cursor over every case in scope, most passed around first: id, n, p, c, team sequence."""
    if plan.whole:
        return conn.execute(
            f"""SELECT c.id, c.handoffs, c.ping_pongs, c.crossings, c.team_sequence
                  FROM cases AS c WHERE {plan.in_scope}
                 ORDER BY c.handoffs DESC, c.ping_pongs DESC, c.id""",
            plan.params,
        )
    # The collapsed team sequence: the first team, then each handoff's receiving team, in order
    # (SQLite's group_concat keeps the order of the sorted sub-query; PostgreSQL is told it).
    teams = string_agg(conn, "team", char(conn, 31), "n")
    return conn.execute(
        f"""
        WITH sequence AS (
            SELECT case_id, {teams} AS teams FROM (
                SELECT f.case_id, 0 AS n, f.first_team AS team
                  FROM case_flow AS f JOIN report_cases USING (case_id)
                 WHERE f.first_team IS NOT NULL AND f.first_team_at <= :wend
                UNION ALL
                SELECT h.case_id, h.n, h.to_team
                  FROM handoffs AS h JOIN report_cases USING (case_id)
                 WHERE h.at <= :wend
                 ORDER BY 1, 2
            ) AS t GROUP BY case_id
        )
        SELECT k.case_id, k.n, k.p, k.c, s.teams
          FROM ({_counted(plan)}) AS k LEFT JOIN sequence AS s USING (case_id)
         ORDER BY k.n DESC, k.p DESC, k.case_id
        """,
        plan.params,
    )


def _case(row: tuple[Any, ...]) -> CaseHandoffs:
    cid, n, p, c, teams = row
    return CaseHandoffs(cid, n, p, c, tuple(teams.split(TEAM_SEPARATOR)) if teams else ())


def _summary(
    conn: Any, plan: _Plan
) -> tuple[int, int, int, int, int, tuple[PairCount, ...], tuple[DistributionRow, ...]]:
    """Cases, events, handoffs, ping-pongs, crossings, the matrix and the distribution."""
    params = plan.params
    cases = conn.execute(
        f"SELECT COUNT(*) FROM cases AS c WHERE {plan.in_scope}", params
    ).fetchone()[0]
    if plan.whole:
        total, ping, crossing = conn.execute(
            "SELECT COALESCE(SUM(c.handoffs), 0), COALESCE(SUM(c.ping_pongs), 0), "
            f"COALESCE(SUM(c.crossings), 0) FROM cases AS c WHERE {plan.in_scope}",
            params,
        ).fetchone()
    else:
        total, ping, crossing = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(ping_pong), 0), COALESCE(SUM(crossing), 0) "
            f"FROM ({plan.in_window}) AS h",
            params,
        ).fetchone()
    by_pair = tuple(
        PairCount(*row)
        for row in conn.execute(
            f"""SELECT from_team, to_team, COUNT(*) AS n FROM ({plan.in_window}) AS h
                 GROUP BY from_team, to_team ORDER BY n DESC, from_team, to_team""",
            params,
        )
    )
    distribution = tuple(
        DistributionRow(n, count)
        for n, count in conn.execute(
            f"SELECT n, COUNT(*) FROM ({_counted(plan)}) AS k GROUP BY n ORDER BY n", params
        )
    )
    events = plan.events if plan.events is not None else 0
    return cases, events, total, ping, crossing, by_pair, distribution


def handoffs_report(conn: Any, scope: Scope, pathway: Pathway | None = None) -> HandoffsReport:
    """Compute the handoffs report inside the database (``pathway``: also count its offers).

    ``by_case`` holds every case in scope; to write the JSON of a large store without holding
    every case in memory, use :func:`write_handoffs_json`, which gives the same JSON.
    """
    with _planned(conn, scope) as plan:
        cases, events, total, ping, crossing, by_pair, distribution = _summary(conn, plan)
        by_case = tuple(_case(row) for row in _case_rows(conn, plan))
    by_offer = _offers(conn, scope, pathway) if pathway is not None else None
    return HandoffsReport(
        scope, cases, events, total, ping, crossing, by_pair, by_case, distribution,
        offers=None if by_offer is None else sum(o.offered for o in by_offer),
        offers_declined=None if by_offer is None else sum(o.declined for o in by_offer),
        by_offer=by_offer,
    )  # fmt: skip


_CHUNK = 2000
"""Cases encoded per write by :func:`write_handoffs_json`."""


def write_handoffs_json(
    conn: Any, scope: Scope, out: TextIO, pathway: Pathway | None = None
) -> None:
    """Write the handoffs report's JSON to ``out``, streaming ``by_case`` from the database.

    The text is exactly ``json.dumps(handoffs_report(...).to_json(), ensure_ascii=False)``, but
    memory stays flat however many cases the store holds: the cases are read in order from a
    cursor and encoded a chunk at a time.
    """
    with _planned(conn, scope) as plan:
        cases, events, total, ping, crossing, by_pair, distribution = _summary(conn, plan)
        by_offer = _offers(conn, scope, pathway) if pathway is not None else None
        record = HandoffsReport(
            scope, cases, events, total, ping, crossing, by_pair, (), distribution,
            offers=None if by_offer is None else sum(o.offered for o in by_offer),
            offers_declined=None if by_offer is None else sum(o.declined for o in by_offer),
            by_offer=by_offer,
        )  # fmt: skip
        data = record.to_json()
        keys = list(data)
        split = keys.index("by_case")
        head = json.dumps({k: data[k] for k in keys[:split]}, ensure_ascii=False)
        tail = json.dumps({k: data[k] for k in keys[split + 1 :]}, ensure_ascii=False)
        out.write(head[:-1] + ', "by_case": [')
        names: dict[str, str] = {}  # each team name as a JSON string (there are few)
        chunk: list[str] = []
        first = True
        for cid, n, p, c, teams in _case_rows(conn, plan):
            encoded = (
                "["
                + ", ".join(
                    [
                        names.get(t) or names.setdefault(t, encode_basestring(t))
                        for t in teams.split(TEAM_SEPARATOR)
                    ]
                )
                + "]"
                if teams
                else "[]"
            )
            chunk.append(
                f'{{"case_id": {encode_basestring(cid)}, "handoffs": {n}, "ping_pongs": {p}, '
                f'"s75_crossings": {c}, "teams": {encoded}}}'
            )
            if len(chunk) >= _CHUNK:
                out.write(("" if first else ", ") + ", ".join(chunk))
                chunk.clear()
                first = False
        if chunk:
            out.write(("" if first else ", ") + ", ".join(chunk))
        out.write("], " + tail[1:])


def _offers(conn: Any, scope: Scope, pathway: Pathway) -> tuple[OfferCount, ...]:
    """Offers made in the period by offering team and receiving team, and how many were declined."""
    offer_states = {name: s.offer_to for name, s in pathway.states.items() if s.offer_to}
    if not offer_states:
        return ()
    declines = pathway.return_steps  # leaving an offer by a return is declining it
    header = scope.header()
    bounds = [header["since"] or "", min(header["until"] or scope.as_of_text, scope.as_of_text)]
    marks = ", ".join("?" * len(offer_states))
    team_sql = " AND (from_team = ? OR to_team = ? OR actor_team = ?)" if scope.team else ""
    team_args = [scope.team] * 3 if scope.team else []
    made: dict[tuple[str | None, str], int] = {}
    for state, held_by, n in conn.execute(
        f"""SELECT to_state, to_team, COUNT(*) FROM events
             WHERE outcome = 'applied' AND occurred_at >= ? AND occurred_at <= ?
               AND to_state IN ({marks}) AND (from_state IS NULL OR from_state != to_state){team_sql}
             GROUP BY to_state, to_team""",
        [*bounds, *offer_states, *team_args],
    ):
        key = (held_by, str(offer_states[state]))
        made[key] = made.get(key, 0) + n
    declined: dict[tuple[str | None, str], int] = {}
    for trigger, state, held_by, n in conn.execute(
        f"""SELECT trigger, from_state, from_team, COUNT(*) FROM events
             WHERE outcome = 'applied' AND occurred_at >= ? AND occurred_at <= ?
               AND from_state IN ({marks}){team_sql}
             GROUP BY trigger, from_state, from_team""",
        [*bounds, *offer_states, *team_args],
    ):
        if (trigger, state) in declines:
            key = (held_by, str(offer_states[state]))
            declined[key] = declined.get(key, 0) + n
    keys = sorted(
        set(made) | set(declined), key=lambda k: (-made.get(k, 0), k[0] is None, k[0] or "", k[1])
    )
    return tuple(OfferCount(a, b, made.get((a, b), 0), declined.get((a, b), 0)) for a, b in keys)
