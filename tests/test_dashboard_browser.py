"""The dashboard in a real headless browser: Debian's chromium, driven by Playwright.

`pathway demo` writes the dashboard of the sample cases; the page is opened from its file and
must load with no console error and no network request, draw marks in every chart, and show
headline figures equal to `pathway report ... --format json` for the same store and as-of. The
test saves a full-page screenshot: to docs/images/dashboard.png when PATHWAY_UPDATE_SCREENSHOT=1
(the one docs/dashboard.md shows), else to the test's temporary folder.

Without chromium or Playwright the tests are skipped with the reason, except under CI (CI=true),
where a skipped browser test would hide a broken page: there they fail. `.ci/run` installs
chromium. The browser is PATHWAY_CHROMIUM, else /usr/bin/chromium (Playwright downloads nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sample_store import HOSTILE_CASE, HOSTILE_ORG, HOSTILE_TEAM, hostile_store

from pathway.dashboard import dashboard_available, dashboard_data, write_dashboard
from pathway.reports import Scope
from pathway.samples import load_sample, shipped_samples

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "images" / "dashboard.png"
CHROMIUM = os.environ.get("PATHWAY_CHROMIUM", "/usr/bin/chromium")
A4_WIDTH_PX = 703
"""A4's 210 mm less the page's 2 x 12 mm margins, at 96 px an inch."""

MARKS = (
    ".main-svg .point path, .main-svg .heatmaplayer image, .main-svg .js-line, "
    ".main-svg .scatterlayer .point"
)
"""What Plotly draws for the data: bars and markers (paths), heat-map cells (an image), lines."""


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def browser_missing(chromium: str = CHROMIUM) -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not dashboard_available():
        return "the dashboard extra is not installed (pip install -e '.[test]')"
    if not Path(chromium).exists():
        return f"chromium is not installed at {chromium} (apt-get install chromium)"
    return None


def require_browser(chromium: str = CHROMIUM) -> None:
    """Skip without a browser, or fail under CI, where the browser test must run."""
    reason = browser_missing(chromium)
    if reason is None:
        return
    if under_ci():
        pytest.fail(f"under CI the browser test must run, but {reason}", pytrace=False)
    pytest.skip(reason)


def test_a_missing_browser_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no chromium: a skip with the reason outside CI, a failure under CI=true."""
    nowhere = "/nonexistent/chromium"
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed at /nonexistent"):
        require_browser(nowhere)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI the browser test must run"):
        require_browser(nowhere)


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def wait_until(page: Any, predicate: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript function until it returns true.

    Not ``page.wait_for_function``: that evaluates its predicate with ``eval`` inside the page,
    which the page's Content-Security-Policy (rightly) forbids.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        time.sleep(0.05)


class Visit:
    """A page opened from a file, with every console message, page error and request recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url, wait_until="load")
        wait_until(
            self.page,
            "() => document.querySelectorAll('.chart').length > 0 && "
            "document.querySelectorAll('.chart').length === "
            "document.querySelectorAll('.chart[data-rendered=true]').length",
        )

    def check_clean(self) -> None:
        """No console error, no uncaught exception, and no request but the file itself."""
        assert [m for m in self.console if m[0] in ("error", "assert")] == []
        assert self.errors == []
        assert self.requests == [self.url], self.requests

    def marks(self) -> dict[str, int]:
        """How many data marks Plotly drew in each chart."""
        counts: dict[str, int] = self.page.eval_on_selector_all(
            ".chart",
            "(charts, selector) => Object.fromEntries(charts.map("
            "c => [c.id, c.querySelectorAll(selector).length]))",
            MARKS,
        )
        return counts

    def figures(self) -> dict[str, tuple[str | None, str]]:
        """Every element marked data-figure: (its data-value, its text)."""
        rows = self.page.eval_on_selector_all(
            "[data-figure]",
            "els => els.map(e => [e.dataset.figure, e.dataset.value ?? null, e.textContent])",
        )
        return {key: (value, text) for key, value, text in rows}

    def table(self, selector: str) -> list[list[str]]:
        rows: list[list[str]] = self.page.eval_on_selector_all(
            f"{selector} tbody tr",
            "rows => rows.map(r => Array.from(r.children).map(c => c.textContent))",
        )
        return rows


# --- the demo dashboard -------------------------------------------------------------------------


def pathway_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, datetime]:
    """`pathway demo` into a kept store, writing its dashboard: (store, page, the demo's as-of)."""
    folder = tmp_path_factory.mktemp("demo")
    done = pathway_cli("demo", "--db", "demo.db", "--dashboard", "demo.html", cwd=folder)
    assert f"Dashboard of these cases (open it in a web browser): {folder / 'demo.html'}" in (
        done.stdout
    )
    as_of = max(load_sample(name).steps[-1].when for name in shipped_samples())
    return folder / "demo.db", folder / "demo.html", as_of


def report(demo: tuple[Path, Path, datetime], name: str) -> dict[str, Any]:
    """`pathway report NAME --format json` on the demo's store, as of the demo's as-of."""
    db, _, as_of = demo
    done = pathway_cli(
        "report", name, "--db", str(db), "--as-of", as_of.isoformat(), "--format", "json",
        cwd=db.parent,
    )  # fmt: skip
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


@pytest.mark.slow
def test_demo_dashboard_in_a_real_browser(
    browser: Any, demo: tuple[Path, Path, datetime], tmp_path: Path
) -> None:
    """The demo's page loads cleanly and offline, every chart has marks, and the headline figures
    shown are the JSON reports' for the same store and as-of; a screenshot is saved."""
    _, page_file, as_of = demo
    visit = Visit(browser, page_file)
    visit.check_clean()

    marks = visit.marks()
    assert set(marks) >= {
        "chart-holders", "chart-holding", "chart-handovers", "chart-monthly", "chart-s75",
        "chart-distribution", "chart-activity", "chart-spend",
    }  # fmt: skip
    assert all(n > 0 for n in marks.values()), marks
    assert visit.page.locator("#chart-handovers .heatmaplayer image").count() == 1

    handed, waits = report(demo, "handoffs"), report(demo, "waits")
    held = report(demo, "caseload")
    shown = visit.figures()

    def number(key: str) -> float:
        value, _text = shown[key]
        assert value is not None
        return float(json.loads(value))

    def count(key: str, expected: int) -> None:
        value, text = shown[key]
        assert (value, text.replace(",", "")) == (str(expected), str(expected)), key

    count("open_cases", held["open_cases"])
    count("ping_pongs", handed["ping_pongs"])
    count("s75_crossings", handed["s75_crossings"])
    count("over_time_limit", len(waits["over_time_limit"]))
    count("reviews_overdue", len(waits["reviews_overdue"]))
    count("open_offers", len(waits["open_offers"]))
    count("escalations_due", len(waits["escalation"]["cases"]))
    assert number("median_time_to_help_days") == waits["time_to_help"]["median_days"]
    escalate = [row[0] for row in visit.table("#time-to-help .table-wrap:first-of-type")]
    assert "BEP-S03" in escalate
    count("cases", handed["cases"])
    count("events", handed["events"])
    per_case = handed["handoffs"] / handed["cases"]
    assert number("handoffs_per_case") == per_case
    assert shown["handoffs_per_case"][1] == f"{per_case:.2f}"
    median = waits["first_appointment"]["median_days"]
    assert number("median_wait_days") == median
    assert shown["median_wait_days"][1] == f"{median:.1f}"

    funding = report(demo, "funding")
    assert json.loads(shown["placement_spend"][0] or "null") == funding["spend"]
    assert shown["placement_spend"][1] == f"£{float(funding['spend']):,.2f}"
    count("scrutiny_items", len(funding["scrutiny"]))

    # The figures are not all zero: the comparison means something.
    assert held["open_cases"] > 0 and handed["ping_pongs"] > 0 and len(waits["over_time_limit"]) > 0
    assert float(funding["spend"]) > 0

    # The footer: as-of, the audit chain's head, verified.
    head = json.loads(pathway_cli("audit", "checkpoint", "--db", str(demo[0]), cwd=tmp_path).stdout)
    assert shown["head_position"][0] == str(head["position"])
    assert shown["head_hash"][1] == head["hash"]
    assert shown["verified"][0] == "true"
    assert visit.page.get_attribute('[data-figure="as_of"]', "datetime") == (
        as_of.astimezone(UTC).isoformat(timespec="microseconds")
    )

    # Tables beside the charts are the reports' rows too.
    assert visit.table("#chart-holders-block") == [
        [
            row["team"],
            f"{row['organisation']} ({'NHS trust' if row['organisation'] == 'behmt' else 'council'})",
            str(row["cases"]),
        ]
        for row in held["by_team"]
    ]
    monthly = report(demo, "monthly")
    assert [r[0] for r in visit.table("#chart-monthly-block")] == [
        m["month"] for m in monthly["months"]
    ]
    assert sum(int(r[1]) for r in visit.table("#chart-monthly-block")) == handed["handoffs"]

    target = (
        SCREENSHOT
        if os.environ.get("PATHWAY_UPDATE_SCREENSHOT") == "1"
        else (tmp_path / "dashboard.png")
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(target), full_page=True)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 50_000

    # Printing: the charts are laid out again to fit A4, and a PDF comes out.
    visit.page.emulate_media(media="print")
    wait_until(
        visit.page,
        "() => Array.from(document.querySelectorAll('.chart .main-svg'))"
        f".every(s => s.getBoundingClientRect().width <= {A4_WIDTH_PX})",
        timeout=10,
    )
    pdf = visit.page.pdf(format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-" and pdf.count(b"/Type /Page") > 1
    visit.check_clean()
    visit.page.close()


@pytest.mark.slow
def test_hostile_names_render_as_text_in_the_browser(browser: Any, tmp_path: Path) -> None:
    """A team and a case id that are HTML show as text in tables and charts and run nothing."""
    store = hostile_store(tmp_path / "hostile.db")
    board = dashboard_data(store, Scope(as_of=datetime(2026, 3, 1, tzinfo=UTC)), None)
    written = write_dashboard(board, tmp_path / "hostile.html")
    store.close()
    visit = Visit(browser, written)
    visit.check_clean()
    assert visit.page.evaluate("window.__pwned === undefined")
    cells = [c for row in visit.table("#chart-holders-block") for c in row]
    assert HOSTILE_TEAM in cells and HOSTILE_ORG in cells
    most = [row[0] for row in visit.table("#passed-around .table-wrap:last-of-type")]
    assert HOSTILE_CASE in most
    # Plotly shows the escaped label as the literal text, in the chart's own SVG.
    labels = visit.page.eval_on_selector_all(
        "#chart-holders .main-svg text", "els => els.map(e => e.textContent)"
    )
    assert HOSTILE_TEAM in labels
    assert all(n > 0 for n in visit.marks().values())
    visit.page.close()


@pytest.mark.slow
def test_an_old_log_shows_its_notice_and_title_in_the_browser(browser: Any, tmp_path: Path) -> None:
    """An imported log whose newest event (2026-02-06) is long before as-of: the notice is
    visible above the figures with the --as-of to use, the page is titled by the log, and the
    figures resting on pathway states the log lacks read n/a."""
    store = hostile_store(tmp_path / "old.db")
    board = dashboard_data(store, Scope(as_of=datetime(2027, 1, 1, tzinfo=UTC)), None)
    written = write_dashboard(board, tmp_path / "old.html")
    store.close()
    visit = Visit(browser, written)
    visit.check_clean()
    notice = visit.page.locator("#stale-notice")
    assert notice.is_visible() and notice.bounding_box()["height"] > 20
    headline = visit.page.locator("#headline").bounding_box()
    assert notice.bounding_box()["y"] < headline["y"]  # read before any figure
    shown = visit.figures()
    assert shown["suggested_as_of"][0] == "2026-02-06T09:00:00.000000+00:00"
    assert "--as-of 2026-02-06T09:00:00.000000+00:00" in shown["suggested_as_of"][1]
    assert shown["median_wait_days"] == ("null", "n/a")
    assert visit.page.text_content("#data-title") == (
        "Event log imported from hostile.csv: 2 cases, 2026-01-05 to 2026-02-06"
    )
    assert [r[0] for r in visit.table("#chart-monthly-block")] == ["2026-01", "2026-02"]
    visit.page.close()
