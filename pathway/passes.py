"""Passed around: what happened to a case between teams, read from its events with the pathway.

The Haringey review's central finding is that "cases being passed around the system creates
un-necessary delays for residents who need to access services". A plain count of changes of
holding team (the handoffs report's ``handoffs``, as process-mining tools count it) does not see
that: a declined offer changes no holder (the offering team keeps the case), and a safeguarding
enquiry or a Mental Health Act assessment hands the case to another team and gives it back, two
changes of holder, although nobody passed the person on. With the pathway, each applied event is
one of a few kinds (:class:`StepKind`), and :class:`PassFold` folds a case's events, in order,
into the figures governance asks for:

* **offers**: offers made to another team (the case entered an offer state whose receiving team
  is not the team holding it);
* **offers_declined**: offers the receiving team declined (the case left an offer state by a
  ``return`` transition);
* **interruptions**: steps that take the case aside and give it back (``interrupt: true``:
  safeguarding, a carer's assessment, a Mental Health Act assessment, a plug-in's own);
* **ping_pongs**: a *transfer* is a change of the team responsible for the case by anything but
  an interruption or an offer: taking the case aside, handing it back, any move while it is aside
  or offered (the holder of an offer state is the sender, whoever that is) are skipped, so the
  transfer that ends an interruption some other way (an admission after an assessment) runs from
  the team that held the case before it. A ping-pong is a transfer back to the team that passed
  the case on (in the team sequence of transfers, t_i = t_(i-2)). The sequence starts again after
  each closure: a re-referral's first allocation is a new start, never a transfer back;
* **passes**: how often the person was passed on without being helped: declined offers plus
  ping-pongs (transfers that were reversed). The first allocation from the front door is never a
  pass, and neither is an interruption;
* **days_between_teams**: time the case spent in offer states, waiting for a team to accept it
  (time spent aside in an interruption while an offer is pending is not counted: someone was
  helping).

Counts are of events inside the report's window (and, with a team, of events that concern the
team); days are clipped to the window. An imported event that names no trigger cannot be told
apart (a decline from an acceptance, an interruption from a move): such events are counted in
``untold`` so a report can say what it could not see.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from .importer import IMPORT_TRIGGER

if TYPE_CHECKING:
    from .definition import Pathway


class StepKind(enum.Enum):
    """What an applied event did to a case, as the passed-around measures see it."""

    OPEN = "open"
    """The case was opened."""
    OFFER = "offer"
    """The case entered an offer state: offered to another team, the sender still holding it."""
    ACCEPT = "accept"
    """The case left an offer state forward: the receiving team took it."""
    DECLINE = "decline"
    """The case left an offer state by a ``return``: the receiving team declined it."""
    INTERRUPT = "interrupt"
    """An ``interrupt: true`` step took the case aside (safeguarding, an assessment ...)."""
    RESUME = "resume"
    """A ``return`` out of an interruption gave the case back to where it was."""
    MOVE = "move"
    """Any other step (the case moved on, stayed, or closed)."""


@attrs.frozen
class PassRules:
    """What the passed-around measures need of a pathway, compiled once per report."""

    offer_to: Mapping[str, str]
    """Each offer state and the team it offers the case to."""
    returns: frozenset[tuple[str, str]]
    """``(trigger, source state)`` of every ``return`` transition."""
    interrupts: frozenset[tuple[str, str]]
    """``(trigger, source state)`` of every ``interrupt: true`` transition."""
    aside: frozenset[str]
    """The states a case is only in during an interruption."""
    interim: frozenset[str] = attrs.field(init=False)
    """States whose holder is not the team responsible for the case: those aside in an
    interruption, and offer states (held by the sender while the receiver decides)."""
    _kinds: dict[tuple[str, str | None, str | None], StepKind] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )
    """Each (trigger, from, to) already classified: a store has few distinct ones."""

    @interim.default
    def _interim(self) -> frozenset[str]:
        return self.aside | frozenset(self.offer_to)

    @classmethod
    def from_pathway(cls, pathway: Pathway) -> PassRules:
        """The rules as the pathway defines them: offers, returns and interruptions."""
        return cls(
            offer_to={n: s.offer_to for n, s in pathway.states.items() if s.offer_to},
            returns=pathway.return_steps,
            interrupts=frozenset(
                (t.trigger, source)
                for t in pathway.transitions
                if t.interrupt
                for source in t.sources
            ),
            aside=pathway.interruption_states,
        )

    def kind(self, trigger: str, from_state: str | None, to_state: str | None) -> StepKind:
        """The kind of an applied event with this trigger, from and to these states."""
        key = (trigger, from_state, to_state)
        found = self._kinds.get(key)
        if found is None:
            found = self._kinds[key] = self._classify(trigger, from_state, to_state)
        return found

    def _classify(self, trigger: str, from_state: str | None, to_state: str | None) -> StepKind:
        if from_state is None:
            return StepKind.OPEN
        if (trigger, from_state) in self.returns:
            return StepKind.DECLINE if from_state in self.offer_to else StepKind.RESUME
        if (trigger, from_state) in self.interrupts:
            return StepKind.INTERRUPT
        if to_state != from_state:
            if to_state in self.offer_to:
                return StepKind.OFFER
            if from_state in self.offer_to:
                return StepKind.ACCEPT
        return StepKind.MOVE


def _seconds(text: str) -> float:
    """POSIX seconds of a stored instant (canonical ISO 8601 with its offset)."""
    return datetime.fromisoformat(text).timestamp()


@attrs.frozen
class Window:
    """The period a fold counts, as stored instants (canonical text: text order is time order,
    so an event is tested without parsing its time). ``start`` ``""``: no start; ``end`` None:
    no end."""

    start: str = ""
    end: str | None = None
    start_seconds: float = attrs.field(init=False)
    end_seconds: float = attrs.field(init=False)

    @start_seconds.default
    def _start_seconds(self) -> float:
        return _seconds(self.start) if self.start else -math.inf

    @end_seconds.default
    def _end_seconds(self) -> float:
        return _seconds(self.end) if self.end is not None else math.inf

    def holds(self, at_text: str) -> bool:
        """True if the stored instant ``at_text`` lies in the window (both ends inclusive)."""
        return self.start <= at_text and (self.end is None or at_text <= self.end)


_EVERYTHING = Window()

_COUNTED_KINDS = (StepKind.OFFER, StepKind.DECLINE, StepKind.INTERRUPT)
_INTERIM_KINDS = frozenset((StepKind.INTERRUPT, StepKind.RESUME, StepKind.OFFER, StepKind.DECLINE))


@attrs.define
class PassFold:
    """The passed-around figures of one case, folded from its applied events in order.

    Events outside ``window`` are followed but not counted, and days are clipped to it;
    ``team``: count only what concerns that team. Built for speed (one fold per case, a call per
    event on stores of millions): kinds are looked up in a cache, times parsed only where an
    offer's wait is measured.
    """

    rules: PassRules
    window: Window = _EVERYTHING
    team: str | None = None
    offers: int = 0
    offers_declined: int = 0
    interruptions: int = 0
    ping_pongs: int = 0
    seconds_between_teams: float = 0.0
    untold: int = 0
    """Events imported without a trigger, whose kind could not be told."""
    by_pair: dict[tuple[str | None, str], list[int]] = attrs.field(factory=dict)
    """Offers made and declined (``[offered, declined]``) by sending and receiving team."""
    _base: str | None = None
    """The team responsible for the case outside any interruption (None: not yet, or closed)."""
    _before: str | None = None
    """The team that passed the case to ``_base`` (for ping-pongs)."""
    _offer_since: str | None = None
    """When the case entered the offer state it is in (None: it is in none)."""
    _offer_teams: tuple[str | None, str] = (None, "")
    """Sender and receiver of the pending offer."""

    @property
    def passes(self) -> int:
        """Declined offers plus reversed transfers."""
        return self.offers_declined + self.ping_pongs

    @property
    def offer_pending_since(self) -> float | None:
        """When the case entered the offer state it waits in now (POSIX seconds), or None."""
        since = self._offer_since
        return None if since is None else _seconds(since)

    @property
    def days_between_teams(self) -> float:
        """Time the case spent between teams (offered, not yet taken), in days."""
        return self.seconds_between_teams / 86400.0

    def _close_offer(self, at: float) -> None:
        since = self._offer_since
        self._offer_since = None
        assert since is not None
        sender, receiver = self._offer_teams
        if self.team is None or self.team in (sender, receiver):
            window = self.window
            inside = min(at, window.end_seconds) - max(_seconds(since), window.start_seconds)
            if inside > 0:
                self.seconds_between_teams += inside

    def step(
        self,
        at_text: str,
        trigger: str,
        from_state: str | None,
        to_state: str | None,
        from_team: str | None,
        to_team: str | None,
        closes: bool,
    ) -> None:
        """Fold one applied event of the case (in the case's order)."""
        rules = self.rules
        kind = rules.kind(trigger, from_state, to_state)
        if self._offer_since is not None and to_state != from_state:
            self._close_offer(_seconds(at_text))
        team = self.team
        inside = self.window.holds(at_text)
        if (
            inside
            and trigger == IMPORT_TRIGGER
            and kind is not StepKind.OPEN
            and (team is None or team in (from_team, to_team))
        ):
            self.untold += 1
        if inside and kind in _COUNTED_KINDS:
            if kind is StepKind.OFFER:
                # The sender is the team holding the offered case (the offer state's holder).
                receiver = rules.offer_to[str(to_state)]
                if receiver != to_team and (team is None or team in (to_team, receiver)):
                    self.offers += 1
                    self.by_pair.setdefault((to_team, receiver), [0, 0])[0] += 1
            elif kind is StepKind.DECLINE:
                receiver = rules.offer_to[str(from_state)]
                if team is None or team in (to_team, receiver):
                    self.offers_declined += 1
                    self.by_pair.setdefault((to_team, receiver), [0, 0])[1] += 1
            elif team is None or team in (from_team, to_team, self._base):
                self.interruptions += 1
        if to_state != from_state and to_state in rules.offer_to:
            # Entered (or came back to) an offer state: the wait for the receiver starts.
            self._offer_since = at_text
            self._offer_teams = (to_team, rules.offer_to[str(to_state)])
        if (
            to_team is not None
            and to_team != self._base
            and kind not in _INTERIM_KINDS
            and to_state not in rules.interim
        ):
            if self._base is None:
                self._base = to_team  # the first team of a referral: no transfer
            else:
                if (
                    to_team == self._before
                    and inside
                    and (team is None or team in (self._base, to_team))
                ):
                    self.ping_pongs += 1
                self._before, self._base = self._base, to_team
        if closes:
            self._offer_since = None
            self._base = self._before = None

    def finish(self) -> None:
        """End the fold at the window's end: a pending offer waits until then."""
        if self._offer_since is not None and math.isfinite(self.window.end_seconds):
            self._close_offer(self.window.end_seconds)
