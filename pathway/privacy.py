"""Personal data a store holds about a case: redaction, retention and subject access.

* :func:`redact_case` removes a case's free text (notes and declared free-text fields, kept
  outside the audit chain: :mod:`pathway.sealing`) and its personal details, and records who did
  it, when and why in the privacy log, all in one transaction. The audit chain still verifies;
  ``audit verify`` counts the texts as redacted, not as tampered.
* :func:`retention_candidates` / :func:`apply_retention`: the closed cases whose last event is
  older than a date, and their redaction in one transaction (docs/privacy.md).
* :func:`export_case`: everything held about a case, as JSON against
  ``schemas/case_export.schema.json`` (a subject access request).

On SQLite, a redaction ends with ``VACUUM`` and a checkpoint of the write-ahead log, so the
removed text is not left in the file's free pages or in the ``-wal`` file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import attrs

from .canonical import canonical_json
from .errors import CaseNotFound, InvalidRequest
from .model import Actor
from .serialize import to_dict
from .store.base import Store
from .store.placementrows import PERIOD_COLUMNS
from .store.privacyrows import (
    REDACTION_COLUMNS,
    free_text_fields,
    redaction_hash,
    redactions_head,
    scrub_json_keys,
)
from .timeutil import format_instant

EXPORT_FORMAT = "care-pathway case export 1"
REDACTED = "redacted"
"""What an idempotency record's data and note digests become when the case is redacted."""
MAX_REASON = 500


@attrs.frozen
class Redaction:
    """One recorded redaction: the privacy log's entry and what it removed."""

    position: int
    case_id: str
    recorded_at: str
    actor_id: str
    actor_team: str
    reason: str
    texts: int
    person: bool
    compacted: bool = True
    """SQLite: whether ``VACUUM`` ran after it (``False`` when another connection held the
    file: the redaction is committed; run :func:`compact` again later)."""


@attrs.frozen
class RetentionCandidate:
    """A closed case past the retention date, and what it still holds."""

    case_id: str
    closed_at: str
    last_event_at: str
    texts: int
    person: bool


def _check_request(actor: Actor, reason: str) -> str:
    if not isinstance(actor, Actor) or not actor.id or not actor.team:
        raise InvalidRequest("a redaction needs an actor with an id and a team")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidRequest("a redaction needs a reason (why the data is removed)")
    if len(text) > MAX_REASON:
        raise InvalidRequest(f"the reason is longer than {MAX_REASON} characters")
    return text


def redact_case(
    store: Store, case_id: str, *, reason: str, actor: Actor, vacuum: bool = True
) -> Redaction:
    """Remove a case's free text and personal details, as one audited act (all or nothing).

    The case's events stay, with their commitments: the chain verifies after. The case row's
    free-text attributes and the stored results of its idempotency keys lose the same fields.
    """
    text = _check_request(actor, reason)
    return _redact_many(store, [case_id], text, actor, vacuum)[0]


def _redact_many(
    store: Store, case_ids: Iterable[str], reason: str, actor: Actor, vacuum: bool
) -> list[Redaction]:
    done: list[Redaction] = []
    now = format_instant(datetime.now(UTC))
    with store.transaction() as tx:
        conn = tx.connection
        chain_position, chain_hash = tx.chain_head()  # also holds the chain: one writer at once
        log_position, log_hash = redactions_head(conn)
        for case_id in case_ids:
            row = conn.execute("SELECT attributes FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFound(case_id)
            log_position += 1
            texts = int(
                conn.execute(
                    "UPDATE free_text SET value = NULL, salt = NULL, redaction = ? "
                    "WHERE case_id = ? AND value IS NOT NULL",
                    (log_position, case_id),
                ).rowcount
            )
            person = bool(conn.execute("DELETE FROM people WHERE case_id = ?", (case_id,)).rowcount)
            if texts:
                _scrub(conn, case_id, str(row[0]), free_text_fields(conn, case_id))
            values = (
                log_position, case_id, now, actor.id, actor.team, reason, texts, int(person),
                chain_position, chain_hash, log_hash,
            )  # fmt: skip
            log_hash = redaction_hash(values)
            conn.execute(
                f"INSERT INTO redactions ({', '.join(REDACTION_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(REDACTION_COLUMNS))})",
                (*values, log_hash),
            )
            done.append(
                Redaction(log_position, case_id, now, actor.id, actor.team, reason, texts, person)
            )
    if vacuum and not compact(store):
        done = [attrs.evolve(d, compacted=False) for d in done]
    return done


def _scrub(conn: Any, case_id: str, attributes: str, keys: list[str]) -> None:
    """Remove the free-text fields from the case row, and from its idempotency keys' stored
    results and request digests (an unsalted digest of a short text can be confirmed by
    guessing; a retry of a redacted call is refused as a different request, never re-applied)."""
    if keys:
        conn.execute(
            "UPDATE cases SET attributes = ? WHERE id = ?",
            (scrub_json_keys(attributes, keys), case_id),
        )
    for key, result, fingerprint in conn.execute(
        "SELECT key, result, fingerprint FROM idempotency WHERE case_id = ?", (case_id,)
    ).fetchall():
        value = json.loads(result)
        stored = value.get("case")
        if isinstance(stored, dict) and isinstance(stored.get("attributes"), dict):
            for name in keys:
                stored["attributes"].pop(name, None)
        digests = json.loads(fingerprint) if fingerprint is not None else None
        if isinstance(digests, dict):
            digests.update({part: REDACTED for part in ("data", "note") if part in digests})
        conn.execute(
            "UPDATE idempotency SET result = ?, fingerprint = ? WHERE key = ?",
            (
                json.dumps(value),
                canonical_json(digests) if digests is not None else fingerprint,
                key,
            ),
        )


def compact(store: Store) -> bool:
    """SQLite: rewrite the file without its free pages (``VACUUM``) and empty the write-ahead
    log, so removed text is gone from the bytes on disk. PostgreSQL reclaims dead rows by its
    own (auto)vacuum; docs/privacy.md says what a database administrator runs.

    False when SQLite could not (another connection was reading or writing the file)."""
    if getattr(store, "dialect", "sqlite") != "sqlite" or store.location == ":memory:":
        return True
    conn = store.connection
    try:
        conn.execute("VACUUM")
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error:
        return False
    return not (busy and busy[0])


def retention_candidates(store: Store, closed_before: date) -> list[RetentionCandidate]:
    """Closed cases whose last event is before ``closed_before`` and that still hold free text
    or personal details (by case id)."""
    cutoff = format_instant(
        datetime(closed_before.year, closed_before.month, closed_before.day, tzinfo=UTC)
    )
    conn = store.connection
    rows = conn.execute(
        "SELECT c.id, c.closed_at, c.last_at, "
        "(SELECT COUNT(*) FROM free_text AS f WHERE f.case_id = c.id AND f.value IS NOT NULL), "
        "(SELECT COUNT(*) FROM people AS p WHERE p.case_id = c.id) "
        "FROM cases AS c WHERE c.closed_at IS NOT NULL AND c.last_at < ? ORDER BY c.id",
        (cutoff,),
    ).fetchall()
    return [
        RetentionCandidate(str(r[0]), str(r[1]), str(r[2]), int(r[3]), bool(r[4]))
        for r in rows
        if int(r[3]) or int(r[4])
    ]


def apply_retention(
    store: Store, closed_before: date, *, actor: Actor, reason: str | None = None
) -> list[Redaction]:
    """Redact every retention candidate in one transaction, each with its privacy-log entry."""
    text = _check_request(
        actor, reason or f"retention: closed, last event before {closed_before.isoformat()}"
    )
    found = retention_candidates(store, closed_before)
    if not found:
        return []
    return _redact_many(store, [c.case_id for c in found], text, actor, True)


def export_case(store: Store, case_id: str) -> dict[str, Any]:
    """Everything the store holds about a case, for a subject access request."""
    case = store.case(case_id)
    events = store.history(case_id)
    person = store.person(case_id)
    conn = store.connection
    placements = [
        dict(zip(PERIOD_COLUMNS, row, strict=True))
        for row in conn.execute(
            f"SELECT {', '.join(PERIOD_COLUMNS)} FROM placement_periods WHERE case_id = ? "
            "ORDER BY event_position, placement_id, start_day",
            (case_id,),
        ).fetchall()
    ]
    for period in placements:
        for key in ("s117", "s117_person"):
            period[key] = bool(period[key])
    redactions = [
        {k: v for k, v in zip(REDACTION_COLUMNS, row, strict=True) if k not in ("prev_hash",)}
        for row in conn.execute(
            f"SELECT {', '.join(REDACTION_COLUMNS)} FROM redactions WHERE case_id = ? "
            "ORDER BY position",
            (case_id,),
        ).fetchall()
    ]
    for entry in redactions:
        entry["person"] = bool(entry["person"])
    history = []
    for event in events:
        item = to_dict(event)
        item["redacted"] = list(event.redacted)
        history.append(item)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": format_instant(datetime.now(UTC)),
        "case": to_dict(case),
        "person": to_dict(person) if person is not None else None,
        "history": history,
        "placements": placements,
        "redactions": redactions,
    }


__all__ = [
    "Redaction",
    "RetentionCandidate",
    "apply_retention",
    "compact",
    "export_case",
    "redact_case",
    "retention_candidates",
]
