"""What the SQL backends share: the statements, the three whole write operations, the reads.

Both backends keep the same tables with the same columns, and their SQL is written once here with
``?`` placeholders: the SQLite store runs it as is, the PostgreSQL store through a connection
adapter that turns ``?`` and ``:name`` into psycopg's placeholders
(:mod:`pathway.store.pgconn`). What differs is small and lives in each backend: how a case row is
read for writing (PostgreSQL locks it), how the chain head is found and locked (SQLite reads the
newest event under its database-wide write lock; PostgreSQL locks a one-row ``chain_head``), and
which exception means "this key is already taken".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from hashlib import sha256
from json.encoder import encode_basestring
from typing import Any, Protocol, cast

import attrs

from ..audit import _PAYLOAD_TEMPLATE, Checkpoint, VerifyResult, verify_links
from ..canonical import GENESIS_HASH, canonical_json
from ..errors import CaseExists, CaseNotFound, ConcurrencyConflict, StoreError
from ..flow import FlowState
from ..model import AuditEvent, Case, Person
from ..periods import PlacementChange
from ..sealing import seal
from ..serialize import from_dict, to_dict
from ..timeutil import format_instant, parse_instant
from . import flowrows, placementrows
from .base import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    IdempotencyRecord,
    NewEvent,
    case_from_row,
    case_to_row,
    chain_event,
    event_from_row,
    row_links,
)
from .derived import check_derived
from .dialect import begin_snapshot, stream
from .flowrows import FLOW_COLUMNS, flow_from_values, flow_values
from .privacyrows import check_free_text, read_history_texts, write_free_text

# --- schema shared by both SQL stores (each store's MIGRATIONS names them) ----------------------

API_TOKENS_SQL = """
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    worker TEXT NOT NULL,
    team TEXT NOT NULL,
    roles TEXT NOT NULL,
    label TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    revoked_by TEXT
);
"""
"""Schema version 7: the API tokens of the HTTP service (``pathway serve``), each bound to a
worker, a team and roles. Only a SHA-256 digest of the secret is kept, so a copy of the store
gives no one a usable token; a revoked token keeps its row (who revoked it, when) and is refused."""

DERIVED_BY_CASE_SQL = """
CREATE INDEX IF NOT EXISTS closed_episodes_by_case ON closed_episodes (case_id, n);
CREATE INDEX IF NOT EXISTS handoffs_by_case ON handoffs (case_id, n);
"""
"""Schema version 8: each case's closed episodes and handoffs indexed in fold order,
``(case_id, n)``. ``audit verify`` rebuilds the derived rows from the events case by case and
reads the stored ones beside them in that order (``ORDER BY case_id, n``): with these indexes
that is an ordered scan instead of a sort of every row of both tables. The writers insert each
case's rows in ``n`` order, so the indexes grow at their ends for imports and cost one small
insert for a fire."""


class Cursor(Protocol):
    """What the shared code needs of a cursor (sqlite3's and psycopg's both have it)."""

    rowcount: int

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection that takes ``?`` / ``:name`` placeholders (sqlite3's, or the psycopg adapter)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any:
        """Run one statement; a cursor over its rows."""
        ...

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        """Run one statement for each set of parameters."""
        ...


BOOK_COLUMNS = ("last_seq", "last_at", *FLOW_COLUMNS)
"""Bookkeeping kept in each case's row beside the case: its newest event and its flow state."""

CASE_SELECT = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"
CASE_SELECT_BOOKED = f"SELECT {', '.join((*CASE_COLUMNS, *BOOK_COLUMNS))} FROM cases WHERE id = ?"
EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
EVENT_INSERT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
CASE_INSERT = (
    f"INSERT INTO cases ({', '.join((*CASE_COLUMNS, *BOOK_COLUMNS))}) "
    f"VALUES ({', '.join('?' * (len(CASE_COLUMNS) + len(BOOK_COLUMNS)))})"
)
CASE_UPDATE = (
    "UPDATE cases SET "
    + ", ".join(f"{c} = ?" for c in (*CASE_COLUMNS[1:], *BOOK_COLUMNS))
    + " WHERE id = ? AND version = ?"
)
HEAD_UPDATE = "UPDATE cases SET last_seq = ?, last_at = ? WHERE id = ?"
NEWEST_EVENT = "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
PERSON_UPSERT = (
    "INSERT INTO people (case_id, name, date_of_birth, nhs_number) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (case_id) DO UPDATE SET name = excluded.name, "
    "date_of_birth = excluded.date_of_birth, nhs_number = excluded.nhs_number"
)
META_UPSERT = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

VIEWS_SQL = """
CREATE VIEW case_flow AS
    SELECT id AS case_id, first_at, first_team, first_team_at, last_team, last_organisation,
           prev_team, handoffs, episode_n, open_n, open_team, open_organisation, open_start,
           ping_pongs, crossings, team_sequence, last_seq, last_at
      FROM cases;
CREATE VIEW episodes AS
    SELECT case_id, n, team, organisation, start_at, end_at FROM closed_episodes
    UNION ALL
    SELECT id, open_n, open_team, open_organisation, open_start, NULL
      FROM cases WHERE open_n IS NOT NULL;
"""
"""The views the reports read, the same text on both backends."""

STORE_TABLES = (
    "meta", "cases", "events", "closed_episodes", "handoffs", "placement_periods", "people",
    "idempotency", "free_text", "redactions",
)  # fmt: skip
"""Every table of a store, in an order that copies cleanly (see :mod:`pathway.migrate`)."""


@attrs.define
class Books:
    """What the transaction read about a case besides the case itself."""

    last_seq: int
    last_at: str
    flow: FlowState


class SqlTransaction:
    """One write transaction on a SQL store: the three whole write operations, written once.

    Each operation writes the case row (with its bookkeeping), the reports' derived rows and the
    audit event, in that order: the case row first, so a stale version is found before anything
    else is written, and the event last, so a backend that serialises appends on a chain head
    holds that lock for as short a time as it can.
    """

    load_sql = CASE_SELECT_BOOKED

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._books: dict[str, Books] = {}

    @property
    def connection(self) -> Any:
        """The connection this transaction runs on (for bulk work such as an import)."""
        return self._conn

    # --- what a backend provides ------------------------------------------------------------

    def chain_head(self) -> tuple[int, str]:
        """The newest event's position and hash, held until commit so no one else appends."""
        head = self._conn.execute(NEWEST_EVENT).fetchone()
        return (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)

    def set_chain_head(self, position: int, digest: str) -> None:
        """Record a new chain head after events were appended in bulk (a no-op by default)."""

    def _append(self, row: tuple[Any, ...]) -> None:
        """Insert one chained event row (a backend may also move its chain head here)."""
        self._conn.execute(EVENT_INSERT, row)

    def _is_duplicate(self, exc: Exception) -> bool:
        """Whether ``exc`` is this backend's unique-key violation."""
        raise NotImplementedError

    # --- reads inside the transaction ---------------------------------------------------------

    def load_case(self, case_id: str) -> Case:
        row = self._conn.execute(self.load_sql, (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        width = len(CASE_COLUMNS)
        self._books[case_id] = Books(
            row[width], row[width + 1], flow_from_values(case_id, row[width + 2 :])
        )
        return case_from_row(row[:width])

    def case_exists(self, case_id: str) -> bool:
        found = self._conn.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone()
        return found is not None

    def last_event_at(self, case_id: str) -> datetime:
        """When the newest event of a loaded case happened (business time)."""
        return parse_instant(self._loaded(case_id).last_at)

    def _loaded(self, case_id: str) -> Books:
        books = self._books.get(case_id)
        if books is None:
            raise StoreError(f"case {case_id} was not loaded in this transaction")
        return books

    # --- the three whole writes ---------------------------------------------------------------

    def _record_event(self, event: NewEvent, seq: int) -> AuditEvent:
        """Seal the event's free text (:mod:`pathway.sealing`), chain the event with the
        commitments in its place, keep the texts in ``free_text``; the event as recorded, with
        its text (and the commitments in ``sealed``)."""
        if event.note is None and not event.free_text:
            return self._insert_event(event, seq)
        note, data, texts = seal(event.note, event.data, event.free_text)
        if not texts:
            return self._insert_event(event, seq)
        chained = self._insert_event(attrs.evolve(event, note=note, data=data), seq)
        write_free_text(self._conn, chained.position, event.case_id, texts)
        return attrs.evolve(
            chained,
            note=event.note,
            data=dict(event.data),
            sealed={t.field: t.commitment for t in texts},
        )

    def _insert_event(self, event: NewEvent, seq: int) -> AuditEvent:
        position, prev_hash = self.chain_head()
        chained, row = chain_event(event, seq, position + 1, prev_hash)
        self._append(row)
        return chained

    def _fold(self, flow: FlowState, event: NewEvent) -> list[tuple[str, tuple[Any, ...]]]:
        """Step the case's flow state with an applied event; the derived rows (closed episode,
        handoff) to insert with the case row, as (statement, values)."""
        closed, _opened, handoff = flow.step(
            event.occurred_at.timestamp(), event.to_team, event.to_organisation, event.closes
        )
        return flowrows.step_rows(closed, handoff)

    def _write_case(
        self, statement: str, values: tuple[Any, ...], derived: list[tuple[str, tuple[Any, ...]]]
    ) -> int:
        """Insert the derived rows, then run the case row's INSERT or versioned UPDATE; its row
        count. (A backend may send them as one statement.)"""
        for insert, row in derived:
            self._conn.execute(insert, row)
        return int(self._conn.execute(statement, values).rowcount)

    def open_case(self, case: Case, event: NewEvent) -> AuditEvent:
        """Insert a new case with its opening event (sequence 1)."""
        if self.case_exists(case.id):
            raise CaseExists(case.id)
        flow = FlowState(case.id)
        derived = self._fold(flow, event)
        books = (1, format_instant(event.occurred_at), *flow_values(flow))
        try:
            self._write_case(CASE_INSERT, (*case_to_row(case), *books), derived)
        except Exception as exc:
            if self._is_duplicate(exc):
                raise CaseExists(case.id) from None
            raise
        return self._record_event(event, 1)

    def apply_transition(
        self,
        case: Case,
        expected_version: int,
        event: NewEvent,
        placement: PlacementChange | None = None,
    ) -> AuditEvent:
        """Record an applied transition: the case, the derived rows and its event, or none.

        A placement step's periods are written after its event, which they name by position.
        """
        books = self._loaded(case.id)
        seq = books.last_seq + 1
        at_text = format_instant(event.occurred_at)
        derived = self._fold(books.flow, event)
        values = (
            *case_to_row(case)[1:], seq, at_text, *flow_values(books.flow), case.id,
            expected_version,
        )  # fmt: skip
        if self._write_case(CASE_UPDATE, values, derived) != 1:
            actual = self._conn.execute(
                "SELECT version FROM cases WHERE id = ?", (case.id,)
            ).fetchone()
            if actual is None:
                raise CaseNotFound(case.id)
            raise ConcurrencyConflict(case.id, expected_version, actual[0])
        chained = self._record_event(event, seq)
        if placement is not None:
            placementrows.write_placement(
                self._conn, placement, event.occurred_at.timestamp(), chained.position
            )
        books.last_seq, books.last_at = seq, at_text
        return chained

    def record_refusal(self, case: Case, event: NewEvent) -> AuditEvent:
        """Record a refused transition: its event only (the case does not change)."""
        books = self._loaded(case.id)
        seq = books.last_seq + 1
        at_text = format_instant(event.occurred_at)
        self._conn.execute(HEAD_UPDATE, (seq, at_text, case.id))
        chained = self._record_event(event, seq)
        books.last_seq, books.last_at = seq, at_text
        return chained

    # --- people and idempotency ---------------------------------------------------------------

    def save_person(self, case_id: str, person: Person) -> None:
        self._conn.execute(
            PERSON_UPSERT, (case_id, person.name, person.date_of_birth, person.nhs_number)
        )

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        return read_idempotency(self._conn, key)

    def save_idempotency(self, record: IdempotencyRecord) -> None:
        result = {
            "case": to_dict(record.case) if record.case is not None else None,
            "reasons": list(record.reasons),
        }
        fingerprint = (
            canonical_json(dict(record.fingerprint)) if record.fingerprint is not None else None
        )
        self._conn.execute(
            "INSERT INTO idempotency (key, case_id, trigger, outcome, result, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.key, record.case_id, record.trigger, record.outcome, json.dumps(result),
                fingerprint,
            ),
        )  # fmt: skip


# --- reads shared by the SQL stores ----------------------------------------------------------


def read_case(conn: Any, case_id: str) -> Case:
    """The case from its row (``CaseNotFound`` if there is none)."""
    row = conn.execute(CASE_SELECT + " WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise CaseNotFound(case_id)
    return case_from_row(row)


def read_history(conn: Any, case_id: str) -> list[AuditEvent]:
    """The case's events by ``seq`` (``CaseNotFound`` for an unknown case)."""
    rows = conn.execute(EVENT_SELECT + " WHERE case_id = ? ORDER BY seq", (case_id,)).fetchall()
    events = [event_from_row(r) for r in rows]
    if events:
        events = read_history_texts(conn, case_id, events)
    if (
        not events
        and conn.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone() is None
    ):
        raise CaseNotFound(case_id)
    return events


def read_idempotency(conn: Any, key: str) -> IdempotencyRecord | None:
    """The record of the call first made with ``key``, or None if the key is unused."""
    row = conn.execute(
        "SELECT key, case_id, trigger, outcome, result, fingerprint FROM idempotency WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        return None
    result = json.loads(row[4])
    case = from_dict(Case, result["case"]) if result.get("case") else None
    fingerprint = json.loads(row[5]) if row[5] is not None else None
    return IdempotencyRecord(
        row[0], row[1], row[2], row[3], case, tuple(result["reasons"]), fingerprint
    )


def read_person(conn: Any, case_id: str) -> Person | None:
    """The case's personal details, or None."""
    row = conn.execute(
        "SELECT name, date_of_birth, nhs_number FROM people WHERE case_id = ?", (case_id,)
    ).fetchone()
    return Person(*row) if row else None


def verify_chain(store: Any, against: Checkpoint | None = None) -> VerifyResult:
    """Recompute a store's hash chain from its stored rows, in position order; with a
    checkpoint, check that the head it names is still there; then rebuild every case row and
    derived row from the events and compare (:func:`pathway.store.derived.check_derived`).

    Both passes stream (flat memory on both backends) inside one read snapshot of the store's
    connection, so a writer committing meanwhile cannot make them disagree.
    """
    conn = store.connection
    by_position = EVENT_SELECT + " ORDER BY position"
    with read_snapshot(conn):
        first = stream(conn, by_position)
        try:
            chain = _chain_holds(first, against)
        finally:  # a server-side cursor left open by an early return closes before the next read
            close = getattr(first, "close", None)
            if close is not None:
                close()
        if chain is None:  # read again, for verify_links to name the first event that fails
            rows = cast("Iterator[tuple[Any, ...]]", stream(conn, by_position))
            chain = verify_links(row_links(rows), against)
        if not chain.ok:
            return attrs.evolve(chain, problems=(chain.problem or "",))
        cases, problems = check_derived(conn)
        texts = check_free_text(conn)
    chain = attrs.evolve(
        chain, cases=cases, texts=texts.held, redacted=texts.redacted,
        redacted_cases=texts.redacted_cases, redactions=texts.redactions,
    )  # fmt: skip
    if problems or texts.problems:
        found = (*problems, *texts.problems)
        return attrs.evolve(chain, ok=False, derived=not problems, problem=found[0], problems=found)
    return attrs.evolve(chain, derived=True)


class _JsonTexts(dict[Any, str]):
    """Each value's JSON text, encoded the first time it is asked for and looked up after (in
    C): most columns of the events repeat their values (states, teams, organisations, actors,
    triggers, the pathway). ``nullable``: ``None`` is ``null`` (``audit._text``); else it is
    refused as ``encode_basestring`` refuses it. Bounded: cleared when it grows large."""

    def __init__(self, nullable: bool) -> None:
        super().__init__()
        self._nullable = nullable

    def __missing__(self, value: Any) -> str:
        text = "null" if value is None and self._nullable else encode_basestring(value)
        if len(self) >= 50_000:
            self.clear()
        self[value] = text
        return text


def _chain_holds(rows: Iterable[Sequence[Any]], against: Checkpoint | None) -> VerifyResult | None:
    """The chain's result if every row holds, else ``None`` (then :func:`audit.verify_links`
    reads the rows again to say which event fails, and how).

    The same checks as ``verify_links`` (positions 1, 2, 3... with no gap, each ``prev_hash``
    the hash before it, each hash recomputed from the row's stored text, the checkpoint's head
    present and equal), in one loop over the rows as read: no link object, no call per check.
    It runs over every event of the store, and is most of the time ``audit verify`` takes.

    The hashed text is ``store.base.row_payload_json(row)``, written out here with each
    repeating column's JSON text looked up (:class:`_JsonTexts`) instead of encoded again
    (``tests/test_verify_fast_paths.py`` holds the two equal). A row whose text differs in any
    way fails its hash, and the reference then decides. (The position in the text is
    ``expected``, which the row's position has just been found equal to.)
    """
    expected, prev = 1, GENESIS_HASH
    checkpoint = against.position if against is not None else 0
    template = _PAYLOAD_TEMPLATE
    quote = encode_basestring
    text, name = _JsonTexts(nullable=True), _JsonTexts(nullable=False)
    for row in rows:
        digest = row[25]
        if row[0] != expected or row[24] != prev:
            return None
        payload = template % (
            name[row[13]], row[15], name[row[14]], quote(row[2]), "true" if row[23] else "false",
            row[21], quote(row[1]), text[row[11]], text[row[7]], text[row[9]],
            "true" if row[22] else "false", text[row[20]], quote(row[4]), name[row[16]],
            name[row[17]], name[row[18]], expected, quote(row[24]), row[19], name[row[5]],
            int(row[3]), text[row[12]], text[row[8]], text[row[10]], name[row[6]],
        )  # fmt: skip
        if sha256((prev + payload).encode("utf-8")).hexdigest() != digest or (
            expected == checkpoint and against is not None and digest != against.hash
        ):
            return None
        prev = digest
        expected += 1
    if checkpoint >= expected:  # the chain ends before the checkpoint's head: truncated
        return None
    return VerifyResult(True, expected - 1, Checkpoint(expected - 1, prev))


@contextmanager
def read_snapshot(conn: Any) -> Iterator[None]:
    """Read in one transaction that sees one moment of the store (or in the caller's, if one
    is open), and write nothing."""
    if conn.in_transaction:
        yield
        return
    conn.execute(begin_snapshot(conn))
    try:
        yield
    finally:
        conn.execute("ROLLBACK")


def read_checkpoint(conn: Any) -> Checkpoint:
    """The current head of the chain (position 0 and the genesis hash when empty)."""
    row = conn.execute(NEWEST_EVENT).fetchone()
    return Checkpoint(int(row[0]), str(row[1])) if row else Checkpoint(0, GENESIS_HASH)


def read_meta(conn: Any, key: str) -> str | None:
    """A value of the ``meta`` table, or None."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None
