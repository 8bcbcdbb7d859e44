"""Run the service with uvicorn: in this process, or as several worker processes.

Worker processes build their own application from the settings, passed in the environment
variable ``PATHWAY_SERVER_SETTINGS`` (JSON), because uvicorn starts workers from an import string.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .app import ServerSettings, create_app
from .auth import load_oidc_settings

SETTINGS_ENV = "PATHWAY_SERVER_SETTINGS"


def configure_logging(level: str) -> None:
    """Send the service's own log (the access log included) to stderr at ``level``, once."""
    service_log = logging.getLogger("pathway.server")
    service_log.setLevel(level.upper())
    if not any(getattr(h, "_pathway", False) for h in service_log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler._pathway = True  # type: ignore[attr-defined]
        service_log.addHandler(handler)


def _settings_json(settings: ServerSettings, log_level: str) -> str:
    return json.dumps(
        {
            "log_level": log_level,
            "db": settings.db,
            "pathway": settings.pathway,
            "require_if_match": settings.require_if_match,
            "threads": settings.threads,
            "oidc_file": settings.oidc_file,
        }
    )


def app_from_environment() -> Any:
    """The application a uvicorn worker process serves (settings from the environment)."""
    raw = json.loads(os.environ[SETTINGS_ENV])
    configure_logging(raw.pop("log_level"))
    oidc_file = raw.pop("oidc_file")
    oidc = load_oidc_settings(Path(oidc_file)) if oidc_file else None
    return create_app(ServerSettings(**raw, oidc=oidc, oidc_file=oidc_file))


def run(
    settings: ServerSettings, *, host: str, port: int, workers: int = 1, log_level: str = "info"
) -> None:
    """Serve until interrupted. uvicorn's own access log is off: ours names no bodies."""
    import uvicorn

    configure_logging(log_level)
    if workers == 1:
        app = create_app(settings)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    create_app(settings)  # check the store and the pathway before starting any worker
    os.environ[SETTINGS_ENV] = _settings_json(settings, log_level)
    uvicorn.run(
        "pathway.server.run:app_from_environment", factory=True, host=host, port=port,
        workers=workers, log_level=log_level, access_log=False,
    )  # fmt: skip


__all__ = ["app_from_environment", "run"]
