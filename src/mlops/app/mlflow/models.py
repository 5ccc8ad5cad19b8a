"""MLflow's logged models and model registry, served on mlops' own records.

**Logged models** (``/api/2.0/mlflow/logged-models``, what ``mlflow.<flavor>.log_model`` calls in
MLflow 3): a logged model belongs to its source run. Its files are the run's artifact folder
``models/<model_id>/`` (its ``artifact_uri`` is that folder's ``mlflow-artifacts:`` URI, so the
upload goes through the artifact proxy and lists as the iteration's artifacts in mlops), and its
record (name, status, tags, params) is the small JSON artifact
``.mlflow/logged-models/<model_id>.json`` of the same run, hidden from MLflow's listings. The
model id ``m-<run_id>-<8 hex>`` names its run, so finding a model is one lookup. A model logged
outside ``mlflow.start_run()`` gets an ended iteration of its own to hold it, named after the
model and tagged ``mlops.logged_model``.

**Registry** (``registered-models``, ``model-versions``): an MLflow registered model is an mlops
registered model and a version is an mlops model version, made from the iteration's artifact
that its ``source`` names (``models:/<model_id>``, ``runs:/<run_id>/<path>`` or the run's
``mlflow-artifacts:`` URI). mlops makes a registered model with its first version, so
``create`` answers for a new name without storing it. Calls mlops has no records for (renames,
deletes, stages, tags of registered models and versions, deleting an alias) answer MLflow's
``NOT_IMPLEMENTED`` (501) naming the call.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from mlops.app.auth import actor
from mlops.app.deps import ArtifactsDep, CanRead, CanWrite, StoreDep
from mlops.app.mlflow.artifacts import HIDDEN, RunPath, artifact_uri, record
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.mapping import mapping_of
from mlops.artifacts import ArtifactStore
from mlops.entities import ModelVersion, RegisteredModel
from mlops.errors import NotFound
from mlops.store.base import Store

__all__ = ["router"]

router = APIRouter(tags=["mlflow"], include_in_schema=False)
Json = Annotated[dict[str, Any], Body()]
MODELS = "models"
_STATUSES = {"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"}
_STATUS_NUMBERS = {
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}


def _invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def _missing(message: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message, 404)


def _string(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(f"Missing value for required parameter '{key}'.")
        return None
    if not isinstance(value, str):
        raise _invalid(f"'{key}' must be a string, not {value!r}")
    return value


def _pairs(value: object, what: str) -> dict[str, str]:
    """MLflow's ``[{"key": ..., "value": ...}]`` as a dict."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise _invalid(f"'{what}' is a list of {{key, value}}")
    out = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise _invalid(f"each of '{what}' is {{key, value}} with a string key")
        out[item["key"]] = str(item.get("value", ""))
    return out


# -- logged models --------------------------------------------------------------------------
def _record_name(model_id: str) -> str:
    return f"{HIDDEN}/logged-models/{model_id}.json"


def _run_of(model_id: str) -> str:
    if not model_id.startswith("m-") or model_id.count("-") < 2:
        raise _missing(f"Logged model with ID '{model_id}' not found.")
    return model_id[2:].rsplit("-", 1)[0]


def _load(store: Store, artifacts: ArtifactStore, model_id: str) -> dict[str, Any]:
    try:
        found = store.list_artifacts(_run_of(model_id), _record_name(model_id))
    except NotFound:
        found = []
    if not found:
        raise _missing(f"Logged model with ID '{model_id}' not found.")
    return dict(json.loads(b"".join(artifacts.read(found[0].sha256))))


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
    experiment_id = str(_string(body, "experiment_id"))
    run_id = _string(body, "source_run_id", required=False)
    name = _string(body, "name", required=False)
    if run_id is None:
        iteration = _holder(store, mapping_of(request).experiment_in(store, experiment_id), name)
    else:
        iteration = RunPath(f"{experiment_id}/{run_id}/artifacts").iteration(store)
    model_id = f"m-{iteration}-{secrets.token_hex(4)}"
    now = int(time.time() * 1000)
    info = {
        "model_id": model_id,
        "experiment_id": experiment_id,
        "name": name or model_id,
        "artifact_uri": artifact_uri(experiment_id, iteration, f"{MODELS}/{model_id}"),
        "creation_timestamp_ms": now,
        "last_updated_timestamp_ms": now,
        "status": "LOGGED_MODEL_PENDING",
        "model_type": _string(body, "model_type", required=False),
        "source_run_id": iteration,
        "tags": _pairs(body.get("tags"), "tags"),
        "params": _pairs(body.get("params"), "params"),
    }
    return JSONResponse({"model": _logged_json(_save(store, artifacts, info))})


#: The tag of the iteration that holds a model logged outside a run.
HOLDER_TAG = "mlops.logged_model"


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
    return JSONResponse({"model": _logged_json(_load(store, artifacts, model_id))})


def _update(store: Store, artifacts: ArtifactStore, model_id: str, **changes: Any) -> JSONResponse:
    info = _load(store, artifacts, model_id)
    for key, value in changes.items():
        if isinstance(value, dict):
            info[key] = {**info[key], **value}
        else:
            info[key] = value
    info["last_updated_timestamp_ms"] = int(time.time() * 1000)
    return JSONResponse({"model": _logged_json(_save(store, artifacts, info))})


@router.patch("/mlflow/logged-models/{model_id}", dependencies=[CanWrite])
def finalize_logged_model(
    model_id: str, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Set a logged model's status (READY once its files are uploaded)."""
    status = body.get("status")
    status = _STATUS_NUMBERS.get(status, status) if isinstance(status, int) else status
    if status not in _STATUSES:
        raise _invalid(f"status must be one of {sorted(_STATUSES)}, not {status!r}")
    return _update(store, artifacts, model_id, status=status)


@router.patch("/mlflow/logged-models/{model_id}/tags", dependencies=[CanWrite])
def set_logged_model_tags(
    model_id: str, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Set tags of a logged model."""
    return _update(store, artifacts, model_id, tags=_pairs(body.get("tags"), "tags"))


@router.delete("/mlflow/logged-models/{model_id}/tags/{tag_key}", dependencies=[CanWrite])
def delete_logged_model_tag(
    model_id: str, tag_key: str, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Delete a tag of a logged model."""
    info = _load(store, artifacts, model_id)
    if tag_key not in info["tags"]:
        raise _missing(f"No tag with key {tag_key!r} found for model with ID {model_id!r}.")
    info["tags"].pop(tag_key)
    _save(store, artifacts, info)
    return JSONResponse({})


@router.post("/mlflow/logged-models/{model_id}/params", dependencies=[CanWrite])
def log_logged_model_params(
    model_id: str, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Add parameters to a logged model."""
    _update(store, artifacts, model_id, params=_pairs(body.get("params"), "params"))
    return JSONResponse({})


def _matches(info: dict[str, Any], clauses: list[tuple[str, str]]) -> bool:
    return all(str(info.get(field)) == value for field, value in clauses)


def _filter(text: str | None) -> list[tuple[str, str]]:
    """``name = 'x' AND source_run_id = '...'`` as [(field, value)]: the equalities MLflow
    clients send (other filters are refused, never half-applied)."""
    clauses: list[tuple[str, str]] = []
    if not text or not text.strip():
        return clauses
    for part in _split_and(text):
        field, op, value = (part.partition("=")[0].strip(), "=", part.partition("=")[2].strip())
        if "!" in field or "<" in field or ">" in field or not value:
            op = ""
        if op and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            field = {"attributes.name": "name", "run_id": "source_run_id"}.get(field, field)
            if field in ("name", "source_run_id", "status", "model_type", "model_id"):
                clauses.append((field, value[1:-1]))
                continue
        raise _invalid(
            f"the App searches logged models by equality only (name, source_run_id, status, "
            f"model_type, model_id joined with AND), not {part.strip()!r}"
        )
    return clauses


def _split_and(text: str) -> list[str]:
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


def _experiment_iterations(store: Store, experiment_id: str) -> list[str]:
    try:
        store.get_experiment(experiment_id)
    except NotFound:
        return []
    found: list[str] = []
    offset = 0
    while True:
        page = store.list_iterations(experiment_id=experiment_id, limit=1000, offset=offset)
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
        raise _invalid("experiment_ids is a list of experiment ids")
    clauses = _filter(body.get("filter"))
    limit = body.get("max_results") or 100
    token = body.get("page_token") or "0"
    if not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise _invalid("max_results must be from 1 to 10,000")
    if not isinstance(token, str) or not token.isdigit():
        raise _invalid(f"page_token {token!r} is not one this App handed out")
    models = []
    for experiment_id in experiment_ids:
        mine = mapping_of(request).experiment_in(store, experiment_id, "experiment_ids")
        for iteration_id in _experiment_iterations(store, mine):
            for artifact in store.list_artifacts(iteration_id, f"{HIDDEN}/logged-models"):
                info = json.loads(b"".join(artifacts.read(artifact.sha256)))
                if _matches(info, clauses):
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
    run_id = _string(body, "run_id")
    RunPath(f"0/{run_id}/artifacts").iteration(store)
    for output in body.get("models") or []:
        if not isinstance(output, dict) or not isinstance(output.get("model_id"), str):
            raise _invalid("each of 'models' is {model_id, step}")
        _load(store, artifacts, output["model_id"])
    return JSONResponse({})


#: The run tag where MLflow keeps the MLmodel summaries of the models a run logged.
HISTORY_TAG = "mlflow.log-model.history"


@router.post("/mlflow/runs/log-model", dependencies=[CanWrite])
def log_model(body: Json, store: StoreDep) -> JSONResponse:
    """Add a model's MLmodel summary to the run's ``mlflow.log-model.history`` tag (as MLflow's
    server does; the run must still be running)."""
    run_id = str(_string(body, "run_id"))
    text = str(_string(body, "model_json"))
    try:
        model = json.loads(text)
    except ValueError:
        raise _invalid(f"model_json is not JSON: {text[:80]!r}") from None
    missing = [
        k for k in ("artifact_path", "flavors", "utc_time_created", "run_id") if k not in model
    ]
    if not isinstance(model, dict) or missing:
        raise _invalid(f"model_json must hold {', '.join(missing) or 'an object'}")
    iteration = RunPath(f"0/{run_id}/artifacts").iteration(store)
    history = json.loads(store.get_iteration(iteration).tags.get(HISTORY_TAG) or "[]")
    history.append(model)
    store.log_batch(iteration, tags={HISTORY_TAG: json.dumps(history)})
    return JSONResponse({})


# -- the registry ---------------------------------------------------------------------------
def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _source(store: Store, version: ModelVersion) -> tuple[str, str | None]:
    """The ``source`` MLflow shows for a version, and its logged model id if it is one."""
    head, _, rest = version.artifact.partition("/")
    if head == MODELS and rest.startswith("m-") and "/" not in rest:
        return f"models:/{rest}", rest
    return f"runs:/{version.iteration_id}/{version.artifact}", None


def _version_json(store: Store, version: ModelVersion) -> dict[str, Any]:
    source, model_id = _source(store, version)
    out: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": _ms(version.created_at),
        "last_updated_timestamp": _ms(version.created_at),
        "user_id": version.created_by,
        "current_stage": "None",
        "description": version.description or "",
        "source": source,
        "run_id": version.iteration_id,
        "status": "READY",
        "aliases": sorted(version.aliases),
    }
    if model_id:
        out["model_id"] = model_id
    return out


def _model_json(store: Store, model: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": _ms(model.created_at),
        "last_updated_timestamp": _ms(model.created_at),
        "description": model.description or "",
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if model.latest_version is not None:
        latest = store.get_model_version(model.name, model.latest_version)
        out["latest_versions"] = [_version_json(store, latest)]
    return out


def _model(store: Store, name: str) -> RegisteredModel:
    try:
        return store.get_model(name)
    except NotFound:
        raise _missing(f"Registered Model with name={name} not found") from None


def _version(store: Store, name: str, version: str) -> ModelVersion:
    if not version.strip().isdigit():
        raise _invalid(f"Parameter 'version' must be an integer, got {version!r}.")
    _model(store, name)
    try:
        return store.get_model_version(name, int(version))
    except NotFound:
        raise _missing(f"Model Version (name={name}, version={version}) not found") from None


@router.post("/mlflow/registered-models/create", dependencies=[CanWrite])
def create_registered_model(body: Json, store: StoreDep) -> JSONResponse:
    """Answer for a new model name (mlops makes the model with its first version);
    ``RESOURCE_ALREADY_EXISTS`` for a registered one."""
    name = str(_string(body, "name"))
    try:
        store.get_model(name)
    except NotFound:
        now = _ms(time.time())
        model = {"name": name, "creation_timestamp": now, "last_updated_timestamp": now}
        return JSONResponse({"registered_model": model})
    raise MlflowError(
        "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.", 400
    )


@router.get("/mlflow/registered-models/get", dependencies=[CanRead])
def get_registered_model(store: StoreDep, name: str = Query("")) -> JSONResponse:
    """One registered model with its latest version and aliases."""
    return JSONResponse({"registered_model": _model_json(store, _model(store, name))})


def _name_filter(text: str | None, field: str = "name") -> str | None:
    if not text or not text.strip():
        return None
    clauses = dict(_registry_filter(text))
    if set(clauses) - {field}:
        raise _invalid(f"the App filters by {field} = '...' only, not {text!r}")
    return clauses.get(field)


def _registry_filter(text: str) -> list[tuple[str, str]]:
    out = []
    for part in _split_and(text):
        field, eq, value = part.partition("=")
        value = value.strip()
        if not eq or len(value) < 2 or value[0] != value[-1] or value[0] not in "'\"":
            raise _invalid(f"the App filters by equalities only, not {part.strip()!r}")
        out.append((field.strip(), value[1:-1]))
    return out


def _page(items: list[Any], limit: int, token: str | None) -> tuple[list[Any], str | None]:
    start = int(token) if token and token.isdigit() else 0
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else None)


@router.get("/mlflow/registered-models/search", dependencies=[CanRead])
def search_registered_models(
    store: StoreDep,
    filter: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> JSONResponse:
    """Registered models by name (``name = 'x'`` filters)."""
    name = _name_filter(filter)
    models = [m for m in store.list_models() if name is None or m.name == name]
    page, token = _page(models, max_results, page_token)
    out: dict[str, Any] = {"registered_models": [_model_json(store, m) for m in page]}
    if token:
        out["next_page_token"] = token
    return JSONResponse(out)


def _resolve(store: Store, artifacts: ArtifactStore, body: dict[str, Any]) -> tuple[str, str]:
    """The (iteration, artifact) a new version's ``source`` (or ``model_id``) names."""
    source = str(_string(body, "source"))
    model_id = _string(body, "model_id", required=False)
    if model_id is None and source.startswith("models:/"):
        rest = source[len("models:/") :]
        if "/" not in rest and "@" not in rest:
            model_id = rest
    if model_id is not None:
        info = _load(store, artifacts, model_id)
        return info["source_run_id"], f"{MODELS}/{model_id}"
    anchor = "/mlflow-artifacts/artifacts/"
    if source.startswith("runs:/"):
        run_id, _, name = source[len("runs:/") :].partition("/")
        path = RunPath(f"0/{run_id}/artifacts/{name.strip('/')}")
    elif source.startswith("mlflow-artifacts:/"):
        path = RunPath(source[len("mlflow-artifacts:") :].lstrip("/"))
    elif source.startswith(("http://", "https://")) and anchor in source:
        path = RunPath(source.split(anchor, 1)[1])
    else:
        raise _invalid(
            f"source {source!r} is not a model of this App: use models:/<model_id>, "
            "runs:/<run_id>/<path> or a run's mlflow-artifacts: URI"
        )
    if not path.name:
        raise _invalid(f"source {source!r} names a run's whole artifact root, not a model")
    return path.iteration(store), path.name


@router.post("/mlflow/model-versions/create", dependencies=[CanWrite])
def create_model_version(
    body: Json, request: Request, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Register the next version of a model from a logged model or a run's artifact folder."""
    name = str(_string(body, "name"))
    iteration_id, artifact = _resolve(store, artifacts, body)
    description = _string(body, "description", required=False)
    version = store.register_model(name, iteration_id, artifact, description, actor(request))
    return JSONResponse({"model_version": _version_json(store, version)})


@router.get("/mlflow/model-versions/get", dependencies=[CanRead])
def get_model_version(
    store: StoreDep, name: str = Query(""), version: str = Query("")
) -> JSONResponse:
    """One version of a registered model."""
    return JSONResponse({"model_version": _version_json(store, _version(store, name, version))})


@router.get("/mlflow/model-versions/search", dependencies=[CanRead])
def search_model_versions(
    store: StoreDep,
    filter: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=200_000)] = 10_000,
    page_token: str | None = None,
) -> JSONResponse:
    """Versions filtered by ``name = 'x'`` and/or ``run_id = '...'``, newest first."""
    clauses = dict(_registry_filter(filter)) if filter and filter.strip() else {}
    if set(clauses) - {"name", "run_id"}:
        raise _invalid(f"the App filters versions by name and run_id only, not {filter!r}")
    names = [clauses["name"]] if "name" in clauses else [m.name for m in store.list_models()]
    versions = []
    for name in names:
        try:
            versions.extend(store.list_model_versions(name))
        except NotFound:
            continue
    if "run_id" in clauses:
        versions = [v for v in versions if v.iteration_id == clauses["run_id"]]
    versions.sort(key=lambda v: (-v.created_at, v.name, -v.version))
    page, token = _page(versions, max_results, page_token)
    out: dict[str, Any] = {"model_versions": [_version_json(store, v) for v in page]}
    if token:
        out["next_page_token"] = token
    return JSONResponse(out)


@router.get("/mlflow/model-versions/get-download-uri", dependencies=[CanRead])
def get_model_version_download_uri(
    request: Request, store: StoreDep, name: str = Query(""), version: str = Query("")
) -> JSONResponse:
    """Where a version's files are: its run's ``mlflow-artifacts:`` folder."""
    found = _version(store, name, version)
    experiment = store.get_iteration(found.iteration_id).experiment_id
    experiment_id = mapping_of(request).experiment_out(experiment)
    uri = artifact_uri(str(experiment_id), found.iteration_id, found.artifact)
    return JSONResponse({"artifact_uri": uri})


@router.api_route(
    "/mlflow/registered-models/get-latest-versions",
    methods=["GET", "POST"],
    dependencies=[CanRead],
)
def get_latest_versions(request: Request, store: StoreDep, name: str = Query("")) -> JSONResponse:
    """The latest version of a model (mlops has no stages: every version is in "None")."""
    model = _model(store, name)
    versions = []
    if model.latest_version is not None:
        versions = [_version_json(store, store.get_model_version(name, model.latest_version))]
    return JSONResponse({"model_versions": versions})


@router.post("/mlflow/registered-models/alias", dependencies=[CanWrite])
def set_registered_model_alias(body: Json, request: Request, store: StoreDep) -> JSONResponse:
    """Point an alias (``champion``) at a version."""
    name, alias = str(_string(body, "name")), str(_string(body, "alias"))
    version = _version(store, name, str(_string(body, "version")))
    store.set_model_alias(name, alias, version.version, actor(request))
    return JSONResponse({})


@router.get("/mlflow/registered-models/alias", dependencies=[CanRead])
def get_model_version_by_alias(
    store: StoreDep, name: str = Query(""), alias: str = Query("")
) -> JSONResponse:
    """The version an alias points at."""
    _model(store, name)
    try:
        version = store.get_model_version(name, alias)
    except NotFound as exc:
        raise _missing(exc.message) from None
    return JSONResponse({"model_version": _version_json(store, version)})


#: Registry calls mlops has no records for: (method, path, what to do instead).
UNSUPPORTED = [
    ("DELETE", "/mlflow/registered-models/alias", "point the alias at another version"),
    ("POST", "/mlflow/registered-models/rename", "register under the new name"),
    ("PATCH", "/mlflow/registered-models/update", "describe the version instead"),
    ("DELETE", "/mlflow/registered-models/delete", "mlops keeps registered models"),
    ("POST", "/mlflow/registered-models/set-tag", "tag the run instead"),
    ("DELETE", "/mlflow/registered-models/delete-tag", "tag the run instead"),
    ("PATCH", "/mlflow/model-versions/update", "register a new version"),
    ("DELETE", "/mlflow/model-versions/delete", "mlops keeps model versions"),
    ("POST", "/mlflow/model-versions/transition-stage", "use aliases instead of stages"),
    ("POST", "/mlflow/model-versions/set-tag", "tag the run instead"),
    ("DELETE", "/mlflow/model-versions/delete-tag", "tag the run instead"),
    ("DELETE", "/mlflow/logged-models/{model_id}", "mlops keeps logged models with their run"),
]


def _unsupported(method: str, path: str, instead: str) -> None:
    def answer() -> JSONResponse:
        raise MlflowError(
            "NOT_IMPLEMENTED",
            f"the App does not support {method} {path} (mlops has no record for it): {instead}",
            501,
        )

    answer.__doc__ = f"Not supported by the App: {instead}."
    router.add_api_route(path, answer, methods=[method], name=f"unsupported {method} {path}")


for _method, _path, _instead in UNSUPPORTED:
    _unsupported(_method, _path, _instead)
