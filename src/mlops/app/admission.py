"""Admission of requests into one App process: how many at once, per client, and for writes.

- :class:`Slots` bounds the requests in flight (``--max-in-flight``) and each client's share of
  them (``--max-in-flight-per-client``): a client is a token when the App runs with ``--auth``,
  else a peer address. One client that opens many connections (or sends its bodies slowly) can
  take its share, never every slot.
- :class:`WriteGate` bounds the writes that run at once (``--max-writes``); a write waits at
  most ``--write-wait`` seconds for its turn, and is pushed back at once when the writes already
  waiting would take longer than that: the App answers 503 with ``Retry-After`` early instead
  of letting requests stall until the client's read timeout.
- :func:`read_body` receives a request body whole, within a time limit (``--body-timeout``) and
  a size limit, before the request takes a write turn; :func:`drain` drops the body of a
  request the App refuses, within the same time limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

#: Weight of the newest write in the running mean of how long a write takes.
_SMOOTHING = 0.2


class Slots:
    """The requests in flight in this process, in total and per client."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.in_flight = 0
        self.by_client: dict[str, int] = {}

    def take(self, client: str) -> str | None:
        """Take a slot for ``client``; None when taken, else why not (for the 503 message)."""
        if self.in_flight >= self.total:
            return f"the App has {self.total} requests in flight"
        held = self.by_client.get(client, 0)
        if held >= self.per_client:
            return (
                f"this client already has {held} requests in flight (the limit per client, "
                "--max-in-flight-per-client)"
            )
        self.in_flight += 1
        self.by_client[client] = held + 1
        return None

    def give_back(self, client: str) -> None:
        """Return a slot taken by :meth:`take`."""
        self.in_flight -= 1
        held = self.by_client[client] - 1
        if held:
            self.by_client[client] = held
        else:
            del self.by_client[client]


class WriteGate:
    """At most ``slots`` writes at once, in arrival order; each waits at most ``max_wait``."""

    def __init__(self, slots: int, max_wait: float) -> None:
        self.slots = slots
        self.max_wait = max_wait
        self.running = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        #: Running mean of the seconds one write takes (starts optimistic, learns quickly).
        self.write_seconds = 0.05

    def expected_wait(self) -> float:
        """Seconds a write arriving now would wait for its turn, from recent writes."""
        return (len(self.waiting) + 1) * self.write_seconds / self.slots

    async def enter(self) -> float | None:
        """Wait for a turn; None once it is ours (call :meth:`leave` afterwards), else the
        seconds after which to try again (the queue is too long, or the wait ran out)."""
        if self.running < self.slots and not self.waiting:
            self.running += 1
            return None
        expected = self.expected_wait()
        if expected > self.max_wait:
            return expected
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            await asyncio.wait_for(turn, self.max_wait)
        except TimeoutError:
            if turn in self.waiting:
                self.waiting.remove(turn)
            return max(self.expected_wait(), 1.0)
        except BaseException:  # cancelled while waiting: a turn handed over is passed on
            if turn.done() and not turn.cancelled():
                self.leave(0.0)
            elif turn in self.waiting:
                self.waiting.remove(turn)
            raise
        return None  # leave() handed its turn over: self.running already counts us

    def leave(self, seconds: float) -> None:
        """End a turn that took ``seconds``; the next waiting write takes it over."""
        if seconds > 0:
            self.write_seconds += _SMOOTHING * (seconds - self.write_seconds)
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, 1 to 30."""
    return str(min(30, max(1, math.ceil(seconds))))


class BodyTimeout(Exception):
    """The request body did not arrive in time."""


class BodyTooLarge(Exception):
    """The request body is over the size limit."""


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


async def read_body(receive: Receive, limit: int, deadline: float) -> bytes:
    """The whole request body; :class:`BodyTimeout` when it has not arrived by ``deadline``
    (``time.monotonic()``), :class:`BodyTooLarge` beyond ``limit`` bytes, :class:`ClientGone`
    when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await _next(receive, deadline)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def drain(receive: Receive, deadline: float) -> bool:
    """Receive and drop the rest of a body the App refuses; True when it ended by
    ``deadline``, so the connection can serve the client's next request (else close it: an
    answer sent while the client is still sending may be lost to a connection reset)."""
    try:
        while (await _next(receive, deadline)).get("more_body", False):
            pass
    except (BodyTimeout, ClientGone):
        return False
    return True


async def _next(receive: Receive, deadline: float) -> Message:
    left = deadline - time.monotonic()
    if left <= 0:
        raise BodyTimeout
    try:
        message = await asyncio.wait_for(receive(), left)
    except TimeoutError:
        raise BodyTimeout from None
    if message["type"] == "http.disconnect":
        raise ClientGone
    return message


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` at once, then passes on what follows (the
    client's disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
