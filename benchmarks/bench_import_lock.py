"""How long an import holds a SQLite store's write lock, and how long a fire waits meanwhile.

Issue 16: an import must take the write lock only for its final write, so that a transition
fired during a long import waits seconds, not the whole import. For each log size this script
runs ``pathway import LOG --final-state closed --db STORE`` (a subprocess) on a new store, and
beside it two other processes, started before the import and stopped after it:

* a **fire** process: the library's ``Engine.open_case`` on a new case every 0.1 s
  (``--fire-every``: a steady stream of writers overtakes the import's staging again and again;
  a slower one lets it chain outside the lock) (busy wait
  3,600 s, the most allowed, so a fire waits out the import's write instead of failing); it records when each fire started
  and how long it took;
* the import itself runs the CLI in a process whose ``SqliteStore._immediate`` (every
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` of the store) is wrapped to report how long each one held
  the write lock, from ``BEGIN IMMEDIATE`` returning to ``COMMIT`` returning (the package is not
  changed; the wrapper is this script's). The longest is the import's final write.

Reported per size: the import's wall time, the longest lock hold, and the fires that started
while the import ran: how many, and their median and longest wait. ``--code DIR`` runs all three
processes with the package found in ``DIR`` instead (e.g. an older commit:
``git archive COMMIT pathway | tar -x -C DIR``), for a before/after comparison on the same logs.

Usage::

    python benchmarks/bench_import_lock.py                          # 14,000 and 85,000 cases
    python benchmarks/bench_import_lock.py --cases 14000 --code /tmp/base --json before.json
    python benchmarks/bench_import_lock.py --cases 300              # a quick run (the test suite)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MINIMAL = ROOT / "docs" / "examples" / "minimal.yaml"

FIRE = """
import sys, time
from datetime import UTC, datetime, timedelta
import pathway
store = pathway.open_store(sys.argv[1], busy_timeout=3600)
engine = pathway.Engine(pathway.load_pathway(sys.argv[2]), store)
actor = pathway.Actor("w-hub", "hub")
start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
n = 0
while True:
    began = time.time()
    engine.open_case(f"FIRE{n:06d}", actor, at=start + timedelta(seconds=n))
    print(f"{began:.6f} {time.time() - began:.6f}", flush=True)
    n += 1
    time.sleep(float(sys.argv[3]))
"""

IMPORT = """
import contextlib, sys, time
from pathway.store.sqlite import SqliteStore
immediate = SqliteStore._immediate
@contextlib.contextmanager
def timed(self):
    with immediate(self) as conn:
        locked = time.perf_counter()
        yield conn
    sys.stderr.write(f"HOLD {time.perf_counter() - locked:.6f}\\n")
SqliteStore._immediate = timed
from pathway.cli import cli
cli(sys.argv[1:], prog_name="pathway")
"""


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def _pairs(text: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in (line.split() for line in text.splitlines() if line)]


def run_one(log: Path, work: Path, code: Path | None, every: float = 0.1) -> dict[str, Any]:
    """One import of ``log`` into a new store with the fire process and the probe beside it."""
    db = work / f"store-{time.monotonic_ns()}.db"
    env = _env(code)
    python = sys.executable
    subprocess.run(
        [python, "-m", "pathway", "init", "--db", str(db), "--pathway", str(MINIMAL)],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    fired = (work / "fires.txt").open("w+")  # a file, not a pipe: a full pipe would stop it
    fire = subprocess.Popen(
        [python, "-c", FIRE, str(db), str(MINIMAL), str(every)],
        stdout=fired, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # firing before the import starts
        began = time.time()
        done = subprocess.run(
            [python, "-c", IMPORT, "import", str(log), "--final-state", "closed",
             "--db", str(db)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        ended = time.time()
        time.sleep(1.0)  # fires queued behind the import's last write complete
    finally:
        fire.terminate()
    _out, fire_err = fire.communicate(timeout=60)
    fired.seek(0)
    fire_out = fired.read()
    fired.close()
    if done.returncode != 0:
        raise SystemExit(f"the import failed: {done.stderr}")
    if fire.returncode not in (0, -15) or "Traceback" in fire_err:
        raise SystemExit(f"the fire process failed: {fire_err}")
    fires = [(t, d) for t, d in _pairs(fire_out) if began <= t <= ended]
    holds = [
        float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("HOLD ")
    ]
    waits = [d for _t, d in fires]
    db.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return {
        "import_s": ended - began,
        "longest_lock_hold_s": max(holds, default=0.0),
        "fires_during_import": len(fires),
        "median_fire_wait_s": statistics.median(waits) if waits else None,
        "longest_fire_wait_s": max(waits, default=None),
        "fires_over_1s": sum(1 for w in waits if w > 1.0),
        "imported": done.stdout.strip().splitlines()[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases", type=int, nargs="+", default=[14_000, 85_000],
        help="cases of each log (about 10 events each; default 14000 85000)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="imports of each size")
    parser.add_argument("--code", type=Path, help="run the package found in this folder")
    parser.add_argument(
        "--fire-every", type=float, default=0.1, help="seconds between fires (default 0.1)"
    )
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"code": str(args.code or ROOT), "sizes": []}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for cases in args.cases:
            log = work / f"log-{cases}.csv"
            subprocess.run(
                [sys.executable, str(HERE / "generate_log.py"), "--cases", str(cases),
                 "--seed", str(args.seed), "--out", str(log)],
                check=True, capture_output=True,
            )  # fmt: skip
            for round_ in range(args.rounds):
                result = run_one(log, work, args.code, args.fire_every)
                result.update(
                    cases=cases, round=round_ + 1, fire_every_s=args.fire_every,
                    load_average=os.getloadavg()[0],
                )  # fmt: skip
                figures["sizes"].append(result)
                print(
                    f"{cases:,} cases: import {result['import_s']:.1f} s; longest lock hold "
                    f"{result['longest_lock_hold_s']:.2f} s; {result['fires_during_import']} "
                    f"fires during it, median wait {result['median_fire_wait_s'] or 0:.3f} s, "
                    f"longest {result['longest_fire_wait_s'] or 0:.2f} s "
                    f"(load average {result['load_average']:.1f}); {result['imported']}",
                    flush=True,
                )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
