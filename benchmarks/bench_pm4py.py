"""From an exported event log (CSV) to handoff figures: care-pathway against PM4Py, in one run.

What a governance analyst does with an export either way, each from a cold process:

(a) **care-pathway**: ``pathway import LOG.csv --final-state closed`` into a new file store, then
    ``pathway report handoffs --format json`` (two subprocesses, Python start-up included): the
    store, its hash chain and the team-to-team matrix with every case's count.
(b) **PM4Py**: one subprocess that reads the same CSV with pandas, formats it as an event log and
    computes the handover-of-work network (``pm4py.discover_handover_of_work_network``, beta 0)
    over the holding teams, the process-mining way of counting handoffs.

Both count the same thing: a handoff is a change of holding team between consecutive events of a
case, events without a team (unallocated) skipped. PM4Py's network is normalised (each
succession's share of all successions), so before timing the script checks that PM4Py's shares
times its total give exactly the library's team-to-team counts (self-successions, which PM4Py
also counts, are not handoffs). Figures that differ make the script exit 1.

"As fast" = PM4Py's time / care-pathway's time, per round, sides alternating; the median is
reported. Target >= 0.5 (issue 19).

PM4Py is AGPL-licensed: it is never a dependency of care-pathway, only of this benchmark
(``pip install 'care-pathway[benchmark]'`` or a separate environment given with
``--pm4py-python``).

Usage::

    python benchmarks/bench_pm4py.py --cases 100000 --rounds 3 --json bench-pm4py.json
    python benchmarks/bench_pm4py.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_log  # noqa: E402  (the generator beside this script)

TARGET = 0.5

PM4PY_SCRIPT = r"""
import json, sys, time
started = time.perf_counter()
import pandas as pd
import pm4py
log = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
log = log[log["team"] != ""]
log["time:timestamp"] = pd.to_datetime(log["occurred_at"], utc=True, format="ISO8601")
log = pm4py.format_dataframe(
    log, case_id="case_id", activity_key="state", timestamp_key="time:timestamp"
)
network = pm4py.discover_handover_of_work_network(
    log, beta=0, resource_key="team", timestamp_key="time:timestamp", case_id_key="case:concept:name"
)
successions = int((log.groupby("case:concept:name").size() - 1).clip(lower=0).sum())
shares = {f"{a}\t{b}": v for (a, b), v in network.connections.items()}
json.dump({"shares": shares, "successions": successions,
           "seconds_inside": time.perf_counter() - started}, open(sys.argv[2], "w"))
"""


def run_library(csv_path: Path, work: Path, as_of: str) -> tuple[float, dict[str, Any]]:
    db = work / "store.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    out = work / "handoffs.json"
    env = {k: v for k, v in os.environ.items() if k != "PATHWAY_DB"}
    started = time.perf_counter()
    imported = subprocess.run(
        [sys.executable, "-m", "pathway", "import", str(csv_path), "--db", str(db),
         "--final-state", "closed"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if imported.returncode != 0:
        raise SystemExit(f"pathway import failed: {imported.stderr}")
    with out.open("w", encoding="utf-8") as handle:
        reported = subprocess.run(
            [sys.executable, "-m", "pathway", "report", "handoffs", "--db", str(db),
             "--format", "json", "--as-of", as_of],
            stdout=handle, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    if reported.returncode != 0:
        raise SystemExit(f"pathway report failed: {reported.stderr}")
    return seconds, json.loads(out.read_text(encoding="utf-8"))


def run_pm4py(python: str, csv_path: Path, work: Path) -> tuple[float, dict[str, Any]]:
    script = work / "pm4py_handover.py"
    script.write_text(PM4PY_SCRIPT, encoding="utf-8")
    out = work / "pm4py.json"
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(script), str(csv_path), str(out)], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"PM4Py failed (is it installed for {python}?): {done.stderr[-2000:]}")
    return seconds, json.loads(out.read_text(encoding="utf-8"))


def agreement(library: dict[str, Any], pm4py: dict[str, Any]) -> dict[str, Any]:
    """The library's pair counts against PM4Py's shares times its total (self-pairs left out)."""
    ours = {(p["from_team"], p["to_team"]): p["count"] for p in library["by_pair"]}
    theirs: dict[tuple[str, str], int] = {}
    for key, share in pm4py["shares"].items():
        a, b = key.split("\t")
        count = round(share * pm4py["successions"])
        if a != b and count:
            theirs[(a, b)] = count
    differing = sorted(str(p) for p in ours.keys() | theirs.keys() if ours.get(p) != theirs.get(p))
    return {
        "agree": not differing,
        "pairs": len(ours),
        "handoffs": sum(ours.values()),
        "pairs_differing": len(differing),
        "examples": differing[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pm4py-python",
        default=sys.executable,
        help="the Python that has PM4Py (default: this one)",
    )
    parser.add_argument("--quick", action="store_true", help="2,000 cases, 1 round")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.rounds = 2_000, 1
    work = Path(tempfile.mkdtemp(prefix="bench-pm4py-", dir=args.dir))
    try:
        csv_path = work / "log.csv"
        generate_log.write_log(csv_path, args.cases, args.seed)
        as_of = generate_log.END.isoformat()
        lib_times: list[float] = []
        pm_times: list[float] = []
        checked: dict[str, Any] = {}
        for n in range(args.rounds):
            order = ("library", "pm4py") if n % 2 == 0 else ("pm4py", "library")
            for side in order:
                if side == "library":
                    seconds, lib_json = run_library(csv_path, work, as_of)
                    lib_times.append(seconds)
                else:
                    seconds, pm_json = run_pm4py(args.pm4py_python, csv_path, work)
                    pm_times.append(seconds)
            if not checked:
                checked = agreement(lib_json, pm_json)
            print(f"round {n + 1}: care-pathway {lib_times[-1]:.2f} s, PM4Py {pm_times[-1]:.2f} s, "
                  f"as fast {pm_times[-1] / lib_times[-1]:.2f}", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [p / lib for p, lib in zip(pm_times, lib_times, strict=True)]
    figures = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "cases": args.cases,
        "rounds": args.rounds,
        "library_s": lib_times,
        "pm4py_s": pm_times,
        "as_fast_per_round": ratios,
        "as_fast_median": statistics.median(ratios),
        "target": f">= {TARGET}",
        "agreement": checked,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if checked.get("agree") else 1


if __name__ == "__main__":
    sys.exit(main())
