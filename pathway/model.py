"""The records the library passes around: frozen attrs classes, converted to and from JSON by cattrs.

Records are immutable: an engine call returns a new :class:`Case` rather than changing one, so a
caller never holds a half-applied transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

Outcome = Literal["applied", "refused"]


def _roles(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen
class Actor:
    """Who fires a transition: a worker id, the team they act for, and their roles (e.g. ``amhp``)."""

    id: str
    team: str
    roles: tuple[str, ...] = attrs.field(default=(), converter=_roles)


@attrs.frozen
class ReturnPoint:
    """Where a case was (state, holding team, since when) when it was offered on or interrupted.

    ``entered_at`` is restored on return, so an interruption does not restart a state's time
    limit (six weeks of brief enablement stay six weeks, however often they are interrupted).
    """

    state: str
    team: str
    entered_at: datetime | None = None


@attrs.frozen
class Case:
    """A case as it stands: where it is on the pathway and who holds it.

    ``version`` counts the applied transitions (opening the case is the first), so it equals the
    number of applied audit events of the case. ``return_stack`` holds where the case came from
    when it was offered to another team or interrupted (newest last): a ``return`` transition (a
    declined offer, the end of a safeguarding enquiry) goes back to the newest of them.
    """

    id: str
    pathway_id: str
    pathway_version: str
    state: str
    team: str
    organisation: str
    version: int
    opened_at: datetime
    state_entered_at: datetime
    worker: str | None = None
    closed_at: datetime | None = None
    return_stack: tuple[ReturnPoint, ...] = ()
    attributes: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def is_closed(self) -> bool:
        """True while the case is in a final state."""
        return self.closed_at is not None


@attrs.frozen
class Person:
    """Personal details, kept out of the hash-chained audit trail so they can be erased."""

    name: str | None = None
    date_of_birth: str | None = None
    nhs_number: str | None = None


@attrs.frozen
class GuardCheck:
    """One guard's verdict on one transition, with a reason a person can read."""

    guard: str
    passed: bool
    reason: str


@attrs.frozen
class Decision:
    """Whether ``trigger`` may be fired now, and why (every failing reason when it may not)."""

    trigger: str
    allowed: bool
    reasons: tuple[str, ...] = ()
    dest: str | None = None
    checks: tuple[GuardCheck, ...] = ()


@attrs.frozen
class AuditEvent:
    """One audit event: an applied or refused transition of one case.

    ``occurred_at`` is business time (may be backdated); ``recorded_at`` is when it was written.
    ``seq`` numbers the case's events (applied and refused) from 1 with no gaps; ``position`` is the
    event's place in the store-wide hash chain, where ``hash`` is
    ``sha256(prev_hash + canonical_json(event without hash))``.

    ``sealed`` holds, by field (``note`` or ``data.NAME``), the commitment the chain holds in
    place of each free text (:mod:`pathway.sealing`): ``note`` and ``data`` carry the text
    itself, and a redacted text is absent from them (``note`` is ``None``, the data key gone)
    while its commitment stays in ``sealed``.
    """

    event_id: str
    case_id: str
    seq: int
    position: int
    occurred_at: datetime
    recorded_at: datetime
    trigger: str
    from_state: str | None
    to_state: str | None
    from_team: str | None
    to_team: str | None
    from_organisation: str | None
    to_organisation: str | None
    actor_id: str
    actor_team: str
    actor_roles: tuple[str, ...]
    outcome: Outcome
    pathway_id: str
    pathway_version: str
    reasons: tuple[str, ...] = ()
    note: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    imported: bool = False
    closes: bool = False
    prev_hash: str = ""
    hash: str = ""
    sealed: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def redacted(self) -> tuple[str, ...]:
        """The sealed fields whose text was redacted (in field order)."""
        return tuple(
            sorted(
                field
                for field in self.sealed
                if (self.note is None if field == "note" else field[5:] not in self.data)
            )
        )
