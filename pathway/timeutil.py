"""Time: one canonical text form for stored instants, and an injectable clock.

Stored instants are UTC, ISO 8601 with microseconds and an explicit offset
(``2026-01-05T09:00:00.000000+00:00``): fixed width, so text order is time order in SQL, and
exact, so the hash chain recomputes byte for byte. Naive datetimes given to the library are read as
UTC; that is documented rather than guessed per call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken to be UTC already."""
    tzinfo = value.tzinfo
    if tzinfo is UTC:  # the usual case (stored and clock times): nothing to convert
        return value
    if tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """The canonical stored text of an instant."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    return to_utc(value).isoformat(timespec="microseconds")


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 (``T`` or space, optional fractions, optional offset; a bare date is midnight).

    Raises ``ValueError`` with a readable message for anything else.
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
    return to_utc(parsed)
