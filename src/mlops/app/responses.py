"""JSON responses of the App: non-finite floats as strings, one error shape."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from mlops.errors import MlopsError, StorageError
from mlops.wire import encode_floats

log = logging.getLogger("mlops.app")


class JsonResponse(JSONResponse):
    """JSON that browsers can parse: NaN and ±Infinity become ``"NaN"``, ``"Infinity"``..."""

    def render(self, content: Any) -> bytes:
        try:  # most answers hold no NaN: skip the walk over every value
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(
                encode_floats(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )
        return text.encode("utf-8")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    """``{"error": {"code": ..., "message": ...}}`` with a status."""
    return JsonResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def from_error(exc: MlopsError) -> JsonResponse:
    """The answer for an error: its status, code and message (``Retry-After`` with a 503)."""
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return error_response(exc.status, exc.code, exc.message, headers)


def reported(exc: MlopsError, method: str, path: str) -> MlopsError:
    """``exc`` as the client sees it: a :class:`StorageError` is written to the App's log
    (an operator must look at the database) and its message says so."""
    if not isinstance(exc, StorageError):
        return exc
    log.error("storage error on %s %s: %s", method, path, exc.message)
    return StorageError(f"{exc.message} (this is also in the App's log)")


class PlainRoute(APIRoute):
    """A route whose returned dict becomes a :class:`JsonResponse` as it is.

    FastAPI would otherwise pass it through a response model (pydantic turns NaN and
    infinities into null) or through ``jsonable_encoder`` (a deep copy of every value, on the
    event loop: 46 ms for a 10,000-point history). The endpoint's signature is kept, so
    parameters, dependencies and the OpenAPI document are unchanged.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        status = kwargs.get("status_code") or 200

        @functools.wraps(endpoint)
        def respond(*args: Any, **values: Any) -> Response:
            result = endpoint(*args, **values)
            return result if isinstance(result, Response) else JsonResponse(result, status)

        kwargs["response_model"] = None
        super().__init__(path, respond, **kwargs)
