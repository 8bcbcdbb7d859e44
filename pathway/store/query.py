"""Filtered, keyset-paginated queries of a store's cases and history (the same on both backends).

A query is a frozen attrs object (:class:`CaseQuery`, :class:`HistoryQuery`); a store's
``query_cases`` / ``query_history`` answers it with a :class:`Page`: at most ``limit`` items and
a ``next_cursor`` to pass as the next query's ``after`` (``None`` on the last page). Pages are
keyset pages, not offsets: each is one indexed range read however deep it is, and a case
changed or an event appended between two pages neither repeats nor skips the items already
passed.

Cursors:

* a history page's cursor is the last event's ``position`` (the whole store's history) or
  ``seq`` (one case's), as decimal text: a consumer following the store may keep it, and
  ``after="0"`` (or ``None``) starts at the beginning;
* a case page's cursor is opaque text (URL-safe): pass it back unchanged, with the same
  filters. Cases come in ``id`` order, or, when ``changed_since`` is given, in the order of
  their newest event's time and then ``id``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ..errors import CaseNotFound, InvalidRequest
from ..model import AuditEvent, Case
from ..timeutil import check_instant, format_instant
from .base import CASE_COLUMNS, EVENT_COLUMNS, case_from_row, event_from_row

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""The largest page a query may ask for."""

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a query's answer.

    ``items`` in the query's order; ``next_cursor`` is the ``after`` of the next page, or
    ``None`` when this page is the last.
    """

    items: tuple[T, ...]
    next_cursor: str | None


def _names(field: str, value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """One name or several, as a tuple (``None`` stays ``None``: no filter)."""
    if value is None:
        return None
    values = (value,) if isinstance(value, str) else tuple(value)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise InvalidRequest(f"{field}: give a name or a list of names (non-empty text)")
    return values


def _states(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    return _names("state", value)


def _teams(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    return _names("team", value)


def _organisations(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    return _names("organisation", value)


def _limit(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be a whole number from 1 to {MAX_LIMIT}, not {value!r}")


def _after(_instance: Any, _attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"after: a cursor is text (a page's next_cursor), not {value!r}")


def _since(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidRequest(f"changed_since: must be a datetime, not {value!r}")
    return check_instant(value, "changed_since")


def _open(_instance: Any, _attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"open: must be True, False or None (both), not {value!r}")


@attrs.frozen
class CaseQuery:
    """Which cases to list. Every filter given must hold (AND); a list of names is any of them.

    ``state``, ``team`` (the team holding the case) and ``organisation`` take a name or a
    sequence of names; ``open`` is ``True`` for open cases only, ``False`` for closed ones,
    ``None`` for both; ``changed_since`` keeps cases whose newest event (applied or refused)
    happened at or after that instant (business time, the events' ``occurred_at``; naive is
    UTC) and orders them by that time. ``after`` is the previous page's ``next_cursor``.
    """

    state: tuple[str, ...] | None = attrs.field(default=None, converter=_states)
    team: tuple[str, ...] | None = attrs.field(default=None, converter=_teams)
    organisation: tuple[str, ...] | None = attrs.field(default=None, converter=_organisations)
    open: bool | None = attrs.field(default=None, validator=_open)
    changed_since: datetime | None = attrs.field(default=None, converter=_since)
    limit: int = attrs.field(default=DEFAULT_LIMIT, validator=_limit)
    after: str | None = attrs.field(default=None, validator=_after)


@attrs.frozen
class HistoryQuery:
    """Which audit events to list, in order: one case's (``case_id``) by ``seq``, or the whole
    store's (``case_id=None``) by chain ``position``. ``after`` is the previous page's
    ``next_cursor``: the ``seq`` or ``position`` of the last event read, as decimal text."""

    case_id: str | None = None
    after: str | None = attrs.field(default=None, validator=_after)
    limit: int = attrs.field(default=DEFAULT_LIMIT, validator=_limit)


# --- cursors ------------------------------------------------------------------------------------

_BY_ID = "i"
_BY_CHANGE = "c"


def _encode(key: list[str]) -> str:
    text = json.dumps(key, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(cursor: str, kind: str, width: int) -> list[str]:
    bad = InvalidRequest(
        "after: not a cursor of this query (pass a page's next_cursor back unchanged, with the "
        "same filters)"
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    if (
        not isinstance(key, list)
        or len(key) != width + 1
        or key[0] != kind
        or not all(isinstance(part, str) for part in key)
    ):
        raise bad
    return key[1:]


def _position(cursor: str | None) -> int:
    if cursor is None:
        return 0
    text = cursor.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidRequest(
            f"after: a history cursor is a position or seq as decimal text, not {cursor!r}"
        )
    return int(text)


# --- the SQL, shared by both backends (sqlite3 placeholders) ------------------------------------

_CASE_SELECT = f"SELECT {', '.join(CASE_COLUMNS)}, last_at FROM cases"
_EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"


def _in(column: str, values: tuple[str, ...], where: list[str], params: list[Any]) -> None:
    if len(values) == 1:
        where.append(f"{column} = ?")
    else:
        where.append(f"{column} IN ({', '.join('?' * len(values))})")
    params.extend(values)


def _id_order(query: CaseQuery) -> str:
    """``ORDER BY`` for a page in ``id`` order. With one state or one team asked for, the same
    order is written with that column first (it is fixed, so the rows come in the same order):
    it names the index to read, so neither planner scans every case in ``id`` order, dropping
    those of other states or teams, to fill a page."""
    if query.team is not None and len(query.team) == 1 and query.open:
        return "team, id"  # the open cases of one team: cases_open_by_team_id
    if query.state is not None and len(query.state) == 1:
        return "state, id"
    if query.team is not None and len(query.team) == 1:
        return "team, id"
    return "id"


def case_page_sql(query: CaseQuery) -> tuple[str, list[Any]]:
    """The SELECT (and its parameters) of one page of ``query``, one row more than the page to
    tell whether another follows."""
    where: list[str] = []
    params: list[Any] = []
    if query.state is not None:
        _in("state", query.state, where, params)
    if query.team is not None:
        _in("team", query.team, where, params)
    if query.organisation is not None:
        _in("organisation", query.organisation, where, params)
    if query.open is not None:
        where.append("closed_at IS NULL" if query.open else "closed_at IS NOT NULL")
    if query.changed_since is not None:
        since = format_instant(query.changed_since)
        if query.after is None:
            where.append("last_at >= ?")
            params.append(since)
        else:
            # The range starts at the cursor (never before ``since``: the cursor came from a
            # page of this query), so the index is entered there, not at ``since``.
            last_at, last_id = _decode(query.after, _BY_CHANGE, 2)
            where.append("last_at >= ? AND (last_at > ? OR id > ?)")
            params.extend((max(since, last_at), last_at, last_id))
        order = "last_at, id"
    else:
        if query.after is not None:
            (last_id,) = _decode(query.after, _BY_ID, 1)
            where.append("id > ?")
            params.append(last_id)
        order = _id_order(query)
    sql = _CASE_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} LIMIT ?"
    params.append(query.limit + 1)
    return sql, params


def read_case_page(conn: Any, query: CaseQuery) -> Page[Case]:
    """One page of cases (see :class:`CaseQuery`), read on ``conn``."""
    sql, params = case_page_sql(query)
    rows = conn.execute(sql, params).fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    width = len(CASE_COLUMNS)
    items = tuple(case_from_row(row[:width]) for row in rows)
    cursor = None
    if more:
        last = rows[-1]
        if query.changed_since is not None:
            cursor = _encode([_BY_CHANGE, str(last[width]), str(last[0])])
        else:
            cursor = _encode([_BY_ID, str(last[0])])
    return Page(items, cursor)


def read_history_page(conn: Any, query: HistoryQuery) -> Page[AuditEvent]:
    """One page of history (see :class:`HistoryQuery`), read on ``conn``; ``CaseNotFound`` for
    a case the store does not have."""
    after = _position(query.after)
    if query.case_id is None:
        sql = _EVENT_SELECT + " WHERE position > ? ORDER BY position LIMIT ?"
        params: tuple[Any, ...] = (after, query.limit + 1)
    else:
        sql = _EVENT_SELECT + " WHERE case_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        params = (query.case_id, after, query.limit + 1)
    rows = conn.execute(sql, params).fetchall()
    if (
        not rows
        and query.case_id is not None
        and conn.execute("SELECT 1 FROM cases WHERE id = ?", (query.case_id,)).fetchone() is None
    ):
        raise CaseNotFound(query.case_id)
    more = len(rows) > query.limit
    events = tuple(event_from_row(row) for row in rows[: query.limit])
    cursor = None
    if more:
        last = events[-1]
        cursor = str(last.seq if query.case_id is not None else last.position)
    return Page(events, cursor)


QUERY_INDEXES_SQL = """
CREATE INDEX IF NOT EXISTS cases_by_state ON cases (state, id);
CREATE INDEX IF NOT EXISTS cases_by_team ON cases (team, id);
CREATE INDEX IF NOT EXISTS cases_by_change ON cases (last_at, id);
CREATE INDEX IF NOT EXISTS cases_open ON cases (id) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS cases_open_by_team_id ON cases (team, id) WHERE closed_at IS NULL;
"""
"""The indexes the case queries read pages from (the same text on both backends): by state and
by holding team in ``id`` order, by newest event time (``changed_since``), and the open cases in
``id`` order, all and by team (a team's open cases stay few as its closed ones pile up). History pages read the events' primary key (position) and ``UNIQUE (case_id,
seq)``, which every store has."""


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CaseQuery",
    "HistoryQuery",
    "Page",
    "read_case_page",
    "read_history_page",
]
