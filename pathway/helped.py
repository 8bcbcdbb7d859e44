"""Time to help and escalation: what a case's events say about the help it got, with the pathway.

The Haringey review found that "cases being passed around the system creates un-necessary delays
for residents who need to access services". Two measures follow a case through its events, in
order, on top of :mod:`pathway.passes` (whose offers and declines they reuse, never recount):

* **time to help**: a *referral* begins when a case is opened, or when it is reopened after a
  closure (a re-referral, an AMHP assessment of a closed case); its *route* is the route of the
  first of its steps that the definition's ``governance.routes`` maps to one (``None``: none
  was seen, e.g. a log imported without triggers). The referral is *helped* at the first event
  after which a *helping team* (``governance.helping_teams``) is responsible for the case: an
  accepted offer, a move or the opening itself, never while the case waits in an offer state
  (the sender holds it until the receiver accepts), a declined offer,
  an interruption (the team that takes the case aside holds it only meanwhile), a return from
  one, or a closure. Time to help runs from the referral's first event to that event.
* **escalation**: a case meets the definition's rule once ``declined_offers`` of its offers were
  declined, or it spent ``days_in_offers`` days in offer states (``offers_declined`` and the
  days between teams of :class:`~pathway.passes.PassFold`, the latter counted up to the instant
  it reaches the figure, also while the offer is still pending). The count starts when the case
  is opened, after each closure (a new referral is a new start) and after each escalation step
  recorded once the rule was met: the managers' decision takes the case off the list, and a case
  passed around again afterwards meets the rule again. A step recorded before the rule was met
  changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from .passes import PassFold, PassRules, StepKind, Window
from .spec import Governance
from .timeutil import parse_instant

_HELP_KINDS = (StepKind.OPEN, StepKind.ACCEPT, StepKind.MOVE)
"""Kinds of step after which the team responsible for the case is the holder (see passes)."""

DECLINED_OFFERS = "declined_offers"
DAYS_IN_OFFERS = "days_in_offers"


def days_between(later: str, earlier: str) -> float:
    """Days from one stored instant to another in exact microseconds (as the reports' SQL)."""
    us = (parse_instant(later) - parse_instant(earlier)) // timedelta(microseconds=1)
    return us / 86_400_000_000


def _text(seconds: float) -> str:
    """A POSIX instant as the stored text of an instant (UTC, microseconds)."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=round(seconds * 1e6))
    return instant.isoformat(timespec="microseconds")


@attrs.frozen
class Helped:
    """A referral that got help: from ``referred`` to ``helped`` by ``team``, ``days`` apart."""

    case_id: str
    route: str | None
    referred: str
    helped: str
    team: str
    days: float


@attrs.frozen
class Waiting:
    """A referral of a case open at as-of that no helping team has taken yet."""

    case_id: str
    route: str | None
    referred: str
    state: str
    held_by: str | None
    days: float


@attrs.frozen
class Escalated:
    """An open case that met the escalation rule and has no decision recorded since.

    ``conditions`` are those met, in the order they were met; ``since`` is when the first was;
    ``declined_offers`` and ``days_in_offers`` are counted from the start of the count to as-of.
    """

    case_id: str
    conditions: tuple[str, ...]
    since: str
    declined_offers: int
    days_in_offers: float
    state: str
    held_by: str | None


@attrs.frozen
class CaseHelp:
    """What one case's events say: its helped referrals, the referral waiting, its escalation."""

    helped: tuple[Helped, ...]
    waiting: Waiting | None
    escalated: Escalated | None
    ever_helped: bool


@attrs.define
class HelpFold:
    """Fold one case's applied events, in order, into :class:`CaseHelp` (see the module)."""

    case_id: str
    rules: PassRules
    governance: Governance
    as_of: str
    _passes: PassFold = attrs.field(init=False)
    _referred: str | None = None
    _route: str | None = None
    _helped: list[Helped] = attrs.field(factory=list)
    _this_helped: bool = False
    _reopen: bool = True
    _closed: bool = False
    _state: str = ""
    _team: str | None = None
    _base_declined: int = 0
    _base_seconds: float = 0.0
    _met: dict[str, float] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self._passes = PassFold(self.rules, Window(end=self.as_of))

    def _seconds_at(self, at: float) -> float:
        """Days between teams (in seconds) up to ``at``, a pending offer counted up to then."""
        since = self._passes.offer_pending_since
        pending = 0.0 if since is None else max(0.0, at - since)
        return self._passes.seconds_between_teams + pending

    def _check_days(self, at: float) -> None:
        rule = self.governance.escalation
        if rule is None or rule.days_in_offers is None or DAYS_IN_OFFERS in self._met:
            return
        limit = rule.days_in_offers * 86400.0
        if self._seconds_at(at) - self._base_seconds >= limit:
            since = self._passes.offer_pending_since
            assert since is not None  # the days grow only while an offer is pending
            closed = self._passes.seconds_between_teams - self._base_seconds
            self._met[DAYS_IN_OFFERS] = since + (limit - closed)

    def _restart_count(self, at: float) -> None:
        self._base_declined = self._passes.offers_declined
        self._base_seconds = self._seconds_at(at)
        self._met.clear()

    def step(
        self,
        at_text: str,
        trigger: str,
        from_state: str | None,
        to_state: str,
        from_team: str | None,
        to_team: str | None,
        closes: bool,
    ) -> None:
        """Fold one applied event of the case (in the case's order)."""
        governance = self.governance
        at = parse_instant(at_text).timestamp()
        kind = self.rules.kind(trigger, from_state, to_state)
        if self._reopen:
            self._referred, self._route, self._this_helped = at_text, None, False
            self._reopen = False
        if self._route is None:
            self._route = governance.routes.get(trigger)
        self._check_days(at)
        self._passes.step(at_text, trigger, from_state, to_state, from_team, to_team, closes)
        rule = governance.escalation
        if rule is not None:
            declined = self._passes.offers_declined - self._base_declined
            wanted = rule.declined_offers
            if wanted is not None and declined >= wanted and DECLINED_OFFERS not in self._met:
                self._met[DECLINED_OFFERS] = at
        if (
            not self._this_helped
            and not closes
            and kind in _HELP_KINDS
            and to_state not in self.rules.aside
            and to_state not in self.rules.offer_to
            and to_team in governance.helping_teams
        ):
            assert self._referred is not None and to_team is not None
            self._this_helped = True
            self._helped.append(
                Helped(
                    self.case_id,
                    self._route,
                    self._referred,
                    at_text,
                    to_team,
                    days_between(at_text, self._referred),
                )
            )
        self._state, self._team, self._closed = to_state, to_team, closes
        if closes:
            self._reopen = True  # the next event reopens the case: a new referral
            self._restart_count(at)
        elif rule is not None and trigger == rule.step and self._met:
            self._restart_count(at)

    def finish(self) -> CaseHelp:
        """The case's figures at as-of."""
        end = parse_instant(self.as_of).timestamp()
        self._check_days(end)
        waiting = None
        escalated = None
        if not self._closed and self._referred is not None:
            if not self._this_helped:
                waiting = Waiting(
                    self.case_id,
                    self._route,
                    self._referred,
                    self._state,
                    self._team,
                    days_between(self.as_of, self._referred),
                )
            if self._met:
                met = sorted(self._met.items(), key=lambda kv: (kv[1], kv[0]))
                escalated = Escalated(
                    self.case_id,
                    tuple(name for name, _ in met),
                    _text(met[0][1]),
                    self._passes.offers_declined - self._base_declined,
                    (self._seconds_at(end) - self._base_seconds) / 86400.0,
                    self._state,
                    self._team,
                )
        return CaseHelp(tuple(self._helped), waiting, escalated, bool(self._helped))
