"""mlops objects in MLflow's shapes, and the project the MLflow routes serve.

- An MLflow experiment is an mlops experiment; its id is the mlops id, except the ``Default``
  experiment of the MLflow project (``mlops app --mlflow-project``, default ``mlflow``), which
  MLflow clients know as ``"0"`` (both ids are accepted). Every experiment of every project is
  visible to MLflow clients; names are unique per project and ``get-by-name`` looks in the
  MLflow project. The experiment tag ``mlops.project`` at creation picks another project.
- An MLflow run is an iteration: ``run_name`` is its name, the status is upper-cased
  (``crashed``, a running iteration whose heartbeat stopped, reads as ``FAILED``), times are
  epoch milliseconds, ``lifecycle_stage`` is ``deleted`` while ``deleted_at`` is set. The tags
  MLflow's server keeps beside the run's fields (``mlflow.runName``, ``mlflow.user``) are
  rendered from them. Parameters MLflow sent are kept as the strings it sent; other values
  (logged with ``mlops.tracking``) read as their JSON text.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from mlops.app.mlflow.errors import invalid
from mlops.entities import Dataset, Experiment, Iteration
from mlops.errors import AlreadyExists
from mlops.store.base import Store

__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_ID",
    "PROJECT_TAG",
    "MlflowView",
    "artifact_uri",
    "experiment_json",
    "mapping_of",
    "mlflow_project",
    "ms",
    "run_info_json",
    "run_json",
    "seconds",
]

#: The id MLflow clients give the experiment they log to when none is set.
DEFAULT_ID = "0"
DEFAULT_EXPERIMENT = "Default"
#: The experiment tag that names the mlops project of a new MLflow experiment.
PROJECT_TAG = "mlops.project"
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
NOTE_TAG = "mlflow.note.content"

STATUS_TO_MLFLOW = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "crashed": "FAILED",
}
STATUS_FROM_MLFLOW = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
}
#: MLflow's enum numbers of RunStatus, accepted in place of the names.
STATUS_NUMBERS = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}


def ms(ts: float | None) -> int | None:
    """Epoch seconds as MLflow's epoch milliseconds."""
    return None if ts is None else round(ts * 1000)


def seconds(value: Any, what: str) -> float:
    """MLflow's epoch milliseconds (a number or its text) as epoch seconds."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(
            f"Invalid value {json.dumps(value)} for parameter '{what}' supplied: "
            "it must be an integer (epoch milliseconds)"
        ) from None
    if not 0 <= number < 2**53:
        raise invalid(f"Invalid value {number} for parameter '{what}' supplied: out of range")
    return number / 1000.0


def mlflow_status(value: Any) -> str:
    """An MLflow run status (its name or enum number) as an mlops status."""
    name = STATUS_NUMBERS.get(str(value), str(value))
    if name not in STATUS_FROM_MLFLOW:
        raise invalid(
            f"Invalid value {json.dumps(value)} for parameter 'status' supplied: use RUNNING, "
            "SCHEDULED, FINISHED, FAILED or KILLED"
        )
    return STATUS_FROM_MLFLOW[name]


class MlflowView:
    """The MLflow project of one App process and its ``Default`` experiment, looked up (or
    made) on first use and remembered (neither can be deleted through MLflow's routes)."""

    def __init__(self, project_title: str) -> None:
        self.project_title = project_title
        self._lock = threading.Lock()
        self._project_id: str | None = None
        self._default_id: str | None = None

    def project_id(self, store: Store) -> str:
        """The id of the MLflow project, made when missing."""
        if self._project_id is None:
            with self._lock:
                if self._project_id is None:
                    self._project_id = project_named(store, self.project_title)
        return self._project_id

    def default_id(self, store: Store) -> str:
        """The mlops id of the MLflow project's ``Default`` experiment, made when missing."""
        if self._default_id is None:
            project = self.project_id(store)
            with self._lock:
                if self._default_id is None:
                    found = store.find_experiment(project, DEFAULT_EXPERIMENT)
                    if found is None:
                        try:
                            found = store.create_experiment(project, DEFAULT_EXPERIMENT, None)
                        except AlreadyExists:  # another App process made it just now
                            found = store.find_experiment(project, DEFAULT_EXPERIMENT)
                    assert found is not None
                    self._default_id = found.id
        return self._default_id

    def known_default(self) -> str | None:
        """The Default experiment's mlops id if it was looked up already (no store call)."""
        return self._default_id

    def experiment_in(self, store: Store, mlflow_id: Any, what: str = "experiment_id") -> str:
        """The mlops id of an MLflow experiment id (``"0"`` is the Default experiment)."""
        if not isinstance(mlflow_id, str | int) or isinstance(mlflow_id, bool) or mlflow_id == "":
            raise invalid(f"Missing value for required parameter '{what}'.")
        text = str(mlflow_id)
        return self.default_id(store) if text == DEFAULT_ID else text

    def experiment_out(self, experiment_id: str) -> str:
        """The id MLflow clients see for an mlops experiment."""
        return DEFAULT_ID if experiment_id == self._default_id else experiment_id


def project_named(store: Store, title: str) -> str:
    """The id of the project with this title, made when missing."""
    for project in store.list_projects():
        if project.title == title:
            return project.id
    try:
        return store.create_project(title, "MLflow clients log here", "active", False).id
    except AlreadyExists:  # made by another App process meanwhile
        return next(p.id for p in store.list_projects() if p.title == title)


def mapping_of(request: Request) -> MlflowView:
    """The mapping of the App that serves ``request``."""
    found: MlflowView | None = getattr(request.app.state, "mlflow_mapping", None)
    if found is None:
        found = MlflowView(getattr(request.app.state.settings, "mlflow_project", "mlflow"))
        request.app.state.mlflow_mapping = found
    return found


def mlflow_project(request: Request) -> str:
    """The id of the project the MLflow routes serve (``--mlflow-project``), made on first use."""
    store: Store = request.app.state.store
    return mapping_of(request).project_id(store)


def artifact_uri(experiment_id: str, run_id: str) -> str:
    """A run's ``artifact_uri``: MLflow clients upload through the App's artifact proxy."""
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def _pairs(items: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in items.items()]


def experiment_json(experiment: Experiment, mapping: MlflowView) -> dict[str, Any]:
    """An experiment as MLflow's ``Experiment`` message."""
    eid = mapping.experiment_out(experiment.id)
    tags = dict(experiment.tags)
    if experiment.description and NOTE_TAG not in tags:
        tags[NOTE_TAG] = experiment.description
    created = ms(experiment.created_at)
    return {
        "experiment_id": eid,
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/{eid}",
        "lifecycle_stage": "deleted" if experiment.deleted_at is not None else "active",
        "last_update_time": ms(experiment.deleted_at) or created,
        "creation_time": created,
        "tags": _pairs(tags),
    }


def param_text(value: Any) -> str:
    """A parameter's value as MLflow's string (text as it is, anything else as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def run_info_json(iteration: Iteration, mapping: MlflowView) -> dict[str, Any]:
    """An iteration as MLflow's ``RunInfo`` message."""
    eid = mapping.experiment_out(iteration.experiment_id)
    info: dict[str, Any] = {
        "run_id": iteration.id,
        "run_uuid": iteration.id,
        "run_name": iteration.name,
        "experiment_id": eid,
        "user_id": iteration.tags.get(USER_TAG, ""),
        "status": STATUS_TO_MLFLOW.get(iteration.status, "RUNNING"),
        "start_time": ms(iteration.started_at),
        "artifact_uri": artifact_uri(eid, iteration.id),
        "lifecycle_stage": "deleted" if iteration.deleted_at is not None else "active",
    }
    if iteration.ended_at is not None:
        info["end_time"] = ms(iteration.ended_at)
    return info


def _dataset_input(dataset: Dataset) -> dict[str, Any]:
    meta = {k: v for k, _, v in (tag.partition("=") for tag in dataset.tags) if v}
    tags = [{"key": "mlflow.data.context", "value": meta["context"]}] if "context" in meta else []
    return {
        "tags": tags,
        "dataset": {
            "name": dataset.name,
            "digest": dataset.digest or dataset.version,
            "source_type": meta.get("source_type", "mlops"),
            "source": dataset.path,
            "schema": meta.get("schema", ""),
            "profile": meta.get("profile", ""),
        },
    }


def run_json(iteration: Iteration, mapping: MlflowView) -> dict[str, Any]:
    """An iteration as MLflow's ``Run`` message: info, data (latest metric values, params as
    strings, tags) and inputs (its datasets)."""
    timestamp = ms(iteration.heartbeat_at or iteration.ended_at or iteration.started_at)
    metrics = [
        {"key": name, "value": s.last, "timestamp": timestamp, "step": s.last_step}
        for name, s in iteration.metrics.items()
    ]
    tags = dict(iteration.tags)
    tags[RUN_NAME_TAG] = iteration.name
    return {
        "info": run_info_json(iteration, mapping),
        "data": {
            "metrics": metrics,
            "params": [{"key": k, "value": param_text(v)} for k, v in iteration.parameters.items()],
            "tags": _pairs(tags),
        },
        "inputs": {"dataset_inputs": [_dataset_input(d) for d in iteration.datasets]},
        "outputs": {},
    }


_ADJECTIVES = (
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "eager",
    "gentle",
    "happy",
    "jolly",
    "kind",
    "lucky",
    "merry",
    "nimble",
    "proud",
    "quick",
    "sharp",
    "swift",
    "wise",
)
# fmt: off
_NOUNS = ("ant", "bat", "bear", "bee", "cat", "crow", "deer", "dog", "duck", "elk", "fox", "frog",
          "hawk", "lark", "lion", "lynx", "moth", "owl", "seal", "swan", "toad", "whale", "wolf")
# fmt: on


def random_run_name() -> str:
    """A name like MLflow's server gives a run created without one (``bold-fox-123``)."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
