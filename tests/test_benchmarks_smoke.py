"""The benchmark script still runs and still writes the figures docs/performance.md is built from.

Speed is checked by the benchmark itself (as ratios to a same-run baseline), never by a test: this
test only keeps the script from rotting, with sizes so small the figures mean nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_core.py"


def test_bench_core_quick_writes_every_figure(tmp_path: Path) -> None:
    """``bench_core.py --quick --json`` at a tiny size exits 0 and writes positive figures.

    Checks the keys and that every rate, time and ratio is a positive number; it asserts nothing
    about how fast anything is.
    """
    out = tmp_path / "bench.json"
    args = ["--quick", "--cases", "10", "--fires", "200", "--rounds", "1", "--load-reps", "2"]
    args += ["--dir", str(tmp_path), "--json", str(out)]
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "fire, file store" in completed.stdout
    results = json.loads(out.read_text(encoding="utf-8"))

    assert {"meta", "fire_file", "fire_memory", "fire_target", "load"} <= results.keys()
    assert results["meta"]["mode"] == "quick"
    assert results["meta"]["sizes"] == {"cases": 10, "fires": 200, "rounds": 1, "load_reps": 2}
    for key in ("fire_file", "fire_memory"):
        fire = results[key]
        assert fire["cases"] == 10 and fire["fires"] == 200
        for figure in ("fires_per_s", "baseline_per_s", "ratio", "us_per_fire", "us_per_baseline"):
            assert isinstance(fire[figure], int | float) and fire[figure] > 0, (key, figure)
        assert len(fire["ratio_per_round"]) == 1
    shipped = results["fire_shipped"]
    assert shipped["fires"] == 200 and shipped["ratio"] > 0
    # The walk is of steps the samples expect to be applied: the engine refuses none of them.
    assert shipped["refused_per_round"] == [0]

    by_name = {entry["definition"]: entry for entry in results["load"]}
    minimal = by_name["minimal"]
    assert "skipped" not in minimal, minimal
    for figure in ("load_ms", "safe_load_ms", "ratio"):
        assert isinstance(minimal[figure], int | float) and minimal[figure] > 0, figure
    # The shipped default is written concurrently: either measured or skipped with a reason.
    barnet = by_name["barnet-enablement"]
    assert barnet.get("skipped") or barnet["ratio"] > 0
    # The temporary SQLite files are cleaned up.
    assert not list(tmp_path.glob("pathway-bench-*"))


def test_bench_reports_quick_agrees_with_duckdb(tmp_path: Path) -> None:
    """``bench_reports.py --quick --json`` at a tiny size exits 0, writes every figure, and the
    library's handoffs and holding figures equal DuckDB's (and the CLI's JSON the library's).

    DuckDB is the benchmark's baseline, installed with the ``benchmark`` extra, not a test
    dependency: without it the test is skipped. Nothing about speed is asserted.
    """
    pytest.importorskip(
        "duckdb",
        reason="duckdb is not installed (pip install -e '.[benchmark]'); it is only the benchmark's baseline",
    )
    out = tmp_path / "bench-reports.json"
    args = ["--quick", "--cases", "60", "--small-cases", "20", "--import-rounds", "1"]
    args += ["--rounds", "1", "--dir", str(tmp_path), "--json", str(out)]
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_reports.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))

    assert {"meta", "log", "as_of", "import", "reports", "memory", "agree"} <= results.keys()
    assert results["meta"]["mode"] == "quick"
    assert results["log"]["cases"] == 60 and results["log"]["events"] > 60
    assert results["agree"] is True
    for figure in ("rows_per_s", "baseline_rows_per_s", "ratio", "floor_ratio"):
        assert results["import"][figure] > 0, figure
    assert results["import"]["rows"] == results["log"]["events"]
    for name in ("handoffs", "holding"):
        report = results["reports"][name]
        for figure in ("library_s", "cli_s", "duckdb_s", "ratio_library", "ratio_cli"):
            assert isinstance(report[figure], int | float) and report[figure] > 0, (name, figure)
        assert report["agreement"]["agree"] is True, report["agreement"]
        assert report["agreement"]["cli_equals_library"] is True
        memory = results["memory"][name]
        for method in ("rss", "tracemalloc"):
            for size in ("small", "big"):
                assert memory[method][size]["peak_rise_kib"] >= 0, (name, method, size)
        assert memory["rss"]["big"]["events"] > memory["rss"]["small"]["events"]
    assert results["reports"]["handoffs"]["agreement"]["cases"] == 60
    # The temporary files are cleaned up.
    assert not list(tmp_path.glob("pathway-bench-reports-*"))


@pytest.mark.postgres
def test_bench_postgres_quick_writes_every_figure(tmp_path: Path, pg_url: str) -> None:
    """``bench_postgres.py --quick --json`` at a tiny size exits 0 and writes positive figures:
    the fire ratio against the plain psycopg loop, and 1, 4 and 8 writers on both stores.

    Needs the PostgreSQL test server (PATHWAY_TEST_POSTGRES); asserts nothing about speed, and
    that the run dropped every schema it made.
    """
    before = _bench_schemas(pg_url)
    out = tmp_path / "bench-pg.json"
    args = ["--quick", "--cases", "5", "--fires", "40", "--rounds", "1", "--writer-fires", "5"]
    args += ["--writer-rounds", "1", "--url", pg_url, "--dir", str(tmp_path), "--json", str(out)]
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_postgres.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "fire, PostgreSQL" in completed.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert {"meta", "fire_postgres", "fire_target", "writers"} <= results.keys()
    fire = results["fire_postgres"]
    assert fire["fires"] == 40 and len(fire["ratio_per_round"]) == 1
    for figure in ("fires_per_s", "baseline_per_s", "ratio"):
        assert isinstance(fire[figure], int | float) and fire[figure] > 0, figure
    writers = results["writers"]
    for store in ("postgresql", "sqlite"):
        for n in ("1", "4", "8"):
            assert writers[store]["fires_per_s"][n] > 0, (store, n)
        assert writers[store]["ratio_to_1"]["1"] == 1.0
    assert results["meta"]["server"]["server_version"]
    assert _bench_schemas(pg_url) <= before  # every schema the run made was dropped
    assert not list(tmp_path.glob("pathway-bench-pg-*"))


def _bench_schemas(url: str) -> set[str]:
    import psycopg

    from pathway.store.postgres import parse_location

    with psycopg.connect(parse_location(url).conninfo) as conn:
        return {
            row[0]
            for row in conn.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                ("pathway_bench_%",),
            )
        }


def test_bench_funding_quick_checks_agreement_and_writes_its_figures(tmp_path: Path) -> None:
    """``bench_funding.py --quick`` builds its store, finds the report and the plain SQL sum
    agreeing, and writes positive timings; nothing about speed is asserted."""
    out = tmp_path / "funding.json"
    args = ["--quick", "--cases", "60", "--placements", "120", "--rounds", "1"]
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_funding.py"), *args,
         "--dir", str(tmp_path), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "figures agree" in completed.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["store"]["placements"] == 120 and results["store"]["periods"] >= 120
    assert results["meta"]["mode"] == "quick"
    funding = results["funding"]
    for figure in ("report_s", "sql_s", "ratio"):
        assert isinstance(funding[figure], int | float) and funding[figure] > 0, figure
    assert not list(tmp_path.glob("pathway-bench-funding-*"))


def test_bench_passes_runs_and_cleans_up(tmp_path: Path) -> None:
    """``bench_passes.py`` at a tiny size exits 0, prints both ratios and leaves no store behind;
    nothing about speed is asserted."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_passes.py"), "--cases", "50",
         "--rounds", "2", "--dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    ratios = [line for line in completed.stdout.splitlines() if line.startswith("ratio with")]
    assert len(ratios) == 2, completed.stdout
    assert not list(tmp_path.glob("pathway-bench-passes-*"))


def test_bench_report_startup_runs_against_an_older_checkout() -> None:
    """``bench_report_startup.py --rounds 1 --before ROOT`` (this checkout against itself) exits 0
    and prints each command's ratio, wall and CPU; nothing about speed is asserted."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_report_startup.py"), "--rounds", "1",
         "--before", str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    ratios = [line for line in completed.stdout.splitlines() if "ratio after/before" in line]
    assert len(ratios) == 6, completed.stdout


def test_import_floor_does_the_work_it_is_credited_with(tmp_path: Path) -> None:
    """The import benchmark's floor (the least a chained import can do) really sorts, numbers and
    chains every row: otherwise its figure would say nothing about what the library could reach.

    Runs without DuckDB (the floor needs only the standard library), so CI keeps it honest.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_reports
        import generate_log
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    import csv
    import hashlib
    import sqlite3
    from datetime import datetime

    log = tmp_path / "log.csv"
    events = generate_log.write_log(log, 40, 3)
    seconds, rows = bench_reports.floor_import(log, tmp_path / "floor.db")
    assert rows == events and seconds > 0

    with log.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        by_case: dict[str, list[tuple[float, int, str]]] = {}
        for line, row in enumerate(reader, 2):
            at = datetime.fromisoformat(row[1]).timestamp()
            by_case.setdefault(row[0], []).append((at, line, row[2]))
    conn = sqlite3.connect(tmp_path / "floor.db")
    stored = conn.execute(
        "SELECT position, case_id, seq, occurred_at, state, team, organisation, actor, trigger, "
        "hash FROM events ORDER BY position"
    ).fetchall()
    conn.close()
    assert [r[0] for r in stored] == list(range(1, events + 1))
    expected = [
        (case_id, seq, state)
        for case_id in sorted(by_case)
        for seq, (_, _, state) in enumerate(sorted(by_case[case_id]), 1)
    ]
    assert [(r[1], r[2], r[4]) for r in stored] == expected
    prev = "0" * 64
    for _, case_id, seq, at_text, state, team, org, actor, trigger, digest in stored:
        text = f'["{case_id}",{seq},"{at_text}","{state}","{team}","{org}","{actor}","{trigger}"]'
        assert digest == hashlib.sha256((prev + text).encode()).hexdigest()
        prev = digest
