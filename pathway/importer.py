"""Import an event log exported from another case system (CSV), all or nothing.

Imported history is recorded as it happened, not replayed through guards: its states and teams
need not exist in the pathway. Each row becomes an audit event marked ``imported`` that takes part
in the hash chain, and the derived rows the reports read (episodes, handoffs) are built by the
same fold as for the engine's own events.

Columns: ``case_id``, ``occurred_at``, ``state`` and ``team`` are required (``team`` may be empty:
the case was unallocated from that event); ``organisation``, ``actor`` and ``trigger`` are
optional; any other column is refused, naming it, unless ``keep`` names it (then it is kept as
free text outside the audit chain, redactable, docs/privacy.md: never in the hashed data) or
``drop`` names it (then it is not read). ``mapping`` renames columns first
(``{"case:concept:name": "case_id"}``). Rows may come in any order; a case's rows are ordered by
time, ties by their order in the file. A row whose state is final in the pathway, or is one of
``final_states``, closes the case. One bad row rejects the whole file, naming its line and
field, and nothing is written; so does a file that is not UTF-8, a NUL character (which
PostgreSQL cannot store, so a SQLite store holding one could not be migrated), or an instant
outside years 1 to 9999. The file's name (not its folder), events and cases are added to the
store's list of imported logs (meta ``import_sources``), which names the data on the dashboard.

On SQLite everything is built before the store's write lock is taken: the file is read,
checked and sorted into a temporary table, then each case is folded and every event hashed into
the chain after the store's newest event, into temporary tables of events, case rows, closed
episodes and handoffs. The lock is held only for the final write, one ``INSERT ... SELECT`` per
table (checking again, under the lock, that no case of the file has been opened meanwhile): a
transition fired during a long import waits seconds for that copy, not for the whole import. If
other writers appended events meanwhile, the staged events are chained again after them, outside
the lock (a bounded number of times, then under it). On PostgreSQL the staging is inside the
import's transaction, which locks nothing other writers need until the final write moves the
chain head.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import attrs

from . import timeutil
from .audit import hash_text, imported_payload_template
from .canonical import GENESIS_HASH, new_event_ids
from .csvinput import NUL, instant, nul_problems, undecodable
from .definition import Pathway
from .errors import DefinitionError, Problem
from .flow import EpisodeRow, FlowState, HandoffRow
from .reports.coverage import IMPORT_SOURCES_KEY, ImportSource, add_import_source
from .sealing import SealedText, seal
from .store.base import CASE_COLUMNS, EVENT_COLUMNS, Store, dumps, row_payload_json
from .store.common import META_UPSERT, NEWEST_EVENT, read_meta
from .store.dialect import (
    analyze,
    bulk_insert,
    real_type,
    stream,
    temp_table,
    text_type,
)
from .store.flowrows import (
    EPISODE_COLUMNS,
    FLOW_COLUMNS,
    HANDOFF_COLUMNS,
    episode_row,
    flow_values,
    handoff_row,
    write_bulk,
)
from .store.privacyrows import FREE_TEXT_COLUMNS
from .store.sqlite import SqliteStore
from .timeutil import NaiveTime, format_instant

REQUIRED = ("case_id", "occurred_at", "state", "team")
STAGED_COLUMNS = (
    "line", "case_id", "at", "at_text", "state", "team", "organisation", "actor", "trigger", "data",
)  # fmt: skip
KNOWN = (*REQUIRED, "organisation", "actor", "trigger")
IMPORT_TRIGGER = "imported"
"""The trigger recorded for an imported row that names none."""

MAX_PROBLEMS = 20
BATCH = 20_000
EVENT_ID_BATCH = 1_024
"""Event ids are made this many at a time (one read of random bytes for all of them)."""
CASE_BULK_COLUMNS = (*CASE_COLUMNS, "last_seq", "last_at", *FLOW_COLUMNS)

Progress = Callable[[int], None]


@attrs.frozen
class ImportResult:
    """What an import added."""

    source: str
    rows: int
    cases: int
    closed_cases: int
    first_position: int
    last_position: int
    last_hash: str = ""
    """The hash of the last event imported (the new head of the chain)."""


DROPPED = "\x00dropped"
"""What a column named in ``drop`` is renamed to: never a real name (a NUL is refused)."""


def _undeclared(
    source: str, header: list[str], columns: list[str], keep: Sequence[str], drop: Sequence[str]
) -> list[Problem]:
    """Columns the import does not know and neither ``--keep`` nor ``--drop`` names, and names
    those options give that the header does not have: an event log's extra columns (a
    ``client_name``, an ``address``) would otherwise put personal data into the audit trail. A
    kept column is free text, outside the chain and redactable (docs/privacy.md); a dropped one
    is not read at all."""
    problems = [
        Problem(
            source,
            "",
            f"{option} names column {name!r}, which the header does not have "
            f"(columns: {', '.join(header)})",
            1,
        )
        for option, names in (("--keep", keep), ("--drop", drop))
        for name in names
        if name not in columns
    ]
    unknown = [
        name
        for name in columns
        if name not in KNOWN and name not in keep and name not in drop and NUL not in name
    ]  # a name with a NUL in it is reported as that
    if unknown:
        problems.append(
            Problem(
                source, "", f"column(s) {', '.join(unknown)} are not event-log columns (allowed: "
                f"{', '.join(KNOWN)}); name each with --keep COLUMN to keep it as free text "
                "outside the audit chain (redactable), or with --drop COLUMN to leave it out: "
                "nothing personal may enter the audit trail", 1,
            )
        )  # fmt: skip
    return problems


def _header(
    reader: Any,
    source: str,
    mapping: Mapping[str, str],
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise DefinitionError(
            [Problem(source, "", "the file is empty: expected a header row", 1)]
        ) from None
    except csv.Error as exc:
        raise DefinitionError([Problem(source, "", f"not valid CSV: {exc}", 1)]) from None
    problems = [
        Problem(
            source,
            "",
            f"--map names column {column!r}, which the header does not have (columns: {', '.join(header)})",
            1,
        )
        for column in mapping
        if column not in header
    ]
    problems.extend(nul_problems(header, header, source, 1))
    renamed = [mapping.get(name, name) for name in header]
    seen: set[str] = set()
    for name in renamed:
        if name in seen:
            problems.append(Problem(source, "", f"column {name!r} appears twice (after --map)", 1))
        seen.add(name)
    missing = [name for name in REQUIRED if name not in renamed]
    if missing:
        problems.append(
            Problem(
                source,
                "",
                f"missing required column(s) {', '.join(missing)} (the header has: {', '.join(header)}); "
                "rename columns with --map COLUMN=FIELD",
                1,
            )
        )
    problems.extend(_undeclared(source, header, renamed, keep, drop))
    if problems:
        raise DefinitionError(problems)
    return [DROPPED if name in drop else name for name in renamed]


def _stage(
    conn: Any, reader: Any, source: str, columns: list[str], progress: Progress | None
) -> int:
    """Check every row and copy it into a temporary staging table; raise on any bad row."""
    conn.execute(f"DROP TABLE IF EXISTS {temp_table(conn, 'import_rows')}")
    text, real = text_type(conn), real_type(conn)
    conn.execute(
        f"CREATE TEMP TABLE import_rows (line INTEGER, case_id {text}, at {real}, "
        f"at_text {text}, state {text}, team {text}, organisation {text}, actor {text}, "
        f"trigger {text}, data {text})"
    )
    count = _check_rows(conn, reader, source, columns, progress)
    # Sorted here, not under the write lock: the load reads the rows in this index's order.
    conn.execute("CREATE INDEX import_rows_order ON import_rows (case_id, at, line)")
    _refuse_known_cases(conn, source)
    return count


def _check_rows(
    conn: Any, reader: Any, source: str, columns: list[str], progress: Progress | None
) -> int:
    index = {name: columns.index(name) for name in KNOWN if name in columns}
    extra = [(i, name) for i, name in enumerate(columns) if name not in KNOWN and name != DROPPED]
    width = len(columns)
    problems: list[Problem] = []
    batch: list[tuple[Any, ...]] = []
    count = 0
    get_org, get_actor, get_trigger = (index.get(k) for k in ("organisation", "actor", "trigger"))
    i_case, i_at, i_state, i_team = (index[k] for k in REQUIRED)
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            count += 1
            if len(row) != width:
                problems.append(
                    Problem(source, "", f"has {len(row)} fields, the header has {width}", line)
                )
            elif any(NUL in value for value in row):
                problems.extend(nul_problems(row, columns, source, line))
            else:
                case_id = row[i_case].strip()
                state = row[i_state].strip()
                if not case_id:
                    problems.append(Problem(source, "case_id", "empty case id", line))
                if not state:
                    problems.append(Problem(source, "state", "empty state", line))
                try:
                    when = instant(row[i_at])
                except ValueError as exc:
                    problems.append(Problem(source, "occurred_at", str(exc), line))
                    when = None
                if when is not None and case_id and state:
                    team = row[i_team].strip() or None
                    data = {name: row[i] for i, name in extra if row[i] != ""} if extra else None
                    batch.append(
                        (
                            line, case_id, when.timestamp(), format_instant(when), state, team,
                            (row[get_org].strip() or None) if get_org is not None else None,
                            row[get_actor].strip() if get_actor is not None else "",
                            (row[get_trigger].strip() or None) if get_trigger is not None else None,
                            dumps(data) if data else "{}",
                        )
                    )  # fmt: skip
            if len(problems) >= MAX_PROBLEMS:
                break
            if len(batch) >= BATCH:
                bulk_insert(conn, "import_rows", STAGED_COLUMNS, batch)
                batch.clear()
                if progress is not None:
                    progress(count)
    except csv.Error as exc:
        problems.append(Problem(source, "", f"not valid CSV: {exc}", reader.line_num))
    if problems:
        raise DefinitionError(problems)
    if batch:
        bulk_insert(conn, "import_rows", STAGED_COLUMNS, batch)
    if count == 0:
        raise DefinitionError([Problem(source, "", "the file has a header but no rows", 1)])
    return count


def _refuse_known_cases(conn: Any, source: str) -> None:
    """An import adds new cases only: refuse the file if the store has any of its cases."""
    clash = conn.execute(
        "SELECT r.line, r.case_id FROM import_rows AS r JOIN cases AS c ON c.id = r.case_id "
        "ORDER BY r.line LIMIT 1"
    ).fetchone()
    if clash is not None:
        raise DefinitionError(
            [
                Problem(
                    source,
                    "case_id",
                    f"case {clash[1]!r} is already in the store: an import adds new cases only",
                    clash[0],
                )
            ]
        )


class _JsonTexts(dict[str | None, str]):
    """Each value's JSON text (``None``: ``null``), encoded the first time it is asked for:
    an import's states, teams, organisations, actors and triggers repeat on almost every row."""

    def __missing__(self, value: str | None) -> str:
        assert value is not None
        text = self[value] = encode_basestring(value)
        return text


class _Chain:
    """Append imported events to the store-wide hash chain, in bulk.

    Every event of one import shares its recording time, pathway and outcome, so its hashed text
    is one template (``audit.imported_payload_template``) formatted with the fields that differ;
    the JSON text of each state, team and organisation is encoded once and reused.
    """

    def __init__(self, head: tuple[int, str], pathway_id: str, pathway_version: str) -> None:
        self.position, self.prev = head
        self.first_position = self.position + 1
        self.recorded = format_instant(datetime.now(UTC))
        self.pathway_id = pathway_id
        self.pathway_version = pathway_version
        self.template = imported_payload_template(
            recorded_at=self.recorded, pathway_id=pathway_id, pathway_version=pathway_version
        )
        self.rows: list[tuple[Any, ...]] = []
        self._ids: list[str] = []
        self._json = _JsonTexts({None: "null"})

    def event_id(self) -> str:
        if not self._ids:
            self._ids = new_event_ids(EVENT_ID_BATCH)
            self._ids.reverse()  # popped from the end: ids in position order, as they grow
        return self._ids.pop()

    def add(
        self, case_id: str, case_json: str, seq: int, at_text: str, trigger: str,
        from_state: str | None, to_state: str, from_team: str | None, to_team: str | None,
        from_org: str | None, to_org: str | None, actor: str, data: str, closes: bool,
    ) -> None:  # fmt: skip
        """Number, hash and queue one event (``case_json``: the case id as JSON text)."""
        self.position = position = self.position + 1
        event_id = self.event_id()
        text = self._json
        to_team_json = text[to_team]
        payload = self.template % (
            text[actor], to_team_json if to_team else '""', case_json,
            "true" if closes else "false", data, event_id, text[from_org], text[from_state],
            text[from_team], at_text, position, self.prev, seq, text[to_org], text[to_state],
            to_team_json, text[trigger],
        )  # fmt: skip
        digest = hash_text(self.prev, payload)
        self.rows.append(
            (position, event_id, case_id, seq, at_text, self.recorded, trigger, from_state,
             to_state, from_team, to_team, from_org, to_org, actor, to_team or "", "[]",
             "applied", self.pathway_id, self.pathway_version, "[]", None, data, 1, int(closes),
             self.prev, digest)
        )  # fmt: skip
        self.prev = digest

    def flush(self, conn: Any, table: str = "events") -> None:
        if self.rows:
            bulk_insert(conn, table, EVENT_COLUMNS, self.rows)
            self.rows.clear()


def _organisation(pathway: Pathway | None, team: str | None, given: str | None) -> str | None:
    if team is None:
        return None
    if given:
        return given
    if pathway is not None and team in pathway.teams:
        return pathway.teams[team].organisation
    return "unknown"


def import_events(
    store: Store,
    source: Path | str,
    *,
    pathway: Pathway | None = None,
    final_states: Iterable[str] = (),
    mapping: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    text: str | None = None,
    naive_time: NaiveTime | str | None = None,
    keep: Iterable[str] = (),
    drop: Iterable[str] = (),
) -> ImportResult:
    """Import the CSV event log at ``source`` (or the given ``text``) into ``store``, all or nothing.

    ``naive_time`` says how an ``occurred_at`` without a UTC offset is read (``"utc"``,
    ``"local:Europe/London"``, ``"refuse"`` or a :class:`~pathway.timeutil.NaiveTime`; None: the
    policy in force, see :mod:`pathway.timeutil`); a refused one is a problem naming its line.
    Columns other than the known ones are refused unless named in ``keep`` (each kept column is
    free text, sealed outside the audit chain, :mod:`pathway.sealing`, and redactable) or in
    ``drop`` (not read at all).
    """
    with timeutil.naive_time(naive_time):
        return _import_events(
            store, source, pathway, final_states, mapping, progress, text, keep, drop
        )


def _import_events(
    store: Store,
    source: Path | str,
    pathway: Pathway | None,
    final_states: Iterable[str],
    mapping: Mapping[str, str] | None,
    progress: Progress | None,
    text: str | None,
    keep: Iterable[str],
    drop: Iterable[str],
) -> ImportResult:
    name = str(source)
    keep, drop = tuple(keep), tuple(drop)
    finals = set(final_states)
    if pathway is not None:
        finals.update(pathway.final_states())
    try:
        handle = (
            io.StringIO(text)
            if text is not None
            else open(source, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by `with` below
        )
    except OSError as exc:
        raise DefinitionError([Problem(name, "", f"cannot read file: {exc}")]) from None
    try:
        with handle:
            reader = csv.reader(handle)
            columns = _header(reader, name, dict(mapping or {}), keep, drop)
            if isinstance(store, SqliteStore):
                return _import_staged_apart(store, reader, name, columns, pathway, finals, progress)
            with store.transaction() as tx:
                rows = _stage(tx.connection, reader, name, columns, progress)
                return _write(tx, name, rows, pathway, finals)
    except UnicodeDecodeError:
        raise undecodable(source, name) from None


def _import_staged_apart(
    store: SqliteStore,
    reader: Any,
    name: str,
    columns: list[str],
    pathway: Pathway | None,
    finals: set[str],
    progress: Progress | None,
) -> ImportResult:
    """SQLite: build the whole import outside the write lock, then copy it in under the lock.

    Reading, checking and sorting the file, folding each case, hashing every event into the
    chain after the store's newest event and building the case rows, closed episodes and
    handoffs all happen in a deferred transaction that writes only this connection's temporary
    tables (:func:`_create_staged_tables`), so it takes no write lock: other processes fire
    transitions meanwhile. The write lock is then taken for the final write only: one
    ``INSERT ... SELECT`` per table (:func:`_write_staged`).

    The events were chained after the head the staging saw. If another writer appended events
    since, the staged events are chained again after the new head (:func:`_rechain`: new
    positions and hashes, nothing else changes), outside the lock; after ``RECHAIN_ATTEMPTS``
    such rounds (writers keep appending) the last one is done under the lock, so an import
    cannot be starved."""
    conn = store.connection
    cache = conn.execute("PRAGMA main.cache_size").fetchone()[0]
    try:
        with store.staging():
            rows = _stage(conn, reader, name, columns, progress)
            _create_staged_tables(conn)
            head = _newest(conn)
            result = _load(conn, head, name, rows, pathway, finals, staged=True)
        conn.execute(f"PRAGMA main.cache_size = -{FINAL_WRITE_CACHE_KIB}")
        attempt, linked = 1, False
        while True:
            with store.transaction() as tx:
                _refuse_cases_opened_since(tx.connection, name)
                now = tx.chain_head()
                if now != head and attempt >= RECHAIN_ATTEMPTS:
                    result, head, linked = _rechain(conn, result, now), now, True
                if now == head:
                    return _write_staged(tx, name, result, linked)
            with store.staging():  # another writer appended meanwhile: chain again, unlocked
                now = _newest(conn)
                result, head, linked = _rechain(conn, result, now), now, True
            attempt += 1
    finally:
        if not conn.in_transaction:
            conn.execute(f"PRAGMA main.cache_size = {cache}")
            for table in ("import_rows", "import_links", *_STAGED_NAMES):
                conn.execute(f"DROP TABLE IF EXISTS temp.{table}")


FINAL_WRITE_CACHE_KIB = 262_144
"""The page cache (KiB) of the store's connection during an import's final write: the indexes
the copied rows go into (a few of them in random order) stay in memory instead of being read
and spilled again, which for a large import is most of the time the lock is held."""

RECHAIN_ATTEMPTS = 3
"""Times an import chains its staged events again outside the write lock, because other writers
appended events while it was being staged, before it does so under the lock."""

_STAGED_NAMES = (
    "import_events", "import_cases", "import_closed_episodes", "import_handoffs",
    "import_free_text",
)  # fmt: skip
_STAGED = {
    "events": "temp.import_events",
    "cases": "temp.import_cases",
    "closed_episodes": "temp.import_closed_episodes",
    "handoffs": "temp.import_handoffs",
    "free_text": "temp.import_free_text",
}
"""Each store table an import writes, and the temporary table its rows are staged in."""
_STAGED_COLUMNS = {
    "events": EVENT_COLUMNS,
    "cases": CASE_BULK_COLUMNS,
    "closed_episodes": EPISODE_COLUMNS,
    "handoffs": HANDOFF_COLUMNS,
    "free_text": FREE_TEXT_COLUMNS[:5],
}


def _create_staged_tables(conn: Any) -> None:
    """Temporary tables with the columns (and types) of the tables an import writes, without
    their indexes or constraints: the rows are checked when they are copied into the store.
    Rows are read back in the order they were written (``rowid``): events by position."""
    for table, staged in _STAGED.items():
        conn.execute(f"DROP TABLE IF EXISTS {staged}")
        columns = ", ".join(_STAGED_COLUMNS[table])
        conn.execute(
            f"CREATE TEMP TABLE {staged.removeprefix('temp.')} AS "
            f"SELECT {columns} FROM main.{table} WHERE 0"
        )


def _refuse_cases_opened_since(conn: Any, source: str) -> None:
    """Under the write lock, refuse the import if a case of the file was opened since it was
    staged: a look-up of each staged case (one row per case, not per line of the file); the
    line named is found only when there is a clash."""
    clash = conn.execute(
        "SELECT 1 FROM temp.import_cases AS s JOIN main.cases AS c ON c.id = s.id LIMIT 1"
    ).fetchone()
    if clash is not None:
        _refuse_known_cases(conn, source)


def _newest(conn: Any) -> tuple[int, str]:
    """The store's newest event (position, hash), as the connection's transaction sees it."""
    head = conn.execute(NEWEST_EVENT.replace("FROM events", "FROM main.events")).fetchone()
    return (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)


def _rechain(conn: Any, result: ImportResult, head: tuple[int, str]) -> ImportResult:
    """Chain the staged events again after ``head``: each gets the next position after it, and
    its hash is recomputed from its row with that position and the hash before it
    (``row_payload_json``, the text ``audit verify`` checks). The staged rows stay as they are;
    the new (position, prev_hash, hash) of each goes into ``temp.import_links``, narrow rows
    written afresh each time, which the final write joins in (:func:`_write_staged`)."""
    conn.execute("DROP TABLE IF EXISTS temp.import_links")
    conn.execute(
        "CREATE TEMP TABLE import_links (k INTEGER PRIMARY KEY, position INTEGER, "
        "prev_hash TEXT, hash TEXT)"
    )
    position, prev = head
    last = 0
    columns = ", ".join(EVENT_COLUMNS)
    while True:
        batch = conn.execute(
            f"SELECT rowid, {columns} FROM temp.import_events WHERE rowid > ? "
            f"ORDER BY rowid LIMIT {BATCH}",
            (last,),
        ).fetchall()
        if not batch:
            break
        links = []
        for rowid, *row in batch:
            position += 1
            row[0], row[-2] = position, prev
            digest = hash_text(prev, row_payload_json(row))
            links.append((rowid, position, prev, digest))
            prev = digest
        conn.executemany("INSERT INTO temp.import_links VALUES (?, ?, ?, ?)", links)
        last = batch[-1][0]
    if result.last_position < result.first_position:  # no events (cannot happen: no empty file)
        return result
    return attrs.evolve(result, first_position=head[0] + 1, last_position=position, last_hash=prev)


_LINKED_EVENTS = ", ".join(
    f"l.{column}" if column in ("position", "prev_hash", "hash") else f"e.{column}"
    for column in EVENT_COLUMNS
)
"""The staged events' columns with each one's position and links from ``import_links``."""


def _write_staged(tx: Any, name: str, result: ImportResult, linked: bool) -> ImportResult:
    """The final write of a staged import, under the store's write lock: copy each staged table
    into the store (events in position order, with their new links if ``linked``: chained
    again by :func:`_rechain`), record the source, move the chain head."""
    conn = tx.connection
    # Kept columns' free text names its event by position: chained again, the staged events
    # moved by the same amount each (consecutive positions after the new head).
    staged_first = conn.execute("SELECT min(position) FROM temp.import_events").fetchone()[0]
    shift = result.first_position - staged_first if staged_first is not None else 0
    for table, staged in _STAGED.items():
        columns = ", ".join(_STAGED_COLUMNS[table])
        if table == "free_text" and shift:
            rest = ", ".join(_STAGED_COLUMNS[table][1:])
            conn.execute(
                f"INSERT INTO main.free_text ({columns}) SELECT event_position + ?, {rest} "
                "FROM temp.import_free_text ORDER BY rowid",
                (shift,),
            )
            continue
        if table == "events" and linked:
            conn.execute(
                f"INSERT INTO main.events ({columns}) SELECT {_LINKED_EVENTS} "
                "FROM temp.import_events AS e JOIN temp.import_links AS l ON l.k = e.rowid "
                "ORDER BY e.rowid"
            )
            continue
        conn.execute(
            f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM {staged} ORDER BY rowid"
        )
    _record_source(conn, Path(name).name or name, result)
    if result.last_position >= result.first_position:
        tx.set_chain_head(result.last_position, result.last_hash)
    return result


def _write(
    tx: Any, name: str, rows: int, pathway: Pathway | None, finals: set[str]
) -> ImportResult:
    """The final write of an import, under the store's write lock."""
    conn = tx.connection
    result = _load(conn, tx.chain_head(), name, rows, pathway, finals)
    _record_source(conn, Path(name).name or name, result)
    if result.last_position >= result.first_position:
        tx.set_chain_head(result.last_position, result.last_hash)
    conn.execute(f"DROP TABLE {temp_table(conn, 'import_rows')}")
    analyze(conn, ("cases", "events", "closed_episodes", "handoffs"))
    return result


def _record_source(conn: Any, source: str, result: ImportResult) -> None:
    """Add this import to the store's list of imported logs (its meta), in the same transaction:
    the dashboard names the data by it (a file name only: a folder may name a person)."""
    known = read_meta(conn, IMPORT_SOURCES_KEY)
    entry = ImportSource(source, result.rows, result.cases)
    conn.execute(META_UPSERT, (IMPORT_SOURCES_KEY, add_import_source(known, entry)))


def _load(
    conn: Any,
    head: tuple[int, str],
    name: str,
    rows: int,
    pathway: Pathway | None,
    finals: set[str],
    staged: bool = False,
) -> ImportResult:
    """Fold, number and hash the staged rows after the chain's ``head`` and write the events,
    case rows, closed episodes and handoffs: into the store's tables, or (``staged``) into the
    temporary tables of :func:`_create_staged_tables`, from which one statement per table copies
    them under the write lock."""
    pid = pathway.id if pathway is not None else "imported"
    pver = pathway.version if pathway is not None else ""
    chain = _Chain(head, pid, pver)
    episodes: list[EpisodeRow] = []
    handoffs: list[HandoffRow] = []
    case_rows: list[tuple[Any, ...]] = []
    free_rows: list[tuple[Any, ...]] = []
    cases = closed_cases = 0
    current: str | None = None
    flow = FlowState("")
    seq = 0
    prev_state = prev_team = prev_org = None
    opened = entered = last_text = ""
    closes = False
    case_json = ""

    def finish_case() -> None:
        nonlocal cases, closed_cases
        if current is None:
            return
        cases += 1
        closed_cases += int(closes)
        case_rows.append(
            (current, pid, pver, prev_state, prev_team or "", prev_org or "unknown", None, seq,
             opened, last_text if closes else None, entered, "[]", "{}", seq, last_text,
             *flow_values(flow))
        )  # fmt: skip

    def flush() -> None:
        """Write what has been built so far, so memory stays the same however long the file."""
        if staged:
            chain.flush(conn, _STAGED["events"])
            if free_rows:
                bulk_insert(conn, _STAGED["free_text"], FREE_TEXT_COLUMNS[:5], free_rows)
            if case_rows:
                bulk_insert(conn, _STAGED["cases"], CASE_BULK_COLUMNS, case_rows)
            bulk_insert(
                conn, _STAGED["closed_episodes"], EPISODE_COLUMNS, map(episode_row, episodes)
            )
            bulk_insert(conn, _STAGED["handoffs"], HANDOFF_COLUMNS, map(handoff_row, handoffs))
        else:
            chain.flush(conn)
            if free_rows:
                bulk_insert(conn, "free_text", FREE_TEXT_COLUMNS[:5], free_rows)
            if case_rows:
                bulk_insert(conn, "cases", CASE_BULK_COLUMNS, case_rows)
            write_bulk(conn, episodes, handoffs)
        free_rows.clear()
        case_rows.clear()
        episodes.clear()
        handoffs.clear()

    cursor = stream(
        conn,
        "SELECT case_id, at, at_text, state, team, organisation, actor, trigger, data "
        "FROM import_rows ORDER BY case_id, at, line",
    )
    for case_id, at, at_text, state, team, org_given, actor, trigger, data in cursor:
        if case_id != current:
            finish_case()
            current, flow, seq = case_id, FlowState(case_id), 0
            case_json = encode_basestring(case_id)
            prev_state = prev_team = prev_org = None
            opened = entered = at_text
        seq += 1
        org = _organisation(pathway, team, org_given)
        closes = state in finals
        if state != prev_state:
            entered = at_text
        texts: list[SealedText] = []
        if data != "{}":  # only kept columns reach the data: each is free text
            loaded = json.loads(data)
            _n, chained, texts = seal(None, loaded, list(loaded))
            data = dumps(chained)
        chain.add(
            case_id, case_json, seq, at_text, trigger or IMPORT_TRIGGER, prev_state, state,
            prev_team, team, prev_org, org, actor, data, closes,
        )  # fmt: skip
        for t in texts:
            free_rows.append((chain.position, t.field, case_id, t.value_json, t.salt))
        closed, _opened, handoff = flow.step(at, team, org, closes)
        if closed is not None:
            episodes.append(closed)
        if handoff is not None:
            handoffs.append(handoff)
        prev_state, prev_team, prev_org, last_text = state, team, org, at_text
        if len(chain.rows) >= BATCH:
            flush()
    finish_case()
    flush()
    return ImportResult(
        name, rows, cases, closed_cases, chain.first_position, chain.position, chain.prev
    )
