"""What recording and checking the pathway definition costs (issue 18, docs/versioning.md), as
RATIOS to baselines measured alternately in the same run (these machines are shared):

* ``engine``: making an ``Engine`` on a store that records this very definition (one read of the
  stamp, the usual case), against one ``store.get_meta`` read;
* ``check``: finding the stranded open cases of a changed definition (what an engine does once
  when the definition changed), against reading the same columns of the open cases;
* ``migrate``: ``migrate_cases`` moving M cases, one event each, against the engine firing M
  transitions one transaction each (the per-case cost of a migration against a step's).

The stores are SQLite files of N open cases imported on docs/examples/minimal.yaml, half of
them in ``choice_appointment``, the state version 2 renames.

Usage::

    python benchmarks/bench_versioning.py --cases 100000 --moves 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import pathway  # noqa: E402
from pathway.importer import import_events  # noqa: E402
from pathway.versioning import migrate_cases, recorded_definition, stranded_cases  # noqa: E402

MINIMAL = ROOT / "docs" / "examples" / "minimal.yaml"
ADMIN = pathway.Actor("admin", "hub")
LETS = pathway.Actor("w-lets", "lets")


def _log(cases: int, prefix: str = "C") -> str:
    rows = ["case_id,occurred_at,state,team"]
    for n in range(cases):
        rows.append(f"{prefix}{n:07d},2026-01-05T09:00:00Z,referred,hub")
        if n % 2:
            rows.append(f"{prefix}{n:07d},2026-01-05T10:00:00Z,choice_appointment,lets")
    return "\n".join(rows) + "\n"


def _store(path: Path, cases: int, v1: pathway.Pathway) -> pathway.store.SqliteStore:
    store = pathway.open_store(path)
    pathway.Engine(v1, store)  # records version 1
    import_events(store, "log.csv", text=_log(cases), pathway=v1)
    return store


def _time(call: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat


def _fire_all(engine: pathway.Engine, ids: list[str]) -> float:
    """Seconds per fire of one step on each case, one transaction each."""
    start = time.perf_counter()
    for case_id in ids:
        engine.fire(case_id, "book_choice_appointment", LETS)
    return (time.perf_counter() - start) / len(ids)


def _migrate(store: pathway.store.SqliteStore, v2: pathway.Pathway, moves: int) -> float:
    """Seconds per case moved by one migration."""
    start = time.perf_counter()
    plan = migrate_cases(store, v2, ["choice_appointment=choice_appt"], ADMIN, "bench")
    elapsed = time.perf_counter() - start
    assert len(plan.moves) == moves
    return elapsed / moves


def _report(name: str, ours: list[float], base: list[float], unit: str, scale: float) -> None:
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    print(
        f"{name}: median {statistics.median(ours) * scale:.3f} {unit} against "
        f"{statistics.median(base) * scale:.3f} {unit}; ratio median "
        f"{statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--moves", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", help="where the temporary stores go (default: system temp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pathway-bench-versioning-", dir=args.dir))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    v1 = pathway.load_pathway(MINIMAL)
    v2_path = work / "v2.yaml"
    v2_path.write_text(
        MINIMAL.read_text()
        .replace('version: "1"', 'version: "2"')
        .replace("{id: choice_appointment, holder", "{id: choice_appt, holder")
        .replace("dest: choice_appointment", "dest: choice_appt")
        .replace("sources: [choice_appointment]", "sources: [choice_appt]")
        .replace("sources: [choice_appointment,", "sources: [choice_appt,")
    )
    v2 = pathway.load_pathway(v2_path)
    print(f"{args.cases:,} open cases, {args.moves:,} moves, {args.rounds} rounds")

    store = _store(work / "big.db", args.cases, v1)
    recorded = recorded_definition(store, v1.id)
    conn = store.connection
    scan = (
        "SELECT id, state, team, pathway_version, return_stack FROM cases WHERE closed_at IS NULL"
    )

    def check() -> None:
        assert len(stranded_cases(conn, v2, recorded)) == args.cases // 2

    engine_t, meta_t, check_t, scan_t = [], [], [], []
    for r in range(args.rounds):  # the side that goes first swaps every round
        sides = [
            (engine_t, lambda: pathway.Engine(v1, store), 2000),
            (meta_t, lambda: store.get_meta("pathway"), 2000),
        ]
        checks = [(check_t, check, 1), (scan_t, lambda: conn.execute(scan).fetchall(), 1)]
        for times, call, repeat in (sides if r % 2 == 0 else sides[::-1]) + (
            checks if r % 2 == 0 else checks[::-1]
        ):
            times.append(_time(call, repeat))
    store.close()
    _report("engine", engine_t, meta_t, "us", 1e6)
    _report("check", check_t, scan_t, "ms", 1e3)

    migrate_t, fire_t = [], []
    for r in range(args.rounds):
        moved = _store(work / f"moves-{r}.db", args.moves * 2, v1)  # half of them move
        fired = _store(work / f"fires-{r}.db", args.moves * 2, v1)
        engine = pathway.Engine(v1, fired, clock=lambda: datetime(2026, 1, 6, 9, tzinfo=UTC))
        ids = [f"C{n:07d}" for n in range(0, args.moves * 2, 2)]  # in referred

        sides = [
            (fire_t, lambda e=engine, i=ids: _fire_all(e, i)),
            (migrate_t, lambda m=moved: _migrate(m, v2, args.moves)),
        ]
        for times, side in sides if r % 2 == 0 else sides[::-1]:
            times.append(side())
        assert moved.verify().ok
        moved.close()
        fired.close()
    _report("migrate (per case)", migrate_t, fire_t, "ms", 1e3)


if __name__ == "__main__":
    main()
