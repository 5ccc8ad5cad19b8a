"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models``, what ``mlflow.<flavor>.log_model``
calls), served on a run's artifacts.

A logged model belongs to its source run. Its files are the run's artifact folder
``models/<model_id>/`` (its ``artifact_uri`` is that folder's ``mlflow-artifacts:`` URI, so the
upload goes through the artifact proxy and lists as the iteration's artifacts in mlops), and its
record (name, status, tags, params) is the small JSON artifact
``.mlflow/logged-models/<model_id>.json`` of the same run, hidden from MLflow's listings. The
model id ``m-<run_id>-<8 hex>`` names its run, so finding a model is one lookup; a search looks
only at the runs tagged ``mlops.logged_models``. A model logged outside ``mlflow.start_run()``
gets an ended iteration of its own to hold it, named after the model and tagged
``mlops.logged_model``. Deleting a logged model deletes its folder and its record.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from mlops.app.deps import ArtifactsDep, CanRead, CanWrite, StoreDep
from mlops.app.mlflow.artifacts import HIDDEN, RunPath, artifact_uri, listing, record
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.mapping import mapping_of
from mlops.artifacts import ArtifactStore
from mlops.errors import InvalidInput, NotFound
from mlops.store.base import Store

__all__ = ["router"]

router = APIRouter(tags=["mlflow"], include_in_schema=False)
Json = Annotated[dict[str, Any], Body()]
MODELS = "models"
#: The tag of the iterations with logged models (a search looks only at those).
LOGGED_TAG = "mlops.logged_models"
#: The tag of the iteration that holds a model logged outside a run.
HOLDER_TAG = "mlops.logged_model"
_STATUSES = {"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"}
_STATUS_NUMBERS = {
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}


def invalid(message: str) -> MlflowError:
    """MLflow's ``INVALID_PARAMETER_VALUE`` (400)."""
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def missing(message: str) -> MlflowError:
    """MLflow's ``RESOURCE_DOES_NOT_EXIST`` (404)."""
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message, 404)


def string_of(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    """The string ``body[key]`` (None for an optional one left out or empty)."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing value for required parameter '{key}'.")
        return None
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be a string, not {value!r}")
    return value


def pairs(value: object, what: str) -> dict[str, str]:
    """MLflow's ``[{"key": ..., "value": ...}]`` as a dict."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise invalid(f"'{what}' is a list of {{key, value}}")
    out = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise invalid(f"each of '{what}' is {{key, value}} with a string key")
        out[item["key"]] = str(item.get("value", ""))
    return out


def _record_name(model_id: str) -> str:
    return f"{HIDDEN}/logged-models/{model_id}.json"


def _run_of(model_id: str) -> str:
    if not model_id.startswith("m-") or model_id.count("-") < 2:
        raise missing(f"Logged model with ID '{model_id}' not found.")
    return model_id[2:].rsplit("-", 1)[0]


def load_record(store: Store, artifacts: ArtifactStore, model_id: str) -> dict[str, Any]:
    """The record of a logged model (``RESOURCE_DOES_NOT_EXIST`` for an unknown id)."""
    try:
        found = store.list_artifacts(_run_of(model_id), _record_name(model_id))
    except NotFound:
        found = []
    info = _parse(artifacts, found[0].sha256, found[0].iteration_id) if found else None
    if info is None or info["model_id"] != model_id:
        raise missing(f"Logged model with ID '{model_id}' not found.")
    return info


_FIELDS = {"model_id": str, "name": str, "source_run_id": str, "creation_timestamp_ms": int,
           "status": str, "tags": dict, "params": dict}  # fmt: skip


def _parse(artifacts: ArtifactStore, digest: str, iteration_id: str) -> dict[str, Any] | None:
    """A record as this module wrote it, else None (the bytes of a record are checked, never
    trusted: a record must belong to the run that holds it)."""
    try:
        info = json.loads(b"".join(artifacts.read(digest)))
    except (ValueError, NotFound):
        return None
    if not isinstance(info, dict) or info.get("source_run_id") != iteration_id:
        return None
    if not all(isinstance(info.get(k), kind) for k, kind in _FIELDS.items()):
        return None
    return info


def _save(store: Store, artifacts: ArtifactStore, info: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(info, sort_keys=True).encode()
    blob = artifacts.write([data])
    name = _record_name(info["model_id"])
    record(store, info["source_run_id"], name, blob.digest, blob.size, "application/json")
    return info


def _logged_json(info: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in info.items() if k not in ("tags", "params") and v is not None}
    out["tags"] = [{"key": k, "value": v} for k, v in sorted(info["tags"].items())]
    params = [{"key": k, "value": v} for k, v in sorted(info["params"].items())]
    return {"info": out, "data": {"params": params}}


@router.post("/mlflow/logged-models", dependencies=[CanWrite])
def create_logged_model(
    body: Json, request: Request, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Create a logged model (``mlflow.<flavor>.log_model``); its files go to the artifact
    folder ``models/<model_id>/`` of its run."""
    experiment_id = str(string_of(body, "experiment_id"))
    run_id = string_of(body, "source_run_id", required=False)
    name = string_of(body, "name", required=False)
    if run_id is None:
        iteration = _holder(store, mapping_of(request).experiment_in(store, experiment_id), name)
    else:
        iteration = RunPath(f"{experiment_id}/{run_id}/artifacts").iteration(store)
    model_id = f"m-{iteration}-{secrets.token_hex(4)}"
    store.set_iteration_tags(iteration, {LOGGED_TAG: "true"})
    now = int(time.time() * 1000)
    info = {
        "model_id": model_id,
        "experiment_id": experiment_id,
        "name": name or model_id,
        "artifact_uri": artifact_uri(experiment_id, iteration, f"{MODELS}/{model_id}"),
        "creation_timestamp_ms": now,
        "last_updated_timestamp_ms": now,
        "status": "LOGGED_MODEL_PENDING",
        "model_type": string_of(body, "model_type", required=False),
        "source_run_id": iteration,
        "tags": pairs(body.get("tags"), "tags"),
        "params": pairs(body.get("params"), "params"),
    }
    return JSONResponse({"model": _logged_json(_save(store, artifacts, info))})


def _holder(store: Store, experiment_id: str, name: str | None) -> str:
    """An ended iteration to hold a model logged outside a run (mlops keeps every file with an
    iteration), named after the model and tagged ``mlops.logged_model``."""
    iteration_id = uuid.uuid4().hex
    now = time.time()
    store.create_iteration(iteration_id, name or "logged-model", experiment_id, None, now, {})
    store.end_iteration(iteration_id, "finished", now, tags={HOLDER_TAG: "true"})
    return iteration_id


@router.get("/mlflow/logged-models/{model_id}", dependencies=[CanRead])
def get_logged_model(model_id: str, store: StoreDep, artifacts: ArtifactsDep) -> JSONResponse:
    """One logged model."""
    return JSONResponse({"model": _logged_json(load_record(store, artifacts, model_id))})


def _update(store: Store, artifacts: ArtifactStore, model_id: str, **changes: Any) -> JSONResponse:
    info = load_record(store, artifacts, model_id)
    for key, value in changes.items():
        if isinstance(value, dict):
            info[key] = {**info[key], **value}
        else:
            info[key] = value
    info["last_updated_timestamp_ms"] = int(time.time() * 1000)
    return JSONResponse({"model": _logged_json(_save(store, artifacts, info))})


@router.get("/mlflow/logged-models/{model_id}/artifacts/directories", dependencies=[CanRead])
def list_logged_model_artifacts(
    model_id: str,
    store: StoreDep,
    artifacts: ArtifactsDep,
    artifact_directory_path: Annotated[str | None, Query(max_length=2048)] = None,
) -> JSONResponse:
    """The files directly inside a logged model's folder (or a folder in it), paths relative
    to the model's root (what MLflow's web UI lists)."""
    info = load_record(store, artifacts, model_id)
    inner = (artifact_directory_path or "").strip("/")
    folder = f"{MODELS}/{model_id}/{inner}" if inner else f"{MODELS}/{model_id}"
    where = RunPath(f"0/{info['source_run_id']}/artifacts/{folder}")  # checks ``inner``
    files = [
        {**entry, "path": f"{inner}/{entry['path']}" if inner else entry["path"]}
        for entry in listing(store, info["source_run_id"], where.name)
    ]
    return JSONResponse({"root_uri": info["artifact_uri"], "files": files})


@router.patch("/mlflow/logged-models/{model_id}", dependencies=[CanWrite])
def finalize_logged_model(
    model_id: str, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Set a logged model's status (READY once its files are uploaded)."""
    status = body.get("status")
    status = _STATUS_NUMBERS.get(status, status) if isinstance(status, int) else status
    if status not in _STATUSES:
        raise invalid(f"status must be one of {sorted(_STATUSES)}, not {status!r}")
    return _update(store, artifacts, model_id, status=status)


@router.patch("/mlflow/logged-models/{model_id}/tags", dependencies=[CanWrite])
def set_logged_model_tags(
    model_id: str, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Set tags of a logged model."""
    return _update(store, artifacts, model_id, tags=pairs(body.get("tags"), "tags"))


@router.delete("/mlflow/logged-models/{model_id}/tags/{tag_key}", dependencies=[CanWrite])
def delete_logged_model_tag(
    model_id: str, tag_key: str, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Delete a tag of a logged model."""
    info = load_record(store, artifacts, model_id)
    if tag_key not in info["tags"]:
        raise missing(f"No tag with key {tag_key!r} found for model with ID {model_id!r}.")
    info["tags"].pop(tag_key)
    _save(store, artifacts, info)
    return JSONResponse({})


@router.delete("/mlflow/logged-models/{model_id}", dependencies=[CanWrite])
def delete_logged_model(model_id: str, store: StoreDep, artifacts: ArtifactsDep) -> JSONResponse:
    """Delete a logged model: its folder of files, then its record (the run stays). Refused
    while a registered model version uses its files (delete that version first)."""
    info = load_record(store, artifacts, model_id)
    run = info["source_run_id"]
    try:
        store.delete_artifacts(run, f"{MODELS}/{model_id}")
    except NotFound:
        pass  # a model whose upload never came: only its record is there
    except InvalidInput as exc:
        raise invalid(exc.message) from None
    store.delete_artifacts(run, _record_name(model_id))
    return JSONResponse({})


@router.post("/mlflow/logged-models/{model_id}/params", dependencies=[CanWrite])
def log_logged_model_params(
    model_id: str, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Add parameters to a logged model."""
    _update(store, artifacts, model_id, params=pairs(body.get("params"), "params"))
    return JSONResponse({})


def _matches(info: dict[str, Any], clauses: list[tuple[str, str]]) -> bool:
    return all(str(info.get(field)) == value for field, value in clauses)


def _filter(text: str | None) -> list[tuple[str, str]]:
    """``name = 'x' AND source_run_id = '...'`` as [(field, value)]: the equalities MLflow
    clients send (other filters are refused, never half-applied)."""
    clauses: list[tuple[str, str]] = []
    if not text or not text.strip():
        return clauses
    for part in split_and(text):
        field, op, value = (part.partition("=")[0].strip(), "=", part.partition("=")[2].strip())
        if "!" in field or "<" in field or ">" in field or not value:
            op = ""
        if op and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            field = {"attributes.name": "name", "run_id": "source_run_id"}.get(field, field)
            if field in ("name", "source_run_id", "status", "model_type", "model_id"):
                clauses.append((field, value[1:-1]))
                continue
        raise invalid(
            f"the App searches logged models by equality only (name, source_run_id, status, "
            f"model_type, model_id joined with AND), not {part.strip()!r}"
        )
    return clauses


def split_and(text: str) -> list[str]:
    """The parts of a filter joined by ``AND`` (an ``AND`` inside quotes stays)."""
    parts, current, quote = [], "", ""
    words = text.split(" ")
    for word in words:
        if not quote and word.upper() == "AND":
            parts.append(current)
            current = ""
            continue
        current += (" " if current else "") + word
        for char in word:
            if char in "'\"" and (not quote or quote == char):
                quote = "" if quote else char
    parts.append(current)
    return [p for p in parts if p.strip()]


_WITH_MODELS = f'tags.`{LOGGED_TAG}` = "true"'


def _experiment_iterations(store: Store, experiment_id: str) -> list[str]:
    try:
        store.get_experiment(experiment_id)
    except NotFound:
        return []
    found: list[str] = []
    offset = 0
    while True:
        page = store.list_iterations(
            experiment_id=experiment_id, filter=_WITH_MODELS, limit=1000, offset=offset
        )
        found.extend(i.id for i in page)
        if len(page) < 1000:
            return found
        offset += 1000


@router.post("/mlflow/logged-models/search", dependencies=[CanRead])
def search_logged_models(
    body: Json, request: Request, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Logged models of experiments, newest first, filtered by equalities (``name = 'model'``,
    what ``runs:/<run_id>/<name>`` resolves with)."""
    experiment_ids = body.get("experiment_ids") or []
    if not isinstance(experiment_ids, list) or not all(isinstance(e, str) for e in experiment_ids):
        raise invalid("experiment_ids is a list of experiment ids")
    clauses = _filter(body.get("filter"))
    limit = body.get("max_results") or 100
    token = body.get("page_token") or "0"
    if not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise invalid("max_results must be from 1 to 10,000")
    if not isinstance(token, str) or not token.isdigit():
        raise invalid(f"page_token {token!r} is not one this App handed out")
    models = []
    for experiment_id in experiment_ids:
        mine = mapping_of(request).experiment_in(store, experiment_id, "experiment_ids")
        for iteration_id in _experiment_iterations(store, mine):
            for artifact in store.list_artifacts(iteration_id, f"{HIDDEN}/logged-models"):
                info = _parse(artifacts, artifact.sha256, iteration_id)
                if info is not None and _matches(info, clauses):
                    models.append(info)
    models.sort(key=lambda m: (-m["creation_timestamp_ms"], m["model_id"]))
    start = int(token)
    page = models[start : start + limit]
    out: dict[str, Any] = {"models": [_logged_json(m) for m in page]}
    if start + limit < len(models):
        out["next_page_token"] = str(start + limit)
    return JSONResponse(out)


@router.post("/mlflow/runs/outputs", dependencies=[CanWrite])
def log_outputs(body: Json, store: StoreDep, artifacts: ArtifactsDep) -> JSONResponse:
    """Link logged models to a run as its outputs: a logged model already belongs to its run
    here, so this checks that each exists."""
    run_id = string_of(body, "run_id")
    RunPath(f"0/{run_id}/artifacts").iteration(store)
    for output in body.get("models") or []:
        if not isinstance(output, dict) or not isinstance(output.get("model_id"), str):
            raise invalid("each of 'models' is {model_id, step}")
        load_record(store, artifacts, output["model_id"])
    return JSONResponse({})


#: The run tag where MLflow keeps the MLmodel summaries of the models a run logged.
HISTORY_TAG = "mlflow.log-model.history"


@router.post("/mlflow/runs/log-model", dependencies=[CanWrite])
def log_model(body: Json, store: StoreDep) -> JSONResponse:
    """Add a model's MLmodel summary to the run's ``mlflow.log-model.history`` tag (as MLflow's
    server does; older clients call this after ``log_model``)."""
    run_id = str(string_of(body, "run_id"))
    text = str(string_of(body, "model_json"))
    try:
        model = json.loads(text)
    except ValueError:
        raise invalid(f"model_json is not JSON: {text[:80]!r}") from None
    missing = [
        k for k in ("artifact_path", "flavors", "utc_time_created", "run_id") if k not in model
    ]
    if not isinstance(model, dict) or missing:
        raise invalid(f"model_json must hold {', '.join(missing) or 'an object'}")
    iteration = RunPath(f"0/{run_id}/artifacts").iteration(store)
    history = json.loads(store.get_iteration(iteration).tags.get(HISTORY_TAG) or "[]")
    history.append(model)
    store.set_iteration_tags(iteration, {HISTORY_TAG: json.dumps(history)})
    return JSONResponse({})
