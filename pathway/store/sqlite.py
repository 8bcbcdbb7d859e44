"""The embedded case store: one SQLite file, through sqlite-utils.

Guarantees (see docs/architecture.md in the repository for why each setting is what it is):

* WAL journal with ``synchronous=FULL``: a committed transition survives power loss.
* Every write transaction is ``BEGIN IMMEDIATE`` with a busy timeout, so concurrent writers queue
  instead of failing with "database is locked" when a read turns into a write.
* The audit ``events`` table refuses UPDATE and DELETE (triggers); its rows are hash-chained.
* Optimistic concurrency: ``UPDATE cases ... WHERE id = ? AND version = ?`` and the row count is
  checked; ``UNIQUE(case_id, seq)`` on events is the backstop.

A store object may be shared by the threads of a process: each thread gets a connection of its
own, opened on its first call and closed when the thread ends or the store is closed (SQLite
serialises the writers, each waiting up to the busy timeout). An in-memory store (``":memory:"``)
lives in its one connection and is for the thread that opened it (another thread's call is a
``StoreUnusable`` saying so). ``reader()`` gives reports a read-only connection of their own,
seeing one snapshot of the store. Every ``sqlite3`` error is
raised as a ``StoreError``: ``StoreBusy`` when the write lock stayed taken for the whole busy wait,
``StoreReadOnly`` when the file or its folder cannot be written, ``StoreUnusable`` otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audit import Checkpoint, VerifyResult
from ..errors import StoreBusy, StoreError, StoreReadOnly, StoreUnusable
from ..model import AuditEvent, Case, Person
from . import privacyrows, reseal
from .base import SCHEMA_VERSION, IdempotencyRecord, case_from_row, event_from_row

if TYPE_CHECKING:
    import sqlite_utils

from .common import (
    API_TOKENS_SQL,
    CASE_SELECT,
    DERIVED_BY_CASE_SQL,
    EVENT_SELECT,
    META_UPSERT,
    VIEWS_SQL,
    SqlTransaction,
    read_case,
    read_checkpoint,
    read_history,
    read_idempotency,
    read_meta,
    read_person,
    verify_chain,
)
from .query import (
    QUERY_INDEXES_SQL,
    CaseQuery,
    HistoryQuery,
    Page,
    read_case_page,
    read_history_page,
)

BUSY_TIMEOUT_MS = 30_000
"""The default busy wait (``pathway.store.DEFAULT_BUSY_TIMEOUT_S``), in milliseconds."""
APPLICATION_ID = 0x43505457  # "CPTW": marks the file as a care-pathway store

_SCHEMA_V1 = (
    """
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
    + VIEWS_SQL
)

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

_SCHEMA_V4 = """
CREATE INDEX cases_open_by_team ON cases (open_team, open_start) WHERE open_n IS NOT NULL;
"""
"""Each team's open episodes by start: the holding report reads their lengths in order from it
instead of sorting them, so its memory does not grow with the open cases."""

_SCHEMA_V5 = """
ALTER TABLE placement_periods ADD COLUMN urgent_reason TEXT;
ALTER TABLE placement_periods ADD COLUMN chc_checklist TEXT;
ALTER TABLE placement_periods ADD COLUMN s117_person INTEGER NOT NULL DEFAULT 0;
"""
"""What the funding report's statutory scrutiny rules read on each period: the Care Act s19(3)
urgent-needs reason of a placement made before an eligibility decision, the NHS continuing
healthcare checklist outcome the case had, and whether the person was entitled to section 117
aftercare when the period was recorded."""

_SCHEMA_V6 = """
ALTER TABLE idempotency ADD COLUMN fingerprint TEXT;
"""
"""Each idempotency key's request fingerprint (a digest of each part of the first request), so a
key reused for a different request is refused. Keys recorded before have none (NULL) and keep
comparing their case and trigger only."""


# --- schema 9: free text outside the audit chain (issue 21) ----------------------------------

_SCHEMA_V9 = privacyrows.sqlite_schema()
"""The ``free_text`` table (notes and declared free-text fields, with their salts) and the
``redactions`` privacy log; :func:`_reseal_v9` then moves existing events' free text out."""

_EVENT_TRIGGERS_UP = (
    """CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused');
END""",
)


def _reseal_v9(conn: sqlite3.Connection) -> None:
    """Move existing notes out of the chain and re-seal it (:mod:`pathway.store.reseal`)."""
    reseal.reseal(
        conn, disable=("DROP TRIGGER IF EXISTS events_refuse_update",), enable=_EVENT_TRIGGERS_UP
    )


DATA_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {9: _reseal_v9}
"""Schema version -> a Python step run after that version's SQL, in the same transaction."""

# --- migration: the case query indexes (issue 18, pathway.store.query) ------------------------
_SCHEMA_V10 = QUERY_INDEXES_SQL
"""The indexes case queries read their pages from (:data:`pathway.store.query.QUERY_INDEXES_SQL`)."""

MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1,
    2: _SCHEMA_V2,
    3: _SCHEMA_V3,
    4: _SCHEMA_V4,
    5: _SCHEMA_V5,
    6: _SCHEMA_V6,
    7: API_TOKENS_SQL,
    8: DERIVED_BY_CASE_SQL,
    9: _SCHEMA_V9,
    10: _SCHEMA_V10,
}
"""Schema version -> the SQL that brings a store from the version before to it."""


class SqliteTransaction(SqlTransaction):
    """One ``BEGIN IMMEDIATE`` transaction on the store's connection.

    The write lock is database-wide from ``BEGIN IMMEDIATE`` on, so the newest event is the chain
    head and nothing else needs locking (see :class:`pathway.store.common.SqlTransaction`).
    """

    def _is_duplicate(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)


class _Held:
    """A thread's connection to a store, kept in the store's ``threading.local``. When the thread
    ends (or the store object goes), the holder goes with it, and the connection closes once
    nothing else holds it: not before, since a caller may still be using ``store.connection``
    of a store it no longer keeps (``report(open_store(path).connection, ...)``)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def _close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # closing a connection another thread still uses
        conn.close()


class SqliteStore:
    """A case store in one SQLite file (created, and migrated to the current schema, on open)."""

    def __init__(
        self, path: str | Path, *, create: bool = True, busy_timeout: float | None = None
    ) -> None:
        self.location = str(path)
        self.busy_timeout = BUSY_TIMEOUT_MS / 1000 if busy_timeout is None else busy_timeout
        """Seconds a write waits for another process's write lock before ``StoreBusy``."""
        self._thread = threading.get_ident()
        self._memory = self.location == ":memory:"
        self._local = threading.local()
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        self._ready = False
        """Whether the first connection has set the file up (WAL, schema): later ones need not."""
        if not create and self.location != ":memory:" and not Path(path).exists():
            raise StoreError(f"{self.location}: no such store (run `pathway init` to create one)")
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.location}: cannot open as a SQLite database: {exc}") from None
        self._hold(conn)
        try:
            if not create and self.location != ":memory:":
                self._refuse_non_store()
            self._configure()
            self._migrate()
            self._ready = True
        except sqlite3.DatabaseError as exc:
            conn.close()
            error = self._error(exc)
            if type(error) is StoreUnusable:  # not busy, not read-only: the file itself
                error = StoreError(f"{self.location}: not a usable SQLite database: {exc}")
            raise error from None
        except StoreError:
            conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False only so that close() (or a thread's end) may close it from
        # another thread: each connection is used by the thread it was opened for.
        return sqlite3.connect(
            self.location,
            isolation_level=None,
            timeout=self.busy_timeout,
            check_same_thread=self._memory,
        )

    def _hold(self, conn: sqlite3.Connection) -> None:
        held = _Held(conn)
        self._local.held = held
        with self._lock:
            self._held.add(held)

    @property
    def _conn(self) -> sqlite3.Connection:
        """The calling thread's connection, opened (and set up) on its first call."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            return held.conn
        if self._closed:
            raise StoreUnusable(f"{self.location}: the store is closed")
        self._check_thread()  # an in-memory store has its one connection only
        try:
            conn = self._connect()
            self._hold(conn)
            self._configure()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return conn

    def _refuse_non_store(self) -> None:
        """Opening without ``create`` (every read command): refuse, before anything is written
        (the switch to WAL rewrites the file's header; migrating adds tables), a file that is not
        a care-pathway store, such as an empty (0-byte) file or another program's database, so a
        read never turns a file into a store."""
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID or (app_id == 0 and version > 0):
            return  # a store (one from before application_id was set has only its version)
        if app_id != 0 or self._has_tables():
            what = "a SQLite database of another program"
        else:
            empty = Path(self.location).stat().st_size == 0
            what = ("an empty file" if empty else "an empty SQLite database") + (
                f"; `pathway init --db {self.location}` makes it one"
            )
        raise StoreError(f"{self.location}: not a care-pathway store ({what})")

    def _error(self, exc: sqlite3.Error) -> StoreError:
        """The ``StoreError`` a ``sqlite3`` error means, in one line a person can act on."""
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, sqlite3.ProgrammingError) and "thread" in text:
            return StoreUnusable(
                f"{self.location}: this store was opened in another thread, and an in-memory "
                "SQLite store is for the thread that opened it: open one store per thread, or "
                "use a file"
            )
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in text:
            return StoreUnusable(f"{self.location}: the store is closed")
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
            primary is None and "locked" in text
        ):
            return StoreBusy(
                f"{self.location}: the store is busy: another process held its write lock for "
                f"longer than the busy wait ({self.busy_timeout:g} s); nothing was written, try "
                "again (the wait is set by $PATHWAY_BUSY_TIMEOUT)"
            )
        if primary == sqlite3.SQLITE_READONLY or "readonly" in text:
            return StoreReadOnly(
                f"{self.location}: the store is read-only ({text}): this process cannot write "
                "the file or the folder it is in (SQLite also writes -wal and -shm files beside "
                "it); nothing was written"
            )
        if primary == sqlite3.SQLITE_FULL:
            return StoreUnusable(f"{self.location}: the disk is full; nothing was written")
        return StoreUnusable(f"{self.location}: the database failed: {text}")

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Raise any ``sqlite3`` error inside as the ``StoreError`` it means."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _check_thread(self) -> None:
        if self._memory and threading.get_ident() != self._thread:
            raise self._error(sqlite3.ProgrammingError("used from another thread"))

    def _configure(self) -> None:
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        if self.location != ":memory:" and not self._ready:
            self._enable_wal()  # (persistent in the file: a migrated store is in WAL already)
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")

    def _enable_wal(self) -> None:
        """Switch to WAL, waiting out other processes opening the same new file at once.

        Changing the journal mode needs a moment alone with the file, and SQLite reports "database
        is locked" at once rather than using the busy timeout, so wait and retry (bounded).
        """
        deadline = time.monotonic() + self.busy_timeout
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
        if app_id == 0 and current == 0 and self._has_tables():
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

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """A sqlite-utils ``Database`` over the connection of the thread that first asks for it,
        for reading the store ad hoc in that thread (write only through the engine: the audit
        chain and the derived rows must move together).
        sqlite-utils is imported on first use; the CLI's start-up does not pay for it."""
        import sqlite_utils

        return sqlite_utils.Database(self._conn)

    def _has_tables(self) -> bool:
        return (
            self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1"
            ).fetchone()
            is not None
        )

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
                if version in DATA_MIGRATIONS:
                    DATA_MIGRATIONS[version](self._conn)
                self._conn.execute(f"PRAGMA user_version = {version}")
            self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @contextmanager
    def staging(self) -> Iterator[sqlite3.Connection]:
        """A deferred transaction for work in temporary tables (an import's staging): it reads
        the store as it stood when it began and, writing only ``temp`` tables, takes no write
        lock, so other processes keep writing meanwhile."""
        with self._begin("BEGIN") as conn:
            yield conn

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        with self._begin("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _begin(self, begin: str) -> Iterator[sqlite3.Connection]:
        self._check_thread()
        if self._conn.in_transaction:
            raise StoreError("a store transaction is already open on this connection")
        with self._guarded():
            self._conn.execute(begin)
        try:
            yield self._conn
        except BaseException as exc:
            try:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error says what went wrong; SQLite rolls back on close
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise
        with self._guarded():
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self) -> Iterator[SqliteTransaction]:
        """An atomic write transaction: everything inside commits together, or nothing does."""
        with self._immediate() as conn:
            yield SqliteTransaction(conn)

    # --- reads --------------------------------------------------------------------------------

    def case(self, case_id: str) -> Case:
        with self._guarded():
            return read_case(self.connection, case_id)

    def cases(self) -> Iterator[Case]:
        for row in self.stream(CASE_SELECT + " ORDER BY id"):
            yield case_from_row(row)

    def history(self, case_id: str) -> list[AuditEvent]:
        with self._guarded():
            return read_history(self.connection, case_id)

    def events(self) -> Iterator[AuditEvent]:
        """Every event in chain order, with its free text (as ``history`` gives it)."""
        rows = self.stream(EVENT_SELECT + " ORDER BY position")
        yield from privacyrows.with_texts(
            map(event_from_row, rows), self.stream(privacyrows.FREE_TEXT_BY_POSITION)
        )

    def stream(self, query: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a read-only query (no parameters), one at a time."""
        with self._guarded():
            yield from self.connection.execute(query)

    def person(self, case_id: str) -> Person | None:
        with self._guarded():
            return read_person(self.connection, case_id)

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record of the call first made with ``key`` (None if unused), read outside any
        write transaction (``Engine.check`` asks what a retry would get)."""
        return read_idempotency(self._conn, key)

    def erase_person(self, case_id: str) -> bool:
        """Erase a case's personal details (end of retention); the audit chain is unaffected."""
        with self._immediate() as conn:
            return conn.execute("DELETE FROM people WHERE case_id = ?", (case_id,)).rowcount > 0

    def verify(self, against: Checkpoint | None = None) -> VerifyResult:
        """Recompute the hash chain (and, given a checkpoint, check nothing was cut off)."""
        return verify_chain(self, against)

    def checkpoint(self) -> Checkpoint:
        """The current head of the chain (position 0 and the genesis hash when empty)."""
        with self._guarded():
            return read_checkpoint(self.connection)

    def integrity_check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        with self._guarded():
            return str(self.connection.execute("PRAGMA integrity_check").fetchone()[0])

    def get_meta(self, key: str) -> str | None:
        with self._guarded():
            return read_meta(self.connection, key)

    def set_meta(self, key: str, value: str) -> None:
        with self._immediate() as conn:
            conn.execute(META_UPSERT, (key, value))

    def query_cases(self, query: CaseQuery) -> Page[Case]:
        """One page of the cases ``query`` selects (:class:`pathway.store.query.CaseQuery`)."""
        with self._guarded():
            return read_case_page(self._conn, query)

    def query_history(self, query: HistoryQuery) -> Page[AuditEvent]:
        """One page of a case's or the store's audit events
        (:class:`pathway.store.query.HistoryQuery`)."""
        with self._guarded():
            return read_history_page(self._conn, query)

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own (SQLite ``mode=ro``) for reports and other long
        reads, inside one read transaction: every statement sees the store as it was when the
        first one ran, and writers (other threads, other processes) carry on meanwhile. Reports
        may make temporary tables on it; nothing else can be written, and the transaction is
        rolled back and the connection closed at the end of the block.

        An in-memory store has no file to open again: its reader is the store's own connection
        (for the thread that opened it), in a transaction rolled back at the end.
        """
        if self._memory:
            conn = self._conn
            if conn.in_transaction:
                raise StoreError("a store transaction is already open on this connection")
        else:
            if self._closed:
                raise StoreUnusable(f"{self.location}: the store is closed")
            uri = Path(self.location).resolve().as_uri() + "?mode=ro"
            try:
                conn = sqlite3.connect(
                    uri, uri=True, isolation_level=None, timeout=self.busy_timeout
                )
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        try:
            with self._guarded():
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                conn.execute("BEGIN")
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        finally:
            if self._memory:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            else:
                _close_quietly(conn)  # closing rolls the read transaction back

    @property
    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection to the store, for reports and bulk imports (which
        run their own SQL); a thread's first call opens it. An in-memory store's is for the
        thread that opened the store (``StoreUnusable`` from any other)."""
        return self._conn

    def close(self) -> None:
        """Close every thread's connection. Call it once no thread is using the store."""
        with self._lock:
            self._closed = True
            held = list(self._held)
        with self._guarded():
            for each in held:
                each.conn.close()

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
