"""Import an event log exported from another case system (CSV), all or nothing.

Imported history is recorded as it happened, not replayed through guards: its states and teams
need not exist in the pathway. Each row becomes an audit event marked ``imported`` that takes part
in the hash chain, and the derived rows the reports read (episodes, handoffs) are built by the
same fold as for the engine's own events.

Columns: ``case_id``, ``occurred_at``, ``state`` and ``team`` are required (``team`` may be empty:
the case was unallocated from that event); ``organisation``, ``actor`` and ``trigger`` are
optional; any other column is kept as the event's data. ``mapping`` renames columns first
(``{"case:concept:name": "case_id"}``). Rows may come in any order; a case's rows are ordered by
time, ties by their order in the file. A row whose state is final in the pathway, or is one of
``final_states``, closes the case. One bad row rejects the whole file, naming its line and
field, and nothing is written; so does a file that is not UTF-8, a NUL character (which
PostgreSQL cannot store, so a SQLite store holding one could not be migrated), or an instant
outside years 1 to 9999. The file's name (not its folder), events and cases are added to the
store's list of imported logs (meta ``import_sources``), which names the data on the dashboard.

On SQLite the file is read, checked and sorted into a temporary table before the store's write
lock is taken, and the lock is held only for the final write (checking again, under the lock,
that no case of the file has been opened meanwhile): a transition fired during a long import waits
for that write, not for the whole import. On PostgreSQL the staging is inside the import's
transaction, which locks nothing other writers need until the final write moves the chain head.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import attrs

from . import timeutil
from .audit import hash_text, imported_payload_template
from .canonical import new_event_ids
from .csvinput import NUL, instant, nul_problems, undecodable
from .definition import Pathway
from .errors import DefinitionError, Problem
from .flow import EpisodeRow, FlowState, HandoffRow
from .reports.coverage import IMPORT_SOURCES_KEY, ImportSource, add_import_source
from .store.base import CASE_COLUMNS, EVENT_COLUMNS, Store, dumps
from .store.common import META_UPSERT, read_meta
from .store.dialect import (
    analyze,
    bulk_insert,
    real_type,
    stream,
    temp_table,
    text_type,
)
from .store.flowrows import FLOW_COLUMNS, flow_values, write_bulk
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


def _header(reader: Any, source: str, mapping: Mapping[str, str]) -> list[str]:
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
    if problems:
        raise DefinitionError(problems)
    return renamed


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
    extra = [(i, name) for i, name in enumerate(columns) if name not in KNOWN]
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

    def flush(self, conn: Any) -> None:
        if self.rows:
            bulk_insert(conn, "events", EVENT_COLUMNS, self.rows)
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
) -> ImportResult:
    """Import the CSV event log at ``source`` (or the given ``text``) into ``store``, all or nothing.

    ``naive_time`` says how an ``occurred_at`` without a UTC offset is read (``"utc"``,
    ``"local:Europe/London"``, ``"refuse"`` or a :class:`~pathway.timeutil.NaiveTime`; None: the
    policy in force, see :mod:`pathway.timeutil`); a refused one is a problem naming its line.
    """
    with timeutil.naive_time(naive_time):
        return _import_events(store, source, pathway, final_states, mapping, progress, text)


def _import_events(
    store: Store,
    source: Path | str,
    pathway: Pathway | None,
    final_states: Iterable[str],
    mapping: Mapping[str, str] | None,
    progress: Progress | None,
    text: str | None,
) -> ImportResult:
    name = str(source)
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
            columns = _header(reader, name, dict(mapping or {}))
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
    """SQLite: stage the file outside the write lock, then take the lock for the final write.

    The staging transaction is deferred and writes only the connection's temporary table, so it
    takes no write lock on the store: other processes fire transitions meanwhile."""
    conn = store.connection
    try:
        with store.staging():
            rows = _stage(conn, reader, name, columns, progress)
        with store.transaction() as tx:
            _refuse_known_cases(tx.connection, name)  # again: a case may have been opened since
            return _write(tx, name, rows, pathway, finals)
    finally:
        if not conn.in_transaction:
            conn.execute("DROP TABLE IF EXISTS temp.import_rows")


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
) -> ImportResult:
    pid = pathway.id if pathway is not None else "imported"
    pver = pathway.version if pathway is not None else ""
    chain = _Chain(head, pid, pver)
    episodes: list[EpisodeRow] = []
    handoffs: list[HandoffRow] = []
    case_rows: list[tuple[Any, ...]] = []
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
        chain.flush(conn)
        if case_rows:
            bulk_insert(conn, "cases", CASE_BULK_COLUMNS, case_rows)
        write_bulk(conn, episodes, handoffs)
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
        chain.add(
            case_id, case_json, seq, at_text, trigger or IMPORT_TRIGGER, prev_state, state,
            prev_team, team, prev_org, org, actor, data, closes,
        )  # fmt: skip
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
