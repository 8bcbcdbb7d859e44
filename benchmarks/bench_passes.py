"""What the passed-around figures cost: the handoffs report with the pathway, as a RATIO to the
same report without it, measured alternately in the same run (these machines are shared); and
the waits report with the pathway's governance block (time to help, escalation) against the same
pathway without it.

Without a pathway the report reads each case's counters; with one it also folds every applied
event of every case through :mod:`pathway.passes` (offers, declines, interruptions, passes, days
between teams). The store is built from ``generate_log.py``'s seeded log (about ten events a
case), imported without a pathway as a council's export would be.

Usage::

    python benchmarks/bench_passes.py --cases 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import attrs  # noqa: E402

import pathway  # noqa: E402
from pathway.importer import import_events  # noqa: E402
from pathway.reports import Scope, waits_report, write_handoffs_json  # noqa: E402
from pathway.spec import Governance  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", help="where the temporary store goes (default: system temp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pathway-bench-passes-", dir=args.dir))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    """Build the store in ``work`` and time both reports both ways."""
    log = work / "log.csv"
    subprocess.run(
        [sys.executable, str(HERE / "generate_log.py"), "--cases", str(args.cases), "--seed", "1",
         "--out", str(log)],
        check=True, capture_output=True,
    )  # fmt: skip
    store = pathway.open_store(str(work / "store.db"))
    import_events(store, log, final_states=["closed"])
    events = store.checkpoint().position
    barnet = pathway.load_pathway("barnet-enablement")
    scope = Scope(datetime(2031, 1, 1, tzinfo=UTC))
    ratios, plain_s, with_s = [], [], []
    handoffs: dict[bool, int] = {}
    for n in range(args.rounds):
        times = {}
        for compiled in (None, barnet) if n % 2 == 0 else (barnet, None):
            out = io.StringIO()
            started = time.perf_counter()
            write_handoffs_json(store.connection, scope, out, compiled)
            times[compiled is not None] = time.perf_counter() - started
            handoffs[compiled is not None] = json.loads(out.getvalue())["handoffs"]
        plain_s.append(times[False])
        with_s.append(times[True])
        ratios.append(times[True] / times[False])
    bare = attrs.evolve(barnet, governance=Governance())
    waits_ratios, waits_plain, waits_with = [], [], []
    for n in range(args.rounds):
        times = {}
        for compiled in (bare, barnet) if n % 2 == 0 else (barnet, bare):
            started = time.perf_counter()
            waits_report(store.connection, scope, compiled)
            times[compiled is barnet] = time.perf_counter() - started
        waits_plain.append(times[False])
        waits_with.append(times[True])
        waits_ratios.append(times[True] / times[False])
    store.close()
    if handoffs[True] != handoffs[False]:
        raise SystemExit(f"the handoffs differ with and without the pathway: {handoffs}")
    print(f"{events:,} events of {args.cases:,} cases; {args.rounds} rounds")
    print(f"handoffs report without the pathway: median {statistics.median(plain_s):.3f} s")
    print(f"handoffs report with the pathway:    median {statistics.median(with_s):.3f} s")
    print(f"ratio with / without: median {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    print(f"with the pathway, per event: {statistics.median(with_s) / events * 1e6:.1f} us")
    print(f"waits report without governance: median {statistics.median(waits_plain):.3f} s")
    print(f"waits report with governance:    median {statistics.median(waits_with):.3f} s")
    print(f"ratio with / without: median {statistics.median(waits_ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in waits_ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
