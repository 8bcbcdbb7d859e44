"""Shared fixtures: the example pathway, a throw-away store, a fixed clock."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import pathway
from pathway.store.sqlite import SqliteTransaction

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "docs" / "examples" / "minimal.yaml"


class FakeClock:
    """A clock that stands still until moved, so times in tests are exact."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def minimal() -> pathway.Pathway:
    """The example pathway of docs/examples/minimal.yaml."""
    return pathway.load_pathway(MINIMAL)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[pathway.store.SqliteStore]:
    s = pathway.open_store(tmp_path / "cases.db")
    yield s
    s.close()


@pytest.fixture
def engine(
    minimal: pathway.Pathway, store: pathway.store.SqliteStore, clock: FakeClock
) -> pathway.Engine:
    return pathway.Engine(minimal, store, clock=clock)


HUB = pathway.Actor("w-hub", "hub")
LETS = pathway.Actor("w-lets", "lets")
CMHT = pathway.Actor("w-cmht", "cmht")
AMHP = pathway.Actor("w-amhp", "amhp", roles=("amhp",))


# --- the two store backends, for tests that must hold on both ---------------------------------
#
# `store_factory` is parametrised "sqlite" / "postgres". PostgreSQL tests talk to the real server
# named by PATHWAY_TEST_POSTGRES (a postgresql:// URL); each test gets a fresh schema of its own,
# named after this session, and every schema of the session is dropped at its end. Without the
# variable the PostgreSQL tests are skipped, saying so, except under CI (CI=true), where a
# PostgreSQL test that does not run is a failure.

PG_ENV = "PATHWAY_TEST_POSTGRES"
PG_SKIP_REASON = (
    f"PostgreSQL tests need a server: set {PG_ENV}=postgresql://USER@HOST:PORT/DATABASE "
    "(CI uses the machine's local server)"
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server of " + PG_ENV)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("store_factory") == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI a skipped PostgreSQL test is a failure: the server must be there."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and item.get_closest_marker("postgres") is not None:
        report.outcome = "failed"
        report.longrepr = f"PostgreSQL test skipped under CI=true: {report.longrepr}"


class Backend:
    """Makes stores of one backend for a test: locations, opening, raw access, cleanup."""

    name: str

    def location(self, tag: str = "cases") -> str:
        raise NotImplementedError

    def open(self, location: str, *, create: bool = True) -> Any:
        return pathway.open_store(location, create=create)

    def raw(self, location: str) -> Any:
        """A plain DB-API connection to the store, outside the library (autocommit)."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove what this test created."""


class SqliteBackend(Backend):
    name = "sqlite"
    transaction_class: type[Any] = SqliteTransaction
    refused_error: type[Exception] = sqlite3.IntegrityError

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def location(self, tag: str = "cases") -> str:
        return str(self.folder / f"{tag}.db")

    def raw(self, location: str) -> Any:
        return contextlib.closing(sqlite3.connect(location, isolation_level=None))

    def drop_trigger(self, raw: Any, name: str) -> None:
        raw.execute(f"DROP TRIGGER {name}")

    def set_schema_version(self, raw: Any, version: int) -> None:
        raw.execute(f"PRAGMA user_version = {version}")

    def make_foreign(self, location: str) -> None:
        """Put a database that is not a store at ``location``."""
        with self.raw(location) as conn:
            conn.execute("CREATE TABLE patients (id INTEGER)")

    def foreign_tables(self, location: str) -> list[str]:
        with self.raw(location) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, url: str, prefix: str) -> None:
        import psycopg

        from pathway.store.postgres import PostgresTransaction

        self.url = url
        self.prefix = prefix
        self.transaction_class = PostgresTransaction
        self.refused_error = psycopg.errors.InsufficientPrivilege
        self.made: list[str] = []

    def location(self, tag: str = "cases") -> str:
        from pathway.store.postgres import with_schema

        schema = f"{self.prefix}_{len(self.made)}_{tag}"[:63].lower()
        self.made.append(schema)
        return with_schema(self.url, schema)

    def raw(self, location: str) -> Any:
        import psycopg

        from pathway.store.postgres import parse_location

        where = parse_location(location)
        return psycopg.connect(
            where.conninfo, autocommit=True, options=f"-c search_path={where.schema}"
        )

    def drop_trigger(self, raw: Any, name: str) -> None:
        raw.execute(f"DROP TRIGGER {name} ON events")

    def set_schema_version(self, raw: Any, version: int) -> None:
        raw.execute(f"UPDATE meta SET value = '{version}' WHERE key = 'schema_version'")

    def make_foreign(self, location: str) -> None:
        """Put a schema that is not a store at ``location``."""
        from pathway.store.postgres import parse_location

        with self.raw(location) as conn:
            conn.execute(f"CREATE SCHEMA {parse_location(location).schema}")
            conn.execute("CREATE TABLE patients (id INTEGER)")

    def foreign_tables(self, location: str) -> list[str]:
        from pathway.store.postgres import parse_location

        with self.raw(location) as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (parse_location(location).schema,),
                )
            ]

    def cleanup(self) -> None:
        drop_schemas(self.url, [f"{s}" for s in self.made])
        self.made.clear()


def drop_schemas(url: str, schemas: list[str]) -> None:
    """Drop the given schemas (and everything in them) on the test server."""
    import psycopg
    from psycopg import sql

    from pathway.store.postgres import parse_location

    with psycopg.connect(parse_location(url).conninfo, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The test server's URL; skips (or, under CI, fails) when there is none or it is down.

    Removes every schema this session created, at its end.
    """
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if _in_ci():
            pytest.fail(f"CI=true but {PG_ENV} is not set: {PG_SKIP_REASON}")
        pytest.skip(PG_SKIP_REASON)
    try:
        import psycopg
    except ImportError:
        pytest.fail("psycopg is not installed: pip install -e '.[test]'")
    from pathway.store.postgres import parse_location

    try:
        psycopg.connect(parse_location(url).conninfo, connect_timeout=10).close()
    except psycopg.Error as exc:
        pytest.fail(f"{PG_ENV}={url}: cannot connect: {exc}")
    yield url
    with psycopg.connect(parse_location(url).conninfo, autocommit=True) as conn:
        left = [
            row[0]
            for row in conn.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                (f"{SESSION_PREFIX}%",),
            )
        ]
    drop_schemas(url, left)


SESSION_PREFIX = f"pathway_test_{os.getpid()}_{secrets.token_hex(3)}"
"""The schemas of this test session start with this (tests in one run never share one)."""


@pytest.fixture(params=["sqlite", "postgres"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The backend a contract test runs on (each test: fresh files or a fresh schema)."""
    backend: Backend
    if request.param == "sqlite":
        backend = SqliteBackend(tmp_path)
    else:
        url = request.getfixturevalue("pg_url")
        backend = PostgresBackend(url, f"{SESSION_PREFIX}_{secrets.token_hex(2)}")
    yield backend
    backend.cleanup()
