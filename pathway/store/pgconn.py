"""A psycopg connection that runs the library's SQL text as written for sqlite3.

The store, the import and the reports write SQL once, with sqlite3's placeholders (``?`` and
``:name``). :class:`PgConnection` wraps a psycopg 3 connection and turns them into psycopg's
(``%s`` and ``%(name)s``, a literal ``%`` doubled), outside string literals, quoted names and
comments, so the same text runs on both backends. Where the dialects really differ, the reports
use the helpers of :mod:`pathway.store.dialect`.

Results come back as sqlite3 would give them: aggregates PostgreSQL returns as ``numeric`` (the
``SUM`` of integers) are loaded as ``int`` when whole and ``float`` otherwise, never ``Decimal``.

This module imports psycopg: only the PostgreSQL store imports it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Loader

DIALECT = "postgresql"


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """``?`` -> ``%s``, ``:name`` -> ``%(name)s``, ``%`` -> ``%%``; literals and casts kept."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":  # a string literal or a quoted name: copy to its closing quote
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # a doubled quote inside
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j == -1 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == ":" and sql.startswith("::", i):  # a PostgreSQL cast
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class _NumericLoader(Loader):
    """``numeric`` as sqlite3 gives such values: an int when whole, else a float."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode("ascii"))
        if value == value.to_integral_value():
            return int(value)
        return float(value)


def configure(conn: psycopg.Connection[Any]) -> None:
    """Set up a new connection of the store (the pool calls this for each)."""
    conn.adapters.register_loader("numeric", _NumericLoader)


_STREAM_NAMES = itertools.count(1)


class PgConnection:
    """A psycopg connection taking sqlite3-style SQL; ``raw`` is the psycopg connection."""

    dialect = DIALECT

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the connection (as sqlite3's attribute says)."""
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Any = None, /) -> psycopg.Cursor[Any]:
        """Run ``sql`` written for sqlite3 (``?`` and ``:name`` placeholders)."""
        if not parameters:
            return self.raw.execute(sql)
        if not isinstance(parameters, dict):
            parameters = tuple(parameters)
        return self.raw.execute(translate(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        """Run ``sql`` (``?`` placeholders) once for each row of ``parameters``."""
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), parameters)
        return cursor

    def statements(self) -> PgStatements:
        """A runner of one statement at a time on one reused cursor (see :class:`PgStatements`)."""
        return PgStatements(self.raw)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append rows to a table with ``COPY`` (the fast path of bulk loads)."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # the library's own names
        with self.raw.cursor().copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def stream_rows(self, sql: str, parameters: Any = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` through a server-side cursor, 2,000 at a time (other statements
        may run between batches). A server-side cursor lives in a transaction: on a connection
        in autocommit mode, one is opened for the read and the statements run between its
        batches (a report's temporary tables, say), and committed when the rows are done."""
        if not self.in_transaction:
            with self.raw.transaction():
                yield from self.stream_rows(sql, parameters)
            return
        with self.raw.cursor(name=f"pathway_stream_{next(_STREAM_NAMES)}") as cursor:
            cursor.itersize = 2000
            cursor.execute(translate(sql), tuple(parameters) if parameters else None)
            yield from cursor

    def commit(self) -> None:
        """Commit the connection's transaction."""
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()


class PgStatements(PgConnection):
    """Runs statements on one cursor, reused: each ``execute`` replaces the previous result.

    For code that reads each result before the next statement (the store's own writes), it saves
    making a cursor per statement; never hand it to code that iterates one result while running
    another statement.
    """

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        super().__init__(raw)
        self._cursor = raw.cursor()

    def execute(self, sql: str, parameters: Any = None, /) -> psycopg.Cursor[Any]:
        """Run ``sql`` (sqlite3 placeholders) on this object's one cursor."""
        if not parameters:
            return self._cursor.execute(sql)
        if not isinstance(parameters, dict):
            parameters = tuple(parameters)
        return self._cursor.execute(translate(sql), parameters)
