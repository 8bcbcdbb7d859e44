"""The few places where SQLite's and PostgreSQL's SQL differ, as small helpers.

The library writes each query once, in the SQL both dialects share, with sqlite3's placeholders
(a PostgreSQL store's connection translates them: :mod:`pathway.store.pgconn`). Where the
dialects differ, a helper gives the text for the connection at hand:

* scalar ``MAX(a, b)`` / ``MIN(a, b)`` of SQLite are ``GREATEST`` / ``LEAST`` in PostgreSQL;
* a temporary table is ``temp.name`` in SQLite and ``pg_temp.name`` in PostgreSQL;
* column types: text compares byte by byte in SQLite; PostgreSQL columns say ``COLLATE "C"`` so
  that every ``ORDER BY`` and comparison gives the same order; SQLite's ``REAL`` is 8 bytes,
  PostgreSQL's 4, so doubles are ``DOUBLE PRECISION`` there;
* ordered string aggregation (``group_concat`` over an ordered subquery / ``string_agg ...
  ORDER BY``);
* the exact microseconds of a stored instant (fixed-width UTC text), so durations computed from
  it are the same float on both backends;
* bulk appends: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


def dialect(conn: Any) -> str:
    """``"postgresql"`` for a PostgreSQL store's connection, else ``"sqlite"``."""
    return str(getattr(conn, "dialect", SQLITE))


def is_postgres(conn: Any) -> bool:
    return dialect(conn) == POSTGRESQL


def greatest(conn: Any, *args: str) -> str:
    """The largest of several SQL expressions (NULL if any is NULL, on both backends)."""
    return f"{'GREATEST' if is_postgres(conn) else 'MAX'}({', '.join(args)})"


def least(conn: Any, *args: str) -> str:
    """The smallest of several SQL expressions (NULL if any is NULL, on both backends)."""
    return f"{'LEAST' if is_postgres(conn) else 'MIN'}({', '.join(args)})"


def temp_table(conn: Any, name: str) -> str:
    """The qualified name of a temporary table (for DROP and INSERT; CREATE TEMP takes the bare name)."""
    return f"{'pg_temp' if is_postgres(conn) else 'temp'}.{name}"


def text_type(conn: Any) -> str:
    """A text column type that sorts and compares byte by byte."""
    return 'TEXT COLLATE "C"' if is_postgres(conn) else "TEXT"


def real_type(conn: Any) -> str:
    """An 8-byte floating-point column type."""
    return "DOUBLE PRECISION" if is_postgres(conn) else "REAL"


def string_agg(conn: Any, expr: str, separator: str, order_by: str) -> str:
    """Concatenate ``expr`` with ``separator`` (a SQL expression) in the order ``order_by``.

    SQLite's ``group_concat`` keeps the order of the rows it is given, so on SQLite the caller
    must feed it from a subquery sorted by ``order_by``; PostgreSQL is told the order.
    """
    if is_postgres(conn):
        return f"string_agg({expr}, {separator} ORDER BY {order_by})"
    return f"group_concat({expr}, {separator})"


def char(conn: Any, code: int) -> str:
    """The one-character string of a code point, as a SQL expression."""
    return f"{'chr' if is_postgres(conn) else 'char'}({int(code)})"


def utc_month(conn: Any, seconds: str) -> str:
    """``YYYY-MM`` (UTC) of POSIX seconds, as a SQL expression."""
    if is_postgres(conn):
        return f"to_char(to_timestamp({seconds}) AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"strftime('%Y-%m', {seconds}, 'unixepoch')"


def begin_snapshot(conn: Any) -> str:
    """Start a read transaction in which every statement sees the same moment of the store
    (SQLite's deferred BEGIN does; PostgreSQL needs REPEATABLE READ for it)."""
    return "BEGIN ISOLATION LEVEL REPEATABLE READ" if is_postgres(conn) else "BEGIN"


def instant_us(conn: Any, column: str) -> str:
    """Microseconds since 1970 of a stored instant (``2026-01-05T09:00:00.000000+00:00``).

    An integer on both backends, so durations built from it are exact: stored instants are UTC
    text of fixed width (see :mod:`pathway.timeutil`).
    """
    if is_postgres(conn):
        return f"(EXTRACT(EPOCH FROM CAST({column} AS TIMESTAMPTZ)) * 1000000)::BIGINT"
    return (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000"
        f" + CAST(substr({column}, 21, 6) AS INTEGER))"
    )


def days_between(conn: Any, later: str, earlier: str) -> str:
    """Decimal days from one stored instant to another, the same float on both backends."""
    diff = f"({instant_us(conn, later)} - {instant_us(conn, earlier)})"
    if is_postgres(conn):
        return f"(CAST({diff} AS DOUBLE PRECISION) / 86400000000.0)"
    return f"(CAST({diff} AS REAL) / 86400000000.0)"


def inline_cte(conn: Any) -> str:
    """``NOT MATERIALIZED `` for a CTE PostgreSQL should fold into the query (so correlated
    sub-queries on it use the table's indexes), empty on SQLite, which folds such CTEs itself."""
    return "NOT MATERIALIZED " if is_postgres(conn) else ""


def analyze(conn: Any, tables: Sequence[str]) -> None:
    """After a bulk load, refresh PostgreSQL's planner statistics of ``tables`` (autovacuum would
    do it only later, and until then the planner takes the tables for nearly empty)."""
    if is_postgres(conn):
        conn.execute(f"ANALYZE {', '.join(tables)}")


def bulk_insert(
    conn: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Append many rows to a table: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
    copy_rows = getattr(conn, "copy_rows", None)
    if copy_rows is not None:
        copy_rows(table, columns, rows)
        return
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
