"""Copy a case store to another backend (a SQLite file <-> PostgreSQL), chain and all, and check it.

``migrate_store(source, target)`` copies every table of the source store into a new, empty target
store in one transaction: meta (the pathway the store runs on), cases with their bookkeeping,
audit events with their positions and hashes unchanged, the reports' derived rows, personal
details, idempotency records and the HTTP service's API tokens (their digests). Before that transaction commits it recomputes the target's hash
chain against the source's head and runs every governance report on both stores: if the chain
does not verify or any report's JSON differs, nothing is committed. A target that already holds
anything is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs

from .audit import Checkpoint, verify_links
from .definition import Pathway
from .errors import PathwayError, StoreError
from .store import open_store, remove_store, store_exists
from .store.base import CASE_COLUMNS, EVENT_COLUMNS, row_links
from .store.common import BOOK_COLUMNS, EVENT_SELECT
from .store.dialect import analyze, bulk_insert
from .store.flowrows import EPISODE_COLUMNS, HANDOFF_COLUMNS
from .store.placementrows import PERIOD_COLUMNS
from .timeutil import format_instant
from .tokens import TOKEN_COLUMNS

TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("cases", (*CASE_COLUMNS, *BOOK_COLUMNS), "id"),
    ("events", EVENT_COLUMNS, "position"),
    ("closed_episodes", EPISODE_COLUMNS, "case_id, n"),
    ("handoffs", HANDOFF_COLUMNS, "case_id, n"),
    ("placement_periods", PERIOD_COLUMNS, "event_position, case_id, placement_id, start_day"),
    ("people", ("case_id", "name", "date_of_birth", "nhs_number"), "case_id"),
    ("idempotency", ("key", "case_id", "trigger", "outcome", "result", "fingerprint"), "key"),
    ("api_tokens", TOKEN_COLUMNS, "id"),
)
"""Each table a migration copies: its columns, and the order its rows are read in."""

PRIVATE_META = ("schema_version",)
"""Meta keys each store keeps for itself (not copied)."""

Progress = Callable[[str, int], None]


@attrs.frozen
class MigrateResult:
    """What a migration copied and what it checked."""

    source: str
    target: str
    rows: dict[str, int]
    head: Checkpoint
    reports: tuple[str, ...]
    """The reports whose JSON was compared (and agreed) before the copy was committed."""


def _pathway_of(store: Any) -> Pathway | None:
    from .workspace import store_pathway

    try:
        return store_pathway(store)  # with the plug-ins recorded with it
    except PathwayError:
        return None  # a definition file no longer there: the reports run without it


def reports_json(conn: Any, as_of: datetime, pathway: Pathway | None) -> dict[str, Any]:
    """Every governance report of the store behind ``conn``, as JSON, as of ``as_of``."""
    from .reports import BUILTIN_REPORTS, Scope

    scope = Scope(as_of=as_of)
    # Every built-in report at its defaults, as the registry declares them.
    return {
        name: spec.run(conn, scope, pathway).to_json() for name, spec in BUILTIN_REPORTS.items()
    }


def _rows(store: Any, table: str, columns: tuple[str, ...], order: str) -> Iterator[Any]:
    yield from store.stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")


def migrate_store(
    source: str, target: str, *, as_of: datetime | None = None, progress: Progress | None = None
) -> MigrateResult:
    """Copy the store at ``source`` into a new store at ``target`` and check the copy; all or nothing.

    ``as_of`` is the moment the reports are compared at (default: now).
    """
    if os.path.abspath(source) == os.path.abspath(target) or source == target:
        raise StoreError("--from and --to are the same store")
    moment = as_of or datetime.now(UTC)
    created = not store_exists(target)
    src = open_store(source, create=False)
    try:
        dst = open_store(target)
    except BaseException:
        src.close()
        raise
    try:
        result = _copy(src, dst, moment, progress)
    except BaseException:
        dst.close()
        src.close()
        if created:
            remove_store(target)
        raise
    dst.close()
    src.close()
    return result


def _copy(src: Any, dst: Any, as_of: datetime, progress: Progress | None) -> MigrateResult:
    head = src.checkpoint()
    pathway = _pathway_of(src)
    before = reports_json(src.connection, as_of, pathway)
    counts: dict[str, int] = {}
    with dst.transaction() as tx:
        conn = tx.connection
        for table in ("cases", "events", "people", "idempotency"):
            if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                raise StoreError(
                    f"{dst.location}: the target store already has {table}: migrate copies into "
                    "a new, empty store only"
                )
        for key, value in src.connection.execute("SELECT key, value FROM meta ORDER BY key"):
            if key not in PRIVATE_META:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
        for table, columns, order in TABLES:
            counted = [0]

            def rows(
                table: str = table,
                columns: tuple[str, ...] = columns,
                order: str = order,
                counted: list[int] = counted,
            ) -> Iterator[Any]:
                for row in _rows(src, table, columns, order):
                    counted[0] += 1
                    yield row

            bulk_insert(conn, table, columns, rows())
            counts[table] = counted[0]
            if progress is not None:
                progress(table, counted[0])
        tx.set_chain_head(head.position, head.hash)
        analyze(conn, [table for table, _c, _o in TABLES])
        verified = verify_links(
            row_links(conn.execute(EVENT_SELECT + " ORDER BY position")), against=head
        )
        if not verified.ok or verified.head != head:
            raise StoreError(
                f"{dst.location}: the copied chain does not verify ({verified.problem or 'head differs'}); "
                "nothing was written"
            )
        after = reports_json(conn, as_of, pathway)
        differ = [name for name in before if before[name] != after[name]]
        if differ:
            raise StoreError(
                f"{dst.location}: report(s) {', '.join(differ)} differ between the stores as of "
                f"{format_instant(as_of)}; nothing was written"
            )
    return MigrateResult(src.location, dst.location, counts, head, tuple(before))
