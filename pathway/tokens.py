"""API tokens for the HTTP service: who a caller is, which team they act for, with which roles.

A council creates a token for each worker (or each system acting for a team) with
``pathway token create``. The token is shown once; the store keeps only a SHA-256 digest of its
secret, so a copy of the store (a backup, a migration) gives no one a token that works. Each
token is bound to a worker id, one team of the pathway and a set of roles: a request made with it
acts as exactly that actor, whatever its body says, and the pathway's guards then decide as they
do for any caller of the library.

The token's text is ``cpt_<id>_<secret>``: the id (public, shown by ``pathway token list`` and in
access logs) finds the row, the secret (256 random bits) proves the caller holds the token. A
plain digest is enough for a secret of that length: no dictionary or brute-force search reaches
it, which is why password hashing (deliberately slow) is not needed here.

Revoking keeps the row, with who revoked it and when, and the token is refused from then on. An
expiry date can be set at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from .errors import InvalidRequest
from .store.base import Store
from .timeutil import format_instant, parse_instant

TOKEN_PREFIX = "cpt_"
"""Every token starts with this, so a leaked one is easy to recognise (and to scan for)."""

TOKEN_COLUMNS = (
    "id", "digest", "worker", "team", "roles", "label", "created_at", "created_by", "expires_at",
    "revoked_at", "revoked_by",
)  # fmt: skip
"""The columns of the store's ``api_tokens`` table."""

_SELECT_BY_ID = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_tokens WHERE id = ?"

_ID_BYTES = 6
_SECRET_BYTES = 32
_TOKEN_RE = re.compile(r"^cpt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")


@attrs.frozen
class ApiToken:
    """One API token as the store keeps it (never its secret)."""

    id: str
    worker: str
    team: str
    roles: tuple[str, ...]
    label: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def usable_at(self, now: datetime) -> bool:
        """Not revoked, and not expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_json(self) -> dict[str, Any]:
        """The token's record for ``pathway token list`` (no digest, no secret)."""
        return {
            "id": self.id,
            "worker": self.worker,
            "team": self.team,
            "roles": list(self.roles),
            "label": self.label,
            "created_at": format_instant(self.created_at),
            "created_by": self.created_by,
            "expires_at": format_instant(self.expires_at) if self.expires_at else None,
            "revoked_at": format_instant(self.revoked_at) if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InvalidRequest(
            f"{kind} {value!r}: use 1-128 letters, digits and . _ @ : - (starting with a letter "
            "or digit)"
        )
    return value


def _from_row(row: Sequence[Any]) -> ApiToken:
    (token_id, _, worker, team, roles, label, created_at, created_by, expires_at,
     revoked_at, revoked_by) = row  # fmt: skip
    return ApiToken(
        id=token_id,
        worker=worker,
        team=team,
        roles=tuple(r for r in str(roles).split(",") if r),
        label=label,
        created_at=parse_instant(created_at),
        created_by=created_by,
        expires_at=parse_instant(expires_at) if expires_at else None,
        revoked_at=parse_instant(revoked_at) if revoked_at else None,
        revoked_by=revoked_by,
    )


def create_token(
    store: Store,
    *,
    worker: str,
    team: str,
    roles: Sequence[str] = (),
    created_by: str,
    label: str | None = None,
    expires_at: datetime | None = None,
    teams: Sequence[str] | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``worker`` acting for ``team`` with ``roles``; return it and its text.

    The text is shown to the council once and never stored. ``teams``, when given (the pathway's
    team ids), refuses a team the pathway does not have: a token for a misspelt team would only
    ever be refused by the guards.
    """
    _check_name("worker", worker)
    _check_name("team", team)
    _check_name("created_by", created_by)
    for role in roles:
        _check_name("role", role)
    if teams is not None and team not in teams:
        raise InvalidRequest(f"team {team!r} is not a team of the pathway ({', '.join(teams)})")
    if label is not None and (len(label) > 200 or any(ord(c) < 32 for c in label)):
        raise InvalidRequest("label: at most 200 characters, on one line")
    created = now or datetime.now(UTC)
    if expires_at is not None and expires_at <= created:
        raise InvalidRequest(f"expires {format_instant(expires_at)} is not in the future")
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    token = ApiToken(
        id=token_id, worker=worker, team=team, roles=tuple(sorted(set(roles))), label=label,
        created_at=created, created_by=created_by, expires_at=expires_at,
    )  # fmt: skip
    with store.transaction() as tx:
        tx.connection.execute(
            f"INSERT INTO api_tokens ({', '.join(TOKEN_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(TOKEN_COLUMNS))})",
            (
                token.id, _digest(secret), token.worker, token.team, ",".join(token.roles),
                token.label, format_instant(token.created_at), token.created_by,
                format_instant(expires_at) if expires_at else None, None, None,
            ),
        )  # fmt: skip
    return token, f"{TOKEN_PREFIX}{token_id}_{secret}"


def revoke_token(
    store: Store, token_id: str, *, revoked_by: str, now: datetime | None = None
) -> ApiToken:
    """Revoke a token (from now on refused); revoking it again changes nothing."""
    _check_name("revoked_by", revoked_by)
    when = format_instant(now or datetime.now(UTC))
    with store.transaction() as tx:
        row = tx.connection.execute(_SELECT_BY_ID, (token_id,)).fetchone()
        if row is None:
            raise InvalidRequest(f"no API token {token_id!r} in the store (pathway token list)")
        if row[TOKEN_COLUMNS.index("revoked_at")] is None:
            tx.connection.execute(
                "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                (when, revoked_by, token_id),
            )
    return token(store, token_id)


def token(store: Store, token_id: str) -> ApiToken:
    """The token with this id (InvalidRequest if there is none)."""
    row = store.connection.execute(_SELECT_BY_ID, (token_id,)).fetchone()
    if row is None:
        raise InvalidRequest(f"no API token {token_id!r} in the store (pathway token list)")
    return _from_row(row)


def tokens(store: Store) -> Iterator[ApiToken]:
    """Every token, oldest first (revoked ones included)."""
    rows = store.connection.execute(
        f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_tokens ORDER BY created_at, id"
    ).fetchall()
    for row in rows:
        yield _from_row(row)


def authenticate(store: Store, presented: str, now: datetime | None = None) -> ApiToken | None:
    """The usable token ``presented`` is, or None (unknown, wrong secret, revoked or expired).

    The digest is compared in constant time; a malformed text is refused before any lookup.
    """
    found = _TOKEN_RE.match(presented)
    if found is None:
        return None
    token_id, secret = found.groups()
    row = store.connection.execute(_SELECT_BY_ID, (token_id,)).fetchone()
    if row is None:
        return None
    if not hmac.compare_digest(str(row[1]), _digest(secret)):
        return None
    record = _from_row(row)
    return record if record.usable_at(now or datetime.now(UTC)) else None


__all__ = [
    "TOKEN_COLUMNS",
    "TOKEN_PREFIX",
    "ApiToken",
    "authenticate",
    "create_token",
    "revoke_token",
    "token",
    "tokens",
]
