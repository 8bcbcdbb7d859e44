"""What the passed-around figures cost: the handoffs report with the pathway, as a RATIO to the
same report without it, measured alternately in the same run (these machines are shared); and
the waits report with the pathway's governance block (time to help, escalation) against the same
pathway without it.

Without a pathway the report reads each case's counters; with one it also folds every applied
event of every case through :mod:`pathway.passes` (offers, declines, interruptions, passes, days
between teams). The store is built from ``generate_log.py``'s seeded log (about ten events a
case), imported without a pathway as a council's export would be.

Beside them, in the same rounds, two **floors** of any report that reads the events at the time
of the report (rather than rows kept up to date with each event), each as a ratio to the report
without the pathway: *read*, every applied event up to as-of brought into Python in case and
sequence order with the columns the fold needs, and nothing done with them; *scan*, the same
rows counted inside SQLite (the table read, nothing brought into Python); and *window*, one window
function over them in SQL (each event's previous team, ``LAG`` by case in sequence order, the
least a set-wise computation of the figures needs: it takes several). Whatever computes the
passed-around figures from the events costs at least the scan; at least the read if any
per-event work is done in Python; at least the window if it is done set-wise in SQL.

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
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import attrs  # noqa: E402

import pathway  # noqa: E402
from pathway.importer import import_events  # noqa: E402
from pathway.reports import Scope, waits_report, write_handoffs_json  # noqa: E402
from pathway.spec import Governance  # noqa: E402

FLOOR_COLUMNS = "case_id, occurred_at, trigger, from_state, to_state, from_team, to_team, closes"
FLOOR_WHERE = "outcome = 'applied' AND occurred_at <= ?"


def read_floor(conn: Any, scope: Scope) -> int:
    """Every applied event up to as-of into Python, in case and sequence order; the row count."""
    rows = 0
    for _row in conn.execute(
        f"SELECT {FLOOR_COLUMNS} FROM events WHERE {FLOOR_WHERE} ORDER BY case_id, seq",
        [scope.as_of_text],
    ):
        rows += 1
    return rows


def scan_floor(conn: Any, scope: Scope) -> int:
    """The same rows read and counted inside SQLite, in the table's order."""
    sql = f"SELECT COUNT(*) FROM (SELECT {FLOOR_COLUMNS} FROM events WHERE {FLOOR_WHERE})"
    return int(conn.execute(sql, [scope.as_of_text]).fetchone()[0])


def window_floor(conn: Any, scope: Scope) -> int:
    """One window function over the same rows: each event's previous team in its case."""
    sql = (
        "SELECT COUNT(*) FROM (SELECT LAG(to_team) OVER (PARTITION BY case_id ORDER BY seq)"
        f" FROM events WHERE {FLOOR_WHERE})"
    )
    return int(conn.execute(sql, [scope.as_of_text]).fetchone()[0])


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
    floors: dict[str, list[float]] = {"read": [], "scan": [], "window": []}
    handoffs: dict[bool, int] = {}
    sides = ("without", "with", "read", "scan", "window")
    for n in range(args.rounds):
        times = {}
        for side in sides if n % 2 == 0 else sides[::-1]:
            out = io.StringIO()
            started = time.perf_counter()
            if side == "read":
                read_floor(store.connection, scope)
            elif side == "scan":
                scan_floor(store.connection, scope)
            elif side == "window":
                window_floor(store.connection, scope)
            else:
                compiled = barnet if side == "with" else None
                write_handoffs_json(store.connection, scope, out, compiled)
                handoffs[side == "with"] = json.loads(out.getvalue())["handoffs"]
            times[side] = time.perf_counter() - started
        plain_s.append(times["without"])
        with_s.append(times["with"])
        ratios.append(times["with"] / times["without"])
        for side, values in floors.items():
            values.append(times[side] / times["without"])
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
    for side, label in (
        ("read", "every event into Python"),
        ("scan", "every event read in SQL"),
        ("window", "one window function in SQL"),
    ):
        values = floors[side]
        print(f"floor, {label}: ratio to without: median {statistics.median(values):.2f} "
              f"(rounds: {', '.join(f'{r:.2f}' for r in values)})")  # fmt: skip
    print(f"waits report without governance: median {statistics.median(waits_plain):.3f} s")
    print(f"waits report with governance:    median {statistics.median(waits_with):.3f} s")
    print(f"ratio with / without: median {statistics.median(waits_ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in waits_ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
