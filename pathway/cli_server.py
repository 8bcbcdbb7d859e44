"""The command line of the HTTP service: ``pathway serve`` and ``pathway token ...``.

A thin layer, like :mod:`pathway.cli`: the service is :mod:`pathway.server`, the tokens
:mod:`pathway.tokens`.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime
from pathlib import Path

import click

from .cli import cli, db_option, library_errors, parse_at, pathway_option
from .render import render_rows
from .store import open_store

TOKEN_COLUMNS_SHOWN = ("id", "worker", "team", "roles", "label", "created_at", "expires_at",
                       "revoked_at")  # fmt: skip


@click.command()
@db_option
@pathway_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Worker processes (each with its own store connections).",
)  # fmt: skip
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1, 256),
    help="Requests handled at once in each worker (each thread has its own store connection).",
)  # fmt: skip
@click.option(
    "--oidc", "oidc_file", type=click.Path(dir_okay=False, path_type=Path),
    help="OpenID Connect settings (YAML/JSON: issuer, audience, jwks_file, claim names, "
    "team_map), to accept the council's identity provider's tokens besides API tokens.",
)  # fmt: skip
@click.option(
    "--require-if-match", is_flag=True,
    help="Refuse a fire without If-Match (428): no client can change a case blind.",
)  # fmt: skip
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))  # fmt: skip
def serve(
    db: str, pathway_name: str | None, host: str, port: int, workers: int, threads: int,
    oidc_file: Path | None, require_if_match: bool, log_level: str,
) -> None:  # fmt: skip
    """Serve the store over HTTP for council systems in any language (the `server` extra).

    \b
    Every request but GET /health carries Authorization: Bearer TOKEN; the token says who acts
    (worker, team, roles), never the request body. Create tokens with `pathway token create`.
    \b
    Resources: POST /cases; GET /cases (filtered, paged); GET /cases/ID; POST /cases/ID/fire
    (If-Match, Idempotency-Key); GET /cases/ID/triggers; GET /cases/ID/history (paged);
    GET /reports/NAME; GET /dashboard; GET /health; the OpenAPI document at /openapi.json.
    Errors are application/problem+json. Put a TLS proxy in front (docs/server.md).
    """
    from .server.app import ServerSettings
    from .server.auth import load_oidc_settings
    from .server.run import run

    with library_errors():
        oidc = load_oidc_settings(oidc_file) if oidc_file is not None else None
        settings = ServerSettings(
            db=db, pathway=pathway_name, oidc=oidc, require_if_match=require_if_match,
            threads=threads, oidc_file=str(oidc_file.resolve()) if oidc_file else None,
        )  # fmt: skip
        run(settings, host=host, port=port, workers=workers, log_level=log_level)


@click.group()
def token() -> None:
    """API tokens of the HTTP service: create, list, revoke.

    A token is bound to one worker, one team of the pathway and a set of roles; requests made
    with it act as exactly that actor. The store keeps a digest only: the token is shown once.
    """


@token.command("create")
@click.option("--worker", required=True, help="The worker id requests with it act as.")
@click.option("--team", required=True, help="The team (of the store's pathway) it acts for.")
@click.option(
    "--role", "roles", multiple=True, metavar="ROLE", help="A role it holds (repeatable)."
)
@click.option("--label", help="What it is for (a system's name), shown by `token list`.")
@click.option("--expires", callback=parse_at, metavar="DATETIME", help="When it stops working.")
@click.option("--by", "created_by", required=True, help="Who creates it (recorded).")
@db_option
@pathway_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: the record and the token in one object.")  # fmt: skip
def token_create(
    worker: str, team: str, roles: tuple[str, ...], label: str | None, expires: datetime | None,
    created_by: str, db: str, pathway_name: str | None, fmt: str,
) -> None:  # fmt: skip
    """Create an API token and print it (once: only its digest is kept)."""
    from .tokens import create_token
    from .workspace import open_engine

    with library_errors():
        engine = open_engine(db, pathway_name)
        with closing(engine.store):
            record, text = create_token(
                engine.store, worker=worker, team=team, roles=roles, created_by=created_by,
                label=label, expires_at=expires, teams=list(engine.pathway.teams),
            )  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps({**record.to_json(), "token": text}, indent=2))
    else:
        click.echo(f"token {record.id} for {worker} ({team}); keep it secret, it is shown once:")
        click.echo(text)


@token.command("list")
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]),
              default="table", show_default=True)  # fmt: skip
def token_list(db: str, fmt: str) -> None:
    """Every API token (revoked ones too), never their secrets."""
    from .tokens import tokens

    with library_errors(), closing(open_store(db, create=False)) as store:
        rows = [t.to_json() for t in tokens(store)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        row["roles"] = ",".join(row["roles"])
    click.echo(render_rows(rows, TOKEN_COLUMNS_SHOWN, fmt))


@token.command("revoke")
@click.argument("token_id")
@click.option("--by", "revoked_by", required=True, help="Who revokes it (recorded).")
@db_option
def token_revoke(token_id: str, revoked_by: str, db: str) -> None:
    """Revoke token TOKEN_ID (its id, from `token list`): refused from now on."""
    from .tokens import revoke_token

    with library_errors(), closing(open_store(db, create=False)) as store:
        record = revoke_token(store, token_id, revoked_by=revoked_by)
    click.echo(f"revoked token {record.id} of {record.worker} ({record.team})")


cli.add_command(serve)
cli.add_command(token)

__all__ = ["serve", "token"]
