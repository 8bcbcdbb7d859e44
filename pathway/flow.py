"""Who holds a case, episode by episode, and when it is handed on: the rules behind the reports.

Every applied event of a case says which team holds the case from then on (``None``: nobody, the
case is unallocated) and whether it closed the case. :class:`FlowState` folds those events, in
order, into the derived rows the governance reports aggregate:

* **episodes**: consecutive time one team (or nobody) held the case. An episode starts at the
  event that gave the case to its team and ends at the event that gave it to another, or that
  closed the case; the open episode of an open case runs on (reports cut it at ``--as-of``).
  After a closing event nobody holds the case until the next event (a re-referral) opens a new
  episode.
* **handoffs**: the holding team changed between consecutive events. Unallocated gaps are skipped:
  A, (nobody), B is one handoff A -> B at the time B took the case. A handoff whose organisations
  differ is an **S75 crossing**; one that goes back to the team that passed the case on (the
  collapsed team sequence has t_i = t_(i-2)) is a **ping-pong**.

The same state machine runs when ``engine.fire`` writes an event (one case, state kept in the
case's own row) and when ``pathway import`` loads a whole log (state kept in memory), so the
two paths cannot disagree. Times are POSIX seconds (floats) so the database can add them up fast.
"""

from __future__ import annotations

import attrs

TEAM_SEPARATOR = "\x1f"
"""Joins team names in a stored sequence (the ASCII unit separator: never part of a name)."""


@attrs.define
class EpisodeRow:
    """A holding episode: ``team`` (``None`` = unallocated) from ``start`` to ``end`` (``None``: open)."""

    case_id: str
    n: int
    team: str | None
    organisation: str | None
    start: float
    end: float | None = None


@attrs.frozen
class HandoffRow:
    """One handoff of a case from one named team to another."""

    case_id: str
    n: int
    at: float
    from_team: str
    to_team: str
    from_organisation: str | None
    to_organisation: str | None
    crossing: bool
    ping_pong: bool


@attrs.define
class FlowState:
    """Where the fold over one case's applied events has got to."""

    case_id: str
    first_at: float | None = None
    first_team: str | None = None
    first_team_at: float | None = None
    last_team: str | None = None
    last_organisation: str | None = None
    prev_team: str | None = None
    handoffs: int = 0
    episode_n: int = 0
    open_episode: EpisodeRow | None = None
    ping_pongs: int = 0
    crossings: int = 0
    teams: str = ""
    """The collapsed named-team sequence so far, joined by TEAM_SEPARATOR."""

    def step(
        self, at: float, team: str | None, organisation: str | None, closes: bool
    ) -> tuple[EpisodeRow | None, EpisodeRow | None, HandoffRow | None]:
        """Fold one applied event; return (episode closed, episode opened, handoff), each or None."""
        if self.first_at is None:
            self.first_at = at
        closed: EpisodeRow | None = None
        opened: EpisodeRow | None = None
        current = self.open_episode
        if current is not None and (closes or current.team != team):
            current.end = at
            closed = current
            self.open_episode = None
        if not closes and self.open_episode is None:
            self.episode_n += 1
            opened = EpisodeRow(
                self.case_id, self.episode_n, team, organisation if team else None, at
            )
            self.open_episode = opened
        handoff: HandoffRow | None = None
        if team is not None:
            if self.last_team is None:
                self.first_team = team
                self.first_team_at = at
                self.teams = team
            elif team != self.last_team:
                self.handoffs += 1
                handoff = HandoffRow(
                    case_id=self.case_id,
                    n=self.handoffs,
                    at=at,
                    from_team=self.last_team,
                    to_team=team,
                    from_organisation=self.last_organisation,
                    to_organisation=organisation,
                    crossing=self.last_organisation != organisation,
                    ping_pong=team == self.prev_team,
                )
                self.prev_team = self.last_team
                self.ping_pongs += int(handoff.ping_pong)
                self.crossings += int(handoff.crossing)
                self.teams += TEAM_SEPARATOR + team
            self.last_team = team
            self.last_organisation = organisation
        return closed, opened, handoff
