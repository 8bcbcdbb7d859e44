"""Checks every CSV importer makes of the text itself, before its own checks of the values.

A CSV file comes from another system, often by way of a spreadsheet: it may not be UTF-8, may
carry NUL characters (which PostgreSQL cannot store, so a SQLite store holding one could never be
migrated), or instants no store can hold. Each is a :class:`~pathway.errors.Problem` naming the
file, line and column, never a traceback.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .errors import DefinitionError, Problem
from .timeutil import parse_instant

NUL = "\x00"


def nul_problems(row: list[str], names: list[str], source: str, line: int) -> list[Problem]:
    """A problem for each field holding a NUL character (PostgreSQL cannot store one, so a
    SQLite store holding one could never be migrated): named by column and position."""
    return [
        Problem(
            source,
            names[i] if i < len(names) else "",
            f"column {i + 1}, character {value.index(NUL) + 1}: a NUL character (byte 0) is "
            "not allowed in a field; remove it from the file",
            line,
        )
        for i, value in enumerate(row)
        if NUL in value
    ]


def instant(text: str) -> datetime:
    """``parse_instant``, with instants outside years 1 to 9999 in UTC a ``ValueError`` too."""
    try:
        when = parse_instant(text)
        when.timestamp()
    except OverflowError:
        raise ValueError(
            f"{text.strip()!r} is outside the instants a store can hold (years 1 to 9999, in UTC)"
        ) from None
    return when


def undecodable(source: Path | str, name: str) -> DefinitionError:
    """The problem of a file that is not UTF-8: the line and column of its first bad byte."""
    with open(source, "rb") as raw:
        for number, line in enumerate(raw, start=1):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # the BOM is no column of the file
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(line[: exc.start].decode("utf-8", errors="replace")) + 1
                return DefinitionError(
                    [
                        Problem(
                            name,
                            "",
                            f"column {column}: byte 0x{line[exc.start]:02x} is not UTF-8: save "
                            "the file as UTF-8 (in Excel: CSV UTF-8)",
                            number,
                        )
                    ]
                )
    return DefinitionError([Problem(name, "", "the file is not UTF-8 text")])


__all__ = ["NUL", "instant", "nul_problems", "undecodable"]
