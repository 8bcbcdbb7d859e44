"""The server case store: PostgreSQL through psycopg 3, with the SQLite store's contract.

Guarantees (docs/postgres.md says why each is so, and what a database administrator sets up):

* One transaction per write; the case row, the reports' derived rows and the audit event commit
  together or not at all.
* Optimistic concurrency: ``UPDATE cases ... WHERE id = ? AND version = ?`` and its row count is
  checked (a stale version raises ``ConcurrencyConflict`` and writes nothing). The engine reads a
  case ``FOR UPDATE`` inside its transaction, so two calls on one case queue instead of one failing
  for no reason, as they do on SQLite's write lock; calls on different cases run side by side.
* One global order of the hash chain: each append locks the one-row ``chain_head`` table
  (``SELECT ... FOR UPDATE``) and moves it in the same statement that inserts the event, so
  appends serialise on that row only, and only from the append to the commit. READ COMMITTED is
  enough: a locking read waits for the holder to commit and then sees the row it committed.
* Idempotency keys are unique per store; a call with a key first takes a transaction-scoped
  advisory lock on it, so the same key sent by several processes at once applies once.
* Append-only: triggers refuse UPDATE, DELETE and TRUNCATE of ``events`` for everyone, owners
  included; with an application role configured, grants give that role no UPDATE, DELETE or
  TRUNCATE on it at all.
* The schema lives in its own PostgreSQL schema (``?schema=NAME``, default ``pathway``) with a
  ``meta`` row ``schema_version`` and a migration chain (``MIGRATIONS``), applied under an
  advisory lock so processes opening a new store at once create it once.

A store object holds a psycopg connection pool, so one store can be shared by the threads of an
embedding application; each transaction and each read borrows a connection for its duration, and
``reader()`` lends reports one of their own, in one snapshot. ``connection`` is one connection
kept for the store's life (the CLI's reports and imports), for one thread at a time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import psycopg
import psycopg.errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from ..audit import Checkpoint, VerifyResult
from ..canonical import GENESIS_HASH
from ..errors import StoreBusy, StoreError, StoreReadOnly, StoreUnusable
from ..model import AuditEvent, Case, Person
from . import privacyrows, reseal, url_display
from .base import (
    EVENT_COLUMNS,
    SCHEMA_VERSION,
    IdempotencyRecord,
    NewEvent,
    case_from_row,
    draft_event,
    event_from_row,
    event_row,
    row_payload_json,
)
from .common import (
    API_TOKENS_SQL,
    CASE_SELECT,
    CASE_SELECT_BOOKED,
    DERIVED_BY_CASE_SQL,
    EVENT_INSERT,
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
from .pgconn import PgConnection, configure
from .query import (
    QUERY_INDEXES_SQL,
    CaseQuery,
    HistoryQuery,
    Page,
    read_case_page,
    read_history_page,
)

DEFAULT_SCHEMA = "pathway"
DEFAULT_BUSY_TIMEOUT_S = 30.0
"""As ``pathway.store.DEFAULT_BUSY_TIMEOUT_S`` (not imported: that module imports this one)."""
DEFAULT_POOL_MAX = 10
CONNECT_TIMEOUT_S = 10
SCHEMA_VERSION_KEY = "schema_version"
_LOCK_NAMESPACE = 0x43505457  # "CPTW": advisory locks of care-pathway
_MIGRATION_LOCK = 1
_OUR_PARAMETERS = ("schema", "app_role", "pool_max")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_T = 'TEXT COLLATE "C"'  # byte order, as SQLite compares text: the same sort in every report

_SCHEMA_V1 = f"""
CREATE TABLE meta (
    key {_T} PRIMARY KEY,
    value {_T} NOT NULL
);
CREATE TABLE cases (
    id {_T} PRIMARY KEY,
    pathway_id {_T} NOT NULL,
    pathway_version {_T} NOT NULL,
    state {_T} NOT NULL,
    team {_T} NOT NULL,
    organisation {_T} NOT NULL,
    worker {_T},
    version INTEGER NOT NULL CHECK (version >= 1),
    opened_at {_T} NOT NULL,
    closed_at {_T},
    state_entered_at {_T} NOT NULL,
    return_stack {_T} NOT NULL DEFAULT '[]',
    attributes {_T} NOT NULL DEFAULT '{{}}',
    last_seq INTEGER NOT NULL,
    last_at {_T} NOT NULL,
    first_at DOUBLE PRECISION NOT NULL,
    first_team {_T},
    first_team_at DOUBLE PRECISION,
    last_team {_T},
    last_organisation {_T},
    prev_team {_T},
    handoffs INTEGER NOT NULL DEFAULT 0,
    episode_n INTEGER NOT NULL DEFAULT 0,
    open_n INTEGER,
    open_team {_T},
    open_organisation {_T},
    open_start DOUBLE PRECISION,
    ping_pongs INTEGER NOT NULL DEFAULT 0,
    crossings INTEGER NOT NULL DEFAULT 0,
    team_sequence {_T} NOT NULL DEFAULT ''
);
CREATE TABLE chain_head (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL,
    hash {_T} NOT NULL,
    prev_hash {_T}
);
INSERT INTO chain_head (id, position, hash) VALUES (1, 0, '{GENESIS_HASH}');
CREATE TABLE events (
    position BIGINT PRIMARY KEY,
    event_id {_T} NOT NULL UNIQUE,
    case_id {_T} NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    occurred_at {_T} NOT NULL,
    recorded_at {_T} NOT NULL,
    trigger {_T} NOT NULL,
    from_state {_T},
    to_state {_T},
    from_team {_T},
    to_team {_T},
    from_organisation {_T},
    to_organisation {_T},
    actor_id {_T} NOT NULL,
    actor_team {_T} NOT NULL,
    actor_roles {_T} NOT NULL,
    outcome {_T} NOT NULL CHECK (outcome IN ('applied', 'refused')),
    pathway_id {_T} NOT NULL,
    pathway_version {_T} NOT NULL,
    reasons {_T} NOT NULL,
    note {_T},
    data {_T} NOT NULL,
    imported SMALLINT NOT NULL DEFAULT 0,
    closes SMALLINT NOT NULL DEFAULT 0,
    prev_hash {_T} NOT NULL,
    hash {_T} NOT NULL,
    UNIQUE (case_id, seq)
);
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$body$;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
CREATE TABLE closed_episodes (
    case_id {_T} NOT NULL,
    n INTEGER NOT NULL,
    team {_T},
    organisation {_T},
    start_at DOUBLE PRECISION NOT NULL,
    end_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE handoffs (
    case_id {_T} NOT NULL,
    n INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    from_team {_T} NOT NULL,
    to_team {_T} NOT NULL,
    from_organisation {_T},
    to_organisation {_T},
    crossing SMALLINT NOT NULL,
    ping_pong SMALLINT NOT NULL
);
CREATE TABLE people (
    case_id {_T} PRIMARY KEY,
    name {_T},
    date_of_birth {_T},
    nhs_number {_T}
);
CREATE TABLE idempotency (
    key {_T} PRIMARY KEY,
    case_id {_T} NOT NULL,
    trigger {_T} NOT NULL,
    outcome {_T} NOT NULL,
    result {_T} NOT NULL
);
{VIEWS_SQL}
"""

_SCHEMA_V2 = """
ALTER TABLE closed_episodes ADD COLUMN seconds DOUBLE PRECISION;
UPDATE closed_episodes SET seconds = end_at - start_at;
CREATE INDEX closed_episodes_by_length ON closed_episodes (team, seconds, organisation);
CREATE INDEX closed_episodes_by_team ON closed_episodes (team, case_id);
CREATE INDEX handoffs_by_pair ON handoffs (from_team, to_team, at);
"""
"""As SQLite's version 2: each closed episode's length, and the indexes the reports read in order."""

_SCHEMA_V3 = f"""
CREATE TABLE placement_periods (
    case_id {_T} NOT NULL,
    placement_id {_T} NOT NULL,
    care_type {_T} NOT NULL,
    provider {_T},
    weekly_pence BIGINT NOT NULL CHECK (weekly_pence >= 0),
    council_bp BIGINT NOT NULL CHECK (council_bp >= 0),
    nhs_bp BIGINT NOT NULL CHECK (nhs_bp >= 0),
    person_bp BIGINT NOT NULL CHECK (person_bp >= 0),
    s117 SMALLINT NOT NULL,
    agreed_by {_T} NOT NULL,
    agreed_kind {_T} NOT NULL,
    panel {_T},
    start_date {_T} NOT NULL,
    start_day BIGINT NOT NULL,
    end_date {_T},
    end_day BIGINT,
    eligibility_date {_T},
    eligibility_day BIGINT,
    health_screen_date {_T},
    health_screen_day BIGINT,
    reason {_T},
    known_from DOUBLE PRECISION NOT NULL,
    known_until DOUBLE PRECISION,
    event_position BIGINT NOT NULL,
    CHECK (council_bp + nhs_bp + person_bp = 10000),
    CHECK (end_day IS NULL OR end_day >= start_day)
);
CREATE INDEX placement_periods_by_case ON placement_periods (case_id, placement_id);
"""
"""As SQLite's version 3: placement periods. Money, shares and day numbers are BIGINT, so the
funding report's exact products (pence x days x basis points) do not overflow."""

_SCHEMA_V4 = """
CREATE INDEX cases_open_by_team ON cases (open_team, open_start) WHERE open_n IS NOT NULL;
"""
"""As SQLite's version 4: each team's open episodes by start, for the holding report."""

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

_SCHEMA_V9 = privacyrows.postgres_schema(_T)
"""As SQLite's version 9: ``free_text`` and the ``redactions`` privacy log."""


def _reseal_v9(conn: psycopg.Connection[Any]) -> None:
    """Move existing notes out of the chain, re-seal it, and move the chain head along."""
    adapter = PgConnection(conn)
    moved = reseal.reseal(
        adapter,
        disable=("DROP TRIGGER IF EXISTS events_refuse_update ON events",),
        enable=(
            "CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_refuse_change()",
        ),
    )
    if moved:
        head = adapter.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        assert head is not None  # texts were moved: there are events
        adapter.execute(
            "UPDATE chain_head SET position = ?, hash = ?, prev_hash = NULL WHERE id = 1",
            (head[0], head[1]),
        )


DATA_MIGRATIONS: dict[int, Callable[[psycopg.Connection[Any]], None]] = {9: _reseal_v9}
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
"""Schema version -> the SQL that brings a store from the version before to it (as for SQLite).

Times are stored as the same fixed-width UTC text as on SQLite (not ``timestamptz``): the chain
hashes that exact text, and one SQL text of the reports compares and sorts it on both backends.
"""

APP_GRANTS = """
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT ON events TO {role};
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {role};
GRANT SELECT, INSERT, UPDATE ON cases, chain_head, meta TO {role};
GRANT SELECT, INSERT ON closed_episodes, handoffs, idempotency TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON people TO {role};
GRANT SELECT, INSERT, UPDATE ON placement_periods TO {role};
GRANT SELECT, INSERT, UPDATE ON api_tokens TO {role};
GRANT SELECT ON case_flow, episodes TO {role};
GRANT SELECT, INSERT, UPDATE ON free_text TO {role};
GRANT SELECT, INSERT ON redactions TO {role};
GRANT UPDATE (result, fingerprint) ON idempotency TO {role};
"""
"""What the application role may do: append events, never change or remove one."""


@attrs.frozen
class PgLocation:
    """A ``postgresql://`` URL taken apart: what libpq gets, and the store's own parameters."""

    conninfo: str
    schema: str
    app_role: str | None
    pool_max: int
    display: str
    """The URL with any password masked, for messages."""


def parse_location(url: str) -> PgLocation:
    """Split off ``schema``, ``app_role`` and ``pool_max``; check the rest is a libpq URL."""
    display = url_display(url)
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise StoreError(f"{display}: not a valid PostgreSQL URL: {exc}") from None
    ours = {k: v for k, v in query if k in _OUR_PARAMETERS}
    rest = [(k, v) for k, v in query if k not in _OUR_PARAMETERS]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise StoreError(f"{display}: not a valid PostgreSQL URL: {_first_line(exc)}") from None
    schema = ours.get("schema", DEFAULT_SCHEMA)
    role = ours.get("app_role") or None
    for label, name in (("schema", schema), ("app_role", role)):
        if name is not None and not _NAME.match(name):
            raise StoreError(
                f"{display}: {label} {name!r} must be a lower-case PostgreSQL name "
                "(letters, digits and _, not starting with a digit)"
            )
    try:
        pool_max = int(ours.get("pool_max", DEFAULT_POOL_MAX))
        if pool_max < 1:
            raise ValueError
    except ValueError:
        raise StoreError(f"{display}: pool_max must be a whole number of at least 1") from None
    return PgLocation(conninfo, schema, role, pool_max, display)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def with_schema(url: str, schema: str) -> str:
    """``url`` with its ``schema`` parameter set to ``schema`` (other parameters kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))


_POSITION_MARK = -7_654_321
_PREV_MARK = "prev-hash-mark-" + "0" * 49
_SPLIT = f'"position":{_POSITION_MARK},"prev_hash":"{_PREV_MARK}"'


@functools.lru_cache(maxsize=64)
def _with_derived(statement: str, inserts: tuple[str, ...]) -> str:
    """``statement`` with the derived rows' INSERTs before it as data-modifying CTEs."""
    ctes = ", ".join(f"derived_{n} AS ({insert})" for n, insert in enumerate(inserts))
    return f"WITH {ctes} {statement}"


class PostgresTransaction(SqlTransaction):
    """One transaction on a pooled connection (see the module's notes for the locks it takes).

    Round trips are what a transition costs on a server, so each write is as few statements as
    it can be: the derived rows go in the same statement as the case row (data-modifying CTEs),
    and the event is chained by the server in the statement that moves the chain head: the
    event's canonical JSON is sent in three pieces around its position and previous hash, and
    ``UPDATE chain_head`` computes ``sha256(prev_hash + JSON)`` from the head it locks, so the
    head is held only from that statement to the commit. ``verify`` recomputes every hash in
    Python, as on SQLite.
    """

    load_sql = CASE_SELECT_BOOKED + " FOR UPDATE"

    def __init__(self, conn: PgConnection) -> None:
        super().__init__(conn.statements())  # the writes read each result before the next
        self._public = conn

    @property
    def connection(self) -> PgConnection:
        """The connection this transaction runs on (for bulk work such as an import)."""
        return self._public

    _APPEND = (
        "WITH head AS (UPDATE chain_head SET position = position + 1, prev_hash = hash, "
        "hash = encode(sha256(convert_to(hash || ? || CAST(position + 1 AS TEXT) || ? || hash "
        "|| ?, 'UTF8')), 'hex') WHERE id = 1 RETURNING position, prev_hash, hash) "
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT head.position, {', '.join('?' * (len(EVENT_COLUMNS) - 3))}, head.prev_hash, "
        "head.hash FROM head RETURNING position, prev_hash, hash"
    )

    def chain_head(self) -> tuple[int, str]:
        row = self._conn.execute(
            "SELECT position, hash FROM chain_head WHERE id = ? FOR UPDATE", (1,)
        ).fetchone()
        if row is None:
            raise StoreError("the store's chain_head row is missing: the schema was altered")
        return int(row[0]), str(row[1])

    def set_chain_head(self, position: int, digest: str) -> None:
        self._conn.execute(
            "UPDATE chain_head SET position = ?, hash = ?, prev_hash = NULL WHERE id = 1",
            (position, digest),
        )

    def _append(self, row: tuple[Any, ...]) -> None:
        """Insert an event chained in Python (after ``chain_head()`` locked the head) and move
        the head to it: the path for events whose text holds the split marks."""
        self._conn.execute(
            "WITH head AS (UPDATE chain_head SET position = ?, prev_hash = ?, hash = ? "
            f"WHERE id = 1) {EVENT_INSERT}",
            (row[0], row[-2], row[-1], *row),
        )

    def _insert_event(self, event: NewEvent, seq: int) -> AuditEvent:
        draft = draft_event(event, seq, _POSITION_MARK, _PREV_MARK)
        row = event_row(draft, "")
        before, found, after = row_payload_json(row).partition(_SPLIT)
        if not found or _SPLIT in after:  # the marks collide with the event's own text
            return super()._insert_event(event, seq)
        pieces = (before + '"position":', ',"prev_hash":"', '"' + after)
        head = self._conn.execute(self._APPEND, (*pieces, *row[1:-2])).fetchone()
        if head is None:
            raise StoreError("the store's chain_head row is missing: the schema was altered")
        # Set once, before anyone else sees the record (as chain_event does).
        object.__setattr__(draft, "position", int(head[0]))
        object.__setattr__(draft, "prev_hash", str(head[1]))
        object.__setattr__(draft, "hash", str(head[2]))
        return draft

    def _write_case(
        self, statement: str, values: tuple[Any, ...], derived: list[tuple[str, tuple[Any, ...]]]
    ) -> int:
        if not derived:
            return int(self._conn.execute(statement, values).rowcount)
        combined = _with_derived(statement, tuple(insert for insert, _row in derived))
        params = tuple(value for _insert, row in derived for value in row)
        return int(self._conn.execute(combined, (*params, *values)).rowcount)

    def _is_duplicate(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        # Calls with the same key queue here, so the second sees what the first committed.
        self._conn.execute(
            "SELECT pg_advisory_xact_lock(?, hashtext(?))", (_LOCK_NAMESPACE, key)
        ).fetchone()
        return super().idempotency(key)


class PostgresStore:
    """A case store in a PostgreSQL schema (created, and migrated to the current schema, on open).

    ``location`` is a ``postgresql://`` URL; besides libpq's own parameters it takes
    ``schema`` (default ``pathway``), ``app_role`` (a role to grant the application's rights to
    when this call creates or migrates the schema) and ``pool_max`` (connections in the pool).
    """

    dialect = "postgresql"

    def __init__(
        self, location: str, *, create: bool = True, busy_timeout: float | None = None
    ) -> None:
        self._where = parse_location(location)
        self.location = self._where.display
        self.schema = self._where.schema
        self.busy_timeout = DEFAULT_BUSY_TIMEOUT_S if busy_timeout is None else busy_timeout
        """Seconds a statement waits for a lock another session holds (``lock_timeout``)."""
        self._kwargs: dict[str, Any] = {"autocommit": True, **self._session_options()}
        self._pinned: PgConnection | None = None
        try:
            first = psycopg.connect(self._where.conninfo, **self._kwargs)
        except psycopg.Error as exc:
            raise StoreError(
                f"{self.location}: cannot connect to PostgreSQL: {_first_line(exc)}"
            ) from None
        try:
            with first:
                self._migrate(first, create)
        except psycopg.Error as exc:
            raise StoreError(
                f"{self.location}: cannot set up the store: {_first_line(exc)}"
            ) from None
        self._pool = ConnectionPool(
            self._where.conninfo,
            min_size=1,
            max_size=self._where.pool_max,
            kwargs=self._kwargs,
            configure=configure,
            open=False,
            name=f"care-pathway {self.schema}",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout:
            self._pool.close()
            raise StoreError(f"{self.location}: cannot open a connection pool") from None

    def _session_options(self) -> dict[str, Any]:
        given = psycopg.conninfo.conninfo_to_dict(self._where.conninfo)
        # lock_timeout 0 would mean "wait for ever": a busy wait of 0 waits 1 ms instead.
        lock_ms = max(1, round(self.busy_timeout * 1000))
        options = (
            f"{given.get('options') or ''} -c search_path={self._where.schema} "
            f"-c lock_timeout={lock_ms}"
        ).strip()
        extra: dict[str, Any] = {"options": options}
        if "connect_timeout" not in given:
            extra["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in given:
            extra["application_name"] = "care-pathway"
        return extra

    # --- schema ---------------------------------------------------------------------------

    def _version(self, conn: psycopg.Connection[Any]) -> int | None:
        """The schema version of the store, None if the schema has no store; refuse others."""
        schema = self._where.schema
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
        if not tables:
            return None
        if "meta" not in tables or "events" not in tables:
            raise StoreError(
                f"{self.location}: schema {schema!r} has tables of its own and is not a "
                "care-pathway store; give another schema (?schema=NAME)"
            )
        row = conn.execute(
            sql.SQL("SELECT value FROM {}.meta WHERE key = %s").format(sql.Identifier(schema)),
            (SCHEMA_VERSION_KEY,),
        ).fetchone()
        if row is None or not str(row[0]).isdigit():
            raise StoreError(
                f"{self.location}: schema {schema!r} is not a care-pathway store "
                "(it records no schema version)"
            )
        return int(row[0])

    def _migrate(self, conn: psycopg.Connection[Any], create: bool) -> None:
        try:
            current = self._version(conn)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(
                f"{self.location}: not allowed to read the store: {_first_line(exc)}"
            ) from None
        if current == SCHEMA_VERSION and self._where.app_role is None:
            return  # the usual case: a current store, nothing to do under the lock
        if current is None and not create:
            raise StoreError(
                f"{self.location}: no store in schema {self._where.schema!r} "
                "(run `pathway init` to create one)"
            )
        with conn.transaction():
            # Check again under the lock: another process may have created or migrated the
            # store since the first look.
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, _MIGRATION_LOCK))
            current = self._version(conn) or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.location}: store schema version {current} is newer than this "
                    f"care-pathway supports ({SCHEMA_VERSION}); upgrade care-pathway"
                )
            schema = sql.Identifier(self._where.schema)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
            for version in range(current + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[version])
                if version in DATA_MIGRATIONS:
                    DATA_MIGRATIONS[version](conn)
                conn.execute(META_UPSERT.replace("?", "%s"), (SCHEMA_VERSION_KEY, str(version)))
            if self._where.app_role is not None:
                self._grant(conn, self._where.app_role)

    def _grant(self, conn: psycopg.Connection[Any], role: str) -> None:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists is None:
            raise StoreError(
                f"{self.location}: app_role {role!r} does not exist; a database administrator "
                "creates it first (docs/postgres.md)"
            )
        conn.execute(
            sql.SQL(APP_GRANTS).format(
                schema=sql.Identifier(self._where.schema), role=sql.Identifier(role)
            )
        )

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        """An atomic write transaction: everything inside commits together, or nothing does."""
        try:
            with self._pool.connection() as raw, raw.transaction():
                yield PostgresTransaction(PgConnection(raw))
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: psycopg.Error) -> StoreError:
        """The ``StoreError`` a psycopg error means, in one line a person can act on."""
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return StoreBusy(
                f"{self.location}: the store is busy: another session held a lock this write "
                f"needs for longer than the busy wait ({self.busy_timeout:g} s); nothing was "
                "written, try again (the wait is set by $PATHWAY_BUSY_TIMEOUT)"
            )
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return StoreReadOnly(
                f"{self.location}: the store is read-only (the server or the role allows no "
                f"writes: {_first_line(exc)}); nothing was written"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnusable(
                f"{self.location}: lost the connection to PostgreSQL: {_first_line(exc)}"
            )
        return StoreError(f"{self.location}: the database refused the write: {_first_line(exc)}")

    @contextmanager
    def _read(self) -> Iterator[PgConnection]:
        try:
            with self._pool.connection() as raw:
                yield PgConnection(raw)
        except psycopg.Error as exc:
            raise self._error(exc) from None

    # --- reads ----------------------------------------------------------------------------

    def case(self, case_id: str) -> Case:
        with self._read() as conn:
            return read_case(conn, case_id)

    def cases(self) -> Iterator[Case]:
        for row in self.stream(CASE_SELECT + " ORDER BY id"):
            yield case_from_row(row)

    def history(self, case_id: str) -> list[AuditEvent]:
        with self._read() as conn:
            return read_history(conn, case_id)

    def events(self) -> Iterator[AuditEvent]:
        """Every event in chain order, with its free text (as ``history`` gives it)."""
        rows = self.stream(EVENT_SELECT + " ORDER BY position")
        yield from privacyrows.with_texts(
            map(event_from_row, rows), self.stream(privacyrows.FREE_TEXT_BY_POSITION)
        )

    def stream(self, query: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a read-only query (no parameters), through a server-side cursor, a batch
        at a time: memory stays flat however many rows there are."""
        with (
            self._read() as conn,
            conn.raw.transaction(),
            conn.raw.cursor(name="pathway_stream") as cursor,
        ):
            cursor.itersize = 2000
            cursor.execute(query)
            yield from cursor

    def person(self, case_id: str) -> Person | None:
        with self._read() as conn:
            return read_person(conn, case_id)

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record of the call first made with ``key`` (None if unused), read without the
        key's lock (``Engine.check`` asks what a retry would get)."""
        with self._read() as conn:
            return read_idempotency(conn, key)

    def erase_person(self, case_id: str) -> bool:
        """Erase a case's personal details (end of retention); the audit chain is unaffected."""
        with self.transaction() as tx:
            return bool(
                tx.connection.execute("DELETE FROM people WHERE case_id = ?", (case_id,)).rowcount
            )

    def verify(self, against: Checkpoint | None = None) -> VerifyResult:
        """Recompute the hash chain (and, given a checkpoint, check nothing was cut off)."""
        return verify_chain(self, against)

    def checkpoint(self) -> Checkpoint:
        """The current head of the chain (position 0 and the genesis hash when empty)."""
        with self._read() as conn:
            return read_checkpoint(conn)

    def integrity_check(self) -> str:
        """The store's own bookkeeping agrees ("ok"): the chain head row is the newest event."""
        with self._read() as conn:
            head = conn.execute("SELECT position, hash FROM chain_head WHERE id = 1").fetchone()
            newest = read_checkpoint(conn)
        if head is None:
            return "the chain_head row is missing"
        if (int(head[0]), str(head[1])) != (newest.position, newest.hash):
            return f"chain_head says position {head[0]}, the newest event is at {newest.position}"
        return "ok"

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            return read_meta(conn, key)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as tx:
            tx.connection.execute(META_UPSERT, (key, value))

    def query_cases(self, query: CaseQuery) -> Page[Case]:
        """One page of the cases ``query`` selects (:class:`pathway.store.query.CaseQuery`)."""
        with self._read() as conn:
            return read_case_page(conn, query)

    def query_history(self, query: HistoryQuery) -> Page[AuditEvent]:
        """One page of a case's or the store's audit events
        (:class:`pathway.store.query.HistoryQuery`)."""
        with self._read() as conn:
            return read_history_page(conn, query)

    @contextmanager
    def reader(self) -> Iterator[PgConnection]:
        """A connection of its own from the pool for reports and other long reads, inside one
        ``REPEATABLE READ`` transaction: every statement sees the store as it was when the
        first one ran, and writers on the pool's other connections carry on meanwhile. The
        transaction is rolled back at the end of the block, so nothing done on it is kept (a
        report's temporary tables included; PostgreSQL's ``READ ONLY`` would refuse those).
        Waits up to the pool's timeout for a free connection (``pool_max`` in the URL).
        """
        try:
            with self._pool.connection() as raw:
                conn = PgConnection(raw)
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                try:
                    yield conn
                finally:
                    if conn.in_transaction:
                        raw.execute("ROLLBACK")
        except PoolTimeout:
            raise StoreBusy(
                f"{self.location}: no free connection in the pool for a reader (pool_max "
                f"{self._where.pool_max}); try again or raise pool_max"
            ) from None
        except psycopg.Error as exc:
            raise self._error(exc) from None

    @property
    def connection(self) -> PgConnection:
        """A connection of the store's own, for reports and other reads running their own SQL.

        It takes the library's SQL as written for sqlite3 (see :mod:`pathway.store.pgconn`);
        it is in autocommit mode and, like a SQLite store's connection, for one thread at a
        time: threads sharing the store use ``reader()`` instead.
        """
        if self._pinned is None:
            try:
                self._pinned = PgConnection(self._pool.getconn())
            except PoolTimeout:
                raise StoreError(f"{self.location}: no free connection in the pool") from None
        return self._pinned

    def close(self) -> None:
        if self._pinned is not None:
            self._pool.putconn(self._pinned.raw)
            self._pinned = None
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def drop_store(location: str) -> bool:
    """Drop a store's whole schema, for tests and tools; False if there was none.

    Refuses (StoreError) a schema holding tables that are not a care-pathway store's.
    """
    where = parse_location(location)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (where.schema,)
        ).fetchone()
        if exists is None:
            return False
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (where.schema,),
            )
        }
        if tables and not {"meta", "events", "chain_head"} <= tables:
            raise StoreError(
                f"{where.display}: schema {where.schema!r} is not a care-pathway store"
            )
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(where.schema)))
        return True


__all__ = ["MIGRATIONS", "PostgresStore", "PostgresTransaction", "drop_store", "parse_location"]
