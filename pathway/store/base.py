"""The case store contract, and what every backend shares.

A store keeps cases, their append-only audit events (hash-chained in one store-wide order),
personal details (outside the chain, erasable) and idempotency records. It runs no pathway rules:
the engine decides, the store makes each decision durable in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from json.encoder import encode_basestring as _quote
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from ..audit import _PAYLOAD_TEMPLATE, ChainLink, Checkpoint, VerifyResult, _text, hash_text
from ..model import AuditEvent, Case, Outcome, Person, ReturnPoint
from ..periods import PlacementChange
from ..timeutil import format_instant, parse_instant

if TYPE_CHECKING:
    from .query import CaseQuery, HistoryQuery, Page

SCHEMA_VERSION = 10


@attrs.frozen
class NewEvent:
    """An audit event as the engine describes it, before the store numbers and chains it."""

    event_id: str
    case_id: str
    occurred_at: datetime
    recorded_at: datetime
    trigger: str
    from_state: str | None
    to_state: str | None
    from_team: str | None
    to_team: str | None
    from_organisation: str | None
    to_organisation: str | None
    actor_id: str
    actor_team: str
    actor_roles: tuple[str, ...]
    outcome: Outcome
    pathway_id: str
    pathway_version: str
    reasons: tuple[str, ...] = ()
    note: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    imported: bool = False
    closes: bool = False
    free_text: tuple[str, ...] = ()
    """The data fields the pathway declares free text: sealed with the note, outside the chain
    (:mod:`pathway.sealing`)."""


@attrs.frozen
class IdempotencyRecord:
    """What a call with an idempotency key did, so a retry returns the same result.

    ``fingerprint`` holds a digest of each part of the request (see ``Engine``): a retry is
    compared with it part by part, so a key reused for another request is refused, naming what
    differs. Records written before schema version 6 have none (``None``): only their case and
    trigger can be compared.
    """

    key: str
    case_id: str
    trigger: str
    outcome: Outcome
    case: Case | None
    reasons: tuple[str, ...]
    fingerprint: Mapping[str, str] | None = None


class StoreTransaction(Protocol):
    """Operations inside one atomic transaction (all commit together or none do).

    A case must be loaded (``load_case``) in the transaction before a transition or refusal is
    recorded for it: the store numbers the event from what it read. A placement step passes its
    ``placement`` periods to ``apply_transition``, which writes them with the event.

    For bulk appends (the importer), ``connection`` is the connection the transaction runs on
    (it takes sqlite3-style SQL on both backends), ``chain_head()`` gives the newest event's
    position and hash and holds the chain for this transaction, and ``set_chain_head`` records
    the new head once the rows are in.
    """

    def load_case(self, case_id: str) -> Case:
        """The case as it stands, read inside this transaction (``CaseNotFound`` if unknown)."""
        ...

    def case_exists(self, case_id: str) -> bool:
        """True if a case with this id is in the store."""
        ...

    def last_event_at(self, case_id: str) -> datetime:
        """The ``occurred_at`` of the case's newest event (a new event may not be earlier)."""
        ...

    def open_case(self, case: Case, event: NewEvent) -> AuditEvent:
        """Insert a new case and its opening event; the event as numbered and chained."""
        ...

    def apply_transition(
        self,
        case: Case,
        expected_version: int,
        event: NewEvent,
        placement: PlacementChange | None = None,
    ) -> AuditEvent:
        """Write ``case`` (its new state) if the stored case is still at ``expected_version``
        (else ``ConcurrencyConflict``), append ``event`` and any ``placement`` periods; the
        event as numbered and chained."""
        ...

    def record_refusal(self, case: Case, event: NewEvent) -> AuditEvent:
        """Append a ``refused`` event for ``case``, which stays as it is."""
        ...

    def save_person(self, case_id: str, person: Person) -> None:
        """Store a case's personal details (outside the chain, erasable)."""
        ...

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record of the call first made with ``key``, or None if the key is unused."""
        ...

    def save_idempotency(self, record: IdempotencyRecord) -> None:
        """Record what the call with ``record.key`` did, so that a retry can return it."""
        ...

    # Bulk work (an import appends many events at once, on the transaction's own connection).
    @property
    def connection(self) -> Any:
        """The connection this transaction runs on (sqlite3-style SQL with ``?`` on both)."""
        ...

    def chain_head(self) -> tuple[int, str]:
        """The newest event's position and hash (0 and the genesis hash when there is none);
        holds the chain for this transaction."""
        ...

    def set_chain_head(self, position: int, digest: str) -> None:
        """Record the chain's new head after a bulk append."""
        ...


@runtime_checkable
class Store(Protocol):
    """A case store: SQLite (embedded default) or a server backend (PostgreSQL).

    Open one with :func:`pathway.open_store`. Reads see committed data; every write is one
    transaction. No ``sqlite3`` or ``psycopg`` exception leaves these methods: each becomes a
    :class:`~pathway.errors.StoreError` (``StoreBusy``, ``StoreReadOnly``, ``StoreUnusable``).
    Threads may share a store: a SQLite store on a file keeps one connection per thread (an
    in-memory one is for the thread that opened it); a PostgreSQL store holds a connection pool.

    ``query_cases`` and ``query_history`` answer the queries of :mod:`pathway.store.query` a
    page at a time; ``reader()`` lends a connection of its own, in one read snapshot, for
    reports (whatever is written on it is refused or rolled back).
    """

    location: str
    """Where the store is: a file path, ``:memory:``, or a PostgreSQL URL without its password."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """An atomic write transaction, as a context manager: ``with store.transaction() as tx:``.

        Everything done through ``tx`` commits together when the block ends, or nothing does if
        it raises. On SQLite it takes the write lock at once (``BEGIN IMMEDIATE``), waiting up to
        the busy timeout (``StoreBusy`` past it). The engine uses it for each ``open_case`` and
        ``fire``; an embedding system seldom needs it directly.
        """
        ...

    def case(self, case_id: str) -> Case:
        """The case as it stands (``CaseNotFound`` if there is none)."""
        ...

    def cases(self) -> Iterator[Case]:
        """Every case, open and closed, in case id order, read one at a time (a lazy iterator:
        a million cases need not fit in memory). Consume it before writing to the store."""
        ...

    def history(self, case_id: str) -> list[AuditEvent]:
        """The case's audit events, oldest first (by ``seq``); ``CaseNotFound`` if unknown."""
        ...

    def events(self) -> Iterator[AuditEvent]:
        """Every audit event of the store in chain order (``position``), one at a time: applied
        and refused, imported and fired. Consume it before writing to the store."""
        ...

    def stream(self, query: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a read-only SQL ``query`` (no parameters) one at a time, as tuples.

        For reading the store's tables (the ``events`` table is documented in
        docs/plugins.md) without loading every row at once; use the store's ``connection`` for
        a query with parameters.
        """
        ...

    def person(self, case_id: str) -> Person | None:
        """The case's personal details, or None if none were given or they were erased."""
        ...

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record of the call first made with ``key`` (None if unused)."""
        ...

    def erase_person(self, case_id: str) -> bool:
        """Erase a case's personal details (end of retention); True if there were any. The
        audit chain is unaffected: personal details were never part of it."""
        ...

    def verify(self, against: Checkpoint | None = None) -> VerifyResult:
        """Recompute the hash chain and rebuild every case row, closed episode and handoff from
        the events; given a ``checkpoint``, also check no event was cut off the end."""
        ...

    def checkpoint(self) -> Checkpoint:
        """The current head of the chain (position and hash; position 0 when empty), to keep
        outside the database and pass to :meth:`verify` later."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A value of the store's ``meta`` table (the pathway it runs, import sources, ...)."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the store's ``meta`` table, in a transaction of its own."""
        ...

    def integrity_check(self) -> str:
        """The database's own check of its files: ``"ok"`` when sound."""
        ...

    def query_cases(self, query: CaseQuery) -> Page[Case]:
        """One page of the cases ``query`` selects (:class:`~pathway.store.query.CaseQuery`),
        in id order, with the cursor of the next page."""
        ...

    def query_history(self, query: HistoryQuery) -> Page[AuditEvent]:
        """One page of audit events: one case's by ``seq``, or the store's by chain position
        (:class:`~pathway.store.query.HistoryQuery`), with the cursor of the next page."""
        ...

    def reader(self) -> AbstractContextManager[Any]:
        """A connection of its own for reports, in one read snapshot, for the ``with`` block
        (docs/embedding.md, "Threads and connections")."""
        ...

    @property
    def connection(self) -> Any:
        """The store's connection for reports and imports, which run their own SQL (``?``
        placeholders on both backends). On SQLite only for the thread that opened the store."""
        ...

    def close(self) -> None:
        """Close the store's connection (or pool). A store is also a context manager that
        closes it: ``with open_store(path) as store:``."""
        ...


# --- row conversion shared by the SQL backends -------------------------------------------------

CASE_COLUMNS = (
    "id", "pathway_id", "pathway_version", "state", "team", "organisation", "worker", "version",
    "opened_at", "closed_at", "state_entered_at", "return_stack", "attributes",
)  # fmt: skip

EVENT_COLUMNS = (
    "position", "event_id", "case_id", "seq", "occurred_at", "recorded_at", "trigger",
    "from_state", "to_state", "from_team", "to_team", "from_organisation", "to_organisation",
    "actor_id", "actor_team", "actor_roles", "outcome", "pathway_id", "pathway_version",
    "reasons", "note", "data", "imported", "closes", "prev_hash", "hash",
)  # fmt: skip


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact JSON for stored JSON columns (sorted keys: the same value, the same text)."""
    if not value and isinstance(value, list | dict | tuple):
        return "{}" if isinstance(value, dict) else "[]"  # most roles, reasons and data are empty
    return _ENCODER.encode(value)


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value is not None else None


def case_to_row(case: Case) -> tuple[Any, ...]:
    """The row values of a case, in ``CASE_COLUMNS`` order."""
    return (
        case.id, case.pathway_id, case.pathway_version, case.state, case.team, case.organisation,
        case.worker, case.version, format_instant(case.opened_at),
        format_instant(case.closed_at) if case.closed_at else None,
        format_instant(case.state_entered_at),
        dumps(
            [
                [p.state, p.team, format_instant(p.entered_at) if p.entered_at else None]
                for p in case.return_stack
            ]
        ),
        dumps(dict(case.attributes)),
    )  # fmt: skip


def case_from_row(row: tuple[Any, ...]) -> Case:
    """A :class:`~pathway.model.Case` from a row in ``CASE_COLUMNS`` order."""
    (id_, pid, pver, state, team, org, worker, version, opened, closed, entered, stack,
     attributes) = row  # fmt: skip
    return Case(
        id=id_, pathway_id=pid, pathway_version=pver, state=state, team=team, organisation=org,
        worker=worker, version=version, opened_at=parse_instant(opened), closed_at=_instant(closed),
        state_entered_at=parse_instant(entered),
        return_stack=tuple(
            ReturnPoint(s, t, parse_instant(e) if e else None) for s, t, e in json.loads(stack)
        )
        if stack != "[]"
        else (),
        attributes=json.loads(attributes),
    )  # fmt: skip


def event_from_row(row: tuple[Any, ...]) -> AuditEvent:
    """An :class:`~pathway.model.AuditEvent` from a row in ``EVENT_COLUMNS`` order."""
    (position, event_id, case_id, seq, occurred, recorded, trigger, from_state, to_state,
     from_team, to_team, from_org, to_org, actor_id, actor_team, roles, outcome, pid, pver,
     reasons, note, data, imported, closes, prev_hash, digest) = row  # fmt: skip
    return AuditEvent(
        event_id=event_id, case_id=case_id, seq=seq, position=position,
        occurred_at=parse_instant(occurred), recorded_at=parse_instant(recorded), trigger=trigger,
        from_state=from_state, to_state=to_state, from_team=from_team, to_team=to_team,
        from_organisation=from_org, to_organisation=to_org, actor_id=actor_id,
        actor_team=actor_team, actor_roles=tuple(json.loads(roles)), outcome=outcome,
        pathway_id=pid, pathway_version=pver, reasons=tuple(json.loads(reasons)), note=note,
        data=json.loads(data), imported=bool(imported), closes=bool(closes),
        prev_hash=prev_hash, hash=digest,
    )  # fmt: skip


def draft_event(new: NewEvent, seq: int, position: int, prev_hash: str) -> AuditEvent:
    """A new event numbered and placed after ``prev_hash``, not yet hashed (``hash`` empty)."""
    return AuditEvent(
        event_id=new.event_id, case_id=new.case_id, seq=seq, position=position,
        occurred_at=new.occurred_at, recorded_at=new.recorded_at, trigger=new.trigger,
        from_state=new.from_state, to_state=new.to_state, from_team=new.from_team,
        to_team=new.to_team, from_organisation=new.from_organisation,
        to_organisation=new.to_organisation, actor_id=new.actor_id, actor_team=new.actor_team,
        actor_roles=tuple(new.actor_roles), outcome=new.outcome, pathway_id=new.pathway_id,
        pathway_version=new.pathway_version, reasons=tuple(new.reasons), note=new.note,
        data=dict(new.data), imported=new.imported, closes=new.closes, prev_hash=prev_hash,
    )  # fmt: skip


def chain_event(
    new: NewEvent, seq: int, position: int, prev_hash: str
) -> tuple[AuditEvent, tuple[Any, ...]]:
    """Number and hash a new event, given the chain head it follows; also return its row."""
    event = draft_event(new, seq, position, prev_hash)
    row = event_row(event, "")
    digest = hash_text(prev_hash, row_payload_json(row))
    object.__setattr__(event, "hash", digest)  # set once, before anyone else sees the record
    return event, (*row[:-1], digest)


def event_row(event: AuditEvent, digest: str) -> tuple[Any, ...]:
    """The events-table row of an event (times as ISO 8601 text, JSON columns as compact text),
    in ``EVENT_COLUMNS`` order, with ``digest`` as its hash."""
    return (
        event.position, event.event_id, event.case_id, event.seq,
        format_instant(event.occurred_at), format_instant(event.recorded_at), event.trigger,
        event.from_state, event.to_state, event.from_team, event.to_team,
        event.from_organisation, event.to_organisation, event.actor_id, event.actor_team,
        dumps(list(event.actor_roles)), event.outcome, event.pathway_id, event.pathway_version,
        dumps(list(event.reasons)), event.note, dumps(dict(event.data)), int(event.imported),
        int(event.closes), event.prev_hash, digest,
    )  # fmt: skip


def row_payload_json(row: Sequence[Any]) -> str:
    """The canonical JSON an events-table row's hash covers (see ``audit.payload_json``).

    The same text as ``payload_json`` called with the row's columns by name (``tests/test_audit``
    holds them equal), formatted straight from the row: ``audit verify`` calls it on every
    event, and the 25 keyword arguments cost a third of its time.
    """
    return _PAYLOAD_TEMPLATE % (
        _quote(row[13]), row[15], _quote(row[14]), _quote(row[2]),
        "true" if row[23] else "false", row[21], _quote(row[1]), _text(row[11]), _text(row[7]),
        _text(row[9]), "true" if row[22] else "false", _text(row[20]), _quote(row[4]),
        _quote(row[16]), _quote(row[17]), _quote(row[18]), int(row[0]), _quote(row[24]),
        row[19], _quote(row[5]), int(row[3]), _text(row[12]), _text(row[8]), _text(row[10]),
        _quote(row[6]),
    )  # fmt: skip


def row_links(rows: Iterable[tuple[Any, ...]]) -> Iterator[ChainLink]:
    """The chain links of events-table rows (``EVENT_COLUMNS`` order), for ``audit.verify_links``:
    the hash is checked against the text as stored, so a stored time or JSON column rewritten in
    an equivalent form is caught as well."""
    for row in rows:
        yield ChainLink(row[0], row[1], row[2], row[-2], row[-1], row_payload_json(row))
