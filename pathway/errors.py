"""The exceptions the library raises.

Every error the library raises on purpose is a :class:`PathwayError`, so an embedding system can
catch one class at its boundary and show the message to a person: messages name the place
(file and line, JSON pointer, case id, field) and never need a traceback to be understood.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs


class PathwayError(Exception):
    """Base class of every error the library raises on purpose."""


@attrs.frozen
class Problem:
    """One problem found in a definition or data file, with its place.

    ``line`` is 1-based when known; ``pointer`` is the JSON pointer of the offending value
    (``/transitions/3/dest``) and is ``""`` for the document as a whole.
    """

    source: str
    pointer: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        """``file:line: pointer: message`` on one line, whatever the file's values hold."""
        place = self.source
        if self.line is not None:
            place += f":{self.line}"
        if self.pointer:
            return one_line(f"{place}: {self.pointer}: {self.message}")
        return one_line(f"{place}: {self.message}")


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""The characters :meth:`str.splitlines` breaks a line at."""


def one_line(text: str) -> str:
    """``text`` with every line break written as its escape (``\\x0b``).

    A problem quotes what a file holds (a header's column names, a value): a line break among
    them would split the one line that names the place, and a reader (or a script reading
    stderr) would take the rest for another problem.
    """
    if not any(ch in text for ch in LINE_BREAKS):
        return text
    return "".join(repr(ch)[1:-1] if ch in LINE_BREAKS else ch for ch in text)


class DefinitionError(PathwayError):
    """A pathway definition (or another data file) is invalid; ``problems`` lists every problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("DefinitionError needs at least one problem")
        lines = [str(p) for p in self.problems]
        head = f"{len(lines)} problem(s) in definition" if len(lines) > 1 else lines[0]
        super().__init__(head if len(lines) == 1 else head + ":\n  " + "\n  ".join(lines))


class TransitionRefused(PathwayError):
    """A transition was refused; ``reasons`` holds every failing guard's reason.

    The refusal is itself recorded as a ``refused`` audit event; the case does not change.
    """

    def __init__(self, case_id: str, trigger: str, reasons: Sequence[str]) -> None:
        self.case_id = case_id
        self.trigger = trigger
        self.reasons: tuple[str, ...] = tuple(reasons)
        super().__init__(
            f"case {case_id}: {trigger} refused: " + "; ".join(self.reasons or ("no reason given",))
        )


class ConcurrencyConflict(PathwayError):
    """The case changed since the caller read it (its version is not the expected one)."""

    def __init__(self, case_id: str, expected: int, actual: int) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"case {case_id} is at version {actual}, not the expected {expected}: "
            "someone else changed it; read it again and retry"
        )


class CaseNotFound(PathwayError):
    """No case with this id is in the store."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"no case {case_id!r} in the store")


class CaseExists(PathwayError):
    """A case with this id is already in the store."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id!r} already exists")


class InvalidRequest(PathwayError):
    """A call's arguments cannot be acted on (unknown trigger or team, time out of order, ...).

    Unlike :class:`TransitionRefused` this is not a decision about the case and writes nothing.
    """


class InstantOutOfRange(InvalidRequest, ValueError):
    """An instant lies outside the range care-pathway accepts (see ``pathway.timeutil``).

    Also a ``ValueError``, so code that parses dates and times (``parse_instant``) and reports a bad
    value with its place keeps working unchanged.
    """


class NaiveInstantRefused(InvalidRequest, ValueError):
    """A date or date-time without a UTC offset was given where naive times are refused, or names
    a local time that does not exist in the configured zone (the hour skipped when the clocks go
    forward). See ``pathway.timeutil.NaiveTime``.

    Also a ``ValueError``, like :class:`InstantOutOfRange`, so a parser's caller names the place.
    """


class IdempotencyMismatch(InvalidRequest):
    """An idempotency key came back with a request other than the one it was first used for.

    A key stands for one request: a retry must repeat it exactly (as payment APIs require), or a
    retry carrying changed data, note, time or actor would be answered with the first call's
    result and the change silently lost. ``differs`` names the parts that differ.
    """

    def __init__(self, key: str, case_id: str, trigger: str, differs: Sequence[str]) -> None:
        self.key = key
        self.case_id = case_id
        self.trigger = trigger
        self.differs: tuple[str, ...] = tuple(differs)
        super().__init__(
            f"idempotency key {key!r} was already used for {trigger} on case {case_id} with a "
            f"different {', '.join(self.differs)}: a retry must repeat the first call exactly; "
            "use a new key for a new call (nothing was written)"
        )


class StoreError(PathwayError):
    """The case store cannot be opened or used, or is not a care-pathway store of a known version.

    Every failure of the database under a store is raised as one of these (never as the driver's
    own exception), with a one-line message naming the store. The subclasses say what the caller
    can do about it: :class:`StoreBusy` (try again later), :class:`StoreReadOnly` and
    :class:`StoreUnusable` (someone must fix the file, folder, disk or server).
    """


class StoreBusy(StoreError):
    """Another process held the store's write lock for longer than the busy wait.

    Nothing was written; the same call may succeed a moment later. The wait is the ``busy_timeout``
    argument of :func:`pathway.open_store` (or ``$PATHWAY_BUSY_TIMEOUT``, default 30 seconds).
    """


class StoreUnusable(StoreError):
    """The store could not be read or written as asked: an I/O error, a full disk, a lost server
    connection, or a store object used from a thread other than the one that opened it."""


class StoreReadOnly(StoreUnusable):
    """The store cannot be written: the file, its folder or the database role is read-only."""


class MissingExtra(PathwayError):
    """An optional part of care-pathway needs packages that are not installed (an extra).

    The message says which extra to install, e.g. ``pip install 'care-pathway[dashboard]'``.
    """

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(f"{feature} needs the extra: pip install 'care-pathway[{extra}]'")


class PathwayChanged(PathwayError):
    """A store's cases cannot run on the pathway definition given: the definition changed since
    the store recorded it, and open cases sit where the new one has no place for them (a state or
    holding team it removed or renamed).

    ``changes`` is what changed (a :class:`pathway.versioning.DefinitionChanges`), ``stranded``
    the open cases that need a map (:class:`pathway.versioning.StrandedCase`). Nothing was
    written: move the cases with :func:`pathway.versioning.migrate_cases` (``pathway
    migrate-cases``) first.
    """

    def __init__(self, message: str, changes: object, stranded: Sequence[object]) -> None:
        self.changes = changes
        self.stranded: tuple[object, ...] = tuple(stranded)
        super().__init__(message)
