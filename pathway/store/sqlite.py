"""The embedded case store: one SQLite file, through sqlite-utils.

Guarantees (see docs/architecture.md in the repository for why each setting is what it is):

* WAL journal with ``synchronous=FULL``: a committed transition survives power loss.
* Every write transaction is ``BEGIN IMMEDIATE`` with a busy timeout, so concurrent writers queue
  instead of failing with "database is locked" when a read turns into a write.
* The audit ``events`` table refuses UPDATE and DELETE (triggers); its rows are hash-chained.
* Optimistic concurrency: ``UPDATE cases ... WHERE id = ? AND version = ?`` and the row count is
  checked; ``UNIQUE(case_id, seq)`` on events is the backstop.

A store object wraps one connection and is meant for one thread; open one per thread or process.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import sqlite_utils

from ..audit import Checkpoint, VerifyResult, verify_events
from ..canonical import GENESIS_HASH
from ..errors import CaseExists, CaseNotFound, ConcurrencyConflict, StoreError
from ..flow import FlowState
from ..model import AuditEvent, Case, Person
from ..serialize import from_dict, to_dict
from ..timeutil import format_instant, parse_instant
from .base import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    SCHEMA_VERSION,
    IdempotencyRecord,
    NewEvent,
    case_from_row,
    case_to_row,
    chain_event,
    event_from_row,
)
from .flowrows import FLOW_COLUMNS, flow_from_values, flow_values, write_step
from .placementrows import PlacementChange, write_placement

BUSY_TIMEOUT_MS = 30_000
APPLICATION_ID = 0x43505457  # "CPTW": marks the file as a care-pathway store

_SCHEMA_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    pathway_id TEXT NOT NULL,
    pathway_version TEXT NOT NULL,
    state TEXT NOT NULL,
    team TEXT NOT NULL,
    organisation TEXT NOT NULL,
    worker TEXT,
    version INTEGER NOT NULL CHECK (version >= 1),
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    state_entered_at TEXT NOT NULL,
    return_stack TEXT NOT NULL DEFAULT '[]',
    attributes TEXT NOT NULL DEFAULT '{}',
    last_seq INTEGER NOT NULL,
    last_at TEXT NOT NULL,
    first_at REAL NOT NULL,
    first_team TEXT,
    first_team_at REAL,
    last_team TEXT,
    last_organisation TEXT,
    prev_team TEXT,
    handoffs INTEGER NOT NULL DEFAULT 0,
    episode_n INTEGER NOT NULL DEFAULT 0,
    open_n INTEGER,
    open_team TEXT,
    open_organisation TEXT,
    open_start REAL,
    ping_pongs INTEGER NOT NULL DEFAULT 0,
    crossings INTEGER NOT NULL DEFAULT 0,
    team_sequence TEXT NOT NULL DEFAULT ''
);
CREATE VIEW case_flow AS
    SELECT id AS case_id, first_at, first_team, first_team_at, last_team, last_organisation,
           prev_team, handoffs, episode_n, open_n, open_team, open_organisation, open_start,
           ping_pongs, crossings, team_sequence, last_seq, last_at
      FROM cases;
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    trigger TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    from_team TEXT,
    to_team TEXT,
    from_organisation TEXT,
    to_organisation TEXT,
    actor_id TEXT NOT NULL,
    actor_team TEXT NOT NULL,
    actor_roles TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'refused')),
    pathway_id TEXT NOT NULL,
    pathway_version TEXT NOT NULL,
    reasons TEXT NOT NULL,
    note TEXT,
    data TEXT NOT NULL,
    imported INTEGER NOT NULL DEFAULT 0,
    closes INTEGER NOT NULL DEFAULT 0,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (case_id, seq)
);
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused');
END;
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused');
END;
CREATE TABLE closed_episodes (
    case_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    team TEXT,
    organisation TEXT,
    start_at REAL NOT NULL,
    end_at REAL NOT NULL
);
CREATE VIEW episodes AS
    SELECT case_id, n, team, organisation, start_at, end_at FROM closed_episodes
    UNION ALL
    SELECT id, open_n, open_team, open_organisation, open_start, NULL
      FROM cases WHERE open_n IS NOT NULL;
CREATE TABLE handoffs (
    case_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at REAL NOT NULL,
    from_team TEXT NOT NULL,
    to_team TEXT NOT NULL,
    from_organisation TEXT,
    to_organisation TEXT,
    crossing INTEGER NOT NULL,
    ping_pong INTEGER NOT NULL
);
CREATE TABLE people (
    case_id TEXT PRIMARY KEY,
    name TEXT,
    date_of_birth TEXT,
    nhs_number TEXT
);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    outcome TEXT NOT NULL,
    result TEXT NOT NULL
);
"""

_SCHEMA_V2 = """
ALTER TABLE closed_episodes ADD COLUMN seconds REAL;
UPDATE closed_episodes SET seconds = end_at - start_at;
CREATE INDEX closed_episodes_by_length ON closed_episodes (team, seconds, organisation);
CREATE INDEX closed_episodes_by_team ON closed_episodes (team, case_id);
CREATE INDEX handoffs_by_pair ON handoffs (from_team, to_team, at);
"""
"""Indexes the reports read in order instead of sorting: each team's closed episodes by length
and by case (the holding report's totals, quantiles and cases), and the handoffs by pair (the
handover matrix)."""

_SCHEMA_V3 = """
CREATE TABLE placement_periods (
    case_id TEXT NOT NULL,
    placement_id TEXT NOT NULL,
    care_type TEXT NOT NULL,
    provider TEXT,
    weekly_pence INTEGER NOT NULL CHECK (weekly_pence >= 0),
    council_bp INTEGER NOT NULL CHECK (council_bp >= 0),
    nhs_bp INTEGER NOT NULL CHECK (nhs_bp >= 0),
    person_bp INTEGER NOT NULL CHECK (person_bp >= 0),
    s117 INTEGER NOT NULL,
    agreed_by TEXT NOT NULL,
    agreed_kind TEXT NOT NULL,
    panel TEXT,
    start_date TEXT NOT NULL,
    start_day INTEGER NOT NULL,
    end_date TEXT,
    end_day INTEGER,
    eligibility_date TEXT,
    eligibility_day INTEGER,
    health_screen_date TEXT,
    health_screen_day INTEGER,
    reason TEXT,
    known_from REAL NOT NULL,
    known_until REAL,
    event_position INTEGER NOT NULL,
    CHECK (council_bp + nhs_bp + person_bp = 10000),
    CHECK (end_day IS NULL OR end_day >= start_day)
);
CREATE INDEX placement_periods_by_case ON placement_periods (case_id, placement_id);
"""
"""Placements (care packages): one row per period at one cost and split, as known from an event."""

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3}
"""Schema version -> the SQL that brings a store from the version before to it."""

_BOOK_COLUMNS = ("last_seq", "last_at", *FLOW_COLUMNS)
"""Bookkeeping kept in each case's row beside the case: its newest event and its flow state."""

_CASE_SELECT = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"
_CASE_SELECT_BOOKED = f"SELECT {', '.join((*CASE_COLUMNS, *_BOOK_COLUMNS))} FROM cases WHERE id = ?"
_EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
_EVENT_INSERT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
_CASE_INSERT = (
    f"INSERT INTO cases ({', '.join((*CASE_COLUMNS, *_BOOK_COLUMNS))}) "
    f"VALUES ({', '.join('?' * (len(CASE_COLUMNS) + len(_BOOK_COLUMNS)))})"
)
_CASE_UPDATE = (
    "UPDATE cases SET "
    + ", ".join(f"{c} = ?" for c in (*CASE_COLUMNS[1:], *_BOOK_COLUMNS))
    + " WHERE id = ? AND version = ?"
)
_HEAD_UPDATE = "UPDATE cases SET last_seq = ?, last_at = ? WHERE id = ?"


@attrs.define
class _Books:
    """What the transaction read about a case besides the case itself."""

    last_seq: int
    last_at: str
    flow: FlowState


class SqliteTransaction:
    """One ``BEGIN IMMEDIATE`` transaction on the store's connection.

    Writes are whole operations (open a case, apply a transition, record a refusal), each an
    event in the chain plus the rows that must change with it, so a backend can do each in as
    few round trips as it likes.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._books: dict[str, _Books] = {}
        self._last_at_text = ""

    def load_case(self, case_id: str) -> Case:
        row = self._conn.execute(_CASE_SELECT_BOOKED, (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        width = len(CASE_COLUMNS)
        self._books[case_id] = _Books(
            row[width], row[width + 1], flow_from_values(case_id, row[width + 2 :])
        )
        return case_from_row(row[:width])

    def case_exists(self, case_id: str) -> bool:
        found = self._conn.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone()
        return found is not None

    def last_event_at(self, case_id: str) -> datetime:
        """When the newest event of a loaded case happened (business time)."""
        return parse_instant(self._loaded(case_id).last_at)

    def _loaded(self, case_id: str) -> _Books:
        books = self._books.get(case_id)
        if books is None:
            raise StoreError(f"case {case_id} was not loaded in this transaction")
        return books

    def _insert_event(self, event: NewEvent, seq: int) -> AuditEvent:
        head = self._conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        position, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        chained, row = chain_event(event, seq, position, prev_hash)
        self._conn.execute(_EVENT_INSERT, row)
        self._last_at_text = row[4]  # the event's occurred_at as stored
        return chained

    def _fold(self, flow: FlowState, event: AuditEvent) -> None:
        """Keep the reports' derived rows (episodes, handoffs) in step with an applied event."""
        closed, opened, handoff = flow.step(
            event.occurred_at.timestamp(), event.to_team, event.to_organisation, event.closes
        )
        write_step(self._conn, closed, opened, handoff)

    def open_case(self, case: Case, event: NewEvent) -> AuditEvent:
        """Insert a new case with its opening event (sequence 1)."""
        if self.case_exists(case.id):
            raise CaseExists(case.id)
        chained = self._insert_event(event, 1)
        flow = FlowState(case.id)
        self._fold(flow, chained)
        books = (1, format_instant(chained.occurred_at), *flow_values(flow))
        try:
            self._conn.execute(_CASE_INSERT, (*case_to_row(case), *books))
        except sqlite3.IntegrityError:
            raise CaseExists(case.id) from None
        return chained

    def apply_transition(
        self,
        case: Case,
        expected_version: int,
        event: NewEvent,
        placement: PlacementChange | None = None,
    ) -> AuditEvent:
        """Record an applied transition: its event, the derived rows and the case, or none."""
        books = self._loaded(case.id)
        chained = self._insert_event(event, books.last_seq + 1)
        self._fold(books.flow, chained)
        if placement is not None:
            write_placement(
                self._conn, placement, chained.occurred_at.timestamp(), chained.position
            )
        values = (
            *case_to_row(case)[1:], chained.seq, self._last_at_text,
            *flow_values(books.flow), case.id, expected_version,
        )  # fmt: skip
        if self._conn.execute(_CASE_UPDATE, values).rowcount != 1:
            actual = self._conn.execute(
                "SELECT version FROM cases WHERE id = ?", (case.id,)
            ).fetchone()
            if actual is None:
                raise CaseNotFound(case.id)
            raise ConcurrencyConflict(case.id, expected_version, actual[0])
        books.last_seq = chained.seq
        books.last_at = self._last_at_text
        return chained

    def record_refusal(self, case: Case, event: NewEvent) -> AuditEvent:
        """Record a refused transition: its event only (the case does not change)."""
        books = self._loaded(case.id)
        chained = self._insert_event(event, books.last_seq + 1)
        self._conn.execute(_HEAD_UPDATE, (chained.seq, self._last_at_text, case.id))
        books.last_seq = chained.seq
        books.last_at = self._last_at_text
        return chained

    def save_person(self, case_id: str, person: Person) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO people (case_id, name, date_of_birth, nhs_number) VALUES (?, ?, ?, ?)",
            (case_id, person.name, person.date_of_birth, person.nhs_number),
        )

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        row = self._conn.execute(
            "SELECT key, case_id, trigger, outcome, result FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        result = json.loads(row[4])
        case = from_dict(Case, result["case"]) if result.get("case") else None
        return IdempotencyRecord(row[0], row[1], row[2], row[3], case, tuple(result["reasons"]))

    def save_idempotency(self, record: IdempotencyRecord) -> None:
        result = {
            "case": to_dict(record.case) if record.case is not None else None,
            "reasons": list(record.reasons),
        }
        self._conn.execute(
            "INSERT INTO idempotency (key, case_id, trigger, outcome, result) VALUES (?, ?, ?, ?, ?)",
            (record.key, record.case_id, record.trigger, record.outcome, json.dumps(result)),
        )


class SqliteStore:
    """A case store in one SQLite file (created, and migrated to the current schema, on open)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.location = str(path)
        if not create and self.location != ":memory:" and not Path(path).exists():
            raise StoreError(f"{self.location}: no such store (run `pathway init` to create one)")
        try:
            conn = sqlite3.connect(
                self.location, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.location}: cannot open as a SQLite database: {exc}") from None
        self._conn = conn
        self.db = sqlite_utils.Database(conn)
        try:
            self._configure()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self.location}: not a usable SQLite database: {exc}") from None
        except StoreError:
            conn.close()
            raise

    def _configure(self) -> None:
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.location != ":memory:":
            self._enable_wal()
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")

    def _enable_wal(self) -> None:
        """Switch to WAL, waiting out other processes opening the same new file at once.

        Changing the journal mode needs a moment alone with the file, and SQLite reports "database
        is locked" at once rather than using the busy timeout, so wait and retry (bounded).
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.005
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
                continue
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{self.location}: cannot use write-ahead logging here (journal mode {mode})"
                )
            return

    def _check_identity(self) -> int:
        """The store's schema version; refuse files that are not care-pathway stores."""
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(f"{self.location}: this SQLite file is not a care-pathway store")
        if app_id == 0 and current == 0 and self.db.table_names():
            raise StoreError(
                f"{self.location}: this SQLite file has tables of its own and is not a "
                "care-pathway store; give a new file"
            )
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location}: store schema version {current} is newer than this "
                f"care-pathway supports ({SCHEMA_VERSION}); upgrade care-pathway"
            )
        return current

    def _migrate(self) -> None:
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return  # the usual case: a current store, nothing to check under the lock
        with self._immediate():
            # Check again inside the write lock: another process may have created or migrated
            # the store between the first look and now (each read outside a transaction sees a
            # different moment).
            current = self._check_identity()
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _split_sql(MIGRATIONS[version]):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {version}")
            self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        if self._conn.in_transaction:
            raise StoreError("a store transaction is already open on this connection")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[SqliteTransaction]:
        """An atomic write transaction: everything inside commits together, or nothing does."""
        with self._immediate() as conn:
            yield SqliteTransaction(conn)

    # --- reads --------------------------------------------------------------------------------

    def case(self, case_id: str) -> Case:
        row = self._conn.execute(_CASE_SELECT + " WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        return case_from_row(row)

    def cases(self) -> Iterator[Case]:
        for row in self._conn.execute(_CASE_SELECT + " ORDER BY id"):
            yield case_from_row(row)

    def history(self, case_id: str) -> list[AuditEvent]:
        rows = self._conn.execute(_EVENT_SELECT + " WHERE case_id = ? ORDER BY seq", (case_id,))
        events = [event_from_row(r) for r in rows]
        if (
            not events
            and self._conn.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone()
            is None
        ):
            raise CaseNotFound(case_id)
        return events

    def events(self) -> Iterator[AuditEvent]:
        for row in self._conn.execute(_EVENT_SELECT + " ORDER BY position"):
            yield event_from_row(row)

    def person(self, case_id: str) -> Person | None:
        row = self._conn.execute(
            "SELECT name, date_of_birth, nhs_number FROM people WHERE case_id = ?", (case_id,)
        ).fetchone()
        return Person(*row) if row else None

    def erase_person(self, case_id: str) -> bool:
        """Erase a case's personal details (end of retention); the audit chain is unaffected."""
        with self._immediate() as conn:
            return conn.execute("DELETE FROM people WHERE case_id = ?", (case_id,)).rowcount > 0

    def verify(self, against: Checkpoint | None = None) -> VerifyResult:
        """Recompute the hash chain (and, given a checkpoint, check nothing was cut off)."""
        return verify_events(self.events(), against)

    def checkpoint(self) -> Checkpoint:
        """The current head of the chain (position 0 and the genesis hash when empty)."""
        row = self._conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return Checkpoint(row[0], row[1]) if row else Checkpoint(0, GENESIS_HASH)

    def integrity_check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._immediate() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection, for reports and bulk imports (which run their own SQL)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _split_sql(script: str) -> list[str]:
    """Split a schema script into statements (trigger bodies keep their inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    return statements
