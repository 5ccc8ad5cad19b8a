"""JSON responses of the App: non-finite floats as strings, one error shape."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from mlops import wire_json
from mlops.errors import MlopsError, StorageError
from mlops.wire import FLOATS_HEADER, encode_floats

#: Whether the request being answered asked for NaN and infinities as JSON literals
#: (:data:`~mlops.wire.FLOATS_HEADER`); set per request by :class:`PlainRoute`.
_LITERAL_FLOATS: ContextVar[bool] = ContextVar("literal_floats", default=False)

log = logging.getLogger("mlops.app")


class JsonResponse(JSONResponse):
    """JSON that browsers can parse: NaN and ±Infinity become ``"NaN"``, ``"Infinity"``...;
    the literals ``NaN``, ``Infinity`` for a client that asked for them (the mlops client:
    a parameter's string ``"NaN"`` and the float stay apart)."""

    def render(self, content: Any) -> bytes:
        if _LITERAL_FLOATS.get():
            return wire_json.dumps(content)
        try:  # most answers hold no NaN: skip the walk over every value
            return wire_json.dumps(content, allow_nan=False)
        except ValueError:
            return wire_json.dumps(encode_floats(content), allow_nan=False)


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
        #: The endpoint as declared, to declare the route again at another path.
        self.declared_endpoint = endpoint

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            token = _LITERAL_FLOATS.set(request.headers.get(FLOATS_HEADER) == "literal")
            try:
                return await handle(request)
            finally:
                _LITERAL_FLOATS.reset(token)

        return route
