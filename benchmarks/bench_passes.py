"""What the passed-around figures cost: the handoffs report with the pathway, as a RATIO to the
same report without it, measured alternately in the same run (these machines are shared); and
the waits report with the pathway's governance block (time to help, escalation) against the same
pathway without it.

Without a pathway the report reads each case's counters; with one it also computes the
passed-around figures (offers, declines, interruptions, passes, days between teams): one pass in
SQL finds the cases whose figures can differ from their handoffs' (an offer, an interruption, a
re-referral), and only their events are folded through :mod:`pathway.passes`. Beside it, in the
same rounds, the **full fold**: every applied event of every case streamed and folded through
:class:`~pathway.passes.PassFold` (what the report did before, and the reference the tests hold
it to), with its figures checked equal to the report's. The store is built from
``generate_log.py``'s seeded log (about ten events a case), imported without a pathway as a
council's export would be.

Usage::

    python benchmarks/bench_passes.py --cases 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import io
import json
import math
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
from pathway.passes import PassFold, PassRules, Window  # noqa: E402
from pathway.reports import Scope, waits_report, write_handoffs_json  # noqa: E402
from pathway.spec import Governance  # noqa: E402


def full_fold(conn: Any, scope: Scope, compiled: pathway.Pathway) -> tuple[int, int, float]:
    """Every applied event up to as-of folded through PassFold, case by case: the figures'
    totals (offers, passes, seconds between teams)."""
    rules = PassRules.from_pathway(compiled)
    window = Window("", scope.as_of_text)
    offers = passes = 0
    seconds = 0.0
    fold: PassFold | None = None
    current = ""
    for case_id, at, trigger, from_state, to_state, from_team, to_team, closes in conn.execute(
        "SELECT case_id, occurred_at, trigger, from_state, to_state, from_team, to_team, closes"
        " FROM events WHERE outcome = 'applied' AND occurred_at <= ? ORDER BY case_id, seq",
        [scope.as_of_text],
    ):
        if case_id != current:
            if fold is not None:
                fold.finish()
                offers, passes, seconds = (
                    offers + fold.offers, passes + fold.passes,
                    seconds + fold.seconds_between_teams,
                )  # fmt: skip
            current, fold = case_id, PassFold(rules, window)
        assert fold is not None
        fold.step(at, trigger, from_state, to_state, from_team, to_team, bool(closes))
    if fold is not None:
        fold.finish()
        offers, passes = offers + fold.offers, passes + fold.passes
        seconds += fold.seconds_between_teams
    return offers, passes, seconds


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
    ratios, plain_s, with_s, full_s, full_ratios = [], [], [], [], []
    handoffs: dict[bool, int] = {}
    figures: dict[str, tuple[int, int, float]] = {}
    sides = ("without", "with", "full")
    for n in range(args.rounds):
        times = {}
        for side in sides if n % 2 == 0 else sides[::-1]:
            out = io.StringIO()
            started = time.perf_counter()
            if side == "full":
                figures["full"] = full_fold(store.connection, scope, barnet)
                times[side] = time.perf_counter() - started
                continue
            write_handoffs_json(store.connection, scope, out, barnet if side == "with" else None)
            times[side] = time.perf_counter() - started
            data = json.loads(out.getvalue())
            handoffs[side == "with"] = data["handoffs"]
            if side == "with":
                figures["report"] = (
                    data["offers"],
                    data["passes"],
                    data["days_between_teams"] * 86400.0,
                )
        plain_s.append(times["without"])
        with_s.append(times["with"])
        full_s.append(times["full"])
        ratios.append(times["with"] / times["without"])
        full_ratios.append(times["full"] / times["without"])
    (offers, passes, seconds), (full_offers, full_passes, full_seconds) = (
        figures["report"],
        figures["full"],
    )
    if (offers, passes) != (full_offers, full_passes) or not math.isclose(
        seconds, full_seconds, rel_tol=1e-9
    ):
        raise SystemExit(f"the report and the full fold differ: {figures}")
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
    print(f"full fold of every event (before): median {statistics.median(full_s):.3f} s; "
          f"ratio to without: median {statistics.median(full_ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in full_ratios)})")  # fmt: skip
    print(f"figures equal (offers {offers:,}, passes {passes:,}, "
          f"days between teams {seconds / 86400:,.1f})")  # fmt: skip
    print(f"waits report without governance: median {statistics.median(waits_plain):.3f} s")
    print(f"waits report with governance:    median {statistics.median(waits_with):.3f} s")
    print(f"ratio with / without: median {statistics.median(waits_ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in waits_ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
