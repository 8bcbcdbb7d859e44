"""Case stores: the contract and its backends (SQLite is the embedded default)."""

from __future__ import annotations

from pathlib import Path

from .base import Store, StoreTransaction
from .sqlite import SqliteStore


def open_store(location: str | Path, *, create: bool = True) -> SqliteStore:
    """Open (creating if needed, unless ``create=False``) the case store at ``location``.

    ``location`` is a SQLite file path (``":memory:"`` for a throw-away store).
    """
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from ..errors import StoreError

        raise StoreError(f"{text.split('@')[-1]}: PostgreSQL stores are not supported yet")
    return SqliteStore(location, create=create)


__all__ = ["SqliteStore", "Store", "StoreTransaction", "open_store"]
