"""The tamper-evident audit trail: event hashing, chain verification and checkpoints.

Every event stores the hash of the event before it in the store-wide order (``position``), and its
own hash is ``sha256(prev_hash + canonical_json(event without its hash))``. Editing any stored
event, or reordering events, breaks the chain from that event on; ``verify`` names the first event
that does not match. Deleting the newest events leaves a shorter chain that still verifies, so a
*checkpoint* (the head's position and hash), kept outside the database, is needed to catch
truncation: ``verify(against=checkpoint)`` checks that the head it names is still there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import Any, NamedTuple

import attrs

from .canonical import GENESIS_HASH, canonical_json
from .model import AuditEvent
from .timeutil import format_instant


def hash_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: every field but the hash itself, as JSON values.

    The reference definition: an event's hash is ``sha256(prev_hash +
    canonical_json(hash_payload(event)))``. The store, the import and ``verify`` write the same
    text faster with :func:`payload_json`, which tests hold equal to this, byte for byte.
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


# The canonical JSON of ``hash_payload``, written out in its sorted key order so that each event
# costs one string format instead of a dict and a general encoder run (the largest CPU cost of a
# transition and of an import). ``tests/test_audit.py`` checks it byte for byte against
# ``canonical_json(hash_payload(event))`` on generated events.
_PAYLOAD_KEYS = (
    "actor_id", "actor_roles", "actor_team", "case_id", "closes", "data", "event_id",
    "from_organisation", "from_state", "from_team", "imported", "note", "occurred_at", "outcome",
    "pathway_id", "pathway_version", "position", "prev_hash", "reasons", "recorded_at", "seq",
    "to_organisation", "to_state", "to_team", "trigger",
)  # fmt: skip
assert list(_PAYLOAD_KEYS) == sorted(_PAYLOAD_KEYS)
_PAYLOAD_TEMPLATE = "{" + ",".join(f'"{key}":%s' for key in _PAYLOAD_KEYS) + "}"


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _list(values: Iterable[str]) -> str:
    values = list(values)
    return "[" + ",".join(map(encode_basestring, values)) + "]" if values else "[]"


def payload_json(
    *,
    event_id: str,
    case_id: str,
    seq: int,
    position: int,
    occurred_at: str,
    recorded_at: str,
    trigger: str,
    from_state: str | None,
    to_state: str | None,
    from_team: str | None,
    to_team: str | None,
    from_organisation: str | None,
    to_organisation: str | None,
    actor_id: str,
    actor_team: str,
    actor_roles_json: str,
    outcome: str,
    pathway_id: str,
    pathway_version: str,
    reasons_json: str,
    note: str | None,
    data_json: str,
    imported: bool,
    closes: bool,
    prev_hash: str,
) -> str:
    """The canonical JSON of an event's hashed fields, from its stored (text) values.

    Times are the stored ISO 8601 texts; ``actor_roles_json``, ``reasons_json`` and ``data_json``
    are already canonical JSON (as the store writes them). Equal to
    ``canonical_json(hash_payload(event))``.
    """
    return _PAYLOAD_TEMPLATE % (
        encode_basestring(actor_id), actor_roles_json, encode_basestring(actor_team),
        encode_basestring(case_id), "true" if closes else "false", data_json,
        encode_basestring(event_id), _text(from_organisation), _text(from_state),
        _text(from_team), "true" if imported else "false", _text(note),
        encode_basestring(occurred_at), encode_basestring(outcome), encode_basestring(pathway_id),
        encode_basestring(pathway_version), int(position), encode_basestring(prev_hash),
        reasons_json, encode_basestring(recorded_at), int(seq), _text(to_organisation),
        _text(to_state), _text(to_team), encode_basestring(trigger),
    )  # fmt: skip


IMPORTED_SLOTS = (
    "actor_id", "actor_team", "case_id", "closes", "data", "event_id", "from_organisation",
    "from_state", "from_team", "occurred_at", "position", "prev_hash", "seq", "to_organisation",
    "to_state", "to_team", "trigger",
)  # fmt: skip
"""The fields an imported event's hashed text leaves open in :func:`imported_payload_template`,
in the order its ``%s`` slots take them (the canonical key order)."""

_UNQUOTED = frozenset({"event_id", "occurred_at", "prev_hash"})


def imported_payload_template(*, recorded_at: str, pathway_id: str, pathway_version: str) -> str:
    """The hashed text of one import's events, with what they all share already written in.

    An import records many events that differ only in some fields (``IMPORTED_SLOTS``); the rest
    (when they were recorded, the pathway, ``imported`` true, no roles, reasons or note, outcome
    ``applied``) are the same for all of them. Formatting the template with the open fields, as
    :func:`payload_json` would encode them, gives exactly ``payload_json``'s text: it is built
    from the same template. ``event_id``, ``occurred_at`` and ``prev_hash`` go in as their bare
    text (the slot has the quotes): hex digits and the canonical instant need no escaping.
    """
    fixed = {
        "actor_roles": "[]",
        "imported": "true",
        "note": "null",
        "outcome": encode_basestring("applied"),
        "pathway_id": encode_basestring(pathway_id),
        "pathway_version": encode_basestring(pathway_version),
        "reasons": "[]",
        "recorded_at": encode_basestring(recorded_at),
    }
    assert sorted((*fixed, *IMPORTED_SLOTS)) == list(_PAYLOAD_KEYS)
    return _PAYLOAD_TEMPLATE % tuple(
        fixed[key].replace("%", "%%") if key in fixed else ('"%s"' if key in _UNQUOTED else "%s")
        for key in _PAYLOAD_KEYS
    )


def event_payload_json(event: AuditEvent) -> str:
    """``canonical_json(hash_payload(event))``, fast (see ``payload_json``)."""
    return payload_json(
        event_id=event.event_id, case_id=event.case_id, seq=event.seq, position=event.position,
        occurred_at=format_instant(event.occurred_at),
        recorded_at=format_instant(event.recorded_at), trigger=event.trigger,
        from_state=event.from_state, to_state=event.to_state, from_team=event.from_team,
        to_team=event.to_team, from_organisation=event.from_organisation,
        to_organisation=event.to_organisation, actor_id=event.actor_id,
        actor_team=event.actor_team, actor_roles_json=_list(event.actor_roles),
        outcome=event.outcome, pathway_id=event.pathway_id,
        pathway_version=event.pathway_version, reasons_json=_list(event.reasons),
        note=event.note, data_json=canonical_json(dict(event.data)) if event.data else "{}",
        imported=event.imported, closes=event.closes, prev_hash=event.prev_hash,
    )  # fmt: skip


def hash_text(prev_hash: str, payload_text: str) -> str:
    """``sha256(prev_hash + payload_text)`` as hex: the chain's link."""
    return hashlib.sha256((prev_hash + payload_text).encode("utf-8")).hexdigest()


def event_hash(event: AuditEvent) -> str:
    """The hash an event must carry, given its ``prev_hash``."""
    return hash_text(event.prev_hash, event_payload_json(event))


@attrs.frozen
class Checkpoint:
    """The head of the chain at some moment: keep it outside the database to catch truncation."""

    position: int
    hash: str

    def to_json(self) -> str:
        """The checkpoint as one line of JSON (``position`` and ``hash``), to keep outside the store."""
        return json.dumps({"position": self.position, "hash": self.hash})

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse a checkpoint printed by ``pathway audit checkpoint``; ``ValueError`` if malformed."""
        try:
            raw = json.loads(text)
            position, digest = raw["position"], raw["hash"]
        except (ValueError, TypeError, KeyError, RecursionError):  # nested too deep: not one
            raise ValueError(
                'not a checkpoint: expected JSON like {"position": 12, "hash": "ab12..."}'
            ) from None
        if not isinstance(position, int) or not isinstance(digest, str) or position < 0:
            raise ValueError("not a checkpoint: position must be a whole number, hash a string")
        return cls(position, digest)


@attrs.frozen
class VerifyResult:
    """The outcome of verifying the chain: ``ok``, how many events were checked, and what failed.

    ``derived`` is whether the case rows and the reports' derived rows were also rebuilt from the
    events and found equal (``False`` when the chain failed first, or when they differ);
    ``cases`` is how many cases the events hold; ``problems`` lists the first problems found
    (``problem`` is the first of them).
    """

    ok: bool
    events: int
    head: Checkpoint
    problem: str | None = None
    failed_position: int | None = None
    failed_event_id: str | None = None
    derived: bool = False
    cases: int = 0
    problems: tuple[str, ...] = ()


class ChainLink(NamedTuple):
    """What checking one event's place in the chain needs: its position, ids, stored hashes and
    the canonical text its hash covers."""

    position: int
    event_id: str
    case_id: str
    prev_hash: str
    hash: str
    payload_json: str


def verify_links(links: Iterable[ChainLink], against: Checkpoint | None = None) -> VerifyResult:
    """Recompute the chain over ``links`` (in position order) and stop at the first mismatch.

    The stores verify from their rows' stored text (``store.base.row_links``), which is what was
    hashed, without building an event per row: several times faster on a large store.
    """
    expected_prev = GENESIS_HASH
    expected_position = 1
    count = 0
    head = Checkpoint(0, GENESIS_HASH)
    seen_checkpoint = against is None or against.position == 0
    for event in links:
        count += 1
        problem = None
        if event.position != expected_position:
            problem = f"expected position {expected_position}, found {event.position} (events missing or reordered)"
        elif event.prev_hash != expected_prev:
            problem = "its prev_hash does not match the hash of the event before it"
        elif hash_text(event.prev_hash, event.payload_json) != event.hash:
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
