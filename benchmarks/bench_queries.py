"""Case queries and history pages (issue 18 item 2): a page of 100 must cost milliseconds, flat as
the store grows from ~100k to ~1M events.

Two stores are built from the seeded synthetic log of ``generate_log.py`` (``--small-cases`` and
``--cases`` cases, about ten events each) by ``import_events``, on SQLite and, given a server
(``--url`` or ``$PATHWAY_TEST_POSTGRES``), on PostgreSQL. On each store, each query below is
asked for a page of 100 starting at a random place (a random position, case or id, drawn once
per round and used by both sides), and timed against a **baseline measured in the same run**:
the plainest indexed read of 100 rows of the same table with no filter, by its primary key,
through a plain connection (``sqlite3``, or ``psycopg``), rows fetched but not turned into
objects:

* events: ``SELECT <event columns> FROM events WHERE position > ? ORDER BY position LIMIT 101``
* cases: ``SELECT <case columns> FROM cases WHERE id > ? ORDER BY id LIMIT 101``

The library side is the public call (``store.query_history`` / ``store.query_cases``), which also
builds each ``AuditEvent`` / ``Case``. Rounds alternate library and baseline; the figures are
medians of per-call times. Two ratios are reported: library ÷ baseline on the same store, and
**flatness**, the library's page time on the big store ÷ on the small one (1 is flat; 10 would be
linear in the store's size). The script exits 1 if a page's answer differs from the same page
read by the baseline SQL (the pages are checked before timing).

What the indexes cost the writers (``--fire-rounds``, 0 to skip): ``engine.fire`` on
``bench_core.py``'s loop pathway on two new stores of the same backend, one with the query
indexes and one with them dropped, alternately; the figure is fires/s with ÷ without.

Usage::

    python benchmarks/bench_queries.py --json bench-queries.json       # 10k and 100k cases
    python benchmarks/bench_queries.py --quick                          # a smoke check
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_core
import generate_log

import pathway
from pathway import CaseQuery, HistoryQuery, open_store
from pathway.importer import import_events
from pathway.store.base import CASE_COLUMNS, EVENT_COLUMNS
from pathway.store.query import _BY_CHANGE, _BY_ID, _encode

SIZES = {
    "full": {
        "cases": 100_000,
        "small_cases": 10_000,
        "rounds": 5,
        "calls": 200,
        "fire_rounds": 5,
        "fire_cases": 200,
        "fires": 2400,
    },
    "quick": {
        "cases": 400,
        "small_cases": 100,
        "rounds": 2,
        "calls": 20,
        "fire_rounds": 1,
        "fire_cases": 20,
        "fires": 80,
    },
}
PAGE = 100
EVENTS_PAGE = (
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE position > ? ORDER BY position LIMIT ?"
)
CASES_PAGE = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE id > ? ORDER BY id LIMIT ?"


class Raw:
    """A plain connection to the store's tables (the baseline), taking ``?`` placeholders."""

    def __init__(self, location: str) -> None:
        self.pg = location.startswith("postgresql://")
        if self.pg:
            import psycopg

            from pathway.store.postgres import parse_location

            where = parse_location(location)
            self.conn: Any = psycopg.connect(
                where.conninfo, autocommit=True, options=f"-c search_path={where.schema}"
            )
        else:
            self.conn = sqlite3.connect(location, isolation_level=None)

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self.pg:
            sql = sql.replace("?", "%s")
        return list(self.conn.execute(sql, params).fetchall())

    def close(self) -> None:
        self.conn.close()


def build(csv_path: Path, location: str) -> tuple[float, int]:
    """Import the log into a new store at ``location``; (seconds, events)."""
    store = open_store(location)
    try:
        start = time.perf_counter()
        result = import_events(store, csv_path, final_states=["closed"])
        return time.perf_counter() - start, result.rows
    finally:
        store.close()


def _queries(raw: Raw) -> dict[str, tuple[Callable[[float], Any], str]]:
    """Each measured query: a maker of its query from a random key in [0, 1), and the table of
    its baseline."""
    ids = [r[0] for r in raw.rows("SELECT id FROM cases ORDER BY id", ())]
    head = int(raw.rows("SELECT max(position) FROM events", ())[0][0])
    recent = sorted(r[0] for r in raw.rows("SELECT last_at FROM cases", ()))
    late = recent[int(len(recent) * 0.9)]  # changed since: the newest tenth of the cases

    def history_store(key: float) -> Any:
        return HistoryQuery(after=str(int(key * head * 0.99)), limit=PAGE)

    def history_case(key: float) -> Any:
        return HistoryQuery(case_id=ids[int(key * len(ids))], limit=PAGE)

    def cursor(key: float) -> str:
        return _encode([_BY_ID, ids[int(key * len(ids) * 0.9)]])

    def cases_all(key: float) -> Any:
        return CaseQuery(after=cursor(key), limit=PAGE)

    def cases_state(key: float) -> Any:
        return CaseQuery(state="specialist_support", after=cursor(key), limit=PAGE)

    def cases_team_open(key: float) -> Any:
        return CaseQuery(team="cmht", open=True, after=cursor(key), limit=PAGE)

    def cases_open(key: float) -> Any:
        return CaseQuery(open=True, after=cursor(key), limit=PAGE)

    def cases_changed(key: float) -> Any:
        since = datetime.fromisoformat(late)
        at = recent[int(len(recent) * (0.9 + 0.09 * key))]
        return CaseQuery(changed_since=since, after=_encode([_BY_CHANGE, at, ids[0]]), limit=PAGE)

    return {
        "history, whole store": (history_store, "events"),
        "history, one case": (history_case, "events"),
        "cases, no filter": (cases_all, "cases"),
        "cases, state": (cases_state, "cases"),
        "cases, team + open": (cases_team_open, "cases"),
        "cases, open": (cases_open, "cases"),
        "cases, changed since": (cases_changed, "cases"),
    }


def _check(store: Any, raw: Raw, make: Callable[[float], Any]) -> None:
    """The library's page is the page the plain SQL reads (before anything is timed)."""
    from pathway.store.query import case_page_sql

    for key in (0.0, 0.37, 0.99):
        query = make(key)
        if isinstance(query, HistoryQuery):
            page = store.query_history(query)
            if query.case_id is None:
                rows = raw.rows(EVENTS_PAGE, (int(query.after or 0), PAGE))
                expected = [row[1] for row in rows]
            else:
                rows = raw.rows(
                    "SELECT event_id FROM events WHERE case_id = ? ORDER BY seq", (query.case_id,)
                )
                expected = [row[0] for row in rows][:PAGE]
            got = [event.event_id for event in page.items]
        else:
            page = store.query_cases(query)
            sql, params = case_page_sql(query)
            expected = [row[0] for row in raw.rows(sql, tuple(params))][:PAGE]
            got = [case.id for case in page.items]
        if got != expected:
            raise SystemExit(f"page differs from the plain SQL's for {query!r}")


def _time_calls(calls: list[Callable[[], Any]]) -> float:
    """Median seconds per call."""
    times = []
    gc.collect()
    for call in calls:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_store(location: str, rounds: int, calls: int, seed: int) -> dict[str, Any]:
    store = open_store(location, create=False)
    raw = Raw(location)
    rng = random.Random(seed)
    try:
        queries = _queries(raw)
        for make, _table in queries.values():
            _check(store, raw, make)
        head = int(raw.rows("SELECT max(position) FROM events", ())[0][0])
        ids = [r[0] for r in raw.rows("SELECT id FROM cases ORDER BY id", ())]
        out: dict[str, Any] = {}
        for name, (make, table) in queries.items():
            lib_times: list[float] = []
            base_times: list[float] = []
            for r in range(rounds):
                keys = [rng.random() for _ in range(calls)]
                made = [make(k) for k in keys]
                is_history = isinstance(made[0], HistoryQuery)
                asks = store.query_history if is_history else store.query_cases
                library = [lambda q=q, asks=asks: asks(q) for q in made]
                if table == "events":
                    baseline = [
                        lambda k=k: raw.rows(EVENTS_PAGE, (int(k * head * 0.99), PAGE + 1))
                        for k in keys
                    ]
                else:
                    baseline = [
                        lambda k=k: raw.rows(CASES_PAGE, (ids[int(k * len(ids) * 0.9)], PAGE + 1))
                        for k in keys
                    ]
                sides = [(library, lib_times), (baseline, base_times)]
                if r % 2:
                    sides.reverse()
                for work, sink in sides:
                    sink.append(_time_calls(work))
            lib, base = statistics.median(lib_times), statistics.median(base_times)
            out[name] = {
                "library_ms": lib * 1000,
                "baseline_ms": base * 1000,
                "ratio": lib / base,
                "ratio_per_round": [a / b for a, b in zip(lib_times, base_times, strict=True)],
            }
        return out
    finally:
        raw.close()
        store.close()


QUERY_INDEXES = (
    "cases_by_state", "cases_by_team", "cases_by_change", "cases_open", "cases_open_by_team_id",
)  # fmt: skip


def measure_fire_cost(
    locate: Callable[[str], str], work: Path, rounds: int, cases: int, fires: int
) -> dict[str, Any]:
    """fires/s with the query indexes ÷ without them, on two new stores, alternately.

    ``fires`` must be an even multiple of ``cases``: every case then ends a round where it began.
    """
    if fires % (2 * cases):
        raise SystemExit("the fire cost needs --fires to be a multiple of twice the cases")
    loop = work / "loop.yaml"
    loop.write_text(bench_core.LOOP_YAML, encoding="utf-8")
    engines = {}
    for side in ("with", "without"):
        location = locate(f"fire_{side}")
        engine, store = bench_core._engine_setup(location, loop, cases)
        if side == "without":
            raw = Raw(location)
            for name in QUERY_INDEXES:
                raw.conn.execute(f"DROP INDEX {name}")
            raw.close()
        engines[side] = (engine, store)
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for r in range(rounds):
        order = ["with", "without"] if r % 2 == 0 else ["without", "with"]
        for side in order:
            seconds = bench_core._engine_run(engines[side][0], cases, fires)
            rates[side].append(fires / seconds)
    for _engine, store in engines.values():
        store.close()
    per_round = [a / b for a, b in zip(rates["with"], rates["without"], strict=True)]
    return {
        "fires_per_s_with": statistics.median(rates["with"]),
        "fires_per_s_without": statistics.median(rates["without"]),
        "ratio": statistics.median(per_round),
        "ratio_per_round": per_round,
    }


def _table(results: dict[str, Any]) -> str:
    lines = []
    for backend, sizes in results["stores"].items():
        lines.append(f"\n{backend}:")
        if "big" in sizes:
            small, big = sizes["small"], sizes["big"]
            lines.append(
                f"{small['events']:,} and {big['events']:,} events "
                f"({small['cases']:,} and {big['cases']:,} cases); a page of {PAGE}"
            )
            lines.append(
                f"{'query':<24}{'small ms':>10}{'big ms':>10}{'big/small':>11}"
                f"{'base ms':>10}{'lib/base':>10}"
            )
            for name, figure in big["queries"].items():
                before = small["queries"][name]
                lines.append(
                    f"{name:<24}{before['library_ms']:>10.3f}{figure['library_ms']:>10.3f}"
                    f"{figure['library_ms'] / before['library_ms']:>11.2f}"
                    f"{figure['baseline_ms']:>10.3f}{figure['ratio']:>10.2f}"
                )
        fire = sizes.get("fire")
        if fire:
            lines.append(
                f"engine.fire with the query indexes / without: {fire['ratio']:.3f} "
                f"({fire['fires_per_s_with']:.0f} vs {fire['fires_per_s_without']:.0f} fires/s; "
                f"rounds {', '.join(f'{x:.3f}' for x in fire['ratio_per_round'])})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke check")
    parser.add_argument("--cases", type=int, help="cases of the big store")
    parser.add_argument("--small-cases", type=int, help="cases of the small store")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--calls", type=int, help="pages timed per query per round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fire-rounds", type=int, help="rounds of the fire cost (0: skip)")
    parser.add_argument(
        "--queries",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the pages (--no-queries: the fire cost only)",
    )
    parser.add_argument("--url", help="a PostgreSQL server (default: $PATHWAY_TEST_POSTGRES)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--dir", type=Path, help="directory for the temporary files")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    sizes = dict(SIZES[mode])
    for key in ("cases", "small_cases", "rounds", "calls", "fire_rounds"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    url = None if args.no_postgres else (args.url or os.environ.get("PATHWAY_TEST_POSTGRES"))
    work = Path(tempfile.mkdtemp(prefix="pathway-bench-", dir=args.dir))
    results: dict[str, Any] = {
        "meta": {
            "mode": mode,
            "sizes": sizes,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "version": pathway.__version__,
        },
        "stores": {},
    }
    made_schemas: list[str] = []
    try:
        logs = {}
        for label, cases in (("small", sizes["small_cases"]), ("big", sizes["cases"])):
            logs[label] = work / f"{label}.csv"
            generate_log.write_log(logs[label], cases, args.seed)
        backends: list[tuple[str, Callable[[str], str]]] = []
        if not args.no_sqlite:
            backends.append(("sqlite", lambda label: str(work / f"{label}.db")))
        if url:
            from pathway.store.postgres import with_schema

            tag = f"bench_queries_{os.getpid()}"

            def pg_location(label: str) -> str:
                made_schemas.append(f"{tag}_{label}")
                return with_schema(url, f"{tag}_{label}")

            backends.append(("postgresql", pg_location))
        for backend, locate in backends:
            entry: dict[str, Any] = {}
            if sizes["fire_rounds"]:
                entry["fire"] = measure_fire_cost(
                    locate, work, sizes["fire_rounds"], sizes["fire_cases"], sizes["fires"]
                )
                print(f"{backend} fire cost: {entry['fire']['ratio']:.3f}", flush=True)
            results["stores"][backend] = entry
            if not args.queries:
                continue
            for label, cases in (("small", sizes["small_cases"]), ("big", sizes["cases"])):
                location = locate(label)
                seconds, events = build(logs[label], location)
                print(
                    f"{backend} {label}: {events:,} events imported in {seconds:.1f} s", flush=True
                )
                entry[label] = {
                    "cases": cases,
                    "events": events,
                    "import_s": seconds,
                    "queries": measure_store(location, sizes["rounds"], sizes["calls"], args.seed),
                }
        print(_table(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if made_schemas and url:
            from pathway.store.postgres import drop_store, with_schema

            for schema in made_schemas:
                drop_store(with_schema(url, schema))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
