"""Render rows as a table, JSON, CSV or Markdown for the command line.

Kept apart from the library's logic: the library returns records, only the CLI formats them.
"""

from __future__ import annotations

import csv
import io
import json
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


def render_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Rows (dicts) in the chosen format; ``columns`` fixes the order (JSON keeps every key)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return out.getvalue().rstrip("\n")
    table = [[_cell(row.get(c)) for c in columns] for row in rows]
    # Text is shown as given: money ("1234.50") keeps its pence and ids ("007") their zeros;
    # columns of numbers are still aligned as numbers.
    text_columns = [
        i for i, c in enumerate(columns) if any(isinstance(row.get(c), str) for row in rows)
    ]
    return tabulate(
        table,
        headers=list(columns),
        tablefmt="github" if fmt == "markdown" else "simple",
        disable_numparse=text_columns or False,
    )


def render_record(record: Mapping[str, Any], fmt: str) -> str:
    """One record: a two-column field/value table, or a JSON object."""
    if fmt == "json":
        return json.dumps(record, indent=2, ensure_ascii=False)
    rows = [{"field": k, "value": _cell(v)} for k, v in record.items()]
    return render_rows(rows, ["field", "value"], fmt)
