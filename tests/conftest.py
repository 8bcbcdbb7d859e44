"""Shared fixtures: the example pathway, a throw-away store, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import pathway

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
