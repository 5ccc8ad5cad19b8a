"""The Trash page and its JSON twin: deleted experiments and iterations, restore and purge
through the API it calls, which asks for a write token under ``--auth``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from browser_support import XSS
from mlops.app import AppSettings, create_app
from mlops.store.sql.store import SqlStore


@pytest.fixture
def db(tmp_path: Path) -> Iterator[dict[str, Any]]:
    uri = f"sqlite:///{tmp_path / 'trash.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    live = store.create_experiment(project.id, "live " + XSS, None)
    gone = store.create_experiment(project.id, "gone", None)
    now = time.time()
    store.create_iteration("keep", "kept run", live.id, None, now, {})
    store.create_iteration("drop", "dropped " + XSS, live.id, None, now, {})
    store.create_iteration("inner", "in gone", gone.id, None, now, {})
    store.delete_iteration("drop")
    store.delete_experiment(gone.id)
    secrets = {scope: store.create_token(scope, scope)[0] for scope in ("read", "write")}
    store.close()
    yield {"uri": uri, "gone": gone.id, **secrets}


def test_the_twin_lists_what_was_deleted_and_the_page_escapes_names(
    db: dict[str, Any],
) -> None:
    with TestClient(create_app(AppSettings(store_uri=db["uri"])), base_url="http://127.0.0.1") as c:
        data = c.get("/trash.json").json()
        assert [e["name"] for e in data["experiments"]] == ["gone"]
        assert data["experiments"][0]["project_title"] == "vision"
        rows = {r["id"]: r for r in data["iterations"]}
        assert set(rows) == {"drop", "inner"}
        assert rows["drop"]["experiment_name"] == "live " + XSS
        assert rows["inner"]["experiment_deleted"] is True
        assert rows["drop"]["deleted_at"] is not None
        page = c.get("/trash")
        assert page.status_code == 200 and XSS not in page.text
        assert 'data-testid="nav-trash" aria-current="page"' in page.text


def test_restore_and_purge_need_a_write_token_under_auth(db: dict[str, Any]) -> None:
    settings = AppSettings(store_uri=db["uri"], auth=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        assert c.get("/trash.json").status_code == 401
        read = {"Authorization": f"Bearer {db['read']}"}
        write = {"Authorization": f"Bearer {db['write']}"}
        assert c.get("/trash.json", headers=read).status_code == 200
        assert c.post("/api/v1/iterations/drop/restore", headers=read).status_code == 403
        purge = {"ids": ["drop"]}
        assert c.post("/api/v1/trash/purge", json=purge, headers=read).status_code == 403
        assert c.post("/api/v1/trash/purge", json=purge, headers=write).status_code == 200
        url = f"/api/v1/experiments/{db['gone']}"
        assert c.post(url + "/restore", headers=write).status_code == 200
        after = c.get("/trash.json", headers=read).json()
        assert after == {"experiments": [], "iterations": [], "more": False}
