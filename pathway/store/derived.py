"""Check that every case row and every derived row is exactly what the audit events give.

The hash chain covers the events only. The reports read other rows: each case's row (its state,
team, version and the flow columns: handoffs, ping-pongs, crossings, the open episode...), the
``closed_episodes`` and the ``handoffs``. Those are written beside each event by the same fold
(:class:`pathway.flow.FlowState`), so they can be rebuilt from the events and compared: an edited
counter, a deleted or inserted episode or handoff, a case whose events are gone, a derived row
whose case has none, are each named with the case and what differs.

One streaming pass over the events in case order (``ORDER BY case_id, seq``: the
``UNIQUE (case_id, seq)`` index) merged with the case rows, the closed episodes and the handoffs,
each read in the same case order: memory holds one case at a time. Run inside one read snapshot
with the chain pass (see :func:`pathway.store.common.verify_chain`), so a writer committing
meanwhile cannot make the two disagree.

What is not rebuilt: a case's ``worker``, ``attributes``, ``return_stack`` and
``state_entered_at`` (the engine's rules decide them, not the events' columns alone), and the
values of placement periods (the placement rules decide them); each placement period must still
name an applied event of its own case.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from ..flow import TEAM_SEPARATOR, EpisodeRow, HandoffRow
from ..timeutil import parse_instant
from .dialect import instant_us, is_postgres, stream
from .flowrows import FLOW_COLUMNS

MAX_PROBLEMS = 10
"""Problems reported before the check stops (the first ones are what a person acts on)."""

CASE_FIELDS = (
    "state", "team", "organisation", "version", "opened_at", "closed_at", "last_seq", "last_at",
    *FLOW_COLUMNS,
)  # fmt: skip
"""The case row's columns rebuilt from its events, in the order compared."""

_EPISODE_FIELDS = ("n", "team", "organisation", "start_at", "end_at", "seconds")
_HANDOFF_FIELDS = (
    "n", "at", "from_team", "to_team", "from_organisation", "to_organisation", "crossing",
    "ping_pong",
)  # fmt: skip


class _Found(Exception):
    """Raised to stop the pass once enough problems are found."""


class _Merge:
    """One table's rows in case order, taken case by case beside the events (grouped by case in
    C, by ``itertools.groupby``: this runs for every derived row of the store)."""

    def __init__(self, rows: Iterable[Sequence[Any]], table: str, report: Callable[[str], None]):
        self._groups = groupby(rows, itemgetter(0))
        self._table = table
        self._report = report
        self._case: str | None = None
        self._rows: Iterator[Sequence[Any]] = iter(())
        self._advance()

    def _advance(self) -> None:
        self._case, self._rows = next(self._groups, (None, iter(())))

    def take(self, case_id: str | None) -> list[Sequence[Any]]:
        """The rows of ``case_id``; rows of cases before it (which have no events) are problems.
        ``None``: the end of the events, every remaining row is one."""
        while self._case is not None and (case_id is None or self._case < case_id):
            self._orphan(self._case)
        if self._case is None or self._case != case_id:
            return []
        taken = list(self._rows)
        self._advance()
        return taken

    def _orphan(self, case_id: str) -> None:
        count = sum(1 for _row in self._rows)
        self._advance()
        what = "its case row is" if self._table == "cases" else f"{count} {self._table} row(s) are"
        self._report(
            f"case {case_id} has no events: {what} in the store without the audit trail behind them"
        )


def _queries(conn: Any) -> tuple[str, str, str, str, str]:
    events = (
        f"SELECT case_id, seq, occurred_at, {_micros(conn)}, outcome, to_state, "
        "to_team, to_organisation, closes FROM events ORDER BY case_id, seq"
    )
    cases = f"SELECT id, {', '.join(CASE_FIELDS)} FROM cases ORDER BY id"
    episodes = (
        f"SELECT case_id, {', '.join(_EPISODE_FIELDS)} FROM closed_episodes ORDER BY case_id, n"
    )
    handoffs = f"SELECT case_id, {', '.join(_HANDOFF_FIELDS)} FROM handoffs ORDER BY case_id, n"
    periods = (
        "SELECT p.case_id, p.event_position, p.placement_id, EXISTS (SELECT 1 FROM events AS e "
        "WHERE e.position = p.event_position AND e.case_id = p.case_id "
        "AND e.outcome = 'applied') FROM placement_periods AS p "
        "ORDER BY p.case_id, p.event_position"
    )
    return events, cases, episodes, handoffs, periods


def _micros(conn: Any) -> str:
    """The microseconds since 1970 of each event's ``occurred_at``, computed by SQLite (a third of
    the Python's cost), for the fixed-width UTC text the store writes; NULL for any other text,
    and always on PostgreSQL (whose cast would raise an error on a malformed one), where
    :class:`_Seconds` computes them. SQLite 3.38 and later has ``unixepoch``, half the cost of
    ``strftime('%s', ...)`` (the same seconds: both are SQLite's one date parser)."""
    if is_postgres(conn):
        return "NULL"
    seconds = (
        "unixepoch(substr(occurred_at, 1, 19)) * 1000000 + CAST(substr(occurred_at, 21, 6) AS INTEGER)"
        if sqlite3.sqlite_version_info >= (3, 38)
        else instant_us(conn, "occurred_at")
    )
    return (
        "CASE WHEN length(occurred_at) = 32 AND substr(occurred_at, 20, 1) = '.' "
        f"AND substr(occurred_at, 27) = '+00:00' THEN {seconds} END"
    )


class _Seconds(dict[str, int]):
    """POSIX seconds of stored instants, exactly as ``datetime.timestamp()`` gives them (the
    fold's times), without parsing each: a stored instant is fixed-width UTC text
    (``2026-01-05T09:00:00.000000+00:00``), so its hour's microseconds are looked up once and
    the minutes, seconds and microseconds added as integers, then divided as ``timestamp()``
    does. Any other text is parsed in full."""

    def __missing__(self, hour: str) -> int:
        micros = int(parse_instant(hour + ":00:00+00:00").timestamp()) * 1_000_000
        if len(self) >= 100_000:
            self.clear()  # bounded memory (about 11 years of hours)
        self[hour] = micros
        return micros

    def of(self, text: str) -> float:
        if len(text) != 32 or not text.endswith("+00:00") or text[19] != ".":
            return parse_instant(text).timestamp()
        micros = self[text[:13]] + int(text[14:16]) * 60_000_000 + int(text[17:19]) * 1_000_000
        return (micros + int(text[20:26])) / 1_000_000


def _show(value: Any) -> str:
    return "NULL" if value is None else repr(value)


def _episode_values(episode: EpisodeRow) -> tuple[Any, ...]:
    assert episode.end is not None
    return (
        episode.case_id, episode.n, episode.team, episode.organisation, episode.start, episode.end,
        episode.end - episode.start,
    )  # fmt: skip


def _handoff_values(handoff: HandoffRow) -> tuple[Any, ...]:
    return (
        handoff.case_id, handoff.n, handoff.at, handoff.from_team, handoff.to_team, handoff.from_organisation,
        handoff.to_organisation, int(handoff.crossing), int(handoff.ping_pong),
    )  # fmt: skip


def _compare_rows(
    case_id: str,
    table: str,
    fields: Sequence[str],
    stored: list[Sequence[Any]],
    expected: list[tuple[Any, ...]],
) -> str | None:
    """The first difference between a case's stored rows of ``table`` and the rebuilt ones
    (each a tuple of the row's columns, the case's id first)."""
    if stored == expected:  # the rows as read (tuples) are what the events give
        return None
    count = (
        f"{len(stored)} {table} row(s) stored, its events give {len(expected)}"
        if len(stored) != len(expected)
        else ""
    )
    for index, (row, want) in enumerate(zip(stored, expected, strict=False)):
        have, want = tuple(row[1:]), want[1:]
        if have != want:
            diffs = ", ".join(
                f"{f} {_show(h)} (events give {_show(w)})"
                for f, h, w in zip(fields, have, want, strict=True)
                if h != w
            )
            return f"case {case_id}: {count + '; ' if count else ''}{table} row {index + 1} differs: {diffs}"
    return f"case {case_id}: {count}" if count else None


class _Case:
    """What the events of one case give, folded as they stream past.

    The fold is :meth:`pathway.flow.FlowState.step` written out over local variables (it runs
    for every event of the store; ``step`` and its row objects were half of this pass's time),
    giving each closed episode and handoff straight as the tuple its table row is read as.
    ``tests/test_verify_derived.py`` holds it equal to ``FlowState.step`` on random event
    sequences: a difference would fail ``verify`` on every store the writers' fold wrote."""

    __slots__ = (
        "applied", "case_id", "closed_at", "episodes", "first_at", "flow", "handoffs",
        "last_at", "last_seq", "organisation", "problem", "state", "team",
    )  # fmt: skip

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.flow: tuple[Any, ...] = ()
        self.episodes: list[tuple[Any, ...]] = []
        self.handoffs: list[tuple[Any, ...]] = []
        self.applied = 0
        self.last_seq = 0
        self.first_at = self.last_at = ""
        self.state: str | None = None
        self.team = self.organisation = ""
        self.closed_at: str | None = None
        self.problem: str | None = None

    def fold(self, rows: Iterable[Sequence[Any]], seconds: _Seconds) -> None:
        """Fold the case's events (rows of the events query, in ``seq`` order), with local
        variables: this loop runs once for every event of the store."""
        case_id = self.case_id
        episodes, handoffs = self.episodes, self.handoffs
        add_episode, add_handoff = episodes.append, handoffs.append
        due = applied = 0
        at_text = ""
        state: str | None = None
        closed_at: str | None = None
        team: str | None = None
        organisation: str | None = None
        # FlowState's fields, and its open episode's (n, team, organisation, start)
        first_at: float | None = None
        first_team: str | None = None
        first_team_at: float | None = None
        last_team: str | None = None
        last_org: str | None = None
        prev_team: str | None = None
        n_handoffs = episode_n = ping_pongs = crossings = 0
        teams = ""
        open_n: int | None = None
        open_team: str | None = None
        open_org: str | None = None
        open_start = 0.0
        for (
            _cid,
            seq,
            at_text,
            micros,
            outcome,
            to_state,
            to_team,
            to_org,
            closes,
        ) in rows:
            due += 1
            if due == 1:
                self.first_at = at_text
            if seq != due and self.problem is None:
                self.problem = (
                    f"case {case_id}: event seq {seq} where {due} was due "
                    "(events of the case missing)"
                )
            if outcome != "applied":
                continue
            applied += 1
            state, team, organisation = to_state, to_team, to_org
            closed_at = at_text if closes else None
            at = micros / 1_000_000 if micros is not None else seconds.of(at_text)
            if first_at is None:
                first_at = at
            if open_n is not None and (closes or open_team != to_team):
                add_episode((case_id, open_n, open_team, open_org, open_start, at, at - open_start))
                open_n = None
            if not closes and open_n is None:
                episode_n += 1
                open_n, open_team, open_start = episode_n, to_team, at
                open_org = to_org if to_team else None
            if to_team is not None:
                if last_team is None:
                    first_team, first_team_at, teams = to_team, at, to_team
                elif to_team != last_team:
                    n_handoffs += 1
                    crossing = last_org != to_org
                    ping_pong = to_team == prev_team
                    add_handoff(
                        (case_id, n_handoffs, at, last_team, to_team, last_org, to_org,
                         int(crossing), int(ping_pong))
                    )  # fmt: skip
                    prev_team = last_team
                    ping_pongs += ping_pong
                    crossings += crossing
                    teams += TEAM_SEPARATOR + to_team
                last_team, last_org = to_team, to_org
        self.last_seq, self.last_at, self.applied = due, at_text, applied
        if applied:
            self.state, self.closed_at = state, closed_at
            self.team = team or ""
            self.organisation = organisation if organisation is not None else "unknown"
        self.flow = (
            first_at, first_team, first_team_at, last_team, last_org, prev_team, n_handoffs,
            episode_n, open_n,
            open_team if open_n is not None else None,
            open_org if open_n is not None else None,
            open_start if open_n is not None else None,
            ping_pongs, crossings, teams,
        )  # fmt: skip

    def expected_row(self) -> tuple[Any, ...]:
        return (
            self.state, self.team, self.organisation, self.applied, self.first_at,
            self.closed_at, self.last_seq, self.last_at, *self.flow,
        )  # fmt: skip


def _compare_case(built: _Case, row: Sequence[Any]) -> str | None:
    have = tuple(row[1:])
    want = built.expected_row()
    if have == want:
        return None
    diffs = [
        f"{f} {_show(h)} (its events give {_show(w)})"
        for f, h, w in zip(CASE_FIELDS, have, want, strict=True)
        if h != w
    ]
    return f"case {built.case_id}: its row differs from its events: {'; '.join(diffs)}"


def check_derived(conn: Any, limit: int = MAX_PROBLEMS) -> tuple[int, list[str]]:
    """Rebuild every case row, closed episode and handoff from the events and compare.

    ``conn`` must be inside a read snapshot (several cursors stream at once). Returns how many
    cases the events hold and the first problems found (at most ``limit``; none: all agree).
    """
    problems: list[str] = []

    def report(text: str) -> None:
        problems.append(text)
        if len(problems) >= limit:
            raise _Found

    events, cases, episodes, handoffs, periods = _queries(conn)
    counted = 0
    opened: list[Iterable[Sequence[Any]]] = []

    def rows(query: str) -> Iterable[Sequence[Any]]:
        opened.append(stream(conn, query))
        return opened[-1]

    try:
        case_rows = _Merge(rows(cases), "cases", report)
        episode_rows = _Merge(rows(episodes), "closed_episodes", report)
        handoff_rows = _Merge(rows(handoffs), "handoffs", report)
        period_rows = _Merge(rows(periods), "placement_periods", report)

        def finish(case: _Case) -> None:
            if case.problem is not None:
                report(case.problem)
            found = case_rows.take(case.case_id)
            if not found:
                report(f"case {case.case_id} has {case.last_seq} event(s) but no case row")
            else:
                differs = _compare_case(case, found[0])
                if differs is not None:
                    report(differs)
            for table, fields, merge, expected in (
                ("closed_episodes", _EPISODE_FIELDS, episode_rows, case.episodes),
                ("handoffs", _HANDOFF_FIELDS, handoff_rows, case.handoffs),
            ):
                differs = _compare_rows(
                    case.case_id, table, fields, merge.take(case.case_id), expected
                )
                if differs is not None:
                    report(differs)
            for _cid, position, placement, from_applied in period_rows.take(case.case_id):
                if not from_applied:
                    report(
                        f"case {case.case_id}: placement {placement} has a period from event "
                        f"position {position}, which is not an applied event of the case"
                    )

        seconds = _Seconds()
        for case_id, case_events in groupby(rows(events), itemgetter(0)):
            counted += 1
            built = _Case(case_id)
            built.fold(case_events, seconds)
            finish(built)
        for merge in (case_rows, episode_rows, handoff_rows, period_rows):
            merge.take(None)
    except _Found:
        pass
    finally:
        for opened_rows in opened:  # a server-side cursor closes before the snapshot ends
            close = getattr(opened_rows, "close", None)
            if close is not None:
                close()
    return counted, problems
