"""Saved views and live state through the App: REST routes, the experiment page and its JSON
twin, the short URL, write tokens, and tokens limited to projects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.app import create_app
from mlops.app.settings import AppSettings
from mlops.store.sql.store import SqlStore


@pytest.fixture
def app_uri(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    ids: dict[str, str] = {}
    for name in ("alpha", "bravo"):
        project = store.create_project(name, None, "active", False)
        experiment = store.create_experiment(project.id, f"{name}-sweep", None)
        now = time.time()
        store.create_iteration(f"{name}-run", "run", experiment.id, None, now, {})
        store.log_batch(f"{name}-run", metrics=[("loss", 0, 1.0, now), ("loss", 1, 0.5, now)])
        ids[f"{name}_project"], ids[f"{name}_experiment"] = project.id, experiment.id
    ids["admin"], _ = store.create_token("root", "admin")
    ids["reader"], _ = store.create_token("reader", "read")
    ids["alpha_writer"], _ = store.create_token("alpha-writer", "write", [ids["alpha_project"]])
    store.close()
    yield uri, ids


def _client(uri: str, secret: str) -> TestClient:
    app = create_app(AppSettings(uri, auth=True))
    return TestClient(
        app, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {secret}"}
    )


def test_views_over_rest_the_page_and_the_short_url(app_uri: tuple[str, dict[str, str]]) -> None:
    uri, ids = app_uri
    experiment = ids["alpha_experiment"]
    api = f"/api/v1/experiments/{experiment}/views"
    with _client(uri, ids["admin"]) as client:
        state = {"filter": "metrics.loss < 1", "metrics": "loss", "group_by": "params.lr"}
        created = client.post(api, json={"name": "low loss", "state": {**state, "page": "2"}})
        assert created.status_code == 201, created.text
        view = created.json()
        assert view["state"] == state and view["created_by"] == "root"
        taken = client.post(api, json={"name": "low loss", "state": {}})
        assert taken.status_code == 409 and view["id"] in taken.json()["error"]["message"]
        bad = client.post(api, json={"name": "x", "state": {"filter": 1}})
        assert bad.status_code in (400, 422)
        assert [v["name"] for v in client.get(api).json()["views"]] == ["low loss"]

        twin = client.get(f"/experiments/{experiment}.json", params={"view": view["short_id"]})
        assert twin.json()["views"][0]["short_id"] == view["short_id"]
        assert twin.json()["view"] == view["short_id"]
        page = client.get(f"/experiments/{experiment}")
        assert 'data-testid="views-menu"' in page.text and "low loss" in page.text

        short = client.get(f"/v/{view['short_id']}", follow_redirects=False)
        assert short.status_code == 303
        target = short.headers["location"]
        assert target.startswith(f"/experiments/{experiment}?") and "view=" in target
        assert "group_by=params.lr" in target and "filter=metrics.loss+%3C+1" in target
        assert client.get("/v/nope", follow_redirects=False).status_code == 404

        renamed = client.patch(f"{api}/{view['short_id']}", json={"name": "lowest"})
        assert renamed.json()["name"] == "lowest" and renamed.json()["state"] == state
        assert client.delete(f"{api}/{view['id']}").status_code == 204
        assert client.delete(f"{api}/{view['id']}").status_code == 404
        actions = [
            e.action for e in SqlStore(uri).list_audit_events(0, None, 100) if e.kind == "view"
        ]
        assert sorted(actions) == ["create", "delete", "update"]


def test_saving_needs_a_write_token_and_views_stay_in_their_project(
    app_uri: tuple[str, dict[str, str]],
) -> None:
    uri, ids = app_uri
    with _client(uri, ids["admin"]) as admin:
        bravo = admin.post(
            f"/api/v1/experiments/{ids['bravo_experiment']}/views",
            json={"name": "secret view", "state": {"filter": "name = 'x'"}},
        ).json()
    with _client(uri, ids["reader"]) as reader:
        refused = reader.post(
            f"/api/v1/experiments/{ids['alpha_experiment']}/views", json={"name": "v", "state": {}}
        )
        assert refused.status_code == 403
        assert reader.get(f"/api/v1/views/{bravo['short_id']}").status_code == 200  # may read
    with _client(uri, ids["alpha_writer"]) as alpha:
        mine = alpha.post(
            f"/api/v1/experiments/{ids['alpha_experiment']}/views", json={"name": "v", "state": {}}
        )
        assert mine.status_code == 201
        for path in (
            f"/api/v1/views/{bravo['short_id']}",
            f"/api/v1/experiments/{ids['bravo_experiment']}/views",
            f"/v/{bravo['short_id']}",
        ):
            answer = alpha.get(path, follow_redirects=False)
            assert answer.status_code == 404, path
            assert "secret view" not in answer.text
        live = alpha.get(
            f"/api/v1/experiments/{ids['bravo_experiment']}/live", params={"ids": "bravo-run"}
        )
        assert live.status_code == 404


def test_the_live_route_answers_one_tick(app_uri: tuple[str, dict[str, str]]) -> None:
    uri, ids = app_uri
    with _client(uri, ids["admin"]) as client:
        path = f"/api/v1/experiments/{ids['alpha_experiment']}/live"
        answer = client.get(path, params={"ids": "alpha-run,bravo-run"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [i["id"] for i in body["iterations"]] == ["alpha-run"]  # bravo's is elsewhere
        assert body["iterations"][0]["metrics"]["loss"] == {
            "last": 0.5,
            "last_step": 1,
            "rewrites": 0,
        }
        assert body["iterations"][0]["status"] == "running" and body["now"] > 0
        assert client.get(path, params={"ids": ""}).status_code in (400, 422)
        series = client.get(
            "/api/v1/series",
            params={"metric": "loss", "iteration_ids": ["alpha-run"], "after_step": 0},
        ).json()["series"]["alpha-run"]
        assert [p["step"] for p in series["points"]] == [1]
        columns = client.get(
            "/api/v1/history/columns",
            params={"iteration_id": "alpha-run", "metric": "loss", "after_step": 1},
        ).json()
        assert columns["steps"] == []
