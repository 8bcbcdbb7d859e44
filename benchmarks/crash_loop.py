"""A crash loop: writers SIGKILLed at random moments, then the store must verify every time.

Each round starts one or two child processes that write to one shared store, lets them run,
and kills them with SIGKILL after a random (seeded) delay; then it opens the store and checks it:

* ``store.verify()`` passes: the hash chain, and every case row and derived row the reports read
  (case counters, closed episodes, handoffs, flow columns) equal what the events give, with no
  case row without events (``pathway/store/derived.py``);
* independently of verify, every case the round wrote has events numbered 1..n with no gap, a
  version equal to its applied events and the state and team of its last applied event;
* nothing half-written and nothing lost: a firing child writes exactly one event per write
  transaction, so the round's events are the transactions the child saw commit, plus at most
  one (killed during the commit); an imported log is all there or not there at all, and there
  whenever ``pathway import`` had returned.

The children (this script with ``--child``):

* ``fire``: plays the shipped sample cases (``sample_cases/``) through the library, on the
  shipped pathway (``barnet-enablement``), each under a new case id, until killed: opens,
  guarded transitions, refusals (each one audited), S75 handoffs, closures, placements;
* ``import``: runs ``pathway import`` (the CLI, in process) on generated logs
  (``benchmarks/generate_log.py``, case ids prefixed so each file's cases are new), one after
  another until killed;
* a round is ``fire``, ``import`` or ``both`` (the two at once, killed together: a fire then
  waits for the import's write lock).

A child reports each write transaction's start (``T``) and end (``C``) on its stdout, one
unbuffered write each, so the parent knows whether the kill landed inside a transaction.

Usage::

    python benchmarks/crash_loop.py                       # 100 rounds on a SQLite file
    python benchmarks/crash_loop.py --rounds 300 --seed 7 --json crash.json
    python benchmarks/crash_loop.py --postgres postgresql://root@127.0.0.1:5432/test

PostgreSQL runs in a new schema of that database (dropped at the end); only a loopback server is
accepted. ``--max-seconds`` bounds the run (rounds not started by then are skipped and reported).
Exit status 0 when every round verified, 1 when any did not (the problems are printed).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_log  # noqa: E402

import pathway  # noqa: E402
from pathway.store import is_server_location, open_store, remove_store  # noqa: E402

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ENGINE_CLOCK = datetime(2031, 1, 1, tzinfo=UTC)
"""The firing child's clock: after every sample's last step, so no step is refused as being
in the future (recorded_at is this instant; occurred_at is the sample's own time)."""
MODES = ("fire", "import", "both")


# --- the children ------------------------------------------------------------------------------


def _say(text: str) -> None:
    """One line to the parent in one write (atomic on a pipe), unbuffered."""
    os.write(1, (text + "\n").encode())


def _mark_transactions() -> None:
    """Report each write transaction's start and end (whatever its outcome) to the parent."""
    from pathway.store.postgres import PostgresStore
    from pathway.store.sqlite import SqliteStore

    for cls in (SqliteStore, PostgresStore):
        inner = cls.transaction

        @contextlib.contextmanager
        def marked(self: Any, _inner: Any = inner) -> Iterator[Any]:
            _say("T")
            try:
                with _inner(self) as tx:
                    yield tx
            finally:
                _say("C")

        cls.transaction = marked  # type: ignore[assignment,method-assign]


def _child_fire(location: str, tag: str) -> None:
    from pathway.samples import load_sample, play_steps, shipped_samples

    samples = [load_sample(name) for name in shipped_samples()]
    store = open_store(location, create=False)
    engine = pathway.Engine(
        pathway.load_pathway("barnet-enablement"), store, clock=lambda: ENGINE_CLOCK
    )
    _say("ready")
    sys.stdin.readline()
    for n in count():
        sample = samples[n % len(samples)]
        for _ in play_steps(engine, f"{tag}-f{n}", sample.steps):
            pass


def _write_log(path: Path, prefix: str, cases: int, seed: int) -> int:
    rows = generate_log.generate(cases, seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(generate_log.COLUMNS)
        writer.writerows((prefix + row[0], *row[1:]) for row in rows)
    return len(rows)


def _child_import(location: str, tag: str, folder: str, cases: int, seed: int) -> None:
    from pathway.cli import cli  # before "ready": the kill times the import, not start-up

    _say("ready")
    sys.stdin.readline()
    for k in count():
        path = Path(folder) / f"{tag}-{k}.csv"
        rows = _write_log(path, f"{tag}-i{k}-", cases, seed * 1000 + k)
        _say(f"F {k} {rows}")
        try:
            cli.main(
                ["import", str(path), "--db", location, "--final-state", "closed"],
                prog_name="pathway",
                standalone_mode=False,
            )
        except SystemExit as exc:  # pragma: no cover - a refusal is a failure of the loop
            if exc.code:
                raise
        _say(f"I {k}")
        path.unlink()


# --- the parent --------------------------------------------------------------------------------


@dataclass
class Child:
    """A running child and what it reported."""

    mode: str
    tag: str
    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def start_reading(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                self.lines.append(raw.decode().rstrip("\n"))

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()


@dataclass
class Round:
    """What one round did and found."""

    n: int
    mode: str
    delay: float
    aimed: bool = False
    killed_in_transaction: bool = False
    killed: int = 0
    exited_first: int = 0
    transactions: int = 0
    imports_committed: int = 0
    events_after: int = 0
    verify_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _start(argv: list[str], mode: str, tag: str) -> Child:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().decode().strip()
    if first != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise RuntimeError(f"{mode} child did not start: {first!r}\n{err.decode()}")
    return Child(mode, tag, proc)


def _last_mark(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if line in ("T", "C"):
            return line
    return None


def _kill(children: list[Child], delay: float, aim: bool = False) -> None:
    """Release the children, SIGKILL each ``delay`` seconds later; wait for them and their output.

    With ``aim``, after the delay wait (up to 2 s) until the first child has reported starting a
    write transaction and not ended it, then kill at once: so that kills inside a transaction
    (and during its COMMIT) are common, not left to chance."""
    for child in children:
        child.start_reading()
    for child in children:
        assert child.proc.stdin is not None
        child.proc.stdin.write(b"go\n")
        child.proc.stdin.flush()
    time.sleep(delay)
    deadline = time.monotonic() + 2.0
    while aim and _last_mark(children[0].lines) != "T" and time.monotonic() < deadline:
        time.sleep(0.0002)
    for child in children:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGKILL)
    for child in children:
        child.proc.wait(timeout=60)
        assert child.reader is not None
        child.reader.join(timeout=60)


def _in_transaction(lines: list[str]) -> bool:
    """Whether the child's last reported write transaction had started but not ended."""
    return _last_mark(lines) == "T"


def _events_of(store: Any, prefix: str) -> dict[str, list[pathway.AuditEvent]]:
    """The events of every case whose id starts with ``prefix``, by case, in seq order."""
    by_case: dict[str, list[pathway.AuditEvent]] = {}
    conn = store.connection
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT case_id FROM events WHERE case_id >= ? AND case_id < ?",
            (prefix, prefix + "\U0010ffff"),
        )
    ]
    for case_id in ids:
        by_case[case_id] = store.history(case_id)
    return by_case


def _check_cases(store: Any, by_case: dict[str, list[pathway.AuditEvent]]) -> list[str]:
    """Independently of verify: seq 1..n, version = applied events, state/team = last applied."""
    problems = []
    for case_id, history in by_case.items():
        seqs = [e.seq for e in history]
        if seqs != list(range(1, len(history) + 1)):
            problems.append(f"case {case_id}: event numbers {seqs} are not 1..{len(history)}")
            continue
        applied = [e for e in history if e.outcome == "applied"]
        case = store.case(case_id)
        if case.version != len(applied):
            problems.append(f"case {case_id}: version {case.version}, {len(applied)} applied")
        # An unallocated case's row holds team "" where its event holds none (NULL).
        elif applied and (case.state, case.team) != (
            applied[-1].to_state,
            applied[-1].to_team or "",
        ):
            problems.append(
                f"case {case_id}: at {case.state}/{case.team}, its last event says "
                f"{applied[-1].to_state}/{applied[-1].to_team}"
            )
    return problems


def _check_round(location: str, rnd: Round, children: list[Child]) -> None:
    started = time.perf_counter()
    with open_store(location, create=False) as store:
        result = store.verify()
        rnd.verify_seconds = time.perf_counter() - started
        rnd.events_after = result.events
        if not result.ok or not result.derived:
            rnd.problems.extend(result.problems or (result.problem or "verify failed",))
        if store.integrity_check() != "ok":
            rnd.problems.append(f"integrity check: {store.integrity_check()}")
        for child in children:
            by_case = _events_of(store, child.tag + "-")
            rnd.problems.extend(_check_cases(store, by_case))
            began = child.lines.count("T")
            ended = child.lines.count("C")
            rnd.transactions += began
            if child.mode == "fire":
                # One event per write transaction; the one cut short may have committed.
                events = sum(map(len, by_case.values()))
                extra = began - ended
                if not ended <= events <= ended + extra:
                    rnd.problems.append(
                        f"{child.tag}: {events} events after {ended} finished and {extra} cut "
                        f"short write transaction(s)"
                    )
                continue
            files = [line.split() for line in child.lines if line.startswith("F ")]
            done = {line.split()[1] for line in child.lines if line.startswith("I ")}
            rnd.imports_committed += len(done)
            for _, k, rows in files:
                prefix = f"{child.tag}-i{k}-"
                found = sum(len(h) for c, h in by_case.items() if c.startswith(prefix))
                if found not in (0, int(rows)):
                    rnd.problems.append(f"{prefix}: {found} of the log's {rows} events imported")
                elif k in done and found == 0:
                    rnd.problems.append(f"{prefix}: `pathway import` returned, no events stored")


def run_round(
    location: str,
    n: int,
    rng: random.Random,
    folder: str,
    import_cases: int,
    max_delay: float,
    aim_share: float = 0.5,
) -> Round:
    """One round: start the children, kill them at a random moment, check the store."""
    mode = rng.choice(MODES)
    rnd = Round(n, mode, rng.uniform(0.0, max_delay), rng.random() < aim_share)
    children = []
    if mode in ("fire", "both"):
        children.append(_start(["fire", location, f"r{n}f"], "fire", f"r{n}f"))
    if mode in ("import", "both"):
        argv = ["import", location, f"r{n}i", folder, str(import_cases), str(rng.randrange(10**6))]
        children.append(_start(argv, "import", f"r{n}i"))
    try:
        _kill(children, rnd.delay, rnd.aimed)
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
    for child in children:
        if child.proc.returncode == -signal.SIGKILL:
            rnd.killed += 1
        else:
            rnd.exited_first += 1
            err = child.proc.stderr.read().decode() if child.proc.stderr else ""
            rnd.problems.append(f"{child.tag} exited {child.proc.returncode}: {err.strip()[-500:]}")
        rnd.killed_in_transaction |= _in_transaction(child.lines)
        if child.proc.stderr is not None:
            child.proc.stderr.close()
    _check_round(location, rnd, children)
    return rnd


def _loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"--postgres: {host or 'no host'} is not a loopback server (127.0.0.1)")
    from pathway.store.postgres import with_schema

    return with_schema(url, f"crash_loop_{os.getpid()}_{secrets.token_hex(3)}")


def run(
    location: str,
    *,
    rounds: int,
    seed: int,
    import_cases: int = 60,
    max_delay: float = 0.8,
    aim_share: float = 0.5,
    max_seconds: float = 1800.0,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run the loop on a new store at ``location`` and return its figures (see ``main``)."""
    from pathway.cli import cli

    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["init", "--db", location], prog_name="pathway", standalone_mode=False)
    rng = random.Random(seed)
    started = time.perf_counter()
    done: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="crash-loop-") as folder:
        for n in range(rounds):
            if time.perf_counter() - started > max_seconds:
                break
            rnd = run_round(location, n, rng, folder, import_cases, max_delay, aim_share)
            done.append(rnd)
            if verbose or rnd.problems:
                state = "in a transaction" if rnd.killed_in_transaction else "between writes"
                state += " (aimed)" if rnd.aimed else ""
                verdict = "ok" if not rnd.problems else "FAILED: " + "; ".join(rnd.problems)
                print(
                    f"round {n:3d} {rnd.mode:6s} kill at {rnd.delay:.3f} s {state}: "
                    f"{rnd.events_after} events, verify {rnd.verify_seconds:.3f} s, {verdict}",
                    flush=True,
                )
    elapsed = time.perf_counter() - started
    verify_times = sorted(r.verify_seconds for r in done)
    return {
        "store": "postgresql" if is_server_location(location) else "sqlite",
        "seed": seed,
        "rounds_asked": rounds,
        "rounds": len(done),
        "by_mode": {m: sum(r.mode == m for r in done) for m in MODES},
        "children_killed": sum(r.killed for r in done),
        "children_exited_before_kill": sum(r.exited_first for r in done),
        "killed_in_transaction": sum(r.killed_in_transaction for r in done),
        "aimed_at_a_transaction": sum(r.aimed for r in done),
        "write_transactions": sum(r.transactions for r in done),
        "imports_committed": sum(r.imports_committed for r in done),
        "verified": sum(not r.problems for r in done),
        "failed": [asdict(r) for r in done if r.problems],
        "events_at_end": done[-1].events_after if done else 0,
        "verify_seconds_median": verify_times[len(verify_times) // 2] if done else 0.0,
        "verify_seconds_max": verify_times[-1] if done else 0.0,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        _mark_transactions()
        if args[1] == "fire":
            _child_fire(args[2], args[3])
        else:
            _child_import(args[2], args[3], args[4], int(args[5]), int(args[6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="rounds (default 100)")
    parser.add_argument("--seed", type=int, default=20261207, help="random seed")
    parser.add_argument("--postgres", metavar="URL", help="a loopback PostgreSQL server instead")
    parser.add_argument(
        "--import-cases", type=int, default=60, help="cases in each imported log (default 60)"
    )
    parser.add_argument(
        "--max-delay", type=float, default=0.8, help="latest kill, seconds after go (default 0.8)"
    )
    parser.add_argument(
        "--aim",
        type=float,
        default=0.5,
        help="share of rounds whose kill waits for a write transaction to start (default 0.5)",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=1800, help="stop starting rounds after this long"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line for every round")
    opts = parser.parse_args(args)
    if opts.rounds < 1 or opts.import_cases < 1 or opts.max_delay <= 0:
        parser.error("--rounds, --import-cases and --max-delay must be positive")
    if not 0 <= opts.aim <= 1:
        parser.error("--aim must be from 0 to 1")
    with tempfile.TemporaryDirectory(prefix="crash-store-") as folder:
        location = _loopback(opts.postgres) if opts.postgres else str(Path(folder) / "crash.db")
        try:
            figures = run(
                location,
                rounds=opts.rounds,
                seed=opts.seed,
                import_cases=opts.import_cases,
                max_delay=opts.max_delay,
                aim_share=opts.aim,
                max_seconds=opts.max_seconds,
                verbose=opts.verbose,
            )
        finally:
            if opts.postgres:
                remove_store(location)
    print(
        f"{figures['store']}: {figures['rounds']} rounds (seed {figures['seed']}; "
        f"fire {figures['by_mode']['fire']}, import {figures['by_mode']['import']}, both "
        f"{figures['by_mode']['both']}), {figures['children_killed']} children killed "
        f"({figures['children_exited_before_kill']} exited first), "
        f"{figures['killed_in_transaction']} rounds killed inside a write transaction "
        f"({figures['aimed_at_a_transaction']} aimed at one), "
        f"{figures['write_transactions']} write transactions, "
        f"{figures['imports_committed']} imports committed; verified "
        f"{figures['verified']}/{figures['rounds']}; {figures['events_at_end']} events at the end, "
        f"verify median {figures['verify_seconds_median']:.3f} s, max "
        f"{figures['verify_seconds_max']:.3f} s; {figures['seconds']:.1f} s in all"
    )
    if opts.json:
        opts.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if figures["verified"] == figures["rounds"] and not figures["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
