"""Read an MLflow tracking server through its REST API (httpx), without MLflow.

Calls made (MLflow 2.x and 3.x servers): ``POST /api/2.0/mlflow/experiments/search`` and
``runs/search`` with ``view_type`` ALL (deleted ones too; runs come with params, tags and
dataset inputs), ``GET metrics/get-history`` for every value of each metric, ``GET
artifacts/list`` and the server's ``GET /get-artifact`` for the files (which serves local,
cloud and ``mlflow-artifacts:/`` roots alike). ``MLFLOW_TRACKING_TOKEN`` (a bearer token) or
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` authenticate, as for MLflow's
client.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mlops.errors import InvalidInput, Unavailable
from mlops.importers._records import (
    ArtifactsUnreadable,
    MlflowDataset,
    MlflowExperiment,
    MlflowRun,
    RunData,
    metric_value,
    mlflow_status,
)

__all__ = ["RestReader"]

_PAGE = 1000
_HISTORY_PAGE = 25_000


def _pairs(items: Any) -> dict[str, str]:
    return {str(i["key"]): str(i.get("value", "")) for i in items or ()}


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class RestReader:
    """An MLflow server (see the module docstring)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.read_in_thread = True
        self.description = self.url
        headers = {}
        auth: tuple[str, str] | None = None
        if os.environ.get("MLFLOW_TRACKING_TOKEN"):
            headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
        elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
            auth = (
                os.environ["MLFLOW_TRACKING_USERNAME"],
                os.environ.get("MLFLOW_TRACKING_PASSWORD", ""),
            )
        #: What runs/search said of each run (params, tags, latest metrics, inputs), until read.
        self._data: dict[str, dict[str, Any]] = {}
        self._client = httpx.Client(base_url=self.url, headers=headers, auth=auth, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the MLflow server at {self.url} cannot be reached: {exc}") from None
        if response.status_code != 200:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text[:200]
            if response.status_code in (401, 403):
                raise InvalidInput(
                    f"the MLflow server at {self.url} refused access ({response.status_code}): "
                    "set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
                )
            raise Unavailable(
                f"the MLflow server at {self.url} answered {response.status_code} to "
                f"{method} {path}: {message}"
            )
        return response.json()

    def _pages(self, path: str, key: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            answer = self._call(
                "POST", path, json={**body, **({"page_token": token} if token else {})}
            )
            yield from answer.get(key, [])
            token = answer.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[MlflowExperiment]:
        found = self._pages(
            "/api/2.0/mlflow/experiments/search", "experiments",
            {"max_results": _PAGE, "view_type": "ALL"},
        )  # fmt: skip
        return [
            MlflowExperiment(
                id=str(e["experiment_id"]),
                name=e["name"],
                deleted=e.get("lifecycle_stage") == "deleted",
                tags=_pairs(e.get("tags")),
                created_ms=_int(e.get("creation_time")),
                artifact_location=e.get("artifact_location"),
            )
            for e in found
        ]

    def runs(self, experiment: MlflowExperiment) -> list[MlflowRun]:
        result = []
        body = {"experiment_ids": [experiment.id], "run_view_type": "ALL", "max_results": _PAGE}
        for run in self._pages("/api/2.0/mlflow/runs/search", "runs", body):
            info = run["info"]
            run_id = info.get("run_id") or info["run_uuid"]
            self._data[run_id] = {**run.get("data", {}), "inputs": run.get("inputs", {})}
            result.append(
                MlflowRun(
                    id=run_id,
                    experiment_id=experiment.id,
                    name=info.get("run_name") or None,
                    status=mlflow_status(info.get("status")),
                    start_ms=_int(info.get("start_time")),
                    end_ms=_int(info.get("end_time")),
                    deleted=info.get("lifecycle_stage") == "deleted",
                    artifact_uri=info.get("artifact_uri"),
                )
            )
        return result

    def run_data(self, run: MlflowRun) -> RunData:
        stored = self._data.pop(run.id, {})
        data = RunData(params=_pairs(stored.get("params")), tags=_pairs(stored.get("tags")))
        for key in sorted({m["key"] for m in stored.get("metrics", ())}):
            token: str | None = None
            while True:
                params: dict[str, Any] = {"run_id": run.id, "metric_key": key,
                                          "max_results": _HISTORY_PAGE}  # fmt: skip
                if token:
                    params["page_token"] = token
                answer = self._call("GET", "/api/2.0/mlflow/metrics/get-history", params=params)
                data.metrics += [
                    (
                        key,
                        int(m.get("step", 0)),
                        metric_value(float(m["value"])),
                        int(m.get("timestamp", 0)) / 1000.0,
                    )
                    for m in answer.get("metrics", ())
                ]
                token = answer.get("next_page_token")
                if not token:
                    break
        data.metrics.sort(key=lambda m: (m[0], m[1], m[3]))
        for item in stored.get("inputs", {}).get("dataset_inputs", ()):
            ds = item.get("dataset", {})
            data.datasets.append(
                MlflowDataset(
                    name=str(ds.get("name", "")),
                    digest=str(ds.get("digest", "")),
                    source_type=str(ds.get("source_type", "")),
                    source=str(ds.get("source", "")),
                    schema=ds.get("schema"),
                    profile=ds.get("profile"),
                    tags=_pairs(item.get("tags")),
                )
            )
        return data

    def _files(self, run_id: str, path: str | None) -> Iterator[tuple[str, int | None]]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"run_id": run_id}
            if path:
                params["path"] = path
            if token:
                params["page_token"] = token
            answer = self._call("GET", "/api/2.0/mlflow/artifacts/list", params=params)
            for item in answer.get("files", ()):
                if item.get("is_dir"):
                    yield from self._files(run_id, item["path"])
                else:
                    yield item["path"], _int(item.get("file_size"))
            token = answer.get("next_page_token")
            if not token:
                return

    def artifacts(self, run: MlflowRun) -> Iterator[tuple[str, Path]]:
        try:
            names = list(self._files(run.id, None))
        except Unavailable as exc:
            raise ArtifactsUnreadable(f"the server could not list its artifacts: {exc}") from None
        return self._download(run, names)

    def _download(
        self, run: MlflowRun, names: list[tuple[str, int | None]]
    ) -> Iterator[tuple[str, Path]]:
        with tempfile.TemporaryDirectory(prefix="mlops-import-") as folder:
            target = Path(folder) / "file"
            for name, _size in names:
                try:
                    with self._client.stream(
                        "GET", "/get-artifact", params={"run_id": run.id, "path": name}
                    ) as response:
                        if response.status_code != 200:
                            raise ArtifactsUnreadable(
                                f"the server answered {response.status_code} for {name!r}"
                            )
                        with open(target, "wb") as fh:
                            for chunk in response.iter_bytes(1 << 20):
                                fh.write(chunk)
                except httpx.HTTPError as exc:
                    raise ArtifactsUnreadable(f"downloading {name!r} failed: {exc}") from None
                yield name, target

    def close(self) -> None:
        self._client.close()
