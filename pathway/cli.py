"""The ``pathway`` command: a thin layer over the library.

Each command parses its options, makes one library call and renders the result. Exit codes:
0 done; 1 a decision the user asked about went against them (a refused transition, a failed
verification, a definition with problems); 2 bad input (unknown names, unreadable files, bad
options), with one clear message on stderr and nothing written; 3 a concurrency conflict; 4 the
store was busy (another process held its write lock for the whole busy wait: try again); 5 the
store could not be written or read (read-only, disk full, I/O error, lost server).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

from . import __version__, reports, timeutil
from .audit import Checkpoint
from .definition import load_pathway
from .diagram import dot, mermaid
from .engine import Engine
from .errors import (
    ConcurrencyConflict,
    DefinitionError,
    InvalidRequest,
    PathwayError,
    StoreBusy,
    StoreUnusable,
    TransitionRefused,
)
from .model import Actor, Decision
from .placements import parse_pence
from .render import FORMATS, render_record, render_rows
from .serialize import to_dict
from .store import CaseQuery, open_store, remove_store, store_exists, url_display
from .timeutil import NAIVE_TIME_ENV, NaiveTime, parse_instant
from .workspace import DEFAULT_PATHWAY, PATHWAY_META_KEY, init_store, open_engine, store_pathway
from .yamlsource import read_limited_text

# Modules that only some commands need (samples, walk-throughs, imports, migration, each report)
# are imported inside those commands, so that every command starts faster.
if TYPE_CHECKING:
    from .samples import SampleStep

F = TypeVar("F", bound=Callable[..., Any])

EXIT_DECISION = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_STORE_BUSY = 4
EXIT_STORE_FAILED = 5


def parse_at(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Parse an ``--at`` option: an ISO 8601 date or date-time (a naive one is read by the
    ``--naive-time`` policy, UTC by default)."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def parse_budget(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Parse a ``--budget`` option: pounds (``11500000``, ``£11,500,000.00``) as integer pence.

    ASCII digits only; commas only as thousands separators in groups of three (``1,2,3`` is
    refused, not read as 123); at most one leading pound sign.
    """
    if value is None:
        return None
    try:
        return parse_pence(value.strip().removeprefix("£"), "AMOUNT", grouped=True)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


class Count(click.IntRange):
    """A whole-number option (``--top``, ``--threshold``, ``--expected-version``) in ASCII digits.

    Click's own integer type reads with ``int()``, which takes any script's digits ("٣" is 3),
    underscores ("1_0") and signs; a count a person types is the digits 0-9 only.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            self.fail(f"{value!r} is not a whole number in the digits 0-9", param, ctx)
        return super().convert(value, param, ctx)


def parse_definitions_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Check a ``--definitions-url``: an http(s) URL or a relative path, never ``javascript:``."""
    from .dashboard.page import check_definitions_url

    try:
        return check_definitions_url(value)
    except InvalidRequest as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@contextmanager
def library_errors() -> Iterator[None]:
    """Turn the library's errors into one clear message and the documented exit code."""
    try:
        yield
    except TransitionRefused as exc:
        click.echo(f"Refused: {exc.trigger} on case {exc.case_id}", err=True)
        for reason in exc.reasons:
            click.echo(f"  - {reason}", err=True)
        sys.exit(EXIT_DECISION)
    except ConcurrencyConflict as exc:
        fail(str(exc), EXIT_CONFLICT)
    except DefinitionError as exc:
        click.echo("Error: invalid file:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except StoreBusy as exc:
        fail(str(exc), EXIT_STORE_BUSY)
    except StoreUnusable as exc:
        fail(str(exc), EXIT_STORE_FAILED)
    except PathwayError as exc:
        fail(str(exc))
    except sqlite3.Error as exc:  # a report's own SQL on the store's connection
        store_failed(exc)
    except Exception as exc:
        if not type(exc).__module__.startswith("psycopg"):
            raise
        store_failed(exc)


def store_failed(exc: Exception) -> None:
    """A database error that reached the CLI without becoming a StoreError: one line, exit 4/5."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    busy = any(word in text for word in ("locked", "busy", "lock timeout"))
    fail(f"the store failed: {text}", EXIT_STORE_BUSY if busy else EXIT_STORE_FAILED)


def db_option(f: F) -> F:
    return click.option(
        "--db",
        envvar="PATHWAY_DB",
        default="pathway.db",
        show_default=True,
        help="The case store: a SQLite file, or a postgresql://USER@HOST/DB?schema=NAME URL "
        "(docs/postgres.md). Default: $PATHWAY_DB, else ./pathway.db.",
    )(f)


def pathway_option(f: F) -> F:
    return click.option(
        "--pathway",
        "pathway_name",
        metavar="NAME_OR_FILE",
        help="Pathway definition (a shipped name or a YAML file). Default: the one the store was initialised with.",
    )(f)


def plugin_option(f: F) -> F:
    """``--plugin NAME`` (repeatable): installed plug-ins added to the pathway, in order."""
    return click.option(
        "--plugin",
        "plugins",
        multiple=True,
        metavar="NAME",
        help="Add this installed plug-in to the pathway (repeatable; an entry-point name from "
        "`pathway plugins list`, or a module), without copying the definition to name it.",
    )(f)


def format_option(*choices: str) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices or FORMATS),
            default="table",
            show_default=True,
            help="Output format.",
        )(f)

    return decorate


def actor_options(f: F) -> F:
    f = click.option(
        "--role",
        "roles",
        multiple=True,
        metavar="ROLE",
        help="A role the actor holds (repeatable), e.g. amhp.",
    )(f)
    f = click.option("--team", required=True, help="The team the actor acts for.")(f)
    f = click.option(
        "--actor",
        "actor_id",
        required=True,
        metavar="ID",
        help="Who acts (a worker id, never a name).",
    )(f)
    return f


def data_options(f: F) -> F:
    f = click.option(
        "--set",
        "settings",
        multiple=True,
        metavar="FIELD=VALUE",
        help="Set one data field (repeatable); VALUE is read as JSON if it parses, else as text.",
    )(f)
    f = click.option(
        "--data",
        "data_json",
        metavar="JSON",
        help='Data as a JSON object, e.g. \'{"enablement_plan": "..."}\'.',
    )(f)
    return f


def parse_data(data_json: str | None, settings: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if data_json:
        try:
            loaded = json.loads(data_json)
        except json.JSONDecodeError as exc:
            fail(f"--data is not valid JSON: {exc}")
        except (ValueError, RecursionError) as exc:  # a number over 4,300 digits; deep nesting
            fail(f"--data cannot be read: {_json_limit(exc)}")
        if not isinstance(loaded, dict):
            fail('--data must be a JSON object, e.g. \'{"field": "value"}\'')
        data.update(loaded)
    for item in settings:
        field, sep, raw = item.partition("=")
        if not sep or not field:
            fail(f"--set {item!r}: expected FIELD=VALUE")
        try:
            data[field] = json.loads(raw)
        except json.JSONDecodeError:
            data[field] = raw
        except (ValueError, RecursionError) as exc:  # JSON, but past what Python reads
            fail(f"--set {field}: the value cannot be read: {_json_limit(exc)}")
    return data


def _json_limit(exc: Exception) -> str:
    """Why JSON that parses could not be read: a huge integer or nesting too deep."""
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return "a number too long (over 4,300 digits)"


def engine_for(db: str, pathway_name: str | None) -> Engine:
    with library_errors():
        return open_engine(db, pathway_name)


def echo_case(engine: Engine, case_id: str, fmt: str) -> None:
    with library_errors():
        case = engine.store.case(case_id)
    click.echo(render_record(to_dict(case), fmt))


def parse_naive_time(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> NaiveTime | None:
    """Parse ``--naive-time`` (or ``$PATHWAY_NAIVE_TIME``): ``utc``, ``local:ZONE`` or ``refuse``."""
    if value is None or not value.strip():
        return None
    try:
        return NaiveTime.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="care-pathway")
@click.option(
    "--naive-time",
    envvar=NAIVE_TIME_ENV,
    callback=parse_naive_time,
    metavar="POLICY",
    help="How a date-time without a UTC offset (--at, --since, --until, --as-of, imported CSV "
    "times) is read: utc (the default), local:ZONE (e.g. local:Europe/London: wall-clock time "
    "there; a repeated hour is the first, a skipped hour is refused) or refuse. "
    "[env: PATHWAY_NAIVE_TIME]",
)
@click.pass_context
def cli(ctx: click.Context, naive_time: NaiveTime | None) -> None:
    """Pathway governance for mental-health social care.

    Cases move through a pathway of guarded transitions; every transition, applied or refused,
    writes a hash-chained audit event, so governance can see who held each case, for how long,
    and how often it was passed around.

    \b
    Start here:
      pathway init --db cases.db                  create a store on the default pathway
      pathway validate my-pathway.yaml            check a pathway definition
      pathway case open C1 --actor w1 --team hub  open a case
      pathway case triggers C1 --actor w2 --team lets
      pathway audit verify                        check the audit chain and report rows

    \b
    Exit codes: 0 done; 1 refused / verification failed / definition has problems;
    2 bad input (nothing was written); 3 concurrency conflict (re-read and retry);
    4 store busy (retry; the wait is $PATHWAY_BUSY_TIMEOUT seconds, default 30);
    5 store cannot be written or read (read-only, disk full, I/O error, lost server).
    """
    ctx.with_resource(timeutil.naive_time(naive_time))


@cli.command()
@db_option
@click.option(
    "--pathway",
    "pathway_name",
    default=DEFAULT_PATHWAY,
    show_default=True,
    metavar="NAME_OR_FILE",
    help="The pathway the store's cases run on: a shipped name or a definition file.",
)
@plugin_option
def init(db: str, pathway_name: str, plugins: tuple[str, ...]) -> None:
    """Create a case store (or re-point an existing one) and record its pathway.

    The definition is validated first, with every --plugin added: a bad one, or a plug-in that
    is not installed, creates nothing. The plug-ins are recorded with the pathway, so every
    later command on the store (case, report, dashboard, import) uses them; re-running init
    records the plug-ins given then.

    \b
      pathway init --db cases.db --plugin amhp --plugin safeguarding
    """
    with library_errors():
        store, compiled = init_store(db, pathway_name, plugins)
        store.close()
        location = store.location
    added = f" with plug-ins {', '.join(p.name for p in compiled.plugins)}" if plugins else ""
    click.echo(
        f"Store {location} ready: pathway {compiled.id} version {compiled.version} ({compiled.title}){added}"
    )


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@plugin_option
def validate(files: tuple[Path, ...], plugins: tuple[str, ...]) -> None:
    """Check pathway definitions and sample cases (FILES) against their schemas and for meaning.

    A pathway definition is checked for unknown names, unreachable or stuck states and handoffs
    with no way back; a sample case is also played on a throw-away store, and every step that
    does not go as scripted is named. Every problem is listed with its file, line and JSON
    pointer. Exit 1 if any file has problems. --plugin adds installed plug-ins to each pathway
    definition checked (sample cases name their own).
    """
    from .samples import check_sample, is_sample_document

    bad = 0
    for path in files:
        try:
            if path.exists() and is_sample_document(path):
                sample = check_sample(path)
                click.echo(
                    f"{path}: ok: sample case {sample.id}: {len(sample.steps)} steps, as scripted"
                )
                continue
            compiled = load_pathway(path, plugins=plugins)
        except DefinitionError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            continue
        click.echo(
            f"{path}: ok: pathway {compiled.id} version {compiled.version}: "
            f"{len(compiled.states)} states, {len(compiled.transitions)} transitions, "
            f"{len(compiled.teams)} teams"
        )
    if bad:
        click.echo(f"{bad} of {len(files)} file(s) have problems", err=True)
        sys.exit(EXIT_DECISION)


@cli.group()
def case() -> None:
    """Open, move and inspect cases."""


IDEMPOTENCY_HELP = (
    "Retry-safe key: the same call again with it changes nothing and prints the first result; "
    "a different call with it is refused (exit 2)."
)
AT_HELP = (
    "When it happened (ISO 8601; default now; at most 5 minutes ahead of this machine's "
    "clock). Naive times are UTC."
)


@case.command("open")
@click.argument("case_id")
@actor_options
@data_options
@click.option(
    "--at",
    callback=parse_at,
    metavar="DATETIME",
    help=AT_HELP,
)
@click.option("--note", help="A note for the audit trail (no personal details).")
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@db_option
@pathway_option
@format_option("table", "json")
def open_(
    case_id: str,
    actor_id: str,
    team: str,
    roles: tuple[str, ...],
    data_json: str | None,
    settings: tuple[str, ...],
    at: datetime | None,
    note: str | None,
    idempotency_key: str | None,
    db: str,
    pathway_name: str | None,
    fmt: str,
) -> None:
    """Open case CASE_ID in the pathway's initial state."""
    data = parse_data(data_json, settings)
    engine = engine_for(db, pathway_name)
    with library_errors(), closing(engine.store):  # closed on a refusal or bad input too
        created = engine.open_case(
            case_id,
            Actor(actor_id, team, roles),
            at=at,
            data=data,
            note=note,
            idempotency_key=idempotency_key,
        )
    click.echo(render_record(to_dict(created), fmt))


@case.command()
@click.argument("case_id")
@click.argument("trigger")
@actor_options
@data_options
@click.option(
    "--at",
    callback=parse_at,
    metavar="DATETIME",
    help=AT_HELP,
)
@click.option("--note", help="A note for the audit trail (no personal details).")
@click.option(
    "--expected-version",
    type=Count(min=1),
    help="Refuse if the case is no longer at this version.",
)
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@db_option
@pathway_option
@format_option("table", "json")
def fire(
    case_id: str,
    trigger: str,
    actor_id: str,
    team: str,
    roles: tuple[str, ...],
    data_json: str | None,
    settings: tuple[str, ...],
    at: datetime | None,
    note: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
    db: str,
    pathway_name: str | None,
    fmt: str,
) -> None:
    """Fire TRIGGER on case CASE_ID. A refusal is recorded and its reasons printed (exit 1)."""
    data = parse_data(data_json, settings)
    engine = engine_for(db, pathway_name)
    with library_errors(), closing(engine.store):  # closed on a refusal or bad input too
        moved = engine.fire(
            case_id,
            trigger,
            Actor(actor_id, team, roles),
            at=at,
            expected_version=expected_version,
            data=data,
            note=note,
            idempotency_key=idempotency_key,
        )
    click.echo(render_record(to_dict(moved), fmt))


@case.command()
@click.argument("case_id")
@db_option
@format_option("table", "json")
def show(case_id: str, db: str, fmt: str) -> None:
    """Show case CASE_ID as it stands."""
    with library_errors(), open_store(db, create=False) as store:
        found = store.case(case_id)
    click.echo(render_record(to_dict(found), fmt))


HISTORY_COLUMNS = (
    "seq", "occurred_at", "trigger", "outcome", "from_state", "to_state", "from_team", "to_team",
    "actor_id", "actor_team", "reasons", "note",
)  # fmt: skip


@case.command()
@click.argument("case_id")
@db_option
@format_option("table", "json", "csv")
def history(case_id: str, db: str, fmt: str) -> None:
    """The audit events of case CASE_ID, oldest first (JSON gives every field)."""
    with library_errors(), open_store(db, create=False) as store:
        events = store.history(case_id)
    click.echo(render_rows([to_dict(e) for e in events], HISTORY_COLUMNS, fmt))


CASE_LIST_COLUMNS = (
    "id", "state", "team", "organisation", "worker", "version", "opened_at", "closed_at",
    "state_entered_at",
)  # fmt: skip


@case.command("list")
@click.option("--state", "states", multiple=True, help="Only cases in this state (repeatable).")
@click.option("--team", "teams", multiple=True, help="Only cases this team holds (repeatable).")
@click.option(
    "--organisation", "organisations", multiple=True, help="Only this organisation's (repeatable)."
)
@click.option(
    "--open/--closed",
    "is_open",
    default=None,
    help="Only open, or only closed, cases (default both).",
)
@click.option(
    "--changed-since",
    callback=parse_at,
    metavar="WHEN",
    help="Only cases whose newest event happened at or after WHEN (ISO 8601; naive is UTC), "
    "listed in the order of that event.",
)
@click.option("--limit", type=int, default=100, show_default=True, help="Cases a page (1 to 1000).")
@click.option("--after", metavar="CURSOR", help="The cursor the previous page gave.")
@db_option
@format_option("table", "json", "csv")
def list_(
    states: tuple[str, ...],
    teams: tuple[str, ...],
    organisations: tuple[str, ...],
    is_open: bool | None,
    changed_since: datetime | None,
    limit: int,
    after: str | None,
    db: str,
    fmt: str,
) -> None:
    """List cases a page at a time, in id order (filters combine; docs/embedding.md, "Queries").

    JSON gives {"cases": [...], "next_cursor": ...}; table and csv print the cases on stdout and,
    when another page follows, the --after to ask for it on stderr.
    """
    with library_errors():
        query = CaseQuery(
            state=states or None, team=teams or None, organisation=organisations or None,
            open=is_open, changed_since=changed_since, limit=limit, after=after,
        )  # fmt: skip
        with closing(open_store(db, create=False)) as store:
            page = store.query_cases(query)
    rows = [to_dict(found) for found in page.items]
    if fmt == "json":
        click.echo(json.dumps({"cases": rows, "next_cursor": page.next_cursor}, indent=2))
        return
    click.echo(render_rows(rows, CASE_LIST_COLUMNS, fmt))
    if page.next_cursor is not None:
        click.echo(f"next page: --after {page.next_cursor}", err=True)


def _decision_row(decision: Decision) -> dict[str, Any]:
    return {
        "trigger": decision.trigger,
        "allowed": "yes" if decision.allowed else "no",
        "to": decision.dest or "",
        "reasons": list(decision.reasons),
    }


@case.command()
@click.argument("case_id")
@actor_options
@click.option(
    "--at", callback=parse_at, metavar="DATETIME", help="Decide as of this time (default now)."
)
@db_option
@pathway_option
@format_option("table", "json", "csv")
def triggers(
    case_id: str,
    actor_id: str,
    team: str,
    roles: tuple[str, ...],
    at: datetime | None,
    db: str,
    pathway_name: str | None,
    fmt: str,
) -> None:
    """What this actor may fire on CASE_ID now, and why the rest are refused."""
    engine = engine_for(db, pathway_name)
    with library_errors(), closing(engine.store):  # closed on a refusal or bad input too
        decisions = engine.available(case_id, Actor(actor_id, team, roles), at=at)
    if fmt == "json":
        click.echo(json.dumps([to_dict(d) for d in decisions], indent=2))
        return
    click.echo(
        render_rows(
            [_decision_row(d) for d in decisions], ["trigger", "allowed", "to", "reasons"], fmt
        )
    )


@cli.group()
def audit() -> None:
    """Verify the audit trail's hash chain and print checkpoints of it."""


@audit.command()
@click.option(
    "--against",
    metavar="CHECKPOINT",
    help="A checkpoint from `pathway audit checkpoint` (its JSON, or a file holding it): also catches events cut off the end.",
)
@db_option
def verify(against: str | None, db: str) -> None:
    """Recompute the hash chain and rebuild every case's rows from its events (exit 1 on a mismatch).

    \b
    Checks, in one read snapshot of the store:
      - every event's hash and its link to the event before it (names the first that breaks);
      - every case row (state, team, version, counters, open episode), closed episode and
        handoff is exactly what the case's events give; no case or derived row without events;
      - with --against, that the checkpoint's event is still there, unchanged.
    The first problems found are named with their case. See docs/audit.md for what this proves
    and what it cannot (a consistent rewrite of every event and hash needs --against to catch).
    """
    checkpoint = None
    if against is not None:
        try:
            text = read_limited_text(Path(against)) if Path(against).is_file() else against
            checkpoint = Checkpoint.from_json(text)
        except (ValueError, DefinitionError) as exc:
            fail(f"--against: {exc}")
    with library_errors(), open_store(db, create=False) as store:
        result = store.verify(against=checkpoint)
    if result.ok:
        suffix = f", including checkpoint position {checkpoint.position}" if checkpoint else ""
        click.echo(
            f"ok: {result.events} events verified{suffix}; the rows of their {result.cases} cases "
            "(case rows, closed episodes, handoffs) match them; head position "
            f"{result.head.position} hash {result.head.hash}"
        )
        click.echo(_free_text_summary(result))
        return
    click.echo(f"FAILED: {result.problem}", err=True)
    for more in result.problems[1:]:
        click.echo(f"FAILED: {more}", err=True)
    sys.exit(EXIT_DECISION)


def _free_text_summary(result: Any) -> str:
    """What verify found of the free text kept outside the chain (docs/privacy.md)."""
    return (
        f"free text: {result.texts} held and matching their commitments; {result.redacted} "
        f"redacted (of {result.redacted_cases} case(s)) by {result.redactions} recorded "
        "redaction(s)"
    )


@audit.command()
@db_option
def checkpoint(db: str) -> None:
    """Print the chain's head (position and hash) as JSON, to keep outside the database."""
    with library_errors(), open_store(db, create=False) as store:
        head = store.checkpoint()
    click.echo(head.to_json())


@cli.command()
@click.option(
    "--pathway",
    "pathway_name",
    default=DEFAULT_PATHWAY,
    show_default=True,
    metavar="NAME_OR_FILE",
    help="The pathway to draw: a shipped name or a definition file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid stateDiagram-v2 text (renders on GitHub, no software needed) or Graphviz DOT.",
)
@plugin_option
def diagram(pathway_name: str, fmt: str, plugins: tuple[str, ...]) -> None:
    """Print the pathway's state diagram: states, transitions (labelled by trigger), offers.

    \b
    pathway diagram > pathway.mmd
    pathway diagram --format dot | dot -Tsvg > pathway.svg
    pathway diagram --plugin amhp           the shipped pathway with the amhp plug-in's steps
    """
    with library_errors():
        compiled = load_pathway(pathway_name, plugins=plugins)
    click.echo(mermaid(compiled) if fmt == "mermaid" else dot(compiled), nl=False)


@cli.group()
def plugins() -> None:
    """Plug-ins: team-specific steps, guards and observers other councils can install."""


@plugins.command("list")
@click.option(
    "--pathway",
    "pathway_name",
    metavar="NAME_OR_FILE",
    help="Show what each plug-in adds to this pathway (a shipped name or a file; default the "
    "shipped barnet-enablement), with a column saying which plug-ins it uses: those its "
    "definition names and those given with --plugin.",
)
@plugin_option
@format_option("table", "json", "csv")
def plugins_list(pathway_name: str | None, plugins: tuple[str, ...], fmt: str) -> None:
    """List the installed plug-ins (entry-point group care_pathway.plugins): what each adds, its reports, its version.

    A pathway uses a plug-in when its definition names it (plugins: [name]), when a store was
    initialised with it (pathway init --plugin NAME), when a command is given --plugin NAME, or
    when it is passed to load_pathway. A plug-in's reports run as `pathway report NAME`. See
    docs/plugins.md to write one.
    """
    from .plugins import describe_plugins

    columns = ["plugin", "version", "adds", "reports", "module"]
    if pathway_name is None and not plugins:
        rows = describe_plugins()
    else:
        with library_errors():
            compiled = load_pathway(pathway_name or DEFAULT_PATHWAY, plugins=plugins)
        rows = describe_plugins(compiled.id, [info.name for info in compiled.plugins])
        columns.append("used")
    if not rows and fmt == "table":
        click.echo("No plug-ins installed (entry-point group care_pathway.plugins).")
        return
    click.echo(render_rows(rows, columns, fmt))


@cli.command("cases")
@format_option("table", "json", "csv")
def cases_(fmt: str) -> None:
    """List the shipped sample cases with their titles and learning points."""
    from .samples import load_sample, shipped_samples

    rows = []
    with library_errors():
        for name in shipped_samples():
            sample = load_sample(name)
            rows.append(
                {"sample": name, "title": sample.title, "learning_point": sample.learning_point}
            )
    click.echo(render_rows(rows, ["sample", "title", "learning_point"], fmt))


@contextmanager
def store_location(db: str | None) -> Iterator[str]:
    """The given --db, or a throw-away store in a temporary folder."""
    if db is not None:
        yield db
        return
    with tempfile.TemporaryDirectory(prefix="care-pathway-") as folder:
        yield str(Path(folder) / "walk.db")


def _choose(engine: Engine, sample_step: SampleStep, case_id: str) -> str | None:
    """Ask the trainee which trigger to fire; None to stop. Enter takes the scripted one."""
    from .walkthrough import describe_choices

    decisions = engine.available(
        case_id, sample_step.actor, at=sample_step.when, data=sample_step.data
    )
    click.echo(f"  What should {sample_step.actor.id} ({sample_step.actor.team}) do now?")
    for line in describe_choices(decisions):
        click.echo(line)
    while True:
        answer = click.prompt(
            f"  Choose 1-{len(decisions)}, Enter for the script's {sample_step.trigger}, q to stop",
            default="",
            show_default=False,
        ).strip()
        if answer == "":
            return str(sample_step.trigger)
        if answer.lower() == "q":
            return None
        if answer.isascii() and answer.isdigit() and 1 <= int(answer) <= len(decisions):
            chosen = decisions[int(answer) - 1]
            if not chosen.allowed:
                click.echo(f"  {chosen.trigger} is not allowed: {'; '.join(chosen.reasons)}")
                continue
            return chosen.trigger
        click.echo("  Please type a number from the list, Enter, or q.")


@cli.command()
@click.argument("sample_name", metavar="SAMPLE")
@click.option("--no-pause", is_flag=True, help="Run straight through without waiting for Enter.")
@click.option(
    "--interactive",
    is_flag=True,
    help="At each step choose the next trigger among those allowed now; see why the others are not.",
)
@click.option(
    "--db",
    envvar=None,
    default=None,
    help="Keep the walk in this store (default: a temporary one).",
)
@plugin_option
def walk(
    sample_name: str, no_pause: bool, interactive: bool, db: str | None, plugins: tuple[str, ...]
) -> None:
    """Step through sample case SAMPLE (a name from `pathway cases`, or a file), explaining each step.

    Each step shows when, who acted and the trigger; state and holder before and after; each
    guard checked and why it passed or refused; and how long each team has held the case.
    --plugin adds installed plug-ins to the sample's pathway (after those the sample names).
    """
    from .samples import load_sample, play_steps, sample_pathway
    from .walkthrough import describe_sample, describe_step

    with library_errors():
        sample = load_sample(sample_name)
        compiled = sample_pathway(sample, plugins)
    for line in describe_sample(sample):
        click.echo(line)
    click.echo("")
    with store_location(db) as location, library_errors():
        store = open_store(location)
        engine = Engine(compiled, store)
        total = len(sample.steps)
        before = None
        scripted_ok = True
        for number, scripted in enumerate(sample.steps):
            step = scripted
            if interactive and number > 0:
                chosen = _choose(engine, scripted, sample.id)
                if chosen is None:
                    click.echo("Stopped.")
                    break
                if chosen != scripted.trigger:
                    click.echo(f"  (The script fires {scripted.trigger} here; you chose {chosen}.)")
                    step = attrs.evolve(scripted, trigger=chosen, refused=None)
            outcome = next(play_steps(engine, sample.id, [step], before))
            scripted_ok = scripted_ok and outcome.as_scripted
            before = outcome.after
            for line in describe_step(outcome, compiled, total):
                click.echo(line)
            click.echo("")
            if not no_pause and not interactive and number < total - 1:
                click.prompt(
                    "  [Enter for the next step]", default="", show_default=False, prompt_suffix=""
                )
        final = store.case(sample.id)
        store.close()
    reached = final.state == sample.end_state and final.team == sample.end_team
    click.echo(
        f"End: {final.state}, held by {final.team} ({final.organisation})"
        + (
            ""
            if reached or interactive
            else f"; the script expected {sample.end_state} held by {sample.end_team}"
        )
    )
    if not interactive and not (reached and scripted_ok):
        sys.exit(EXIT_DECISION)  # the engine did not do what the script says


DEMO_DASHBOARD = "pathway-demo-dashboard.html"


@cli.command()
@click.option(
    "--db", default=None, help="Keep the demo store in this file (default: a temporary one)."
)
@click.option(
    "--dashboard",
    "dashboard_path",
    default=DEMO_DASHBOARD,
    show_default=True,
    metavar="FILE.html",
    help="Where to write the performance dashboard of the sample cases (needs the dashboard extra; replaced if it exists).",
)
def demo(db: str | None, dashboard_path: str) -> None:
    """Play every sample case into a fresh store, print a short governance summary, write a dashboard.

    Shows how many cases there are, how often they were handed between teams and across the
    council/trust (Section 75) boundary, and which teams held them for how long; then writes the
    performance dashboard of the same cases (one HTML page, see `pathway dashboard`) and says
    where it is. Without the dashboard extra it says how to get it.
    """
    from .dashboard import check_output, dashboard_available, dashboard_data, write_dashboard
    from .samples import load_sample, play, sample_pathway, shipped_samples
    from .summary import summarise

    with_dashboard = dashboard_available()
    with store_location(db) as location, library_errors():
        if db is not None and Path(db).exists():
            fail(f"{db} already exists: the demo plays into a fresh store; give a new file")
        if with_dashboard:
            check_output(dashboard_path)
        store = open_store(location)
        store.set_meta(PATHWAY_META_KEY, DEFAULT_PATHWAY)
        pathways: dict[str, Any] = {}
        latest: datetime | None = None
        names = list(shipped_samples())
        for name in names:
            sample = load_sample(name)
            compiled = sample_pathway(sample)
            pathways[compiled.id] = compiled
            engine = Engine(compiled, store)
            for outcome in play(engine, sample):
                if not outcome.as_scripted:
                    fail(f"sample {name} step {outcome.step.index + 1} did not go as scripted")
            latest = max(latest or sample.steps[-1].when, sample.steps[-1].when)
        if latest is None:
            fail("no sample cases are installed")
            return
        default = load_pathway(DEFAULT_PATHWAY)
        summary = summarise(store.connection, latest, default)
        written = None
        if with_dashboard:
            board = dashboard_data(store, reports.Scope(as_of=latest), default)
            written = write_dashboard(board, dashboard_path)
        store.close()
    click.echo(
        f"Played {len(names)} sample cases into {db or 'a temporary store'} (as of {latest:%Y-%m-%d})."
    )
    click.echo("")
    click.echo(
        render_record(
            {
                "cases": summary.cases,
                "open cases": summary.open_cases,
                "audit events": summary.events,
                "refused transitions": summary.refusals,
                "handoffs between teams": summary.handoffs,
                "S75 crossings (council <-> trust)": summary.s75_crossings,
                "offers to another team (declined)": f"{summary.offers} ({summary.offers_declined})",
                "passes (declined offers + reversed transfers)": summary.passes,
                "days waiting between teams (in offers)": (
                    None
                    if summary.days_between_teams is None
                    else f"{summary.days_between_teams:.1f}"
                ),
                "interruptions (safeguarding, assessments ...)": summary.interruptions,
            },
            "table",
        )
    )
    click.echo("")
    click.echo("Who held the cases, and for how long:")
    rows = [
        {
            "team": t.team,
            "organisation": t.organisation,
            "cases": t.cases,
            "days held": f"{t.days:.1f}",
            "median episode days": f"{t.median_days:.1f}",
        }
        for t in summary.teams
    ]
    click.echo(
        render_rows(
            rows, ["team", "organisation", "cases", "days held", "median episode days"], "table"
        )
    )
    click.echo("")
    click.echo("Most passed-around cases (passes: declined offers + reversed transfers):")
    columns = [
        "case",
        "passes",
        "declined",
        "days between teams",
        "interruptions",
        "teams in order",
    ]
    top = [
        {
            "case": c.case_id,
            "passes": c.passes,
            "declined": c.offers_declined,
            "days between teams": f"{c.days_between_teams or 0:.1f}",
            "interruptions": c.interruptions,
            "teams in order": " -> ".join(c.teams),
        }
        for c in summary.most_passed
    ]
    click.echo(render_rows(top, columns, "table"))
    _echo_governance(summary)
    click.echo("")
    if written is not None:
        click.echo(f"Dashboard of these cases (open it in a web browser): {written}")
    else:
        click.echo(
            "For the performance dashboard of these cases (one HTML page): "
            "pip install 'care-pathway[dashboard]', then run pathway demo again."
        )


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option(
    "--placements",
    "placements_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Instead of an event log, load a finance extract of placements (CSV) onto cases already in the store.",
)
@click.option(
    "--pathway",
    "pathway_name",
    metavar="NAME_OR_FILE",
    help="Pathway for organisations of teams and final states (default: the store's, if any).",
)
@click.option(
    "--final-state",
    "final_states",
    multiple=True,
    metavar="STATE",
    help="A state that closes the case (repeatable), besides the pathway's final states.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Rename a column first (repeatable), e.g. --map case:concept:name=case_id.",
)
@click.option(
    "--keep",
    "keeps",
    multiple=True,
    metavar="COLUMN",
    help="Keep this extra column (repeatable) as free text outside the audit chain, redactable; "
    "any other extra column is refused.",
)
@click.option(
    "--drop",
    "drops",
    multiple=True,
    metavar="COLUMN",
    help="Leave this extra column out (repeatable, or several separated by commas): it is not read.",
)
@db_option
def import_(
    file: Path | None,
    placements_file: Path | None,
    pathway_name: str | None,
    final_states: tuple[str, ...],
    maps: tuple[str, ...],
    keeps: tuple[str, ...],
    drops: tuple[str, ...],
    db: str,
) -> None:
    """Load an event log exported from another case system (CSV), all or nothing.

    Required columns: case_id, occurred_at (ISO 8601, with or without an offset, T or space,
    fractions of seconds; one without an offset is read by --naive-time, UTC by default), state,
    team (empty: unallocated from that event). Optional:
    organisation, actor, trigger. Any other column is refused, with its name, unless --keep
    or --drop names it: a kept column is free text, stored outside the hash-chained audit trail
    with a salted commitment in the chain, and removed by `pathway case redact`; a dropped one
    is not read. A council export's client_name or address column must not enter an immutable
    trail (docs/privacy.md).
    Rows may come in any order.
    One bad row rejects the file, naming its line and field, and nothing is written; so does a
    file that is not UTF-8, a NUL character or an instant outside years 1 to 9999. On SQLite the
    file is read, checked, sorted, hashed into the audit chain and folded into its derived rows
    before the store's write lock is taken, which is held only to copy them in: other users'
    transitions wait seconds for that copy, not for the import.

    \b
    A process-mining export (XES as CSV), for example:
      pathway import receipt.csv --map case:concept:name=case_id \\
        --map time:timestamp=occurred_at --map concept:name=state --map org:group=team

    With --placements FILE, load a council's finance extract instead: one row per placement
    period at one cost, with columns case_id, placement_id, care_type (residential, nursing,
    home_care, supported_living, day_care, direct_payment), weekly_cost (pounds, two decimals),
    start_date, end_date (last day, inclusive; empty while open), council_pct, nhs_pct,
    person_pct (adding up to 100), agreed_by (the organisation whose panel agreed it); optional
    s117 (yes/no), eligibility_date, health_screen_date, provider, urgent_reason (Care Act
    s19(3), a short phrase), chc_checklist (negative, positive or pending) and s117_person
    (yes/no: entitled to s117 aftercare); the funding report's scrutiny list reads the last
    three. Every case must already be in the store, and periods of one placement must not overlap; the same all-or-nothing rules.
    """
    from .importer import import_events

    if (file is None) == (placements_file is None):
        fail("give an event log FILE or --placements FILE (one of them)")
    if placements_file is not None:
        if maps or final_states or keeps or drops:
            fail("--map, --final-state, --keep and --drop are for event logs, not --placements")
        _import_placements(placements_file, pathway_name, db)
        return
    assert file is not None
    mapping: dict[str, str] = {}
    for item in maps:
        column, sep, field = item.rpartition("=")
        if not sep or not column or not field:
            fail(f"--map {item!r}: expected COLUMN=FIELD")
        mapping[column] = field
    existed = store_exists(db)
    try:
        with library_errors(), open_store(db) as store:  # closed on a refusal too
            compiled = store_pathway(store, pathway_name)

            def progress(rows: int) -> None:
                click.echo(f"  {rows:,} rows checked", err=True)

            result = import_events(
                store,
                file,
                pathway=compiled,
                final_states=final_states,
                mapping=mapping,
                progress=progress,
                keep=keeps,
                drop=[name for item in drops for name in item.split(",") if name],
            )
            location = store.location
    except SystemExit:
        if not existed:
            remove_store(db)  # the store this import created: nothing is left behind
        raise
    click.echo(
        f"Imported {result.rows:,} events of {result.cases:,} cases ({result.closed_cases:,} closed) "
        f"from {file} into {location}; chain positions {result.first_position}-{result.last_position}."
    )


def _import_placements(file: Path, pathway_name: str | None, db: str) -> None:
    from .placement_import import import_placements

    if not store_exists(db):
        fail(f"{url_display(db)}: no such store: placements go onto cases already in a store")
    with library_errors(), open_store(db, create=False) as store:  # closed on a refusal too
        compiled = store_pathway(store, pathway_name)

        def progress(rows: int) -> None:
            click.echo(f"  {rows:,} rows checked", err=True)

        result = import_placements(store, file, pathway=compiled, progress=progress)
        location = store.location
    click.echo(
        f"Imported {result.rows:,} placement periods ({result.placements:,} placements of "
        f"{result.cases:,} cases) from {file} into {location}; chain positions "
        f"{result.first_position}-{result.last_position}."
    )


def _echo_governance(summary: Any) -> None:
    """The demo's lines on time to help, escalation, S75 functions and caseload per worker."""
    help_, rule = summary.time_to_help, summary.escalation
    if help_ is not None:
        median = "none" if help_.median_days is None else f"{help_.median_days:.1f} days"
        click.echo("")
        click.echo(
            f"Time to help (referral to a team that delivers work): median {median} over "
            f"{help_.helped} referrals helped; {len(help_.still_waiting)} still waiting."
        )
    if rule is not None:
        met = ", ".join(c.case_id for c in rule.cases) or "none"
        click.echo(
            f"Cases to escalate (met the rule of the definition, no {rule.step} recorded since): "
            f"{met}."
        )
    if summary.functions:
        click.echo("")
        click.echo("Statutory functions carried out, and how many inside the other organisation:")
        rows = [
            {
                "function": f.name,
                "duty of": f.duty_of,
                "events": f.events,
                "inside the other organisation": f.events_inside_other_organisation,
            }
            for f in summary.functions
        ]
        click.echo(render_rows(rows, list(rows[0]), "table"))
    busy = ", ".join(f"{w.worker} ({w.team}, {w.open_cases})" for w in summary.busy_workers)
    click.echo("")
    click.echo(f"Workers above 26 open cases (business case Table 11: 25-26): {busy or 'none'}.")


@cli.command()
@click.option(
    "--from",
    "source",
    required=True,
    metavar="STORE",
    help="The store to copy: a SQLite file or a postgresql:// URL.",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="STORE",
    help="A new, empty store to copy into: a SQLite file or a postgresql:// URL.",
)
def migrate(source: str, target: str) -> None:
    """Copy a store, audit chain and all, to another backend (a SQLite file <-> PostgreSQL).

    Copies the pathway setting, cases, audit events (positions and hashes unchanged), the
    reports' derived rows, personal details and idempotency keys in one transaction, and before
    committing checks that the copy's hash chain verifies up to the source's head and that every
    report gives the same JSON on both stores. Anything wrong, or a target that is not empty:
    one message, nothing written (exit 2).

    \b
    pathway migrate --from cases.db --to 'postgresql://app@db.example/care?schema=pathway'
    """
    from .migrate import migrate_store

    def progress(table: str, rows: int) -> None:
        click.echo(f"  {table}: {rows:,} rows", err=True)

    with library_errors():
        result = migrate_store(source, target, progress=progress)
    click.echo(
        f"Copied {result.rows['cases']:,} cases and {result.rows['events']:,} events from "
        f"{result.source} to {result.target}; chain verified to position {result.head.position} "
        f"(hash {result.head.hash}); reports agree: {', '.join(result.reports)}."
    )


@cli.command()
@click.option(
    "--out",
    required=True,
    metavar="FILE.html",
    help="The page to write (replaced if it exists; written whole or not at all).",
)
@click.option(
    "--as-of",
    "as_of",
    callback=parse_at,
    metavar="DATETIME",
    help="Show the world as it stood then (default: now).",
)
@click.option(
    "--since", callback=parse_at, metavar="DATETIME", help="Start of the period (inclusive)."
)
@click.option(
    "--until",
    callback=parse_at,
    metavar="DATETIME",
    help="End of the period (inclusive; never after --as-of). A date alone is its first instant "
    "(00:00 UTC): to take in the whole of 31 March, give 2026-03-31T23:59:59.999999.",
)
@click.option("--team", help="Narrow every figure to one team (see docs/reports.md for each).")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not recompute the audit chain (for boards that verify it separately); the footer then says 'not verified by this run'.",
)
@click.option(
    "--top",
    type=Count(min=1),
    default=10,
    show_default=True,
    help="Rows in each list of cases (the most passed-around, over a time limit, ...).",
)
@click.option(
    "--budget",
    callback=parse_budget,
    metavar="AMOUNT",
    help="The council's care purchasing budget for the period, in pounds (e.g. 11500000): the spend panel compares the council's placement spend with it.",
)
@click.option(
    "--unit-costs",
    "unit_costs_file",
    type=click.Path(path_type=Path),
    help="A unit costs file for the spend panel's reference figures instead of the business case's Table 13.",
)
@click.option(
    "--definitions-url",
    default="docs/reports.md",
    show_default=True,
    callback=parse_definitions_url,
    metavar="URL",
    help="Where the page links for the exact definitions, e.g. your intranet's copy of docs/reports.md: an http:// or https:// URL or a relative path (nothing else, e.g. no javascript:).",
)
@db_option
@pathway_option
def dashboard(
    out: str, as_of: datetime | None, since: datetime | None, until: datetime | None,
    team: str | None, no_verify: bool, top: int, budget: int | None, unit_costs_file: Path | None,
    definitions_url: str, db: str, pathway_name: str | None,
) -> None:  # fmt: skip
    """Write the performance dashboard: one self-contained HTML page for a governance board.

    \b
      pathway dashboard --out board.html
      pathway dashboard --since 2026-04-01 --until 2026-09-30 --out q2.html
      pathway dashboard --team cmht --as-of 2026-10-01 --out cmht.html

    The page shows the headline figures (open cases; handoffs per case, ping-pongs and S75
    crossings; the median wait for a first choice appointment; stays over a time limit; overdue
    reviews; open handoff offers), who holds the open cases now, holding days per team, the
    team-to-team handover matrix, each month's handoffs, activity against the business case's
    plan, and the most passed-around cases (pseudonymous case ids, never names); where placements
    exist, the spend on them by care type and by who pays, against --budget, and the placements
    to scrutinise. Every chart has its figures in a table beside it, and the page prints on A4.

    Everything is inside the file (scripts, styles, data): it makes no network request, so it
    can be attached to board papers or emailed and opened offline. Every figure comes from the
    reports (`pathway report NAME` gives the same numbers, defined in docs/reports.md). The footer
    gives the as-of time, the period, the audit chain's head and whether it verified: if it does
    not, the page is still written, with a warning at the top, and the exit code is 1.

    The page is titled by what the data is (the pathway, or the imported log with its cases and
    dates). When the newest event is more than 90 days before --as-of, a notice at the top (and
    on stderr) gives the --as-of to use; a figure resting on pathway states that no event of the
    data entered (reviews, offers, time limits, first appointments, Table 15) shows n/a and why.

    Needs the dashboard extra: pip install 'care-pathway[dashboard]'.
    """
    from .dashboard import check_output, dashboard_available, dashboard_data, write_dashboard
    from .errors import MissingExtra

    with library_errors():
        if not dashboard_available():
            raise MissingExtra("the dashboard", "dashboard")
        target = check_output(out)
    # The store is closed however the command ends (a bad unit costs file included).
    with library_errors(), closing(open_store(db, create=False)) as store:
        scope = reports.Scope(as_of=as_of or datetime.now(UTC), since=since, until=until, team=team)
        compiled = store_pathway(store, pathway_name)
        costs = reports.load_unit_costs(unit_costs_file) if unit_costs_file else None
        data = dashboard_data(
            store, scope, compiled, verify=not no_verify, top=top, budget_pence=budget,
            unit_costs=costs,
        )  # fmt: skip
        written = write_dashboard(data, target, definitions_url=definitions_url)
    audit = data.audit
    trail = {
        None: "not verified by this run",
        True: f"and report rows verified ({audit.events_checked or 0:,} events, "
        f"{audit.cases_checked or 0:,} cases)",
        False: "DID NOT VERIFY",
    }[audit.verified]
    click.echo(
        f"Dashboard written to {written} ({written.stat().st_size / 1e6:.1f} MB): as of "
        f"{scope.as_of_text}, {data.handoffs.cases:,} cases in scope; audit chain {trail}, "
        f"head position {audit.head.position}."
    )
    if data.stale is not None:
        command = "pathway dashboard --out FILE.html"
        click.echo(f"notice: {data.stale.message()} {data.stale.advice(command)}", err=True)
    if audit.verified is False:
        click.echo(f"FAILED: the audit chain did not verify: {audit.problem}", err=True)
        sys.exit(EXIT_DECISION)


# --- privacy: redaction, retention, subject access (issue 21; docs/privacy.md) -------------------


def _redactor_options(f: F) -> F:
    f = click.option("--team", required=True, help="The team the actor acts for.")(f)
    f = click.option(
        "--actor",
        "actor_id",
        required=True,
        metavar="ID",
        help="Who redacts (a worker id, never a name): recorded in the privacy log.",
    )(f)
    return f


@case.command()
@click.argument("case_id")
@click.option(
    "--reason",
    required=True,
    help="Why (recorded in the privacy log; no personal details), e.g. 'erasure request 2026-114'.",
)
@_redactor_options
@db_option
def redact(case_id: str, reason: str, actor_id: str, team: str, db: str) -> None:
    """Remove case CASE_ID's free text and personal details, as one audited act.

    Removes every note and free-text field of the case's events (kept outside the audit chain)
    and its personal details, and scrubs the same fields from the case row; records who, when
    and why in the privacy log; all in one transaction. The audit chain still verifies, and
    `pathway audit verify` counts the texts as redacted. On SQLite the file is then vacuumed so
    the text is not left in free pages.
    """
    from .privacy import redact_case

    with library_errors(), open_store(db, create=False) as store:
        done = redact_case(store, case_id, reason=reason, actor=Actor(actor_id, team))
    click.echo(
        f"Redacted case {case_id}: {done.texts} free text(s) removed, personal details "
        f"{'removed' if done.person else 'none held'}; privacy log entry {done.position}."
    )
    if not done.compacted:
        click.echo(COMPACT_NOTICE, err=True)


COMPACT_NOTICE = (
    "notice: the redaction is committed, but the store file could not be vacuumed now (another "
    "process had it open): the removed text may remain in its free pages; run the redaction "
    "again when the store is quiet (it records an entry that removes nothing, and vacuums; "
    "docs/privacy.md)"
)


@case.command("export")
@click.argument("case_id")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the JSON to FILE (atomically) instead of standard output.",
)
@db_option
def export_(case_id: str, out: Path | None, db: str) -> None:
    """Everything held about case CASE_ID, as JSON (a subject access request).

    The case, its personal details, its whole history with its free text (or which texts were
    redacted), its placement periods and its privacy-log entries; against the shipped schema
    schemas/case_export.schema.json.
    """
    from .privacy import export_case

    with library_errors(), open_store(db, create=False) as store:
        document = export_case(store, case_id)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    _write_atomic(out, text)
    click.echo(f"Wrote case {case_id} to {out}.", err=True)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed into place."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent or Path("."), delete=False, suffix=".tmp"
        ) as handle:
            handle.write(text)
        Path(handle.name).replace(path)
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror or exc}")


def _parse_day(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", ctx, param) from None


@cli.command()
@click.option(
    "--closed-before",
    required=True,
    callback=_parse_day,
    metavar="DATE",
    help="Closed cases whose last event is before this day (YYYY-MM-DD, UTC).",
)
@click.option("--apply", "apply_", is_flag=True, help="Redact them (default: only list them).")
@click.option("--actor", "actor_id", metavar="ID", help="Who applies it (needed with --apply).")
@click.option("--team", help="The team the actor acts for (needed with --apply).")
@click.option("--reason", help="Recorded in the privacy log (default names the date).")
@db_option
@format_option("table", "json", "csv")
def retention(
    closed_before: Any,
    apply_: bool,
    actor_id: str | None,
    team: str | None,
    reason: str | None,
    db: str,
    fmt: str,
) -> None:
    """List closed cases past the retention date that still hold free text or personal
    details; with --apply, redact them all in one audited transaction.

    Mental-health records are commonly kept 20 years after the last contact (Records
    Management Code of Practice); the council sets the date. The events stay (structured, in
    the chain); each case gets a privacy-log entry. See docs/privacy.md.
    """
    from .privacy import apply_retention, retention_candidates

    if apply_ and (not actor_id or not team):
        fail("--apply needs --actor and --team (recorded in the privacy log)")
    with library_errors(), open_store(db, create=False) as store:
        found = retention_candidates(store, closed_before)
        if apply_ and found:
            assert actor_id is not None and team is not None
            done = apply_retention(store, closed_before, actor=Actor(actor_id, team), reason=reason)
            if done and not done[0].compacted:
                click.echo(COMPACT_NOTICE, err=True)
    rows = [attrs.asdict(c) for c in found]
    columns = ("case_id", "closed_at", "last_event_at", "texts", "person")
    if rows or fmt != "table":
        click.echo(render_rows(rows, columns, fmt))
    verb = "Redacted" if apply_ else "Would redact (dry run; --apply to redact)"
    click.echo(f"{verb}: {len(found)} case(s) closed before {closed_before.isoformat()}.", err=True)


@cli.command("migrate-cases")
@click.option(
    "--map",
    "maps",
    multiple=True,
    required=True,
    metavar="OLD=NEW[:TEAM]",
    help="Move the open cases in state OLD (and return points at OLD) to state NEW of the new definition; with :TEAM, that team holds them (repeatable).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="List what would move, and any case left without a place; write nothing.",
)
@actor_options
@click.option(
    "--reason", required=True, help="Why the cases are moved (kept in each case's audit event)."
)
@db_option
@pathway_option
@format_option("table", "json", "csv")
def migrate_cases(
    maps: tuple[str, ...], dry_run: bool, actor_id: str, team: str, roles: tuple[str, ...],
    reason: str, db: str, pathway_name: str | None, fmt: str,
) -> None:  # fmt: skip
    """Move open cases onto a changed pathway definition, with an audited event each.

    \b
      pathway migrate-cases --map choice_appt=choice_appointment --dry-run \\
          --actor admin1 --team hub --reason "v2 renames the choice appointment"
      pathway migrate-cases --map cmht_review=review:cmht --actor admin1 --team hub \\
          --reason "v3 merges the reviews"

    The new definition is --pathway, else the one the store was initialised with (a definition
    file edited in place is read as it is now). Every open case in a mapped state, or with a
    return point at one, gets the new state, the map's team if it names one, and the new
    version, with one applied `migrate_case` event (actor, team, reason, the map and both
    versions), all in one transaction: a case left where the new definition has no place for it,
    or a bad map, refuses the whole migration and nothing is written (exit 2). Cases not in a
    mapped state keep their state and take the new version with their next step. The new
    definition is recorded, so engines on it open the store again. See docs/versioning.md.
    """
    from .errors import StoreError
    from .versioning import migrate_cases as migrate
    from .versioning import plan_migration

    with library_errors(), closing(open_store(db, create=False)) as store:
        compiled = store_pathway(store, pathway_name)  # with the plug-ins the store records
        if compiled is None:
            raise StoreError(f"{url_display(db)}: the store records no pathway; pass --pathway")
        if dry_run:
            plan = plan_migration(store, compiled, maps)
        else:
            actor = Actor(actor_id, team, roles)
            plan = migrate(store, compiled, maps, actor, reason)
    rows = [
        {
            "case": m.case_id, "from_state": m.from_state, "to_state": m.to_state,
            "from_team": m.from_team, "to_team": m.to_team, "from_version": m.from_version,
            "to_version": m.to_version,
            "return_points": ", ".join(f"{a}->{b}" for a, b in m.return_points),
        }
        for m in plan.moves
    ]  # fmt: skip
    if fmt == "json":
        document = {
            "pathway": plan.pathway_id, "to_version": plan.to_version, "dry_run": dry_run,
            "changes": plan.changes.lines(), "moves": rows,
            "left_stranded": [str(case) for case in plan.left_stranded],
            "positions": list(plan.positions),
        }  # fmt: skip
        click.echo(json.dumps(document, indent=2))
    else:
        columns = [
            "case", "from_state", "to_state", "from_team", "to_team", "from_version",
            "to_version", "return_points",
        ]  # fmt: skip
        click.echo(render_rows(rows, columns, fmt))
    if fmt == "table":
        for line in plan.changes.lines():
            click.echo(f"changed: {line}", err=True)
    if plan.left_stranded:
        for case in plan.left_stranded:
            click.echo(f"  no place: {case}", err=True)
        fail(
            f"{len(plan.left_stranded)} open case(s) would be left where version "
            f"{plan.to_version} has no place for them: add a --map for each (nothing written)"
        )
    if dry_run:
        click.echo(f"Dry run: {len(plan.moves)} case(s) would move; nothing written.", err=True)
    else:
        click.echo(
            f"Moved {len(plan.moves)} case(s) to pathway {plan.pathway_id} version "
            f"{plan.to_version}, one audit event each; the definition is recorded.",
            err=True,
        )


# `pathway report` is in its own module (a subcommand per report, built from the report registry);
# importing it adds it to `cli`. It uses this module's options and error handling.
from . import cli_reports  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pathway")


@functools.cache
def _all_commands() -> dict[str, click.Command]:
    """Every command by its full name (``case open``), for docs and tests."""
    found: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, command in group.commands.items():
            full = f"{prefix}{name}"
            found[full] = command
            if isinstance(command, click.Group):
                walk(command, full + " ")

    walk(cli, "")
    return found


# `serve` and `token` live in their own module, which adds them to `cli` when it is imported.
from . import cli_server  # noqa: E402, F401
