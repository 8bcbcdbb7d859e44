"""Time: one canonical text form for stored instants, and an injectable clock.

Stored instants are UTC, ISO 8601 with microseconds and an explicit offset
(``2026-01-05T09:00:00.000000+00:00``): fixed width, so text order is time order in SQL, and
exact, so the hash chain recomputes byte for byte. Naive datetimes given to the library are read as
UTC; that is documented rather than guessed per call.

Every instant the library takes in lies from 1900-01-01T00:00:00Z up to, not including,
3000-01-01T00:00:00Z (:data:`EARLIEST`, :data:`LATEST`). Python's datetimes stop at years 1 and 9999
in each time zone, so ``9999-12-31T23:59:59-23:59`` cannot be held in UTC at all, and a report's
arithmetic (a year before ``--as-of``, a review due months after the last) would overflow near
those ends; no care record lies outside these centuries, so a date there is a typing error and is
refused with :class:`~pathway.errors.InstantOutOfRange` (an ``InvalidRequest`` and a ``ValueError``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from .errors import InstantOutOfRange

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest instant the library accepts (inclusive)."""
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""The first instant the library no longer accepts (exclusive)."""
RANGE_TEXT = "1900-01-01T00:00:00Z to 2999-12-31T23:59:59.999999Z"

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def _out_of_range(value: datetime) -> InstantOutOfRange:
    return InstantOutOfRange(
        f"{value.isoformat()} is outside the instants care-pathway accepts ({RANGE_TEXT})"
    )


def check_instant(value: datetime, what: str) -> datetime:
    """``value`` in UTC, or :class:`~pathway.errors.InstantOutOfRange` naming ``what`` (the
    argument or field), so an embedding system can say which of its values was wrong."""
    try:
        return to_utc(value)
    except InstantOutOfRange as exc:
        raise InstantOutOfRange(f"{what}: {exc}") from None


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken to be UTC already.

    Raises :class:`~pathway.errors.InstantOutOfRange` for an instant outside ``EARLIEST`` to
    ``LATEST`` (including one whose UTC form Python cannot hold, which would be an
    ``OverflowError``).
    """
    tzinfo = value.tzinfo
    if tzinfo is UTC:  # the usual case (stored and clock times): nothing to convert
        utc = value
    elif tzinfo is None:
        utc = value.replace(tzinfo=UTC)
    else:
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise _out_of_range(value) from None
    if not EARLIEST <= utc < LATEST:
        raise _out_of_range(value)
    return utc


def format_instant(value: datetime) -> str:
    """The canonical stored text of an instant."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    return to_utc(value).isoformat(timespec="microseconds")


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 (``T`` or space, optional fractions, optional offset; a bare date is midnight).

    Raises ``ValueError`` with a readable message for anything else, and
    :class:`~pathway.errors.InstantOutOfRange` (also a ``ValueError``) for an instant outside
    the accepted range (see the module's docstring).
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
    try:
        return to_utc(parsed)
    except InstantOutOfRange:
        raise InstantOutOfRange(
            f"{text!r} is outside the instants care-pathway accepts ({RANGE_TEXT})"
        ) from None


def optional_day(value: object) -> date | None:
    """A recorded date field, or ``None`` when it is missing or not a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None
