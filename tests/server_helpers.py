"""Start the HTTP service on a loopback port for a test, and sign OpenID Connect tokens for it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from pathway.server import ServerSettings, create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(settings: ServerSettings) -> Iterator[str]:
    """Serve ``settings`` with uvicorn in a thread; yield the base URL; stop it afterwards."""
    import uvicorn

    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    base = f"http://127.0.0.1:{port}"
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Signer:
    """An RSA key pair standing for a council's identity provider (no network: a local JWKS)."""

    def __init__(self, folder: Path, kid: str = "k1") -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": kid, "use": "sig", "alg": "RS256"})
        self.jwks_file = folder / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [public]}), encoding="utf-8")

    def token(self, claims: dict[str, Any], *, kid: str | None = None, alg: str = "RS256") -> str:
        import jwt

        now = int(time.time())
        body = {"iss": "https://idp.example.gov.uk", "aud": "care-pathway", "iat": now,
                "exp": now + 300, **claims}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.key, algorithm=alg, headers={"kid": kid or self.kid})

    def settings_file(self, folder: Path, **extra: Any) -> Path:
        path = folder / "oidc.json"
        path.write_text(
            json.dumps({
                "issuer": "https://idp.example.gov.uk", "audience": "care-pathway",
                "jwks_file": self.jwks_file.name, **extra,
            }),
            encoding="utf-8",
        )  # fmt: skip
        return path


def client(base: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=30)
