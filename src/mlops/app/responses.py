"""JSON responses of the App: non-finite floats as strings, one error shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from mlops.errors import MlopsError
from mlops.wire import encode_floats


class JsonResponse(JSONResponse):
    """JSON that browsers can parse: NaN and ±Infinity become ``"NaN"``, ``"Infinity"``..."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            encode_floats(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    """``{"error": {"code": ..., "message": ...}}`` with a status."""
    return JsonResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def from_error(exc: MlopsError) -> JsonResponse:
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return error_response(exc.status, exc.code, exc.message, headers)


class PlainRoute(APIRoute):
    """A route whose return value goes to :class:`JsonResponse` as it is: without a
    response model, so pydantic does not turn NaN and infinities into null on the way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["response_model"] = None
        super().__init__(*args, **kwargs)
