"""The funding report on 100,000 placements, as a RATIO to a plain SQL sum of the same rows.

Machines here are shared and noisy, so what docs/performance.md records is the ratio of two
timings taken alternately in one run, not the absolute seconds.

1. A seeded store: ``--cases`` cases (an event log of two events a case, a fifth of them closed,
   imported with ``import_events``) and a finance extract of ``--placements`` placements
   (about two placements a case, a third of them changing cost and split once, most of them ended,
   splits between the council, the NHS and the person, a few section 117, four in five with an
   eligibility determination and health screen), imported with ``import_placements``.
2. Library: ``funding_report(conn, scope)`` for a financial year (``--since``/``--until``, as of
   after the last day), the whole call, scrutiny list included.
3. Baseline: one plain SQL statement over ``placement_periods`` that adds up, per care type, the
   weekly pence times the days each period has in the window and the three shares: the figures of
   ``by_care_type`` and nothing else, fetched into Python.

Before timing, the script checks that the two agree (spend and each share per care type, to the
penny) and exits 1 if they do not.

Usage::

    python benchmarks/bench_funding.py --json bench-funding.json   # about a minute on 2 cores
    python benchmarks/bench_funding.py --quick                     # a few seconds: a smoke check
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pathway
from pathway import open_store
from pathway.importer import import_events
from pathway.placement_import import import_placements
from pathway.placements import CARE_TYPES, format_pence, round_half_up
from pathway.reports import Scope, funding_report
from pathway.reports.funding import window

SIZES = {
    "full": {"cases": 50_000, "placements": 100_000, "rounds": 5},
    "quick": {"cases": 300, "placements": 600, "rounds": 2},
}
SPLITS = ((100, 0, 0), (50, 50, 0), (0, 100, 0), (90, 0, 10), (60, 30, 10))
SINCE, UNTIL, AS_OF = date(2025, 4, 1), date(2026, 3, 31), datetime(2026, 6, 1, tzinfo=UTC)

BASELINE_SQL = """
SELECT care_type,
       SUM(weekly_pence * days), SUM(weekly_pence * days * council_bp),
       SUM(weekly_pence * days * nhs_bp), SUM(weekly_pence * days * person_bp)
  FROM (SELECT care_type, weekly_pence, council_bp, nhs_bp, person_bp,
               (CASE WHEN COALESCE(end_day, :last) < :last THEN end_day ELSE :last END)
               - (CASE WHEN start_day > :first THEN start_day ELSE :first END) + 1 AS days
          FROM placement_periods
         WHERE known_from <= :as_of AND (known_until IS NULL OR known_until > :as_of)
           AND start_day <= :last AND COALESCE(end_day, :last) >= :first) AS p
 GROUP BY care_type
"""


def write_inputs(folder: Path, cases: int, placements: int, seed: int) -> tuple[Path, Path, int]:
    """The event log and the finance extract; returns their paths and the number of periods."""
    rng = random.Random(seed)
    log, extract = folder / "events.csv", folder / "placements.csv"
    with log.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["case_id", "occurred_at", "state", "team"])
        for n in range(cases):
            opened = datetime(2023, 1, 1, 9, tzinfo=UTC) + timedelta(days=rng.randrange(900))
            out.writerow([f"C{n:06d}", opened.isoformat(), "referral", "hub"])
            state = "closed" if rng.random() < 0.2 else "support"  # a fifth are closed
            out.writerow([f"C{n:06d}", (opened + timedelta(days=30)).isoformat(), state, "cmht"])
    written = 0
    with extract.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["case_id", "placement_id", "care_type", "weekly_cost", "start_date", "end_date",
             "council_pct", "nhs_pct", "person_pct", "agreed_by", "s117", "eligibility_date",
             "health_screen_date"]
        )  # fmt: skip
        case = 0
        while case < placements:
            case_id = f"C{case % cases:06d}"
            placement = f"P{case // cases}"
            case += 1
            start = date(2023, 6, 1) + timedelta(days=rng.randrange(1000))
            care_type = rng.choice(CARE_TYPES)  # a placement keeps its care type and panel
            agreed_by = rng.choice(("council", "council", "trust"))
            s117 = rng.random() < 0.05
            decided = (start - timedelta(days=14)).isoformat() if rng.random() < 0.8 else ""
            parts = 2 if rng.random() < 0.3 else 1
            for part in range(parts):
                length = rng.randrange(20, 400)
                ended = part < parts - 1 or rng.random() < 0.7
                end = start + timedelta(days=length - 1) if ended else None
                council, nhs, person = rng.choice(SPLITS)
                weekly = f"{rng.randrange(5_000, 200_000) / 100:.2f}"
                out.writerow(
                    [case_id, placement, care_type, weekly, start.isoformat(),
                     end.isoformat() if end else "", council, nhs, person, agreed_by,
                     "yes" if s117 else "no", decided, decided]
                )  # fmt: skip
                written += 1
                if end is None:
                    break
                start = end + timedelta(days=1)
    return log, extract, written


def build_store(folder: Path, cases: int, placements: int, seed: int) -> tuple[Path, int]:
    log, extract, written = write_inputs(folder, cases, placements, seed)
    location = folder / "store.db"
    store = open_store(location)
    import_events(store, log, final_states=["closed"])
    import_placements(store, extract)
    count = int(store.connection.execute("SELECT COUNT(*) FROM placement_periods").fetchone()[0])
    store.close()
    if count != written:
        raise SystemExit(f"the store holds {count} placement periods, the extract {written}")
    return location, count


def _scope() -> Scope:
    since = datetime.combine(SINCE, datetime.min.time(), UTC)
    until = datetime.combine(UNTIL, datetime.min.time(), UTC)
    return Scope(as_of=AS_OF, since=since, until=until)


def run_report(conn: sqlite3.Connection) -> dict[str, Any]:
    return funding_report(conn, _scope()).to_json()


def run_baseline(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    first, last = window(_scope())
    params = {"first": first, "last": last, "as_of": AS_OF.timestamp()}
    return conn.execute(BASELINE_SQL, params).fetchall()


def agree(report: dict[str, Any], rows: list[tuple[Any, ...]]) -> bool:
    """Spend and each share per care type, shown to the penny, the same on both sides."""
    theirs = {
        care_type: (
            format_pence(round_half_up(spend, 7)),
            *(format_pence(round_half_up(share, 70_000)) for share in shares),
        )
        for care_type, spend, *shares in rows
    }
    ours = {
        r["care_type"]: (r["spend"], r["council"], r["nhs"], r["person"])
        for r in report["by_care_type"]
        if r["care_type"] in theirs or r["spend"] != "0.00"
    }
    return ours == theirs


def _timed(func: Any, conn: sqlite3.Connection) -> float:
    gc.collect()
    start = time.perf_counter()
    func(conn)
    return time.perf_counter() - start


def measure(location: Path, rounds: int) -> dict[str, Any]:
    conn = sqlite3.connect(location)
    report, rows = run_report(conn), run_baseline(conn)
    if not agree(report, rows):
        raise SystemExit("the funding report and the plain SQL sum disagree: figures not timed")
    library: list[float] = []
    baseline: list[float] = []
    for r in range(rounds):
        pair = ((run_report, library), (run_baseline, baseline))
        for func, times in pair if r % 2 == 0 else reversed(pair):
            times.append(_timed(func, conn))
    conn.close()
    ratios = [a / b for a, b in zip(library, baseline, strict=True)]
    return {
        "report_s": statistics.median(library),
        "sql_s": statistics.median(baseline),
        "ratio": statistics.median(ratios),
        "ratio_per_round": ratios,
        "report_s_per_round": library,
        "sql_s_per_round": baseline,
        "scrutiny_items": len(report["scrutiny"]),
        "spend": report["spend"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke check")
    parser.add_argument("--cases", type=int, help="cases in the store")
    parser.add_argument("--placements", type=int, help="placements in the extract")
    parser.add_argument("--rounds", type=int, help="alternating report / SQL rounds")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--dir", type=Path, help="where the temporary files go")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    sizes = dict(SIZES[mode])
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    folder = Path(tempfile.mkdtemp(prefix="pathway-bench-funding-", dir=args.dir))
    try:
        started = time.perf_counter()
        location, periods = build_store(folder, sizes["cases"], sizes["placements"], args.seed)
        built = time.perf_counter() - started
        figures = measure(location, sizes["rounds"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "sizes": sizes,
            "seed": args.seed,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpu_count": os.cpu_count(),
            "pathway_version": pathway.__version__,
            "command": "python "
            + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
        },
        "store": {
            "cases": sizes["cases"],
            "placements": sizes["placements"],
            "periods": periods,
            "built_s": built,
        },
        "window": {
            "since": SINCE.isoformat(),
            "until": UNTIL.isoformat(),
            "as_of": AS_OF.isoformat(),
        },
        "funding": figures,
    }
    print(
        f"care-pathway {pathway.__version__}  Python {platform.python_version()}  SQLite "
        f"{sqlite3.sqlite_version}  {os.cpu_count()} CPUs  mode={mode}\n"
        f"store: {sizes['cases']:,} cases, {sizes['placements']:,} placements in {periods:,} "
        f"periods (built in {built:.1f} s); "
        f"window {SINCE} to {UNTIL}, as of {AS_OF.date()}\n"
        f"funding report {figures['report_s']:.3f} s, plain SQL sum {figures['sql_s']:.3f} s: "
        f"ratio {figures['ratio']:.2f} (per round "
        f"{', '.join(f'{r:.2f}' for r in figures['ratio_per_round'])}); figures agree; "
        f"{figures['scrutiny_items']:,} scrutiny items, spend {figures['spend']}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
