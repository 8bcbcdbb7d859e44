"""Canonical JSON: one byte sequence for one value, so hashes recompute exactly."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 text kept as is."""
    return _ENCODER.encode(value)


def chain_hash(prev_hash: str, payload: Any) -> str:
    """``sha256(prev_hash + canonical_json(payload))`` as hex."""
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()
