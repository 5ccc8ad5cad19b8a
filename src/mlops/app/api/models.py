"""REST routes for the model registry: versions of named models and their aliases."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from mlops.app.auth import actor
from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, ok
from mlops.app.schemas_files import ModelList, ModelOut, ModelVersionOut
from mlops.artifacts.names import check_name as check_artifact_name
from mlops.artifacts.wire import AliasSet, ModelVersionCreate
from mlops.errors import InvalidInput
from mlops.values import check_name, check_optional_text

router = APIRouter(tags=["models"], route_class=PlainRoute, responses=ERRORS)


@router.get("/models", dependencies=[CanRead], responses=ok(ModelList))
def list_models(store: StoreDep) -> dict[str, Any]:
    """Every registered model, by name, with its latest version and aliases."""
    return {"models": [m.to_dict() for m in store.list_models()]}


@router.get("/models/{name}", dependencies=[CanRead], responses=ok(ModelOut))
def get_model(name: str, store: StoreDep) -> dict[str, Any]:
    """One model with all its versions, newest first."""
    versions = [v.to_dict() for v in store.list_model_versions(name)]
    return {**store.get_model(name).to_dict(), "versions": versions}


@router.post(
    "/models/{name}/versions",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    responses=ok(ModelVersionOut, 201),
)
def register_model(
    name: str, body: ModelVersionCreate, request: Request, store: StoreDep
) -> dict[str, Any]:
    """Make the next version of ``name`` from an iteration's artifact (a file or a folder)."""
    check_name(name, "model name")
    check_artifact_name(body.artifact)
    check_optional_text(body.description, "description")
    version = store.register_model(
        name, body.iteration_id, body.artifact, body.description, actor(request)
    )
    return version.to_dict()


@router.get(
    "/models/{name}/versions/{version_or_alias}",
    dependencies=[CanRead],
    responses=ok(ModelVersionOut),
)
def get_model_version(name: str, version_or_alias: str, store: StoreDep) -> dict[str, Any]:
    """A version by number (``3``) or by alias (``production``)."""
    return store.get_model_version(name, version_or_alias).to_dict()


@router.put(
    "/models/{name}/aliases/{alias}", dependencies=[CanWrite], responses=ok(ModelVersionOut)
)
def set_model_alias(
    name: str, alias: str, body: AliasSet, request: Request, store: StoreDep
) -> dict[str, Any]:
    """Point ``alias`` at a version (moving it from the version it pointed at)."""
    if isinstance(body.version, bool) or not isinstance(body.version, int):
        raise InvalidInput("version must be a version number")
    return store.set_model_alias(name, alias, body.version, actor(request)).to_dict()
