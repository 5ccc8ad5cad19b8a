"""The App's guard at the door: one ASGI middleware that every request passes.

- ``Host`` must be a plain ``host[:port]`` that the App serves (no DNS rebinding;
  ``--allowed-hosts`` extends the list);
- state-changing requests must be ``application/json`` (the bytes of an artifact
  ``application/octet-stream``, streamed through, never held whole) and, when a browser
  sends ``Origin``, come from the App's own origin or a configured CORS origin (no
  cross-site request forgery);
- with ``--auth``, an API call's token is checked before the request is admitted (401 at
  once, whatever its body), so clients without a valid token cannot take the App's slots;
- admission (:mod:`mlops.app.admission`): a bounded number of requests in flight, a share of
  them per client (its token, else its address), 503 with ``Retry-After`` beyond; a body must
  arrive whole within ``--body-timeout`` seconds (408) and within the size limit (413), before
  a large write (a batch of points) waits for its turn (503 with ``Retry-After`` when the
  writes queued would take too long); ``/api/v1/health`` is never queued;
- every response carries ``X-Content-Type-Options``, ``X-Frame-Options`` and a
  Content-Security-Policy without inline script.

A request refused at the door is answered at once (the server drops the rest of its body; it
holds no slot). An admitted body that does not arrive in time gets 408 and its connection
closed; one over the size limit is dropped until the body timeout, then answered 413 (closing
the connection when it has not ended), so a slow or endless body never keeps a slot.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import cookie_parser

from mlops.app.admission import (
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    Slots,
    WriteGate,
    drain,
    read_body,
    replay,
    retry_after,
)
from mlops.app.auth import TOKEN_KEY, identify, secret_of
from mlops.app.mlflow.errors import guard_body, is_mlflow_path
from mlops.app.responses import reported
from mlops.app.settings import AppSettings
from mlops.errors import MlopsError
from mlops.store.sql.audit import ACTOR
from mlops.wire import API_PREFIX
from mlops.wire_batch import BATCH_MEDIA_TYPE

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


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers plus the security headers it did not set itself: a logged
    file's own sandboxing CSP replaces the pages' one (two policies would both apply, and the
    pages' ``style-src 'self'`` would block the browser's own viewer of an image opened
    directly)."""
    own = {name.lower() for name, _ in headers}
    return [*headers, *((k, v) for k, v in SECURITY_HEADERS if k not in own)]


HEALTH = f"{API_PREFIX}/health"
#: API paths that need no token even with --auth.
PUBLIC_API = {HEALTH, f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs"}
PUBLIC_API |= {"/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info"}
#: Paths of the APIs (ours, and MLflow's under both of MLflow's prefixes): tokens, JSON bodies.
API_PATHS = ("/api/", "/ajax-api/")
#: Writes with a body this large or larger (a batch of points) wait for a turn at the write
#: gate; smaller ones are cheap and only count among the requests in flight.
GATED_BODY_BYTES = 64 * 1024
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9a-f:.]+(?:%[a-z0-9_.~-]+)?\])(?::[0-9]{{1,5}})?"
)


class Guard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, settings: AppSettings, store: Any) -> None:
        self.app = app
        self.store = store
        self.auth = settings.auth
        self.hosts = settings.served_hosts()
        self.cors_origins = {o.rstrip("/").lower() for o in settings.cors_origins}
        self.max_body = settings.max_body_bytes
        self.max_artifact = settings.max_artifact_bytes
        self.body_timeout = settings.body_timeout
        self.slots = Slots(settings.max_in_flight, settings.per_client_share())
        self.writes = WriteGate(settings.max_writes, settings.write_wait)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        problem = self._refuse(scope, headers, has_body)
        if problem is not None:
            await _reply(scope, send, *problem)
            return

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", []))
            await send(message)

        if scope["path"] == HEALTH:  # liveness answers even when every slot is taken
            await self.app(scope, receive, secured_send)
            return
        try:
            client = await self._client(scope, headers)
        except MlopsError as exc:  # no token, a wrong one; or the database failed us
            exc = reported(exc, scope["method"], scope["path"])
            extra = {"retry-after": "1"} if exc.status == 503 else None
            await _reply(scope, send, exc.status, exc.code, exc.message, extra)
            return
        refused = self.slots.take(client)
        if refused is not None:
            message = f"the App is busy ({refused}): retry shortly"
            await _reply(scope, send, 503, "unavailable", message, {"retry-after": "1"})
            return
        token = scope.get(TOKEN_KEY)  # the audit trail names the token (local user without)
        named = ACTOR.set(token.name if token is not None else None)
        try:
            deadline = time.monotonic() + self.body_timeout
            await self._admitted(scope, receive, secured_send, has_body, deadline)
        finally:
            ACTOR.reset(named)
            self.slots.give_back(client)

    async def _client(self, scope: Scope, headers: dict[str, str]) -> str:
        """Who sends the request, for its share of the slots: the token of an API call when
        the App runs with --auth (checked here: Unauthorized when missing or not valid), else
        the peer address (the proxy's, unless --forwarded-allow-ips trusts it to name the
        client)."""
        path = scope["path"]
        if (
            self.auth
            and path.startswith(API_PATHS)
            and path not in PUBLIC_API
            and scope["method"] != "OPTIONS"  # a CORS preflight carries no token
        ):
            cookies = cookie_parser(headers.get("cookie", ""))
            token = await identify(self.store, secret_of(headers.get("authorization", ""), cookies))
            scope[TOKEN_KEY] = token
            return f"token:{token.id}"
        peer = scope.get("client")
        return f"peer:{peer[0] if peer else 'unknown'}"

    async def _admitted(
        self, scope: Scope, receive: Receive, send: Send, has_body: bool, deadline: float
    ) -> None:
        if _carries_bytes(scope):
            await self._streamed(scope, receive, send)
            return
        body = b""
        if has_body:
            try:
                body = await read_body(receive, self.max_body, deadline)
            except BodyTimeout:
                message = (
                    f"the request body did not arrive within {self.body_timeout:g} s "
                    "(--body-timeout): send it at once, or in smaller requests"
                )
                await _reply(scope, send, 408, "request_timeout", message, close=True)
                return
            except BodyTooLarge:
                ended = await drain(receive, deadline)
                await _reply(scope, send, 413, "too_large", self._too_large(scope), close=not ended)
                return
            except ClientGone:
                return
            receive = replay(body, receive)
        if (
            scope["method"] not in UNSAFE
            or not scope["path"].startswith(API_PATHS)
            or len(body) < GATED_BODY_BYTES  # starting or ending an iteration, a small batch
        ):
            await self.app(scope, receive, send)
            return
        wait = await self.writes.enter()
        if wait is not None:
            message = (
                f"the App is busy writing ({self.writes.slots} writes at once, more waiting "
                f"than it can take within {self.writes.max_wait:g} s): retry shortly"
            )
            extra = {"retry-after": retry_after(wait)}
            await _reply(scope, send, 503, "unavailable", message, extra)
            return
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.writes.leave(time.monotonic() - started)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A file's bytes flow through to the route as they arrive (never held whole): each
        chunk must come within ``--body-timeout`` seconds of the previous one, and the whole
        within ``--max-artifact-size``."""
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise _Idle from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_artifact:
                    raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _reply(scope, send, 413, "too_large", self._too_large(scope), close=True)
        except _Idle:
            if not started:
                message = (
                    f"the file's bytes stopped arriving for {self.body_timeout:g} s "
                    "(--body-timeout): the upload can resume where it stopped"
                )
                await _reply(scope, send, 408, "request_timeout", message, close=True)

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

    def _refuse(
        self, scope: Scope, headers: dict[str, str], has_body: bool
    ) -> tuple[int, str, str] | None:
        raw_host = headers.get("host", "")
        if not _HOST.fullmatch(raw_host.strip().lower()):
            return (
                400,
                "host_not_allowed",
                f"the Host header {raw_host!r} is not a host name or address with an optional port",
            )
        host = _hostname(raw_host)
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
        if scope["path"].startswith(API_PATHS) and has_body:  # no body: nothing to be JSON
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if _carries_bytes(scope):
                if content_type != "application/octet-stream" and not _mlflow_file(scope):
                    return (
                        415,
                        "unsupported_media_type",
                        "send the file's bytes with Content-Type: application/octet-stream",
                    )
            elif content_type != "application/json" and not (
                content_type == BATCH_MEDIA_TYPE and _takes_binary_batch(scope)
            ):
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


class _TooLarge(Exception):
    pass


class _Idle(Exception):
    pass


def _carries_bytes(scope: Scope) -> bool:
    """The artifact routes whose bodies are a file's bytes (``PUT /blobs/…``, ``PUT
    /uploads/…/parts``), the one exception to JSON bodies, streamed instead of held."""
    path: str = scope["path"]
    return scope["method"] == "PUT" and (
        path == f"{API_PREFIX}/blobs"
        or path.startswith(f"{API_PREFIX}/blobs/")
        or (path.startswith(f"{API_PREFIX}/uploads/") and path.endswith("/parts"))
        or _mlflow_file(scope)
    )


def _takes_binary_batch(scope: Scope) -> bool:
    """The training path's batch and end routes, which also take a binary batch
    (:mod:`mlops.wire_batch`; not a form a web page can send without asking first)."""
    path: str = scope["path"]
    return (
        scope["method"] == "POST"
        and path.startswith(f"{API_PREFIX}/iterations/")
        and path.endswith(("/batch", "/end"))
    )


#: Where MLflow clients upload files' bytes (the artifact proxy, multipart parts).
MLFLOW_FILES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")


def _mlflow_file(scope: Scope) -> bool:
    """An upload to MLflow's artifact proxy: a file's bytes with the media type MLflow's
    client guessed from its name (any type is fine: the bytes are stored, never run)."""
    path: str = scope["path"]
    return scope["method"] == "PUT" and path.startswith(MLFLOW_FILES)


def _hostname(netloc: str) -> str:
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


async def _reply(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    extra: dict[str, str] | None = None,
    close: bool = False,
) -> None:
    """An error answer of the guard (in MLflow's shape on MLflow's paths); ``close`` ends the
    connection after it (the request's body was not read)."""
    if is_mlflow_path(scope["path"]):  # MLflow's clients read MLflow's error shape
        body = json.dumps(guard_body(status, message)).encode()
    else:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *((k.encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
