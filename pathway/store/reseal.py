"""The free-text migration of a store written before free text was kept outside the chain.

Such a store's events hold their notes (and free-text data) as written, and each hash was
computed over that text. Moving the text out changes the hashed rows, so the migration re-seals
the chain, in the migration's own transaction, once:

1. it verifies the chain as it stands (and refuses to migrate a chain that does not verify:
   sealing a tampered chain would make the tampering verify);
2. from the first event with free text on, it replaces each text by its commitment, keeps the
   text and salt in ``free_text``, and recomputes every hash after it;
3. it records the head before and after in meta ``free_text_migration`` (JSON), so a checkpoint
   taken before the upgrade can be matched by hand; take a new checkpoint after it.

A store whose events hold no free text (a new one, or imported history without notes) keeps its
hashes unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..audit import verify_links
from ..canonical import GENESIS_HASH, canonical_json
from ..errors import StoreError
from ..sealing import SealedText, seal
from ..timeutil import format_instant
from .base import EVENT_COLUMNS, row_links, row_payload_json
from .privacyrows import FREE_TEXT_INSERT

MIGRATION_KEY = "free_text_migration"
LEGACY_FREE_TEXT = (
    "closure_reason", "coordination", "decline_reason", "enablement_plan", "mha_request_reason",
    "move_on_plan", "notes", "safeguarding_outcome",
)  # fmt: skip
"""The data fields moved out of existing events: those the shipped pathway declares free text
(``tests/test_privacy.py`` holds them equal). A definition's own ``free_text:`` list applies
to the events written from the upgrade on."""

_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
_BATCH = 5_000


def _has_free_text(data_text: str) -> bool:
    return any(f'"{key}":' in data_text for key in LEGACY_FREE_TEXT)


def reseal(conn: Any, *, disable: Iterable[str], enable: Iterable[str]) -> int:
    """Move existing events' free text out of the chain and re-seal it; the texts moved.

    ``conn`` takes ``?`` placeholders (sqlite3's, or the PostgreSQL adapter) inside the
    migration's transaction; ``disable``/``enable`` are the statements that lift and restore the
    events table's append-only triggers for the rewrite.
    """
    first = None
    for position, note, data in conn.execute(
        "SELECT position, note, data FROM events WHERE note IS NOT NULL OR data <> '{}' "
        "ORDER BY position"
    ):
        if note is not None or _has_free_text(str(data)):
            first = int(position)
            break
    if first is None:
        return 0
    result = verify_links(row_links(conn.execute(_SELECT + " ORDER BY position")))
    if not result.ok:
        raise StoreError(
            "cannot move the notes out of the audit chain: the chain does not verify as it "
            f"stands ({result.problem}); restore the store from a backup that verifies, or "
            "investigate with an older care-pathway's `pathway audit verify`"
        )
    old_head = result.head
    for statement in disable:
        conn.execute(statement)
    prev_row = conn.execute("SELECT hash FROM events WHERE position = ?", (first - 1,)).fetchone()
    prev = str(prev_row[0]) if prev_row else GENESIS_HASH
    moved, start = 0, first
    while start <= old_head.position:
        rows = conn.execute(
            _SELECT + " WHERE position >= ? AND position < ? ORDER BY position",
            (start, start + _BATCH),
        ).fetchall()
        for row in rows:
            values = list(row)
            note, data_text = values[20], str(values[21])
            texts: list[SealedText] = []
            if note is not None or _has_free_text(data_text):
                data = json.loads(data_text)
                keys = [k for k in LEGACY_FREE_TEXT if k in data]
                note, chained, texts = seal(note, data, keys)
                values[20], values[21] = note, canonical_json(chained) if chained else "{}"
            values[24] = prev
            digest = conn_hash(prev, values)
            conn.execute(
                "UPDATE events SET note = ?, data = ?, prev_hash = ?, hash = ? WHERE position = ?",
                (values[20], values[21], prev, digest, values[0]),
            )
            for t in texts:
                conn.execute(
                    FREE_TEXT_INSERT, (values[0], t.field, values[2], t.value_json, t.salt)
                )
            moved += len(texts)
            prev = digest
        start += _BATCH
    for statement in enable:
        conn.execute(statement)
    record = {
        "at": format_instant(datetime.now(UTC)),
        "before": {"position": old_head.position, "hash": old_head.hash},
        "after": {"position": old_head.position, "hash": prev},
        "texts_moved": moved,
    }
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (MIGRATION_KEY, json.dumps(record)))
    return moved


def conn_hash(prev: str, values: list[Any]) -> str:
    """The hash of an events row (``EVENT_COLUMNS`` order) after ``prev``."""
    from hashlib import sha256

    return sha256((prev + row_payload_json(values)).encode("utf-8")).hexdigest()
