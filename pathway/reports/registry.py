"""The report registry: every report, built-in or a plug-in's, declared once as a :class:`ReportSpec`.

A report is one declaration: its name, a one-line description, its own options (each with its
default and help) and the function that computes it. ``pathway report NAME`` builds its
subcommand (and its ``--help``) from the spec, the dashboard and ``pathway migrate`` run the
reports through it, and a plug-in adds a report by returning a spec from its
``pathway_reports`` hook. The registry imports no report module until a report runs, so
declaring a report costs nothing at start-up.

Adding a built-in report (docs/reports.md, "How to add a report"): write the module with the
function and its record, add a ``report_<name>.schema.json`` and one :class:`ReportSpec` to
``_BUILTIN`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

import attrs

if TYPE_CHECKING:
    from ..definition import Pathway
    from .activity import Plan
    from .funding import UnitCosts
    from .scope import Scope

DEFAULT_THRESHOLD = 3
"""s75: cases that crossed the council/trust boundary more than this many times are listed."""

DEFAULT_MILESTONE = "choice_appointment"
"""waits: the state that ends the wait for a first appointment."""

OptionKind = Literal["text", "count", "file", "amount"]
"""How an option's value is typed on the command line: ``text`` as is; ``count`` a whole number
in the digits 0-9 (at least ``minimum``); ``file`` a path, read by the option's ``load`` before
the report runs; ``amount`` pounds (``11500000``, ``£11,500,000.00``) as integer pence."""

SHARED_OPTIONS = frozenset(
    {"as_of", "since", "until", "team", "fmt", "top", "db", "pathway_name", "plugins"}
)
"""The keywords of the options every report command has (its scope, output and store): a
report's own option may not take one of these names."""


@attrs.frozen
class ReportOption:
    """One option of one report: the keyword its function takes, typed and documented once.

    ``flag`` is the command-line spelling (default ``--`` and the name with ``-`` for ``_``);
    ``default`` is what the function gets when the option is not given; ``load`` (for a
    ``file``) turns the path into the value the function takes, e.g. a plan file into a
    :class:`~pathway.reports.Plan`, raising :class:`~pathway.errors.DefinitionError` with the
    file's line for a bad one.
    """

    name: str
    help: str
    kind: OptionKind = "text"
    default: Any = None
    flag: str | None = None
    metavar: str | None = None
    minimum: int = 0
    load: Callable[[Path], Any] | None = None

    @property
    def cli_flag(self) -> str:
        """The option as typed: ``--threshold``, ``--unit-costs``."""
        return self.flag or "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """The value of the option given as ``text`` (a query parameter, a form field), checked
        as the command line checks it: a ``count`` in the ASCII digits 0-9, at least
        ``minimum``; an ``amount`` in pounds (``11500000``, ``£11,500,000.00``) as integer
        pence; a ``file`` loaded from the path; ``text`` as given. ValueError says what is
        wrong."""
        if self.kind == "count":
            if not text.isascii() or not text.isdigit() or int(text) < self.minimum:
                raise ValueError(f"a whole number of at least {self.minimum}")
            return int(text)
        if self.kind == "amount":
            from ..placements import parse_pence

            return parse_pence(text.strip().removeprefix("£"), self.name, grouped=True)
        if self.kind == "file":
            return self.load(Path(text)) if self.load is not None else Path(text)
        return text


def _check_options(
    instance: ReportSpec, attribute: attrs.Attribute[Any], value: tuple[ReportOption, ...]
) -> None:
    names = [option.name for option in value]
    clash = sorted(set(names) & SHARED_OPTIONS)
    if clash:
        raise ValueError(
            f"report {instance.name!r}: option(s) {', '.join(clash)} are shared by every report"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"report {instance.name!r}: an option is declared twice")


@attrs.frozen
class ReportSpec:
    """A report: its name, what it shows, its own options and the function that computes it.

    ``function(connection, scope, pathway, **options)`` computes the report inside the database
    (``scope`` is a :class:`pathway.reports.Scope`, ``pathway`` the store's pathway or None;
    each option arrives by its ``name``, loaded, or its default) and returns a record with
    ``to_json() -> dict`` holding ``report`` (the name) and the scope's ``as_of``, ``since``,
    ``until`` and ``team``. A plug-in's report takes no options unless it declares them.

    Two optional speed-ups, used by ``pathway report``: ``write_json(connection, scope, pathway,
    out, **options)`` writes the same JSON as ``json.dumps(function(...).to_json(),
    ensure_ascii=False)`` but streamed; ``top_function(connection, scope, pathway, top,
    **options)`` returns ``(record, totals)`` with only the first ``top`` rows of a long list
    read, ``totals`` giving each cut list's full length (for table, CSV and markdown output).
    """

    name: str
    function: Any
    description: str
    options: tuple[ReportOption, ...] = attrs.field(default=(), validator=_check_options)
    help: str = ""
    write_json: Any = None
    top_function: Any = None

    def option(self, name: str) -> ReportOption:
        """The option called ``name`` (KeyError if the report has none)."""
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Every option at its default."""
        return {option.name: option.default for option in self.options}

    def run(self, conn: Any, scope: Scope, pathway: Pathway | None, **options: Any) -> Any:
        """Compute the report; options not given take their defaults (values already loaded)."""
        return self.function(conn, scope, pathway, **{**self.defaults(), **options})


# --- the built-in reports: each an adapter from the uniform call to the report's function ------
#
# Each adapter imports its module when it runs, so a command that runs one report imports one.


def _handoffs(conn: Any, scope: Scope, pathway: Pathway | None) -> Any:
    from .handoffs import handoffs_report

    return handoffs_report(conn, scope, pathway)


def _handoffs_json(conn: Any, scope: Scope, pathway: Pathway | None, out: TextIO) -> None:
    from .handoffs import write_handoffs_json

    write_handoffs_json(conn, scope, out, pathway)


def _handoffs_top(
    conn: Any, scope: Scope, pathway: Pathway | None, top: int
) -> tuple[Any, dict[str, int]]:
    from .handoffs import handoffs_report

    result = handoffs_report(conn, scope, pathway, limit=top)
    return result, {"by_case": result.cases}


def _holding(conn: Any, scope: Scope, pathway: Pathway | None, *, case_id: str | None) -> Any:
    from .holding import holding_report

    return holding_report(conn, scope, case_id)


def _s75(conn: Any, scope: Scope, pathway: Pathway | None, *, threshold: int) -> Any:
    from .s75 import s75_report

    return s75_report(conn, scope, threshold, pathway)


def _waits(conn: Any, scope: Scope, pathway: Pathway | None, *, milestone: str) -> Any:
    from .waits import waits_report

    return waits_report(conn, scope, pathway, milestone)


def _activity(conn: Any, scope: Scope, pathway: Pathway | None, *, plan: Plan | None) -> Any:
    from .activity import activity_report

    return activity_report(conn, scope, plan, pathway)


def _load_plan(path: Path) -> Plan:
    from .activity import load_plan

    return load_plan(path)


def _funding(
    conn: Any,
    scope: Scope,
    pathway: Pathway | None,
    *,
    budget_pence: int | None,
    unit_costs: UnitCosts | None,
) -> Any:
    from .funding import funding_report

    return funding_report(conn, scope, unit_costs=unit_costs, budget_pence=budget_pence)


def _load_unit_costs(path: Path) -> UnitCosts:
    from .funding import load_unit_costs

    return load_unit_costs(path)


def _monthly(conn: Any, scope: Scope, pathway: Pathway | None) -> Any:
    from .monthly import monthly_report

    return monthly_report(conn, scope)


def _caseload(conn: Any, scope: Scope, pathway: Pathway | None) -> Any:
    from .caseload import caseload_report

    return caseload_report(conn, scope)


_BUILTIN = (
    ReportSpec(
        "handoffs",
        _handoffs,
        "how often cases were passed between teams; ping-pongs; S75 crossings",
        write_json=_handoffs_json,
        top_function=_handoffs_top,
    ),
    ReportSpec(
        "holding",
        _holding,
        "which teams held the cases, for how long, in how many episodes",
        options=(
            ReportOption("case_id", "Also list this case's episodes.", flag="--case", metavar="ID"),
        ),
    ),
    ReportSpec(
        "s75",
        _s75,
        "time under council vs trust responsibility; crossings each way; statutory functions",
        help="Statutory functions (Care Act, s42, s117, MHA) are counted by each organisation's "
        "teams, where the pathway declares them.",
        options=(
            ReportOption(
                "threshold",
                "List cases that crossed the boundary more than this many times.",
                kind="count",
                default=DEFAULT_THRESHOLD,
            ),
        ),
    ),
    ReportSpec(
        "waits",
        _waits,
        "waits for a first appointment, time limits broken, reviews overdue, open offers",
        options=(
            ReportOption(
                "milestone",
                "The state that ends the wait for a first appointment.",
                default=DEFAULT_MILESTONE,
                metavar="STATE",
            ),
        ),
    ),
    ReportSpec(
        "activity",
        _activity,
        "entries into each stage against the business case's plan (Table 15)",
        options=(
            ReportOption(
                "plan",
                "A plan file instead of the business case's Table 15.",
                kind="file",
                load=_load_plan,
            ),
        ),
    ),
    ReportSpec(
        "funding",
        _funding,
        "placement spend by care type and by who pays, against --budget and Table 13",
        help="Also lists the placements to scrutinise: council-funded without eligibility or a "
        "health screen, agreed by the trust's panel and charged to the council, s117 charged to "
        "the person.",
        options=(
            ReportOption(
                "budget_pence",
                "The council's care purchasing budget for the period, in pounds (e.g. 11500000).",
                kind="amount",
                flag="--budget",
                metavar="AMOUNT",
            ),
            ReportOption(
                "unit_costs",
                "A unit costs file instead of the business case's Table 13.",
                kind="file",
                load=_load_unit_costs,
            ),
        ),
    ),
    ReportSpec(
        "monthly",
        _monthly,
        "handoffs, S75 crossings, cases opened and closed, per calendar month",
    ),
    ReportSpec(
        "caseload",
        _caseload,
        "who holds the open cases at --as-of, by team and organisation; cases per worker",
        help="Open cases per worker are set against the business case's 25-26 (Table 11).",
    ),
)

BUILTIN_REPORTS: Mapping[str, ReportSpec] = {spec.name: spec for spec in _BUILTIN}
"""The built-in reports by name, in the order ``pathway report --help`` lists them."""


def report_specs(pathway: Pathway | None) -> dict[str, ReportSpec]:
    """Every report a store on ``pathway`` can run: the built-in ones, then its plug-ins'."""
    found = dict(BUILTIN_REPORTS)
    if pathway is not None:
        found.update(pathway.reports)
    return found


def run_report(
    name: str, conn: Any, scope: Scope, pathway: Pathway | None = None, **options: Any
) -> Any:
    """Run report ``name`` (built-in, or one of ``pathway``'s plug-ins) with these options.

    Raises KeyError for a name neither has.
    """
    return report_specs(pathway)[name].run(conn, scope, pathway, **options)
