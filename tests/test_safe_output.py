"""Safe output (issue 16 item 4, item 5's last point): CSV cells a spreadsheet would run as a
formula are neutralised, markdown tables hold hostile names, --definitions-url takes only
http(s) or a relative path, and table/CSV/markdown output of the handoffs report reads only the
--top cases it shows."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import pathway
from pathway.cli import cli
from pathway.dashboard import check_definitions_url
from pathway.errors import InvalidRequest
from pathway.importer import import_events
from pathway.render import csv_cell, markdown_cell, render_rows
from pathway.reports import Scope, handoffs_report
from pathway.reports import handoffs as handoffs_module

HOSTILE = [
    '=HYPERLINK("http://x")',
    "+cmd",
    "-1+2",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
]
"""Text a spreadsheet would run as a formula (OWASP, CSV injection)."""


# --- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_cell_gets_a_leading_quote(text: str) -> None:
    """Each text starting with = + - @ tab or CR is written with a ' before it, nothing else."""
    out = render_rows([{"case_id": text, "n": 1}], ["case_id", "n"], "csv")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows == [["case_id", "n"], ["'" + text, "1"]]


@pytest.mark.parametrize(
    "value",
    [-1, -2.5, 0, "-1234.50", "-7", "1234.50", "C1", "a=b", "hub -> lets", "", None, "'quoted"],
)
def test_numbers_and_ordinary_text_are_left_alone(value: Any) -> None:
    """Negative numbers (and money as text, "-1234.50") are numbers, not formulas; text not
    starting with a formula character is written as it is."""
    expected = "" if value is None else str(value)
    out = render_rows([{"v": value}], ["v"], "csv")
    assert list(csv.reader(io.StringIO(out, newline=""))) == [["v"], [expected]]


def test_lists_are_neutralised_after_joining() -> None:
    """A list whose first item is a formula becomes a cell that starts with one: neutralised."""
    assert csv_cell("=a; b") == "'=a; b"
    out = render_rows([{"teams": ["=x", "lets"]}], ["teams"], "csv")
    assert out.splitlines()[1] == "'=x; lets"


@given(st.text())
def test_no_csv_cell_starts_a_formula(text: str) -> None:
    """Whatever the text, its cell never starts with a formula character unless it is a plain
    number; and the original is the cell without its added quote."""
    cell = csv_cell(text)
    plain_number = re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) is not None
    assert plain_number or not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, "'" + text)


# --- Markdown -------------------------------------------------------------------------------------


def test_markdown_escapes_pipes_backslashes_html_and_newlines() -> None:
    """Each character that could end a cell, start a tag, an entity or a link is escaped."""
    assert markdown_cell("a|b") == r"a\|b"
    assert markdown_cell("back\\slash") == r"back\\slash"
    assert markdown_cell("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert markdown_cell("AT&T") == "AT&amp;T"
    assert markdown_cell("line1\nline2\r\nline3\rline4") == "line1<br>line2<br>line3<br>line4"
    assert markdown_cell("[x](javascript:alert(1))") == r"\[x\](javascript:alert(1))"
    assert markdown_cell(-3) == -3


_UNESCAPED_PIPE = re.compile(r"(?<!\\)(?:\\\\)*\|")


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_a_markdown_row_has_one_line_and_its_columns(values: list[str]) -> None:
    """Any text: the table is a header, a rule and one line per row, each with exactly the
    table's column separators, and no raw < but our <br> (no HTML can be injected)."""
    columns = [f"c{i}" for i in range(len(values))]
    out = render_rows([dict(zip(columns, values, strict=True))], columns, "markdown")
    lines = out.split("\n")
    assert len(lines) == 3
    for line in lines:
        assert len(_UNESCAPED_PIPE.findall(line)) == len(columns) + 1
    assert "<" not in lines[2].replace("<br>", "")
    assert "&" not in lines[2].replace("&amp;", "").replace("&lt;", "")


# --- the command line, with an imported log of hostile names --------------------------------------

HOSTILE_IDS = [
    *HOSTILE[:4],
    "a|b",
    "line1\nline2",
    "<script>alert(1)</script>",
    "back\\slash",
]


def _hostile_log() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "occurred_at", "state", "team", "organisation", "actor"])
    for i, case_id in enumerate(HOSTILE_IDS):
        writer.writerow([case_id, f"2026-01-0{i + 1} 09:00", "referral", "=team|x", "council", "w"])
        writer.writerow([case_id, f"2026-01-0{i + 1} 10:00", "assessment", "<b>lets</b>", "council", "w"])  # fmt: skip
    return out.getvalue()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "log.csv").write_text(_hostile_log())
    done = run("import", "log.csv", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _csv_sections(text: str) -> dict[str, list[list[str]]]:
    """The CLI's CSV report: a headline block, then '# title' blocks, as parsed rows."""
    sections: dict[str, list[list[str]]] = {}
    for i, block in enumerate(text.split("\n\n# ")):
        title, _, body = block.partition("\n") if i else ("headline", "", block)
        sections[title] = list(csv.reader(io.StringIO(body)))
    return sections


def test_cli_csv_neutralises_imported_formulas(hostile: Path) -> None:
    """`pathway report handoffs --format csv`: every hostile id and team is quoted, the counts
    stay numbers; JSON output keeps the values raw."""
    done = run("report", "handoffs", "--as-of", "2026-02-01", "--format", "csv", cwd=hostile)
    assert done.returncode == 0, done.stderr
    sections = _csv_sections(done.stdout)
    by_case = sections["by_case"]
    assert by_case[0][:5] == ["case_id", "handoffs", "ping_pongs", "s75_crossings", "teams"]
    ids = {row[0] for row in by_case[1:]}
    assert ids == {("'" + c if c[0] in "=+-@" else c) for c in HOSTILE_IDS}
    for row in by_case[1:]:
        assert row[1:5] == ["1", "0", "0", "'=team|x -> <b>lets</b>"]
    assert sections["by_pair"][1] == ["'=team|x", "<b>lets</b>", str(len(HOSTILE_IDS))]
    raw = run("report", "handoffs", "--as-of", "2026-02-01", "--format", "json", cwd=hostile)
    assert '"case_id": "=HYPERLINK(\\"http://x\\")"' in raw.stdout


def test_cli_markdown_tables_hold_hostile_names(hostile: Path) -> None:
    """`--format markdown`: each by_case row is one line with its 10 columns; no raw HTML."""
    done = run("report", "handoffs", "--as-of", "2026-02-01", "--format", "markdown", cwd=hostile)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "<script>" not in text and "<b>" not in text
    table = text.split("## by_case")[1].strip().split("\n\n")[0].split("\n")
    assert len(table) == 2 + len(HOSTILE_IDS)
    for line in table:
        assert len(_UNESCAPED_PIPE.findall(line)) == 11, line
    assert any(r"a\|b" in line for line in table)
    assert any("line1<br>line2" in line for line in table)
    assert any("&lt;script>alert(1)&lt;/script>" in line for line in table)


# --- --definitions-url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "file:///etc/passwd",
        "//evil.example/reports.md",
        "/\\evil.example/reports.md",
        "https://",
        "http:reports.md",
        "",
    ],
)
def test_definitions_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(InvalidRequest, match=r"definitions URL .* give an http:// or https:// URL"):
        check_definitions_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "docs/reports.md",
        "../reports.md",
        "reports.md",
        "https://intranet.example.gov.uk/pathway/reports.md",
        "HTTP://intranet/reports.md",
        "/pathway/reports.md",
    ],
)
def test_definitions_url_takes_http_and_relative_paths(url: str) -> None:
    assert check_definitions_url(url) == url


def test_cli_definitions_url_javascript_is_refused(tmp_path: Path) -> None:
    """Exit 2, one message naming the option, no page written (checked before the store)."""
    done = run(
        "dashboard", "--definitions-url", "javascript:alert(1)", "--out", "b.html", cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--definitions-url" in done.stderr
    assert "http" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


# --- bounded table/CSV/markdown output of the handoffs report -------------------------------------


def _many_cases(n: int) -> str:
    lines = ["case_id,occurred_at,state,team,organisation,actor"]
    for i in range(n):
        lines.append(f"K{i:03d},2026-01-01 09:00,referral,hub,council,w")
        for j in range(i % 4):
            lines.append(f"K{i:03d},2026-01-0{j + 2} 09:00,referral,{'ab'[j % 2]},council,w")
    return "\n".join(lines) + "\n"


AS_OF = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "scope",
    [
        Scope(as_of=AS_OF),
        Scope(as_of=AS_OF, team="a"),
        Scope(as_of=AS_OF, since=datetime(2026, 1, 3, tzinfo=UTC)),
    ],
    ids=["whole", "team", "since"],
)
def test_a_limit_gives_the_first_rows_of_the_full_report(store_factory: Any, scope: Scope) -> None:
    """handoffs_report(limit=N), on both stores: the same figures, by_case cut to the first N
    of the full list (0 gives none)."""
    store = store_factory.open(store_factory.location())
    import_events(store, "x.csv", text=_many_cases(40))
    full = handoffs_report(store.connection, scope)
    assert len(full.by_case) == full.cases > 5
    for limit in (5, 0, 1000):
        cut = handoffs_report(store.connection, scope, limit=limit)
        assert cut.by_case == full.by_case[:limit]
        assert {k: v for k, v in cut.to_json().items() if k != "by_case"} == {
            k: v for k, v in full.to_json().items() if k != "by_case"
        }
    with pytest.raises(ValueError, match="limit must be 0 or more"):
        handoffs_report(store.connection, scope, limit=-1)
    store.close()


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
def test_cli_table_output_builds_only_the_top_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """`report handoffs --top 3`: 3 case rows are built, not one per case, and the title still
    says how many there are."""
    db = tmp_path / "s.db"
    store = pathway.open_store(str(db))
    import_events(store, "x.csv", text=_many_cases(40))
    store.close()
    built: list[Any] = []
    original = handoffs_module._case

    def counting(row: Any) -> Any:
        built.append(row[0])
        return original(row)

    monkeypatch.setattr(handoffs_module, "_case", counting)
    result = CliRunner().invoke(
        cli,
        ["report", "handoffs", "--db", str(db), "--as-of", "2026-02-01", "--top", "3",
         "--format", fmt],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(built) == 3
    assert "by_case (top 3 of 40)" in result.output
