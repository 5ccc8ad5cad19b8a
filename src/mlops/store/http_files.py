"""Artifact records and the model registry through the App (mixed into ``HttpStore``).

The bytes themselves go through :class:`mlops.artifacts.http.HttpArtifacts`; these requests
record and read the rows that say which iteration logged which bytes, and the registry.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from mlops.artifacts.names import check_name
from mlops.artifacts.wire import (
    AliasSet,
    ArtifactRecords,
    DescriptionSet,
    ModelCreate,
    ModelRename,
    ModelVersionCreate,
)
from mlops.entities import Artifact, ModelVersion, RegisteredModel
from mlops.errors import InvalidInput
from mlops.store import rules
from mlops.store.http_client import part
from mlops.store.http_manage import _tag_body
from mlops.store.http_reads import AppCalls
from mlops.wire import to_body

__all__ = ["AppFiles", "artifact_from"]


def _ts(text: str | None) -> float:
    if text is None:
        return 0.0
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def artifact_from(data: dict[str, Any]) -> Artifact:
    """An :class:`Artifact` from its JSON."""
    return Artifact(
        data["iteration_id"], data["name"], data["size_bytes"], data["sha256"],
        data["media_type"], _ts(data["created_at"]), data.get("step"),
    )  # fmt: skip


def version_from(data: dict[str, Any]) -> ModelVersion:
    """A :class:`ModelVersion` from its JSON."""
    aliases = {a["alias"]: (a["set_by"], _ts(a["set_at"])) for a in data.get("aliases", [])}
    return ModelVersion(
        data["name"], data["version"], data["iteration_id"], data["artifact"],
        data.get("description"), _ts(data["created_at"]), data["created_by"], aliases,
        dict(data.get("tags", {})),
    )  # fmt: skip


def model_from(data: dict[str, Any]) -> RegisteredModel:
    """A :class:`RegisteredModel` from its JSON."""
    return RegisteredModel(
        data["name"], data.get("description"), _ts(data["created_at"]),
        data.get("latest_version"), dict(data.get("aliases", {})), dict(data.get("tags", {})),
    )  # fmt: skip


class AppFiles(AppCalls):
    """Artifact rows and registry methods of :class:`~mlops.store.http.HttpStore`."""

    def log_artifacts(self, iteration_id: str, artifacts: Sequence[Artifact]) -> None:
        items = [
            {"name": a.name, "sha256": a.sha256, "size_bytes": a.size_bytes,
             "media_type": a.media_type, "step": a.step}
            for a in artifacts
        ]  # fmt: skip
        body = to_body(ArtifactRecords(items))
        self._call("POST", f"/iterations/{part(iteration_id)}/artifacts", body)

    def list_artifacts(self, iteration_id: str, prefix: str | None = None) -> list[Artifact]:
        params = None if prefix is None else {"prefix": prefix}
        found = self._call("GET", f"/iterations/{part(iteration_id)}/artifacts", params=params)
        return [artifact_from(a) for a in found["artifacts"]]

    def delete_artifacts(self, iteration_id: str, name: str) -> int:
        # a management call: the App's answer is needed (never journaled); not retried once
        # sent, since a second delete would answer NotFound for what the first one removed
        path = f"/iterations/{part(iteration_id)}/artifacts/{part(check_name(name))}"
        deleted: int = self._call("DELETE", path, repeatable=False)["deleted"]
        return deleted

    def register_model(
        self,
        name: str,
        iteration_id: str,
        artifact: str,
        description: str | None,
        created_by: str,
    ) -> ModelVersion:
        # the App records its own idea of who asks (the token's name)
        body = to_body(ModelVersionCreate(iteration_id, artifact, description))
        path = f"/models/{part(name)}/versions"
        return version_from(self._call("POST", path, body, repeatable=False))

    def list_models(self) -> list[RegisteredModel]:
        return [model_from(m) for m in self._call("GET", "/models")["models"]]

    def get_model(self, name: str) -> RegisteredModel:
        return model_from(self._call("GET", f"/models/{part(name)}"))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        found = self._call("GET", f"/models/{part(name)}")
        return [version_from(v) for v in found["versions"]]

    def get_model_version(self, name: str, version_or_alias: str | int) -> ModelVersion:
        path = f"/models/{part(name)}/versions/{part(str(version_or_alias))}"
        return version_from(self._call("GET", path))

    def set_model_alias(self, name: str, alias: str, version: int, set_by: str) -> ModelVersion:
        path = f"/models/{part(name)}/aliases/{part(alias)}"
        return version_from(self._call("PUT", path, to_body(AliasSet(version))))

    def delete_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"/models/{part(name)}/aliases/{part(alias)}", repeatable=False)

    def create_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        created_by: str = "",
    ) -> RegisteredModel:
        rules.check_tag_change(tags, ())
        body = to_body(ModelCreate(name, description, dict(tags or {})))
        return model_from(self._call("POST", "/models", body, repeatable=False))

    def update_model(self, name: str, description: str | None) -> RegisteredModel:
        body = to_body(DescriptionSet(description))
        return model_from(self._call("PUT", f"/models/{part(name)}/description", body))

    def rename_model(self, name: str, new_name: str) -> RegisteredModel:
        body = to_body(ModelRename(new_name))
        return model_from(self._call("PATCH", f"/models/{part(name)}", body, repeatable=False))

    def delete_model(self, name: str) -> None:
        self._call("DELETE", f"/models/{part(name)}", repeatable=False)

    def set_model_tags(
        self, name: str, tags: Mapping[str, str] | None = None, delete: Sequence[str] = ()
    ) -> RegisteredModel:
        body = _tag_body(tags, delete)
        return model_from(self._call("PATCH", f"/models/{part(name)}/tags", body))

    def set_model_version_tags(
        self,
        name: str,
        version: int,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> ModelVersion:
        path = f"/models/{part(name)}/versions/{_number(version)}/tags"
        return version_from(self._call("PATCH", path, _tag_body(tags, delete)))

    def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        path = f"/models/{part(name)}/versions/{_number(version)}/description"
        return version_from(self._call("PUT", path, to_body(DescriptionSet(description))))

    def delete_model_version(self, name: str, version: int) -> None:
        path = f"/models/{part(name)}/versions/{_number(version)}"
        self._call("DELETE", path, repeatable=False)


def _number(version: object) -> str:
    """A version number for a path (a clear error before any request for anything else)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"a model version is a number 1, 2, ..., got {version!r}")
    return str(version)
