"""Start-up of ``pathway report NAME`` as a subprocess: this checkout against an older one.

Each round runs, alternately, the same report command with this checkout's ``pathway`` and with
the package found under ``--before`` (a folder holding an older ``pathway/``, e.g. made with
``git archive <commit> pathway | tar -x -C /tmp/before``), on a small store, so the time is
Python start-up, imports, option parsing and one small report. It prints each command's median
time for both and the per-round ratio after/before (1.0: no change). With no ``--before`` it
times this checkout alone, against ``python -m pathway --version`` as the baseline.

Usage::

    git archive 3f48463 pathway | tar -x -C /tmp/before
    python benchmarks/bench_report_startup.py --before /tmp/before --rounds 15

The store is made once with ``pathway demo`` (20 sample cases). Machine load changes the times,
not much the ratios of alternated rounds; say when the machine was loaded.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (
    ("handoffs json", ["report", "handoffs", "--format", "json"]),
    ("s75 table", ["report", "s75", "--format", "table", "--threshold", "2"]),
    ("version", ["--version"]),
)


def timed(args: list[str], pythonpath: str) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``python -m pathway ARGS``.

    CPU time is much less disturbed by other processes on a loaded machine than wall time.
    """
    env = {**os.environ, "PYTHONPATH": pythonpath}
    env.pop("PATHWAY_DB", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pathway", *args], env=env, check=True, capture_output=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a folder holding an older pathway/ package")
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "demo.db")
        subprocess.run(
            [sys.executable, "-m", "pathway", "demo", "--db", db, "--dashboard",
             str(Path(folder) / "demo.html")],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True,
        )  # fmt: skip
        sides = {"after": str(ROOT)}
        if options.before is not None:
            sides["before"] = str(options.before.resolve())
        times: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(options.rounds):
            for label, args in COMMANDS:
                full = [*args, "--db", db] if args[0] == "report" else args
                for side, path in sides.items():
                    wall, cpu = timed(full, path)
                    times.setdefault((label, side, "wall"), []).append(wall)
                    times.setdefault((label, side, "cpu"), []).append(cpu)
    print(f"{options.rounds} alternated rounds, python {sys.version.split()[0]}")
    for measure in ("wall", "cpu"):
        for label, _ in COMMANDS:
            after = times[(label, "after", measure)]
            line = f"{measure:4} {label:14} after {statistics.median(after) * 1000:7.1f} ms"
            if "before" in sides:
                before = times[(label, "before", measure)]
                ratios = [a / b for a, b in zip(after, before, strict=True)]
                line += (
                    f"  before {statistics.median(before) * 1000:7.1f} ms"
                    f"  ratio after/before median {statistics.median(ratios):.3f}"
                    f" (rounds {min(ratios):.2f}-{max(ratios):.2f})"
                )
            else:
                base = times[("version", "after", measure)]
                ratios = [a / b for a, b in zip(after, base, strict=True)]
                line += f"  ratio to --version {statistics.median(ratios):.3f}"
            print(line)


if __name__ == "__main__":
    main()
