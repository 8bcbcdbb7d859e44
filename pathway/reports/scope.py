"""What a report looks at: the as-of moment, an optional period, an optional team.

A report shows the world as it stood at ``as_of``: events after it are left out, and a case with
no event at or before it is not in the report. ``since``/``until`` narrow the period counted (both
inclusive); the period never runs past ``as_of``. ``team`` narrows a report to what that team did
or held (each report says exactly how).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidRequest

if TYPE_CHECKING:
    from ..definition import Pathway
from ..timeutil import check_instant, format_instant, to_utc

DAY = 86400.0


@attrs.frozen
class Scope:
    """The as-of time, period and team of one report.

    The three instants are held in UTC: a naive one is read when the scope is made, by the naive
    time policy in force then (``$PATHWAY_NAIVE_TIME``, else UTC; see :mod:`pathway.timeutil`),
    and one the policy refuses, or outside the accepted range, raises an
    :class:`~pathway.errors.InvalidRequest` naming the field (``as_of: ...``).
    """

    as_of: datetime
    """The moment the report describes: events after it are left out."""
    since: datetime | None = None
    """The start of the period counted (inclusive), or None for no start."""
    until: datetime | None = None
    """The end of the period counted (inclusive; never past ``as_of``), or None."""
    team: str | None = None
    """The team the report is narrowed to, or None for all."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "as_of", check_instant(self.as_of, "as_of"))
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None:
                object.__setattr__(self, name, check_instant(value, name))
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InvalidRequest("--since is after --until: the period is empty")
        if self.since is not None and self.since > self.as_of:
            raise InvalidRequest("--since is after --as-of: the period is empty")

    @property
    def start(self) -> float:
        """Window start in POSIX seconds (minus infinity without ``since``)."""
        return to_utc(self.since).timestamp() if self.since is not None else -math.inf

    @property
    def end(self) -> float:
        """Window end in POSIX seconds: the earlier of ``until`` and ``as_of``."""
        end = to_utc(self.as_of).timestamp()
        if self.until is not None:
            end = min(end, to_utc(self.until).timestamp())
        return end

    @property
    def as_of_text(self) -> str:
        """``as_of`` as canonical stored text."""
        return format_instant(self.as_of)

    def params(self) -> dict[str, Any]:
        """Named SQL parameters (``-inf`` is passed as a very small number SQLite can compare)."""
        return {
            "wstart": self.start if math.isfinite(self.start) else -1e300,
            "wend": self.end,
            "team": self.team,
        }

    def header(self) -> dict[str, Any]:
        """The scope as the JSON of every report shows it."""
        return {
            "as_of": format_instant(self.as_of),
            "since": format_instant(self.since) if self.since else None,
            "until": format_instant(self.until) if self.until else None,
            "team": self.team,
        }


def days(seconds: float | None) -> float:
    """Seconds as decimal days (not rounded)."""
    return (seconds or 0.0) / DAY


def check_team(conn: Any, team: str, pathway: Pathway | None) -> None:
    """Raise :class:`InvalidRequest` unless ``team`` is the pathway's or appears in the store."""
    if pathway is not None and team in pathway.teams:
        return
    if conn.execute(
        "SELECT 1 FROM events WHERE to_team = ? OR from_team = ? OR actor_team = ? LIMIT 1",
        (team, team, team),
    ).fetchone():
        return
    known = sorted(
        {row[0] for row in conn.execute("SELECT DISTINCT team FROM episodes") if row[0]}
        | set(pathway.teams if pathway is not None else ())
    )
    raise InvalidRequest(
        f"unknown team {team!r}: no event of this store names it"
        + (f" (teams: {', '.join(known)})" if known else "")
    )
