"""Time: one canonical text form for stored instants, and an injectable clock.

Stored instants are UTC, ISO 8601 with microseconds and an explicit offset
(``2026-01-05T09:00:00.000000+00:00``): fixed width, so text order is time order in SQL, and
exact, so the hash chain recomputes byte for byte.

A *naive* date or date-time (one without a UTC offset: a Python ``datetime`` whose ``tzinfo`` is
None, or text such as ``2026-07-01 09:00`` or a bare date) is read by one policy,
:class:`NaiveTime`, everywhere the library takes one in (the engine's ``at``, a report
``Scope``, CSV event imports, the command line's ``--at``, ``--since``,
``--until`` and ``--as-of``):

* ``utc`` (the default): the time is UTC. Deterministic on every machine, and what releases up
  to 0.1.0 did, so re-importing a file gives the same instants (and the same idempotency digests).
* ``local:ZONE`` (e.g. ``local:Europe/London``): the time is wall-clock time in that IANA zone.
  An ambiguous time (the hour repeated when the clocks go back, 01:00-01:59 on the last Sunday of
  October in London) is the *first* of the two (British Summer Time, ``fold=0``); a time that
  does not exist (the hour skipped when they go forward, 01:00-01:59 on the last Sunday of March)
  is refused with :class:`~pathway.errors.NaiveInstantRefused`, since no clock showed it.
* ``refuse``: a naive time is refused with :class:`~pathway.errors.NaiveInstantRefused`; every
  time must carry its offset (``Z``, ``+01:00``).

The policy in force is, in order: the one given to the call (``Engine(naive_time=...)``,
``import_events(naive_time=...)``, ``parse_instant(text, naive=...)``), the one set for the
current context by :func:`naive_time` (the command line's ``--naive-time`` does this), else
``$PATHWAY_NAIVE_TIME``, else ``utc``. A time that carries an offset is never affected.

Every instant the library takes in lies from 1900-01-01T00:00:00Z up to, not including,
3000-01-01T00:00:00Z (:data:`EARLIEST`, :data:`LATEST`). Python's datetimes stop at years 1 and 9999
in each time zone, so ``9999-12-31T23:59:59-23:59`` cannot be held in UTC at all, and a report's
arithmetic (a year before ``--as-of``, a review due months after the last) would overflow near
those ends; no care record lies outside these centuries, so a date there is a typing error and is
refused with :class:`~pathway.errors.InstantOutOfRange` (an ``InvalidRequest`` and a ``ValueError``).
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InstantOutOfRange, NaiveInstantRefused

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest instant the library accepts (inclusive)."""
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""The first instant the library no longer accepts (exclusive)."""
RANGE_TEXT = "1900-01-01T00:00:00Z to 2999-12-31T23:59:59.999999Z"

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


NAIVE_TIME_ENV = "PATHWAY_NAIVE_TIME"
"""The environment variable that sets the default :class:`NaiveTime` policy."""


class NaiveTime:
    """How a date-time without a UTC offset is read: as UTC, as local time in a zone, or refused.

    Build one with :meth:`parse` from its text form (``utc``, ``local:Europe/London``,
    ``refuse``) or with :attr:`UTC`, :attr:`REFUSE` and :meth:`local`. Equal policies compare
    equal; ``str()`` gives the text form back.
    """

    UTC: NaiveTime
    """Naive times are UTC (the default)."""
    REFUSE: NaiveTime
    """Naive times are refused."""

    __slots__ = ("mode", "zone")

    def __init__(self, mode: Literal["utc", "local", "refuse"], zone: tzinfo | None = None) -> None:
        if (mode == "local") != (zone is not None):
            raise ValueError("a local NaiveTime needs a zone, and only a local one takes one")
        self.mode: Literal["utc", "local", "refuse"] = mode
        """``"utc"``, ``"local"`` or ``"refuse"``."""
        self.zone: tzinfo | None = zone
        """The zone of a ``local`` policy (a :class:`zoneinfo.ZoneInfo`), else None."""

    @classmethod
    def local(cls, zone: str) -> NaiveTime:
        """Naive times are wall-clock times in the IANA zone ``zone`` (e.g. ``Europe/London``).

        Raises ``ValueError`` naming the zone if the system's time zone database (or the
        ``tzdata`` package) does not know it.
        """
        try:
            return cls("local", ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r} (an IANA name such as Europe/London; on a system "
                "without a time zone database, pip install tzdata)"
            ) from None

    @classmethod
    def parse(cls, text: str) -> NaiveTime:
        """The policy named by ``text``: ``utc``, ``local:ZONE`` or ``refuse``.

        Raises ``ValueError`` with a message naming the accepted forms for anything else.
        """
        raw = text.strip()
        if raw.lower() == "utc":
            return cls.UTC
        if raw.lower() == "refuse":
            return cls.REFUSE
        if raw.lower().startswith("local:") and raw[6:].strip():
            return cls.local(raw[6:].strip())
        raise ValueError(
            f"{text!r} is not a naive-time policy: use utc, refuse or local:ZONE "
            "(e.g. local:Europe/London)"
        )

    def __str__(self) -> str:
        return f"local:{self.zone}" if self.mode == "local" else self.mode

    def __repr__(self) -> str:
        return f"NaiveTime.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NaiveTime) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def resolve(self, value: datetime, shown: str | None = None) -> datetime:
        """The aware datetime a naive ``value`` stands for under this policy (``value`` itself
        if it is aware already).

        Raises :class:`~pathway.errors.NaiveInstantRefused` under ``refuse``, and under ``local``
        for a wall-clock time the zone skips; its message shows the value as ``shown`` (default:
        its ISO text).
        """
        if value.tzinfo is not None:
            return value
        text = shown if shown is not None else value.isoformat()
        if self.mode == "utc":
            return value.replace(tzinfo=UTC)
        if self.mode == "refuse":
            raise NaiveInstantRefused(
                f"{text} has no UTC offset and naive times are refused (naive time policy "
                "'refuse'): give the offset, e.g. 2026-07-01T09:00:00+01:00 or "
                "2026-01-05T09:00:00Z"
            )
        zone = self.zone
        first = value.replace(tzinfo=zone, fold=0)
        try:
            # A wall-clock time the zone skips does not survive the round trip through UTC.
            back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)
        except OverflowError:  # years 1 and 9999: to_utc refuses them as out of range
            return first
        if back != value.replace(fold=0):
            raise NaiveInstantRefused(
                f"{text} does not exist in {zone}: the clocks went forward over it; "
                "give the offset (e.g. +00:00 or +01:00)"
            )
        return first


NaiveTime.UTC = NaiveTime("utc")
NaiveTime.REFUSE = NaiveTime("refuse")

_CONTEXT_POLICY: contextvars.ContextVar[NaiveTime | None] = contextvars.ContextVar(
    "pathway_naive_time", default=None
)


@functools.lru_cache(maxsize=8)
def _env_policy(text: str) -> NaiveTime:
    try:
        return NaiveTime.parse(text)
    except ValueError as exc:
        raise NaiveInstantRefused(f"${NAIVE_TIME_ENV}: {exc}") from None


def current_naive_time() -> NaiveTime:
    """The policy in force here: the context's (:func:`naive_time`), else
    ``$PATHWAY_NAIVE_TIME``, else :attr:`NaiveTime.UTC`.

    A bad ``$PATHWAY_NAIVE_TIME`` raises :class:`~pathway.errors.NaiveInstantRefused` naming it.
    """
    policy = _CONTEXT_POLICY.get()
    if policy is not None:
        return policy
    text = os.environ.get(NAIVE_TIME_ENV, "").strip()
    return _env_policy(text) if text else NaiveTime.UTC


def as_naive_time(policy: NaiveTime | str | None) -> NaiveTime:
    """``policy`` as a :class:`NaiveTime` (text is parsed; None is :func:`current_naive_time`)."""
    if policy is None:
        return current_naive_time()
    if isinstance(policy, NaiveTime):
        return policy
    if isinstance(policy, str):
        return NaiveTime.parse(policy)
    raise TypeError(f"naive_time must be a NaiveTime, its text or None, not {policy!r}")


@contextmanager
def naive_time(policy: NaiveTime | str | None) -> Iterator[NaiveTime]:
    """Read naive times by ``policy`` inside the ``with`` block (this thread or task only).

    None leaves the policy in force unchanged. Yields the policy in force inside the block.
    """
    if policy is None:
        yield current_naive_time()
        return
    resolved = as_naive_time(policy)
    token = _CONTEXT_POLICY.set(resolved)
    try:
        yield resolved
    finally:
        _CONTEXT_POLICY.reset(token)


def _out_of_range(value: datetime) -> InstantOutOfRange:
    return InstantOutOfRange(
        f"{value.isoformat()} is outside the instants care-pathway accepts ({RANGE_TEXT})"
    )


def check_instant(value: datetime, what: str, naive: NaiveTime | None = None) -> datetime:
    """``value`` in UTC, or :class:`~pathway.errors.InstantOutOfRange` (or
    :class:`~pathway.errors.NaiveInstantRefused`) naming ``what`` (the argument or field), so an
    embedding system can say which of its values was wrong. ``naive`` as for :func:`to_utc`."""
    try:
        return to_utc(value, naive)
    except InstantOutOfRange as exc:
        raise InstantOutOfRange(f"{what}: {exc}") from None
    except NaiveInstantRefused as exc:
        raise NaiveInstantRefused(f"{what}: {exc}") from None


def to_utc(value: datetime, naive: NaiveTime | None = None) -> datetime:
    """Return ``value`` in UTC; a naive datetime is read by ``naive`` (default: the policy in
    force, :func:`current_naive_time`; see the module's docstring).

    Raises :class:`~pathway.errors.InstantOutOfRange` for an instant outside ``EARLIEST`` to
    ``LATEST`` (including one whose UTC form Python cannot hold, which would be an
    ``OverflowError``), and :class:`~pathway.errors.NaiveInstantRefused` for a naive value the
    policy refuses.
    """
    tzinfo = value.tzinfo
    if tzinfo is UTC:  # the usual case (stored and clock times): nothing to convert
        utc = value
    elif tzinfo is None:
        policy = naive if naive is not None else current_naive_time()
        if policy.mode == "utc":
            utc = value.replace(tzinfo=UTC)
        else:
            try:
                utc = policy.resolve(value).astimezone(UTC)
            except OverflowError:
                raise _out_of_range(value) from None
    else:
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise _out_of_range(value) from None
    if not EARLIEST <= utc < LATEST:
        raise _out_of_range(value)
    return utc


def format_instant(value: datetime) -> str:
    """The canonical stored text of an instant: UTC, microseconds, explicit offset
    (``2026-01-05T09:00:00.000000+00:00``). A naive ``value`` is read as :func:`to_utc` reads it.
    """
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    return to_utc(value).isoformat(timespec="microseconds")


def parse_instant(text: str, naive: NaiveTime | None = None) -> datetime:
    """Parse ISO 8601 (``T`` or space, optional fractions, optional offset; a bare date is
    midnight) into an aware UTC datetime. Text without an offset (a bare date too) is read by
    ``naive`` (default: the policy in force; see the module's docstring).

    Raises ``ValueError`` with a readable message for anything else,
    :class:`~pathway.errors.InstantOutOfRange` (also a ``ValueError``) for an instant outside
    the accepted range, and :class:`~pathway.errors.NaiveInstantRefused` (also a ``ValueError``)
    for naive text the policy refuses.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("empty date/time")
    candidate = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(candidate), datetime.min.time())
        except ValueError:
            raise ValueError(
                f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-01-05 or "
                "2026-01-05T09:30:00+00:00)"
            ) from None
    if parsed.tzinfo is None:
        policy = naive if naive is not None else current_naive_time()
        if policy.mode != "utc":
            parsed = policy.resolve(parsed, shown=repr(raw))
    try:
        return to_utc(parsed, naive)
    except InstantOutOfRange:
        raise InstantOutOfRange(
            f"{text!r} is outside the instants care-pathway accepts ({RANGE_TEXT})"
        ) from None
