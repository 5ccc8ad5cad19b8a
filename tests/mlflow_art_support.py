"""A real App process with MLflow's artifact and model routes mounted, for the tests.

TEST-ONLY, until branch mlflowapi's ``mlops.app.mlflow`` router (which mounts these routers and
serves MLflow's tracking calls) is merged: ``create_test_app`` mounts the two routers of this
branch and the few tracking calls the real mlflow client needs to start a run (experiments by
name, runs create/get/update, log-batch), each a direct translation onto the Store. The lead
replaces this with ``mlops app`` when merging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, FastAPI, Query

from mlops.app.deps import StoreDep

shim = APIRouter()
Json = Annotated[dict[str, Any], Body()]
PROJECT = "mlflow"


def _project(store: Any) -> str:
    for project in store.list_projects():
        if project.title == PROJECT:
            return str(project.id)
    return str(store.create_project(PROJECT, None, "active", False).id)


def _experiment_json(e: Any) -> dict[str, Any]:
    return {"experiment_id": e.id, "name": e.name, "lifecycle_stage": "active",
            "artifact_location": f"mlflow-artifacts:/{e.id}"}  # fmt: skip


def _run_json(it: Any) -> dict[str, Any]:
    status = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED"}
    info = {
        "run_id": it.id, "run_uuid": it.id, "run_name": it.name,
        "experiment_id": it.experiment_id, "status": status.get(it.status, "KILLED"),
        "start_time": int(it.started_at * 1000), "lifecycle_stage": "active",
        "artifact_uri": f"mlflow-artifacts:/{it.experiment_id}/{it.id}/artifacts",
    }  # fmt: skip
    params = [{"key": k, "value": str(v)} for k, v in it.parameters.items()]
    tags = [{"key": k, "value": v} for k, v in it.tags.items()]
    return {"run": {"info": info, "data": {"params": params, "tags": tags}, "inputs": {}}}


@shim.get("/mlflow/experiments/get-by-name")
def get_by_name(store: StoreDep, experiment_name: str = Query()) -> Any:
    found = store.find_experiment(_project(store), experiment_name)
    if found is None:
        from fastapi.responses import JSONResponse

        return JSONResponse(
            {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such experiment"}, 404
        )
    return {"experiment": _experiment_json(found)}


@shim.post("/mlflow/experiments/create")
def create_experiment(store: StoreDep, body: Json) -> Any:
    return {"experiment_id": store.create_experiment(_project(store), body["name"], None).id}


@shim.get("/mlflow/experiments/get")
def get_experiment(store: StoreDep, experiment_id: str = Query()) -> Any:
    return {"experiment": _experiment_json(store.get_experiment(experiment_id))}


@shim.post("/mlflow/runs/create")
def create_run(store: StoreDep, body: Json) -> Any:
    import uuid

    started = body.get("start_time", time.time() * 1000) / 1000
    it = store.create_iteration(
        uuid.uuid4().hex, body.get("run_name") or "run", body["experiment_id"], None, started, {}
    )
    return _run_json(it)


@shim.get("/mlflow/runs/get")
def get_run(store: StoreDep, run_id: str = Query()) -> Any:
    return _run_json(store.get_iteration(run_id))


@shim.post("/mlflow/runs/update")
def update_run(store: StoreDep, body: Json) -> Any:
    status = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}.get(body["status"])
    it = store.get_iteration(body["run_id"])
    if status and it.status == "running":
        it = store.end_iteration(it.id, status, body.get("end_time", time.time() * 1000) / 1000)
    return {"run_info": _run_json(it)["run"]["info"]}


@shim.post("/mlflow/runs/log-batch")
def log_batch(store: StoreDep, body: Json) -> Any:
    params = {p["key"]: p["value"] for p in body.get("params", [])}
    tags = {t["key"]: t["value"] for t in body.get("tags", [])}
    store.log_batch(body["run_id"], parameters=params or None, tags=tags or None)
    return {}


def create_test_app() -> FastAPI:
    """The App of ``MLOPS_*`` settings with this branch's MLflow routers (and the shim)."""
    from mlops.app import create_app
    from mlops.app.mlflow import artifacts, models
    from mlops.app.settings import AppSettings

    settings = AppSettings(
        store_uri=os.environ["TEST_STORE_URI"], auth=os.environ.get("TEST_AUTH") == "1"
    )
    app = create_app(settings)
    for prefix in ("/api/2.0", "/ajax-api/2.0"):
        app.include_router(artifacts.router, prefix=prefix)
        app.include_router(models.router, prefix=prefix)
        app.include_router(shim, prefix=prefix)
    return app


class MlflowApp:
    """The test App in its own process on a loopback port."""

    def __init__(self, store_uri: str, port: int, auth: bool = False) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TEST_STORE_URI": store_uri, "TEST_AUTH": "1" if auth else "0"}
        env["PYTHONPATH"] = os.path.dirname(__file__) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "mlflow_art_support:create_test_app",
             "--port", str(port), "--log-level", "warning"],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the App exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the App did not answer within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
