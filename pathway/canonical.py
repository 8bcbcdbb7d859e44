"""Canonical JSON: one byte sequence for one value, so hashes recompute exactly."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

GENESIS_HASH = "0" * 64


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 text kept as is."""
    return _ENCODER.encode(value)


def chain_hash(prev_hash: str, payload: Any) -> str:
    """``sha256(prev_hash + canonical_json(payload))`` as hex."""
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


def new_event_id() -> str:
    """A unique event id, 32 hex digits: 64 bits of nanoseconds, then 64 random bits.

    Random ids (uuid4) scatter inserts over the whole unique index; ids that grow with time are
    appended at its right edge, so each durable commit writes fewer pages.
    """
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def new_event_ids(count: int) -> list[str]:
    """``count`` new event ids at once, as :func:`new_event_id` makes them (for bulk appends):
    one read of random bytes for all of them instead of one each."""
    randoms = os.urandom(8 * count).hex()
    clock = time.time_ns
    return [f"{clock():016x}{randoms[16 * i : 16 * i + 16]}" for i in range(count)]
