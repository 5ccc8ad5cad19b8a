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
        empty = {"projects": [], "experiments": [], "iterations": [], "datasets": []}
        assert after == {**empty, "more": False}


@pytest.fixture
def team(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A deleted project (with a run), a deleted dataset version and a live one in use."""
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    store = SqlStore(uri)
    old = store.create_project("audio " + XSS, None, "active", False)
    experiment = store.create_experiment(old.id, "sweep", None)
    store.create_iteration("a1", "run", experiment.id, None, time.time(), {})
    used = store.create_dataset("mnist", "s3://b/m", None, (), "v1", None, None, None)
    spare = store.create_dataset("mnist", "s3://b/m2", None, (), "v2", None, None, None)
    live = store.create_project("vision", None, "active", False)
    runs = store.create_experiment(live.id, "runs", None)
    store.create_iteration("b1", "run", runs.id, None, time.time(), {})
    store.log_batch("b1", dataset_ids=[used.id])
    store.delete_project(old.id)
    store.delete_dataset(spare.id)
    store.close()
    yield {"uri": uri, "old": old.id, "used": used.id, "spare": spare.id, "live": live.id}


def test_the_trash_lists_deleted_projects_and_datasets_with_who_and_when(
    team: dict[str, Any],
) -> None:
    with TestClient(
        create_app(AppSettings(store_uri=team["uri"])), base_url="http://127.0.0.1"
    ) as c:
        data = c.get("/trash.json").json()
        assert [p["id"] for p in data["projects"]] == [team["old"]]
        assert data["projects"][0]["deleted_by"].startswith("local:")
        assert [d["id"] for d in data["datasets"]] == [team["spare"]]
        assert data["datasets"][0]["deleted_at"] is not None
        assert data["experiments"] == []  # hidden with its project, not deleted itself
        page = c.get("/trash")
        assert page.status_code == 200 and XSS not in page.text
        assert 'data-testid="trash-project"' in page.text
        assert 'data-testid="trash-dataset"' in page.text
        assert 'data-testid="deleted-by"' in page.text
        # the deleted project is hidden from the projects page and the live one's counts
        projects = c.get("/").text
        assert "audio" not in projects and "vision" in projects


def test_the_project_and_dataset_pages_offer_delete_and_the_api_restores_with_a_rename(
    team: dict[str, Any],
) -> None:
    with TestClient(
        create_app(AppSettings(store_uri=team["uri"])), base_url="http://127.0.0.1"
    ) as c:
        page = c.get(f"/projects/{team['live']}")
        assert 'data-testid="project-delete"' in page.text
        assert f'data-delete="/api/v1/projects/{team["live"]}"' in page.text
        assert 'data-testid="project-deleted"' in c.get(f"/projects/{team['old']}").text
        assert 'data-testid="dataset-delete"' in c.get("/datasets/mnist").text

        refused = c.delete(f"/api/v1/datasets/{team['used']}")
        assert refused.status_code == 422 and "b1" in refused.json()["error"]["message"]
        assert c.delete(f"/api/v1/datasets/{team['used']}?force=true").status_code == 200
        assert c.get("/api/v1/datasets").json()["datasets"] == []

        c.post("/api/v1/projects", json={"title": "audio " + XSS})
        taken = c.post(f"/api/v1/projects/{team['old']}/restore", json={})
        assert taken.status_code == 409 and "name=" in taken.json()["error"]["message"]
        back = c.post(f"/api/v1/projects/{team['old']}/restore", json={"name": "audio-old"})
        assert back.status_code == 200 and back.json()["title"] == "audio-old"
        assert back.json()["deleted_by"] is None
        again = c.post(f"/api/v1/datasets/{team['spare']}/restore", json={"version": "v2b"})
        assert again.status_code == 200 and again.json()["version"] == "v2b"
        gone = c.delete(f"/api/v1/projects/{team['live']}")
        assert gone.status_code == 200 and gone.json()["deleted_at"] is not None
        purged = c.post(f"/api/v1/projects/{team['live']}/purge", json={})
        assert purged.status_code == 200 and purged.json()["iterations"] == 1
        events = [(e.action, e.kind) for e in SqlStore(team["uri"]).list_audit_events()]
        assert ("purge", "project") in events and ("restore", "project") in events
        assert ("delete", "dataset") in events


def test_the_iteration_page_shows_and_saves_the_description(team: dict[str, Any]) -> None:
    with TestClient(
        create_app(AppSettings(store_uri=team["uri"])), base_url="http://127.0.0.1"
    ) as c:
        saved = c.patch("/api/v1/iterations/b1", json={"description": "lr sweep " + XSS})
        assert saved.status_code == 200 and saved.json()["description"] == "lr sweep " + XSS
        page = c.get("/iterations/b1")
        assert 'data-testid="iteration-description"' in page.text
        assert "lr sweep" in page.text and XSS not in page.text
        cleared = c.patch("/api/v1/iterations/b1", json={"description": ""})
        assert cleared.json()["description"] is None
        events = [(e.action, e.kind) for e in SqlStore(team["uri"]).list_audit_events()]
        assert ("describe", "iteration") in events
