"""`audit verify` with the derived rows against the chain-only verify, as a CPU-time ratio.

Issue 16 asks that ``pathway audit verify``, which rebuilds every case row, closed episode and
handoff from the events besides recomputing the hash chain, cost at most 1.5 times what the
chain-only verify cost. Both sides run as a fresh ``python -m pathway audit verify --db DB``
process on the same store, alternately, and each is measured by the CPU time (user + system) the
child process used (``resource.getrusage(RUSAGE_CHILDREN)`` before and after): wall time swings
with other work on the machine, CPU time much less.

* **chain only** (the baseline): the same command in a process where
  ``pathway.store.common.check_derived`` is replaced by a function that checks nothing, so only
  the chain pass (and opening the store, start-up, output) runs;
* **full**: the command as shipped.

``--baseline-code DIR`` runs the chain-only side with the package found in ``DIR`` instead (e.g.
the commit before this work: ``git archive COMMIT pathway | tar -x -C DIR``), so the baseline is
that commit's chain pass, not this one's (this work also made the chain pass cheaper). It is
told the store's schema version, since an older package refuses a store newer than it knows; it
only reads.

Ratio = full CPU / chain-only CPU, per round; the median of the rounds is the figure.

Usage::

    python benchmarks/generate_log.py --cases 100000 --seed 1 --out e1m.csv
    pathway import e1m.csv --final-state closed --db s1m.db          # 1,003,416 events
    python benchmarks/bench_verify.py --db s1m.db --rounds 3 [--json out.json]
    python benchmarks/bench_verify.py --cases 300 --rounds 2         # builds a small store itself
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHAIN_ONLY = (
    "import sqlite3, sys\n"
    "import pathway.store.common as common\n"
    "import pathway.store.sqlite as store_sqlite\n"
    "with sqlite3.connect(sys.argv[-1]) as conn:\n"
    "    store_sqlite.SCHEMA_VERSION = conn.execute('PRAGMA user_version').fetchone()[0]\n"
    "common.check_derived = lambda conn, limit=10: (0, [])\n"
    "from pathway.cli import cli\n"
    "cli(sys.argv[1:], prog_name='pathway')\n"
)
"""The chain-only side: the CLI with the derived-row pass made a no-op."""


def _run(args: list[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds (user + system) of one child process running ``args`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not done.stdout.startswith("ok"):
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(db: Path, rounds: int, baseline_code: Path | None = None) -> dict[str, Any]:
    """Alternate the two sides ``rounds`` times (the side going first alternates too)."""
    chain_env = None
    if baseline_code is not None:
        chain_env = {**os.environ, "PYTHONPATH": str(baseline_code)}
    verify = ["audit", "verify", "--db", str(db)]
    chain_cmd = [sys.executable, "-c", CHAIN_ONLY, *verify]
    full_cmd = [sys.executable, "-m", "pathway", *verify]
    chain: list[float] = []
    full: list[float] = []
    for index in range(rounds):
        if index % 2 == 0:
            chain.append(_run(chain_cmd, chain_env))
            full.append(_run(full_cmd))
        else:
            full.append(_run(full_cmd))
            chain.append(_run(chain_cmd, chain_env))
        print(
            f"round {index + 1}: chain only {chain[-1]:.2f} s CPU, full {full[-1]:.2f} s CPU, "
            f"ratio {full[-1] / chain[-1]:.3f}",
            flush=True,
        )
    ratios = [f / c for f, c in zip(full, chain, strict=True)]
    return {
        "db": str(db),
        "baseline_code": str(baseline_code) if baseline_code is not None else None,
        "rounds": rounds,
        "chain_only_cpu_s": chain,
        "full_cpu_s": full,
        "ratios": ratios,
        "median_chain_only_cpu_s": statistics.median(chain),
        "median_full_cpu_s": statistics.median(full),
        "ratio_of_medians": statistics.median(full) / statistics.median(chain),
        "median_ratio": statistics.median(ratios),
        "load_average": os.getloadavg(),
    }


def _build(cases: int, seed: int, work: Path) -> Path:
    import generate_log

    log = work / "events.csv"
    db = work / "store.db"
    generate_log.main(["--cases", str(cases), "--seed", str(seed), "--out", str(log)])
    subprocess.run(
        [sys.executable, "-m", "pathway", "import", str(log), "--final-state", "closed",
         "--db", str(db)],
        check=True, capture_output=True,
    )  # fmt: skip
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="an existing store (default: build one)")
    parser.add_argument("--cases", type=int, default=2_000, help="cases of the store built")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--baseline-code", type=Path, help="run the chain-only side with the package in this folder"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        db = args.db if args.db is not None else _build(args.cases, args.seed, Path(work))
        figures = measure(db, args.rounds, args.baseline_code)
    print(
        f"median CPU: chain only {figures['median_chain_only_cpu_s']:.2f} s, "
        f"full {figures['median_full_cpu_s']:.2f} s; ratio of medians "
        f"{figures['ratio_of_medians']:.3f}, median of ratios {figures['median_ratio']:.3f} "
        f"(load average {figures['load_average'][0]:.1f})"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
