"""Running the App: Uvicorn with TCP_NODELAY, one or several worker processes, graceful stop.

Uvicorn stops cleanly on Ctrl-C and SIGTERM: it stops accepting, lets in-flight requests
finish (up to 30 s), then exits. Several workers share one listening socket; every worker is
stateless, so any number of App processes can serve one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import os
import socket
import sys
import threading
import time

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlops.app import create_app
from mlops.app.settings import ENV_SETTINGS, AppSettings, from_env

log = logging.getLogger("mlops.app")


class NoDelayProtocol(HttpToolsProtocol):
    """HTTP protocol that turns Nagle's algorithm off on every accepted connection: with it on,
    a kept-alive client can stall ~40 ms per request on its delayed ACK."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # not every socket type takes it
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def app_from_env() -> FastAPI:
    """The App of a worker process, from the settings its parent put in the environment."""
    return create_app(from_env())


def _announce_when_answering(settings: AppSettings, timeout: float = 120.0) -> None:
    """Print the App's URL once it answers HTTP on its port (with several workers the socket
    is bound, and connections queue, well before a worker serves them)."""
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(local, settings.port, timeout=2)
        try:
            host = f"{shown_host}:{settings.port}"
            connection.request("GET", "/api/v1/health", headers={"Host": host})
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
            continue
        finally:
            connection.close()
        sys.stdout.write(f"mlops App running at http://{shown_host}:{settings.port}/\n")
        sys.stdout.flush()
        return


def serve(settings: AppSettings) -> None:
    """Run the App in the foreground until Ctrl-C or SIGTERM."""
    import uvicorn

    settings.check()
    if settings.insecure and not settings.auth:
        log.warning("--insecure: the App listens on %s WITHOUT access control", settings.host)
        sys.stderr.write(
            f"WARNING: mlops App on {settings.host} without tokens (--insecure): anyone who can "
            "reach this address can read and change every experiment\n"
        )
    # Open the store once here: a schema that is behind stops us before any worker starts.
    from mlops.store.sql.store import SqlStore

    SqlStore(settings.store_uri).close()
    os.environ[ENV_SETTINGS] = settings.to_env()
    threading.Thread(target=_announce_when_answering, args=(settings,), daemon=True).start()
    uvicorn.run(
        "mlops.app.server:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=NoDelayProtocol,
        log_level="warning",
        timeout_graceful_shutdown=30,
        # Behind a load balancer every peer is the balancer: trusting its X-Forwarded-For (only
        # from the addresses given) lets each client have its own share of the slots.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips) or None,
        server_header=False,
    )
