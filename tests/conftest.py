"""Fixtures: every test gets its own MLOPS_HOME; store tests run on real SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.store import close_stores

POSTGRES_URL = os.environ.get("MLOPS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MLOPS_HOME with the embedded store; nothing leaks between tests."""
    home = tmp_path / "mlops-home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of an empty store, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    uri = _postgres_uri()
    yield uri
    close_stores()
    _drop_schema(uri)


@pytest.fixture
def store(store_uri: str):  # type: ignore[no-untyped-def]
    """An opened store on each backend."""
    from mlops.store.sql.store import SqlStore

    opened = SqlStore(store_uri)
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
