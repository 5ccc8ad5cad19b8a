"""MLflow's run endpoints (``/mlflow/runs/...``) on the store's iterations: create, get, update
(end, resume, rename), delete, restore, search, params, tags and dataset inputs."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request

from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.mlflow._args import (
    JsonBody,
    ViewDep,
    integer,
    pairs,
    query,
    required_text,
    string_list,
    text,
    value_text,
    view_type,
)
from mlops.app.mlflow.errors import invalid
from mlops.app.mlflow.mapping import (
    DEFAULT_ID,
    RUN_NAME_TAG,
    USER_TAG,
    mlflow_status,
    random_run_name,
    run_info_json,
    run_json,
    seconds,
)
from mlops.app.mlflow.search import page_offset, page_token, run_filter, run_order
from mlops.app.responses import PlainRoute
from mlops.store.base import Store

router = APIRouter(route_class=PlainRoute, include_in_schema=False)

MAX_RESULTS = 50_000
DEFAULT_RESULTS = 1000
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


def run_id_of(args: dict[str, Any]) -> str:
    """The run id of a request (``run_id``, or the older ``run_uuid``)."""
    value = args.get("run_id") or args.get("run_uuid")
    if not isinstance(value, str) or not value:
        raise invalid("Missing value for required parameter 'run_id'.")
    return value


def _key(args: dict[str, Any]) -> str:
    key = required_text(args, "key")
    if len(key) > MAX_KEY:
        raise invalid(f"'key' exceeds the maximum length of {MAX_KEY} characters")
    return key


@router.post("/runs/create", dependencies=[CanWrite])
def create_run(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Start a run (an iteration) in an experiment ("0": the Default one) with its tags."""
    experiment_id = view.experiment_in(store, body.get("experiment_id") or DEFAULT_ID)
    tags = pairs(body, "tags", MAX_TAG_VALUE, "Tag")
    name = text(body, "run_name") or tags.pop(RUN_NAME_TAG, None) or random_run_name()
    tags.pop(RUN_NAME_TAG, None)  # the run's name is the iteration's; the tag reads from it
    user = text(body, "user_id")
    if user and USER_TAG not in tags:
        tags[USER_TAG] = user
    start = body.get("start_time")
    started_at = time.time() if start in (None, "", 0, "0") else seconds(start, "start_time")
    run_id = uuid.uuid4().hex
    # MLflow clients send no heartbeats: a run silent for a long epoch is not a crashed one
    iteration = store.create_iteration(
        run_id, name, experiment_id, None, started_at, {}, heartbeat=False
    )
    if tags:  # logged as its first batch: what a fresh run shows needs no read back
        store.log_batch(run_id, tags=tags)
        iteration = dataclasses.replace(iteration, tags={**iteration.tags, **tags})
    return {"run": run_json(iteration, view)}


@router.get("/runs/get", dependencies=[CanRead])
def get_run(request: Request, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """One run with its latest metrics, params, tags and datasets (deleted ones too)."""
    return {"run": run_json(store.get_iteration(run_id_of(query(request))), view)}


@router.post("/runs/update", dependencies=[CanWrite])
def update_run(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """End a run (FINISHED, FAILED, KILLED), reopen an ended one (RUNNING: the store's
    ``resume``, what ``mlflow.start_run(run_id=...)`` asks), or rename it."""
    run_id = run_id_of(body)
    iteration = None
    name = text(body, "run_name")
    if name:
        iteration = store.rename_iteration(run_id, name)
    end = body.get("end_time")
    ended_at = None if end in (None, "") else seconds(end, "end_time")
    if body.get("status") not in (None, ""):
        status = mlflow_status(body["status"])
        if status == "running":
            iteration = store.resume(run_id)
        else:
            ended_at = time.time() if ended_at is None else ended_at
            iteration = store.update_iteration(run_id, status=status, ended_at=ended_at)
    elif ended_at is not None:
        iteration = store.update_iteration(run_id, ended_at=ended_at)
    if iteration is None:
        iteration = store.get_iteration(run_id)
    return {"run_info": run_info_json(iteration, view)}


@router.post("/runs/delete", dependencies=[CanWrite])
def delete_run(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Delete a run: hidden from searches until restored; what it logged stays."""
    store.delete_iteration(run_id_of(body))
    return {}


@router.post("/runs/restore", dependencies=[CanWrite])
def restore_run(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Bring a deleted run back."""
    store.restore_iteration(run_id_of(body))
    return {}


@router.post("/runs/search", dependencies=[CanRead])
def search_runs(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Runs of the given experiments matching MLflow's filter, in MLflow's order, paged
    (up to 50,000 a page): one indexed query of the store."""
    limit = integer(body, "max_results", DEFAULT_RESULTS, 1, MAX_RESULTS)
    offset = page_offset(body.get("page_token"))
    wanted = string_list(body, "experiment_ids")
    ids = list(dict.fromkeys(view.experiment_in(store, e) for e in wanted))
    deleted = view_type(body, "run_view_type")
    condition = run_filter(text(body, "filter"), ids)
    order = run_order(string_list(body, "order_by"))
    if not ids:
        return {}
    found = store.list_iterations(
        experiment_id=ids[0] if len(ids) == 1 else None,
        filter=condition,
        order_by=order,
        limit=limit + 1,
        offset=offset,
        deleted=deleted,
    )
    answer: dict[str, Any] = {"runs": [run_json(it, view) for it in found[:limit]]}
    if len(found) > limit:
        answer["next_page_token"] = page_token(offset + limit)
    return answer


def log_tags(store: Store, run_id: str, tags: dict[str, str]) -> None:
    """Set tags of a run (allowed after it ended); ``mlflow.runName`` renames it."""
    name = tags.pop(RUN_NAME_TAG, None)
    if name:
        store.rename_iteration(run_id, name)
    if tags:
        store.set_iteration_tags(run_id, tags)


@router.post("/runs/log-parameter", dependencies=[CanWrite])
def log_parameter(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Log one parameter, kept as the string MLflow sent."""
    key = _key(body)
    value = value_text(body.get("value"), "value", MAX_PARAM_VALUE, "Param")
    store.log_batch(run_id_of(body), parameters={key: value})
    return {}


@router.post("/runs/set-tag", dependencies=[CanWrite])
def set_tag(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Set one tag of a run (``mlflow.runName`` renames it)."""
    key = _key(body)
    value = value_text(body.get("value"), "value", MAX_TAG_VALUE, "Tag")
    log_tags(store, run_id_of(body), {key: value})
    return {}


@router.post("/runs/delete-tag", dependencies=[CanWrite])
def delete_tag(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Remove one tag of a run."""
    store.set_iteration_tags(run_id_of(body), delete=[required_text(body, "key")])
    return {}


def _dataset_ids(store: Store, datasets: Any) -> list[str]:
    if not isinstance(datasets, list):
        raise invalid("Invalid value for parameter 'datasets' supplied: it must be a list")
    ids: list[str] = []
    for index, item in enumerate(datasets):
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if not isinstance(dataset, dict):
            raise invalid(f"Missing value for required parameter 'datasets[{index}].dataset'.")
        name = required_text(dataset, "name")
        labels = pairs(item, "tags", 500, "Input tag")
        tags = [f"source_type={dataset.get('source_type') or 'unknown'}"]
        if "mlflow.data.context" in labels:
            tags.append(f"context={labels['mlflow.data.context']}")
        created = store.create_dataset(
            name=name,
            path=str(dataset.get("source") or name),
            description=None,
            tags=tags,
            version=None,
            digest=str(dataset.get("digest") or "") or None,
            size_bytes=None,
            file_count=None,
        )
        ids.append(created.id)
    return ids


@router.post("/runs/log-inputs", dependencies=[CanWrite])
def log_inputs(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Record the datasets a run used: each becomes an mlops dataset version (reused when its
    name and digest match one) linked to the iteration. Model inputs are not kept."""
    run_id = run_id_of(body)
    ids = _dataset_ids(store, body.get("datasets") or [])
    if ids:
        store.log_batch(run_id, dataset_ids=ids)
    return {}
