"""The experiment page grouped: ``?group_by=`` gives a row per group (HTML and JSON twin), an
"others" row, a picker of keys, and a clear error for a key that cannot be grouped by."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlops.app import AppSettings, create_app
from mlops.store.sql.store import SqlStore

XSS = "<b>x</b>"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    uri = f"sqlite:///{tmp_path / 'groups.db'}"
    store = SqlStore(uri)
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    now = time.time()
    for n in range(12):
        iteration_id = f"it-{n:02d}"
        store.create_iteration(iteration_id, f"run-{n}", experiment.id, None, now + n, {})
        params: dict[str, Any] = {"config": "big" if n % 3 else XSS, "lr": 0.1 if n < 6 else 0.01}
        if n == 11:
            del params["config"]
        metrics = [("loss", 0, 2.0, now), ("loss", 1, float(n), now)]
        store.log_batch(iteration_id, parameters=params, metrics=metrics, tags={"team": "a"})
    store.close()
    app = create_app(AppSettings(uri))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, experiment.id


def test_the_json_twin_has_a_row_per_group(page: tuple[TestClient, str]) -> None:
    client, experiment_id = page
    answer = client.get(
        f"/experiments/{experiment_id}.json",
        params={"group_by": "params.config, params.lr", "metrics": "loss", "params": ""},
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["group_by"] == "params.config, params.lr"
    assert data["group_fields"] == ["params.config", "params.lr"]
    rows = {(tuple(g["key"]), tuple(g["missing"])): g for g in data["groups"]}
    big = rows[("big", 0.1), (False, False)]  # runs 1, 2, 4, 5
    assert big["count"] == 4 and big["cells"]["loss"]["mean"] == 3.0
    assert big["iteration_ids"] == ["it-05", "it-04", "it-02", "it-01"]
    assert big["label"] == "config=big · lr=0.1"
    assert rows[(None, 0.01), (True, False)]["count"] == 1  # run 11 has no config
    assert data["group_total"] == 12 and data["group_count"] == 5
    assert "params.config" in data["group_keys"] and "tags.team" in data["group_keys"]
    plain = client.get(f"/experiments/{experiment_id}.json").json()
    assert plain["groups"] is None and plain["group_by"] == ""


def test_the_page_shows_group_rows_escaped_with_others(page: tuple[TestClient, str]) -> None:
    client, experiment_id = page
    answer = client.get(
        f"/experiments/{experiment_id}",
        params={"group_by": "params.config", "group_order": "mean(metrics.loss) asc"},
    )
    assert answer.status_code == 200
    html = answer.text
    assert html.count('data-testid="group-row"') == 3
    assert "config=&lt;b&gt;x&lt;/b&gt;" in html and XSS not in html.split("<main", 1)[1]
    assert 'data-active="1"' in html and "± " in html
    assert html.index("config=&lt;b&gt;") < html.index("config=big")  # runs 0, 3, 6, 9: 4.5
    limited = client.get(
        f"/experiments/{experiment_id}.json", params={"group_by": "params.lr", "group_limit": 1}
    ).json()
    assert [g["others"] for g in limited["groups"]] == [False, True]
    assert limited["groups"][1]["label"] == "others (1 groups)"
    assert len(client.get(f"/experiments/{experiment_id}.json").json()["iterations"]) == 12


def test_a_bad_group_key_is_explained_on_the_page(page: tuple[TestClient, str]) -> None:
    client, experiment_id = page
    answer = client.get(f"/experiments/{experiment_id}", params={"group_by": "metrics.loss"})
    assert answer.status_code == 200
    assert 'data-testid="group-error"' in answer.text
    assert "group by parameters or tags" in answer.text
    data = client.get(f"/experiments/{experiment_id}.json", params={"group_by": "x."}).json()
    assert data["groups"] is None and data["group_error"]["code"]
