"""The dashboard's cost at scale, as a RATIO to the report calls it is built from, in the same run.

A seeded synthetic log (``benchmarks/generate_log.py``: 100,000 cases, about 1,000,000 events in
the full run) is imported into a file store once (``--store`` keeps it for the next run), then,
round by round, alternately (the side that goes first swaps every round):

(a) **dashboard**: ``dashboard_data(store, scope, pathway)`` then ``write_dashboard(data, out)``:
    every report, the chain verification, the HTML with Plotly's JavaScript inlined, and the
    atomic write of the file;
(b) **its calls**: the same library calls one by one, each timed, summed: ``activity_report``,
    ``caseload_report``, ``handoffs_report``, ``holding_report``, ``s75_report``, ``waits_report``,
    ``monthly_report``, ``funding_report``, ``store.checkpoint()`` and ``store.verify()`` (without
    ``--no-verify``).

Ratio = (a) / (b), per round; the median is reported. Target <= 1.5. The file's size is reported
against its target, < 10 MB. Before timing, the script checks that the dashboard's report records
equal the separate calls' (their JSON), so (a) and (b) compute the same thing; if not, it exits 1.

The pathway is the shipped ``barnet-enablement`` (its time limit on ``brief_enablement``, review
and offer states), as the store of a council running it would record; the generated log's states
and teams are the same names.

Usage::

    python benchmarks/bench_dashboard.py --json bench-dashboard.json   # full run, minutes
    python benchmarks/bench_dashboard.py --quick                       # about 20k events

Sizes: ``--cases``, ``--rounds``; ``--seed``, ``--as-of``, ``--dir`` (temporary files),
``--store FILE`` (import once into FILE and reuse it while its size matches), ``--no-verify``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_log  # noqa: E402  (the generator beside this script)

import pathway  # noqa: E402
from pathway import open_store  # noqa: E402
from pathway.dashboard import dashboard_data, write_dashboard  # noqa: E402
from pathway.dashboard.data import placements_exist  # noqa: E402
from pathway.importer import import_events  # noqa: E402
from pathway.reports import (  # noqa: E402
    Scope,
    activity_report,
    caseload_report,
    funding_report,
    handoffs_report,
    holding_report,
    monthly_report,
    s75_report,
    waits_report,
)

RATIO_TARGET = 1.5
SIZE_TARGET_BYTES = 10_000_000
FINAL_STATES = ("closed",)
DEFAULT_AS_OF = generate_log.END.isoformat()
SIZES = {
    "full": {"cases": 100_000, "rounds": 3},
    "quick": {"cases": 2_000, "rounds": 3},
}
META_CASES = "bench_dashboard_cases"
META_SEED = "bench_dashboard_seed"


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def prepare_store(path: Path, cases: int, seed: int, work: Path) -> tuple[int, float]:
    """Generate the log and import it into ``path``, unless it already holds this log.

    Returns (events, seconds spent preparing; 0 when reused).
    """
    if path.exists():
        store = open_store(path, create=False)
        try:
            same = store.get_meta(META_CASES) == str(cases) and store.get_meta(META_SEED) == str(
                seed
            )
            events = store.checkpoint().position
        finally:
            store.close()
        if same:
            return events, 0.0
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    csv_path = work / "events.csv"
    generate_log.write_log(csv_path, cases, seed)
    store = open_store(path)
    try:
        result = import_events(store, csv_path, final_states=list(FINAL_STATES))
        store.set_meta(META_CASES, str(cases))
        store.set_meta(META_SEED, str(seed))
    finally:
        store.close()
    csv_path.unlink()
    return result.rows, time.perf_counter() - started


def the_calls(
    store: Any, scope: Scope, compiled: pathway.Pathway, verify: bool
) -> list[tuple[str, Callable[[], Any]]]:
    """Each library call the dashboard makes, by name, in the order it makes them."""
    conn = store.connection
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("activity", lambda: activity_report(conn, scope, None, compiled)),
        ("caseload", lambda: caseload_report(conn, scope)),
        ("handoffs", lambda: handoffs_report(conn, scope, compiled)),
        ("holding", lambda: holding_report(conn, scope)),
        ("s75", lambda: s75_report(conn, scope, pathway=compiled)),
        ("waits", lambda: waits_report(conn, scope, compiled)),
        ("monthly", lambda: monthly_report(conn, scope)),
        ("funding", lambda: funding_report(conn, scope)),
        ("checkpoint", lambda: store.checkpoint()),
    ]
    if verify:
        calls.append(("verify", lambda: store.verify()))
    return calls


def check_agreement(
    store: Any, scope: Scope, compiled: pathway.Pathway, verify: bool
) -> dict[str, Any]:
    """The dashboard's records equal the separate calls' results (untimed)."""
    data = dashboard_data(store, scope, compiled, verify=verify)
    separate = {name: call() for name, call in the_calls(store, scope, compiled, verify)}
    differing = [
        name
        for name in ("activity", "caseload", "handoffs", "holding", "s75", "waits", "monthly")
        if getattr(data, name).to_json() != separate[name].to_json()
    ]
    funding = separate["funding"] if placements_exist(separate["funding"]) else None
    if data.funding != funding:
        differing.append("funding")
    if data.audit.head != separate["checkpoint"]:
        differing.append("checkpoint")
    if verify and data.audit.verified != separate["verify"].ok:
        differing.append("verify")
    return {
        "agree": not differing,
        "differing": differing,
        "cases": data.handoffs.cases,
        "handoffs": data.handoffs.handoffs,
        "open_cases": data.caseload.open_cases,
        "months": len(data.monthly.months),
        "verified": data.audit.verified,
    }


def measure(
    store: Any, scope: Scope, compiled: pathway.Pathway, rounds: int, verify: bool, out: Path
) -> dict[str, Any]:
    """Alternate (a) the dashboard and (b) its calls one by one, ``rounds`` times."""
    whole: list[float] = []
    summed: list[float] = []
    per_call: dict[str, list[float]] = {}

    def run_dashboard() -> None:
        seconds, _ = _timed(
            lambda: write_dashboard(dashboard_data(store, scope, compiled, verify=verify), out)
        )
        whole.append(seconds)

    def run_calls() -> None:
        total = 0.0
        for name, call in the_calls(store, scope, compiled, verify):
            seconds, _ = _timed(call)
            per_call.setdefault(name, []).append(seconds)
            total += seconds
        summed.append(total)

    for r in range(rounds):
        for step in (run_dashboard, run_calls) if r % 2 == 0 else (run_calls, run_dashboard):
            step()
            print(f"  round {r + 1}: {step.__name__} done", flush=True)
    ratios = [a / b for a, b in zip(whole, summed, strict=True)]
    ratio = statistics.median(ratios)
    size = out.stat().st_size
    return {
        "rounds": rounds,
        "verify": verify,
        "dashboard_s": statistics.median(whole),
        "calls_s": statistics.median(summed),
        "ratio": ratio,
        "ratio_per_round": ratios,
        "dashboard_s_per_round": whole,
        "calls_s_per_round": summed,
        "per_call_s": {name: statistics.median(times) for name, times in per_call.items()},
        "file_bytes": size,
        "ratio_target": RATIO_TARGET,
        "size_target_bytes": SIZE_TARGET_BYTES,
        "meets_ratio_target": ratio <= RATIO_TARGET,
        "meets_size_target": size < SIZE_TARGET_BYTES,
    }


def _table(results: dict[str, Any]) -> str:
    m = results["measure"]
    lines = [
        f"care-pathway dashboard benchmark ({results['meta']['mode']}): "
        f"{results['log']['cases']:,} cases, {results['log']['events']:,} events, "
        f"as of {results['as_of']}",
        "",
        f"dashboard (data + HTML + write): {m['dashboard_s']:.2f} s (median of {m['rounds']})",
        f"its calls, one by one, summed:    {m['calls_s']:.2f} s",
    ]
    for name, seconds in m["per_call_s"].items():
        lines.append(f"  {name:<11} {seconds:8.3f} s")
    lines += [
        "",
        f"ratio (median of per-round ratios): {m['ratio']:.3f}  target <= {RATIO_TARGET}: "
        + ("met" if m["meets_ratio_target"] else "MISSED")
        + f"  (per round: {', '.join(f'{r:.3f}' for r in m['ratio_per_round'])})",
        f"file size: {m['file_bytes'] / 1e6:.2f} MB  target < {SIZE_TARGET_BYTES / 1e6:.0f} MB: "
        + ("met" if m["meets_size_target"] else "MISSED"),
        f"dashboard records = separate calls: {'AGREE' if results['agreement']['agree'] else 'DISAGREE'}"
        f" ({results['agreement']['cases']:,} cases, {results['agreement']['handoffs']:,} handoffs,"
        f" {results['agreement']['open_cases']:,} open, {results['agreement']['months']} months;"
        f" chain verified: {results['agreement']['verified']})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="care-pathway dashboard benchmark: the page against the sum of its report calls."
    )
    parser.add_argument("--quick", action="store_true", help="about 20k events")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures as JSON")
    parser.add_argument("--cases", type=int, help="cases in the log (about 10 events each)")
    parser.add_argument("--rounds", type=int, help="alternating rounds")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--as-of", default=DEFAULT_AS_OF, help=f"the dashboard's as-of (default {DEFAULT_AS_OF})"
    )
    parser.add_argument(
        "--store",
        type=Path,
        help="import into this file once and reuse it on later runs with the same --cases/--seed",
    )
    parser.add_argument("--no-verify", action="store_true", help="leave out the chain verification")
    parser.add_argument(
        "--dir", type=Path, help="where the temporary files go (default: the system temp)"
    )
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    size = dict(SIZES[mode])
    for key in size:
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
    if min(size.values()) < 1:
        parser.error("--cases and --rounds must be at least 1")
    as_of = datetime.fromisoformat(args.as_of)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    verify = not args.no_verify

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="pathway-bench-dashboard-", dir=args.dir))
    try:
        db = args.store or work / "store.db"
        events, prepared_s = prepare_store(db, size["cases"], args.seed, work)
        print(
            f"store: {events:,} events of {size['cases']:,} cases "
            + (f"(imported in {prepared_s:.1f} s)" if prepared_s else f"(reused {db})"),
            flush=True,
        )
        compiled = pathway.load_pathway("barnet-enablement")
        scope = Scope(as_of=as_of)
        store = open_store(db, create=False)
        try:
            agreement = check_agreement(store, scope, compiled, verify)
            print(f"agreement: {agreement['agree']}", flush=True)
            measured = measure(store, scope, compiled, size["rounds"], verify, work / "board.html")
        finally:
            store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "sizes": size,
            "seed": args.seed,
            "command": " ".join(
                [
                    "python",
                    "benchmarks/bench_dashboard.py",
                    *(sys.argv[1:] if argv is None else argv),
                ]
            ),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "plotly": _plotly_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "pathway_version": pathway.__version__,
            "seconds": time.perf_counter() - started,
        },
        "log": {"cases": size["cases"], "events": events, "seed": args.seed},
        "as_of": as_of.isoformat(),
        "agreement": agreement,
        "measure": measured,
    }
    print()
    print(_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0 if agreement["agree"] else 1


def _plotly_version() -> str:
    import plotly

    return str(plotly.__version__)


if __name__ == "__main__":
    sys.exit(main())
