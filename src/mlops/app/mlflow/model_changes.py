"""MLflow's registry calls that change models and versions after registration: rename,
update (the description), delete, set and delete tags, delete an alias, and stage transitions
(deprecated in MLflow 3: mlops has no stages, aliases take their place)."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mlops.app.deps import CanWrite, StoreDep
from mlops.app.mlflow._args import value_text
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.logged_models import Json, invalid, string_of
from mlops.app.mlflow.registry_json import (
    MAX_TAG_VALUE,
    find_model,
    find_version,
    model_json,
    version_json,
)
from mlops.errors import AlreadyExists, NotFound

__all__ = ["router"]

router = APIRouter(tags=["mlflow"], include_in_schema=False)


def _name(body: dict[str, Any]) -> str:
    return str(string_of(body, "name"))


def _version_of(body: dict[str, Any]) -> str:
    version = body.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        return str(version)
    return str(string_of(body, "version"))


def _tag(body: dict[str, Any]) -> tuple[str, str]:
    key = str(string_of(body, "key"))
    if len(key) > 250:
        raise invalid(f"Tag key '{key[:40]}...' had length {len(key)}, which exceeded 250")
    return key, value_text(body.get("value"), "value", MAX_TAG_VALUE, "Tag")


@router.post("/mlflow/registered-models/rename", dependencies=[CanWrite])
def rename_registered_model(body: Json, store: StoreDep) -> JSONResponse:
    """A new name for a model; its versions, aliases and tags follow."""
    name, new_name = _name(body), str(string_of(body, "new_name"))
    find_model(store, name)
    try:
        model = store.rename_model(name, new_name)
    except AlreadyExists:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={new_name}) already exists.", 400
        ) from None
    return JSONResponse({"registered_model": model_json(store, model)})


@router.patch("/mlflow/registered-models/update", dependencies=[CanWrite])
def update_registered_model(body: Json, store: StoreDep) -> JSONResponse:
    """Set the description of a model (an empty one clears it)."""
    name = _name(body)
    find_model(store, name)
    model = store.update_model(name, string_of(body, "description", required=False))
    return JSONResponse({"registered_model": model_json(store, model)})


@router.delete("/mlflow/registered-models/delete", dependencies=[CanWrite])
def delete_registered_model(body: Json, store: StoreDep) -> JSONResponse:
    """Remove a model with its versions (the runs keep their artifacts)."""
    name = _name(body)
    find_model(store, name)
    store.delete_model(name)
    return JSONResponse({})


@router.post("/mlflow/registered-models/set-tag", dependencies=[CanWrite])
def set_registered_model_tag(body: Json, store: StoreDep) -> JSONResponse:
    """Set one tag of a model."""
    name = _name(body)
    key, value = _tag(body)
    find_model(store, name)
    store.set_model_tags(name, {key: value})
    return JSONResponse({})


@router.delete("/mlflow/registered-models/delete-tag", dependencies=[CanWrite])
def delete_registered_model_tag(body: Json, store: StoreDep) -> JSONResponse:
    """Remove one tag of a model (a tag it lacks is no error, as in MLflow)."""
    name = _name(body)
    find_model(store, name)
    store.set_model_tags(name, delete=[str(string_of(body, "key"))])
    return JSONResponse({})


@router.delete("/mlflow/registered-models/alias", dependencies=[CanWrite])
def delete_registered_model_alias(body: Json, store: StoreDep) -> JSONResponse:
    """Remove an alias of a model (an alias it lacks is no error, as in MLflow)."""
    name, alias = _name(body), str(string_of(body, "alias"))
    find_model(store, name)
    with contextlib.suppress(NotFound):
        store.delete_model_alias(name, alias)
    return JSONResponse({})


@router.patch("/mlflow/model-versions/update", dependencies=[CanWrite])
def update_model_version(body: Json, store: StoreDep) -> JSONResponse:
    """Set the description of a version (an empty one clears it)."""
    version = find_version(store, _name(body), _version_of(body))
    description = string_of(body, "description", required=False)
    changed = store.update_model_version(version.name, version.version, description)
    return JSONResponse({"model_version": version_json(changed)})


@router.delete("/mlflow/model-versions/delete", dependencies=[CanWrite])
def delete_model_version(body: Json, store: StoreDep) -> JSONResponse:
    """Remove one version with its aliases (the run keeps its artifacts)."""
    version = find_version(store, _name(body), _version_of(body))
    store.delete_model_version(version.name, version.version)
    return JSONResponse({})


@router.post("/mlflow/model-versions/set-tag", dependencies=[CanWrite])
def set_model_version_tag(body: Json, store: StoreDep) -> JSONResponse:
    """Set one tag of a version."""
    key, value = _tag(body)
    version = find_version(store, _name(body), _version_of(body))
    store.set_model_version_tags(version.name, version.version, {key: value})
    return JSONResponse({})


@router.delete("/mlflow/model-versions/delete-tag", dependencies=[CanWrite])
def delete_model_version_tag(body: Json, store: StoreDep) -> JSONResponse:
    """Remove one tag of a version (a tag it lacks is no error, as in MLflow)."""
    version = find_version(store, _name(body), _version_of(body))
    key = str(string_of(body, "key"))
    store.set_model_version_tags(version.name, version.version, delete=[key])
    return JSONResponse({})


@router.post("/mlflow/model-versions/transition-stage", dependencies=[CanWrite])
def transition_model_version_stage(body: Json, store: StoreDep) -> JSONResponse:
    """Stages are deprecated in MLflow 3 and mlops has none: every version stays in "None".
    A transition to "None" answers the version; any other stage is refused, naming aliases."""
    version = find_version(store, _name(body), _version_of(body))
    stage = str(string_of(body, "stage"))
    if stage.strip().lower() != "none":
        raise invalid(
            f"the App has no model stages (deprecated since MLflow 2.9), so version "
            f"{version.version} of {version.name!r} cannot move to stage {stage!r}: point an "
            "alias at it instead, e.g. client.set_registered_model_alias(name, "
            f"{stage.strip().lower()!r}, version)"
        )
    return JSONResponse({"model_version": version_json(version)})
