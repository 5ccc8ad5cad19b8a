"""MLflow's model registry (``registered-models``, ``model-versions``) on mlops' registry, and
the logged models of :mod:`.logged_models`.

An MLflow registered model is an mlops registered model and a version is an mlops model
version, made from the iteration's artifact that its ``source`` names (``models:/<model_id>``,
``runs:/<run_id>/<path>`` or the run's ``mlflow-artifacts:`` URI). A registered model, its
description and tags are kept as MLflow sends them (a model may be created with no version
yet); :mod:`.model_changes` renames, describes, tags and deletes them. Deleting a logged model
answers MLflow's ``NOT_IMPLEMENTED`` (501).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from mlops.app.auth import actor
from mlops.app.deps import ArtifactsDep, CanRead, CanWrite, StoreDep
from mlops.app.mlflow.artifacts import RunPath, artifact_uri
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.logged_models import (
    MODELS,
    Json,
    invalid,
    load_record,
    missing,
    split_and,
    string_of,
)
from mlops.app.mlflow.mapping import mapping_of
from mlops.app.mlflow.registry_json import (
    RUN_LINK_TAG,
    find_model,
    find_version,
    model_json,
    registry_tags,
    source_of,
    version_json,
)
from mlops.artifacts import ArtifactStore
from mlops.errors import AlreadyExists, NotFound
from mlops.store.base import Store

__all__ = ["router"]

router = APIRouter(tags=["mlflow"], include_in_schema=False)


@router.post("/mlflow/registered-models/create", dependencies=[CanWrite])
def create_registered_model(body: Json, request: Request, store: StoreDep) -> JSONResponse:
    """A registered model with no version yet, its description and tags;
    ``RESOURCE_ALREADY_EXISTS`` for a registered name."""
    name = str(string_of(body, "name"))
    if string_of(body, "deployment_job_id", required=False):
        raise invalid("the App has no deployment jobs: leave 'deployment_job_id' out")
    tags = registry_tags(body)
    description = string_of(body, "description", required=False)
    try:
        model = store.create_model(name, description, tags, actor(request))
    except AlreadyExists:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.", 400
        ) from None
    return JSONResponse({"registered_model": model_json(store, model)})


@router.get("/mlflow/registered-models/get", dependencies=[CanRead])
def get_registered_model(store: StoreDep, name: str = Query("")) -> JSONResponse:
    """One registered model with its latest version and aliases."""
    return JSONResponse({"registered_model": model_json(store, find_model(store, name))})


_CLAUSE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][\w.]*|(?:tags?)\.(?:`[^`]+`|\"[^\"]+\"|[\w.]+))\s*"
    r"(?P<op>!=|=|(?:NOT\s+)?I?LIKE)\s*(?P<value>'[^']*'|\"[^\"]*\")\s*$",
    re.IGNORECASE,
)


def _like(pattern: str, value: str, case: bool) -> bool:
    parts = (re.escape(p) for p in pattern.split("%"))
    regex = ".*".join(p.replace("_", ".") for p in parts)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE | re.DOTALL) is not None


def _clause(
    field: str, tag: str | None, op: str, value: str, negate: bool
) -> Callable[[dict[str, Any]], bool]:
    """One clause as a test of a row (``tag`` set: a test of the row's ``tags``; a tag the row
    lacks equals nothing and differs from everything, as in MLflow)."""

    def test(row: dict[str, Any]) -> bool:
        found = row["tags"].get(tag) if tag is not None else row[field]
        if found is None:
            return negate
        if op in ("LIKE", "ILIKE"):
            return negate != _like(value, found, op == "LIKE")
        return negate != (found == value)

    return test


def _search_filter(text: str | None, fields: set[str]) -> Callable[[dict[str, Any]], bool]:
    """MLflow's registry filter (clauses joined by AND: ``name = 'x'``, ``name LIKE 'x%'``,
    ``run_id = '...'``, ``tag.<key> != 'v'``) as a test of a ``{field: value, "tags": {...}}``
    (MLflow's client adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to leave prompts out)."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for part in split_and(text or ""):
        match = _CLAUSE.match(part)
        field = match.group("field") if match else ""
        is_tag = field.lower().startswith(("tag.", "tags."))
        if match is None or not (is_tag or field in fields):
            raise invalid(
                f"the App filters by {', '.join(sorted(fields))} and tags with =, !=, LIKE and "
                f"ILIKE joined by AND, not {part.strip()!r}"
            )
        op, value = match.group("op").upper().split()[-1], match.group("value")[1:-1]
        negate = match.group("op").upper().startswith(("NOT", "!="))
        tag = field.split(".", 1)[1].strip('`"') if is_tag else None
        tests.append(_clause(field, tag, op, value, negate))
    return lambda row: all(test(row) for test in tests)


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
    """Registered models by name (``name = 'x'``, ``name LIKE 'x%'`` filters)."""
    keep = _search_filter(filter, {"name"})
    models = [m for m in store.list_models() if keep({"name": m.name, "tags": m.tags})]
    page, token = _page(models, max_results, page_token)
    out: dict[str, Any] = {"registered_models": [model_json(store, m) for m in page]}
    if token:
        out["next_page_token"] = token
    return JSONResponse(out)


def _resolve(store: Store, artifacts: ArtifactStore, body: dict[str, Any]) -> tuple[str, str]:
    """The (iteration, artifact) a new version's ``source`` (or ``model_id``) names."""
    source = str(string_of(body, "source"))
    model_id = string_of(body, "model_id", required=False)
    if model_id is None and source.startswith("models:/"):
        rest = source[len("models:/") :]
        if "/" not in rest and "@" not in rest:
            model_id = rest
        elif "/" in rest:  # another version (copy_model_version): the same files
            name, _, number = rest.rpartition("/")
            copied = find_version(store, name, number)
            return copied.iteration_id, copied.artifact
    if model_id is not None:
        info = load_record(store, artifacts, model_id)
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
        raise invalid(
            f"source {source!r} is not a model of this App: use models:/<model_id>, "
            "models:/<name>/<version>, runs:/<run_id>/<path> or a run's mlflow-artifacts: URI"
        )
    if not path.name:
        raise invalid(f"source {source!r} names a run's whole artifact root, not a model")
    return path.iteration(store), path.name


@router.post("/mlflow/model-versions/create", dependencies=[CanWrite])
def create_model_version(
    body: Json, request: Request, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Register the next version of a model from a logged model or a run's artifact folder."""
    name = str(string_of(body, "name"))
    iteration_id, artifact = _resolve(store, artifacts, body)
    description = string_of(body, "description", required=False)
    tags = registry_tags(body)
    run_link = string_of(body, "run_link", required=False)
    if run_link:
        tags[RUN_LINK_TAG] = run_link
    version = store.register_model(name, iteration_id, artifact, description, actor(request))
    if tags:
        version = store.set_model_version_tags(name, version.version, tags)
    return JSONResponse({"model_version": version_json(version)})


@router.get("/mlflow/model-versions/get", dependencies=[CanRead])
def get_model_version(
    store: StoreDep, name: str = Query(""), version: str = Query("")
) -> JSONResponse:
    """One version of a registered model."""
    return JSONResponse({"model_version": version_json(find_version(store, name, version))})


@router.get("/mlflow/model-versions/search", dependencies=[CanRead])
def search_model_versions(
    store: StoreDep,
    filter: str | None = None,
    max_results: Annotated[int, Query(ge=1, le=200_000)] = 10_000,
    page_token: str | None = None,
) -> JSONResponse:
    """Versions filtered by ``name``, ``run_id``, ``version`` and ``source`` (MLflow's filter
    syntax, clauses joined by AND), newest first."""
    keep = _search_filter(filter, {"name", "run_id", "version", "source"})
    versions = [
        v
        for m in store.list_models()
        for v in store.list_model_versions(m.name)
        if keep(
            {
                "name": v.name,
                "run_id": v.iteration_id,
                "version": str(v.version),
                "source": source_of(v)[0],
                "tags": v.tags,
            }
        )
    ]
    versions.sort(key=lambda v: (-v.created_at, v.name, -v.version))
    page, token = _page(versions, max_results, page_token)
    out: dict[str, Any] = {"model_versions": [version_json(v) for v in page]}
    if token:
        out["next_page_token"] = token
    return JSONResponse(out)


@router.get("/mlflow/model-versions/get-download-uri", dependencies=[CanRead])
def get_model_version_download_uri(
    request: Request, store: StoreDep, name: str = Query(""), version: str = Query("")
) -> JSONResponse:
    """Where a version's files are: its run's ``mlflow-artifacts:`` folder."""
    found = find_version(store, name, version)
    experiment = store.get_iteration(found.iteration_id).experiment_id
    experiment_id = mapping_of(request).experiment_out(experiment)
    uri = artifact_uri(str(experiment_id), found.iteration_id, found.artifact)
    return JSONResponse({"artifact_uri": uri})


def _latest(store: Store, name: str, stages: object = None) -> JSONResponse:
    """The latest version, when the stages asked for (none: every stage) include "None", the
    only stage of mlops' versions."""
    if stages is not None and not isinstance(stages, list):
        raise invalid("'stages' is a list of stage names")
    model = find_model(store, name)
    versions = []
    wanted = {str(s).strip().lower() for s in stages or []}
    if model.latest_version is not None and (not wanted or "none" in wanted):
        versions = [version_json(store.get_model_version(name, model.latest_version))]
    return JSONResponse({"model_versions": versions})


@router.get("/mlflow/registered-models/get-latest-versions", dependencies=[CanRead])
def get_latest_versions(
    store: StoreDep,
    name: str = Query(""),
    stages: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    """The latest version of a model (mlops has no stages: every version is in "None")."""
    return _latest(store, name, stages)


@router.post("/mlflow/registered-models/get-latest-versions", dependencies=[CanRead])
def get_latest_versions_post(body: Json, store: StoreDep) -> JSONResponse:
    """The same, as MLflow's client asks first (a JSON body)."""
    return _latest(store, str(string_of(body, "name")), body.get("stages"))


@router.post("/mlflow/registered-models/alias", dependencies=[CanWrite])
def set_registered_model_alias(body: Json, request: Request, store: StoreDep) -> JSONResponse:
    """Point an alias (``champion``) at a version."""
    name, alias = str(string_of(body, "name")), str(string_of(body, "alias"))
    version = find_version(store, name, str(string_of(body, "version")))
    store.set_model_alias(name, alias, version.version, actor(request))
    return JSONResponse({})


@router.get("/mlflow/registered-models/alias", dependencies=[CanRead])
def get_model_version_by_alias(
    store: StoreDep, name: str = Query(""), alias: str = Query("")
) -> JSONResponse:
    """The version an alias points at."""
    find_model(store, name)
    try:
        version = store.get_model_version(name, alias)
    except NotFound as exc:
        raise missing(exc.message) from None
    return JSONResponse({"model_version": version_json(version)})
