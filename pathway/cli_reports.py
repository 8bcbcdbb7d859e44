"""``pathway report``: a group with one subcommand per report, built from the report registry.

Each built-in report's subcommand (its options, defaults and ``--help``) is made from its
:class:`~pathway.reports.ReportSpec` in :data:`~pathway.reports.BUILTIN_REPORTS`; every
subcommand takes the shared options of :func:`scope_options`. A plug-in's report is a subcommand
too: installed plug-ins' reports are listed in ``pathway report --help``, and a report of the
store's pathway (its plug-ins, ``--pathway``, ``--plugin``) is found when it is run. One
function, :func:`run_report_command`, runs them all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from .cli import (
    Count,
    cli,
    fail,
    library_errors,
    parse_at,
    parse_budget,
    plugin_option,
)
from .render import FORMATS, render_record, render_rows
from .reports.registry import BUILTIN_REPORTS, ReportOption, ReportSpec, report_specs
from .store import open_store

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TOP = 20

FOOTER = """\
Definitions: docs/reports.md. Names of people never appear; case ids are shown as stored,
except that in csv a text cell starting with = + - @ a tab or a CR gets a ' in front (so a
spreadsheet shows it rather than runs it as a formula), and in markdown | \\ [ ] & < are
escaped and line breaks written as <br> (docs/reports.md, "Output formats"). JSON is raw.
When the store's newest event is more than 90 days before --as-of (an old imported log), a
notice on stderr says so and gives the --as-of to use; JSON on stdout stays valid."""


def scope_options(f: F) -> F:
    """The options every report takes: its scope, output format and length, store and pathway."""
    decorators = [
        click.option(
            "--as-of",
            "as_of",
            callback=parse_at,
            metavar="DATETIME",
            help="Show the world as it stood then (default: now).",
        ),
        click.option(
            "--since",
            callback=parse_at,
            metavar="DATETIME",
            help="Start of the period (inclusive).",
        ),
        click.option(
            "--until",
            callback=parse_at,
            metavar="DATETIME",
            help="End of the period (inclusive; never after --as-of). A date alone is its first "
            "instant (00:00 UTC): to take in the whole of 31 March, give 2026-03-31T23:59:59.999999.",
        ),
        click.option(
            "--team", help="Narrow the report to one team (see docs/reports.md for each report)."
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default="table",
            show_default=True,
            help="Output format.",
        ),
        click.option(
            "--top",
            type=Count(min=1),
            default=DEFAULT_TOP,
            show_default=True,
            help="Rows per list in table, csv and markdown output (JSON has every row).",
        ),
        click.option(
            "--db",
            envvar="PATHWAY_DB",
            default="pathway.db",
            show_default=True,
            help="The case store: a SQLite file, or a postgresql://USER@HOST/DB?schema=NAME URL "
            "(docs/postgres.md). Default: $PATHWAY_DB, else ./pathway.db.",
        ),
        click.option(
            "--pathway",
            "pathway_name",
            metavar="NAME_OR_FILE",
            help="Pathway definition (a shipped name or a YAML file). Default: the one the store "
            "was initialised with, and the plug-ins recorded with it.",
        ),
        plugin_option,
    ]
    for decorate in reversed(decorators):
        f = decorate(f)
    return f


def report_option(option: ReportOption) -> Callable[[F], F]:
    """The click option of one report option, typed as its ``kind`` says."""
    extra: dict[str, Any] = {}
    if option.kind == "count":
        extra["type"] = Count(min=option.minimum)
    elif option.kind == "amount":
        extra["callback"] = parse_budget
        extra["metavar"] = option.metavar or "AMOUNT"
    elif option.kind == "file":
        extra["type"] = click.Path(path_type=Path)
        extra["metavar"] = option.metavar or "FILE"
    elif option.metavar:
        extra["metavar"] = option.metavar
    return click.option(
        option.cli_flag,
        option.name,
        default=option.default,
        show_default=option.default is not None,
        help=option.help,
        **extra,
    )


def report_help(spec: ReportSpec, owner: str | None) -> str:
    """A report's ``--help`` text: what it shows, where it comes from, how output is written."""
    origin = f" (added by plug-in {owner})" if owner else ""
    parts = [f"The {spec.name} report{origin}: {spec.description}."]
    if spec.help:
        parts.append(spec.help)
    parts.append(FOOTER)
    return "\n\n".join(parts)


def build_report_command(
    spec: ReportSpec, owner: str | None = None, *, generic: bool = False
) -> click.Command:
    """The subcommand of report ``spec``: the shared options, then the report's own."""

    def callback(**params: Any) -> None:
        run_report_command(spec.name, params)

    callback = scope_options(callback)
    for option in reversed(spec.options):  # the report's own options first in --help
        callback = report_option(option)(callback)
    short = spec.description + (f" (plug-in {owner})" if owner else "")
    return click.command(
        spec.name,
        help=report_help(spec, owner) if not generic else spec.help,
        short_help=short,
    )(callback)


def _options_of(spec: ReportSpec, given: dict[str, Any]) -> dict[str, Any]:
    """The report's own options as its function takes them: given or default, files loaded."""
    values = {}
    for option in spec.options:
        value = given.get(option.name, option.default)
        if option.load is not None and value is not None:
            value = option.load(Path(value))
        values[option.name] = value
    return values


def _unknown(name: str, specs: Sequence[str]) -> str:
    """Why ``name`` is not a report here: a plug-in the pathway does not use, or no such name."""
    from .plugins import installed_reports

    builtin = [n for n in specs if n in BUILTIN_REPORTS]
    extra = sorted(n for n in specs if n not in BUILTIN_REPORTS)
    found = installed_reports().get(name)
    if found is not None:
        return (
            f"report {name!r} is added by plug-in {found[1]!r}, which the store's pathway does "
            f"not use: add --plugin {found[1]} (or record it: pathway init --plugin {found[1]})"
        )
    return f"unknown report {name!r} (reports: {', '.join([*builtin, *extra])})"


def run_report_command(name: str, params: dict[str, Any]) -> None:
    """Run report ``name`` with the parsed options and print it in the chosen format."""
    from .reports.coverage import stale_notice
    from .reports.scope import Scope, check_team
    from .workspace import store_pathway

    fmt: str = params.pop("fmt")
    top: int = params.pop("top")
    team: str | None = params.pop("team")
    as_of: datetime | None = params.pop("as_of")
    since, until = params.pop("since"), params.pop("until")
    db: str = params.pop("db")
    pathway_name: str | None = params.pop("pathway_name")
    plugins: tuple[str, ...] = params.pop("plugins")
    totals: dict[str, int] = {}  # the full length of a list read cut to --top
    # The store is closed however the command ends (an unknown report or team included).
    with library_errors(), closing(open_store(db, create=False)) as store:
        scope = Scope(as_of=as_of or datetime.now(UTC), since=since, until=until, team=team)
        conn = store.connection
        compiled = store_pathway(store, pathway_name, plugins)
        specs = report_specs(compiled)
        spec = specs.get(name)
        if spec is None:
            fail(_unknown(name, list(specs)))
            return
        if team is not None:
            check_team(conn, team, compiled)  # a misspelt team would give an empty report
        stale = stale_notice(conn, scope.as_of)
        if stale is not None:  # on stderr: JSON on stdout stays valid
            click.echo(
                f"notice: {stale.message()} {stale.advice(f'pathway report {name}')}", err=True
            )
        options = _options_of(spec, params)
        if fmt == "json" and spec.write_json is not None:
            # Streamed: the JSON lists every case in scope, so memory stays flat on big stores.
            spec.write_json(conn, scope, compiled, sys.stdout, **options)
            click.echo("")
            return
        if fmt != "json" and spec.top_function is not None:
            # Table, CSV and markdown show the top rows only: read only those.
            result, totals = spec.top_function(conn, scope, compiled, top, **options)
        else:
            result = spec.function(conn, scope, compiled, **options)
        data = result.to_json()
    if fmt == "json":
        # Compact: reports can list every case, and an indented dump is several times slower
        # (pipe through `python -m json.tool` to read it).
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    from .reports.render import flatten

    headline, sections = flatten(data, top, totals)
    if fmt == "csv":
        click.echo(render_rows([headline], list(headline), "csv"))
        for title, rows in sections:
            click.echo(f"\n# {title}")
            if rows:
                click.echo(render_rows(rows, list(rows[0]), "csv"))
        return
    click.echo(render_record(headline, fmt))
    for title, rows in sections:
        click.echo("")
        click.echo(f"## {title}" if fmt == "markdown" else title)
        click.echo(render_rows(rows, list(rows[0]), fmt) if rows else "(none)")


GENERIC_HELP = (
    "A report a plug-in of the store's pathway adds (or --pathway's, or --plugin's). Its own "
    "options, if any, are listed when the store's pathway can be read: run with --db."
)


def options_after_name(args: list[str]) -> list[str]:
    """``args`` with the options before the first name moved after it (every report option but
    --help takes a value: ``--opt VALUE`` or ``--opt=VALUE``). Unchanged without a name."""
    index = 0
    while index < len(args) and args[index].startswith("-"):
        if args[index] in ("-h", "--help", "--"):
            return args
        index += 1 if "=" in args[index] else 2
    if index >= len(args) or index == 0:
        return args
    return [args[index], *args[:index], *args[index + 1 :]]


class ReportGroup(click.Group):
    """The built-in reports' subcommands, and plug-in reports found when asked for.

    ``pathway report --help`` lists installed plug-ins' reports too. A name that is neither is
    looked up in the pathway the rest of the command line gives (``--db``, ``--pathway``,
    ``--plugin``), so a report of a plug-in named by a definition file works without installing
    it; an unknown name is reported with the reports there are.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Options before the report's name go to the report: ``pathway report --db x handoffs``
        still means ``pathway report handoffs --db x``, as when NAME was an argument."""
        return super().parse_args(ctx, options_after_name(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        from .plugins import installed_reports

        extra = sorted(n for n in installed_reports() if n not in self.commands)
        return [*self.commands, *extra]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        from .plugins import installed_reports

        found = installed_reports().get(cmd_name)
        return build_report_command(*found) if found is not None else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The report subcommand ``args`` names, or the unknown-report error listing them all."""
        name = args[0]
        if name in self.commands or name.startswith("-"):
            return super().resolve_command(ctx, args)
        command = _pathway_command(ctx, name, args[1:]) or self.get_command(ctx, name)
        if command is None:  # run: it names the reports there are, or why the store cannot say
            command = build_report_command(
                ReportSpec(name, None, "a plug-in's report", help=GENERIC_HELP), generic=True
            )
        return name, command, args[1:]


def _pathway_command(ctx: click.Context, name: str, rest: list[str]) -> click.Command | None:
    """The subcommand of plug-in report ``name`` of the pathway ``rest`` points to, if it has one.

    Any failure here (no store, a bad pathway) is left for the run to report in full.
    """
    from .workspace import store_pathway

    probe = scope_options(click.Command(name, context_settings={"ignore_unknown_options": True}))
    try:
        with probe.make_context(name, list(rest), parent=ctx, resilient_parsing=True) as sub:
            db, pathway_name = sub.params.get("db"), sub.params.get("pathway_name")
            plugins = tuple(sub.params.get("plugins") or ())
        if not db:
            return None
        with closing(open_store(db, create=False)) as store:
            compiled = store_pathway(store, pathway_name, plugins)
    except Exception:  # the run reports it, with the documented exit code
        return None
    if compiled is None or name not in compiled.reports:
        return None
    return build_report_command(compiled.reports[name])


@click.group(cls=ReportGroup, invoke_without_command=False)
def report() -> None:
    """Run a governance report on the store, as of a moment, for a period.

    Each report is a subcommand with its own --help (pathway report s75 --help); every one
    takes --as-of, --since, --until, --team, --format, --top, --db, --pathway and --plugin:

    \b
      pathway report handoffs --since 2026-04-01 --until 2026-09-30
      pathway report s75 --threshold 5 --format csv
      pathway report holding --case C1 --format json

    Plug-ins of the store's pathway (or --pathway, or --plugin NAME) may add reports of their
    own; those of installed plug-ins are listed below with the plug-in's name.

    Definitions: docs/reports.md. Names of people never appear; case ids are shown as stored,
    except that in csv a text cell starting with = + - @ a tab or a CR gets a ' in front (so a
    spreadsheet shows it rather than runs it as a formula), and in markdown | \\ [ ] & < are
    escaped and line breaks written as <br> (docs/reports.md, "Output formats"). JSON is raw.
    When the store's newest event is more than 90 days before --as-of (an old imported log), a
    notice on stderr says so and gives the --as-of to use; JSON on stdout stays valid.
    """


for _spec in BUILTIN_REPORTS.values():
    report.add_command(build_report_command(_spec))
cli.add_command(report)
