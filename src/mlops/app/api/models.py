"""REST routes for the model registry: versions of named models and their aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status

from mlops.app.auth import actor
from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, ok
from mlops.app.schemas_files import ModelList, ModelOut, ModelVersionOut, RegisteredModelOut
from mlops.artifacts.names import check_name as check_artifact_name
from mlops.artifacts.wire import (
    AliasSet,
    DescriptionSet,
    ModelCreate,
    ModelRename,
    ModelVersionCreate,
)
from mlops.errors import InvalidInput
from mlops.values import check_name, check_optional_text
from mlops.wire import TagChange

#: A version number in a path (1, 2, ...).
Version = Annotated[int, Path(ge=1, le=2**62)]

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


@router.delete(
    "/models/{name}/aliases/{alias}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[CanWrite],
    responses={204: {"description": "The alias is gone; its version stays."}},
)
def delete_model_alias(name: str, alias: str, store: StoreDep) -> Response:
    """Remove an alias of a model (the version it pointed at stays)."""
    store.delete_model_alias(name, alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/models",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    responses=ok(RegisteredModelOut, 201),
)
def create_model(body: ModelCreate, request: Request, store: StoreDep) -> dict[str, Any]:
    """Register a model with no version yet (409 for a name already registered)."""
    check_optional_text(body.description, "description")
    return store.create_model(body.name, body.description, body.tags, actor(request)).to_dict()


@router.patch("/models/{name}", dependencies=[CanWrite], responses=ok(RegisteredModelOut))
def rename_model(name: str, body: ModelRename, store: StoreDep) -> dict[str, Any]:
    """Rename a model; its versions, aliases and tags follow (409 for a taken name)."""
    return store.rename_model(name, body.name).to_dict()


@router.put("/models/{name}/description", dependencies=[CanWrite], responses=ok(RegisteredModelOut))
def describe_model(name: str, body: DescriptionSet, store: StoreDep) -> dict[str, Any]:
    """Set (or with null clear) the description of a model."""
    check_optional_text(body.description, "description")
    return store.update_model(name, body.description).to_dict()


@router.patch("/models/{name}/tags", dependencies=[CanWrite], responses=ok(RegisteredModelOut))
def tag_model(name: str, body: TagChange, store: StoreDep) -> dict[str, Any]:
    """Set tags (added or overwritten) and delete tag keys of a model."""
    return store.set_model_tags(name, body.tags, body.delete).to_dict()


@router.delete(
    "/models/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[CanWrite],
    responses={204: {"description": "The model and its versions are gone (not the files)."}},
)
def delete_model(name: str, store: StoreDep) -> Response:
    """Remove a model with its versions, aliases and tags; the iterations keep the files."""
    store.delete_model(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/models/{name}/versions/{version}/description",
    dependencies=[CanWrite],
    responses=ok(ModelVersionOut),
)
def describe_model_version(
    name: str, version: Version, body: DescriptionSet, store: StoreDep
) -> dict[str, Any]:
    """Set (or with null clear) the description of one version."""
    check_optional_text(body.description, "description")
    return store.update_model_version(name, version, body.description).to_dict()


@router.patch(
    "/models/{name}/versions/{version}/tags",
    dependencies=[CanWrite],
    responses=ok(ModelVersionOut),
)
def tag_model_version(name: str, version: Version, body: TagChange, store: StoreDep) -> Any:
    """Set tags (added or overwritten) and delete tag keys of one version."""
    return store.set_model_version_tags(name, version, body.tags, body.delete).to_dict()


@router.delete(
    "/models/{name}/versions/{version}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[CanWrite],
    responses={204: {"description": "The version and its aliases are gone (not the files)."}},
)
def delete_model_version(name: str, version: Version, store: StoreDep) -> Response:
    """Remove one version with its aliases and tags; its number is not given again."""
    store.delete_model_version(name, version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
