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

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from ..flow import EpisodeRow, FlowState, HandoffRow
from ..timeutil import parse_instant
from .dialect import instant_us, is_postgres, stream
from .flowrows import FLOW_COLUMNS, flow_values

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
        f"SELECT case_id, seq, position, occurred_at, {_micros(conn)}, outcome, to_state, "
        "to_team, to_organisation, closes FROM events ORDER BY case_id, seq"
    )
    cases = f"SELECT id, {', '.join(CASE_FIELDS)} FROM cases ORDER BY id"
    episodes = (
        f"SELECT case_id, {', '.join(_EPISODE_FIELDS)} FROM closed_episodes ORDER BY case_id, n"
    )
    handoffs = f"SELECT case_id, {', '.join(_HANDOFF_FIELDS)} FROM handoffs ORDER BY case_id, n"
    periods = (
        "SELECT case_id, event_position, placement_id FROM placement_periods "
        "ORDER BY case_id, event_position"
    )
    return events, cases, episodes, handoffs, periods


def _micros(conn: Any) -> str:
    """The microseconds since 1970 of each event's ``occurred_at``, computed by SQLite (a third of
    the Python's cost), for the fixed-width UTC text the store writes; NULL for any other text,
    and always on PostgreSQL (whose cast would raise an error on a malformed one), where
    :class:`_Seconds` computes them."""
    if is_postgres(conn):
        return "NULL"
    return (
        "CASE WHEN length(occurred_at) = 32 AND substr(occurred_at, 20, 1) = '.' "
        f"AND substr(occurred_at, 27) = '+00:00' THEN {instant_us(conn, 'occurred_at')} END"
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
    """What the events of one case give, folded as they stream past."""

    __slots__ = (
        "applied", "case_id", "closed_at", "episodes", "first_at", "flow", "handoffs",
        "last_at", "last_seq", "organisation", "positions", "problem", "state", "team",
    )  # fmt: skip

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.flow = FlowState(case_id)
        self.episodes: list[tuple[Any, ...]] = []
        self.handoffs: list[tuple[Any, ...]] = []
        self.positions: set[int] = set()
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
        step = self.flow.step
        positions, episodes, handoffs = self.positions, self.episodes, self.handoffs
        due = applied = 0
        at_text = ""
        for (
            _cid,
            seq,
            position,
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
                    f"case {self.case_id}: event seq {seq} where {due} was due "
                    "(events of the case missing)"
                )
            if outcome != "applied":
                continue
            applied += 1
            positions.add(position)
            self.state = to_state
            self.team = to_team or ""
            self.organisation = to_org if to_org is not None else "unknown"
            self.closed_at = at_text if closes else None
            at = micros / 1_000_000 if micros is not None else seconds.of(at_text)
            closed, _opened, handoff = step(at, to_team, to_org, bool(closes))
            if closed is not None:
                episodes.append(_episode_values(closed))
            if handoff is not None:
                handoffs.append(_handoff_values(handoff))
        self.last_seq, self.last_at, self.applied = due, at_text, applied

    def expected_row(self) -> tuple[Any, ...]:
        return (
            self.state, self.team, self.organisation, self.applied, self.first_at,
            self.closed_at, self.last_seq, self.last_at, *flow_values(self.flow),
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
            for _cid, position, placement in period_rows.take(case.case_id):
                if position not in case.positions:
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
