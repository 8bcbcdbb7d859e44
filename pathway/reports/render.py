"""Turn a report's JSON into headline figures and titled tables for the command line."""

from __future__ import annotations

from typing import Any

Section = tuple[str, list[dict[str, Any]]]


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, list | tuple):
        return " -> ".join(str(v) for v in value)
    return value


def flatten(
    report: dict[str, Any], top: int | None, totals: dict[str, int] | None = None
) -> tuple[dict[str, Any], list[Section]]:
    """Headline scalars and (title, rows) sections; lists are cut to ``top`` rows (None: all).

    ``totals`` gives the full length of a list the report already holds cut (by key path, e.g.
    ``{"by_case": 200000}``), so that its title still says "top 20 of 200000".
    """
    known = totals or {}
    headline: dict[str, Any] = {}
    sections: list[Section] = []

    def walk(prefix: str, value: dict[str, Any]) -> None:
        for key, item in value.items():
            name = f"{prefix}{key}"
            if isinstance(item, dict):
                walk(f"{name}.", item)
            elif isinstance(item, list | tuple):
                shown = [r if isinstance(r, dict) else {"value": r} for r in item[:top]]
                total = known.get(name, len(item))
                title = name + (
                    f" (top {top} of {total})" if top is not None and total > top else ""
                )
                sections.append((title, [{k: _cell(v) for k, v in r.items()} for r in shown]))
            else:
                headline[name] = _cell(item)

    walk("", report)
    return headline, sections
