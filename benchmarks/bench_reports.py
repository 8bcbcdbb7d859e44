"""Import and report benchmarks of care-pathway at scale, each as a RATIO to a same-run baseline.

A seeded synthetic log (``benchmarks/generate_log.py``: 100,000 cases, about 1,000,000 events in
the full run) is written once, then, all in one run:

1. **import**: ``pathway.importer.import_events(store, csv, final_states=["closed"])`` into a new
   file store (WAL, ``synchronous=FULL``) against a plain ``sqlite3`` baseline that reads the same
   CSV with ``csv.reader`` and ``executemany``-s its rows, as they are, into a table of the same
   seven columns, in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` on a new file with the same pragmas.
   Ratio = library rows/s / baseline rows/s. Target >= 0.25 (aim 0.5). Beside them, in turn,
   a **floor** (``floor_import``): the least an import that chains every event can do, written
   as tightly as we could (stage, sort by case and time, number, hash, insert 11 columns), with
   none of the reports' derived rows. Its ratio to the same baseline bounds what any chained
   import can reach on the machine; ``library_to_floor`` says how far the library is from it.
2. **reports**: each whole ``handoffs`` and ``holding`` report in JSON, two ways, against DuckDB
   computing the same figures from the same raw rows, loaded into an in-memory DuckDB table
   before any timing:

   * *library, in process*: open the store and write the report's JSON to a file exactly as
     ``pathway report NAME --format json`` does: ``write_handoffs_json`` (which streams every
     case from the database) for handoffs, compact ``json.dumps(holding_report(...).to_json())``
     for holding;
   * *CLI, subprocess*: ``python -m pathway report NAME --db DB --format json --as-of T`` with its
     output to a file: Python start-up, imports and printing included;
   * *DuckDB*: handoffs = the team-to-team matrix and every case's handoff count; holding = the
     days each team held cases (and the unallocated days), in SQL written from the definitions
     (below), results fetched into Python.

   **handoffs_pathway** is the handoffs report of a store that records its pathway (the shipped
   ``barnet-enablement``, given as ``--pathway`` to the CLI and as the compiled pathway in
   process): with the passed-around figures (offers, declines, interruptions, passes, days
   between teams), against the same DuckDB handoffs.

   Ratio = time / DuckDB's time. Target <= 3 (aim 2). Before timing, the figures are checked to
   be EQUAL: the matrix and every case's count exactly, days per team within 1e-6 relative, and
   the CLI's JSON equal to the in-process JSON. The run says whether they agree; a benchmark
   comparing different answers is worthless, so a disagreement makes the script exit 1.
3. **memory**: the peak memory of one in-process report call (the JSON written as the CLI writes
   it, to the null device) on a store of a quarter of the cases (about 250,000 events) and on the full one (about
   1,000,000), each in a fresh subprocess. Two measures: the rise of the process's peak resident
   set (``VmHWM`` in ``/proc/self/status``, reset through ``/proc/self/clear_refs`` after opening
   the store, so it counts everything the call touched, SQLite's own allocations included), and
   ``tracemalloc``'s peak (Python objects only: SQLite allocates outside it), measured in a second
   fresh subprocess because tracing slows the call. "Flat" means the 1M figure is not about 4
   times the 250k one; the ratio is reported. ``ru_maxrss`` is not used: in a child started by
   ``fork``/``vfork`` it can start at the parent's peak, which hides the child's own.

Definitions the DuckDB SQL is written from (docs/reports.md has the library's): a case's applied
events are ordered by time, then by their order in the file; events after ``as_of`` are left
out. A **handoff** is a change of the named holding team between consecutive events (an empty
team is an unallocated gap and is skipped: A, nobody, B is one handoff A -> B). **Holding**: each
event's team (none: unallocated) holds the case until the case's next event, the last one until
``as_of``, unless that event closed the case (state ``closed``): after a closing event nobody
holds it.

Usage::

    python benchmarks/bench_reports.py --json bench-reports.json   # full run, about 5 minutes
    python benchmarks/bench_reports.py --quick                     # about 20k events, ~30 s

Sizes can be overridden (``--cases``, ``--small-cases``, ``--import-rounds``, ``--rounds``); the
test suite runs a tiny ``--quick`` so the script cannot rot. DuckDB is a benchmark extra
(``pip install -e '.[benchmark]'``), not a dependency of the library.
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import generate_log  # noqa: E402  (the generator beside this script)

import pathway  # noqa: E402
from pathway import open_store  # noqa: E402
from pathway.importer import import_events  # noqa: E402
from pathway.reports import Scope, holding_report, write_handoffs_json  # noqa: E402

IMPORT_TARGET, IMPORT_AIM = 0.25, 0.5
REPORT_TARGET, REPORT_AIM = 3.0, 2.0
FLAT_LIMIT = 2.0
"""The 1M / 250k peak-memory ratio under which memory counts as flat (4 would be linear)."""
FINAL_STATES = ("closed",)
REL_TOL = 1e-6
DEFAULT_AS_OF = generate_log.END.isoformat()
"""No generated event is later, so every case is in the reports and open cases run up to it."""

SIZES = {
    "full": {"cases": 100_000, "small_cases": 25_000, "import_rounds": 3, "rounds": 5},
    "quick": {"cases": 2_000, "small_cases": 500, "import_rounds": 2, "rounds": 3},
}
REPORTS = ("handoffs", "handoffs_pathway", "holding")
PATHWAY = "barnet-enablement"
"""``handoffs_pathway``: the handoffs report of a store that records this pathway (as every store
made by ``pathway demo`` or ``init --pathway`` does), so with the passed-around figures."""

BASELINE_TABLE = (
    "CREATE TABLE events_raw (case_id TEXT, occurred_at TEXT, state TEXT, team TEXT, "
    "organisation TEXT, actor TEXT, trigger TEXT)"
)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


# --- 1. import ---------------------------------------------------------------------------------


def library_import(csv_path: Path, db_path: Path) -> tuple[float, int]:
    """Import the log into a new file store with the library; (seconds, rows)."""
    store = open_store(db_path)
    try:
        seconds, result = _timed(
            lambda: import_events(store, csv_path, final_states=list(FINAL_STATES))
        )
    finally:
        store.close()
    return seconds, result.rows


def baseline_import(csv_path: Path, db_path: Path) -> tuple[float, int]:
    """Read the CSV and executemany its rows into a 7-column table, one durable transaction."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(BASELINE_TABLE)

    def run() -> int:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO events_raw VALUES (?, ?, ?, ?, ?, ?, ?)", reader)
            conn.execute("COMMIT")
        return int(conn.execute("SELECT COUNT(*) FROM events_raw").fetchone()[0])

    try:
        seconds, rows = _timed(run)
    finally:
        conn.close()
    return seconds, rows


FLOOR_EVENTS = (
    "CREATE TABLE events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
    "case_id TEXT NOT NULL, seq INTEGER NOT NULL, occurred_at TEXT NOT NULL, state TEXT, "
    "team TEXT, organisation TEXT, actor TEXT, trigger TEXT, hash TEXT NOT NULL, "
    "UNIQUE (case_id, seq))"
)
FLOOR_BATCH = 20_000


def floor_import(csv_path: Path, db_path: Path) -> tuple[float, int]:
    """The least an import that chains every event can do, written as tightly as we could.

    Not the library: a yardstick for the import target. Any import that keeps the contract
    must read and check every row, put each case's rows in time order (the file is not), give
    each event its place in the case (``seq``) and hash it into the chain in that order, and
    insert it where history and verification can find it (unique event id, unique
    ``(case_id, seq)``). This does just that, in one durable transaction on a new file with the
    store's pragmas: ``csv.reader``; ``datetime.fromisoformat``; rows staged in a temporary
    table and read back sorted; ``sha256`` over a plain ``%``-format of the fields (no JSON
    escaping, so cheaper than any canonical text); a 11-column events table. It leaves out, and
    so is faster than anything that meets the issue could be: the reports' derived rows (closed
    episodes, handoffs, the cases' rows and counters), the checks' error messages, the data
    column, the columns of the full audit record, and the clash check against cases already
    in the store.
    """
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(FLOOR_EVENTS)
    parse = datetime.fromisoformat
    sha256 = hashlib.sha256
    text = '["%s",%d,"%s","%s","%s","%s","%s","%s"]'
    insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    def run() -> int:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "CREATE TEMP TABLE staged (line INTEGER, case_id TEXT, at REAL, at_text TEXT, "
            "state TEXT, team TEXT, organisation TEXT, actor TEXT, trigger TEXT)"
        )
        stage = "INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[tuple[Any, ...]] = []
            for line, (case_id, at, state, team, org, actor, trigger) in enumerate(reader, 2):
                case_id, state = case_id.strip(), state.strip()
                if not case_id or not state:
                    raise ValueError(f"line {line}: empty case id or state")
                batch.append(
                    (line, case_id, parse(at).timestamp(), at, state, team.strip() or None,
                     org.strip() or None, actor.strip(), trigger.strip() or None)
                )  # fmt: skip
                if len(batch) >= FLOOR_BATCH:
                    conn.executemany(stage, batch)
                    batch.clear()
            conn.executemany(stage, batch)
        rows: list[tuple[Any, ...]] = []
        prev, position, current, seq = "0" * 64, 0, None, 0
        for case_id, at_text, state, team, org, actor, trigger in conn.execute(
            "SELECT case_id, at_text, state, team, organisation, actor, trigger FROM staged "
            "ORDER BY case_id, at, line"
        ):
            if case_id != current:
                current, seq = case_id, 0
            seq += 1
            position += 1
            digest = sha256(
                (prev + text % (case_id, seq, at_text, state, team, org, actor, trigger)).encode()
            ).hexdigest()
            rows.append(
                (position, f"{position:032x}", case_id, seq, at_text, state, team, org, actor,
                 trigger, digest)
            )  # fmt: skip
            prev = digest
            if len(rows) >= FLOOR_BATCH:
                conn.executemany(insert, rows)
                rows.clear()
        conn.executemany(insert, rows)
        conn.execute("DROP TABLE staged")
        conn.execute("COMMIT")
        return position

    try:
        seconds, rows = _timed(run)
    finally:
        conn.close()
    return seconds, rows


def measure_import(csv_path: Path, work: Path, rounds: int) -> tuple[dict[str, Any], Path]:
    """Library, floor and baseline imports in turn; keep the last library store for the reports.

    Each round runs the three in a different order (rotated), so none always goes first.
    """
    lib_rates: list[float] = []
    base_rates: list[float] = []
    floor_rates: list[float] = []
    kept: Path | None = None
    rows = 0
    for r in range(rounds):
        lib_db, base_db, floor_db = (
            work / f"import-{r}.db", work / f"baseline-{r}.db", work / f"floor-{r}.db"
        )  # fmt: skip

        def run_library(lib_db: Path = lib_db) -> None:
            nonlocal rows
            seconds, rows = library_import(csv_path, lib_db)
            lib_rates.append(rows / seconds)

        def run_baseline(base_db: Path = base_db) -> None:
            seconds, count = baseline_import(csv_path, base_db)
            base_rates.append(count / seconds)

        def run_floor(floor_db: Path = floor_db) -> None:
            seconds, count = floor_import(csv_path, floor_db)
            floor_rates.append(count / seconds)

        sides = [run_library, run_baseline, run_floor]
        for run in sides[r % 3 :] + sides[: r % 3]:
            run()
        _remove_db(base_db)
        _remove_db(floor_db)
        if kept is not None:
            _remove_db(kept)
        kept = lib_db
    assert kept is not None
    ratios = [a / b for a, b in zip(lib_rates, base_rates, strict=True)]
    floor_ratios = [a / b for a, b in zip(floor_rates, base_rates, strict=True)]
    return {
        "rows": rows,
        "rounds": rounds,
        "rows_per_s": _median(lib_rates),
        "baseline_rows_per_s": _median(base_rates),
        "us_per_row": 1e6 / _median(lib_rates),
        "us_per_baseline_row": 1e6 / _median(base_rates),
        "ratio": _median(ratios),
        "ratio_per_round": ratios,
        "target": IMPORT_TARGET,
        "aim": IMPORT_AIM,
        "meets_target": _median(ratios) >= IMPORT_TARGET,
        "floor_rows_per_s": _median(floor_rates),
        "us_per_floor_row": 1e6 / _median(floor_rates),
        "floor_ratio": _median(floor_ratios),
        "floor_ratio_per_round": floor_ratios,
        "library_to_floor": _median([a / b for a, b in zip(lib_rates, floor_rates, strict=True)]),
    }, kept


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


# --- 2. reports: the library side ---------------------------------------------------------------


class _CountingWriter:
    """Counts the characters written through it (the memory probe writes to the null device)."""

    def __init__(self, sink: TextIO) -> None:
        self.sink = sink
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return self.sink.write(text)


def write_report(conn: Any, name: str, scope: Scope, out: Any) -> None:
    """Write one report's JSON to ``out`` exactly as ``pathway report NAME --format json`` does."""
    if name == "handoffs":
        write_handoffs_json(conn, scope, out)  # streams by_case from the database
    elif name == "handoffs_pathway":
        write_handoffs_json(conn, scope, out, pathway.load_pathway(PATHWAY))
    else:
        out.write(json.dumps(holding_report(conn, scope).to_json(), ensure_ascii=False))
    out.write("\n")


def library_report(db: Path, name: str, as_of: datetime, out: Path) -> None:
    """One whole in-process report call as the CLI makes it: open, compute, write the JSON."""
    store = open_store(db, create=False)
    try:
        with out.open("w", encoding="utf-8") as handle:
            write_report(store.connection, name, Scope(as_of=as_of), handle)
    finally:
        store.close()


def _command(name: str) -> str:
    """The report the CLI is asked for."""
    return "handoffs" if name == "handoffs_pathway" else name


def cli_report(db: Path, name: str, as_of: datetime, out: Path) -> float:
    """``python -m pathway report NAME --format json`` in a subprocess; seconds, output to ``out``."""
    args = [sys.executable, "-m", "pathway", "report", _command(name), "--db", str(db)]
    if name == "handoffs_pathway":
        args += ["--pathway", PATHWAY]  # as if the store recorded it
    args += ["--format", "json", "--as-of", as_of.isoformat()]
    with out.open("w", encoding="utf-8") as handle:
        start = time.perf_counter()
        completed = subprocess.run(args, stdout=handle, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"pathway report {name} failed: {completed.stderr}")
    return seconds


def cli_startup(rounds: int) -> float:
    """Median seconds of ``python -m pathway --version``: the CLI's fixed cost (information)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pathway", "--version"], capture_output=True)
        times.append(time.perf_counter() - start)
    return _median(times)


# --- 2. reports: the DuckDB side ----------------------------------------------------------------

DUCK_LOAD = """
CREATE TABLE ev AS
SELECT CAST(line AS BIGINT) AS line, case_id, epoch_us(CAST(occurred_at AS TIMESTAMPTZ)) AS at_us, state,
       NULLIF(trim(team), '') AS team
  FROM read_csv(?, header = true, all_varchar = true)
"""

# The team before each event is the last NAMED team of the case's earlier events (unallocated
# events skipped); an event with a named team different from it is a handoff. One pass gives both
# figures: per case (every case, zeros included) and per (from, to) pair.
DUCK_HANDOFFS = """
WITH seq AS (
    SELECT case_id, team,
           last_value(team IGNORE NULLS) OVER (
               PARTITION BY case_id ORDER BY at_us, line
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
      FROM ev WHERE at_us <= $as_of
)
SELECT GROUPING(case_id) AS by_pair, case_id, before, team,
       count(*) FILTER (WHERE team <> before) AS n
  FROM seq
 GROUP BY GROUPING SETS ((case_id), (before, team))
"""

# Each event's team (NULL: unallocated) holds the case until its next event, the last one until
# as_of; a closing event holds nothing.
DUCK_HOLDING = """
WITH spans AS (
    SELECT team, state IN $finals AS closes, at_us,
           lead(at_us) OVER (PARTITION BY case_id ORDER BY at_us, line) AS next_us
      FROM ev WHERE at_us <= $as_of
)
SELECT team, sum(CASE WHEN closes THEN 0 ELSE coalesce(next_us, $as_of) - at_us END) / 86400e6
  FROM spans GROUP BY team
"""


def duck_load(con: Any, csv_path: Path, work: Path) -> int:
    """Load the raw rows into DuckDB, with each row's position in the file (not timed)."""
    numbered = work / "numbered.csv"
    with (
        csv_path.open(newline="", encoding="utf-8-sig") as src,
        numbered.open("w", newline="", encoding="utf-8") as dst,
    ):
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        writer.writerow(["line", *next(reader)])
        for i, row in enumerate(reader, start=1):
            writer.writerow([i, *row])
    con.execute(DUCK_LOAD, [str(numbered)])
    numbered.unlink()
    return int(con.execute("SELECT count(*) FROM ev").fetchone()[0])


def duck_handoffs(con: Any, as_of_us: int) -> dict[str, Any]:
    rows = con.execute(DUCK_HANDOFFS, {"as_of": as_of_us}).fetchall()
    by_case = {cid: n for pair, cid, _b, _t, n in rows if not pair}
    by_pair = {(b, t): n for pair, _c, b, t, n in rows if pair and n}
    return {"by_case": by_case, "by_pair": by_pair}


def duck_holding(con: Any, as_of_us: int) -> dict[str | None, float]:
    params = {"as_of": as_of_us, "finals": list(FINAL_STATES)}
    days: dict[str | None, float] = dict(con.execute(DUCK_HOLDING, params).fetchall())
    days.setdefault(None, 0.0)
    return days


# --- 2. reports: agreement ----------------------------------------------------------------------


def handoffs_figures(data: dict[str, Any]) -> dict[str, Any]:
    """The figures DuckDB computes, taken from the library's JSON."""
    return {
        "by_case": {c["case_id"]: c["handoffs"] for c in data["by_case"]},
        "by_pair": {(p["from_team"], p["to_team"]): p["count"] for p in data["by_pair"]},
    }


def holding_figures(data: dict[str, Any]) -> dict[str | None, float]:
    days: dict[str | None, float] = {t["team"]: t["days"] for t in data["by_team"]}
    days[None] = data["unallocated_days"]  # unallocated time (0.0 when there is none)
    return days


def compare_handoffs(lib: dict[str, Any], duck: dict[str, Any]) -> dict[str, Any]:
    wrong_cases = [
        c
        for c in lib["by_case"].keys() | duck["by_case"].keys()
        if lib["by_case"].get(c) != duck["by_case"].get(c)
    ]
    wrong_pairs = [
        p
        for p in lib["by_pair"].keys() | duck["by_pair"].keys()
        if lib["by_pair"].get(p) != duck["by_pair"].get(p)
    ]
    return {
        "agree": not wrong_cases and not wrong_pairs,
        "cases": len(lib["by_case"]),
        "handoffs": sum(lib["by_case"].values()),
        "pairs": len(lib["by_pair"]),
        "cases_differing": len(wrong_cases),
        "pairs_differing": len(wrong_pairs),
        "examples": [
            str(x) for x in sorted(map(str, wrong_cases))[:5] + sorted(map(str, wrong_pairs))[:5]
        ],
    }


def compare_holding(lib: dict[str | None, float], duck: dict[str | None, float]) -> dict[str, Any]:
    wrong = [
        str(t)
        for t in lib.keys() | duck.keys()
        if t not in lib
        or t not in duck
        or not math.isclose(lib[t], duck[t], rel_tol=REL_TOL, abs_tol=1e-9)
    ]
    worst = max(
        (abs(lib[t] - duck[t]) / max(abs(duck[t]), 1e-12) for t in lib.keys() & duck.keys()),
        default=0.0,
    )
    return {
        "agree": not wrong,
        "teams": len([t for t in lib if t is not None]),
        "days": sum(lib.values()),
        "teams_differing": wrong,
        "max_relative_difference": worst,
    }


def measure_report(
    db: Path, con: Any, name: str, as_of: datetime, rounds: int, work: Path
) -> dict[str, Any]:
    """Check the answers agree, then alternate library, CLI and DuckDB ``rounds`` times."""
    as_of_us = round(as_of.timestamp() * 1_000_000)
    out = work / f"{name}.json"

    def duck() -> Any:
        if name == "holding":
            return duck_holding(con, as_of_us)
        return duck_handoffs(con, as_of_us)

    # Untimed first calls: warm the caches and check every side gives the same figures.
    lib_out = work / f"{name}-library.json"
    library_report(db, name, as_of, lib_out)
    data = json.loads(lib_out.read_text(encoding="utf-8"))
    cli_report(db, name, as_of, out)
    duck_answer = duck()
    if name != "holding":
        agreement = compare_handoffs(handoffs_figures(data), duck_answer)
    else:
        agreement = compare_holding(holding_figures(data), duck_answer)
    agreement["cli_equals_library"] = out.read_text(encoding="utf-8") == lib_out.read_text(
        encoding="utf-8"
    )
    agreement["agree"] = agreement["agree"] and agreement["cli_equals_library"]
    del data

    lib_s: list[float] = []
    cli_s: list[float] = []
    duck_s: list[float] = []

    def run_library() -> None:
        lib_s.append(_timed(lambda: library_report(db, name, as_of, lib_out))[0])

    def run_cli() -> None:
        cli_s.append(cli_report(db, name, as_of, out))

    def run_duck() -> None:
        duck_s.append(_timed(duck)[0])

    steps = (run_library, run_cli, run_duck)
    for r in range(rounds):
        for step in steps if r % 2 == 0 else steps[::-1]:
            step()
    lib_ratios = [a / b for a, b in zip(lib_s, duck_s, strict=True)]
    cli_ratios = [a / b for a, b in zip(cli_s, duck_s, strict=True)]
    return {
        "library_s": _median(lib_s),
        "cli_s": _median(cli_s),
        "duckdb_s": _median(duck_s),
        "ratio_library": _median(lib_ratios),
        "ratio_cli": _median(cli_ratios),
        "ratio_library_per_round": lib_ratios,
        "ratio_cli_per_round": cli_ratios,
        "json_bytes": out.stat().st_size,
        "target": REPORT_TARGET,
        "aim": REPORT_AIM,
        "meets_target_library": _median(lib_ratios) <= REPORT_TARGET,
        "meets_target_cli": _median(cli_ratios) <= REPORT_TARGET,
        "agreement": agreement,
    }


# --- 3. memory ----------------------------------------------------------------------------------


def _vm_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _times(ratio: float | None) -> str:
    """A memory ratio as printed; none when the smaller run's rise was zero (tiny sizes)."""
    return f"x{ratio:.2f}" if ratio is not None else "x n/a"


def probe(db: Path, name: str, as_of: datetime, method: str) -> dict[str, Any]:
    """Run in a fresh subprocess: the peak memory of one report call (see the module doc)."""
    import tracemalloc

    store = open_store(db, create=False)
    conn = store.connection
    scope = Scope(as_of=as_of)
    conn.execute("SELECT COUNT(*) FROM cases").fetchone()
    gc.collect()
    result: dict[str, Any] = {"method": method, "events": None}
    result["events"] = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def call() -> int:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            counter = _CountingWriter(sink)
            write_report(conn, name, scope, counter)
        return counter.chars

    if method == "rss":
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            reset = True
        except OSError:
            reset = False
        before = _vm_kib("VmRSS")
        result["json_chars"] = call()
        peak = _vm_kib("VmHWM")
        if not reset or before is None or peak is None:
            result["error"] = "VmHWM could not be reset or read (not Linux?)"
        else:
            result["rss_before_kib"] = before
            result["peak_rise_kib"] = peak - before
    else:
        tracemalloc.start()
        result["json_chars"] = call()
        result["peak_rise_kib"] = tracemalloc.get_traced_memory()[1] // 1024
        tracemalloc.stop()
    store.close()
    return result


def run_probe(db: Path, name: str, as_of: datetime, method: str) -> dict[str, Any]:
    args = [sys.executable, __file__, "--probe", str(db), name, as_of.isoformat(), method]
    completed = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"memory probe failed: {completed.stderr}")
    return dict(json.loads(completed.stdout.splitlines()[-1]))


def measure_memory(small_db: Path, big_db: Path, as_of: datetime) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in REPORTS:
        entry: dict[str, Any] = {}
        for method in ("rss", "tracemalloc"):
            small = run_probe(small_db, name, as_of, method)
            big = run_probe(big_db, name, as_of, method)
            ratio = (
                big["peak_rise_kib"] / small["peak_rise_kib"]
                if small.get("peak_rise_kib") and big.get("peak_rise_kib") is not None
                else None
            )
            entry[method] = {"small": small, "big": big, "ratio": ratio}
        entry["events_ratio"] = entry["rss"]["big"]["events"] / entry["rss"]["small"]["events"]
        entry["json_ratio"] = (
            entry["rss"]["big"]["json_chars"] / entry["rss"]["small"]["json_chars"]
        )
        ratio = entry["rss"]["ratio"]
        entry["flat"] = ratio is not None and ratio < FLAT_LIMIT
        results[name] = entry
    return results


# --- output -------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSES TARGET"


def _table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"care-pathway {meta['pathway_version']}  Python {meta['python']}  SQLite "
        f"{meta['sqlite']}  DuckDB {meta['duckdb']} ({meta['duckdb_threads']} threads)  "
        f"{meta['cpu_count']} CPUs  {meta['date']}  mode={meta['mode']}",
        f"log: {results['log']['cases']:,} cases, {results['log']['events']:,} events "
        f"(seed {results['log']['seed']}), as of {results['as_of']}",
        "",
    ]
    imp = results["import"]
    head = f"{'benchmark':<42} {'library':>16} {'baseline':>16} {'ratio':>7}  target"
    lines += [head, "-" * len(head)]
    lines.append(
        f"{'import (file store)':<42} {imp['rows_per_s']:>10,.0f} row/s "
        f"{imp['baseline_rows_per_s']:>10,.0f} row/s {imp['ratio']:>7.3f}  "
        f">= {IMPORT_TARGET} (aim {IMPORT_AIM}): {_verdict(imp['meets_target'])}"
    )
    lines.append(
        f"{'  floor: chained events only':<42} {imp['floor_rows_per_s']:>10,.0f} row/s "
        f"{imp['baseline_rows_per_s']:>10,.0f} row/s {imp['floor_ratio']:>7.3f}  "
        f"(info: no import that chains every event gets above this; library / floor "
        f"{imp['library_to_floor']:.2f})"
    )
    for name in REPORTS:
        rep = results["reports"][name]
        for side, label in (("library", "in process"), ("cli", "CLI subprocess")):
            lines.append(
                f"{f'report {name}, {label}':<42} {rep[f'{side}_s']:>14.3f} s "
                f"{rep['duckdb_s']:>12.3f} s DB {rep[f'ratio_{side}']:>7.2f}  "
                f"<= {REPORT_TARGET} (aim {REPORT_AIM}): "
                f"{_verdict(rep[f'meets_target_{side}'])}"
            )
    lines.append("")
    for name in REPORTS:
        agreement = results["reports"][name]["agreement"]
        if name != "holding":
            detail = (
                f"{agreement['cases']:,} cases, {agreement['handoffs']:,} handoffs, "
                f"{agreement['pairs']} team pairs; differing: {agreement['cases_differing']} "
                f"cases, {agreement['pairs_differing']} pairs"
            )
        else:
            detail = (
                f"{agreement['teams']} teams (+ unallocated), max relative difference "
                f"{agreement['max_relative_difference']:.1e}"
            )
        lines.append(
            f"{name} figures, library vs DuckDB: {'AGREE' if agreement['agree'] else 'DISAGREE'}"
            f" ({detail}; CLI JSON = library JSON: {agreement['cli_equals_library']})"
        )
    lines.append("")
    mem = results.get("memory")
    if mem:
        small_events = mem["handoffs"]["rss"]["small"]["events"]
        big_events = mem["handoffs"]["rss"]["big"]["events"]
        lines.append(
            f"peak memory of one report call, {small_events:,} -> {big_events:,} events "
            "(fresh subprocess each; rise over the store just opened)"
        )
        for name in REPORTS:
            entry = mem[name]
            rss, trace = entry["rss"], entry["tracemalloc"]
            lines.append(
                f"  {name:<16} peak RSS {rss['small']['peak_rise_kib'] / 1024:>7.1f} -> "
                f"{rss['big']['peak_rise_kib'] / 1024:>7.1f} MiB ({_times(rss['ratio'])}); "
                f"tracemalloc {trace['small']['peak_rise_kib'] / 1024:>7.1f} -> "
                f"{trace['big']['peak_rise_kib'] / 1024:>7.1f} MiB ({_times(trace['ratio'])}); "
                f"JSON x{entry['json_ratio']:.2f}: {'flat' if entry['flat'] else 'NOT FLAT'}"
            )
    lines.append("")
    lines.append(
        "ratios are medians of per-round ratios; rounds alternate which side runs first. "
        f"CLI start-up alone (python -m pathway --version): {results['cli_startup_s']:.3f} s."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="care-pathway import and report benchmarks, as ratios to same-run baselines."
    )
    parser.add_argument("--quick", action="store_true", help="about 20k events (~30 s)")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures as JSON")
    parser.add_argument("--cases", type=int, help="cases in the log (about 10 events each)")
    parser.add_argument(
        "--small-cases", type=int, help="cases of the smaller store for the memory comparison"
    )
    parser.add_argument("--import-rounds", type=int, help="alternating import rounds")
    parser.add_argument("--rounds", type=int, help="alternating report rounds")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--as-of", default=DEFAULT_AS_OF, help=f"the reports' as-of (default {DEFAULT_AS_OF})"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory comparison")
    parser.add_argument(
        "--dir", type=Path, help="where the temporary files go (default: the system temp)"
    )
    parser.add_argument("--probe", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.probe:
        db, name, as_of, method = args.probe
        print(json.dumps(probe(Path(db), name, datetime.fromisoformat(as_of), method)))
        return 0

    try:
        import duckdb
    except ImportError:
        parser.error("DuckDB is needed for the baseline: pip install -e '.[benchmark]'")
    mode = "quick" if args.quick else "full"
    size = dict(SIZES[mode])
    for key in size:
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
    if min(size.values()) < 1:
        parser.error("--cases, --small-cases, --import-rounds and --rounds must be at least 1")
    as_of = datetime.fromisoformat(args.as_of)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="pathway-bench-reports-", dir=args.dir))
    try:
        csv_path = work / "events.csv"
        gen_s, events = _timed(lambda: generate_log.write_log(csv_path, size["cases"], args.seed))
        print(
            f"generated {events:,} events of {size['cases']:,} cases in {gen_s:.1f} s", flush=True
        )

        imported, big_db = measure_import(csv_path, work, size["import_rounds"])
        print(f"import: ratio {imported['ratio']:.3f}", flush=True)

        con = duckdb.connect()
        loaded = duck_load(con, csv_path, work)
        if loaded != events:
            raise RuntimeError(f"DuckDB loaded {loaded} rows, the file has {events}")
        reports = {
            name: measure_report(big_db, con, name, as_of, size["rounds"], work) for name in REPORTS
        }
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        con.close()
        print("reports: done", flush=True)

        memory = None
        if not args.no_memory:
            small_csv, small_db = work / "small.csv", work / "small.db"
            generate_log.write_log(small_csv, size["small_cases"], args.seed)
            store = open_store(small_db)
            try:
                import_events(store, small_csv, final_states=list(FINAL_STATES))
            finally:
                store.close()
            memory = measure_memory(small_db, big_db, as_of)
        startup = cli_startup(size["rounds"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "sizes": size,
            "seed": args.seed,
            "command": " ".join(
                ["python", "benchmarks/bench_reports.py", *(sys.argv[1:] if argv is None else argv)]
            ),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "duckdb": duckdb.__version__,
            "duckdb_threads": threads,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "pathway_version": pathway.__version__,
            "seconds": time.perf_counter() - started,
        },
        "log": {"cases": size["cases"], "events": events, "seed": args.seed},
        "as_of": as_of.isoformat(),
        "import": imported,
        "reports": reports,
        "memory": memory,
        "cli_startup_s": startup,
        "agree": all(reports[n]["agreement"]["agree"] for n in REPORTS),
    }
    print()
    print(_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0 if results["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
