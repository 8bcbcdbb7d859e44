"""Store errors: busy, read-only, used from another thread; the busy wait; imports and locks.

Each once leaked the driver's own exception (a traceback, exit 1), or, for a fire during a long
import, waited for the whole import. Every one is now a ``StoreError`` subclass with one line and
its own exit code (4 busy, 5 cannot be written or read), and nothing is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import HUB, MINIMAL

import pathway
from pathway.errors import StoreBusy, StoreError, StoreReadOnly, StoreUnusable

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "pathway", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def held(store_factory: Any) -> Iterator[tuple[Any, str, Any]]:
    """A store with case C1, and a raw connection of another session holding its write lock."""
    location = store_factory.location()
    with pathway.open_store(location) as store:
        pathway.Engine(pathway.load_pathway(MINIMAL), store).open_case("C1", HUB, at=T0)
    with store_factory.raw(location) as raw:
        if store_factory.name == "sqlite":
            raw.execute("BEGIN IMMEDIATE")
            yield store_factory, location, raw
            raw.execute("ROLLBACK")
        else:
            with raw.transaction():
                raw.execute("UPDATE chain_head SET position = position WHERE id = 1")
                yield store_factory, location, raw


def test_a_write_waiting_past_the_busy_wait_is_store_busy_and_writes_nothing(
    held: tuple[Any, str, Any],
) -> None:
    _, location, _ = held
    with pathway.open_store(location, busy_timeout=0.2) as store:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        with pytest.raises(StoreBusy, match=r"the store is busy: .* busy wait \(0\.2 s\)"):
            engine.open_case("C2", HUB, at=T0 + timedelta(hours=1))
        assert [c.id for c in store.cases()] == ["C1"]


def test_the_cli_says_busy_in_one_line_with_exit_4(held: tuple[Any, str, Any]) -> None:
    _, location, _ = held
    done = cli(
        "case", "open", "C2", "--actor", "w", "--team", "hub", "--db", location,
        "--pathway", str(MINIMAL), env={"PATHWAY_BUSY_TIMEOUT": "0.2"},
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("Error: ") and "the store is busy" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize("given", ["abc", "-1", "3601", "\u0663", "1e3", "nan"])
def test_a_bad_busy_wait_is_refused_naming_the_variable(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATHWAY_BUSY_TIMEOUT", given)
    with pytest.raises(StoreError, match=r"\$PATHWAY_BUSY_TIMEOUT: .* is not a number of seconds"):
        pathway.open_store(tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()
    done = cli("init", "--db", str(tmp_path / "y.db"), env={"PATHWAY_BUSY_TIMEOUT": given})
    assert done.returncode == 2 and "PATHWAY_BUSY_TIMEOUT" in done.stderr, done.stderr
    assert not (tmp_path / "y.db").exists()


def test_the_busy_wait_comes_from_the_argument_then_the_environment_then_30_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATHWAY_BUSY_TIMEOUT", raising=False)
    with pathway.open_store(tmp_path / "a.db") as store:
        assert store.busy_timeout == 30
        assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    monkeypatch.setenv("PATHWAY_BUSY_TIMEOUT", " 2.5 ")
    with pathway.open_store(tmp_path / "a.db") as store:
        assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 2_500
    with pathway.open_store(tmp_path / "a.db", busy_timeout=0) as store:
        assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 0


def test_an_in_memory_store_used_from_another_thread_says_so() -> None:
    """An in-memory store lives in its one connection: another thread's call is StoreUnusable."""
    store = pathway.open_store(":memory:")
    engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
    engine.open_case("C1", HUB, at=T0)
    caught: list[BaseException] = []

    def other() -> None:
        for call in (
            lambda: store.case("C1"),
            lambda: list(store.cases()),
            lambda: engine.open_case("C2", HUB, at=T0),
            lambda: store.connection,
            lambda: store.verify(),
        ):
            try:
                call()
            except BaseException as exc:
                caught.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(caught) == 5
    for exc in caught:
        assert isinstance(exc, StoreUnusable), repr(exc)
        assert "opened in another thread" in str(exc) and "one store per thread" in str(exc)
    assert [c.id for c in store.cases()] == ["C1"]  # the owning thread still uses it
    store.close()


def test_a_file_store_serves_another_thread_on_a_connection_of_its_own(tmp_path: Path) -> None:
    """A file store may be shared: another thread reads and writes on its own connection,
    which is closed when the thread ends; close() closes every thread's connection."""
    store = pathway.open_store(tmp_path / "cases.db")
    engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
    engine.open_case("C1", HUB, at=T0)
    seen: list[object] = []

    def other() -> None:
        seen.append([c.id for c in store.cases()])
        engine.open_case("C2", HUB, at=T0)
        seen.append(store.connection)
        seen.append(store.verify().ok)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen[0] == ["C1"] and seen[2] is True
    assert seen[1] is not store.connection  # the other thread had a connection of its own
    assert [c.id for c in store.cases()] == ["C1", "C2"]
    store.close()
    with pytest.raises(StoreUnusable, match="closed"):
        store.case("C1")


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can enter (pytest's own tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="pathway-ro-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_another_user(*args: str) -> list[str]:
    """The command, run as user nobody when the tests run as root (root ignores file modes)."""
    if os.geteuid() != 0:
        return list(args)
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a store read-only")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args]


@pytest.mark.parametrize("how", ["file 0444", "folder 0555"])
def test_a_read_only_sqlite_store_is_store_read_only_exit_5(shared_folder: Path, how: str) -> None:
    path = shared_folder / "cases.db"
    with pathway.open_store(path) as store:
        pathway.Engine(pathway.load_pathway(MINIMAL), store).open_case("C1", HUB, at=T0)
    if how == "file 0444":
        shared_folder.chmod(0o777)  # the -wal and -shm files can be made; the store cannot
        path.chmod(0o444)
    else:
        shared_folder.chmod(0o555)
    before = path.read_bytes()
    try:
        done = subprocess.run(
            as_another_user(
                sys.executable, "-m", "pathway", "case", "open", "C2", "--actor", "w",
                "--team", "hub", "--db", str(path), "--pathway", str(MINIMAL),
            ),
            capture_output=True, text=True, timeout=60, cwd=shared_folder,
        )  # fmt: skip
    finally:
        shared_folder.chmod(0o755)
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert "the store is read-only" in done.stderr and "nothing was written" in done.stderr
    assert path.read_bytes() == before


def test_a_read_only_postgres_session_is_store_read_only(store_factory: Any) -> None:
    if store_factory.name != "postgres":
        pytest.skip("a read-only session is PostgreSQL's; SQLite's is the file test above")
    location = store_factory.location()
    with pathway.open_store(location) as store:
        pathway.Engine(pathway.load_pathway(MINIMAL), store).open_case("C1", HUB, at=T0)
    read_only = location + "&options=-cdefault_transaction_read_only%3Don"
    with pathway.open_store(read_only, create=False) as store:
        engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
        with pytest.raises(StoreReadOnly, match="the store is read-only"):
            engine.open_case("C2", HUB, at=T0)
        assert [c.id for c in store.cases()] == ["C1"]


# --- an import holds the write lock only for its final write ----------------------------------

ROWS = 140_000  # seven progress lines (one each 20,000 rows staged)


def test_a_fire_during_a_long_import_completes_while_the_import_is_still_reading(
    store_factory: Any, tmp_path: Path
) -> None:
    """Fires in this process succeed while the import (another process) is still staging.

    The import reports each 20,000 rows it has checked on stderr while it reads the file, and
    writes the store only after. Fires started after the first report that complete while the
    store still holds none of the import's cases ran while the import was reading: it did not
    hold the write lock then (before, the write lock was taken before reading, so a fire could
    only complete after the import had committed). The order of events is checked, not times.
    """
    location = store_factory.location()
    assert cli("init", "--db", location, "--pathway", str(MINIMAL)).returncode == 0
    log = tmp_path / "big.csv"
    with log.open("w") as out:
        out.write("case_id,occurred_at,state,team\n")
        for n in range(ROWS):
            out.write(f"I{n:07d},2025-01-{1 + n % 28:02d}T09:00:00Z,referred,hub\n")
    importer = subprocess.Popen(
        [sys.executable, "-m", "pathway", "import", str(log), "--db", location],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert importer.stderr is not None
    try:
        first = importer.stderr.readline()
        assert "rows checked" in first, first + importer.stderr.read()
        with pathway.open_store(location, busy_timeout=120) as store:
            engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
            fired_while_reading = 0
            for n in range(3):
                engine.open_case(f"F{n}", HUB, at=T0)
                imported = store.connection.execute(
                    "SELECT count(*) FROM cases WHERE id LIKE 'I%'"
                ).fetchone()[0]
                fired_while_reading += imported == 0
        assert fired_while_reading == 3, "the fires waited for the import to commit"
        out, err = importer.communicate(timeout=300)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    assert importer.returncode == 0, err
    assert f"Imported {ROWS:,} events" in out
    with pathway.open_store(location, create=False) as store:
        assert store.verify().ok
        assert {f"F{n}" for n in range(3)} <= {c.id for c in store.cases()}
        assert sum(1 for _ in store.cases()) == ROWS + 3


def test_a_case_opened_while_the_import_stages_is_still_refused(tmp_path: Path) -> None:
    """The import checks its cases are new again under the lock (SQLite stages before it)."""
    location = tmp_path / "cases.db"
    store = pathway.open_store(location)
    engine = pathway.Engine(pathway.load_pathway(MINIMAL), store)
    from pathway.importer import import_events

    seen: list[int] = []

    def progress(rows: int) -> None:  # runs while staging: another writer opens case I0000001
        if not seen:
            with pathway.open_store(location) as other:
                pathway.Engine(pathway.load_pathway(MINIMAL), other).open_case(
                    "I0000001", HUB, at=T0
                )
        seen.append(rows)

    rows = "".join(f"I{n:07d},2025-01-01T09:00:00Z,referred,hub\n" for n in range(45_000))
    before = store.checkpoint()
    with pytest.raises(pathway.DefinitionError, match="case 'I0000001' is already in the store"):
        import_events(
            store, "log.csv", text="case_id,occurred_at,state,team\n" + rows, progress=progress
        )
    assert seen  # the other writer did get in during staging
    assert store.checkpoint().position == before.position + 1  # its open, nothing imported
    assert [c.id for c in store.cases()] == ["I0000001"]
    engine.open_case("C9", HUB, at=T0)  # the store is usable after the refusal
    store.close()
