"""Helpers the report tests share: instants written briefly, logs imported into a fresh store,
and exact integer microseconds for the independent references (floats would blur the edges the
references are there to check)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pathway
from pathway.importer import import_events

RECEIPT = Path(
    os.environ.get(
        "PATHWAY_RECEIPT_CSV",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "receipt.csv",
    )
)
"""The real municipal event log (shared/data/README.md): PATHWAY_RECEIPT_CSV, else the copy of
shared/ beside the checkout."""

RECEIPT_MAP = {
    "case:concept:name": "case_id",
    "time:timestamp": "occurred_at",
    "concept:name": "state",
    "org:group": "team",
    "org:resource": "actor",
}
"""Its columns as ``pathway import --map`` takes them (the README's mapping)."""
RECEIPT_DROP = (
    "case:channel", "case:deadline", "case:department", "case:enddate", "case:enddate_planned",
    "case:group", "case:responsible", "case:startdate", "concept:instance", "lifecycle:transition",
)  # fmt: skip
"""Its other columns, left out (``--drop``): an import refuses undeclared columns (issue 21)."""


def receipt_path() -> Path | None:
    """The receipt log, or None where it is not to be had (the tests that need it skip)."""
    return RECEIPT if RECEIPT.is_file() else None


MICRO = 1_000_000
DAY_US = 86_400 * MICRO
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS[.ffffff]]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def load(text: str, finals: tuple[str, ...] = (), **kwargs: Any) -> pathway.store.SqliteStore:
    """A fresh in-memory store holding the imported CSV text."""
    store = pathway.open_store(":memory:")
    import_events(store, "x.csv", text=text, final_states=list(finals), **kwargs)
    return store


def to_us(value: datetime) -> int:
    """A datetime (naive: UTC) as integer microseconds since the epoch, exactly."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICRO + delta.microseconds


def parse_us(text: str) -> int:
    """An ISO 8601 instant (naive: UTC; 'Z' allowed; 'T' or space; a date: 00:00) in integer
    microseconds since the epoch."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    return to_us(datetime.fromisoformat(raw))
