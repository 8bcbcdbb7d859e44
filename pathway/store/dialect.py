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
* bulk appends: ``executemany`` on SQLite, ``COPY`` on PostgreSQL;
* fields of the events' JSON ``data`` (text on both stores): SQLite's ``json_extract`` gives
  native values (1/0 for booleans), PostgreSQL's ``->>`` text; :func:`json_text`,
  :func:`json_integer`, :func:`json_number` and :func:`json_array_length` give the same value of
  the same type on both, and NULL for a field that is absent or of another JSON type;
* the calendar day a user-given ISO date text names (:func:`day_us`).

Plug-ins may use these helpers: they are part of the plug-in contract (docs/plugins.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


def dialect(conn: Any) -> str:
    """``"postgresql"`` for a PostgreSQL store's connection, else ``"sqlite"``."""
    return str(getattr(conn, "dialect", SQLITE))


def is_postgres(conn: Any) -> bool:
    """True if ``conn`` is a PostgreSQL store's connection (False for SQLite)."""
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
    return us_to_days(conn, f"{instant_us(conn, later)} - {instant_us(conn, earlier)}")


def us_to_days(conn: Any, microseconds: str) -> str:
    """Decimal days of an integer number of microseconds (a SQL expression, e.g. a difference of
    :func:`instant_us` / :func:`day_us` values), the same float on both backends."""
    return f"(CAST(({microseconds}) AS {real_type(conn)}) / 86400000000.0)"


def day_us(conn: Any, text: str) -> str:
    """Microseconds since 1970 of midnight UTC of the day an ISO date text names, else NULL.

    ``text`` is read as a date the way a user gives one (and :func:`datetime.date.fromisoformat`
    reads ``value.strip()[:10]``): its first ten characters once trimmed of spaces must be a real
    ``YYYY-MM-DD`` day (year 0001 to 9999); a time after them is ignored. Anything else (``2026-02-30``,
    ``15/01/2024``, NULL) gives NULL on both backends, never an error.
    """
    day = f"substr(trim({text}), 1, 10)"
    if is_postgres(conn):
        year, month = (
            f"CAST(substr({day}, 1, 4) AS INTEGER)",
            f"CAST(substr({day}, 6, 2) AS INTEGER)",
        )
        last = f"EXTRACT(DAY FROM make_date({year}, {month}, 1) + INTERVAL '1 month - 1 day')"
        # Nested CASEs: PostgreSQL evaluates a THEN only once its WHEN holds, so no cast can fail.
        return (
            f"(CASE WHEN {day} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' AND {day} NOT LIKE '0000%'"
            f" AND substr({day}, 6, 2) BETWEEN '01' AND '12' AND substr({day}, 9, 2) >= '01'"
            f" THEN CASE WHEN CAST(substr({day}, 9, 2) AS INTEGER) <= {last}"
            f" THEN CAST((CAST({day} AS DATE) - DATE '1970-01-01') AS BIGINT) * 86400000000"
            " END END)"
        )
    return (
        f"(CASE WHEN {day} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
        f" AND {day} NOT LIKE '0000%' AND date({day}, '+0 days') = {day}"
        f" THEN CAST(strftime('%s', {day}) AS INTEGER) * 1000000 END)"
    )


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a plain JSON field name: {key!r}")
    return key


def _json_field(
    conn: Any, column: str, key: str, sqlite_types: str, pg_type: str, value: str
) -> str:
    key = _key(key)
    if is_postgres(conn):
        field = f"CAST({column} AS json) -> '{key}'"
        return (
            f"(CASE WHEN json_typeof({field}) = '{pg_type}' THEN {value.format(field=field)} END)"
        )
    field = f"{column}, '$.{key}'"
    return (
        f"(CASE WHEN json_type({field}) IN ({sqlite_types}) THEN {value.format(field=field)} END)"
    )


def json_text(conn: Any, column: str, key: str) -> str:
    """The string field ``key`` of the JSON object in ``column``, as text.

    NULL when the field is absent, null or not a string (a boolean, a number, a list): SQLite's
    ``json_extract`` would give 1/0 or a number there and PostgreSQL's ``->>`` text, so neither
    is given.
    """
    if is_postgres(conn):
        return _json_field(conn, column, key, "", "string", f"CAST({column} AS json) ->> '{key}'")
    return _json_field(conn, column, key, "'text'", "", "json_extract({field})")


def json_integer(conn: Any, column: str, key: str) -> str:
    """The whole-number field ``key`` of the JSON object in ``column``, as a 64-bit integer.

    NULL when absent, not written as a whole number (``2.0``, ``"2"``, ``true``) or of more than
    18 digits. A ``SUM`` of it comes back as a Python int on both backends (PostgreSQL's numeric
    sum is loaded as an int when whole: :mod:`pathway.store.pgconn`).
    """
    if is_postgres(conn):
        text = f"(CAST({column} AS json) ->> '{_key(key)}')"
        return (
            f"(CASE WHEN {text} ~ '^-?[0-9]{{1,18}}$' THEN "
            + _json_field(conn, column, key, "", "number", f"CAST({text} AS BIGINT)")
            + " END)"
        )
    within = "BETWEEN -999999999999999999 AND 999999999999999999"
    value = (
        "(CASE WHEN typeof(json_extract({field})) = 'integer'"
        f" AND json_extract({{field}}) {within} THEN json_extract({{field}}) END)"
    )
    return _json_field(conn, column, key, "'integer'", "", value)


def json_number(conn: Any, column: str, key: str) -> str:
    """The number field ``key`` of the JSON object in ``column``, as an 8-byte float (a whole
    number too, so sums and averages are floats on both backends); NULL when absent or no number."""
    if is_postgres(conn):
        value = f"CAST(CAST({column} AS json) ->> '{_key(key)}' AS DOUBLE PRECISION)"
        return _json_field(conn, column, key, "", "number", value)
    return _json_field(
        conn, column, key, "'integer', 'real'", "", "CAST(json_extract({field}) AS REAL)"
    )


def json_array_length(conn: Any, column: str, key: str) -> str:
    """The number of elements of the list field ``key`` of the JSON object in ``column``, an
    integer; NULL when absent or not a list (where SQLite's own function would give 0 and
    PostgreSQL's raise an error)."""
    if is_postgres(conn):
        return _json_field(conn, column, key, "", "array", "json_array_length({field})")
    return _json_field(conn, column, key, "'array'", "", "json_array_length({field})")


def inline_cte(conn: Any) -> str:
    """The words ``NOT MATERIALIZED`` (and a space) for a CTE PostgreSQL should fold into the query (so correlated
    sub-queries on it use the table's indexes), empty on SQLite, which folds such CTEs itself."""
    return "NOT MATERIALIZED " if is_postgres(conn) else ""


def analyze(conn: Any, tables: Sequence[str]) -> None:
    """After a bulk load, refresh PostgreSQL's planner statistics of ``tables`` (autovacuum would
    do it only later, and until then the planner takes the tables for nearly empty)."""
    if is_postgres(conn):
        conn.execute(f"ANALYZE {', '.join(tables)}")


def stream(conn: Any, sql: str, parameters: Any = ()) -> Iterable[Sequence[Any]]:
    """The rows of a long read inside a transaction, a batch at a time: a server-side cursor on
    PostgreSQL (whose default cursor would fetch every row into memory first); on SQLite a cursor
    already steps through the rows as they are read."""
    stream_rows = getattr(conn, "stream_rows", None)
    if stream_rows is not None:
        rows: Iterable[Sequence[Any]] = stream_rows(sql, parameters)
        return rows
    return conn.execute(sql, parameters)  # type: ignore[no-any-return]


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
