"""Fixtures: every test gets its own MLOPS_HOME; store tests run on real SQLite, PostgreSQL and
a real App process over HTTP (SQL-only tests use ``sql_store_uri`` / ``sql_store``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlops.store import Store, close_stores

if TYPE_CHECKING:
    from mlops.store.sql.store import SqlStore

POSTGRES_URL = os.environ.get("MLOPS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


#: System metrics are off in the tests unless a test turns them on (tests/test_system_metrics.py
#: does): their first sample at start would add system/ series to every test's iterations.
SYSTEM_METRICS_OFF = ("MLOPS_SYSTEM_METRICS_INTERVAL", "0")


def child_environ() -> dict[str, str]:
    """The environment for a subprocess that must not see this test's ``MLOPS_`` settings:
    ``os.environ`` without them, and with system metrics off as in every test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return {**env, SYSTEM_METRICS_OFF[0]: SYSTEM_METRICS_OFF[1]}


#: The same for a subprocess whose environment drops every MLOPS_ variable of the test's.
NO_SYSTEM_METRICS = dict([SYSTEM_METRICS_OFF])


@pytest.fixture(autouse=True, scope="session")
def _no_system_metrics() -> Iterator[None]:
    """Off for the module- and session-scoped fixtures too (they run before ``mlops_home``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(*SYSTEM_METRICS_OFF)
        yield


@pytest.fixture(autouse=True)
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MLOPS_HOME with the embedded store; nothing leaks between tests."""
    home = tmp_path / "mlops-home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv(*SYSTEM_METRICS_OFF)
    for name in ("MLOPS_TRACKING_URI", "RANK", "WORLD_SIZE", "MLOPS_ALL_RANKS"):
        monkeypatch.delenv(name, raising=False)
    yield home
    close_stores()


def _postgres_uri() -> str:
    """A PostgreSQL URI on a fresh schema; skips (or fails in CI) when PostgreSQL is not there."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True) as conn:
            schema = f"t_{uuid.uuid4().hex[:12]}"
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        if os.environ.get("MLOPS_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc})")
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def _drop_schema(uri: str) -> None:
    import psycopg

    schema = uri.rsplit("%3D", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _sql_uri(kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty SQL store's URI (SQLite file or fresh PostgreSQL schema), cleaned up after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    uri = _postgres_uri()
    yield uri
    close_stores()
    _drop_schema(uri)


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of an empty store, once per backend; "http" is a real App process (on its own
    SQLite file) and the URI is its URL."""
    if request.param == "http":
        app = AppProcess(f"sqlite:///{tmp_path / 'behind-app.db'}")
        try:
            yield app.url
        finally:
            app.stop()
        return
    yield from _sql_uri(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of an empty SQL store, for tests that are SQL by nature (migrations, read
    models of the App's pages)."""
    yield from _sql_uri(request.param, tmp_path)


@pytest.fixture
def store(store_uri: str, tmp_path: Path) -> Iterator[Store]:
    """An opened store on each backend (the HTTP client of a real App for "http")."""
    opened: Store
    if store_uri.startswith("http://"):
        from mlops.store.http import HttpStore

        opened = HttpStore(store_uri, home=tmp_path / "client-home")
    else:
        from mlops.store.sql.store import SqlStore

        opened = SqlStore(store_uri)
    yield opened
    opened.close()


@pytest.fixture
def sql_store(sql_store_uri: str) -> Iterator[SqlStore]:
    """An opened SQL store on each SQL backend."""
    from mlops.store.sql.store import SqlStore

    opened = SqlStore(sql_store_uri)
    yield opened
    opened.close()


@pytest.fixture
def tracking_uri(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the tracking library at each backend in turn."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", store_uri)
    return store_uri


@pytest.fixture
def active(mlops_home: Path) -> dict[str, str]:
    """An active project and experiment on the embedded store."""
    from mlops import tracking

    project = tracking.create_project("demo")
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("sweep")
    tracking.set_active_experiment(experiment["id"])
    return {"project_id": project["id"], "experiment_id": experiment["id"]}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AppProcess:
    """A real ``mlops app`` process on a loopback port."""

    def __init__(self, store_uri: str, *args: str, port: int | None = None) -> None:
        import subprocess
        import sys

        self.store_uri = store_uri
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        command = [sys.executable, "-m", "mlops", "app", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, "--store", store_uri, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            self.wait_ready()
        except BaseException:
            self.stop(9)  # never leave an App behind that did not come up
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the App exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the App did not answer within {timeout:.0f} s")

    def stop(self, sig: int = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def start_app() -> Iterator[Any]:
    """Start real App processes; all are stopped after the test."""
    started: list[AppProcess] = []

    def start(store_uri: str, *args: str, port: int | None = None) -> AppProcess:
        app = AppProcess(store_uri, *args, port=port)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
