"""Core benchmarks of care-pathway, each reported as a RATIO to a baseline measured in the same run.

Machines here are shared and noisy, so absolute figures mean little from one run to the next; a
ratio to a plain baseline that does the same unavoidable work, measured alternately with the
library in the same process, is what docs/performance.md records and what the targets are about.

1. ``fire`` on a file store: ``Engine.fire`` (one ``BEGIN IMMEDIATE`` ... ``COMMIT`` each) on a
   SQLite file with the store's defaults (WAL, ``synchronous=FULL``), against a plain ``sqlite3``
   loop doing per transition what any durable implementation must: ``BEGIN IMMEDIATE``, a versioned
   ``UPDATE`` of a cases row, an ``INSERT`` of an events row of the same width, ``COMMIT``, on a
   separate file with the same pragmas. Target: ratio >= 0.5.
2. ``fire`` on ``:memory:``: the same pair without any disk I/O, so the ratio shows the library's
   CPU overhead alone (information, no target).
3. ``fire`` on the **shipped** Barnet pathway, file store: the shipped sample cases' steps (every
   one the script expects to be applied; the Barnet pathway's samples without plug-ins), copied
   onto as many cases as the run needs and fired round-robin across the cases, each by its
   sample's actor with its data, at the engine's own clock: real guards (task matrix, data,
   roles, time limits, placement rules), real holders, real offers and interruptions. Against the
   same plain ``sqlite3`` loop as 1. Target: ratio >= 0.5 (issue 19). Refused fires are counted
   and reported (a walk of allowed steps should have none).
4. Loading a definition: ``pathway.load_pathway(path)`` against ``yaml.safe_load`` of the same
   file (read included in both), plus absolute milliseconds for information.

Usage::

    python benchmarks/bench_core.py            # full run (about 40 s on 2 cores)
    python benchmarks/bench_core.py --quick    # about 3 s, for a smoke check
    python benchmarks/bench_core.py --json out.json

Sizes can be overridden (``--cases``, ``--fires``, ``--rounds``, ``--load-reps``); the test suite
runs a tiny ``--quick`` so the script cannot rot.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

import pathway
from pathway import Actor, Engine, load_pathway, open_store

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "docs" / "examples" / "minimal.yaml"
BARNET = ROOT / "pathway" / "definitions" / "barnet-enablement.yaml"
FIRE_TARGET = 0.5

# A pathway a case can loop round forever: a -> b (guarded) and back, across two organisations.
LOOP_YAML = """\
id: bench_loop
version: "1"
title: Benchmark loop
organisations:
  - {id: council, kind: council}
  - {id: trust, kind: nhs_trust}
teams:
  - {id: team_a, organisation: council}
  - {id: team_b, organisation: trust}
states:
  - {id: a, holder: team_a}
  - {id: b, holder: team_b}
initial: a
transitions:
  - trigger: go
    sources: [a]
    dest: b
    guards:
      - {guard: data_present, params: {fields: [plan]}}
  - trigger: back
    sources: [b]
    dest: a
"""

# The baseline's tables have the store's shape (same columns, same unique keys), so both sides pay
# for the same row widths and index maintenance.
BASELINE_SCHEMA = """
CREATE TABLE cases (
    id TEXT PRIMARY KEY, pathway_id TEXT NOT NULL, pathway_version TEXT NOT NULL,
    state TEXT NOT NULL, team TEXT NOT NULL, organisation TEXT NOT NULL, worker TEXT,
    version INTEGER NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
    state_entered_at TEXT NOT NULL, previous_state TEXT, previous_team TEXT,
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE events (
    position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, case_id TEXT NOT NULL,
    seq INTEGER NOT NULL, occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL,
    trigger TEXT NOT NULL, from_state TEXT, to_state TEXT, from_team TEXT, to_team TEXT,
    from_organisation TEXT, to_organisation TEXT, actor_id TEXT NOT NULL,
    actor_team TEXT NOT NULL, actor_roles TEXT NOT NULL, outcome TEXT NOT NULL,
    pathway_id TEXT NOT NULL, pathway_version TEXT NOT NULL, reasons TEXT NOT NULL, note TEXT,
    data TEXT NOT NULL, imported INTEGER NOT NULL DEFAULT 0, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL, UNIQUE (case_id, seq)
);
"""

_BASE_UPDATE = (
    "UPDATE cases SET state = ?, team = ?, organisation = ?, worker = ?, version = version + 1, "
    "state_entered_at = ?, previous_state = ?, previous_team = ? WHERE id = ? AND version = ?"
)
_BASE_INSERT = "INSERT INTO events VALUES (" + ", ".join("?" * 25) + ")"

# (state, team, organisation) of the two places; trigger k of a case goes from PLACES[k % 2].
PLACES = (("a", "team_a", "council"), ("b", "team_b", "trust"))
TRIGGERS = ("go", "back")

SIZES = {
    "full": {"cases": 500, "fires": 8000, "rounds": 5, "load_reps": 30},
    "quick": {"cases": 50, "fires": 1000, "rounds": 3, "load_reps": 5},
}


def _counter_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that moves on by a millisecond a call: deterministic and always increasing."""
    ticks = 0

    def clock() -> datetime:
        nonlocal ticks
        ticks += 1
        return start + timedelta(milliseconds=ticks)

    return clock


def _case_ids(cases: int) -> list[str]:
    return [f"case-{i:06d}" for i in range(cases)]


# --- the library side -------------------------------------------------------------------------


def _engine_setup(location: str, loop_path: Path, cases: int) -> tuple[Any, Any]:
    store = open_store(location)
    engine = Engine(
        load_pathway(loop_path), store, clock=_counter_clock(datetime(2026, 1, 5, tzinfo=UTC))
    )
    actor = Actor("worker-1", "team_a")
    for case_id in _case_ids(cases):
        engine.open_case(case_id, actor, data={"plan": "weekly visits"})
    return engine, store


def _engine_run(engine: Engine, cases: int, fires: int) -> float:
    actor = Actor("worker-1", "team_a")
    ids = _case_ids(cases)
    fire = engine.fire
    gc.collect()
    start = time.perf_counter()
    for k in range(fires):
        fire(ids[k % cases], TRIGGERS[(k // cases) % 2], actor)
    return time.perf_counter() - start


# --- the baseline side ------------------------------------------------------------------------


def _baseline_setup(location: str, cases: int) -> sqlite3.Connection:
    conn = sqlite3.connect(location, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(BASELINE_SCHEMA)
    now = "2026-01-05T09:00:00.000000+00:00"
    conn.execute("BEGIN IMMEDIATE")
    for case_id in _case_ids(cases):
        conn.execute(
            "INSERT INTO cases VALUES (?, 'bench_loop', '1', 'a', 'team_a', 'council', "
            "'worker-1', 1, ?, NULL, ?, NULL, NULL, '{\"plan\":\"weekly visits\"}')",
            (case_id, now, now),
        )
    conn.execute("COMMIT")
    return conn


def _baseline_run(conn: sqlite3.Connection, cases: int, fires: int) -> float:
    """Per transition: BEGIN IMMEDIATE, versioned UPDATE (row count checked), INSERT, COMMIT."""
    ids = _case_ids(cases)
    versions = dict.fromkeys(ids, 1)
    execute = conn.execute
    hash_a, hash_b = "0" * 64, "f" * 64
    gc.collect()
    start = time.perf_counter()
    for k in range(fires):
        case_id = ids[k % cases]
        src_state, src_team, src_org = PLACES[(k // cases) % 2]
        dst_state, dst_team, dst_org = PLACES[(k // cases + 1) % 2]
        version = versions[case_id]
        when = f"2026-01-05T09:{k // 60000 % 60:02d}:{k // 1000 % 60:02d}.{k % 1000:03d}000+00:00"
        execute("BEGIN IMMEDIATE")
        cursor = execute(
            _BASE_UPDATE,
            (dst_state, dst_team, dst_org, None, when, src_state, src_team, case_id, version),
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"baseline: version conflict on {case_id}")
        execute(
            _BASE_INSERT,
            (
                k + 1, f"{k:032x}", case_id, version + 1, when, when, TRIGGERS[(k // cases) % 2],
                src_state, dst_state, src_team, dst_team, src_org, dst_org, "worker-1",
                "team_a", "[]", "applied", "bench_loop", "1", "[]", None, "{}", 0,
                hash_a, hash_b,
            ),
        )  # fmt: skip
        execute("COMMIT")
        versions[case_id] = version + 1
    return time.perf_counter() - start


def _baseline_rate(location: str, cases: int, fires: int) -> float:
    """The plain loop's transitions a second, on a new database at ``location``."""
    conn = _baseline_setup(location, cases)
    try:
        return fires / _baseline_run(conn, cases, fires)
    finally:
        conn.close()


def _alternated(round_no: int, library: Callable[[], None], baseline: Callable[[], None]) -> None:
    """Run one round, the side that goes first swapping every round, so drift in the machine's
    load hits both alike."""
    for run in (library, baseline) if round_no % 2 == 0 else (baseline, library):
        run()


def _fire_figures(engine_rates: list[float], base_rates: list[float]) -> dict[str, Any]:
    """The medians, the median of the per-round ratios and the per-round figures of a fire
    measure."""
    ratios = [e / b for e, b in zip(engine_rates, base_rates, strict=True)]
    return {
        "fires_per_s": statistics.median(engine_rates),
        "baseline_per_s": statistics.median(base_rates),
        "us_per_fire": 1e6 / statistics.median(engine_rates),
        "us_per_baseline": 1e6 / statistics.median(base_rates),
        "ratio": statistics.median(ratios),
        "ratio_per_round": ratios,
        "fires_per_s_per_round": engine_rates,
        "baseline_per_s_per_round": base_rates,
    }


# --- the shipped pathway -----------------------------------------------------------------------


def _shipped_walks() -> list[tuple[str, Any, list[Any]]]:
    """(sample id, its opening step, the steps after it) of every shipped Barnet sample without
    plug-ins, keeping only the steps the script expects the engine to apply."""
    from pathway.samples import load_sample, shipped_samples

    walks = []
    for name in sorted(shipped_samples()):
        sample = load_sample(name)
        if sample.pathway != "barnet-enablement" or sample.plugins:
            continue
        steps = [s for s in sample.steps if s.refused is None]
        if steps and steps[0].trigger == "open":
            walks.append((sample.id, steps[0], steps[1:]))
    return walks


def _shipped_setup(location: str, fires: int) -> tuple[Engine, Any, list[tuple[str, Any]]]:
    """Open enough copies of the sample cases for ``fires`` fires; return the engine, its store
    and the fires in timed order (round-robin over the cases, each case's steps in order)."""
    store = open_store(location)
    engine = Engine(load_pathway("barnet-enablement"), store)  # the engine's own clock
    walks = _shipped_walks()
    cases: list[tuple[str, list[Any]]] = []
    planned = copy = 0
    while planned < fires:
        for sample_id, opening, steps in walks:
            case_id = f"{sample_id}-{copy}"
            engine.open_case(case_id, opening.actor, data=opening.data, note=opening.note)
            cases.append((case_id, steps))
            planned += len(steps)
        copy += 1
    order: list[tuple[str, Any]] = []
    depth = 0
    while len(order) < fires:
        for case_id, steps in cases:
            if depth < len(steps):
                order.append((case_id, steps[depth]))
        depth += 1
    return engine, store, order[:fires]


def _shipped_run(engine: Engine, order: list[tuple[str, Any]]) -> tuple[float, int]:
    """Fire ``order``; return the seconds taken and how many fires were refused."""
    refused = 0
    fire = engine.fire
    gc.collect()
    start = time.perf_counter()
    for case_id, step in order:
        try:
            fire(case_id, step.trigger, step.actor, data=step.data, note=step.note)
        except pathway.TransitionRefused:
            refused += 1
    return time.perf_counter() - start, refused


def measure_fire_shipped(work: Path, cases: int, fires: int, rounds: int) -> dict[str, Any]:
    """The shipped pathway's walk against the plain loop, alternated, file stores."""
    engine_rates: list[float] = []
    base_rates: list[float] = []
    refusals: list[int] = []
    for r in range(rounds):
        round_dir = work / f"shipped-{r}"
        round_dir.mkdir()

        def run_engine(round_dir: Path = round_dir) -> None:
            engine, store, order = _shipped_setup(str(round_dir / "store.db"), fires)
            try:
                seconds, refused = _shipped_run(engine, order)
                engine_rates.append(len(order) / seconds)
                refusals.append(refused)
            finally:
                store.close()

        def run_baseline(round_dir: Path = round_dir) -> None:
            base_rates.append(_baseline_rate(str(round_dir / "baseline.db"), cases, fires))

        _alternated(r, run_engine, run_baseline)
    return {
        "store": "file (WAL, synchronous=FULL), shipped barnet-enablement pathway",
        "fires": fires,
        "rounds": rounds,
        "refused_per_round": refusals,
        **_fire_figures(engine_rates, base_rates),
    }


# --- measurements -----------------------------------------------------------------------------


def measure_fire(
    kind: str, work: Path, loop_path: Path, cases: int, fires: int, rounds: int
) -> dict[str, Any]:
    """Alternate library and baseline runs ``rounds`` times; report medians and their ratio."""
    engine_rates: list[float] = []
    base_rates: list[float] = []
    for r in range(rounds):
        if kind == "file":
            round_dir = work / f"{kind}-{r}"
            round_dir.mkdir()
            store_loc, base_loc = str(round_dir / "store.db"), str(round_dir / "baseline.db")
        else:
            store_loc = base_loc = ":memory:"

        def run_engine(store_loc: str = store_loc) -> None:
            engine, store = _engine_setup(store_loc, loop_path, cases)
            try:
                engine_rates.append(fires / _engine_run(engine, cases, fires))
            finally:
                store.close()

        def run_baseline(base_loc: str = base_loc) -> None:
            base_rates.append(_baseline_rate(base_loc, cases, fires))

        _alternated(r, run_engine, run_baseline)
    return {
        "store": "file (WAL, synchronous=FULL)" if kind == "file" else ":memory:",
        "cases": cases,
        "fires": fires,
        "rounds": rounds,
        **_fire_figures(engine_rates, base_rates),
    }


def _time_per_call(func: Callable[[], Any], reps: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(reps):
        func()
    return (time.perf_counter() - start) / reps


def measure_load(name: str, path: Path, reps: int, rounds: int) -> dict[str, Any]:
    """``load_pathway(path)`` against ``yaml.safe_load(path.read_text())``, alternated."""
    try:
        load_pathway(path)
    except Exception as exc:  # the definition may be mid-edit or absent: skip, do not fail
        return {"definition": name, "skipped": f"{type(exc).__name__}: {exc}"[:300]}
    loads: list[float] = []
    parses: list[float] = []

    def load() -> Any:
        return load_pathway(path)

    def parse() -> Any:
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    for r in range(rounds):
        if r % 2 == 0:
            loads.append(_time_per_call(load, reps))
            parses.append(_time_per_call(parse, reps))
        else:
            parses.append(_time_per_call(parse, reps))
            loads.append(_time_per_call(load, reps))
    ratios = [a / b for a, b in zip(loads, parses, strict=True)]
    return {
        "definition": name,
        "path": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "reps": reps,
        "rounds": rounds,
        "load_ms": statistics.median(loads) * 1000,
        "safe_load_ms": statistics.median(parses) * 1000,
        "ratio": statistics.median(ratios),
        "ratio_per_round": ratios,
    }


FIRST_PARTY = {
    "amhp": "care_pathway_amhp",
    "safeguarding": "care_pathway_safeguarding",
    "intensive_enablement": "care_pathway_intensive_enablement",
    "network_plus": "care_pathway_network_plus",
}


def measure_plugins_load(reps: int, rounds: int) -> dict[str, Any]:
    """``load_pathway("barnet-enablement")`` with the four first-party plug-ins, against bare."""
    import importlib

    modules = []
    for folder, module in FIRST_PARTY.items():
        where = ROOT / "plugins" / folder
        if not where.exists():
            return {"skipped": f"plugins/{folder} is not in this checkout"}
        if str(where) not in sys.path:
            sys.path.insert(0, str(where))
        modules.append(importlib.import_module(module))
    try:
        load_pathway("barnet-enablement", plugins=modules)
    except Exception as exc:  # a plug-in mid-edit: skip, do not fail
        return {"skipped": f"{type(exc).__name__}: {exc}"[:300]}
    withs: list[float] = []
    bares: list[float] = []

    def with_plugins() -> Any:
        return load_pathway("barnet-enablement", plugins=modules)

    def bare() -> Any:
        return load_pathway("barnet-enablement")

    for r in range(rounds):
        first, second = (with_plugins, bare) if r % 2 == 0 else (bare, with_plugins)
        a, b = _time_per_call(first, reps), _time_per_call(second, reps)
        (withs if first is with_plugins else bares).append(a)
        (bares if first is with_plugins else withs).append(b)
    ratios = [w / b for w, b in zip(withs, bares, strict=True)]
    return {
        "plugins": list(FIRST_PARTY),
        "reps": reps,
        "rounds": rounds,
        "with_plugins_ms": statistics.median(withs) * 1000,
        "bare_ms": statistics.median(bares) * 1000,
        "ratio": statistics.median(ratios),
        "ratio_per_round": ratios,
    }


# --- output -----------------------------------------------------------------------------------


def _table(results: dict[str, Any]) -> str:
    lines = []
    meta = results["meta"]
    lines.append(
        f"care-pathway {meta['pathway_version']}  Python {meta['python']}  SQLite "
        f"{meta['sqlite']}  {meta['cpu_count']} CPUs  {meta['date']}  mode={meta['mode']}"
    )
    lines.append("")
    head = f"{'benchmark':<34} {'library':>14} {'baseline':>14} {'ratio':>7}  target"
    lines += [head, "-" * len(head)]
    for key, label in (
        ("fire_file", "fire, file store"),
        ("fire_memory", "fire, :memory: (CPU)"),
        ("fire_shipped", "fire, shipped pathway, file store"),
    ):
        f = results[key]
        targeted = key in ("fire_file", "fire_shipped")
        target = f">= {FIRE_TARGET}" if targeted else "(info)"
        verdict = ""
        if targeted:
            verdict = "  ok" if f["ratio"] >= FIRE_TARGET else "  BELOW TARGET"
        lines.append(
            f"{label:<34} {f['fires_per_s']:>10.0f} /s {f['baseline_per_s']:>10.0f} /s "
            f"{f['ratio']:>7.3f}  {target}{verdict}"
        )
    for entry in results["load"]:
        label = f"load_pathway {entry['definition']}"
        if "skipped" in entry:
            lines.append(f"{label:<34} skipped: {entry['skipped'][:60]}")
            continue
        lines.append(
            f"{label:<34} {entry['load_ms']:>10.2f} ms {entry['safe_load_ms']:>10.2f} ms "
            f"{entry['ratio']:>7.2f}  (info: load / safe_load)"
        )
    plugins_load = results.get("load_plugins", {})
    if "ratio" in plugins_load:
        lines.append(
            f"{'load barnet-enablement + 4 plug-ins':<36} {plugins_load['with_plugins_ms']:>8.2f} ms "
            f"{plugins_load['bare_ms']:>9.2f} ms {plugins_load['ratio']:>7.2f}  (info: with / bare)"
        )
    elif plugins_load:
        lines.append(
            f"load barnet-enablement + 4 plug-ins: skipped ({plugins_load.get('skipped')})"
        )
    lines.append("")
    lines.append(
        "ratios are medians of per-round ratios (library / baseline, rates for fire); "
        f"rounds alternate which side runs first. fire: {results['fire_file']['cases']} cases, "
        f"{results['fire_file']['fires']} fires per run; shipped pathway refusals per round: "
        f"{results['fire_shipped']['refused_per_round']}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="care-pathway core benchmarks, each as a ratio to a same-run baseline."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures as JSON")
    parser.add_argument("--cases", type=int, help="cases opened before firing")
    parser.add_argument("--fires", type=int, help="fires per timed run (round-robin over cases)")
    parser.add_argument("--rounds", type=int, help="alternating library/baseline rounds")
    parser.add_argument("--load-reps", type=int, help="load_pathway calls per timed run")
    parser.add_argument(
        "--dir", type=Path, help="where the temporary SQLite files go (default: the system temp)"
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    size = dict(SIZES[mode])
    for key in size:
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
    if min(size.values()) < 1:
        parser.error("--cases, --fires, --rounds and --load-reps must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="pathway-bench-", dir=args.dir))
    try:
        loop_path = work / "loop.yaml"
        loop_path.write_text(LOOP_YAML, encoding="utf-8")
        cases, fires, rounds = size["cases"], size["fires"], size["rounds"]
        fire_file = measure_fire("file", work, loop_path, cases, fires, rounds)
        fire_memory = measure_fire("memory", work, loop_path, cases, fires, rounds)
        fire_shipped = measure_fire_shipped(work, cases, fires, rounds)
        definitions = [("minimal", MINIMAL)]
        if BARNET.exists():
            definitions.append(("barnet-enablement", BARNET))
        load = [measure_load(n, p, size["load_reps"], rounds) for n, p in definitions]
        if not BARNET.exists():
            load.append({"definition": "barnet-enablement", "skipped": "file not present"})
        load_plugins = measure_plugins_load(size["load_reps"], rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "sizes": size,
            "command": " ".join(
                ["python", "benchmarks/bench_core.py", *(sys.argv[1:] if argv is None else argv)]
            ),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "pathway_version": pathway.__version__,
        },
        "fire_file": fire_file,
        "fire_memory": fire_memory,
        "fire_shipped": fire_shipped,
        "fire_target": FIRE_TARGET,
        "load": load,
        "load_plugins": load_plugins,
    }
    print(_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
