"""mlops' registered models and versions in the JSON shapes of MLflow's model registry, and
the look-ups its routes share (an unknown model or version as MLflow's error)."""

from __future__ import annotations

from typing import Any

from mlops.app.mlflow._args import pairs
from mlops.app.mlflow.logged_models import MODELS, invalid, missing
from mlops.entities import ModelVersion, RegisteredModel
from mlops.errors import NotFound
from mlops.store.base import Store

#: MLflow's limit of a registry tag's value.
MAX_TAG_VALUE = 100_000
#: The version tag that keeps the ``run_link`` MLflow clients may send with a new version.
RUN_LINK_TAG = "mlflow.run_link"


def ms(seconds: float) -> int:
    """A timestamp in MLflow's milliseconds."""
    return int(seconds * 1000)


def registry_tags(body: dict[str, Any]) -> dict[str, str]:
    """The ``tags`` of a request (``[{"key", "value"}]``) as a dict, checked as MLflow does."""
    return pairs(body, "tags", MAX_TAG_VALUE, "Tag")


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as MLflow's ``[{"key", "value"}]``."""
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def source_of(version: ModelVersion) -> tuple[str, str | None]:
    """The ``source`` MLflow shows for a version, and its logged model id if it is one."""
    head, _, rest = version.artifact.partition("/")
    if head == MODELS and rest.startswith("m-") and "/" not in rest:
        return f"models:/{rest}", rest
    return f"runs:/{version.iteration_id}/{version.artifact}", None


def version_json(version: ModelVersion) -> dict[str, Any]:
    """A version as MLflow's ``ModelVersion`` (every version is in stage "None")."""
    source, model_id = source_of(version)
    tags = {k: v for k, v in version.tags.items() if k != RUN_LINK_TAG}
    out: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.created_at),
        "user_id": version.created_by,
        "current_stage": "None",
        "description": version.description or "",
        "source": source,
        "run_id": version.iteration_id,
        "status": "READY",
        "tags": tag_list(tags),
        "aliases": sorted(version.aliases),
    }
    if RUN_LINK_TAG in version.tags:
        out["run_link"] = version.tags[RUN_LINK_TAG]
    if model_id:
        out["model_id"] = model_id
    return out


def model_json(store: Store, model: RegisteredModel) -> dict[str, Any]:
    """A model as MLflow's ``RegisteredModel``, with its latest version."""
    out: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.created_at),
        "description": model.description or "",
        "tags": tag_list(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if model.latest_version is not None:
        latest = store.get_model_version(model.name, model.latest_version)
        out["latest_versions"] = [version_json(latest)]
    return out


def find_model(store: Store, name: str) -> RegisteredModel:
    """The model ``name``, or MLflow's ``RESOURCE_DOES_NOT_EXIST``."""
    try:
        return store.get_model(name)
    except NotFound:
        raise missing(f"Registered Model with name={name} not found") from None


def find_version(store: Store, name: str, version: str) -> ModelVersion:
    """Version ``version`` (MLflow sends it as text) of a model, or MLflow's error."""
    if not version.strip().isdigit() or len(version.strip()) > 18:
        raise invalid(f"Parameter 'version' must be an integer, got {version!r}.")
    find_model(store, name)
    try:
        return store.get_model_version(name, int(version))
    except NotFound:
        raise missing(f"Model Version (name={name}, version={version}) not found") from None
