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
and an interruption (a safeguarding enquiry, an AMHP assessment) makes two handoffs although
nobody passed the person on. So with the pathway the report also reads each case's events through
:mod:`pathway.passes`: per case and in total, **offers** made to another team, offers
**declined**, **interruptions**, **passes** (declined offers plus reversed transfers) and
**days_between_teams** (time in offer states), and ping-pongs then count transfers only, not
interruptions; ``by_case`` is ordered by passes. Without a pathway these figures are null and
ping-pongs count every change of holder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from json.encoder import encode_basestring
from typing import Any, TextIO

import attrs

from ..definition import Pathway
from ..flow import TEAM_SEPARATOR
from ..passes import PassFold, PassRules, Window
from ..store.dialect import (
    bulk_insert,
    char,
    is_postgres,
    real_type,
    stream,
    string_agg,
    temp_table,
    text_type,
)
from .scope import Scope, days
from .sql import scoped_cases


@attrs.frozen
class PairCount:
    """Handoffs from one team to another in the period."""

    from_team: str
    to_team: str
    count: int


@attrs.frozen
class CaseHandoffs:
    """One case's figures; the passed-around ones (``offers`` on) are None without a pathway."""

    case_id: str
    handoffs: int
    ping_pongs: int
    s75_crossings: int
    teams: tuple[str, ...]
    offers: int | None = None
    offers_declined: int | None = None
    interruptions: int | None = None
    passes: int | None = None
    days_between_teams: float | None = None


@attrs.frozen
class OfferCount:
    """Offers from one team to another in the period, and how many were declined."""

    from_team: str | None  # None: the case was unallocated when offered (an imported empty team)
    to_team: str
    offered: int
    declined: int


@attrs.frozen
class DistributionRow:
    """How many cases had this many handoffs in the period."""

    handoffs: int
    cases: int


@attrs.frozen
class HandoffsReport:
    """Figures of the handoffs report; ``by_case`` holds every case in scope, most passed first
    (or the first few, when :func:`handoffs_report` was given a ``limit``)."""

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
    interruptions: int | None = None
    passes: int | None = None
    days_between_teams: float | None = None
    events_without_trigger: int | None = None
    """Applied events imported without a trigger: the passed-around figures cannot tell what
    they did (a decline from an acceptance, an interruption from a move)."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, in the shape of ``schemas/report_handoffs.schema.json``."""
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
            "interruptions": self.interruptions,
            "passes": self.passes,
            "days_between_teams": self.days_between_teams,
            "events_without_trigger": self.events_without_trigger,
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
    passes: bool = False
    """The passed-around figures are in the temporary table ``report_passes``."""


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


@attrs.define
class _PassTotals:
    """The passed-around figures of every case in scope, added up as the cases are folded (in
    case order, so the float sum is the same on both backends), and the offers by pair."""

    offers: int = 0
    offers_declined: int = 0
    interruptions: int = 0
    passes: int = 0
    ping_pongs: int = 0
    seconds: float = 0.0
    untold: int = 0
    pairs: dict[tuple[str | None, str], list[int]] = attrs.field(factory=dict)
    """``[offered, declined]`` by offering and receiving team."""

    def add(self, fold: PassFold) -> None:
        self.offers += fold.offers
        self.offers_declined += fold.offers_declined
        self.interruptions += fold.interruptions
        self.passes += fold.passes
        self.ping_pongs += fold.ping_pongs
        self.seconds += fold.seconds_between_teams
        self.untold += fold.untold
        for key, (offered, declined) in fold.by_pair.items():
            counts = self.pairs.setdefault(key, [0, 0])
            counts[0] += offered
            counts[1] += declined

    @property
    def by_offer(self) -> tuple[OfferCount, ...]:
        """The offers by pair, most offered first."""
        pairs = self.pairs
        keys = sorted(pairs, key=lambda k: (-pairs[k][0], k[0] is None, k[0] or "", k[1]))
        return tuple(OfferCount(a, b, *pairs[(a, b)]) for a, b in keys)


_PASS_COLUMNS = (
    "case_id",
    "offers",
    "declined",
    "interruptions",
    "passes",
    "ping_pongs",
    "seconds",
)
_PASS_BATCH = 5000
"""Cases folded per insert into ``report_passes`` (memory stays flat however many there are)."""


def _fold_passes(conn: Any, scope: Scope, pathway: Pathway, events_sql: str) -> _PassTotals:
    """Fold every case's applied events (``events_sql``, in case and sequence order) into the
    temporary table ``report_passes`` (one row per case) and return the totals."""
    table = temp_table(conn, "report_passes")
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(
        f"CREATE TEMP TABLE report_passes (case_id {text_type(conn)} PRIMARY KEY, "
        "offers INTEGER, declined INTEGER, interruptions INTEGER, passes INTEGER, "
        f"ping_pongs INTEGER, seconds {real_type(conn)})"
    )
    rules = PassRules.from_pathway(pathway)
    header = scope.header()
    until = header["until"]
    window = Window(
        header["since"] or "", scope.as_of_text if until is None else min(until, scope.as_of_text)
    )
    totals = _PassTotals()
    batch: list[tuple[Any, ...]] = []

    def flush(fold: PassFold | None, case_id: str) -> None:
        if fold is None:
            return
        fold.finish()
        totals.add(fold)
        batch.append(
            (
                case_id, fold.offers, fold.offers_declined, fold.interruptions, fold.passes,
                fold.ping_pongs, fold.seconds_between_teams,
            )
        )  # fmt: skip
        if len(batch) >= _PASS_BATCH:
            bulk_insert(conn, table, _PASS_COLUMNS, batch)
            batch.clear()

    fold: PassFold | None = None
    current = ""
    for case_id, at, trigger, from_state, to_state, from_team, to_team, closes in stream(
        conn, events_sql, [scope.as_of_text]
    ):
        if case_id != current:
            flush(fold, current)
            current = case_id
            fold = PassFold(rules, window, scope.team)
        assert fold is not None
        fold.step(at, trigger, from_state, to_state, from_team, to_team, bool(closes))
    flush(fold, current)
    if batch:
        bulk_insert(conn, table, _PASS_COLUMNS, batch)
    if is_postgres(conn):
        conn.execute("ANALYZE report_passes")
    return totals


_APPLIED = """SELECT e.case_id, e.occurred_at, e.trigger, e.from_state, e.to_state, e.from_team,
                     e.to_team, e.closes
                FROM events AS e {join}
               WHERE e.outcome = 'applied' AND e.occurred_at <= ?
               ORDER BY e.case_id, e.seq"""
"""Every applied event up to as-of, in case and sequence order (``join``: narrow the cases)."""


@contextmanager
def _planned(
    conn: Any, scope: Scope, pathway: Pathway | None = None
) -> Iterator[tuple[_Plan, _PassTotals | None]]:
    """Decide how to read ``scope``; select its cases into a temporary table when that is needed,
    and with a pathway fold their events into the passed-around figures.

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
    made: list[str] = []
    try:
        if whole:
            plan = _Plan(params, True, in_scope, in_window, events, pathway is not None)
        else:
            table = temp_table(conn, "report_cases")
            made.append(table)
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TEMP TABLE report_cases (case_id {text_type(conn)} PRIMARY KEY)")
            conn.execute(
                f"INSERT INTO {table} {scoped_cases(team, scope.since is not None)}", params
            )
            if is_postgres(conn):
                conn.execute("ANALYZE report_cases")  # temporary tables get no automatic statistics
            plan = _Plan(
                params,
                False,
                "c.id IN (SELECT case_id FROM report_cases)",
                in_window,
                events if complete else _count_events(conn, scope, params),
                pathway is not None,
            )
        totals = None
        if pathway is not None:
            made.append(temp_table(conn, "report_passes"))
            join = "" if whole else "JOIN report_cases AS r ON r.case_id = e.case_id"
            totals = _fold_passes(conn, scope, pathway, _APPLIED.format(join=join))
        yield plan, totals
    finally:
        for table in made:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _counted(plan: _Plan) -> str:
    """Per case in scope: its handoffs, ping-pongs and crossings in the window (``n``, ``p``, ``c``).

    With the passed-around figures, ping-pongs are theirs (transfers only, not interruptions).
    """
    if plan.whole:
        counted = f"""SELECT c.id AS case_id, c.handoffs AS n, c.ping_pongs AS p, c.crossings AS c
                        FROM cases AS c WHERE {plan.in_scope}"""
    else:
        counted = f"""
        SELECT r.case_id, COALESCE(w.n, 0) AS n, COALESCE(w.p, 0) AS p, COALESCE(w.c, 0) AS c
          FROM report_cases AS r LEFT JOIN (
                SELECT case_id, COUNT(*) AS n, SUM(ping_pong) AS p, SUM(crossing) AS c
                  FROM ({plan.in_window}) AS h GROUP BY case_id
          ) AS w USING (case_id)
        """
    if not plan.passes:
        return counted
    return f"""
        SELECT k.case_id, k.n, COALESCE(q.ping_pongs, 0) AS p, k.c, q.offers, q.declined,
               q.interruptions, q.passes, q.seconds
          FROM ({counted}) AS k LEFT JOIN report_passes AS q USING (case_id)
    """


_PASS_FIELDS = ", k.offers, k.declined, k.interruptions, k.passes, k.seconds"


def _case_rows(conn: Any, plan: _Plan, limit: int | None = None) -> Any:
    """A cursor over every case in scope, most passed around first: id, n, p, c, team sequence
    (and with the passed-around figures: offers, declined, interruptions, passes, seconds).

    ``limit``: only the first that many (the database keeps the top rows as it sorts, and the
    driver never holds the rest; PostgreSQL's client cursor would otherwise fetch them all).
    """
    extra = _PASS_FIELDS if plan.passes else ""
    order = (
        "k.passes DESC, k.seconds DESC, k.n DESC, k.p DESC, k.case_id"
        if plan.passes
        else "k.n DESC, k.p DESC, k.case_id"
    )
    if limit is not None:
        order += f" LIMIT {int(limit)}"
    if plan.whole:
        return conn.execute(
            f"""SELECT k.case_id, k.n, k.p, k.c, c.team_sequence{extra}
                  FROM ({_counted(plan)}) AS k JOIN cases AS c ON c.id = k.case_id
                 ORDER BY {order}""",
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
        SELECT k.case_id, k.n, k.p, k.c, s.teams{extra}
          FROM ({_counted(plan)}) AS k LEFT JOIN sequence AS s USING (case_id)
         ORDER BY {order}
        """,
        plan.params,
    )


def _case(row: Sequence[Any]) -> CaseHandoffs:
    cid, n, p, c, teams = row[:5]
    sequence = tuple(teams.split(TEAM_SEPARATOR)) if teams else ()
    if len(row) == 5:
        return CaseHandoffs(cid, n, p, c, sequence)
    offers, declined, interruptions, passes, seconds = row[5:]
    return CaseHandoffs(
        cid, n, p, c, sequence, offers or 0, declined or 0, interruptions or 0, passes or 0,
        days(seconds),
    )  # fmt: skip


def _summary(
    conn: Any, plan: _Plan, passes: _PassTotals | None
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
    if passes is not None:
        ping = passes.ping_pongs
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


def _record(
    scope: Scope,
    summary: tuple[int, int, int, int, int, tuple[PairCount, ...], tuple[DistributionRow, ...]],
    by_case: tuple[CaseHandoffs, ...],
    passes: _PassTotals | None,
) -> HandoffsReport:
    cases, events, total, ping, crossing, by_pair, distribution = summary
    if passes is None:
        return HandoffsReport(
            scope, cases, events, total, ping, crossing, by_pair, by_case, distribution
        )
    return HandoffsReport(
        scope, cases, events, total, ping, crossing, by_pair, by_case, distribution,
        offers=passes.offers, offers_declined=passes.offers_declined, by_offer=passes.by_offer,
        interruptions=passes.interruptions, passes=passes.passes,
        days_between_teams=days(passes.seconds), events_without_trigger=passes.untold,
    )  # fmt: skip


def handoffs_report(
    conn: Any, scope: Scope, pathway: Pathway | None = None, *, limit: int | None = None
) -> HandoffsReport:
    """Compute the handoffs report inside the database (``pathway``: also the passed-around
    figures of :mod:`pathway.passes`, per case and in total).

    ``by_case`` holds every case in scope, or with ``limit`` only the first ``limit`` of them
    (the most passed around; ``cases`` still counts them all): a table of the top 20 then reads
    20 rows, not one per case. To write the JSON of a large store without holding every case in
    memory, use :func:`write_handoffs_json`, which gives the same JSON.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    with _planned(conn, scope, pathway) as (plan, passes):
        summary = _summary(conn, plan, passes)
        by_case = tuple(_case(row) for row in _case_rows(conn, plan, limit))
    return _record(scope, summary, by_case, passes)


_CHUNK = 2000
"""Cases encoded per write by :func:`write_handoffs_json`."""


def _number(value: float) -> str:
    """A float as ``json.dumps`` writes it."""
    return json.dumps(value)


def write_handoffs_json(
    conn: Any, scope: Scope, out: TextIO, pathway: Pathway | None = None
) -> None:
    """Write the handoffs report's JSON to ``out``, streaming ``by_case`` from the database.

    The text is exactly ``json.dumps(handoffs_report(...).to_json(), ensure_ascii=False)``, but
    memory stays flat however many cases the store holds: the cases are read in order from a
    cursor and encoded a chunk at a time.
    """
    with _planned(conn, scope, pathway) as (plan, passes):
        data = _record(scope, _summary(conn, plan, passes), (), passes).to_json()
        keys = list(data)
        split = keys.index("by_case")
        head = json.dumps({k: data[k] for k in keys[:split]}, ensure_ascii=False)
        tail = json.dumps({k: data[k] for k in keys[split + 1 :]}, ensure_ascii=False)
        out.write(head[:-1] + ', "by_case": [')
        names: dict[str, str] = {}  # each team name as a JSON string (there are few)
        chunk: list[str] = []
        first = True
        for row in _case_rows(conn, plan):
            cid, n, p, c, teams = row[:5]
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
            if len(row) == 5:
                extra = (
                    '"offers": null, "offers_declined": null, "interruptions": null, '
                    '"passes": null, "days_between_teams": null'
                )
            else:
                offers, declined, interruptions, passed, seconds = row[5:]
                extra = (
                    f'"offers": {offers or 0}, "offers_declined": {declined or 0}, '
                    f'"interruptions": {interruptions or 0}, "passes": {passed or 0}, '
                    f'"days_between_teams": {_number(days(seconds))}'
                )
            chunk.append(
                f'{{"case_id": {encode_basestring(cid)}, "handoffs": {n}, "ping_pongs": {p}, '
                f'"s75_crossings": {c}, "teams": {encoded}, {extra}}}'
            )
            if len(chunk) >= _CHUNK:
                out.write(("" if first else ", ") + ", ".join(chunk))
                chunk.clear()
                first = False
        if chunk:
            out.write(("" if first else ", ") + ", ".join(chunk))
        out.write("], " + tail[1:])
