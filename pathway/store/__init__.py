"""Case stores: the contract and its backends (SQLite, the embedded default; PostgreSQL)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from .base import Store, StoreTransaction
from .query import CaseQuery, HistoryQuery, Page
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
BUSY_TIMEOUT_ENV = "PATHWAY_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's write lock before giving up (``StoreBusy``):
long enough to queue behind other fires and the final write of an import, short enough that a
stuck process is reported rather than waited on for ever."""
MAX_BUSY_TIMEOUT_S = 3600.0
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


def _busy_timeout(value: float | str | None = None) -> float:
    """The busy wait in seconds: ``value`` if given, else ``$PATHWAY_BUSY_TIMEOUT``, else 30.

    A number of seconds from 0 (do not wait) to 3600; anything else is a ``StoreError`` naming
    where it came from.
    """
    where = "busy_timeout"
    if value is None:
        value = os.environ.get(BUSY_TIMEOUT_ENV, "").strip() or None
        where = f"${BUSY_TIMEOUT_ENV}"
    if value is None:
        return DEFAULT_BUSY_TIMEOUT_S
    if isinstance(value, str):
        text = value.strip()
        seconds = float(text) if _SECONDS.fullmatch(text) else math.nan
    else:
        seconds = float(value)
    if not 0 <= seconds <= MAX_BUSY_TIMEOUT_S:  # also refuses NaN
        raise StoreError(
            f"{where}: {value!r} is not a number of seconds from 0 to {MAX_BUSY_TIMEOUT_S:g}"
        )
    return seconds


def is_server_location(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL store (a ``postgresql://`` URL), not a file."""
    return str(location).startswith(POSTGRES_SCHEMES)


def open_store(
    location: str | Path, *, create: bool = True, busy_timeout: float | None = None
) -> SqliteStore | PostgresStore:
    """Open (creating if needed, unless ``create=False``) the case store at ``location``.

    ``location`` is a SQLite file path (``":memory:"`` for a throw-away store), or a
    ``postgresql://user@host:port/database?schema=NAME`` URL (docs/postgres.md; needs the
    ``postgres`` extra: ``pip install 'care-pathway[postgres]'``).

    ``busy_timeout`` is how many seconds a write waits for another process's lock before it
    fails with ``StoreBusy`` (default ``$PATHWAY_BUSY_TIMEOUT``, else 30). Every failure of the
    database underneath is a ``StoreError``.
    """
    wait = _busy_timeout(busy_timeout)
    text = str(location)
    if is_server_location(text):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"{text.split('@')[-1]}: PostgreSQL stores need psycopg 3 "
                f"(pip install 'care-pathway[postgres]'): {exc}"
            ) from None
        return PostgresStore(text, create=create, busy_timeout=wait)
    return SqliteStore(location, create=create, busy_timeout=wait)


def url_display(location: str | Path) -> str:
    """A location for messages: a PostgreSQL URL with its password masked."""
    text = str(location)
    if not is_server_location(text):
        return text
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(text)
    if parts.password is None:
        return text
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def store_exists(location: str | Path) -> bool:
    """Whether a store is at ``location`` already (a file, or a PostgreSQL schema with a store)."""
    text = str(location)
    if is_server_location(text):
        try:
            open_store(text, create=False).close()
        except StoreError:
            return False
        return True
    return text != ":memory:" and Path(text).exists()


def remove_store(location: str | Path) -> None:
    """Remove a store this process created and that must not stay (a failed import or copy)."""
    text = str(location)
    if is_server_location(text):
        try:
            from .postgres import drop_store

            drop_store(text)
        except Exception:  # unreachable or refused: then this process created nothing there
            return
        return
    for suffix in ("", "-wal", "-shm"):
        Path(text + suffix).unlink(missing_ok=True)


__all__ = [
    "BUSY_TIMEOUT_ENV",
    "DEFAULT_BUSY_TIMEOUT_S",
    "CaseQuery",
    "HistoryQuery",
    "Page",
    "SqliteStore",
    "Store",
    "StoreTransaction",
    "is_server_location",
    "open_store",
    "remove_store",
    "store_exists",
    "url_display",
]
