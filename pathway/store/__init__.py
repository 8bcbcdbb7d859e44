"""Case stores: the contract and its backends (SQLite, the embedded default; PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from .base import Store, StoreTransaction
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_server_location(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL store (a ``postgresql://`` URL), not a file."""
    return str(location).startswith(POSTGRES_SCHEMES)


def open_store(location: str | Path, *, create: bool = True) -> SqliteStore | PostgresStore:
    """Open (creating if needed, unless ``create=False``) the case store at ``location``.

    ``location`` is a SQLite file path (``":memory:"`` for a throw-away store), or a
    ``postgresql://user@host:port/database?schema=NAME`` URL (docs/postgres.md; needs the
    ``postgres`` extra: ``pip install 'care-pathway[postgres]'``).
    """
    text = str(location)
    if is_server_location(text):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"{text.split('@')[-1]}: PostgreSQL stores need psycopg 3 "
                f"(pip install 'care-pathway[postgres]'): {exc}"
            ) from None
        return PostgresStore(text, create=create)
    return SqliteStore(location, create=create)


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
    "SqliteStore",
    "Store",
    "StoreTransaction",
    "is_server_location",
    "open_store",
    "remove_store",
    "store_exists",
    "url_display",
]
