"""The shapes of the App's answers about artifacts and models, declared for OpenAPI (as
:mod:`mlops.app.schemas` does for the rest: descriptions only, routes answer plain dicts)."""

from __future__ import annotations

from typing import Any

from mlops.app.schemas import Responses, Timestamp, _Shape

__all__ = [
    "ArtifactList",
    "ArtifactOut",
    "ArtifactsDeleted",
    "BlobList",
    "BlobOut",
    "ModelList",
    "ModelOut",
    "ModelVersionOut",
    "RegisteredModelOut",
    "UploadOut",
    "content",
]


class BlobOut(_Shape):
    """A stored blob: its sha256 and size in bytes."""

    sha256: str
    size_bytes: int


class BlobList(_Shape):
    """The blobs one request stored, in the order they came."""

    blobs: list[BlobOut]


class UploadOut(_Shape):
    """An upload in parts and where its next part starts."""

    upload_id: str
    offset: int


class ArtifactOut(_Shape):
    """A file of an iteration (:meth:`mlops.entities.Artifact.to_dict`)."""

    iteration_id: str
    name: str
    step: int | None
    size_bytes: int
    sha256: str
    media_type: str
    created_at: Timestamp


class ArtifactList(_Shape):
    """Files of an iteration, by name then step."""

    artifacts: list[ArtifactOut]


class ArtifactsDeleted(_Shape):
    """What a delete removed: the records of the file ``name`` (every step of an image
    series) or of the files in the folder ``name``; their bytes stay until ``mlops gc``."""

    iteration_id: str
    name: str
    deleted: int


class AliasOut(_Shape):
    """An alias of a model version, with who set it and when."""

    alias: str
    set_by: str
    set_at: Timestamp


class ModelVersionOut(_Shape):
    """A version of a registered model (:meth:`mlops.entities.ModelVersion.to_dict`)."""

    name: str
    version: int
    iteration_id: str
    artifact: str
    description: str | None
    created_at: Timestamp
    created_by: str
    aliases: list[AliasOut]
    tags: dict[str, str]


class RegisteredModelOut(_Shape):
    """A registered model (:meth:`mlops.entities.RegisteredModel.to_dict`)."""

    name: str
    description: str | None
    created_at: Timestamp
    latest_version: int | None
    aliases: dict[str, int]
    tags: dict[str, str]


class ModelOut(RegisteredModelOut):
    """A registered model with its versions, newest first."""

    versions: list[ModelVersionOut]


class ModelList(_Shape):
    """Every registered model, by name."""

    models: list[RegisteredModelOut]


def content() -> Responses:
    """The answers of a download: the bytes (a file, or a folder as a zip), part of them for a
    ``Range``, or 416 for a range past the end."""
    binary: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
    kinds = {"application/octet-stream": binary, "application/zip": binary, "image/png": binary}
    return {
        200: {"description": "The file's bytes, or a folder as a zip.", "content": kinds},
        206: {"description": "The bytes of the requested range.", "content": kinds},
        416: {"description": "The range starts past the end of the file."},
    }
