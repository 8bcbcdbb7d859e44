"""The parts of a compiled pathway definition (the spec), separate from any running case."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

T = TypeVar("T")

ACTOR_HOLDER = "actor"
"""A transition ``holder`` meaning: the acting actor's team takes the case."""

KEEP_HOLDER = "keep"
"""A transition ``holder`` meaning: the team that holds the case keeps it."""

HOLDER_KEYWORDS = (ACTOR_HOLDER, KEEP_HOLDER)


class Catalog(Mapping[str, T], Generic[T]):
    """Named parts of a pathway: iterating yields names, indexing by name yields the part.

    Order is the definition's order, so listings read like the file.
    """

    __slots__ = ("_items", "_kind")

    def __init__(self, kind: str, items: Mapping[str, T]) -> None:
        self._kind = kind
        self._items = dict(items)

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise KeyError(f"no {self._kind} {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Catalog({self._kind}: {', '.join(self._items)})"


@attrs.frozen
class Organisation:
    """A party to the Section 75 arrangement (the council, the NHS trust)."""

    id: str
    name: str
    kind: str = "other"
    description: str = ""


@attrs.frozen
class Team:
    """A team, always inside one organisation."""

    id: str
    organisation: str
    name: str = ""
    description: str = ""


@attrs.frozen
class Task:
    """A row of the task matrix: which teams may perform a step."""

    id: str
    teams: frozenset[str]
    description: str = ""


@attrs.frozen
class StatutoryFunction:
    """A statutory function the pathway's steps carry out, and whose duty it is.

    A Section 75 board asks which organisation's functions were carried out inside the other's
    teams (Haringey review, 000 line 102: roles and responsibilities; BEP 8.4.2): ``duty_of`` is
    the organisation the law gives the duty to, ``triggers`` the steps whose applied events carry
    the function out, ``reference`` the statute (and business-case row) it rests on.
    """

    id: str
    name: str
    duty_of: str
    reference: str
    triggers: tuple[str, ...]


@attrs.frozen
class State:
    """A state of the pathway.

    ``holder`` is the default holding team (``None`` on an offer state: the offering team keeps the
    case until the receiving team ``offer_to`` accepts it).
    """

    id: str
    holder: str | None
    description: str = ""
    offer_to: str | None = None
    task: str | None = None
    time_limit_days: float | None = None
    final: bool = False

    @property
    def is_offer(self) -> bool:
        """True for a pending-handoff state."""
        return self.offer_to is not None


@attrs.frozen
class GuardRef:
    """A guard named by a transition, with its parameters."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    automatic: bool = False


@attrs.frozen
class Transition:
    """One transition: a trigger from some states to a destination, behind guards.

    ``dest`` is ``None`` for a ``return`` transition, which goes back to where the case was before
    the newest offer or interruption, and for an ``internal`` one, which leaves the case in its
    state with its holder (a placement recorded, say). A ``handoff`` or ``interrupt`` transition
    remembers where the case was, so that a ``return`` can go back there. ``placement`` says
    whether the step starts, changes or ends a placement (``start``/``change``/``end``).
    ``index`` is its position in the definition (``/transitions/<index>``).
    """

    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    index: int
    description: str = ""
    returns: bool = False
    holder: str | None = None
    task: str | None = None
    handoff: bool = False
    interrupt: bool = False
    guards: tuple[GuardRef, ...] = ()
    internal: bool = False
    placement: str | None = None

    @property
    def remembers(self) -> bool:
        """True if firing it pushes a return point (an offer or an interruption)."""
        return self.handoff or self.interrupt


@attrs.frozen
class Escalation:
    """When a case passed around should go to managers (the definition's ``escalation``).

    A case meets the rule once ``declined_offers`` of its offers were declined, or it spent
    ``days_in_offers`` days in offer states (either left out: that condition is off), counted as
    :mod:`pathway.passes` counts them; ``step`` is the trigger by which a manager records the
    decision taken on it.
    """

    declined_offers: int | None
    days_in_offers: float | None
    step: str


@attrs.frozen
class Governance:
    """What the governance measures need to know that states and transitions do not say.

    ``helping_teams`` are the teams that deliver work (time to help ends at the first accepted
    allocation to one; the front door and triage screen and route, they do not help);
    ``routes`` maps the trigger that records a referral's route to the route's name, in the
    definition's order; ``escalation`` is the escalation rule, if any.
    """

    helping_teams: frozenset[str] = frozenset()
    routes: Mapping[str, str] = attrs.field(factory=dict)
    escalation: Escalation | None = None
