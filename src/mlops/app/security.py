"""The App's guard at the door: one ASGI middleware that every request passes.

- ``Host`` must be one the App serves (no DNS rebinding; ``--allowed-hosts`` extends the list);
- state-changing requests must be ``application/json`` and, when a browser sends ``Origin``,
  come from the App's own origin or a configured CORS origin (no cross-site request forgery);
- request bodies have a size limit (413), and the number of requests in flight is bounded:
  beyond it the App answers 503 with ``Retry-After`` instead of queueing without end;
- every response carries ``X-Content-Type-Options``, ``X-Frame-Options`` and a
  Content-Security-Policy without inline script.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from mlops.app.settings import AppSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"same-origin"),
]


class _TooLarge(Exception):
    pass


class Guard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, settings: AppSettings) -> None:
        self.app = app
        self.hosts = settings.served_hosts()
        self.cors_origins = {o.rstrip("/").lower() for o in settings.cors_origins}
        self.max_body = settings.max_body_bytes
        self.max_artifact = settings.max_artifact_bytes
        self.max_in_flight = settings.max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._refuse(scope, headers)
        if problem is not None:
            await _reply(send, *problem)
            return
        if self.in_flight >= self.max_in_flight:
            await _reply(
                send, 503, "unavailable", "the App is busy: retry shortly", {"retry-after": "1"}
            )
            return
        self.in_flight += 1
        received = 0
        limit = self.max_artifact if _carries_bytes(scope) else self.max_body

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _TooLarge:
            await _reply(send, 413, "too_large", self._too_large(scope))
        finally:
            self.in_flight -= 1

    def _too_large(self, scope: Scope) -> str:
        if _carries_bytes(scope):
            return (
                f"the file is larger than the App's limit of {self.max_artifact:,} bytes "
                "(mlops app --max-artifact-size); ask the App's admin to raise it"
            )
        return (
            f"the request body is larger than {self.max_body:,} bytes: send smaller batches "
            "(the mlops client splits them by itself)"
        )

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        host = _hostname(headers.get("host", ""))
        if host not in self.hosts:
            return (
                400,
                "host_not_allowed",
                f"the App does not serve the host {host!r}: start it with "
                f"--allowed-hosts {host} to allow it",
            )
        if scope["method"] not in UNSAFE:
            return None
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, headers.get("host", "")):
            return (
                403,
                "origin_not_allowed",
                f"requests from the web page at {origin} may not change data here "
                "(configure --cors-origin to allow it)",
            )
        length = headers.get("content-length")
        limit = self.max_artifact if _carries_bytes(scope) else self.max_body
        if length is not None and length.isdigit() and int(length) > limit:
            return 413, "too_large", self._too_large(scope)
        if scope["path"].startswith("/api/"):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if _carries_bytes(scope):
                if content_type != "application/octet-stream":
                    return (
                        415,
                        "unsupported_media_type",
                        "send the file's bytes with Content-Type: application/octet-stream",
                    )
            elif content_type != "application/json":
                return (
                    415,
                    "unsupported_media_type",
                    "send the request body as JSON with Content-Type: application/json",
                )
        return None

    def _origin_ok(self, origin: str, host_header: str) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.cors_origins:
            return True
        parts = urlsplit(origin)
        return parts.netloc == host_header.lower() and _hostname(parts.netloc) in self.hosts


def _carries_bytes(scope: Scope) -> bool:
    """The artifact routes whose bodies are a file's bytes (``PUT /blobs/…``, ``PUT
    /uploads/…/parts``), the one exception to JSON bodies."""
    path: str = scope["path"]
    return scope["method"] == "PUT" and (
        path.startswith("/api/v1/blobs/")
        or (path.startswith("/api/v1/uploads/") and path.endswith("/parts"))
    )


def _hostname(netloc: str) -> str:
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


async def _reply(
    send: Send, status: int, code: str, message: str, extra: dict[str, str] | None = None
) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *((k.encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
