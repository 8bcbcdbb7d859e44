"""Render rows as a table, JSON, CSV or Markdown for the command line.

Kept apart from the library's logic: the library returns records, only the CLI formats them.

Imported values (case ids, team names, notes) come from other systems' files and may be hostile.
CSV cells that a spreadsheet would run as a formula are neutralised (:func:`csv_cell`), and
markdown cells are escaped so that no value can break the table or inject HTML
(:func:`markdown_cell`). JSON is written raw: it is data for programs, not for spreadsheets.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

FORMATS = ("table", "json", "csv", "markdown")


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection")."""

_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
"""A negative number written as text (money such as ``-1234.50``): a number to a spreadsheet."""


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single
    quote in front (as OWASP advises): ``=HYPERLINK(...)`` is then shown, not followed. Numbers
    are left alone, and so is text that is a plain number (``-1234.50``), which cannot be a formula.
    """
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


_MARKDOWN_ESCAPES = str.maketrans(
    {"\\": "\\\\", "|": "\\|", "[": "\\[", "]": "\\]", "&": "&amp;", "<": "&lt;"}
)
_NEWLINES = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
"""Every line break ``str.splitlines`` knows."""


def markdown_cell(value: Any) -> Any:
    """A markdown table cell that shows the text as it is and cannot break the table.

    A backslash, ``|``, ``[`` and ``]`` are escaped with a backslash (no column break, no link);
    ``&`` and ``<`` become HTML entities (no tag, entity or autolink can start; ``>`` alone opens
    nothing, so ``hub -> lets`` stays readable); each line break becomes ``<br>``, so a
    row stays on one line and a rendered table still shows the break. Numbers are left alone.
    """
    if not isinstance(value, str):
        return value
    return _NEWLINES.sub("<br>", value.translate(_MARKDOWN_ESCAPES))


def render_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Rows (dicts) in the chosen format; ``columns`` fixes the order (JSON keeps every key)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False)
    if fmt == "csv":
        # Written a row at a time with "\r\n" as the row's end, so that a cell holding a CR (not
        # only one holding a newline) is quoted, then joined with "\n" as before.
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        lines = []
        header = [csv_cell(c) for c in columns]
        for cells in itertools.chain(
            [header], ([csv_cell(_cell(r.get(c))) for c in columns] for r in rows)
        ):
            writer.writerow(cells)
            lines.append(out.getvalue()[:-2])
            out.seek(0)
            out.truncate()
        return "\n".join(lines)
    table = [[_cell(row.get(c)) for c in columns] for row in rows]
    headers = list(columns)
    if fmt == "markdown":
        table = [[markdown_cell(v) for v in line] for line in table]
        headers = [markdown_cell(c) for c in headers]
    # Text is shown as given: money ("1234.50") keeps its pence and ids ("007") their zeros;
    # columns of numbers are still aligned as numbers.
    text_columns = [
        i for i, c in enumerate(columns) if any(isinstance(row.get(c), str) for row in rows)
    ]
    return tabulate(
        table,
        headers=headers,
        tablefmt="github" if fmt == "markdown" else "simple",
        disable_numparse=text_columns or False,
    )


def render_record(record: Mapping[str, Any], fmt: str) -> str:
    """One record: a two-column field/value table, or a JSON object."""
    if fmt == "json":
        return json.dumps(record, indent=2, ensure_ascii=False)
    rows = [{"field": k, "value": _cell(v)} for k, v in record.items()]
    return render_rows(rows, ["field", "value"], fmt)
