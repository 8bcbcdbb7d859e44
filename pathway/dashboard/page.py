"""Render a :class:`~pathway.dashboard.data.DashboardData` as one self-contained HTML page.

The page carries everything inside it: the styles, Plotly's JavaScript (inlined once, from the
``plotly`` package of the ``dashboard`` extra), the figures of every chart as JSON, and the code
that draws them. It makes no network request (its Content-Security-Policy forbids any), so it
opens on a locked-down laptop with no internet access, attached to board papers or sent by email.

Every chart has its figures in a ``<table>`` next to it, for screen readers and for print; the
colours are the Okabe-Ito palette and cividis, which colour-blind readers can tell apart; the page
prints on A4. Every value that comes from data (team names, case ids, stage names) is
HTML-escaped, including inside the charts, where Plotly would otherwise read a little HTML.

The HTML is Jinja2 templates (``templates/page.html`` and its ``macros.html``) with autoescaping
on: :func:`page_context` computes every value the page shows and the templates only lay them out,
so no value can reach the page unescaped by a forgotten call. The only text shown as it is are
:data:`RAW_VALUES` (the shipped stylesheet and script, Plotly's bundle, the charts' JSON), each
made safe for its element here. The charts' figures are built in Python, not in templates.

The page is a list of panels, each built from the record by one function of :data:`PANELS`; a
function returns ``None`` when it has nothing to show, so a panel for data some stores do not
have (e.g. spend on placements) is one more function in that list.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .. import __version__
from ..errors import InvalidRequest, MissingExtra
from ..timeutil import format_instant, to_utc
from .data import DashboardData, pounds

if TYPE_CHECKING:
    import jinja2

DEFINITIONS_URL = "docs/reports.md"
"""Where the page links for the reports' exact definitions (relative: next to the docs folder)."""

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SAFE_URL_TEXT = re.compile(r"[!-~]+")
"""Printable ASCII with no space: browsers drop tabs and newlines inside a scheme
(``java\tscript:``) and leading spaces, so such text is refused rather than read."""


def check_definitions_url(url: str) -> str:
    """``url`` when the page may link to it: an ``http(s)://host/...`` URL or a relative path.

    Anything else (``javascript:``, ``data:``, ``file:``, a protocol-relative ``//host``) would
    run or fetch something when a board member clicks "Definition": raises
    :class:`InvalidRequest`.
    """
    problem = None
    scheme = _URL_SCHEME.match(url)
    if not _SAFE_URL_TEXT.fullmatch(url):
        problem = "has spaces or characters other than printable ASCII" if url else "is empty"
    elif "\\" in url:
        problem = "has a backslash (browsers read it as /)"
    elif scheme is not None:
        rest = url[scheme.end() :]
        if scheme[1].lower() not in ("http", "https"):
            problem = f"uses the scheme {scheme[1]!r}"
        elif not rest.startswith("//") or not rest[2:].split("/", 1)[0]:
            problem = "has no host (write http(s)://host/path)"
    elif url.startswith("//"):
        problem = "is protocol-relative (write http(s)://host/path)"
    if problem is not None:
        raise InvalidRequest(
            f"definitions URL {url!r} {problem}: give an http:// or https:// URL or a relative path"
        )
    return url


PRINT_WIDTH_PX = 680
"""Chart width when printing: A4's 210 mm less 2 x 12 mm margins is 703 px at 96 px an inch."""

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
"""Okabe & Ito's palette: distinguishable with every common colour-vision deficiency."""
UNALLOCATED_COLOUR = "#999999"
HEATMAP_COLOURS = "Cividis"
"""Perceptually uniform and readable with red-green colour blindness (Nuñez et al., 2018)."""

DASH = "\u2013"
"""Shown for a figure that has no value (an en dash)."""

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

ANCHORS = {
    "common": "common-rules",
    "holding": "holding-pathway-report-holding",
    "handoffs": "handoffs-pathway-report-handoffs",
    "s75": "s75-pathway-report-s75",
    "waits": "waits-pathway-report-waits",
    "activity": "activity-pathway-report-activity",
    "monthly": "monthly-pathway-report-monthly",
    "caseload": "caseload-pathway-report-caseload",
    "funding": "funding-pathway-report-funding",
}
"""The sections of docs/reports.md each panel's definitions are in (GitHub's heading anchors)."""


# --- the page's parts, free of any charting library ---------------------------------------------


@attrs.frozen
class Table:
    """A table of figures: ``numeric`` marks the columns to right-align."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    numeric: tuple[bool, ...] = ()


@attrs.frozen
class Chart:
    """One chart: a Plotly figure (plain JSON: ``data`` and ``layout``) and its figures as a table."""

    id: str
    title: str
    description: str
    figure: dict[str, Any]
    table: Table


@attrs.frozen
class Panel:
    """A titled part of the page: what it shows, where it is defined, its charts and tables."""

    id: str
    title: str
    intro: str
    definition: str
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    wide: bool = False


# --- the extra ----------------------------------------------------------------------------------


def dashboard_available() -> bool:
    """Whether the ``dashboard`` extra (Plotly and Jinja2) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("plotly", "jinja2"))


def _plotly_js() -> str:
    """Plotly's JavaScript bundle, from the installed package (imported only when needed)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise MissingExtra("the dashboard", "dashboard") from None
    script = str(get_plotlyjs())
    # Inline in <script>: a "</script" inside would end the element early.
    return re.sub(r"</(script)", r"<\\/\1", script, flags=re.IGNORECASE)


def _asset(name: str) -> str:
    return resources.files("pathway.dashboard").joinpath(name).read_text("utf-8")


# --- formatting ---------------------------------------------------------------------------------


def _t(value: Any) -> str:
    """Text for inside a chart: Plotly reads a little HTML in labels, so escape it."""
    return html.escape(str(value), quote=False)


def _cell(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _how_many(shown: int, total: int) -> str:
    """A list's size for its caption: ``(4)``, or ``(first 10 of 25)`` when cut."""
    return f"({total:,})" if total <= shown else f"(first {shown:,} of {total:,})"


def _percent(ratio: float | None) -> str | None:
    if ratio is None:
        return None
    return f"{ratio:.1%}" if abs(ratio) < 0.1 else f"{ratio:.0%}"


def _date(text: str | None) -> str | None:
    return text[:10] if text else None


def _instant(value: datetime | None) -> str:
    if value is None:
        return ""
    return to_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _json_for_script(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' and no line separators."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


LEGEND = {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": height,
        "autosize": True,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10, "pad": 2},
        "font": {"family": FONT, "size": 12, "color": "#1a1a1a"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "showlegend": False,
        "legend": LEGEND,
        "hoverlabel": {"font": {"family": FONT}},
    }
    for axis in ("xaxis", "yaxis"):
        layout[axis] = {"automargin": True, "gridcolor": "#e5e5e5", "zerolinecolor": "#bbbbbb"}
    for key, value in extra.items():
        if key in ("xaxis", "yaxis") and isinstance(value, dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _organisation_colours(organisations: Iterable[str | None]) -> dict[str | None, str]:
    named = sorted({o for o in organisations if o is not None})
    colours: dict[str | None, str] = {o: OKABE_ITO[i % len(OKABE_ITO)] for i, o in enumerate(named)}
    colours[None] = UNALLOCATED_COLOUR
    return colours


def _team_organisations(data: DashboardData) -> dict[str, str | None]:
    """Each team's organisation, as the holding and caseload reports give it."""
    found: dict[str, str | None] = {t.team: t.organisation for t in data.holding.by_team}
    for t in data.caseload.by_team:
        found.setdefault(t.team, t.organisation)
    return found


def _period_end(data: DashboardData) -> datetime:
    """The period's end: the earlier of --until and --as-of."""
    end = to_utc(data.scope.as_of)
    return end if data.scope.until is None else min(end, to_utc(data.scope.until))


def _period(data: DashboardData) -> str:
    if data.scope.since is None:
        return f"everything up to {_instant(_period_end(data))}"
    return f"{_instant(data.scope.since)} to {_instant(_period_end(data))}"


# --- panels ---------------------------------------------------------------------------------------


def holders_panel(data: DashboardData) -> Panel:
    """Who holds the open cases now, by team and by organisation (caseload report)."""
    report = data.caseload
    colours = _organisation_colours([t.organisation for t in report.by_team])
    bars = [*((t.team, t.organisation, t.cases) for t in report.by_team)]
    if report.unallocated:
        bars.append(("(unallocated)", None, report.unallocated))
    traces = []
    for organisation in sorted({o for _t_, o, _n in bars}, key=lambda o: (o is None, o or "")):
        rows = [(team, n) for team, org, n in bars if org == organisation]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": _t(data.organisation_label(organisation)),
                "y": [_t(team) for team, _n in rows],
                "x": [n for _team, n in rows],
                "marker": {"color": colours[organisation]},
                "text": [str(n) for _team, n in rows],
                "textposition": "auto",
                "hovertemplate": "%{y}: %{x} open cases<extra>%{fullData.name}</extra>",
            }
        )
    order = [_t(team) for team, _o, _n in bars]
    charts: tuple[Chart, ...] = ()
    if bars:
        charts = (
            Chart(
                "chart-holders",
                "Open cases by the team holding them",
                "Bar chart of the open cases each team holds now, coloured by organisation.",
                {
                    "data": traces,
                    "layout": _layout(
                        90 + 30 * len(bars),
                        showlegend=True,
                        barmode="stack",
                        yaxis={"categoryorder": "array", "categoryarray": order[::-1]},
                        xaxis={"title": {"text": "open cases"}, "rangemode": "tozero"},
                    ),
                },
                Table(
                    "Open cases by holder",
                    ("team", "organisation", "open cases"),
                    tuple(
                        (team, data.organisation_label(org) if org else DASH, n)
                        for team, org, n in bars
                    ),
                    (False, False, True),
                ),
            ),
        )
    by_org = Table(
        "Open cases by organisation",
        ("organisation", "open cases"),
        (
            *((data.organisation_label(o.organisation), o.cases) for o in report.by_organisation),
            *((("unallocated", report.unallocated),) if report.unallocated else ()),
            ("all open cases", report.open_cases),
        ),
        (False, True),
    )
    bench = report.benchmark
    per_team = Table(
        f"Open cases per worker by team (business case: {bench.per_worker_low}"
        f"{DASH}{bench.per_worker_high} per worker)",
        ("team", "workers", "with a worker", "without one", "mean per worker"),
        tuple(
            (t.team, t.workers, t.with_worker, t.without_worker, t.mean_per_worker)
            for t in report.team_workers
        ),
        (False, True, True, True, True),
    )
    workers = Table(
        "Open cases per worker " + _how_many(data.top, len(report.by_worker)),
        ("worker", "team", "open cases", f"above {bench.per_worker_high}"),
        tuple(
            (w.worker, w.team, w.open_cases, w.above_benchmark)
            for w in report.by_worker[: data.top]
        ),
        (False, False, True, False),
    )
    return Panel(
        "holders",
        "Who holds the cases now",
        f"{report.open_cases:,} cases were open at {_instant(data.scope.as_of)}: held by a team, "
        "or unallocated (open, and held by nobody). A case is open while a holding episode of it "
        "runs; closing a case ends its episode. A case's worker is the holding team's member who "
        "last acted on it since the team took it; the business case's figure is "
        f"{bench.source}.",
        ANCHORS["caseload"],
        charts,
        (by_org, per_team, workers),
    )


def holding_panel(data: DashboardData) -> Panel:
    """Holding days per team: median and 90th percentile of episodes (holding report)."""
    teams = data.holding.by_team
    table = Table(
        "Holding per team in the period",
        ("team", "organisation", "episodes", "cases", "days held", "median days", "p90 days"),
        tuple(
            (
                t.team,
                data.organisation_label(t.organisation) if t.organisation else DASH,
                t.episodes,
                t.cases,
                t.days,
                t.median_days,
                t.p90_days,
            )
            for t in teams
        ),
        (False, False, True, True, True, True, True),
    )
    charts: tuple[Chart, ...] = ()
    if teams:
        names = [_t(t.team) for t in teams]
        charts = (
            Chart(
                "chart-holding",
                "Days a team holds a case: median and 90th percentile of episodes",
                "Bar chart of the median and 90th-percentile holding episode per team, in days.",
                {
                    "data": [
                        {
                            "type": "bar",
                            "name": "median episode",
                            "x": names,
                            "y": [t.median_days for t in teams],
                            "marker": {"color": OKABE_ITO[0]},
                            "hovertemplate": "%{x}: median %{y:.1f} days<extra></extra>",
                        },
                        {
                            "type": "bar",
                            "name": "90th percentile",
                            "x": names,
                            "y": [t.p90_days for t in teams],
                            "marker": {"color": OKABE_ITO[1], "pattern": {"shape": "/"}},
                            "hovertemplate": "%{x}: 90th percentile %{y:.1f} days<extra></extra>",
                        },
                    ],
                    "layout": _layout(
                        340,
                        showlegend=True,
                        barmode="group",
                        yaxis={"title": {"text": "days"}, "rangemode": "tozero"},
                        xaxis={"type": "category"},
                    ),
                },
                table,
            ),
        )
    return Panel(
        "holding",
        "How long teams hold cases",
        "A team holds a case from the event that gives it the case to the next event; time with "
        "one team is an episode. Days and episodes count inside the period only. Unallocated "
        f"time in the period: {data.holding.unallocated_days:,.1f} days.",
        ANCHORS["holding"],
        charts,
        () if charts else (table,),
    )


def s75_panel(data: DashboardData) -> Panel:
    """Days under each organisation's responsibility and crossings each way (s75 report)."""
    report = data.s75
    colours = _organisation_colours([o.organisation for o in report.by_organisation])
    table = Table(
        "Holding days by organisation",
        ("organisation", "days held", "cases"),
        tuple(
            (data.organisation_label(o.organisation), o.days, o.cases)
            for o in report.by_organisation
        ),
        (False, True, True),
    )
    charts: tuple[Chart, ...] = ()
    if report.by_organisation:
        charts = (
            Chart(
                "chart-s75",
                "Days under each organisation's responsibility",
                "Bar chart of the holding days in the period by the holding team's organisation.",
                {
                    "data": [
                        {
                            "type": "bar",
                            "x": [
                                _t(data.organisation_label(o.organisation))
                                for o in report.by_organisation
                            ],
                            "y": [o.days for o in report.by_organisation],
                            "marker": {
                                "color": [colours[o.organisation] for o in report.by_organisation]
                            },
                            "hovertemplate": "%{x}: %{y:,.1f} days<extra></extra>",
                        }
                    ],
                    "layout": _layout(
                        300,
                        yaxis={"title": {"text": "days held"}, "rangemode": "tozero"},
                        xaxis={"type": "category"},
                    ),
                },
                table,
            ),
        )
    crossings = Table(
        "S75 crossings by direction",
        ("from", "to", "crossings"),
        tuple(
            (
                data.organisation_label(c.from_organisation),
                data.organisation_label(c.to_organisation),
                c.count,
            )
            for c in report.crossings
        ),
        (False, False, True),
    )
    over = Table(
        f"Cases that crossed more than {report.threshold} times "
        + _how_many(data.top, len(report.cases_over_threshold)),
        ("case", "crossings"),
        tuple((c.case_id, c.crossings) for c in report.cases_over_threshold[: data.top]),
        (False, True),
    )
    functions: tuple[Table, ...] = ()
    intro_functions = ""
    if report.functions is not None:
        functions = (
            Table(
                "Statutory functions carried out in the period",
                (
                    "function",
                    "duty of",
                    "reference",
                    "events",
                    "cases",
                    "inside the other organisation",
                    "their cases",
                ),
                tuple(
                    (
                        f.name,
                        data.organisation_label(f.duty_of),
                        f.reference,
                        f.events,
                        f.cases,
                        f.events_inside_other_organisation,
                        f.cases_inside_other_organisation,
                    )
                    for f in report.functions.totals
                ),
                (False, False, False, True, True, True, True),
            ),
            Table(
                "Statutory functions by acting team",
                (
                    "function",
                    "team",
                    "organisation",
                    "events",
                    "cases",
                    "inside the other organisation",
                ),
                tuple(
                    (
                        r.function,
                        r.team if r.team is not None else DASH,
                        data.organisation_label(r.organisation),
                        r.events,
                        r.cases,
                        r.inside_other_organisation,
                    )
                    for r in report.functions.by_team
                ),
                (False, False, False, True, True, False),
            ),
        )
        inside = sum(f.events_inside_other_organisation for f in report.functions.totals)
        intro_functions = (
            f" {inside:,} statutory functions were carried out by a team of an organisation "
            "other than the one whose duty they are."
        )
    return Panel(
        "s75",
        "Across the Section 75 boundary",
        f"Time held by council and trust teams, and handoffs between them. "
        f"{len(report.cases_over_threshold):,} cases crossed the boundary more than "
        f"{report.threshold} times in the period.{intro_functions}",
        ANCHORS["s75"],
        charts,
        (*(() if charts else (table,)), crossings, over, *functions),
    )


def handovers_panel(data: DashboardData) -> Panel:
    """The team-to-team handover matrix as a heat map, and offers (handoffs report)."""
    report = data.handoffs
    organisations = _team_organisations(data)
    teams = sorted(
        {p.from_team for p in report.by_pair} | {p.to_team for p in report.by_pair},
        key=lambda t: (organisations.get(t) or "~", t),
    )
    counts = {(p.from_team, p.to_team): p.count for p in report.by_pair}
    matrix = Table(
        "Handoffs from team (rows) to team (columns)",
        ("from \\ to", *teams),
        tuple((a, *(counts.get((a, b), 0) for b in teams)) for a in teams),
        (False, *(True for _ in teams)),
    )
    charts: tuple[Chart, ...] = ()
    if teams:
        labels = [_t(t) for t in teams]
        charts = (
            Chart(
                "chart-handovers",
                "Handoffs from team (row) to team (column)",
                "Heat map of handoffs from each team (rows) to each team (columns); darker is fewer.",
                {
                    "data": [
                        {
                            "type": "heatmap",
                            "x": labels,
                            "y": labels,
                            "z": [[counts.get((a, b)) for b in teams] for a in teams],
                            "colorscale": HEATMAP_COLOURS,
                            "hoverongaps": False,
                            "texttemplate": "%{z}",
                            "colorbar": {"title": {"text": "handoffs"}, "thickness": 12},
                            "hovertemplate": "%{y} → %{x}: %{z} handoffs<extra></extra>",
                            "xgap": 1,
                            "ygap": 1,
                        }
                    ],
                    "layout": _layout(
                        120 + 34 * len(teams),
                        xaxis={"title": {"text": "to team"}, "type": "category", "side": "top"},
                        yaxis={
                            "title": {"text": "from team"},
                            "type": "category",
                            "autorange": "reversed",
                        },
                    ),
                },
                matrix,
            ),
        )
    tables: list[Table] = []
    if report.by_offer is not None and data.shows("offers"):
        tables.append(
            Table(
                "Offers to another team, and how many were declined",
                ("offering team", "offered to", "offered", "declined"),
                tuple(
                    (o.from_team or "(unallocated)", o.to_team, o.offered, o.declined)
                    for o in report.by_offer
                ),
                (False, False, True, True),
            )
        )
    offers = (
        f" {report.offers:,} offers were made to another team and {report.offers_declined:,} "
        "declined (a declined offer is not a handoff: the offering team kept the case)."
        if report.offers is not None and report.offers_declined is not None and data.shows("offers")
        else ""
    )
    return Panel(
        "handovers",
        "Handovers between teams",
        f"{report.handoffs:,} handoffs in the period: a case's holding team changed between "
        f"two of its events.{offers}",
        ANCHORS["handoffs"],
        charts,
        tuple(tables) if charts else (matrix, *tables),
        wide=True,
    )


def _months_cut(data: DashboardData, shown: Sequence[Any]) -> str:
    """The sentence saying the months after the newest event are left out, when they are."""
    dropped = len(data.monthly.months) - len(shown)
    if not dropped or data.facts is None or data.facts.newest_event is None:
        return ""
    return (
        f" The chart ends with the month of the newest event ({data.facts.newest_event[:7]}): "
        f"the {dropped:,} months from then to as-of have no events."
    )


def monthly_panel(data: DashboardData) -> Panel:
    """Handoffs, S75 crossings, cases opened and closed per month (monthly report)."""
    months = data.chart_months()
    table = Table(
        "Per calendar month (UTC)",
        ("month", "handoffs", "S75 crossings", "cases opened", "closures"),
        tuple((m.month, m.handoffs, m.s75_crossings, m.opened, m.closed) for m in months),
        (False, True, True, True, True),
    )
    labels = [m.month for m in months]
    charts: tuple[Chart, ...] = ()
    if months:
        charts = (
            Chart(
                "chart-monthly",
                "Handoffs and cases, month by month",
                "Bar and line chart per calendar month: handoffs, S75 crossings, cases opened, "
                "closures.",
                {
                    "data": [
                        {
                            "type": "bar",
                            "name": "handoffs",
                            "x": labels,
                            "y": [m.handoffs for m in months],
                            "marker": {"color": OKABE_ITO[0]},
                        },
                        {
                            "type": "bar",
                            "name": "S75 crossings",
                            "x": labels,
                            "y": [m.s75_crossings for m in months],
                            "marker": {"color": OKABE_ITO[5], "pattern": {"shape": "/"}},
                        },
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "name": "cases opened",
                            "x": labels,
                            "y": [m.opened for m in months],
                            "line": {"color": OKABE_ITO[2], "width": 2},
                            "marker": {"symbol": "circle", "size": 6},
                        },
                        {
                            "type": "scatter",
                            "mode": "lines+markers",
                            "name": "closures",
                            "x": labels,
                            "y": [m.closed for m in months],
                            "line": {"color": OKABE_ITO[3], "width": 2, "dash": "dash"},
                            "marker": {"symbol": "square", "size": 6},
                        },
                    ],
                    "layout": _layout(
                        360,
                        showlegend=True,
                        barmode="group",
                        hovermode="x unified",
                        xaxis={"type": "category", "title": {"text": "month (UTC)"}},
                        yaxis={"rangemode": "tozero"},
                    ),
                },
                table,
            ),
        )
    return Panel(
        "monthly",
        "Month by month",
        "Handoffs and S75 crossings counted in the month they happened (they add up to the "
        "headline figures); cases opened by their first event; closures by closing events."
        + _months_cut(data, months),
        ANCHORS["monthly"],
        charts,
        () if charts else (table,),
        wide=True,
    )


def activity_panel(data: DashboardData) -> Panel:
    """Entries into each stage against the plan, prorated to the period (activity report)."""
    report = data.activity
    if not data.shows("activity"):
        return Panel(
            "activity",
            "Activity against the business case plan",
            f"Not shown: {data.hidden['activity']}, so nothing can be counted against the plan "
            f"({report.plan_source}).",
            ANCHORS["activity"],
        )
    stages = report.stages
    table = Table(
        f"Activity in {report.period_days:,.0f} days against the plan",
        ("stage", "actual", "plan", "plan (high)", "actual ÷ plan"),
        tuple(
            (
                s.stage,
                s.actual,
                s.plan,
                s.plan_high,
                _percent(s.ratio),
            )
            for s in stages
        ),
        (False, True, True, True, True),
    )
    names = [_t(s.stage) for s in stages]
    chart = Chart(
        "chart-activity",
        "Activity per stage against the business case plan",
        "Horizontal bar chart per stage: the actual count and the plan prorated to the period.",
        {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": "actual",
                    "y": names,
                    "x": [s.actual for s in stages],
                    "marker": {"color": OKABE_ITO[0]},
                    "hovertemplate": "%{y}: %{x} actual<extra></extra>",
                },
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": "plan (prorated; whisker: high)",
                    "y": names,
                    "x": [s.plan for s in stages],
                    "marker": {"color": OKABE_ITO[1], "pattern": {"shape": "."}},
                    "error_x": {
                        "type": "data",
                        "symmetric": False,
                        "array": [
                            (s.plan_high - s.plan) if s.plan_high is not None else 0 for s in stages
                        ],
                        "arrayminus": [0 for _ in stages],
                        "color": "#444444",
                    },
                    "hovertemplate": "%{y}: plan %{x:.1f}<extra></extra>",
                },
            ],
            "layout": _layout(
                80 + 42 * len(stages),
                showlegend=True,
                barmode="group",
                yaxis={"autorange": "reversed", "type": "category"},
                xaxis={"rangemode": "tozero", "title": {"text": "in the period"}},
            ),
        },
        table,
    )
    period = (
        "the period"
        if data.scope.since is not None
        else f"the 365 days up to {_instant(_period_end(data))}"
    )
    return Panel(
        "activity",
        "Activity against the business case plan",
        f"Each stage counts the events in {period} that entered one of its states (or fired one "
        f"of its triggers), against the yearly plan prorated to those {report.period_days:,.0f} "
        f"days. Plan: {report.plan_source}.",
        ANCHORS["activity"],
        (chart,) if stages else (),
        () if stages else (table,),
        wide=True,
    )


def passed_around_panel(data: DashboardData) -> Panel:
    """The distribution of handoffs per case, and the most passed-around cases (handoffs report)."""
    report = data.handoffs
    distribution = Table(
        "Cases by number of handoffs",
        ("handoffs", "cases"),
        tuple((d.handoffs, d.cases) for d in report.distribution),
        (True, True),
    )
    top = data.most_passed()
    title = "The most passed-around cases " + _how_many(data.top, data.passed_around())
    if report.passes is not None:
        most = Table(
            title,
            (
                "case", "passes", "declined offers", "days between teams", "interruptions",
                "handoffs", "ping-pongs", "S75 crossings", "teams in order",
            ),
            tuple(
                (
                    c.case_id, c.passes, c.offers_declined, f"{c.days_between_teams or 0:.1f}",
                    c.interruptions, c.handoffs, c.ping_pongs, c.s75_crossings,
                    " → ".join(c.teams),
                )
                for c in top
            ),
            (False, True, True, True, True, True, True, True, False),
        )  # fmt: skip
    else:
        most = Table(
            title,
            ("case", "handoffs", "ping-pongs", "S75 crossings", "teams in order"),
            tuple(
                (c.case_id, c.handoffs, c.ping_pongs, c.s75_crossings, " → ".join(c.teams))
                for c in top
            ),
            (False, True, True, True, False),
        )
    charts: tuple[Chart, ...] = ()
    if report.distribution:
        charts = (
            Chart(
                "chart-distribution",
                "Cases by number of handoffs",
                "Bar chart: how many cases had each number of handoffs in the period.",
                {
                    "data": [
                        {
                            "type": "bar",
                            "x": [str(d.handoffs) for d in report.distribution],
                            "y": [d.cases for d in report.distribution],
                            "marker": {"color": OKABE_ITO[0]},
                            "hovertemplate": "%{x} handoffs: %{y} cases<extra></extra>",
                        }
                    ],
                    "layout": _layout(
                        280,
                        xaxis={"type": "category", "title": {"text": "handoffs of the case"}},
                        yaxis={"title": {"text": "cases"}, "rangemode": "tozero"},
                    ),
                },
                distribution,
            ),
        )
    return Panel(
        "passed-around",
        "Cases passed around",
        "Case ids are as stored (pseudonymous); names are never shown. A pass is a declined offer "
        "or a transfer straight back to the team that passed the case on; days between teams "
        "are days spent offered to a team that had not yet accepted; an interruption "
        "(safeguarding, an assessment, a review) takes the case aside and gives it back, and is "
        "never a pass. The team sequence is the case's holding teams in order up to the "
        "period's end, repeats collapsed."
        if report.passes is not None
        else "Case ids are as stored (pseudonymous); names are never shown. The team sequence is "
        "the case's holding teams in order up to the period's end, repeats collapsed.",
        ANCHORS["handoffs"],
        charts,
        (most,) if charts else (distribution, most),
    )


FUNDER_STYLES = (
    ("council", "council", OKABE_ITO[0], ""),
    ("nhs", "NHS", OKABE_ITO[1], "/"),
    ("person", "the person", OKABE_ITO[2], "x"),
)
"""Who pays, as shown: key in the report, label, colour, hatching (so colour is not needed)."""


def spend_panel(data: DashboardData) -> Panel | None:
    """Placement spend by care type and who pays, the budget, the scrutiny list (funding report).

    Shown only where placements exist (``data.funding`` is None otherwise).
    """
    funding = data.funding
    if funding is None:
        return None
    rows = funding.by_care_type
    names = [_t(r.care_type.replace("_", " ")) for r in rows]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": names,
            "x": [float(getattr(r, key)) for r in rows],
            "marker": {"color": colour, **({"pattern": {"shape": hatch}} if hatch else {})},
            "hovertemplate": f"%{{y}}: £%{{x:,.2f}} paid by {label}<extra></extra>",
        }
        for key, label, colour, hatch in FUNDER_STYLES
    ]
    by_type = Table(
        "Spend by care type and who pays",
        (
            "care type", "clients", "spend", "council", "NHS", "the person",
            "average weekly", "reference clients", "reference average weekly",
            "reference spend (a year)",
        ),
        tuple(
            (
                r.care_type.replace("_", " "), r.clients, pounds(r.spend), pounds(r.council),
                pounds(r.nhs), pounds(r.person),
                pounds(r.average_weekly_cost) if r.average_weekly_cost else None,
                r.reference_clients,
                pounds(r.reference_average_weekly_cost) if r.reference_average_weekly_cost else None,
                pounds(r.reference_spend) if r.reference_spend else None,
            )
            for r in rows
        ),
        (False, *(True for _ in range(9))),
    )  # fmt: skip
    charts = [
        Chart(
            "chart-spend",
            "Spend by care type and who pays",
            "Stacked bar chart of the spend on placements per care type, split by who pays.",
            {
                "data": traces,
                "layout": _layout(
                    80 + 40 * len(rows),
                    showlegend=True,
                    barmode="stack",
                    legend={**LEGEND, "traceorder": "normal"},
                    yaxis={"autorange": "reversed", "type": "category"},
                    xaxis={"rangemode": "tozero", "title": {"text": "£ in the period"}},
                ),
            },
            by_type,
        )
    ]
    budget = funding.budget
    if budget is not None:
        charts.append(
            Chart(
                "chart-budget",
                "The council's spend against the budget",
                "Bar chart of the budget and the council's spend on placements in the period.",
                {
                    "data": [
                        {
                            "type": "bar",
                            "orientation": "h",
                            "y": ["budget", "council spend"],
                            "x": [float(budget.amount), float(budget.council_spend)],
                            "marker": {
                                "color": [UNALLOCATED_COLOUR, OKABE_ITO[0]],
                                "pattern": {"shape": ["/", ""]},
                            },
                            "hovertemplate": "%{y}: £%{x:,.2f}<extra></extra>",
                        }
                    ],
                    "layout": _layout(
                        170,
                        yaxis={"autorange": "reversed", "type": "category"},
                        xaxis={"rangemode": "tozero", "title": {"text": "£"}},
                    ),
                },
                Table(
                    "Budget",
                    ("budget", "council spend", "difference (+ overspent)", "percent"),
                    (
                        (
                            pounds(budget.amount),
                            pounds(budget.council_spend),
                            pounds(budget.difference),
                            None if budget.percent is None else f"{budget.percent}%",
                        ),
                    ),
                    (True, True, True, True),
                ),
            )
        )
    scrutiny = Table(
        "Placements to scrutinise " + _how_many(data.top, len(funding.scrutiny)),
        ("case", "placement", "care type", "why", "amount"),
        tuple(
            (
                item.case_id, item.placement_id, item.care_type.replace("_", " "),
                item.explanation, pounds(item.amount),
            )
            for item in funding.scrutiny[: data.top]
        ),
        (False, False, False, False, True),
    )  # fmt: skip
    window = (
        f"the days from {funding.first_day} to {funding.last_day}"
        if funding.first_day
        else f"every day of every placement up to {funding.last_day}"
    )
    s117 = funding.section_117
    return Panel(
        "spend",
        "Spend on placements",
        f"Spend on {window}, as the placement steps known at as-of left it: "
        f"{pounds(funding.spend)}, of which the council {pounds(funding.by_funder['council'])}, "
        f"the NHS {pounds(funding.by_funder['nhs'])} and the person "
        f"{pounds(funding.by_funder['person'])}; section 117 aftercare {pounds(s117['spend'])} "
        "(counted in the rest). Reference figures: "
        f"{funding.unit_costs_source}, for a year.",
        ANCHORS["funding"],
        tuple(charts),
        (scrutiny,),
        wide=True,
    )


WAITS_WORDS = (
    "waits for a first appointment",
    "stays over a time limit",
    "overdue reviews",
    "open offers",
)
"""The waits panel's lists in words, for saying which the data cannot support."""


def waits_panel(data: DashboardData) -> Panel:
    """The cases behind the waits headline figures (waits report), the longest first."""
    waits = data.waits
    top = data.top
    if not data.has_pathway:
        return Panel(
            "waits",
            "Waits, time limits, reviews and offers",
            "These need the store's pathway (its time limits, review and offer states); the store "
            "records none.",
            ANCHORS["waits"],
        )
    candidates = (
        Table(
            f"Still waiting for a first {waits.milestone.replace('_', ' ')} "
            + _how_many(top, len(waits.first_appointment.still_waiting)),
            ("case", "days so far"),
            tuple((w.case_id, w.days) for w in waits.first_appointment.still_waiting[:top]),
            (False, True),
        ),
        Table(
            "Over a time limit " + _how_many(top, len(waits.over_time_limit)),
            ("case", "state", "entered", "left", "days", "limit"),
            tuple(
                (
                    o.case_id,
                    o.state,
                    _date(o.entered),
                    _date(o.left) or "still there",
                    o.days,
                    o.limit_days,
                )
                for o in waits.over_time_limit[:top]
            ),
            (False, False, False, False, True, True),
        ),
        Table(
            "Reviews overdue " + _how_many(top, len(waits.reviews_overdue)),
            ("case", "placement", "care type", "last review", "due", "days overdue"),
            tuple(
                (
                    r.case_id,
                    r.placement_id,
                    r.care_type,
                    _date(r.last_review) or "never",
                    _date(r.due),
                    r.days_overdue,
                )
                for r in waits.reviews_overdue[:top]
            ),
            (False, False, False, False, False, True),
        ),
        Table(
            "Open offers " + _how_many(top, len(waits.open_offers)),
            ("case", "offered to", "held by", "since", "days"),
            tuple(
                (o.case_id, o.offered_to, o.held_by, _date(o.since), o.days)
                for o in waits.open_offers[:top]
            ),
            (False, False, False, False, True),
        ),
    )
    figures = ("first_appointment", "over_time_limit", "reviews_overdue", "offers")
    tables = tuple(t for t, f in zip(candidates, figures, strict=True) if data.shows(f))
    left_out = [
        f"{what}, as {data.hidden[f]}"
        for what, f in zip(WAITS_WORDS, figures, strict=True)
        if not data.shows(f)
    ]
    intro = "The cases behind the headline figures, the longest first." if tables else ""
    if left_out:
        intro += (" " if intro else "") + "Not shown: " + "; ".join(left_out) + "."
    return Panel(
        "waits",
        "Waits, time limits, reviews and offers",
        intro,
        ANCHORS["waits"],
        (),
        tables,
        wide=True,
    )


def help_panel(data: DashboardData) -> Panel | None:
    """Time to help by route and the escalation list (waits report), where the pathway sets them."""
    help_ = data.waits.time_to_help
    rule = data.waits.escalation
    if help_ is None and rule is None:
        return None
    top = data.top
    tables: list[Table] = []
    if rule is not None:
        tables.append(
            Table(
                "Cases to escalate " + _how_many(top, len(rule.cases)),
                (
                    "case",
                    "conditions met",
                    "since",
                    "declined offers",
                    "days in offers",
                    "held by",
                    "state",
                ),
                tuple(
                    (
                        c.case_id,
                        ", ".join(x.replace("_", " ") for x in c.conditions),
                        _date(c.since),
                        c.declined_offers,
                        round(c.days_in_offers, 1),
                        c.held_by,
                        c.state,
                    )
                    for c in rule.cases[:top]
                ),
                (False, False, False, True, True, False, False),
            )
        )
    if help_ is not None:
        tables.append(
            Table(
                "Time to help by route (days)",
                ("route", "helped", "median", "90th percentile", "still waiting"),
                tuple(
                    (
                        r.route or "(not recorded)",
                        r.helped,
                        r.median_days,
                        r.p90_days,
                        r.still_waiting,
                    )
                    for r in help_.by_route
                ),
                (False, True, True, True, True),
            )
        )
        tables.append(
            Table(
                "Still waiting for help " + _how_many(top, len(help_.still_waiting)),
                ("case", "route", "referred", "held by", "days so far"),
                tuple(
                    (w.case_id, w.route or "(not recorded)", _date(w.referred), w.held_by, w.days)
                    for w in help_.still_waiting[:top]
                ),
                (False, False, False, False, True),
            )
        )
    rule_text = ""
    if rule is not None:
        conditions = []
        if rule.declined_offers is not None:
            conditions.append(f"{rule.declined_offers} declined offers")
        if rule.days_in_offers is not None:
            conditions.append(f"{rule.days_in_offers:g} days in offers")
        rule_text = (
            f" A case is listed for escalation once it meets the pathway's rule "
            f"({' or '.join(conditions)}), until a manager records the decision with the "
            f"{rule.step} step."
        )
    return Panel(
        "time-to-help",
        "Time to help and escalation",
        "Time to help runs from a referral to the first accepted allocation to a team that "
        "delivers work"
        + (f" ({', '.join(help_.helping_teams)})" if help_ is not None else "")
        + "; the front door and triage screen and route, they do not help."
        + rule_text,
        ANCHORS["waits"],
        (),
        tuple(tables),
        wide=True,
    )


PanelBuilder = Callable[[DashboardData], Panel | None]

PANELS: tuple[PanelBuilder, ...] = (
    holders_panel,
    holding_panel,
    handovers_panel,
    monthly_panel,
    s75_panel,
    passed_around_panel,
    activity_panel,
    spend_panel,
    waits_panel,
    help_panel,
)
"""The page's panels, in order; a builder returns None when it has nothing to show."""


def panels(data: DashboardData, builders: Sequence[PanelBuilder] = PANELS) -> list[Panel]:
    """The panels of the page for ``data``."""
    return [p for p in (build(data) for build in builders) if p is not None]


# --- HTML -----------------------------------------------------------------------------------------

RAW_VALUES = ("styles", "script", "plotly_js", "figures_json")
"""The only values the page shows unescaped (``raw.<name>`` in the template), each made safe for
its element by the code: the shipped ``dashboard.css`` and ``dashboard.js``, Plotly's bundle with
any ``</script`` broken (:func:`_plotly_js`), and the charts' figures as JSON with ``<``, ``>`` and
``&`` escaped (:func:`_json_for_script`). They are :class:`Trusted`; the templates use no
``|safe``, and every other value they show is autoescaped."""


@attrs.frozen
class Trusted:
    """Text the code has made safe for its place in the page: the template shows it unescaped.

    Jinja2 (through MarkupSafe) takes any object with ``__html__`` as already safe. This is used
    instead of ``|safe``/``Markup`` because MarkupSafe copies a ``Markup`` string slowly when the
    text is not ASCII (Plotly's 4.8 MB bundle: 35 ms a page, more than the rest of the render).
    """

    text: str

    def __html__(self) -> str:
        return self.text


def _thousands(value: int) -> str:
    return f"{value:,}"


def _json(value: Any) -> str:
    """A headline figure's value for its ``data-value`` attribute (escaped by the template)."""
    return json.dumps(value)


def _environment() -> jinja2.Environment:
    """The templates' environment; raises :class:`MissingExtra` without Jinja2."""
    try:
        import jinja2  # noqa: F401  (the extra's check; the environment is made once)
    except ImportError:
        raise MissingExtra("the dashboard", "dashboard") from None
    return _make_environment()


@functools.cache
def _make_environment() -> jinja2.Environment:
    """Autoescaping on for every template, an undefined name an error, the filters they use."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pathway.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(cell=_cell, thousands=_thousands, json=_json)
    return environment


def page_context(
    data: DashboardData,
    *,
    definitions_url: str = DEFINITIONS_URL,
    builders: Sequence[PanelBuilder] = PANELS,
) -> dict[str, Any]:
    """Every value the page template shows, computed here (the template only lays them out).

    ``raw`` holds :data:`RAW_VALUES`, the only values shown unescaped (as :class:`Trusted`);
    everything else is plain text, numbers and the :class:`Panel` and headline records, which the
    templates escape as they interpolate.
    Raises :class:`MissingExtra` without Plotly.
    """
    script = _plotly_js()
    built = panels(data, builders)
    figures = {c.id: c.figure for p in built for c in p.charts}
    audit = data.audit
    period = _period(data)
    team = data.scope.team or "all teams"
    stale = data.stale
    return {
        "version": __version__,
        "title": f"Performance dashboard: {data.data_title()}",
        "data_title": data.data_title(),
        "scope_line": f"As of {_instant(data.scope.as_of)}. Period: {period}. Team: {team}.",
        "period": period,
        "team": team,
        "print_width": PRINT_WIDTH_PX,
        "definitions_url": definitions_url,
        "audit": {
            "verified": audit.verified,
            "problem": audit.problem or "",
            "events_checked": audit.events_checked or 0,
            "cases_checked": audit.cases_checked or 0,
            "head_position": audit.head.position,
            "head_hash": audit.head.hash,
        },
        "stale": None
        if stale is None
        else {
            "message": stale.message(),
            "newest_event": stale.newest_event,
            "option": stale.as_of_option,
        },
        "headline": data.headline(),
        "panels": built,
        "footer": {
            "as_of_iso": format_instant(data.scope.as_of),
            "as_of": _instant(data.scope.as_of),
            "cases": data.handoffs.cases,
            "events": data.handoffs.events,
            "pathway": {
                "title": data.pathway_title,
                "id": data.pathway_id,
                "version": data.pathway_version,
            }
            if data.pathway_id
            else None,
            "organisations": [(data.organisation_label(o.id), o.name) for o in data.organisations],
            "common_anchor": ANCHORS["common"],
            "made": _instant(data.generated_at),
        },
        "raw": {
            "styles": Trusted(_asset("dashboard.css")),
            "script": Trusted(_asset("dashboard.js")),
            "plotly_js": Trusted(script),
            "figures_json": Trusted(_json_for_script(figures)),
        },
    }


def render_page(context: dict[str, Any]) -> str:
    """The page template rendered with ``context`` (as :func:`page_context` makes it)."""
    return _environment().get_template("page.html").render(context)


def render_dashboard(
    data: DashboardData,
    *,
    definitions_url: str = DEFINITIONS_URL,
    builders: Sequence[PanelBuilder] = PANELS,
) -> str:
    """The dashboard page as HTML text. Raises :class:`MissingExtra` without the extra, and
    :class:`InvalidRequest` for a ``definitions_url`` that is not http(s) or a relative path."""
    check_definitions_url(definitions_url)
    return render_page(page_context(data, definitions_url=definitions_url, builders=builders))


# --- writing ------------------------------------------------------------------------------------


def check_output(path: str | Path) -> Path:
    """Check that a page can be written at ``path`` (before any work); the path, absolute."""
    target = Path(path).expanduser()
    folder = target.parent.resolve() if str(target.parent) else Path.cwd()
    target = folder / target.name
    if not target.name:
        raise InvalidRequest(f"cannot write {path}: give a file name, e.g. dashboard.html")
    if target.is_dir():
        raise InvalidRequest(
            f"cannot write {path}: it is a folder; give a file name, e.g. {Path(path) / 'dashboard.html'}"
        )
    if not folder.is_dir():
        raise InvalidRequest(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidRequest(f"cannot write {path}: the folder {folder} is not writable")
    return target


def write_dashboard(
    data: DashboardData,
    path: str | Path,
    *,
    definitions_url: str = DEFINITIONS_URL,
) -> Path:
    """Render the page and write it to ``path`` atomically; return the path written.

    The page is written to a temporary file in the same folder and moved into place, so a reader
    never sees half a page and a failure leaves any earlier page as it was.
    """
    target = check_output(path)
    text = render_dashboard(data, definitions_url=definitions_url)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidRequest(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
