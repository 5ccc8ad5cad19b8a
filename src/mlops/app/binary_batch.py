"""Routes that take a batch's points in their binary form (:mod:`mlops.wire_batch`).

A request with ``Content-Type:`` :data:`~mlops.wire_batch.BATCH_MEDIA_TYPE` is split before
the route sees it: its JSON body goes on as an ``application/json`` request, validated as every
JSON body is, and its points wait in ``request.state`` as a :class:`MetricBlock` for the
endpoint (:func:`metric_block`). A body that is not a well-formed binary batch is answered with
the error that says what is wrong, before any of it is read as JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from mlops.app.responses import PlainRoute, from_error
from mlops.errors import MlopsError
from mlops.wire_batch import BATCH_MEDIA_TYPE, MetricBlock, decode_batch

__all__ = ["BINARY_BODY", "BatchRoute", "metric_block"]

_STATE_KEY = "metric_block"
_REPLACED = (b"content-type", b"content-length")

#: The OpenAPI of the binary form, beside the JSON one FastAPI documents (``openapi_extra``).
BINARY_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            BATCH_MEDIA_TYPE: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": (
                        "The JSON body with its batch's metrics empty, and the points as "
                        "columns: see mlops.wire_batch for the layout."
                    ),
                }
            }
        }
    }
}


def metric_block(request: Request) -> MetricBlock | None:
    """The points of the binary batch being answered (None for a JSON request)."""
    return request.scope.get("state", {}).get(_STATE_KEY)


class BatchRoute(PlainRoute):
    """A :class:`PlainRoute` that also takes its body as a binary batch."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            kind = request.headers.get("content-type", "")
            if kind.split(";")[0].strip().lower() != BATCH_MEDIA_TYPE:
                return await handle(request)
            try:
                body, block = decode_batch(await request.body())
            except MlopsError as exc:
                return from_error(exc)
            return await handle(_as_json(request, body, block))

        return route


def _as_json(request: Request, body: bytes, block: MetricBlock) -> Request:
    """The request again, with ``body`` as its JSON body and ``block`` in its state."""
    scope = dict(request.scope)
    scope["headers"] = [
        *((k, v) for k, v in request.scope["headers"] if k not in _REPLACED),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope["state"] = {**request.scope.get("state", {}), _STATE_KEY: block}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:  # the body was read: what follows is the connection's own (a disconnect)
            return dict(await request.receive())
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
