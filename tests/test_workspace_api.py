"""The experiment page's chart panel on the server: ``POST /experiments/{id}/points`` (the
columns parallel coordinates and the scatter draw), ``/series`` for 100 iterations, and the
panel's settings read from the address into the page's JSON twin."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlops.app import AppSettings, create_app
from mlops.store.sql.store import SqlStore

COUNT = 30


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, list[str]]]:
    uri = f"sqlite:///{Path(tmp_path_factory.mktemp('points')) / 'p.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    now = time.time()
    ids = []
    for n in range(COUNT):
        iteration_id = f"it{n:03d}" + "0" * 27
        store.create_iteration(iteration_id, f"run-{n:03d}", experiment.id, None, now + n, {})
        params: dict[str, Any] = {"lr": 10.0 ** -(n % 4), "model": "rf" if n % 2 else "gb"}
        if n == 0:
            del params["lr"]
        metrics = [("acc", s, n / 100 + s / 1000, now + s) for s in range(3)]
        if n == 1:
            metrics.append(("loss", 0, math.nan, now))
        store.end_iteration(
            iteration_id, "finished", now + n + 1, parameters=params, metrics=metrics
        )
        ids.append(iteration_id)
    store.close()
    with TestClient(create_app(AppSettings(store_uri=uri)), base_url="http://127.0.0.1") as client:
        yield client, experiment.id, ids


def _points(client: TestClient, experiment_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/experiments/{experiment_id}/points", json=body)


def test_points_are_columns_of_the_named_values(seeded: tuple[TestClient, str, list[str]]) -> None:
    client, experiment_id, ids = seeded
    answer = _points(
        client, experiment_id, parameters=["lr", "model"], metrics=["acc", "loss"], order_by="name"
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ids"] == ids and body["names"][0] == "run-000" and body["more"] is False
    assert body["parameters"]["lr"][0] is None  # missing, not 0
    assert body["parameters"]["lr"][1:4] == [0.1, 0.01, 0.001]
    assert body["parameters"]["model"][:2] == ["gb", "rf"]
    assert body["metrics"]["acc"][5] == pytest.approx(0.05 + 0.002)  # the last value
    assert body["metrics"]["loss"][1] == "NaN" and body["metrics"]["loss"][2] is None
    assert set(body) == {"ids", "names", "parameters", "metrics", "more"}


def test_points_follow_the_filter_and_the_limit(seeded: tuple[TestClient, str, list[str]]) -> None:
    client, experiment_id, _ = seeded
    body = _points(client, experiment_id, filter='params.model = "rf"', metrics=["acc"]).json()
    assert len(body["ids"]) == COUNT // 2
    body = _points(client, experiment_id, metrics=["acc"], limit=7, order_by="name").json()
    assert len(body["ids"]) == 7 and body["more"] is True


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"limit": 0}, 422, "limit must be between 1 and 10000"),
        ({"limit": 10_001}, 422, "limit must be between 1 and 10000"),
        ({"filter": "params.lr >"}, 422, "filter"),
        ({"metrics": [f"m{i}" for i in range(51)]}, 422, "at most 50"),
        ({"parameters": [""]}, 422, "parameter name"),
    ],
)
def test_bad_points_requests_say_what_to_fix(
    seeded: tuple[TestClient, str, list[str]], body: dict[str, Any], status: int, words: str
) -> None:
    client, experiment_id, _ = seeded
    answer = _points(client, experiment_id, **body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_points_of_an_unknown_experiment_is_not_found(
    seeded: tuple[TestClient, str, list[str]],
) -> None:
    client, _, _ = seeded
    answer = _points(client, "nope", metrics=["acc"])
    assert answer.status_code == 404
    assert "nope" in answer.json()["error"]["message"]


def test_series_takes_100_iterations(seeded: tuple[TestClient, str, list[str]]) -> None:
    client, _, ids = seeded
    wanted = (ids * 4)[:100]
    answer = client.get(
        "/api/v1/series", params={"metric": "acc", "iteration_ids": wanted, "max_points": 4}
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["series"]) == set(ids)


def test_series_in_columns_match_the_points(seeded: tuple[TestClient, str, list[str]]) -> None:
    client, _, ids = seeded
    for extra in ({}, {"max_points": 4}, {"after_step": 0}):
        params: dict[str, Any] = {"metric": "acc", "iteration_ids": ids[:5], **extra}
        points = client.get("/api/v1/series", params=params).json()["series"]
        columns = client.get("/api/v1/series", params={**params, "format": "columns"}).json()
        for iteration_id in ids[:5]:
            want, got = points[iteration_id], columns["series"][iteration_id]
            assert got["steps"] == [p["step"] for p in want["points"]]
            assert got["values"] == [p["value"] for p in want["points"]]
            assert len(got["timestamps"]) == len(got["steps"])
            assert all(isinstance(t, float) for t in got["timestamps"])  # epoch seconds
            assert (got["downsampled"], got["total"]) == (want["downsampled"], want["total"])
    nan = client.get(
        "/api/v1/series", params={"metric": "loss", "iteration_ids": [ids[1]], "format": "columns"}
    ).json()["series"][ids[1]]
    assert nan["values"] == ["NaN"] and nan["total"] == 1
    missing = client.get(
        "/api/v1/series", params={"metric": "nope", "iteration_ids": [ids[1]], "format": "columns"}
    )
    assert missing.status_code == 404 and "acc" in missing.json()["error"]["message"]
    wrong = client.get(
        "/api/v1/series", params={"metric": "acc", "iteration_ids": [ids[1]], "format": "rows"}
    )
    assert wrong.status_code == 422 and "format" in wrong.text


def test_the_json_twin_carries_the_chart_settings(
    seeded: tuple[TestClient, str, list[str]],
) -> None:
    client, experiment_id, _ = seeded
    plain = client.get(f"/experiments/{experiment_id}.json").json()["workspace"]
    assert plain["charts"] == ["acc", "loss"] and plain["x"] == "step" and plain["curves"] == 10
    assert plain["smooth"] == 0 and plain["log"] is False and plain["open"] == []
    query = "charts=loss,nope&x=time&smooth=5&log=1&curves=500&pc=model&pc_metric=loss&sx=params.lr"
    chosen = client.get(f"/experiments/{experiment_id}.json?{query}").json()["workspace"]
    assert chosen["charts"] == ["loss"] and chosen["x"] == "time" and chosen["log"] is True
    assert chosen["smooth"] == 0.99 and chosen["curves"] == 100
    assert chosen["pc"] == ["model"] and chosen["pc_metric"] == "loss"
    assert chosen["sx"] == "params.lr" and chosen["open"] == ["pc", "scatter"]
    bad = client.get(f"/experiments/{experiment_id}.json?x=sideways&smooth=abc&sx=params.zzz")
    state = bad.json()["workspace"]
    assert state["x"] == "step" and state["smooth"] == 0 and state["sx"] == "params.lr"
    none = client.get(f"/experiments/{experiment_id}.json?charts=,").json()["workspace"]
    assert none["charts"] == []
    page = client.get(f"/experiments/{experiment_id}?charts=loss")
    assert page.status_code == 200 and 'data-testid="ws-panel"' in page.text
