"""Load test of the HTTP service, as a RATIO to the same operations through the library, in one run.

The workload replays the shipped sample cases (the Barnet pathway's, without plug-ins) under new
case ids, each step by the actor the sample names, with the sample's time and data, so every
guard runs as it does for a council. From a seeded random draw, some steps are **retried** (the
same request again, same ``Idempotency-Key``: the first response must come back and nothing more
be written) and some run into a **conflict** (first sent with a stale ``If-Match``: a 412, then
re-read and sent again). Every fire carries ``If-Match`` and a key.

(a) **service**: ``pathway serve`` (one worker process, SQLite, loopback) driven by ``--clients``
    concurrent clients (threads with their own HTTP connection, each taking whole cases from a
    queue) until at least ``--requests`` requests are made; requests per second.
(b) **library**: the same operations (each request one ``open_case``/``fire`` call, retries as
    idempotent replays, conflicts as a stale ``expected_version``) on a fresh store, in process,
    one thread; operations per second.

Ratio = (a) / (b), per round, sides alternating; the median is reported. Target >= 0.3.

After each service round the script checks what must hold whatever the timing: every case's
versions and event numbers contiguous, each step applied at most once (no doubled transition),
each case in the state its sample ends in (no lost transition), and ``audit verify`` passing. A
failed check exits 1.

Usage::

    python benchmarks/bench_server.py --json bench-server.json   # full: 20 clients, >= 2,000 requests
    python benchmarks/bench_server.py --quick                    # a smoke run, seconds

Needs the ``server`` extra and httpx (the test extra).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import httpx

from pathway import ConcurrencyConflict, Engine, TransitionRefused, open_store
from pathway.samples import SampleCase, load_sample, shipped_samples
from pathway.timeutil import format_instant
from pathway.tokens import create_token
from pathway.workspace import init_store

PATHWAY = "barnet-enablement"


@attrs.frozen
class Op:
    """One request of the workload."""

    case_id: str
    trigger: str
    actor: tuple[str, str, tuple[str, ...]]
    at: str
    data: dict[str, Any]
    note: str | None
    key: str
    retry: bool
    conflict: bool


def _samples() -> list[SampleCase]:
    found = []
    for name in sorted(shipped_samples()):
        sample = load_sample(name)
        if sample.pathway == PATHWAY and not sample.plugins:
            found.append(sample)
    return found


def workload(requests: int, seed: int) -> tuple[list[list[Op]], dict[str, SampleCase]]:
    """Cases (each a list of ops in order) until the requests they make reach ``requests``."""
    rng = random.Random(seed)
    samples = _samples()
    cases: list[list[Op]] = []
    of: dict[str, SampleCase] = {}
    total = 0
    n = 0
    while total < requests:
        sample = samples[n % len(samples)]
        case_id = f"L{n:05d}"
        of[case_id] = sample
        ops = []
        for i, step in enumerate(sample.steps):
            op = Op(
                case_id=case_id, trigger=step.trigger,
                actor=(step.actor.id, step.actor.team, tuple(step.actor.roles)),
                at=format_instant(step.when), data=dict(step.data), note=step.note,
                key=f"{case_id}-{i}", retry=rng.random() < 0.10,
                conflict=i > 0 and rng.random() < 0.05,
            )  # fmt: skip
            ops.append(op)
            total += 1 + op.retry + op.conflict
        cases.append(ops)
        n += 1
    return cases, of


def request_count(cases: list[list[Op]]) -> int:
    return sum(1 + op.retry + op.conflict for ops in cases for op in ops)


# --- (b) the library ----------------------------------------------------------------------


def run_library(folder: Path, cases: list[list[Op]]) -> float:
    location = str(folder / "library.db")
    store, compiled = init_store(location, PATHWAY)
    engine = Engine(compiled, store)
    from pathway import Actor
    from pathway.timeutil import parse_instant

    started = time.perf_counter()
    for ops in cases:
        version = 0
        for op in ops:
            actor = Actor(*op.actor)
            at = parse_instant(op.at)
            if op.trigger == "open":
                for _ in range(1 + op.retry):
                    case = engine.open_case(
                        op.case_id, actor, at=at, data=op.data, note=op.note, idempotency_key=op.key
                    )
                version = case.version
                continue
            if op.conflict:
                with contextlib.suppress(ConcurrencyConflict):
                    engine.fire(
                        op.case_id, op.trigger, actor, at=at, expected_version=version - 1,
                        data=op.data, note=op.note, idempotency_key=op.key + "-stale",
                    )  # fmt: skip
            for _ in range(1 + op.retry):
                try:
                    case = engine.fire(
                        op.case_id, op.trigger, actor, at=at, expected_version=version,
                        data=op.data, note=op.note, idempotency_key=op.key,
                    )  # fmt: skip
                except TransitionRefused:
                    case = engine.store.case(op.case_id)
            version = case.version
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


# --- (a) the service ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    def __init__(self, folder: Path, cases: list[list[Op]], threads: int) -> None:
        self.location = str(folder / "service.db")
        store, compiled = init_store(self.location, PATHWAY)
        self.tokens: dict[tuple[str, str, tuple[str, ...]], str] = {}
        for ops in cases:
            for op in ops:
                if op.actor not in self.tokens:
                    self.tokens[op.actor] = create_token(
                        store, worker=op.actor[0], team=op.actor[1], roles=op.actor[2],
                        created_by="bench", teams=list(compiled.teams),
                    )[1]  # fmt: skip
        store.close()
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PATHWAY_DB": self.location}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pathway", "serve", "--port", str(self.port),
             "--threads", str(threads), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the service did not start: {self.process.stderr}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _client_loop(service: Service, work: queue.Queue[list[Op]],
                 problems: list[str], counter: list[int], lock: threading.Lock) -> None:  # fmt: skip
    with httpx.Client(base_url=service.base, timeout=60) as http:
        while True:
            try:
                ops = work.get_nowait()
            except queue.Empty:
                return
            etag = ""
            made = 0
            for op in ops:
                auth = {"Authorization": f"Bearer {service.tokens[op.actor]}"}
                if op.trigger == "open":
                    body = {"id": op.case_id, "at": op.at, "data": op.data, "note": op.note}
                    answers = [
                        http.post("/cases", json=body, headers={**auth, "Idempotency-Key": op.key})
                        for _ in range(1 + op.retry)
                    ]
                    made += len(answers)
                    if answers[0].status_code != 201 or any(
                        a.json() != answers[0].json() for a in answers
                    ):
                        problems.append(f"{op.case_id}: open answered {answers[0].status_code}")
                    etag = answers[0].headers.get("etag", "")
                    continue
                body = {"trigger": op.trigger, "at": op.at, "data": op.data, "note": op.note}
                path = f"/cases/{op.case_id}/fire"
                if op.conflict:
                    stale = f'"{int(etag.strip(chr(34))) - 1}"'
                    answer = http.post(path, json=body, headers={
                        **auth, "If-Match": stale, "Idempotency-Key": op.key + "-stale"})  # fmt: skip
                    made += 1
                    if answer.status_code != 412:
                        problems.append(f"{op.case_id}: stale If-Match gave {answer.status_code}")
                    etag = http.get(f"/cases/{op.case_id}", headers=auth).headers["etag"]
                    made += 1
                answers = [
                    http.post(
                        path,
                        json=body,
                        headers={**auth, "If-Match": etag, "Idempotency-Key": op.key},
                    )
                    for _ in range(1 + op.retry)
                ]
                made += len(answers)
                first = answers[0]
                if first.status_code not in (200, 422):
                    problems.append(f"{op.case_id} {op.trigger}: {first.status_code} {first.text}")
                if any((a.status_code, a.text) != (first.status_code, first.text) for a in answers):
                    problems.append(f"{op.case_id} {op.trigger}: a retry answered differently")
                if first.status_code == 200:
                    etag = first.headers["etag"]
            with lock:
                counter[0] += made


def run_service(
    folder: Path, cases: list[list[Op]], clients: int, threads: int
) -> tuple[float, int, Service, list[str]]:
    """Drive a new service with ``clients`` concurrent clients: (seconds, requests made, the
    service, the problems the clients saw)."""
    service = Service(folder, cases, threads)
    work: queue.Queue[list[Op]] = queue.Queue()
    for ops in cases:
        work.put(ops)
    problems: list[str] = []
    counter = [0]
    lock = threading.Lock()
    workers = [
        threading.Thread(target=_client_loop, args=(service, work, problems, counter, lock))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    service.stop()
    return elapsed, counter[0], service, problems


def check(service: Service, cases: list[list[Op]], of: dict[str, SampleCase]) -> list[str]:
    """What must hold after the load: contiguous versions, no doubled or lost transition, a
    verifying chain."""
    problems = []
    with open_store(service.location, create=False) as store:
        result = store.verify()
        if not result.ok:
            problems.append(f"audit verify failed: {result.problems[:3]}")
        for ops in cases:
            cid = ops[0].case_id
            history = store.history(cid)
            if [e.seq for e in history] != list(range(1, len(history) + 1)):
                problems.append(f"{cid}: event numbers not contiguous")
            applied = [e for e in history if e.outcome == "applied"]
            case = store.case(cid)
            if case.version != len(applied):
                problems.append(f"{cid}: version {case.version} but {len(applied)} applied events")
            if len(history) > len(ops):
                problems.append(f"{cid}: {len(history)} events for {len(ops)} steps (doubled)")
            sample = of[cid]
            if (case.state, case.team) != (sample.end_state, sample.end_team):
                problems.append(
                    f"{cid}: ends {case.state}/{case.team}, sample {sample.end_state}/{sample.end_team}"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8, help="the service's thread pool")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="4 clients, 150 requests, 1 round")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--dir", type=Path, help="folder for the temporary stores")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.requests, args.rounds = 4, 150, 1
    cases, of = workload(args.requests, args.seed)
    requests = request_count(cases)
    ratios, rounds = [], []
    failures: list[str] = []
    for n in range(args.rounds):
        folder = Path(tempfile.mkdtemp(prefix="bench-server-", dir=args.dir))
        try:
            sides: dict[str, float] = {}
            for side in ("service", "library") if n % 2 == 0 else ("library", "service"):
                if side == "library":
                    sides["library_s"] = run_library(folder, cases)
                else:
                    elapsed, made, service, problems = run_service(
                        folder, cases, args.clients, args.threads
                    )
                    failures += problems + check(service, cases, of)
                    sides["service_s"] = elapsed
                    sides["service_requests"] = made
            service_rate = sides["service_requests"] / sides["service_s"]
            library_rate = requests / sides["library_s"]
            ratio = service_rate / library_rate
            ratios.append(ratio)
            rounds.append({**sides, "service_rps": service_rate, "library_ops": library_rate,
                           "ratio": ratio})  # fmt: skip
            print(f"round {n + 1}: service {service_rate:.0f} req/s, library {library_rate:.0f} "
                  f"op/s, ratio {ratio:.3f}", flush=True)  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "clients": args.clients, "cases": len(cases), "requests": requests,
        "retries": sum(op.retry for ops in cases for op in ops),
        "conflicts": sum(op.conflict for ops in cases for op in ops),
        "rounds": rounds, "ratio_median": statistics.median(ratios), "target": ">= 0.3",
        "checks_failed": failures[:20],
    }  # fmt: skip
    print(json.dumps({k: v for k, v in figures.items() if k != "rounds"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
