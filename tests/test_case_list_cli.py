"""`pathway case list`: the case query API from the command line (a thin layer over it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import HUB, LETS, MINIMAL

import pathway


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathway", "case", "list", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _store(tmp_path: Path) -> str:
    db = str(tmp_path / "cases.db")
    with pathway.open_store(db) as store:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        for n in range(5):
            engine.open_case(f"C{n}", HUB)
        for n in (1, 3, 4):
            engine.fire(f"C{n}", "book_choice_appointment", LETS)
    return db


def test_pages_through_the_filtered_cases_as_json(tmp_path: Path) -> None:
    db = _store(tmp_path)
    seen: list[str] = []
    after: list[str] = []
    while True:
        done = _run("--db", db, "--state", "choice_appointment", "--limit", "2", "--format",
                    "json", *after)  # fmt: skip
        assert done.returncode == 0, done.stderr
        page = json.loads(done.stdout)
        seen.extend(case["id"] for case in page["cases"])
        assert all(case["team"] == "lets" for case in page["cases"])
        if page["next_cursor"] is None:
            break
        after = ["--after", page["next_cursor"]]
    assert seen == ["C1", "C3", "C4"]
    both = _run("--db", db, "--state", "referred", "--state", "choice_appointment", "--team",
                "hub", "--open", "--format", "json")  # fmt: skip
    assert [case["id"] for case in json.loads(both.stdout)["cases"]] == ["C0", "C2"]


def test_a_table_says_how_to_ask_for_the_next_page(tmp_path: Path) -> None:
    db = _store(tmp_path)
    done = _run("--db", db, "--limit", "3")
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[2:]] == ["C0", "C1", "C2"]
    assert done.stderr.startswith("next page: --after ")
    cursor = done.stderr.split("--after ")[1].strip()
    rest = _run("--db", db, "--limit", "3", "--after", cursor, "--format", "csv")
    assert [line.split(",")[0] for line in rest.stdout.splitlines()[1:]] == ["C3", "C4"]
    assert rest.stderr == ""


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    db = _store(tmp_path)
    for args, words in (
        (["--limit", "0"], "limit: must be a whole number from 1 to 1000"),
        (["--after", "garbage"], "after: not a cursor of this query"),
        (["--changed-since", "yesterday"], "--changed-since"),
    ):
        done = _run("--db", db, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr
    missing = _run("--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no such store" in missing.stderr
    assert not (tmp_path / "none.db").exists()
