"""The HTTP service (``pathway serve``, the ``server`` extra): see :mod:`pathway.server.app` and
docs/server.md."""

from __future__ import annotations

from .app import EnginePool, ServerSettings, create_app
from .auth import OidcSettings, Principal, load_oidc_settings

__all__ = [
    "EnginePool",
    "OidcSettings",
    "Principal",
    "ServerSettings",
    "create_app",
    "load_oidc_settings",
]
