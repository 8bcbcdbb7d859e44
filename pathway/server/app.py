"""The HTTP service: the library's engine, stores and reports over HTTP, for council systems that
are not written in Python (``pathway serve``; docs/server.md).

Every request but ``GET /health`` is authenticated (:mod:`pathway.server.auth`) and acts as the
actor its credentials name. Handlers are plain functions run on the server's thread pool; each
thread keeps its own engine and store connection (:class:`EnginePool`), so SQLite's one-connection-
per-thread rule holds and PostgreSQL gets one connection per thread. Writes keep the library's
guarantees: one transaction per call, optimistic concurrency (``If-Match``), idempotency keys.

Personal data stays out of logs: the access log (logger ``pathway.server.access``) writes the
method, the path (which holds case ids), the status, the time taken and the worker id; request
bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import attrs

from .. import __version__
from ..engine import Engine
from ..errors import InvalidRequest, MissingExtra, PathwayError
from ..model import Person
from ..packaged import data_folder
from ..reports import REPORTS
from ..serialize import to_dict
from ..store.base import SCHEMA_VERSION
from ..timeutil import parse_instant
from ..workspace import open_engine
from .auth import OidcSettings, OidcValidator, Principal, principal_from_header
from .problems import PROBLEM_JSON, Problem, etag, from_library, parse_if_match

try:
    from fastapi import Depends, FastAPI, Header, Path, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as exc:  # pragma: no cover - the extra is installed in the test environment
    raise MissingExtra("the HTTP service (pathway serve)", "server") from exc

access_log = logging.getLogger("pathway.server.access")

MAX_PAGE = 500
"""The most items one page of cases or history holds."""
DEFAULT_PAGE = 100


@attrs.frozen
class ServerSettings:
    """What ``pathway serve`` was started with."""

    db: str
    """The store's location (a SQLite path or a ``postgresql://`` URL)."""
    pathway: str | None = None
    """A pathway to use instead of the one the store records."""
    oidc: OidcSettings | None = None
    """OpenID Connect validation, besides the store's API tokens (None: API tokens only)."""
    require_if_match: bool = False
    """Refuse a fire without ``If-Match`` (428), so no client can overwrite blind."""
    threads: int = 8
    """Requests handled at once (the thread pool's size; each thread has its own connection)."""
    oidc_file: str | None = None
    """Where ``oidc`` was read from (so worker processes can read it again)."""


class EnginePool:
    """One engine (and store connection) per server thread, opened on first use."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._engines: list[Engine] = []

    def engine(self) -> Engine:
        """This thread's engine, opened (with its own store connection) on first use."""
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = open_engine(self._settings.db, self._settings.pathway)
            self._local.engine = engine
            with self._lock:
                self._engines.append(engine)
        return engine

    def close(self) -> None:
        """Close every thread's store (at shutdown; a store another thread opened may refuse)."""
        with self._lock:
            engines, self._engines = self._engines, []
        for engine in engines:
            try:
                engine.store.close()
            except Exception:
                access_log.debug("could not close a store at shutdown", exc_info=True)


# --- request bodies -------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_Body):
    """Personal details, stored apart from the audit trail (erasable)."""

    name: str | None = Field(default=None, max_length=200)
    date_of_birth: str | None = Field(default=None, max_length=10)
    nhs_number: str | None = Field(default=None, max_length=12)


class OpenCaseIn(_Body):
    """Open a case. The opening actor is the caller; the body names no worker, team or roles."""

    id: str = Field(min_length=1, max_length=200, description="The council's case id.")
    at: str | None = Field(default=None, description="When it happened (ISO 8601); default now.")
    data: dict[str, Any] | None = Field(default=None, description="Case fields to record.")
    note: str | None = Field(default=None, max_length=10_000)
    person: PersonIn | None = None


class FireIn(_Body):
    """Fire a trigger on a case, as the caller."""

    trigger: str = Field(min_length=1, max_length=200)
    at: str | None = Field(default=None, description="When it happened (ISO 8601); default now.")
    data: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=10_000)


# --- helpers --------------------------------------------------------------------------------


def _instant(value: str | None, pointer: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except (ValueError, InvalidRequest) as exc:
        raise Problem(
            400,
            "bad-request",
            f"{pointer}: {exc}",
            errors=[{"pointer": pointer, "message": str(exc)}],
        ) from None


def _case_response(case: Any, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(
        to_dict(case), status_code=status, headers={"ETag": etag(case.version), **headers}
    )


def _load_schema(name: str) -> dict[str, Any]:
    text = data_folder("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _component(name: str, schema: dict[str, Any], into: dict[str, Any]) -> None:
    """Put a project JSON Schema into ``components/schemas`` as ``name``, its ``$defs`` beside it
    (``Name_def``) and its references rewritten, so OpenAPI tools resolve them."""
    schema = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    defs = schema.pop("$defs", {})
    text = json.dumps(schema)
    for key in defs:
        text = text.replace(f'"#/$defs/{key}"', f'"#/components/schemas/{name}_{key}"')
    into[name] = json.loads(text)
    for key, value in defs.items():
        into[f"{name}_{key}"] = value


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error (RFC 9457); extension members as docs/server.md lists.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "current_version": {"type": "integer"},
        "differs": {"type": "array", "items": {"type": "string"}},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _page(item: str, key: str, cursor: str) -> dict[str, Any]:
    """A page of ``item`` under ``key``, with the cursor of the next page (null on the last)."""
    return {
        "description": "One page; pass next_after as after for the next (null: the last page)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": [key, "next_after"],
                    "properties": {
                        key: {"type": "array", "items": _ref(item)},
                        "next_after": {"type": [cursor, "null"]},
                    },
                }
            }
        },
    }


def _report_component(name: str) -> str:
    return "Report" + name.capitalize()


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Malformed request (problem+json with errors)",
        401: "No, bad, revoked or expired credentials",
        404: "No such case",
        409: "The case already exists",
        412: "If-Match names an older version (current_version says which)",
        422: "Refused by the pathway's guards (reasons), or an idempotency key reused",
        428: "If-Match required by this service",
        503: "Store busy (Retry-After) or unusable",
    }
    return {
        s: {"description": described[s], "content": {PROBLEM_JSON: {"schema": _ref("Problem")}}}
        for s in statuses
    }


# --- the application ------------------------------------------------------------------------


def caller(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> Principal:
    """The authenticated caller of a request (a 401 problem otherwise)."""
    pool: EnginePool = request.app.state.pool
    principal = principal_from_header(authorization, pool.engine().store, request.app.state.oidc)
    request.state.worker = principal.actor.id
    return principal


Caller = Annotated[Principal, Depends(caller)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=255,
        description="A retry with the same key returns the first response; another request "
        "with the key is refused (422).",
    ),
]  # fmt: skip


def create_app(settings: ServerSettings) -> FastAPI:
    """The service's ASGI application for ``settings`` (run it with uvicorn, or ``pathway serve``).

    The store and its pathway are opened once here, so a wrong location or definition fails at
    start-up rather than on the first request.
    """
    pool = EnginePool(settings)
    first = open_engine(settings.db, settings.pathway)  # fails now, not on the first request
    pathway_label = f"{first.pathway.id} {first.pathway.version}"
    backend = "postgresql" if settings.db.startswith(("postgresql:", "postgres:")) else "sqlite"
    first.store.close()
    oidc = OidcValidator(settings.oidc) if settings.oidc is not None else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        yield
        pool.close()

    app = FastAPI(
        title="care-pathway",
        version=__version__,
        summary="Pathway governance for mental-health social care, over HTTP.",
        description=(
            "Open cases, fire guarded transitions, read history, cases and governance reports. "
            "Every request but /health is authenticated with a bearer token; the actor is the "
            "token's worker, team and roles. Errors are application/problem+json (RFC 9457). "
            "docs/server.md walks through one case with curl."
        ),
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN: serve the document only
        redoc_url=None,
    )
    app.state.pool = pool
    app.state.oidc = oidc

    @app.middleware("http")
    async def log_access(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        access_log.info(
            "%s %s %d %.1fms worker=%s",
            request.method, request.url.path, response.status_code,
            (time.perf_counter() - started) * 1000, getattr(request.state, "worker", "-"),
        )  # fmt: skip
        return response

    @app.exception_handler(Problem)
    async def problem_response(request: Request, exc: Problem) -> JSONResponse:
        return JSONResponse(
            exc.body(request.url.path), status_code=exc.status, headers=exc.headers,
            media_type=PROBLEM_JSON,
        )  # fmt: skip

    @app.exception_handler(PathwayError)
    async def library_error(request: Request, exc: PathwayError) -> JSONResponse:
        return await problem_response(request, from_library(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for error in exc.errors():
            where = [str(p) for p in error.get("loc", ()) if p != "body"]
            pointer = "/" + "/".join(where) if where else ""
            errors.append({"pointer": pointer, "message": str(error.get("msg", "invalid"))})
        first_error = errors[0] if errors else {"pointer": "", "message": "invalid request"}
        detail = f"{first_error['pointer'] or 'request'}: {first_error['message']}"
        return await problem_response(request, Problem(400, "bad-request", detail, errors=errors))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("pathway.server").error(
            "unexpected error on %s %s: %s", request.method, request.url.path,
            type(exc).__name__,
        )  # fmt: skip
        return await problem_response(
            request, Problem(500, "internal", "an unexpected error; the service log names its type")
        )

    # -- health --

    @app.get("/health", tags=["service"], summary="Is the service up (no authentication)")
    def health() -> dict[str, Any]:
        return {
            "status": "ok", "version": __version__, "store": backend,
            "schema_version": SCHEMA_VERSION, "pathway": pathway_label,
        }  # fmt: skip

    # -- cases --

    @app.post(
        "/cases", status_code=201, tags=["cases"], summary="Open a case",
        responses={201: _json("Case", "The case as opened (ETag: its version)"),
                   **_problems(400, 401, 409, 422, 503)},
    )  # fmt: skip
    def open_case(body: OpenCaseIn, who: Caller, key: IdemKey = None) -> Response:
        engine = pool.engine()
        person = Person(**body.person.model_dump()) if body.person is not None else None
        case = engine.open_case(
            body.id, who.actor, at=_instant(body.at, "/at"), data=body.data, note=body.note,
            person=person, idempotency_key=key,
        )  # fmt: skip
        return _case_response(case, 201, Location=f"/cases/{case.id}")

    @app.get(
        "/cases/{case_id}", tags=["cases"], summary="A case as it stands",
        responses={200: _json("Case", "The case (ETag: its version)"), **_problems(401, 404)},
    )  # fmt: skip
    def get_case(case_id: Annotated[str, Path(max_length=200)], who: Caller) -> Response:
        return _case_response(pool.engine().store.case(case_id))

    @app.post(
        "/cases/{case_id}/fire", tags=["cases"], summary="Fire a trigger on a case",
        responses={200: _json("Case", "The case after the transition (ETag: its version)"),
                   **_problems(400, 401, 404, 412, 422, 428, 503)},
    )  # fmt: skip
    def fire(
        case_id: Annotated[str, Path(max_length=200)],
        body: FireIn,
        who: Caller,
        key: IdemKey = None,
        if_match: Annotated[
            str | None,
            Header(alias="If-Match", description="The case's ETag: fire only on that version."),
        ] = None,
    ) -> Response:
        expected = parse_if_match(if_match)
        if expected is None and settings.require_if_match:
            raise Problem(
                428, "precondition-required",
                "this service requires If-Match: send the ETag of GET /cases/ID",
            )  # fmt: skip
        case = pool.engine().fire(
            case_id, body.trigger, who.actor, at=_instant(body.at, "/at"),
            expected_version=expected, data=body.data, note=body.note, idempotency_key=key,
        )  # fmt: skip
        return _case_response(case)

    @app.get(
        "/cases/{case_id}/triggers", tags=["cases"],
        summary="The triggers out of the case's state: allowed for the caller or not, with reasons",
        responses=_problems(400, 401, 404),
    )  # fmt: skip
    def triggers(
        case_id: Annotated[str, Path(max_length=200)],
        who: Caller,
        at: Annotated[str | None, Query(description="As if at this time (ISO 8601)")] = None,
    ) -> dict[str, Any]:
        engine = pool.engine()
        case = engine.store.case(case_id)
        decisions = engine.available(case_id, who.actor, at=_instant(at, "/at"))
        return {
            "case_id": case_id, "version": case.version, "state": case.state,
            "triggers": [to_dict(d) for d in decisions],
        }  # fmt: skip

    @app.get(
        "/cases/{case_id}/history", tags=["cases"],
        summary="The case's audit events in order, a page at a time",
        responses={200: _page("AuditEvent", "events", "integer"), **_problems(400, 401, 404)},
    )  # fmt: skip
    def history(
        case_id: Annotated[str, Path(max_length=200)],
        who: Caller,
        after: Annotated[
            int, Query(ge=0, description="Events after this seq (0: from the first)")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> dict[str, Any]:
        from ..store.query import HistoryQuery

        page = pool.engine().store.query_history(
            HistoryQuery(case_id=case_id, after=str(after), limit=limit)
        )  # an unknown case is a 404 (CaseNotFound)
        return {
            "case_id": case_id,
            "events": [to_dict(e) for e in page.items],
            "next_after": int(page.next_cursor) if page.next_cursor is not None else None,
        }

    @app.get(
        "/cases", tags=["cases"], summary="Cases, filtered, a page at a time (by id; by last change with changed_since)",
        responses={200: _page("Case", "cases", "string"), **_problems(400, 401)},
    )  # fmt: skip
    def list_cases(
        who: Caller,
        state: str | None = None,
        team: str | None = None,
        organisation: str | None = None,
        status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
        changed_since: Annotated[
            str | None,
            Query(description="ISO 8601: cases whose newest event is at or after it, in its order"),
        ] = None,
        after: Annotated[
            str | None, Query(max_length=2000, description="The previous page's next_after")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> dict[str, Any]:
        from ..store.query import CaseQuery

        query = CaseQuery(
            state=state, team=team, organisation=organisation,
            open={"open": True, "closed": False}.get(status or ""),
            changed_since=_instant(changed_since, "/changed_since"), after=after, limit=limit,
        )  # fmt: skip
        page = pool.engine().store.query_cases(query)
        return {"cases": [to_dict(c) for c in page.items], "next_after": page.next_cursor}

    # -- the dashboard --

    @app.get(
        "/dashboard", tags=["reports"], response_class=HTMLResponse,
        summary="The performance dashboard page, as of now (or as_of)",
        responses=_problems(400, 401),
    )  # fmt: skip
    def dashboard(
        who: Caller, as_of: Annotated[str | None, Query(description="ISO 8601")] = None
    ) -> HTMLResponse:
        from ..dashboard import dashboard_data, render_dashboard
        from ..reports import Scope

        engine = pool.engine()
        scope = Scope(as_of=_instant(as_of, "/as_of") or datetime.now(UTC))
        return HTMLResponse(render_dashboard(dashboard_data(engine.store, scope, engine.pathway)))

    _reports_routes(app, pool)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = original_openapi()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        _component("Case", _load_schema("case"), components)
        _component("AuditEvent", _load_schema("audit_event"), components)
        for name in REPORTS:
            _component(_report_component(name), _load_schema(f"report_{name}"), components)
        components["Problem"] = PROBLEM_SCHEMA
        document.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        document["security"] = [{"bearer": []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app


SCOPE_PARAMETERS = frozenset({"as_of", "since", "until", "team"})
"""The query parameters every report takes; the rest are the report's own options."""


def _report_options(spec: Any, query: Mapping[str, str]) -> dict[str, Any]:
    """The report's own options from the query string, checked as the CLI checks them.

    An option is named as in the report's spec (``threshold``, ``case_id``, ``milestone``,
    ``budget_pence`` as pounds); a file option (an activity plan, unit costs) cannot be given over
    HTTP, so the report uses its default.
    """
    options: dict[str, Any] = {}
    known = {o.name: o for o in spec.options if o.kind != "file"}
    for name, raw in query.items():
        if name in SCOPE_PARAMETERS:
            continue
        option = known.get(name)
        if option is None:
            allowed = ", ".join(sorted([*SCOPE_PARAMETERS, *known]))
            raise Problem(
                400, "bad-request", f"report {spec.name} has no parameter {name!r} ({allowed})",
                errors=[{"pointer": f"/{name}", "message": "unknown parameter"}],
            )  # fmt: skip
        try:
            options[name] = option.parse(raw)
        except ValueError as exc:
            raise Problem(
                400, "bad-request", f"{name}: {exc}",
                errors=[{"pointer": f"/{name}", "message": str(exc)}],
            ) from None  # fmt: skip
    return options


def _reports_routes(app: FastAPI, pool: EnginePool) -> None:
    """``GET /reports/{name}``: every report of the registry (built-in and the pathway's
    plug-ins'), with the CLI's scope and the report's own options as query parameters."""
    from ..reports import Scope
    from ..reports.registry import report_specs

    @app.get(
        "/reports/{name}", tags=["reports"],
        summary="A governance report's JSON (the same as pathway report NAME --format json)",
        description=(
            "Besides the scope parameters, a report takes its own options by their names in "
            "the report registry: threshold (s75, days), case_id (holding), milestone (waits), "
            "budget_pence (funding, in pounds such as 11500000 or 11,500,000.00), and a "
            "plug-in report's options. File options (an activity plan, unit costs) take their "
            "defaults."
        ),
        responses={
            200: {
                "description": "The report (a plug-in's report has the shape its plug-in documents)",
                "content": {"application/json": {"schema": {"anyOf": [
                    *(_ref(_report_component(n)) for n in REPORTS), {"type": "object"},
                ]}}},
            },
            **_problems(400, 401, 404),
        },
    )  # fmt: skip
    def report(
        request: Request,
        name: Annotated[str, Path(max_length=100)],
        who: Caller,
        as_of: Annotated[str | None, Query(description="ISO 8601; default now")] = None,
        since: Annotated[str | None, Query(description="ISO 8601")] = None,
        until: Annotated[str | None, Query(description="ISO 8601")] = None,
        team: Annotated[str | None, Query(max_length=200)] = None,
    ) -> JSONResponse:
        engine = pool.engine()
        specs = report_specs(engine.pathway)
        spec = specs.get(name)
        if spec is None:
            raise Problem(404, "not-found", f"no report {name!r} (reports: {', '.join(specs)})")
        if team is not None and team not in engine.pathway.teams:
            raise Problem(
                400, "bad-request",
                f"team {team!r} is not a team of the pathway ({', '.join(engine.pathway.teams)})",
                errors=[{"pointer": "/team", "message": "unknown team"}],
            )  # fmt: skip
        options = _report_options(spec, request.query_params)
        scope = Scope(
            as_of=_instant(as_of, "/as_of") or datetime.now(UTC),
            since=_instant(since, "/since"), until=_instant(until, "/until"), team=team,
        )  # fmt: skip
        result = spec.run(engine.store.connection, scope, engine.pathway, **options)
        document = result.to_json() if hasattr(result, "to_json") else result
        return JSONResponse(document)


__all__ = ["EnginePool", "ServerSettings", "create_app"]
