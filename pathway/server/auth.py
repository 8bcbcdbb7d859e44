"""Who is calling: API tokens from the store, or OpenID Connect bearer tokens from the council's
identity provider, each turned into the :class:`~pathway.model.Actor` the request acts as.

The actor comes from the credentials only. A request body never names a worker, a team or roles;
the pathway's guards then decide what that actor may do, exactly as for a caller of the library.

OpenID Connect: the service validates a JWT access token's signature against the issuer's key set
(a JWKS file the council downloads from its provider, so validation needs no network), its issuer,
audience and lifetime, and maps claims to the actor: ``worker_claim`` (default ``sub``),
``team_claim`` (default ``team``; a list takes its only member) mapped through ``team_map`` when
the provider's group names differ from the pathway's team ids, and ``roles_claim`` (a list or a
space-separated string). Only asymmetric algorithms are accepted (RS256, PS256, ES256 and their
longer forms): never ``none``, never a shared secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import DefinitionError, Problem
from ..model import Actor
from ..store.base import Store
from ..tokens import TOKEN_PREFIX, authenticate
from ..yamlsource import read_document
from .problems import Problem as HttpProblem

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


@attrs.frozen
class Principal:
    """The authenticated caller: the actor it acts as, and how it proved it."""

    actor: Actor
    method: str
    """``token`` (an API token of the store) or ``oidc``."""
    token_id: str | None = None


@attrs.frozen
class OidcSettings:
    """How to validate the council's identity provider's tokens and read the actor from them."""

    issuer: str
    audience: str
    jwks: Mapping[str, Any]
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    worker_claim: str = "sub"
    team_claim: str = "team"
    roles_claim: str = "roles"
    team_map: Mapping[str, str] = attrs.field(factory=dict)
    leeway_seconds: int = 60


_OIDC_KEYS = {
    "issuer", "audience", "jwks_file", "algorithms", "worker_claim", "team_claim", "roles_claim",
    "team_map", "leeway_seconds",
}  # fmt: skip


def load_oidc_settings(path: Path) -> OidcSettings:
    """Read an OpenID Connect settings file (YAML or JSON); every problem named with its pointer.

    ``jwks_file`` is read relative to the settings file's folder.
    """
    doc = read_document(path)
    data = doc.data
    problems: list[Problem] = []

    def bad(pointer: str, message: str) -> None:
        problems.append(doc.problem(pointer, message))

    if not isinstance(data, dict):
        raise DefinitionError([doc.problem("", "expected a mapping of settings")])
    for key in sorted(set(data) - _OIDC_KEYS):
        bad(f"/{key}", f"unknown setting (allowed: {', '.join(sorted(_OIDC_KEYS))})")
    for key in ("issuer", "audience", "jwks_file"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            bad(f"/{key}", "required: a non-empty string")
    for key in ("worker_claim", "team_claim", "roles_claim"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            bad(f"/{key}", "a claim name (a non-empty string)")
    algorithms = data.get("algorithms", ["RS256", "ES256"])
    if not isinstance(algorithms, list) or not algorithms:
        bad("/algorithms", f"a list of algorithms from {', '.join(ASYMMETRIC)}")
        algorithms = []
    for i, alg in enumerate(algorithms):
        if alg not in ASYMMETRIC:
            bad(f"/algorithms/{i}", f"{alg!r} is not allowed: only {', '.join(ASYMMETRIC)}")
    team_map = data.get("team_map", {})
    if not isinstance(team_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in team_map.items()
    ):
        bad("/team_map", "a mapping of the provider's names to the pathway's team ids")
        team_map = {}
    leeway = data.get("leeway_seconds", 60)
    if not isinstance(leeway, int) or isinstance(leeway, bool) or not 0 <= leeway <= 600:
        bad("/leeway_seconds", "a whole number of seconds from 0 to 600")
        leeway = 60
    jwks: dict[str, Any] = {}
    if not problems:
        jwks_path = (path.parent / data["jwks_file"]).resolve()
        try:
            jwks = json.loads(jwks_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            bad("/jwks_file", f"cannot read the key set {jwks_path}: {exc}")
        else:
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                bad("/jwks_file", f'{jwks_path} is not a JWKS document (no "keys" list)')
    if problems:
        raise DefinitionError(problems)
    return OidcSettings(
        issuer=data["issuer"], audience=data["audience"], jwks=jwks,
        algorithms=tuple(algorithms), worker_claim=data.get("worker_claim", "sub"),
        team_claim=data.get("team_claim", "team"), roles_claim=data.get("roles_claim", "roles"),
        team_map=dict(team_map), leeway_seconds=leeway,
    )  # fmt: skip


class OidcValidator:
    """Validates bearer JWTs against one issuer's key set (PyJWT, from the ``server`` extra)."""

    def __init__(self, settings: OidcSettings) -> None:
        import jwt

        self.settings = settings
        self._jwt = jwt
        keys = jwt.PyJWKSet.from_dict(dict(settings.jwks))
        self._keys = {key.key_id: key for key in keys.keys}

    def principal(self, token: str) -> Principal:
        """The caller the token names, or an HTTP 401 problem saying what is wrong with it."""
        jwt = self._jwt
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthenticated(f"not a JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise _unauthenticated(f"algorithm {alg!r} is not accepted ({', '.join(s.algorithms)})")
        key = self._keys.get(header.get("kid"))
        if key is None and len(self._keys) == 1 and header.get("kid") is None:
            key = next(iter(self._keys.values()))
        if key is None:
            raise _unauthenticated(f"no key {header.get('kid')!r} in the issuer's key set")
        try:
            claims = jwt.decode(
                token, key=key.key, algorithms=[alg], audience=s.audience, issuer=s.issuer,
                leeway=s.leeway_seconds, options={"require": ["exp", "iss", "aud"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise _unauthenticated(f"token refused: {exc}") from None
        worker = claims.get(s.worker_claim)
        if not isinstance(worker, str) or not worker:
            raise _unauthenticated(f"the token has no {s.worker_claim!r} claim naming the worker")
        team = claims.get(s.team_claim)
        if isinstance(team, list) and len(team) == 1:
            team = team[0]
        if not isinstance(team, str) or not team:
            raise _unauthenticated(f"the token's {s.team_claim!r} claim must name exactly one team")
        team = s.team_map.get(team, team)
        raw_roles = claims.get(s.roles_claim, [])
        roles = raw_roles.split() if isinstance(raw_roles, str) else raw_roles
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise _unauthenticated(f"the token's {s.roles_claim!r} claim is not a list of roles")
        return Principal(Actor(worker, team, tuple(roles)), "oidc")


def _unauthenticated(detail: str) -> HttpProblem:
    return HttpProblem(
        401, "unauthenticated", detail,
        headers={"WWW-Authenticate": 'Bearer realm="care-pathway"'},
    )  # fmt: skip


def principal_from_header(
    authorization: str | None, store: Store, oidc: OidcValidator | None
) -> Principal:
    """The caller named by an ``Authorization: Bearer ...`` header (401 problem otherwise)."""
    if not authorization:
        raise _unauthenticated("no credentials: send Authorization: Bearer <token>")
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise _unauthenticated("use the Bearer scheme: Authorization: Bearer <token>")
    if credential.startswith(TOKEN_PREFIX):
        token = authenticate(store, credential)
        if token is None:
            raise _unauthenticated("the API token is unknown, revoked or expired")
        return Principal(Actor(token.worker, token.team, token.roles), "token", token.id)
    if oidc is None:
        raise _unauthenticated("not an API token of this service (they start with cpt_)")
    return oidc.principal(credential)


__all__ = [
    "ASYMMETRIC",
    "OidcSettings",
    "OidcValidator",
    "Principal",
    "load_oidc_settings",
    "principal_from_header",
]
