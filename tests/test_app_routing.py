"""The App's flat route table (mlops.app.routing): every route answers at its full path, with
the App's JSON and error shapes, whichever group it sits in."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.responses import StreamingResponse

from mlops.app import AppSettings, create_app
from mlops.app.mlflow import PREFIXES
from mlops.app.responses import JsonResponse
from mlops.app.routing import every_route
from mlops.wire import API_PREFIX


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    app = create_app(AppSettings(store_uri=f"sqlite:///{tmp_path / 'mlops.db'}"))
    return TestClient(app, base_url="http://127.0.0.1")


def test_every_route_answers_with_the_apps_json(client: TestClient) -> None:
    routes = [r for r in every_route(client.app.routes) if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    assert len(routes) > 200
    for route in routes:  # NaN as "NaN", one error shape: never FastAPI's default class
        declared = route.response_class
        assert declared is StreamingResponse or issubclass(declared, JsonResponse), route.path  # type: ignore[arg-type]
    paths = {r.path for r in routes}
    for prefix in PREFIXES:  # MLflow's tracking API under both of its prefixes
        assert f"{prefix}/runs/log-batch" in paths
    assert f"{API_PREFIX}/health" in paths


def test_the_rest_api_and_mlflow_keep_their_answers_and_errors(client: TestClient) -> None:
    assert client.get(f"{API_PREFIX}/health").json()["status"] == "ok"
    missing = client.get(f"{API_PREFIX}/no-such-thing")
    assert missing.status_code == 404
    assert "error" in missing.json()
    wrong_method = client.delete(f"{API_PREFIX}/health")
    assert wrong_method.status_code == 405
    for prefix in PREFIXES:
        got = client.get(f"{prefix}/experiments/get", params={"experiment_id": "0"})
        assert got.json()["experiment"]["name"] == "Default"
        refused = client.get(f"{prefix}/runs/log-batch")  # a POST route
        assert refused.status_code == 405
        assert refused.json()["error_code"]
    unknown = client.post(f"{PREFIXES[0]}/no-such-endpoint", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_the_openapi_document_lists_the_rest_api_and_no_mlflow_route(client: TestClient) -> None:
    document = client.get(f"{API_PREFIX}/openapi.json").json()
    assert f"{API_PREFIX}/health" in document["paths"]
    assert f"{API_PREFIX}/iterations/{{iteration_id}}" in document["paths"]
    assert not [p for p in document["paths"] if "mlflow" in p]
    assert "ErrorOut" in document["components"]["schemas"]
