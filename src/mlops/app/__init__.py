"""The MLOps App: a REST API (and web pages) over one store. See :func:`create_app`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

import mlops
from mlops.app import docs, mlflow, schemas, ui
from mlops.app.api import (
    artifacts,
    blobs,
    catalog,
    columns,
    groups,
    health,
    iterations,
    lifecycle,
    models,
    notes,
    purge,
    tokens,
    views,
    workspace,
)
from mlops.app.mlflow.errors import MlflowError, is_mlflow_path, mlflow_response
from mlops.app.responses import JsonResponse, error_response, from_error, reported
from mlops.app.routing import PrefixGroup, every_route, flat_routes
from mlops.app.security import Guard
from mlops.app.settings import AppSettings
from mlops.artifacts import open_artifact_store
from mlops.errors import MlopsError
from mlops.store.base import Store
from mlops.wire import API_PREFIX

__all__ = ["AppSettings", "create_app"]

log = logging.getLogger("mlops.app")
STATIC = Path(__file__).with_name("static")


#: The REST API's routers, in the order their routes are matched (and listed in OpenAPI).
_API_ROUTERS = (
    catalog.router,
    iterations.router,
    columns.router,
    lifecycle.router,
    notes.router,
    views.router,
    purge.router,
    artifacts.router,
    blobs.router,
    models.router,
    tokens.router,
    workspace.router,
    groups.router,
    health.router,
)


def _routes() -> tuple[BaseRoute, ...]:
    """Every route of the App but its static files, flat (:mod:`mlops.app.routing`): MLflow's
    and the REST API's (with its docs page), each behind one test of the path's prefix, then
    the pages'. The routes hold no state of an App: made once, when this module loads."""
    api = flat_routes(_API_ROUTERS, API_PREFIX) + flat_routes([docs.router])
    return (mlflow.routes(), PrefixGroup((API_PREFIX + "/",), api), *flat_routes(ui.ROUTERS))


_ROUTES = _routes()


def create_app(settings: AppSettings, store: Store | None = None) -> FastAPI:
    """The App for ``settings``; ``store`` defaults to a SQL store on ``settings.store_uri``
    (which refuses a database whose schema is behind, naming ``mlops db upgrade``)."""
    if store is None:
        from mlops.store.sql.store import SqlStore

        store = SqlStore(settings.store_uri, settings.statement_timeout)
    app = FastAPI(
        title="mlops",
        version=mlops.__version__,
        description=_DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        default_response_class=JsonResponse,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.artifacts = open_artifact_store(settings.artifacts_location())
    app.router.routes.extend(_ROUTES)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_error_handlers(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Guard, settings=settings, store=store)
    app.router.add_event_handler("shutdown", store.close)
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """Build the OpenAPI document from every route (:func:`mlops.app.routing.every_route`),
    with the error shape the routes refer to in its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(  # FastAPI's own call, on the routes inside the groups too
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                terms_of_service=app.terms_of_service,
                contact=app.contact,
                license_info=app.license_info,
                routes=list(every_route(app.routes)),
                webhooks=app.webhooks.routes,
                tags=app.openapi_tags,
                servers=app.servers,
                separate_input_output_schemas=app.separate_input_output_schemas,
                external_docs=app.openapi_external_docs,
            )
            found = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in schemas.error_schemas().items():
                found.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    # MLflow's paths answer every error in MLflow's shape (mlops.app.mlflow.errors)
    @app.exception_handler(MlflowError)
    async def mlflow_error(request: Request, exc: MlflowError) -> JsonResponse:
        return mlflow_response(exc, request)

    @app.exception_handler(MlopsError)
    async def mlops_error(request: Request, exc: MlopsError) -> JsonResponse:
        if is_mlflow_path(request.url.path):
            return mlflow_response(exc, request)
        return from_error(reported(exc, request.method, request.url.path))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JsonResponse:
        if is_mlflow_path(request.url.path):
            return mlflow_response(exc, request)
        problems = []
        for error in exc.errors()[:5]:
            if error.get("type") == "json_invalid":
                return error_response(422, "invalid_input", _invalid_json(error, exc.body))
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return error_response(422, "invalid_input", "invalid request: " + "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JsonResponse:
        if is_mlflow_path(request.url.path):
            return mlflow_response(exc, request)
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
            # FastAPI's answer to a body that is not text: the same 422 as any bad JSON
            message = (
                f"the request body is not valid JSON: byte {cause.object[cause.start]:#04x} at "
                f"position {cause.start} is not UTF-8 text"
            )
            return error_response(422, "invalid_input", message)
        # FastAPI answers 400 for JSON that Python cannot read: too deep, or an integer of
        # more than 4300 digits. Both are bad values, as the store's rules would say.
        if isinstance(exc.__cause__, RecursionError):
            return error_response(
                422, "invalid_input", "the JSON body nests too deeply: values such as "
                "parameters may nest lists and dicts at most 32 levels deep",
            )  # fmt: skip
        if isinstance(exc.__cause__, ValueError) and "digits" in str(exc.__cause__):
            return error_response(
                422, "invalid_input", "the JSON body holds an integer of more than 4300 "
                "digits: integer fields fit in 64 bits",
            )  # fmt: skip
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JsonResponse:
        if is_mlflow_path(request.url.path):
            return mlflow_response(exc, request)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal", "the App hit an unexpected error; it is in the App's log"
        )


def _invalid_json(error: Any, document: Any) -> str:
    """What is wrong with a body that does not parse as JSON, and where (line, column)."""
    loc = error.get("loc", ())
    position = loc[-1] if loc and isinstance(loc[-1], int) else 0
    what = (error.get("ctx") or {}).get("error", "it does not parse")
    text = document if isinstance(document, str) else ""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return (
        f"the request body is not valid JSON: {what} at line {line}, column {column} "
        f"(character {position})"
    )


_DESCRIPTION = """
The REST API of the MLOps App. JSON everywhere; non-finite numbers travel as the strings
`"NaN"`, `"Infinity"` and `"-Infinity"`. Errors are `{"error": {"code", "message"}}`.

**Filtering iterations** (`GET /api/v1/iterations?filter=...`): one query language, e.g.
`metrics.accuracy > 0.9 and (params.model = "rf" or params.model in ("gb", "xgb"))`.
Fields: `params.NAME`, `metrics.NAME` (last value), `min(metrics.NAME)`, `max(metrics.NAME)`,
`tags.NAME`, `status`, `name`, `started_at`, `ended_at`, `duration`, `dataset`,
`dataset.version`; operators `= != < <= > >= in, not in, like, and, or, not` and parentheses.
`order_by=metrics.accuracy desc` (repeatable). Page with `cursor=<next_cursor>`.

**Access**: with `--auth`, send `Authorization: Bearer <token>` (`mlops tokens create`).
"""
