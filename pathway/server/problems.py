"""Errors as ``application/problem+json`` (RFC 9457), one mapping from the library's exceptions.

Every error the service returns has a ``type`` (a URI naming the kind of problem, relative to
``/problems/``, documented in docs/server.md), a ``title``, the HTTP ``status`` and a ``detail``
in one line, plus extension members where a client can act on them: ``reasons`` for a refused
transition, ``current_version`` for a stale ``If-Match``, ``errors`` (JSON pointer and message)
for a malformed request, ``differs`` for an idempotency key reused with another request.
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    CaseExists,
    CaseNotFound,
    ConcurrencyConflict,
    DefinitionError,
    IdempotencyMismatch,
    InvalidRequest,
    PathwayChanged,
    PathwayError,
    StoreBusy,
    StoreError,
    StoreReadOnly,
    TransitionRefused,
    one_line,
)

PROBLEM_JSON = "application/problem+json"

TITLES: dict[str, str] = {
    "unauthenticated": "Authentication required",
    "forbidden": "Not allowed",
    "not-found": "Not found",
    "case-exists": "Case already exists",
    "bad-request": "Malformed request",
    "invalid-request": "Request cannot be acted on",
    "transition-refused": "Transition refused by the pathway's guards",
    "precondition-failed": "The case changed since you read it",
    "precondition-required": "If-Match required",
    "idempotency-key-reused": "Idempotency key reused for a different request",
    "store-busy": "Store busy",
    "store-read-only": "Store cannot be written",
    "store-error": "Store error",
    "pathway-changed": "The store's open cases need migrating to this pathway definition",
    "internal": "Internal error",
}
"""Each problem type's title (the same for every occurrence of the type, as RFC 9457 asks)."""


class Problem(Exception):
    """An error response: status, type, detail and extension members."""

    def __init__(
        self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:  # fmt: skip
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = one_line(detail)
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document."""
        document: dict[str, Any] = {
            "type": f"/problems/{self.kind}",
            "title": TITLES[self.kind],
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            document["instance"] = instance
        document.update(self.extensions)
        return document


def from_library(exc: PathwayError) -> Problem:
    """The problem a library exception is, with the status a client can act on."""
    if isinstance(exc, TransitionRefused):
        return Problem(422, "transition-refused", str(exc), reasons=list(exc.reasons))
    if isinstance(exc, ConcurrencyConflict):
        return Problem(
            412, "precondition-failed", str(exc), headers={"ETag": etag(exc.actual)},
            current_version=exc.actual,
        )  # fmt: skip
    if isinstance(exc, IdempotencyMismatch):
        return Problem(422, "idempotency-key-reused", str(exc), differs=list(exc.differs))
    if isinstance(exc, CaseNotFound):
        return Problem(404, "not-found", str(exc))
    if isinstance(exc, CaseExists):
        return Problem(409, "case-exists", str(exc))
    if isinstance(exc, DefinitionError):
        return Problem(
            400, "bad-request", str(exc).splitlines()[0],
            errors=[{"pointer": p.pointer, "message": p.message} for p in exc.problems],
        )  # fmt: skip
    if isinstance(exc, InvalidRequest):
        return Problem(400, "invalid-request", str(exc))
    if isinstance(exc, PathwayChanged):  # the service's definition, not the request, is at fault
        return Problem(
            503, "pathway-changed",
            f"the pathway definition changed and {len(exc.stranded)} open case(s) have no place "
            "in it: an administrator moves them with `pathway migrate-cases` (docs/versioning.md)",
            stranded=[str(case) for case in exc.stranded[:10]],
        )  # fmt: skip
    if isinstance(exc, StoreBusy):
        return Problem(503, "store-busy", str(exc), headers={"Retry-After": "1"})
    if isinstance(exc, StoreReadOnly):
        return Problem(503, "store-read-only", str(exc))
    if isinstance(exc, StoreError):
        return Problem(503, "store-error", str(exc))
    return Problem(400, "invalid-request", str(exc))


def etag(version: int) -> str:
    """The strong entity tag of a case at ``version`` (what ``If-Match`` sends back)."""
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The case version an ``If-Match`` header names (``"7"``, ``W/"7"`` or ``7``), or None.

    ``*`` (any version) is None: the fire is not conditional. Anything else is a 400.
    """
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Problem(
            400, "bad-request",
            f"If-Match {value!r}: give the case's ETag, as GET /cases/ID returned it (\"7\")",
        )  # fmt: skip
    return int(text)


__all__ = ["PROBLEM_JSON", "TITLES", "Problem", "etag", "from_library", "parse_if_match"]
