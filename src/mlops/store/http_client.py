"""The transport of the HTTP store: one kept-alive connection to the App, retries, errors.

:meth:`Transport.request` sends one request of the REST contract (:mod:`mlops.wire`) and returns
the decoded JSON answer. It retries what may succeed later — connection refused or reset,
timeouts, ``408``, ``429`` and ``5xx`` answers (not a ``storage_error``: the database itself
refused) — with exponential backoff and jitter, honouring ``Retry-After``, until its time
budget is spent; then it raises :class:`Unreachable`. A refused connection (nothing listens:
the App is down) is retried only for :data:`REFUSED_WINDOW`, so an outage is noticed within a
second and the journal takes over; an attempt of an idempotent request waits at most half the
budget, so a read timeout is retried at least once. Any other
error answer ``{"error": {"code", "message"}}`` becomes the error class of that code
(``NotFound``, ``InvalidInput``...), so ``except NotFound`` works the same on every store; no
``httpx`` exception ever leaves this module.
"""

from __future__ import annotations

import email.utils
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from mlops import __version__, wire_json
from mlops.errors import ERRORS_BY_CODE, IterationEnded, MlopsError, Unavailable
from mlops.store.http_codec import request_json
from mlops.store.journal_format import Record
from mlops.wire import API_PREFIX, FLOATS_HEADER

__all__ = ["Transport", "Unreachable", "route", "send_record"]

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 15.0
#: The read timeout of a whole series in one answer (a million points take seconds to read).
LONG_READ_TIMEOUT = 300.0
#: The shortest timeout an attempt gets, even when the budget is almost spent.
MIN_ATTEMPT = 0.5
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0
#: Seconds a refused connection is retried (quickly) before the App counts as unreachable.
REFUSED_WINDOW = 0.4
REFUSED_DELAY = 0.1
RETRY_AFTER_CAP = 60.0
TOKEN_ENV = "MLOPS_API_TOKEN"
#: Errors raised before the request left this machine: retrying them never repeats a write.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Unreachable(Unavailable):
    """The App could not be reached, or kept answering ``429``/``5xx``, for the whole retry
    budget. The training path keeps what it could not send in the journal instead.
    ``refused`` is True when nothing listens at the App's address (it is down)."""

    refused: bool = False


def health_hint(uri: str) -> str:
    """How to check an App URL, for error messages."""
    return (
        f"check that the App runs (`curl {uri}{API_PREFIX}/health`) and that "
        "MLOPS_TRACKING_URI points to it"
    )


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): exponential, half jitter."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return min(max(float(raw), 0.0), RETRY_AFTER_CAP)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(when - time.time(), 0.0), RETRY_AFTER_CAP)


class Transport:
    """An HTTP/1.1 client of one App: ``Authorization: Bearer $MLOPS_API_TOKEN`` when the
    variable is set, 2 s to connect, 15 s to read, connections kept alive, ``TCP_NODELAY``."""

    def __init__(self, uri: str, token: str | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.token = (os.environ.get(TOKEN_ENV) or None) if token is None else token
        self._client = self._make_client()
        self._pid = os.getpid()

    def _make_client(self) -> httpx.Client:
        headers = {
            "User-Agent": f"mlops/{__version__} httpx/{httpx.__version__}",
            "Accept": "application/json",
            FLOATS_HEADER: "literal",  # parameters keep NaN and infinities apart from strings
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        return httpx.Client(
            base_url=self.uri + API_PREFIX,
            headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            transport=httpx.HTTPTransport(retries=0, socket_options=nodelay),
        )

    def close(self) -> None:
        """Close the connections (the transport must not be used afterwards)."""
        if self._pid == os.getpid():
            self._client.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        budget: float = 3.0,
        repeatable: bool = True,
        cancel: threading.Event | None = None,
        retry_timeout: bool = False,
        raw: bytes | None = None,
        accept: str | None = None,
        read_timeout: float = READ_TIMEOUT,
        raw_type: str = "application/octet-stream",
    ) -> Any:
        """Send a request and return its decoded JSON (None for an empty answer), or, when
        ``accept`` names a media type the answer has, the answer's bytes.

        Retries for at most ``budget`` seconds (an attempt that started may overrun it by
        :data:`MIN_ATTEMPT`), a refused connection only for :data:`REFUSED_WINDOW`.
        ``repeatable=False`` (a write that is not idempotent, such as creating a project)
        retries only when the request surely did not reach the App. ``retry_timeout=True`` (an
        idempotent write of the training path) gives the first attempt at most half the budget,
        so that a read timeout is retried before the caller journals. ``cancel`` set stops the
        retries at the next wait. ``raw`` sends bytes of ``raw_type`` (the artifact routes'
        ``application/octet-stream``, a binary batch) instead of ``body`` as JSON.
        ``read_timeout`` bounds the wait for the answer of one attempt
        (:data:`LONG_READ_TIMEOUT` for a whole series). Raises :class:`Unreachable`, or the
        error class the App answered.
        """
        if self._pid != os.getpid():  # a forked child opens its own connections
            self._client, self._pid = self._make_client(), os.getpid()
        content = raw if raw is not None else None if body is None else request_json(body)
        kind = raw_type if raw is not None else "application/json"
        headers = {"Content-Type": kind} if content is not None else {}
        if accept is not None:
            headers["Accept"] = f"{accept}, application/json;q=0.5"
        deadline = time.monotonic() + budget
        refused_until: float | None = None
        attempt = 0
        while True:
            left = max(deadline - time.monotonic(), MIN_ATTEMPT)
            if retry_timeout and repeatable and attempt == 0:
                left = max(min(left, budget / 2), MIN_ATTEMPT)  # room for one retry at least
            timeout = httpx.Timeout(min(read_timeout, left), connect=min(CONNECT_TIMEOUT, left))
            wait: float | None = None
            refused = False
            try:
                response = self._client.request(
                    method, path, content=content, params=params, headers=headers, timeout=timeout
                )
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if not repeatable and not isinstance(exc, _NOT_SENT):
                    raise Unreachable(self._unreachable(failure)) from None
                if isinstance(exc, httpx.ConnectError):  # refused: nothing listens there
                    now, refused = time.monotonic(), True
                    refused_until = refused_until or now + REFUSED_WINDOW
                    if now + REFUSED_DELAY > min(refused_until, deadline):
                        down = Unreachable(self._unreachable(failure))
                        down.refused = True
                        raise down from None
            else:
                status = response.status_code
                if status < 400:
                    kind = response.headers.get("content-type", "")
                    if accept is not None and kind.split(";")[0].strip() == accept:
                        return response.content
                    return self._json(method, path, response)
                error = self._error(method, path, response)
                if not (status in (408, 429) or status >= 500) or _final(error):
                    raise error
                if not repeatable and status not in (429, 503):
                    raise Unreachable(self._unreachable(f"{status}: {error.message}"))
                failure, wait = f"{status}: {error.message}", _retry_after(response)
            attempt += 1
            left = deadline - time.monotonic()
            if left < 0.05 or (wait is not None and wait > left):
                raise Unreachable(self._unreachable(failure))
            pause = min(REFUSED_DELAY if refused else max(backoff(attempt), wait or 0.0), left)
            if cancel is None:
                time.sleep(pause)
            elif cancel.wait(pause):
                raise Unreachable(self._unreachable(f"{failure}; stopped"))

    def download(self, path: str, params: dict[str, Any], budget: float = 30.0) -> Iterator[bytes]:
        """The bytes of a GET answer, chunk by chunk (connection problems before the answer
        starts are retried for ``budget`` seconds; errors raised as their classes)."""
        if self._pid != os.getpid():
            self._client, self._pid = self._make_client(), os.getpid()
        deadline = time.monotonic() + budget
        attempt = 0
        while True:
            try:
                with self._client.stream("GET", path, params=params) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise self._error("GET", path, response)
                    yield from response.iter_bytes(1 << 20)
                    return
            except httpx.TransportError as exc:
                attempt += 1
                if (attempt > 1 and time.monotonic() > deadline) or not isinstance(exc, _NOT_SENT):
                    raise Unreachable(self._unreachable(f"{type(exc).__name__}: {exc}")) from None
                time.sleep(min(backoff(attempt), max(deadline - time.monotonic(), 0.0)))

    def _json(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return wire_json.loads(response.content)
        except ValueError:
            raise MlopsError(
                f"the App at {self.uri} answered {method} {API_PREFIX}{path} with something "
                "that is not JSON: is MLOPS_TRACKING_URI the address of an mlops App?"
            ) from None

    def _unreachable(self, failure: str) -> str:
        return f"the App at {self.uri} is unreachable ({failure}): {health_hint(self.uri)}"

    def _error(self, method: str, path: str, response: httpx.Response) -> MlopsError:
        """The error an answer carries, as the class of its code."""
        status = response.status_code
        code: str | None = None
        try:
            detail = response.json()["error"]
            code, message = str(detail["code"]), str(detail["message"])
        except (ValueError, KeyError, TypeError):
            text = " ".join(response.text.split())[:200]
            message = f"{status} {response.reason_phrase}" + (f": {text}" if text else "")
        cls = ERRORS_BY_CODE.get(code or "", MlopsError)
        if status in (401, 403) and TOKEN_ENV not in message:
            state = "is set" if self.token else "is not set"
            message = (
                f"the App at {self.uri} refused the request ({status}: {message}); the client "
                f"sends the token in MLOPS_API_TOKEN, which {state}: set it to a token with "
                "the right scope (made with `mlops tokens create NAME --scope write`)"
            )
        elif code is None and status >= 500:
            cls, message = Unavailable, f"the App at {self.uri} answered {message}"
        elif code is None:
            message = (
                f"the App at {self.uri} answered {message} to {method} {API_PREFIX}{path}: "
                "is MLOPS_TRACKING_URI the address of an mlops App?"
            )
        error = cls(message)
        if code is not None and code not in ERRORS_BY_CODE:
            error.code = code  # a code this version of mlops does not know, kept as sent
        error.status = status
        return error


def _final(error: MlopsError) -> bool:
    """True for an answer of the App that sending again cannot change (a storage error)."""
    return error.code in ERRORS_BY_CODE and not error.retryable and error.status != 503


def part(value: str) -> str:
    """A path segment (an id, a metric name) as a URL can carry it."""
    return quote(value, safe="")


def route(op: str, iteration_id: str) -> tuple[str, str]:
    """(method, path) of a training-path operation of the journal."""
    iteration = part(iteration_id)
    if op == "create_iteration":
        return "POST", "/iterations"
    if op == "log_batch":
        return "POST", f"/iterations/{iteration}/batch"
    if op == "update_iteration":
        return "PATCH", f"/iterations/{iteration}"
    if op == "end_iteration":
        return "POST", f"/iterations/{iteration}/end"
    if op == "log_artifact":
        return "POST", f"/iterations/{iteration}/artifacts"
    raise ValueError(f"unknown journal operation {op!r}")


def send_record(
    transport: Transport,
    record: Record,
    budget: float,
    cancel: threading.Event | None = None,
    journal: Path | None = None,
) -> Any:
    """Send one journal record to the App; returns its answer.

    A batch the App refuses because its iteration has ended counts as sent: it was sent before
    (the iteration's end comes after its batches in the journal) and re-sending cannot change an
    ended iteration. A file (``log_artifact``) is uploaded from the journal folder ``journal``
    (:func:`mlops.store.journal_files.send_artifact`).
    """
    if record.op == "log_artifact":
        from mlops.store.journal_files import send_artifact

        if journal is None:
            raise ValueError("a journaled file is sent from its journal folder")
        return send_artifact(transport, journal, record.args)
    method, path = route(record.op, record.args["iteration_id"])
    try:
        return transport.request(
            method, path, body=record.args["body"], budget=budget, cancel=cancel
        )
    except IterationEnded:
        if record.op != "log_batch":
            raise
        return None
