"""The tamper-evident audit trail: event hashing, chain verification and checkpoints.

Every event stores the hash of the event before it in the store-wide order (``position``), and its
own hash is ``sha256(prev_hash + canonical_json(event without its hash))``. Editing any stored
event, or reordering events, breaks the chain from that event on; ``verify`` names the first event
that does not match. Deleting the newest events leaves a shorter chain that still verifies, so a
*checkpoint* (the head's position and hash), kept outside the database, is needed to catch
truncation: ``verify(against=checkpoint)`` checks that the head it names is still there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs

from .canonical import GENESIS_HASH, chain_hash
from .model import AuditEvent
from .timeutil import format_instant


def hash_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: every field but the hash itself, as JSON values.

    Built by hand rather than through cattrs: it runs once per transition on the hot path, and
    it must stay byte-for-byte stable, so it is spelled out.
    """
    return {
        "event_id": event.event_id,
        "case_id": event.case_id,
        "seq": event.seq,
        "position": event.position,
        "occurred_at": format_instant(event.occurred_at),
        "recorded_at": format_instant(event.recorded_at),
        "trigger": event.trigger,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "from_team": event.from_team,
        "to_team": event.to_team,
        "from_organisation": event.from_organisation,
        "to_organisation": event.to_organisation,
        "actor_id": event.actor_id,
        "actor_team": event.actor_team,
        "actor_roles": list(event.actor_roles),
        "outcome": event.outcome,
        "pathway_id": event.pathway_id,
        "pathway_version": event.pathway_version,
        "reasons": list(event.reasons),
        "note": event.note,
        "data": dict(event.data),
        "imported": event.imported,
        "closes": event.closes,
        "prev_hash": event.prev_hash,
    }


def event_hash(event: AuditEvent) -> str:
    """The hash an event must carry, given its ``prev_hash``."""
    return chain_hash(event.prev_hash, hash_payload(event))


@attrs.frozen
class Checkpoint:
    """The head of the chain at some moment: keep it outside the database to catch truncation."""

    position: int
    hash: str

    def to_json(self) -> str:
        return json.dumps({"position": self.position, "hash": self.hash})

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse a checkpoint printed by ``pathway audit checkpoint``; ``ValueError`` if malformed."""
        try:
            raw = json.loads(text)
            position, digest = raw["position"], raw["hash"]
        except (ValueError, TypeError, KeyError):
            raise ValueError(
                'not a checkpoint: expected JSON like {"position": 12, "hash": "ab12..."}'
            ) from None
        if not isinstance(position, int) or not isinstance(digest, str) or position < 0:
            raise ValueError("not a checkpoint: position must be a whole number, hash a string")
        return cls(position, digest)


@attrs.frozen
class VerifyResult:
    """The outcome of verifying the chain: ``ok``, how many events were checked, and what failed."""

    ok: bool
    events: int
    head: Checkpoint
    problem: str | None = None
    failed_position: int | None = None
    failed_event_id: str | None = None


def verify_events(events: Iterable[AuditEvent], against: Checkpoint | None = None) -> VerifyResult:
    """Recompute the chain over ``events`` (in position order) and stop at the first mismatch."""
    expected_prev = GENESIS_HASH
    expected_position = 1
    count = 0
    head = Checkpoint(0, GENESIS_HASH)
    seen_checkpoint = against is None or against.position == 0
    for event in events:
        count += 1
        problem = None
        if event.position != expected_position:
            problem = f"expected position {expected_position}, found {event.position} (events missing or reordered)"
        elif event.prev_hash != expected_prev:
            problem = "its prev_hash does not match the hash of the event before it"
        elif event_hash(event) != event.hash:
            problem = "its contents do not match its hash (the event was altered)"
        if problem is not None:
            return VerifyResult(
                False,
                count,
                head,
                f"event at position {event.position} (id {event.event_id}, case {event.case_id}): {problem}",
                event.position,
                event.event_id,
            )
        if against is not None and event.position == against.position:
            if event.hash != against.hash:
                return VerifyResult(
                    False,
                    count,
                    head,
                    f"event at position {event.position} (id {event.event_id}) has hash "
                    f"{event.hash[:12]}…, not the checkpoint's {against.hash[:12]}…",
                    event.position,
                    event.event_id,
                )
            seen_checkpoint = True
        expected_prev = event.hash
        expected_position += 1
        head = Checkpoint(event.position, event.hash)
    if not seen_checkpoint and against is not None:
        return VerifyResult(
            False,
            count,
            head,
            f"the chain ends at position {head.position}, before the checkpoint's position "
            f"{against.position}: events were removed (truncation)",
        )
    return VerifyResult(True, count, head)
