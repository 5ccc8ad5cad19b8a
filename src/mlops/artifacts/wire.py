"""The wire contract of artifacts and models, declared once for the App and the HTTP client.

REST API (prefix ``/api/v1``; byte bodies are ``application/octet-stream``):

====== ============================================= ==============================================
GET    /blobs/{sha256}                                ``{"sha256", "size_bytes"}`` or 404
PUT    /blobs/{sha256}              bytes             201 ``{"sha256", "size_bytes"}``
PUT    /blobs                       frames            ``{"blobs": [...]}`` (many small files)
POST   /uploads                                       201 ``{"upload_id", "offset": 0}``
GET    /uploads/{id}                                  ``{"upload_id", "offset"}`` (where to resume)
PUT    /uploads/{id}/parts?offset=  bytes             ``{"upload_id", "offset"}``
POST   /uploads/{id}/finish         BlobFinish        ``{"sha256", "size_bytes"}``
DELETE /uploads/{id}                                  204
POST   /iterations/{id}/artifacts   ArtifactRecords   ``{"artifacts": [artifact]}``
GET    /iterations/{id}/artifacts?prefix=             ``{"artifacts": [artifact]}``
GET    /iterations/{id}/artifacts/content?name=&step= the bytes (``Range``), a folder as a zip
POST   /models/{name}/versions      ModelVersionCreate 201 model version
GET    /models                                        ``{"models": [model]}``
GET    /models/{name}                                 model with ``versions``
GET    /models/{name}/versions/{version_or_alias}     model version
PUT    /models/{name}/aliases/{alias}  AliasSet       model version
DELETE /models/{name}/aliases/{alias}                 204
POST   /models                      ModelCreate       201 model (no version yet)
PATCH  /models/{name}               ModelRename       model (under its new name)
PUT    /models/{name}/description   DescriptionSet    model
PATCH  /models/{name}/tags          TagChange         model
DELETE /models/{name}                                 204 (with its versions)
PUT    /models/{name}/versions/{v}/description  DescriptionSet  model version
PATCH  /models/{name}/versions/{v}/tags  TagChange     model version
DELETE /models/{name}/versions/{v}                    204
====== ============================================= ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AliasSet",
    "ArtifactRecords",
    "BlobFinish",
    "DescriptionSet",
    "ModelCreate",
    "ModelRename",
    "ModelVersionCreate",
]


@dataclass
class BlobFinish:
    """Body of ``POST /uploads/{id}/finish``: the sha256 the staged bytes must have."""

    sha256: str


@dataclass
class ArtifactRecords:
    """Body of ``POST /iterations/{id}/artifacts``: files whose blobs the App already has.

    Each item is ``{"name", "sha256", "size_bytes", "media_type", "step"}`` (``step`` null for a
    plain file).
    """

    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelVersionCreate:
    """Body of ``POST /models/{name}/versions``."""

    iteration_id: str
    artifact: str = "model"
    description: str | None = None


@dataclass
class ModelCreate:
    """Body of ``POST /models``: a registered model with no version yet."""

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelRename:
    """Body of ``PATCH /models/{name}``: the model's new name."""

    name: str


@dataclass
class DescriptionSet:
    """Body of ``PUT .../description``: the new description (null clears it)."""

    description: str | None = None


@dataclass
class AliasSet:
    """Body of ``PUT /models/{name}/aliases/{alias}``."""

    version: int
