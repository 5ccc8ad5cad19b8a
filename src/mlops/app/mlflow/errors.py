"""MLflow's error shape: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}`` with the
HTTP status MLflow's server gives that code, so MLflow clients raise the ``MlflowException``
they would raise against MLflow itself (and retry only what MLflow's client retries: 429 and 5xx).

mlops' own errors are translated in one table (:data:`CODES`): a missing run is
``RESOURCE_DOES_NOT_EXIST`` (404), a bad value ``INVALID_PARAMETER_VALUE`` (400), a taken name
``RESOURCE_ALREADY_EXISTS`` (400), a token without the scope ``PERMISSION_DENIED`` (403), an
ended iteration ``INVALID_PARAMETER_VALUE`` (400: sending it again would not help). An error the
App did not expect is logged and answered ``INTERNAL_ERROR`` (500) in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops.app.responses import JsonResponse
from mlops.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    IterationEnded,
    MlopsError,
    NotFound,
    SchemaOutdated,
    StorageError,
    TooLarge,
    Unauthorized,
    Unavailable,
)

__all__ = ["CODES", "STATUS", "MlflowError", "body_of", "guard_body", "invalid", "is_mlflow_path"]
__all__ += ["mlflow_response", "not_found"]

log = logging.getLogger("mlops.app")

#: MLflow's HTTP status of each error code it uses (mlflow/exceptions.py, the same table).
STATUS: dict[str, int] = {
    "INTERNAL_ERROR": 500,
    "INVALID_STATE": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_CONFLICT": 409,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_PARAMETER_VALUE": 400,
}

#: mlops' errors as MLflow's codes (the most specific class first).
CODES: tuple[tuple[type[MlopsError], str], ...] = (
    (TooLarge, "INVALID_PARAMETER_VALUE"),
    (InvalidInput, "INVALID_PARAMETER_VALUE"),
    (NotFound, "RESOURCE_DOES_NOT_EXIST"),
    (AlreadyExists, "RESOURCE_ALREADY_EXISTS"),
    (IterationEnded, "INVALID_PARAMETER_VALUE"),
    (Unauthorized, "UNAUTHENTICATED"),
    (Forbidden, "PERMISSION_DENIED"),
    (Unavailable, "TEMPORARILY_UNAVAILABLE"),
    (SchemaOutdated, "TEMPORARILY_UNAVAILABLE"),
    (StorageError, "INTERNAL_ERROR"),
)


class MlflowError(Exception):
    """An answer in MLflow's error shape: ``error_code`` is one of MLflow's codes, ``status``
    its HTTP status (by default the one MLflow gives that code)."""

    def __init__(self, error_code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status if status is not None else STATUS.get(error_code, 500)

    @classmethod
    def of(cls, exc: BaseException, where: str = "") -> MlflowError:
        """The MLflow error for any exception a route let through (unexpected ones logged)."""
        if isinstance(exc, MlflowError):
            return exc
        if isinstance(exc, MlopsError):
            code = next((c for kind, c in CODES if isinstance(exc, kind)), "INTERNAL_ERROR")
            message = exc.message
            if isinstance(exc, IterationEnded):
                message += " (an MLflow client reopens it with mlflow.start_run(run_id=...))"
            if isinstance(exc, StorageError):
                log.error("storage error on %s: %s", where, exc.message)
                message += " (this is also in the App's log)"
            return cls(code, message)
        log.error("unexpected error on %s", where, exc_info=exc)
        return cls("INTERNAL_ERROR", "the App hit an unexpected error; it is in the App's log")

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> MlflowError:
    """``INVALID_PARAMETER_VALUE`` (400)."""
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> MlflowError:
    """``RESOURCE_DOES_NOT_EXIST`` (404)."""
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message)


def body_of(exc: BaseException, where: str = "") -> tuple[int, dict[str, str]]:
    """(HTTP status, JSON body) of the MLflow answer to ``exc``."""
    error = MlflowError.of(exc, where)
    return error.status, error.to_dict()


#: The guard's refusals (before a route runs) as MLflow's codes, by HTTP status.
_GUARD_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_PARAMETER_VALUE",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def guard_body(status: int, message: str) -> dict[str, str]:
    """The body of a refusal at the App's door for an MLflow path (status kept as is)."""
    return {"error_code": _GUARD_CODES.get(status, "INTERNAL_ERROR"), "message": message}


def is_mlflow_path(path: str) -> bool:
    """Whether a request path is one of MLflow's (answered in MLflow's error shape)."""
    return path.startswith(("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow"))


def mlflow_response(exc: BaseException, request: Request) -> JsonResponse:
    """The App's answer to an error on an MLflow path, in MLflow's shape: the route's own
    errors, mlops' errors, a body that is not a JSON object, an unknown endpoint (404
    ``ENDPOINT_NOT_FOUND``), a wrong method; anything else is logged, ``INTERNAL_ERROR``."""
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, RequestValidationError):
        first: dict[str, Any] = next(iter(exc.errors()), {})
        place = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        problem = "not valid JSON" if first.get("type") == "json_invalid" else "not a JSON object"
        exc = MlflowError("INVALID_PARAMETER_VALUE", f"Invalid request: {place} is {problem}")
    elif isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            exc = MlflowError(
                "ENDPOINT_NOT_FOUND",
                f"mlops does not serve {request.url.path} (see the README: Coming from MLflow)",
            )
        else:
            code = "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR"
            exc = MlflowError(code, str(exc.detail), exc.status_code)
    status, body = body_of(exc, where)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JsonResponse(body, status_code=status, headers=headers)
