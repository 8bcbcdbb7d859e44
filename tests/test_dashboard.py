"""The dashboard without a browser: its data equals the reports, its HTML is whole, escaped and
self-contained, it is written atomically, and `pathway dashboard` / `pathway demo` behave.

The page in a real browser is tested in test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sample_store import HOSTILE_CASE, HOSTILE_ORG, HOSTILE_TEAM, hostile_store, play_samples

import pathway
from pathway.dashboard import (
    PANELS,
    DashboardData,
    Panel,
    Table,
    dashboard_data,
    panels,
    render_dashboard,
    write_dashboard,
)
from pathway.dashboard import page as page_module
from pathway.dashboard.page import ANCHORS
from pathway.errors import InvalidRequest, MissingExtra
from pathway.reports import (
    Scope,
    caseload_report,
    funding_report,
    handoffs_report,
    monthly_report,
    waits_report,
)
from pathway.samples import shipped_samples

ROOT = Path(__file__).resolve().parent.parent
plotly = pytest.importorskip("plotly", reason="the dashboard extra is not installed")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped sample cases in a store, its pathway, and the demo's as-of."""
    folder = tmp_path_factory.mktemp("samples")
    store, latest = play_samples(folder / "samples.db")
    yield store, pathway.load_pathway("barnet-enablement"), latest, folder / "samples.db"
    store.close()


@pytest.fixture(scope="module")
def data(samples: Any) -> DashboardData:
    store, compiled, latest, _ = samples
    return dashboard_data(store, Scope(as_of=latest), compiled)


@pytest.fixture(scope="module")
def page(data: DashboardData) -> str:
    return render_dashboard(data)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the chart ids and tables inside each figure."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.figures: list[dict[str, Any]] = []
        self._in_figure = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "figure":
            self._in_figure += 1
            self.figures.append({"charts": [], "tables": 0})
        elif self._in_figure and tag == "div" and found.get("class") == "chart":
            self.figures[-1]["charts"].append(found["id"])
        elif self._in_figure and tag == "table":
            self.figures[-1]["tables"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._in_figure -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    return parser


def figures_json(text: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="dashboard-figures">(.*?)</script>', text, re.S
    )
    assert match, "the figures are embedded"
    loaded: dict[str, Any] = json.loads(match.group(1))
    return loaded


# --- the data is the reports' -----------------------------------------------------------------


def test_headline_figures_are_the_reports(samples: Any, data: DashboardData) -> None:
    """Each headline figure equals the figure of the report it names, computed separately."""
    store, compiled, latest, _ = samples
    scope = Scope(as_of=latest)
    conn = store.connection
    handed = handoffs_report(conn, scope, compiled).to_json()
    waits = waits_report(conn, scope, compiled).to_json()
    held = caseload_report(conn, scope).to_json()
    funding = funding_report(conn, scope).to_json()
    values = {f.key: f.value for f in data.headline()}
    assert values == {
        "open_cases": held["open_cases"],
        "handoffs_per_case": handed["handoffs"] / handed["cases"],
        "passes": handed["passes"],
        "days_between_teams": handed["days_between_teams"],
        "ping_pongs": handed["ping_pongs"],
        "s75_crossings": handed["s75_crossings"],
        "median_wait_days": waits["first_appointment"]["median_days"],
        "over_time_limit": len(waits["over_time_limit"]),
        "reviews_overdue": len(waits["reviews_overdue"]),
        "open_offers": len(waits["open_offers"]),
        "median_time_to_help_days": waits["time_to_help"]["median_days"],
        "escalations_due": len(waits["escalation"]["cases"]),
        "placement_spend": funding["spend"],
        "scrutiny_items": len(funding["scrutiny"]),
    }
    assert data.funding is not None and data.funding.to_json() == funding
    assert float(funding["spend"]) > 0  # the samples S14-S16 have placements
    # The sample cases have something in most of them, so the comparison is not of zeros.
    assert values["open_cases"] > 0 and values["ping_pongs"] > 0 and values["over_time_limit"] > 0
    assert values["escalations_due"] > 0 and values["median_time_to_help_days"] > 0
    assert data.monthly.handoffs == handed["handoffs"]
    assert data.monthly.to_json() == monthly_report(conn, scope).to_json()
    assert data.audit.verified is True and data.audit.head == store.checkpoint()
    assert data.audit.events_checked == store.checkpoint().position


def test_no_verify_reads_the_head_only(samples: Any) -> None:
    """verify=False: the chain head is given and the trail is marked as not verified."""
    store, compiled, latest, _ = samples
    unverified = dashboard_data(store, Scope(as_of=latest), compiled, verify=False)
    assert unverified.audit.verified is None and unverified.audit.events_checked is None
    assert unverified.audit.head == store.checkpoint()
    assert "not verified by this run" in render_dashboard(unverified)


def test_an_unknown_team_and_an_empty_period_are_refused(samples: Any) -> None:
    """A team no event names, or a period of no length, is a clear InvalidRequest."""
    store, compiled, latest, _ = samples
    with pytest.raises(InvalidRequest, match=r"unknown team 'nobody'.*\(teams: amhp, "):
        dashboard_data(store, Scope(as_of=latest, team="nobody"), compiled)
    with pytest.raises(InvalidRequest, match="the period is empty"):
        dashboard_data(store, Scope(as_of=latest, since=latest, until=latest), compiled)
    narrowed = dashboard_data(store, Scope(as_of=latest, team="cmht"), compiled)
    assert narrowed.caseload.by_team and {t.team for t in narrowed.caseload.by_team} == {"cmht"}


def test_the_reports_see_one_snapshot(samples: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reports run inside one read transaction, which is closed afterwards."""
    from pathway.reports import monthly as monthly_module  # the registry calls it from there

    store, compiled, latest, _ = samples
    seen: list[bool] = []
    real = monthly_module.monthly_report

    def spy(conn: Any, scope: Scope) -> Any:
        seen.append(conn.in_transaction)
        return real(conn, scope)

    monkeypatch.setattr(monthly_module, "monthly_report", spy)
    dashboard_data(store, Scope(as_of=latest), compiled)
    assert seen == [True]
    assert not store.connection.in_transaction


# --- the page -----------------------------------------------------------------------------------


def test_every_chart_has_its_table_and_its_figure(page: str) -> None:
    """Each chart sits in a figure with a table of its figures, and has an embedded figure."""
    parsed = parse(page)
    figures = figures_json(page)
    charts = [c for f in parsed.figures for c in f["charts"]]
    assert set(charts) == set(figures)
    assert {
        "chart-holders",
        "chart-holding",
        "chart-handovers",
        "chart-monthly",
        "chart-s75",
        "chart-distribution",
        "chart-activity",
    } <= set(charts)
    for figure in parsed.figures:
        assert len(figure["charts"]) == 1 and figure["tables"] >= 1, figure
    for tag, attrs in parsed.tags:
        if tag == "div" and attrs.get("class") == "chart":
            assert attrs.get("role") == "img" and "table below" in (attrs.get("aria-label") or "")


def test_every_figure_is_a_valid_plotly_figure(page: str) -> None:
    """Plotly's own validation accepts every embedded figure (a misspelt property would fail)."""
    import plotly.graph_objects as go

    for chart_id, figure in figures_json(page).items():
        built = go.Figure(figure)
        assert built.data, chart_id


def test_the_page_is_self_contained(page: str) -> None:
    """No external script, style, image, font or frame; a CSP forbids any request; A4 print CSS."""
    parsed = parse(page)
    for tag, attrs in parsed.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        if tag == "script":
            assert "src" not in attrs
        if tag == "a":
            assert attrs["href"] and not attrs["href"].startswith(("http:", "//"))
    assert [t for t, _ in parsed.tags].count("script") == 3  # figures, plotly.js, drawing code
    csp = [a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp and csp[0].startswith("default-src 'none'")
    styles = re.search(r"<style>(.*?)</style>", page, re.S)
    assert styles and "url(" not in styles.group(1) and "@import" not in styles.group(1)
    assert "@page { size: A4" in styles.group(1)
    assert page.count("plotly.js v") == 1  # Plotly's banner: the library is inlined once


def test_headline_numbers_carry_data_figure_attributes(page: str, data: DashboardData) -> None:
    """Each headline figure is one element with data-figure and its exact value."""
    parsed = parse(page)
    marked = {
        a["data-figure"]: a.get("data-value")
        for t, a in parsed.tags
        if a.get("data-figure") and a.get("data-value") is not None
    }
    for figure in data.headline():
        assert marked[figure.key] == json.dumps(figure.value)
    assert marked["verified"] == "true"
    assert marked["head_position"] == str(data.audit.head.position)


def test_the_demo_page_is_well_under_10_mb(page: str) -> None:
    """Plotly's bundle is most of the page; the whole stays well under the 10 MB limit."""
    assert len(page.encode("utf-8")) < 6_000_000


def test_no_names_of_people_appear(tmp_path: Path) -> None:
    """A person's name kept with a case (outside the audit trail) never reaches the page."""
    store, latest = play_samples(tmp_path / "named.db")
    compiled = pathway.load_pathway("barnet-enablement")
    case_id = dashboard_data(store, Scope(as_of=latest), compiled).most_passed()[0].case_id
    store.connection.execute(
        "INSERT INTO people (case_id, name, date_of_birth, nhs_number) VALUES (?, ?, ?, ?)",
        (case_id, "Zebedee Quixotic-Marchbanks", "1970-01-01", "9434765919"),
    )
    text = render_dashboard(dashboard_data(store, Scope(as_of=latest), compiled))
    assert f'<th scope=row class="id">{case_id}</th>' in text
    assert "Quixotic" not in text and "9434765919" not in text
    store.close()


def test_hostile_names_are_escaped(tmp_path: Path) -> None:
    """Team, organisation and case id that are HTML are shown as text, never as markup."""
    store = hostile_store(tmp_path / "hostile.db")
    text = render_dashboard(
        dashboard_data(store, Scope(as_of=datetime(2026, 3, 1, tzinfo=UTC)), None)
    )
    store.close()
    parsed = parse(text)
    assert [t for t, _ in parsed.tags].count("script") == 3
    assert not [t for t, _ in parsed.tags if t == "img"]
    assert HOSTILE_TEAM not in text and HOSTILE_CASE not in text
    visible = "".join(parsed.text)
    assert HOSTILE_TEAM in visible and HOSTILE_CASE in visible and HOSTILE_ORG in visible
    embedded = re.search(r'id="dashboard-figures">(.*?)</script>', text, re.S)
    assert embedded and "<" not in embedded.group(1)
    labels = json.dumps(figures_json(text))
    # Inside charts, names are escaped once more, as Plotly reads a little HTML in labels.
    assert "&lt;script&gt;window.__pwned" in labels and "<script>" not in labels


def test_without_a_pathway_the_pathway_figures_are_unknown(tmp_path: Path) -> None:
    """A store with no pathway: counts that need one are n/a, not a misleading zero."""
    store = hostile_store(tmp_path / "bare.db")
    board = dashboard_data(store, Scope(as_of=datetime(2026, 3, 1, tzinfo=UTC)), None)
    store.close()
    figures = {f.key: f for f in board.headline()}
    for key in ("over_time_limit", "reviews_overdue", "open_offers"):
        assert figures[key].value is None and figures[key].text == "n/a"
    # The hostile case goes hub, X, hub, X: two ping-pongs (t3 = t1, t4 = t2); C2 is with lets.
    assert figures["open_cases"].value == 2 and figures["ping_pongs"].value == 2


def test_panel_definitions_link_to_sections_of_the_reports_doc(page: str) -> None:
    """Every anchor the page links to is a heading of docs/reports.md (GitHub's slugs)."""
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "reports.md").read_text(), re.M)
    slugs = {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}
    assert set(ANCHORS.values()) <= slugs
    linked = set(re.findall(r'href="docs/reports\.md#([^"]+)"', page))
    assert linked and linked <= slugs


def test_a_panel_can_be_added_without_touching_the_others(data: DashboardData) -> None:
    """The page is a list of panel builders: one more appears; one returning None shows nothing."""

    def extra(board: DashboardData) -> Panel:
        return Panel(
            "extra",
            "An extra panel",
            f"{board.handoffs.cases} cases",
            ANCHORS["common"],
            tables=(Table("extra table", ("a", "b"), (("x", 1),), (False, True)),),
        )

    text = render_dashboard(data, builders=(*PANELS, extra, lambda board: None))
    assert '<section class="panel" id="extra"' in text and "extra table" in text
    assert text.count('<section class="panel') == len(panels(data)) + 1


def test_missing_extra_is_a_clear_error(
    data: DashboardData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Plotly, rendering raises MissingExtra naming the pip command."""
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(MissingExtra) as raised:
        render_dashboard(data)
    assert str(raised.value) == (
        "the dashboard needs the extra: pip install 'care-pathway[dashboard]'"
    )
    assert isinstance(raised.value, pathway.PathwayError)


def test_importing_pathway_imports_neither_the_dashboard_nor_plotly() -> None:
    """`import pathway` (and the CLI) leave the dashboard unloaded; the dashboard leaves Plotly."""
    code = "import sys, pathway, pathway.cli, pathway.dashboard; print('plotly' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    probe = "import sys, pathway, pathway.cli; print('pathway.dashboard' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- writing ------------------------------------------------------------------------------------


def test_write_is_atomic_and_leaves_nothing_behind(
    data: DashboardData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write keeps the earlier page whole and leaves no temporary file."""
    target = tmp_path / "board.html"
    target.write_text("the earlier page")

    def broken(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(page_module.os, "replace", broken)
    with pytest.raises(InvalidRequest, match=r"cannot write .*No space left on device"):
        write_dashboard(data, target)
    assert target.read_text() == "the earlier page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.html"]
    monkeypatch.undo()
    written = write_dashboard(data, target)
    assert written == target and target.read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.html"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/board.html", "the folder .*missing does not exist"),
        (".", "it is a folder; give a file name"),
    ],
)
def test_write_refuses_a_bad_path(
    data: DashboardData, tmp_path: Path, where: str, message: str
) -> None:
    """A folder that does not exist, or a folder given as the file, is a clear InvalidRequest."""
    with pytest.raises(InvalidRequest, match=message):
        write_dashboard(data, tmp_path / where)
    assert list(tmp_path.iterdir()) == []


# --- the command line ---------------------------------------------------------------------------


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def store_file(samples: Any) -> tuple[Path, datetime]:
    _, _, latest, path = samples
    return path, latest


def test_cli_writes_the_page(
    samples: Any, store_file: tuple[Path, datetime], tmp_path: Path
) -> None:
    """`pathway dashboard --out` exits 0, writes the page and says where, as of when."""
    db, latest = store_file
    store = samples[0]
    cases, events = len(shipped_samples()), store.checkpoint().position
    open_cases = caseload_report(store.connection, Scope(as_of=latest)).open_cases
    done = run(
        "dashboard", "--db", str(db), "--as-of", latest.isoformat(), "--out", "b.html", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Dashboard written to {tmp_path / 'b.html'} (4.")
    assert (
        f"as of 2026-10-12T12:00:00.000000+00:00, {cases} cases in scope; audit chain and "
        f"report rows verified ({events} events, {cases} cases), head position {events}."
        in done.stdout
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.html"]
    text = (tmp_path / "b.html").read_text()
    assert f'data-figure="open_cases" data-value="{open_cases}"' in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "nowhere/b.html"], "Error: cannot write nowhere/b.html: the folder "),
        (["--out", "b.html", "--team", "nobody"], "Error: unknown team 'nobody'"),
        (["--out", "b.html", "--as-of", "last tuesday"], "'last tuesday' is not an ISO 8601"),
        (
            ["--out", "b.html", "--since", "2026-05-02", "--until", "2026-05-01"],
            "--since is after --until",
        ),
        (["--out", "b.html", "--db", "missing.db"], "Error: missing.db: no such store"),
        (["--out", "b.html", "--budget", "lots"], "'lots' is not an amount in pounds"),
    ],
)
def test_cli_bad_input_is_one_message_and_writes_nothing(
    store_file: tuple[Path, datetime], tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad input: exit 2, one clear message, no traceback, no file written."""
    db, _ = store_file
    done = run("dashboard", "--db", str(db), *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_without_the_extra(store_file: tuple[Path, datetime], tmp_path: Path) -> None:
    """Without Plotly: `pathway dashboard` exits 2 naming the extra; `pathway demo` still works."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['plotly'] = None\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}
    db, _ = store_file
    work = tmp_path / "work"
    work.mkdir()
    done = run("dashboard", "--db", str(db), "--out", "b.html", cwd=work, env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: the dashboard needs the extra: pip install 'care-pathway[dashboard]'"
    )
    demo = run("demo", cwd=work, env=env)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.rstrip().endswith(
        "For the performance dashboard of these cases (one HTML page): "
        "pip install 'care-pathway[dashboard]', then run pathway demo again."
    )
    assert list(work.iterdir()) == []


def test_cli_tampered_trail_warns_and_exits_1(tmp_path: Path) -> None:
    """A chain that does not verify: the page says so at the top and the exit code is 1."""
    store, latest = play_samples(tmp_path / "tampered.db")
    conn = store.connection
    conn.execute("DROP TRIGGER events_refuse_update")
    conn.execute("UPDATE events SET to_team = 'cmht' WHERE position = 5")
    store.close()
    done = run(
        "dashboard",
        "--db",
        "tampered.db",
        "--as-of",
        latest.isoformat(),
        "--out",
        "b.html",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "audit chain DID NOT VERIFY" in done.stdout
    assert "FAILED: the audit chain did not verify: event at position 5" in done.stderr
    text = (tmp_path / "b.html").read_text()
    assert '<div class="alert" role="alert"><strong>The audit trail did not verify.' in text
    assert 'data-figure="verified" data-value="false"' in text
    unverified = run(
        "dashboard", "--db", "tampered.db", "--no-verify", "--out", "c.html", cwd=tmp_path
    )
    assert unverified.returncode == 0
    assert "not verified by this run" in (tmp_path / "c.html").read_text()


def test_cli_help_teaches(tmp_path: Path) -> None:
    """`pathway dashboard --help` gives examples, what the page shows, the extra and exit 1."""
    done = run("dashboard", "--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # as read, whatever the terminal's width
    for words in (
        "pathway dashboard --out board.html",
        "--since 2026-04-01 --until 2026-09-30",
        "no network request",
        "pip install 'care-pathway[dashboard]'",
        "the exit code is 1",
        "--no-verify",
        "docs/reports.md",
    ):
        assert words in text, words


def test_demo_writes_the_dashboard_where_asked(tmp_path: Path) -> None:
    """`pathway demo --dashboard PATH` writes the page there and prints where it is."""
    done = run("demo", "--dashboard", "demo/board.html", cwd=tmp_path)
    assert done.returncode == 2 and "the folder" in done.stderr  # demo/ does not exist
    (tmp_path / "demo").mkdir()
    done = run("demo", "--dashboard", "demo/board.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "demo" / "board.html"
    assert done.stdout.rstrip().endswith(
        f"Dashboard of these cases (open it in a web browser): {written}"
    )
    assert 'data-figure="open_cases"' in written.read_text()


def test_the_page_states_its_scope(samples: Any) -> None:
    """The header states as-of, period and team; a period's end is the earlier of until, as-of."""
    store, compiled, latest, _ = samples
    scope = Scope(
        as_of=latest,
        since=datetime(2026, 2, 1, tzinfo=UTC),
        until=datetime(2026, 5, 1, tzinfo=UTC),
        team="lets",
    )
    text = render_dashboard(dashboard_data(store, scope, compiled))
    assert (
        "As of 2026-10-12 12:00 UTC. Period: 2026-02-01 00:00 UTC to 2026-05-01 00:00 UTC. "
        "Team: lets." in text
    )
    assert "Each stage counts the events in the period that entered" in text
    whole = render_dashboard(dashboard_data(store, Scope(as_of=latest), compiled))
    assert "Period: everything up to 2026-10-12 12:00 UTC. Team: all teams." in whole
    assert "Each stage counts the events in the 365 days up to 2026-10-12 12:00 UTC" in whole


def test_spend_panel_where_placements_exist(samples: Any, tmp_path: Path) -> None:
    """The sample cases have placements: the spend panel shows them by care type and who pays,
    with the budget when one is given; a store without placements has no spend panel at all."""
    store, compiled, latest, _ = samples
    scope = Scope(as_of=latest)
    board = dashboard_data(store, scope, compiled, budget_pence=12_000_000)
    funding = funding_report(store.connection, scope, budget_pence=12_000_000)
    assert board.funding == funding and funding.budget is not None
    text = render_dashboard(board)
    figures = figures_json(text)
    assert {"chart-spend", "chart-budget"} <= set(figures)
    council = figures["chart-spend"]["data"][0]
    assert council["name"] == "council"
    assert council["x"] == [float(row.council) for row in funding.by_care_type]
    residential = next(r for r in funding.by_care_type if r.care_type == "residential")
    assert (
        f'<tr><th scope=row>residential</th><td class="num">{residential.clients}</td>'
        f'<td class="num">£{float(residential.spend):,.2f}</td>' in text
    )
    assert f"£{float(funding.budget.council_spend):,.2f}" in text
    # S21's urgent s19(3) days before its eligibility decision, S22's positive CHC checklist.
    assert sorted((i.case_id, i.rule) for i in funding.scrutiny) == [
        ("BEP-S21", "urgent_pending_eligibility"),
        ("BEP-S22", "chc_checklist_positive_or_pending"),
    ]
    assert "Placements to scrutinise (2)" in text
    without_budget = render_dashboard(dashboard_data(store, scope, compiled))
    assert "chart-spend" in figures_json(without_budget)
    assert "chart-budget" not in figures_json(without_budget)

    bare = hostile_store(tmp_path / "bare.db")
    none = dashboard_data(bare, Scope(as_of=datetime(2026, 3, 1, tzinfo=UTC)), None)
    bare.close()
    assert none.funding is None
    assert "placement_spend" not in {f.key for f in none.headline()}
    assert 'id="spend"' not in render_dashboard(none)


def test_spend_is_shown_in_pounds_and_pence() -> None:
    """Money as the reports give it, shown with the pound sign, thousands and a true minus."""
    from pathway.dashboard.data import pounds

    assert pounds("1234567.5") == "£1,234,567.50"
    assert pounds("0.00") == "£0.00"
    assert pounds("-72622.50") == "\u2212£72,622.50"
