"""MLflow's REST API as the App serves it, request by request: MLflow's field names, defaults,
limits, error shape and statuses, both prefixes, the project mapping, and tokens with --auth."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import AppProcess, child_environ
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.search import run_filter, run_order

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    home = tmp_path_factory.mktemp("mlflow-api")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_HOME", str(home / "home"))
        process = AppProcess(f"sqlite:///{home / 'mlops.db'}", "--mlflow-project", "team-ml")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(app: AppProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url, timeout=30) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    message: str = body["message"]
    return message


def tracking_heartbeat(http: httpx.Client, run_id: str) -> str | None:
    beat: str | None = ok(http.get(f"/api/v1/iterations/{run_id}"))["heartbeat_at"]
    return beat


def new_run(http: httpx.Client, experiment_id: str = "0", **fields: Any) -> str:
    body = ok(http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, **fields}))
    run_id: str = body["run"]["info"]["run_id"]
    return run_id


def test_default_experiment_and_the_project_of_the_mlflow_routes(
    app: AppProcess, http: httpx.Client
) -> None:
    default = ok(http.get(f"{API}/experiments/get", params={"experiment_id": "0"}))["experiment"]
    assert default["name"] == "Default" and default["lifecycle_stage"] == "active"
    projects = ok(http.get("/api/v1/projects"))
    titles = [p["title"] for p in projects.get("projects", projects)]
    assert "team-ml" in titles
    by_name = ok(http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "Default"}))
    assert by_name["experiment"]["experiment_id"] == "0"
    tagged = ok(http.post(f"{API}/experiments/create", json={
        "name": "elsewhere", "tags": [{"key": "mlops.project", "value": "other-team"}],
    }))["experiment_id"]  # fmt: skip
    experiment = ok(http.get(f"/api/v1/experiments/{tagged}"))
    project = ok(http.get(f"/api/v1/projects/{experiment['project_id']}"))
    assert project["title"] == "other-team"
    # get-by-name looks in the MLflow project only
    error(http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "elsewhere"}),
          404, "RESOURCE_DOES_NOT_EXIST")  # fmt: skip


def test_runs_as_mlflow_shapes_them_under_both_prefixes(http: httpx.Client) -> None:
    run_id = new_run(http, run_name="shape", start_time=1_700_000_000_123,
                     tags=[{"key": "mlflow.user", "value": "ana"}])  # fmt: skip
    ok(http.post(f"{API}/runs/log-batch", json={
        "run_id": run_id,
        "metrics": [{"key": "loss", "value": "NaN", "timestamp": 1_700_000_000_500, "step": 1},
                    {"key": "loss", "value": 0.5, "timestamp": 1_700_000_000_600, "step": 2}],
        "params": [{"key": "lr", "value": "0.10"}],
        "tags": [{"key": "note", "value": "hi"}],
    }))  # fmt: skip
    # MLflow clients send no heartbeats: their runs never read as crashed between writes
    assert tracking_heartbeat(http, run_id) is None
    ok(http.post(f"{API}/runs/update", json={
        "run_id": run_id, "status": "KILLED", "end_time": 1_700_000_001_000,
    }))  # fmt: skip
    for prefix in (API, "/ajax-api/2.0/mlflow"):
        run = ok(http.get(f"{prefix}/runs/get", params={"run_id": run_id}))["run"]
        info = run["info"]
        assert info["run_name"] == "shape" and info["status"] == "KILLED"
        assert info["start_time"] == 1_700_000_000_123 and info["end_time"] == 1_700_000_001_000
        assert info["experiment_id"] == "0" and info["user_id"] == "ana"
        assert info["artifact_uri"] == f"mlflow-artifacts:/0/{run_id}/artifacts"
        assert info["lifecycle_stage"] == "active"
        assert run["data"]["params"] == [{"key": "lr", "value": "0.10"}]
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert tags == {"mlflow.user": "ana", "note": "hi", "mlflow.runName": "shape"}
        assert run["data"]["metrics"] == [
            {"key": "loss", "value": 0.5, "timestamp": run["data"]["metrics"][0]["timestamp"],
             "step": 2}
        ]  # fmt: skip
    history = ok(http.get(f"{API}/metrics/get-history",
                          params={"run_id": run_id, "metric_key": "loss"}))  # fmt: skip
    assert history["metrics"][0]["value"] == "NaN"
    assert [m["timestamp"] for m in history["metrics"]] == [1_700_000_000_500, 1_700_000_000_600]


def test_metric_history_pages_and_bulk_interval_samples(http: httpx.Client) -> None:
    run_id = new_run(http)
    metrics = [{"key": "m", "value": i, "timestamp": 1_700_000_000_000 + i, "step": i}
               for i in range(1000)]  # fmt: skip
    ok(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}))
    ok(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics[:10]}))
    pages, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "m", "max_results": 300}
        body = ok(http.get(f"{API}/metrics/get-history", params={**params, "page_token": token}
                           if token else params))  # fmt: skip
        pages.append(len(body["metrics"]))
        token = body.get("next_page_token")
        if not token:
            break
    assert pages == [300, 300, 300, 100]  # a retried batch is stored once
    other = new_run(http)
    sampled = ok(http.get(f"{API}/metrics/get-history-bulk-interval", params={
        "run_ids": [run_id, other], "metric_key": "m", "max_results": 50,
    }))["metrics"]  # fmt: skip
    assert 2 <= len(sampled) <= 50 and {m["run_id"] for m in sampled} == {run_id}
    assert sampled[0]["step"] == 0 and sampled[-1]["step"] == 999
    window = ok(http.get(f"{API}/metrics/get-history-bulk-interval", params={
        "run_ids": run_id, "metric_key": "m", "start_step": 100, "end_step": 199,
        "max_results": 10,
    }))["metrics"]  # fmt: skip
    assert len(window) == 10 and window[0]["step"] == 100 and window[-1]["step"] == 199


def test_errors_are_mlflows_shape_and_status(http: httpx.Client) -> None:
    unknown = uuid.uuid4().hex
    error(http.get(f"{API}/runs/get", params={"run_id": unknown}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(http.get(f"{API}/experiments/get", params={"experiment_id": "nope"}),
          404, "RESOURCE_DOES_NOT_EXIST")  # fmt: skip
    message = error(http.post(f"{API}/runs/log-metric", json={"key": "x", "value": 1}),
                    400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    assert "run_id" in message
    run_id = new_run(http)
    error(http.post(f"{API}/runs/log-metric",
                    json={"run_id": run_id, "key": "x", "value": "abc", "timestamp": 1}),
          400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "filter": "metrics.x >"}),
          400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "max_results": 50001}),
          400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    error(http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "DONE"}),
          400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    error(http.post(f"{API}/runs/create", content=b"[1, 2]",
                    headers={"content-type": "application/json"}),
          400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    error(http.post(f"{API}/experiments/create", json={"name": "Default"}),
          400, "RESOURCE_ALREADY_EXISTS")  # fmt: skip
    error(http.post(f"{API}/experiments/delete", json={"experiment_id": "0"}),
          400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    error(http.get(f"{API}/traces/abc/info"), 404, "ENDPOINT_NOT_FOUND")
    error(http.post(f"{API}/runs/create", content=b"x", headers={"content-type": "text/plain"}),
          415, "BAD_REQUEST")  # fmt: skip


@pytest.mark.parametrize(
    ("field", "count", "what"),
    [("metrics", 1001, "metrics"), ("params", 101, "params"), ("tags", 101, "tags")],
)
def test_log_batch_refuses_more_than_mlflows_limits(
    http: httpx.Client, field: str, count: int, what: str
) -> None:
    run_id = new_run(http)
    item = {"value": "1", "timestamp": 1, "step": 0}
    items = [{"key": f"k{i}", **item} for i in range(count)]
    message = error(http.post(f"{API}/runs/log-batch", json={"run_id": run_id, field: items}),
                    400, "INVALID_PARAMETER_VALUE")  # fmt: skip
    assert f"at most {count - 1} {what}" in message
    assert ok(http.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["data"][field] == (
        [{"key": "mlflow.runName", "value": ok(http.get(f"{API}/runs/get", params={
            "run_id": run_id}))["run"]["info"]["run_name"]}] if field == "tags" else []
    )  # fmt: skip


def test_an_ended_run_refuses_new_values_until_resumed(http: httpx.Client) -> None:
    run_id = new_run(http)
    ok(http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED"}))
    point = {"run_id": run_id, "key": "x", "value": 1.0, "timestamp": 1000, "step": 0}
    error(http.post(f"{API}/runs/log-metric", json=point), 400, "INVALID_PARAMETER_VALUE")
    ok(http.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "late", "value": "ok"}))
    info = ok(http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "RUNNING"}))
    assert info["run_info"]["status"] == "RUNNING" and "end_time" not in info["run_info"]
    ok(http.post(f"{API}/runs/log-metric", json=point))


def test_search_translation() -> None:
    assert run_filter("metrics.acc > 0.9 AND params.model = 'rf'") == (
        'metrics.`acc` > 0.9 and params.`model` = "rf"'
    )
    assert run_filter("tags.`mlflow.user` ILIKE '%ana%' and attributes.status = 'FAILED'") == (
        'tags.`mlflow.user` like "%ana%" and status in ("failed", "crashed")'
    )
    assert run_filter("attribute.start_time >= 1700000000000", ["a", "b"]) == (
        'experiment_id in ("a", "b") and started_at >= 1700000000.0'
    )
    assert run_filter("run_id IN ('x', 'y') and datasets.name = 'iris'") == (
        'id in ("x", "y") and dataset = "iris"'
    )
    assert run_order(["metrics.`val loss` DESC", "attributes.run_name"]) == [
        "metrics.`val loss` desc", "name asc", "started_at desc", "id asc",
    ]  # fmt: skip
    for bad in ("metrics.acc LIKE 'x'", "attributes.artifact_uri = 'x'", "params.a = 1 OR b = 2"):
        with pytest.raises(MlflowError) as caught:
            run_filter(bad)
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_experiments_filters_orders_and_pages(http: httpx.Client) -> None:
    prefix = f"se-{uuid.uuid4().hex[:6]}"
    for name in ("b", "a", "c"):
        ok(http.post(f"{API}/experiments/create", json={
            "name": f"{prefix}-{name}", "tags": [{"key": "group", "value": prefix}],
        }))  # fmt: skip
    body = {"filter": f"tags.group = '{prefix}'", "order_by": ["name DESC"], "max_results": 2}
    first = ok(http.post(f"{API}/experiments/search", json=body))
    assert [e["name"] for e in first["experiments"]] == [f"{prefix}-c", f"{prefix}-b"]
    rest = ok(http.post(f"{API}/experiments/search",
                        json={**body, "page_token": first["next_page_token"]}))  # fmt: skip
    assert [e["name"] for e in rest["experiments"]] == [f"{prefix}-a"]
    assert "next_page_token" not in rest
    found = ok(
        http.get(
            f"{API}/experiments/search",
            params={"filter": f"name LIKE '{prefix}-%'", "view_type": "ALL"},
        )
    )
    assert len(found["experiments"]) == 3


def test_mlflow_tracking_token_and_scopes(tmp_path: Any, start_app: Any) -> None:
    db = f"sqlite:///{tmp_path / 'auth.db'}"
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "home")}

    def token(name: str, scope: str) -> str:
        command = [sys.executable, "-m", "mlops", "tokens", "create", name, "--scope", scope,
                   "--store", db]  # fmt: skip
        return subprocess.run(command, check=True, capture_output=True, text=True,
                              env=env).stdout.strip()  # fmt: skip

    writer, reader = token("writer", "write"), token("reader", "read")
    app = start_app(db, "--auth")
    with httpx.Client(base_url=app.url) as http:
        for prefix in (API, "/ajax-api/2.0/mlflow"):
            error(http.get(f"{prefix}/experiments/get", params={"experiment_id": "0"}),
                  401, "UNAUTHENTICATED")  # fmt: skip
        error(
            http.get(
                f"{API}/runs/get", params={"run_id": "x"}, headers={"Authorization": "Bearer wrong"}
            ),
            401,
            "UNAUTHENTICATED",
        )
        read = {"Authorization": f"Bearer {reader}"}
        ok(http.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers=read))
        message = error(http.post(f"{API}/runs/create", json={"experiment_id": "0"},
                                  headers=read), 403, "PERMISSION_DENIED")  # fmt: skip
        assert "write" in message
        ok(http.get("/api/3.0/mlflow/server-info"))  # no token needed
    script = (
        "import mlflow\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_metric('loss', 0.5)\n"
        "print(run.info.run_id)\n"
    )
    child = {**child_environ(), "MLFLOW_TRACKING_URI": app.url, "MLFLOW_TRACKING_TOKEN": writer,
             "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], env=child, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {reader}"}) as http:
        run = ok(http.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
        assert run["data"]["metrics"][0]["value"] == 0.5
        iteration = ok(http.get(f"/api/v1/iterations/{run_id}"))
        assert iteration["metrics"] == {"loss": 0.5}
    child["MLFLOW_TRACKING_TOKEN"] = reader
    done = subprocess.run([sys.executable, "-c", script], env=child, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0 and "PERMISSION_DENIED" in done.stderr
