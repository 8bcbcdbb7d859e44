"""The PostgreSQL store's benchmarks, each a RATIO to a baseline measured in the same run.

1. ``fire`` on PostgreSQL: ``Engine.fire`` on a PostgreSQL store (one transaction per
   transition, committed durably with the server's defaults) against a plain psycopg loop doing,
   per transition, what any durable, optimistically concurrent implementation must:
   ``UPDATE cases ... WHERE id = %s AND version = %s`` (row count checked), ``INSERT INTO events``
   and a commit, on tables of the same shape (created ``LIKE`` the store's own, indexes included)
   in a schema of their own. Library and baseline run alternately (the side that goes first swaps
   every round) and the median of the per-round ratios is reported. Target: ratio >= 0.5.
2. Writers: 1, 4 and 8 OS processes firing on distinct cases of one store, on PostgreSQL and on
   the SQLite file store (WAL, ``synchronous=FULL``) under the same load in the same run. Each
   figure is transitions per second of the whole store (all writers' fires over the wall time from
   a common start to the last finish); each store's figures are given as ratios to its own
   1-writer figure. PostgreSQL serialises appends only on its chain head, from the append to the
   commit; SQLite serialises whole write transactions on its file lock.

Usage::

    python benchmarks/bench_postgres.py                 # full run (about 2 minutes on 2 cores)
    python benchmarks/bench_postgres.py --quick         # a smoke check (about 20 s)
    python benchmarks/bench_postgres.py --json out.json --url postgresql://root@127.0.0.1/test

The server is ``--url``, else ``$PATHWAY_TEST_POSTGRES``, else the local one
(``postgresql://root@127.0.0.1:5432/test``); every schema the run creates is dropped at its end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import pathway
from pathway import Actor, Engine, load_pathway, open_store
from pathway.store.postgres import drop_store, parse_location, with_schema

ROOT = Path(__file__).resolve().parent.parent
FIRE_TARGET = 0.5
DEFAULT_URL = "postgresql://root@127.0.0.1:5432/test"
WRITERS = (1, 4, 8)

# The loop of bench_core.py: a (council) -> b (trust) with a guard, and back, for ever.
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
PLACES = (("a", "team_a", "council"), ("b", "team_b", "trust"))
TRIGGERS = ("go", "back")

SIZES = {
    "full": {"cases": 200, "fires": 3000, "rounds": 5, "writer_fires": 800, "writer_rounds": 5},
    "quick": {"cases": 20, "fires": 300, "rounds": 1, "writer_fires": 60, "writer_rounds": 1},
}


def _counter_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that moves on by a millisecond a call: deterministic and always increasing."""
    ticks = 0

    def clock() -> datetime:
        nonlocal ticks
        ticks += 1
        return start + timedelta(milliseconds=ticks)

    return clock


def _case_ids(cases: int, prefix: str = "case") -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(cases)]


class Schemas:
    """Fresh schemas on the server for one run, all dropped at its end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tag = f"pathway_bench_{secrets.token_hex(3)}"
        self.made: list[str] = []

    def new(self, name: str) -> str:
        schema = f"{self.tag}_{len(self.made)}_{name}"
        self.made.append(schema)
        return with_schema(self.url, schema)

    def drop(self) -> None:
        with psycopg.connect(parse_location(self.url).conninfo, autocommit=True) as conn:
            for schema in self.made:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


# --- 1. fire against a plain psycopg loop ----------------------------------------------------


def _engine_setup(location: str, loop_path: Path, cases: int, prefix: str = "case") -> Engine:
    store = open_store(location)
    engine = Engine(
        load_pathway(loop_path), store, clock=_counter_clock(datetime(2026, 1, 5, tzinfo=UTC))
    )
    actor = Actor("worker-1", "team_a")
    for case_id in _case_ids(cases, prefix):
        engine.open_case(case_id, actor, data={"plan": "weekly visits"})
    return engine


def _engine_run(engine: Engine, cases: int, fires: int, prefix: str = "case") -> float:
    actor = Actor("worker-1", "team_a")
    ids = _case_ids(cases, prefix)
    fire = engine.fire
    gc.collect()
    start = time.perf_counter()
    for k in range(fires):
        fire(ids[k % cases], TRIGGERS[(k // cases) % 2], actor)
    return time.perf_counter() - start


_BASE_UPDATE = (
    "UPDATE cases SET state = %s, team = %s, organisation = %s, worker = %s, "
    "version = version + 1, state_entered_at = %s, last_seq = last_seq + 1, last_at = %s "
    "WHERE id = %s AND version = %s"
)
_BASE_INSERT = (
    "INSERT INTO events (position, event_id, case_id, seq, occurred_at, recorded_at, trigger, "
    "from_state, to_state, from_team, to_team, from_organisation, to_organisation, actor_id, "
    "actor_team, actor_roles, outcome, pathway_id, pathway_version, reasons, note, data, "
    "imported, closes, prev_hash, hash) VALUES (" + ", ".join(["%s"] * 26) + ")"
)


def _baseline_setup(location: str, like: str, cases: int) -> psycopg.Connection[Any]:
    """A schema with ``cases`` and ``events`` created LIKE the store's (indexes included)."""
    where, model = parse_location(location), parse_location(like)
    conn = psycopg.connect(where.conninfo)
    schema, source = sql.Identifier(where.schema), sql.Identifier(model.schema)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
    for table in ("cases", "events"):
        conn.execute(
            sql.SQL("CREATE TABLE {}.{} (LIKE {}.{} INCLUDING ALL)").format(
                schema, sql.Identifier(table), source, sql.Identifier(table)
            )
        )
    conn.execute(sql.SQL("SET search_path TO {}").format(schema))
    now = "2026-01-05T09:00:00.000000+00:00"
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO cases (id, pathway_id, pathway_version, state, team, organisation, "
            "worker, version, opened_at, state_entered_at, attributes, last_seq, last_at, "
            "first_at) VALUES (%s, 'bench_loop', '1', 'a', 'team_a', 'council', 'worker-1', 1, "
            '%s, %s, \'{"plan":"weekly visits"}\', 1, %s, 0)',
            [(case_id, now, now, now) for case_id in _case_ids(cases)],
        )
    conn.commit()
    return conn


def _baseline_run(conn: psycopg.Connection[Any], cases: int, fires: int) -> float:
    """Per transition: versioned UPDATE (row count checked), INSERT of an event, COMMIT."""
    ids = _case_ids(cases)
    versions = dict.fromkeys(ids, 1)
    hash_a, hash_b = "0" * 64, "f" * 64
    cur = conn.cursor()
    execute, commit = cur.execute, conn.commit
    gc.collect()
    start = time.perf_counter()
    for k in range(fires):
        case_id = ids[k % cases]
        src_state, src_team, src_org = PLACES[(k // cases) % 2]
        dst_state, dst_team, dst_org = PLACES[(k // cases + 1) % 2]
        version = versions[case_id]
        when = f"2026-01-05T09:{k // 60000 % 60:02d}:{k // 1000 % 60:02d}.{k % 1000:03d}000+00:00"
        execute(_BASE_UPDATE, (dst_state, dst_team, dst_org, None, when, when, case_id, version))
        if cur.rowcount != 1:
            raise RuntimeError(f"baseline: version conflict on {case_id}")
        execute(
            _BASE_INSERT,
            (
                k + 1, f"{k:032x}", case_id, version + 1, when, when, TRIGGERS[(k // cases) % 2],
                src_state, dst_state, src_team, dst_team, src_org, dst_org, "worker-1",
                "team_a", "[]", "applied", "bench_loop", "1", "[]", None, "{}", 0, 0,
                hash_a, hash_b,
            ),
        )  # fmt: skip
        commit()
        versions[case_id] = version + 1
    return time.perf_counter() - start


def measure_fire(
    schemas: Schemas, loop_path: Path, cases: int, fires: int, rounds: int
) -> dict[str, Any]:
    """Alternate library and baseline runs ``rounds`` times; report medians and their ratio."""
    engine_rates: list[float] = []
    base_rates: list[float] = []
    for r in range(rounds):
        store_loc = schemas.new(f"fire{r}")
        base_loc = schemas.new(f"base{r}")

        def run_engine(store_loc: str = store_loc) -> None:
            engine = _engine_setup(store_loc, loop_path, cases)
            try:
                engine_rates.append(fires / _engine_run(engine, cases, fires))
            finally:
                engine.store.close()

        def run_baseline(base_loc: str = base_loc, like: str = store_loc) -> None:
            conn = _baseline_setup(base_loc, like, cases)
            try:
                base_rates.append(fires / _baseline_run(conn, cases, fires))
            finally:
                conn.close()

        open_store(store_loc).close()  # the baseline's tables are made LIKE the store's
        order = (run_engine, run_baseline) if r % 2 == 0 else (run_baseline, run_engine)
        for run in order:
            run()
    ratios = [e / b for e, b in zip(engine_rates, base_rates, strict=True)]
    return {
        "store": "postgresql",
        "cases": cases,
        "fires": fires,
        "rounds": rounds,
        "fires_per_s": statistics.median(engine_rates),
        "baseline_per_s": statistics.median(base_rates),
        "us_per_fire": 1e6 / statistics.median(engine_rates),
        "us_per_baseline": 1e6 / statistics.median(base_rates),
        "ratio": statistics.median(ratios),
        "ratio_per_round": ratios,
        "fires_per_s_per_round": engine_rates,
        "baseline_per_s_per_round": base_rates,
    }


# --- 2. writer processes on distinct cases -----------------------------------------------------


def worker(location: str, loop_path: str, prefix: str, cases: int, fires: int) -> None:
    """One writer process: open its cases, say "ready", wait for "go", fire, print its time."""
    engine = _engine_setup(location, Path(loop_path), cases, prefix)
    print("ready", flush=True)
    sys.stdin.readline()
    elapsed = _engine_run(engine, cases, fires, prefix)
    engine.store.close()
    print(json.dumps({"fires": fires, "seconds": elapsed}), flush=True)


def _writers_round(
    location: str, loop_path: Path, writers: int, fires: int, cases: int, tag: str
) -> float:
    """Transitions per second of the whole store with ``writers`` processes at once."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                location,
                str(loop_path),
                f"{tag}-w{n}",
                str(cases),
                str(fires),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"writer did not start: {line!r}")
        start = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        total = 0
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"writer failed with exit code {proc.returncode}")
            total += json.loads(out.strip().splitlines()[-1])["fires"]
        return total / (time.perf_counter() - start)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def measure_writers(
    schemas: Schemas, work: Path, loop_path: Path, fires: int, rounds: int
) -> dict[str, Any]:
    """1, 4 and 8 writers on each store, the stores alternating; medians and ratios to 1."""
    rates: dict[str, dict[int, list[float]]] = {
        "postgresql": {n: [] for n in WRITERS},
        "sqlite": {n: [] for n in WRITERS},
    }
    cases = 10  # per writer
    for r in range(rounds):
        for n in WRITERS:
            pg_loc = schemas.new(f"w{n}r{r}")
            lite_loc = str(work / f"writers-{n}-{r}.db")
            for location in (pg_loc, lite_loc):
                open_store(location).close()  # created before the writers start
            pairs = [("postgresql", pg_loc), ("sqlite", lite_loc)]
            if (r + n) % 2:
                pairs.reverse()
            for name, location in pairs:
                rates[name][n].append(
                    _writers_round(location, loop_path, n, fires, cases, f"r{r}n{n}")
                )
            drop_store(pg_loc)
    result: dict[str, Any] = {"fires_per_writer": fires, "rounds": rounds, "writers": WRITERS}
    for name, by_n in rates.items():
        medians = {n: statistics.median(v) for n, v in by_n.items()}
        result[name] = {
            "fires_per_s": {str(n): medians[n] for n in WRITERS},
            "ratio_to_1": {str(n): medians[n] / medians[1] for n in WRITERS},
            "fires_per_s_per_round": {str(n): by_n[n] for n in WRITERS},
        }
    return result


# --- output -----------------------------------------------------------------------------------


def _server_settings(url: str) -> dict[str, Any]:
    with psycopg.connect(parse_location(url).conninfo) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            for name in ("synchronous_commit", "fsync", "wal_sync_method", "max_connections")
        }
    return {
        "server_version": version[0] if version else None,
        **{k: v[0] if v else None for k, v in settings.items()},
    }


def _table(results: dict[str, Any]) -> str:
    meta, fire, writers = results["meta"], results["fire_postgres"], results["writers"]
    lines = [
        f"care-pathway {meta['pathway_version']}  Python {meta['python']}  PostgreSQL "
        f"{meta['server']['server_version']} (synchronous_commit={meta['server']['synchronous_commit']})"
        f"  SQLite {meta['sqlite']}  {meta['cpu_count']} CPUs  {meta['date']}  mode={meta['mode']}",
        "load average (1, 5, 15 min) before "
        + ", ".join(f"{x:.2f}" for x in meta["load_average_before"])
        + "; after "
        + ", ".join(f"{x:.2f}" for x in meta.get("load_average_after", ()))
        + " (other processes on the machine compete for its CPUs)",
        "",
    ]
    verdict = "ok" if fire["ratio"] >= FIRE_TARGET else "BELOW TARGET"
    lines.append(
        f"fire, PostgreSQL: {fire['fires_per_s']:.0f} fires/s, plain psycopg loop "
        f"{fire['baseline_per_s']:.0f} /s, ratio {fire['ratio']:.3f} (target >= {FIRE_TARGET}: "
        f"{verdict}); per round {', '.join(f'{x:.2f}' for x in fire['ratio_per_round'])}"
    )
    lines.append("")
    head = f"{'writers':>8} {'PostgreSQL /s':>14} {'ratio to 1':>11} {'SQLite /s':>11} {'ratio to 1':>11}"
    lines += [head, "-" * len(head)]
    for n in writers["writers"]:
        pg, lite = writers["postgresql"], writers["sqlite"]
        lines.append(
            f"{n:>8} {pg['fires_per_s'][str(n)]:>14.0f} {pg['ratio_to_1'][str(n)]:>11.2f} "
            f"{lite['fires_per_s'][str(n)]:>11.0f} {lite['ratio_to_1'][str(n)]:>11.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        location, loop_path, prefix, cases, fires = args[1:6]
        worker(location, loop_path, prefix, int(cases), int(fires))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke check")
    parser.add_argument("--url", help="the PostgreSQL server (default: $PATHWAY_TEST_POSTGRES)")
    parser.add_argument("--cases", type=int)
    parser.add_argument("--fires", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--writer-fires", type=int, help="fires per writer process")
    parser.add_argument("--writer-rounds", type=int)
    parser.add_argument("--dir", type=Path, help="directory for the SQLite files")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(args)
    mode = "quick" if options.quick else "full"
    sizes = dict(SIZES[mode])
    for key in sizes:
        given = getattr(options, key)
        if given is not None:
            sizes[key] = given
    url = options.url or os.environ.get("PATHWAY_TEST_POSTGRES") or DEFAULT_URL
    work = Path(tempfile.mkdtemp(prefix="pathway-bench-pg-", dir=options.dir))
    schemas = Schemas(url)
    try:
        loop_path = work / "loop.yaml"
        loop_path.write_text(LOOP_YAML, encoding="utf-8")
        results: dict[str, Any] = {
            "meta": {
                "mode": mode,
                "sizes": sizes,
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "pathway_version": pathway.__version__,
                "cpu_count": os.cpu_count(),
                "server": _server_settings(url),
                "command": "python benchmarks/bench_postgres.py " + " ".join(args),
                "load_average_before": os.getloadavg(),
            }
        }
        results["fire_postgres"] = measure_fire(
            schemas, loop_path, sizes["cases"], sizes["fires"], sizes["rounds"]
        )
        results["fire_target"] = FIRE_TARGET
        results["writers"] = measure_writers(
            schemas, work, loop_path, sizes["writer_fires"], sizes["writer_rounds"]
        )
        results["meta"]["load_average_after"] = os.getloadavg()
    finally:
        schemas.drop()
        shutil.rmtree(work, ignore_errors=True)
    print(_table(results))
    if options.json is not None:
        options.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
