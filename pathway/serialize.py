"""Convert the library's records to and from JSON-ready dicts (cattrs), with canonical instants."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import cattrs

from .timeutil import format_instant, parse_instant

T = TypeVar("T")

converter = cattrs.Converter()
"""The cattrs converter behind :func:`to_dict` and :func:`from_dict` (instants as canonical text)."""
converter.register_unstructure_hook(datetime, format_instant)
converter.register_structure_hook(datetime, lambda value, _: parse_instant(value))
converter.register_unstructure_hook(tuple, list)


def to_dict(record: Any) -> dict[str, Any]:
    """A JSON-ready dict of an attrs record (instants as canonical ISO 8601 text)."""
    result: dict[str, Any] = converter.unstructure(record)
    return result


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build a record of ``cls`` from a dict made by :func:`to_dict` (or read from JSON)."""
    return converter.structure(dict(data), cls)


__all__ = ["converter", "format_instant", "from_dict", "parse_instant", "to_dict"]
