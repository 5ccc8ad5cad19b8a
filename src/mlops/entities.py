"""The shapes mlops hands out: one definition for the library, the CLI and the App's JSON.

Stores turn their rows into these frozen dataclasses before anything leaves them, and
``to_dict()`` gives the plain JSON-able dict that the tracking functions return (and that the
REST API sends). Timestamps are ISO 8601 strings in UTC; ids are strings.
"""

from __future__ import annotations

import datetime as _dt
import time as _time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_TIMEOUT",
    "SCOPES",
    "STATUSES",
    "SYSTEM_METRIC_PREFIX",
    "ApiToken",
    "Artifact",
    "Dataset",
    "Experiment",
    "Iteration",
    "MetricPoint",
    "MetricSummary",
    "ModelFile",
    "ModelVersion",
    "Project",
    "Purged",
    "RegisteredModel",
    "is_system_metric",
    "iso",
    "training_first",
]

#: Seconds between two heartbeats of a running iteration.
HEARTBEAT_INTERVAL = 5.0
#: A running iteration whose last heartbeat is older than this many seconds is shown as crashed.
HEARTBEAT_TIMEOUT = 30.0
#: Every status an iteration can show. ``crashed`` is never written: readers derive it from a
#: ``running`` iteration whose heartbeat stopped.
STATUSES = ("running", "finished", "failed", "killed", "crashed")
#: Metrics under this prefix are the system metrics the sampler logs (CPU, memory, disk,
#: network, GPUs): tables leave them out unless asked for, the iteration page draws them apart.
SYSTEM_METRIC_PREFIX = "system/"


def is_system_metric(name: str) -> bool:
    """Whether a metric is one of the system metrics (``system/cpu_percent``, ...)."""
    return name.startswith(SYSTEM_METRIC_PREFIX)


def training_first(names: Any) -> list[str]:
    """Metric names sorted, the system metrics after the others."""
    return sorted(names, key=lambda n: (is_system_metric(n), n))


def iso(ts: float | None) -> str | None:
    """An epoch timestamp as an ISO 8601 UTC string (``None`` stays ``None``)."""
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat().replace("+00:00", "Z")


def effective_status(status: str, heartbeat_at: float | None, now: float) -> str:
    """The status a reader shows: ``running`` with a stale heartbeat reads as ``crashed``."""
    if status == "running" and heartbeat_at is not None and heartbeat_at < now - HEARTBEAT_TIMEOUT:
        return "crashed"
    return status


@dataclass(frozen=True, slots=True)
class Project:
    """A machine-learning project: it holds experiments.

    ``deleted_at`` is set while the project is deleted (it, its experiments and iterations are
    hidden until restored); ``deleted_by`` names who deleted it.
    """

    id: str
    title: str
    description: str | None
    status: str
    archived: bool
    created_at: float
    updated_at: float
    deleted_at: float | None = None
    deleted_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "archived": self.archived,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
            "deleted_by": self.deleted_by,
        }


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment inside a project: it holds iterations (model runs).

    ``deleted_at`` is set while the experiment is deleted (it and its iterations are hidden
    from lists until restored), ``deleted_by`` names who deleted it; ``tags`` are free-form
    text labels.
    """

    id: str
    name: str
    description: str | None
    project_id: str
    created_at: float
    deleted_at: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deleted_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "project_id": self.project_id,
            "created_at": iso(self.created_at),
            "deleted_at": iso(self.deleted_at),
            "deleted_by": self.deleted_by,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True, slots=True)
class Note:
    """The Markdown note of a project, experiment or iteration (``kind`` says which)."""

    kind: str
    owner_id: str
    text: str
    updated_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "owner_id": self.owner_id,
            "text": self.text,
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Dataset:
    """A named, versioned dataset. ``digest`` is None for data that is not on a local disk;
    ``deleted_at`` (and ``deleted_by``) is set while the version is deleted."""

    id: str
    name: str
    version: str
    path: str
    description: str | None
    tags: tuple[str, ...]
    digest: str | None
    size_bytes: int | None
    file_count: int | None
    created_at: float
    deleted_at: float | None = None
    deleted_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "description": self.description,
            "tags": list(self.tags),
            "digest": self.digest,
            "size_bytes": self.size_bytes,
            "file_count": self.file_count,
            "created_at": iso(self.created_at),
            "deleted_at": iso(self.deleted_at),
            "deleted_by": self.deleted_by,
        }


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One point of a metric's series. ``value`` may be NaN or ±Inf."""

    step: int
    value: float
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "value": self.value, "timestamp": iso(self.timestamp)}


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """The last value of a metric (at its highest step) and its min and max (NaN ignored)."""

    last: float
    last_step: int
    min: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"last": self.last, "last_step": self.last_step, "min": self.min, "max": self.max}


@dataclass(frozen=True, slots=True)
class ModelFile:
    """The model file an iteration logged: size and sha256 are known when the file existed."""

    path: str
    size_bytes: int | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size_bytes": self.size_bytes, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Iteration:
    """One model run inside an experiment, with what it logged.

    ``deleted_at`` is set while the iteration is deleted (hidden from lists until restored),
    ``deleted_by`` names who deleted it; ``description`` is a free text about the run.
    """

    id: str
    name: str
    project_id: str
    experiment_id: str
    status: str
    started_at: float
    ended_at: float | None
    heartbeat_at: float | None
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    model: ModelFile | None = None
    datasets: tuple[Dataset, ...] = ()
    system: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deleted_at: float | None = None
    deleted_by: str | None = None
    description: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end (None while running)."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "project_id": self.project_id,
            "experiment_id": self.experiment_id,
            "status": self.status,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "duration_seconds": self.duration_seconds,
            "parameters": dict(self.parameters),
            "metrics": {name: s.last for name, s in self.metrics.items()},
            "metric_summaries": {name: s.to_dict() for name, s in self.metrics.items()},
            "path_to_model": self.model.path if self.model else None,
            "model": self.model.to_dict() if self.model else None,
            "datasets": [d.to_dict() for d in self.datasets],
            "system": dict(self.system),
            "error": dict(self.error) if self.error else None,
            "tags": dict(self.tags),
            "deleted_at": iso(self.deleted_at),
            "deleted_by": self.deleted_by,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file an iteration produced, kept by the artifact store under its sha256.

    ``name`` is relative and ``/``-separated (``"plots/roc.png"``); ``step`` is set for the
    images of an image series (the same name over steps) and None otherwise.
    """

    iteration_id: str
    name: str
    size_bytes: int
    sha256: str
    media_type: str
    created_at: float
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration_id": self.iteration_id,
            "name": self.name,
            "step": self.step,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "media_type": self.media_type,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model: an iteration's artifact (a file or a folder)."""

    name: str
    version: int
    iteration_id: str
    artifact: str
    description: str | None
    created_at: float
    created_by: str
    #: The aliases pointing at this version: {alias: (who set it, when)}.
    aliases: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: Free-form text labels of this version.
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "iteration_id": self.iteration_id,
            "artifact": self.artifact,
            "description": self.description,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "aliases": [
                {"alias": alias, "set_by": by, "set_at": iso(at)}
                for alias, (by, at) in sorted(self.aliases.items())
            ],
            "tags": dict(sorted(self.tags.items())),
        }


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model with numbered versions and aliases (``production``, ``staging``...)."""

    name: str
    description: str | None
    created_at: float
    latest_version: int | None
    #: {alias: version number}
    aliases: dict[str, int] = field(default_factory=dict)
    #: Free-form text labels of the model.
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "created_at": iso(self.created_at),
            "latest_version": self.latest_version,
            "aliases": dict(sorted(self.aliases.items())),
            "tags": dict(sorted(self.tags.items())),
        }


SCOPES = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An access token of the App (its secret is shown once, at creation, and never stored)."""

    id: str
    name: str
    scope: str
    created_at: float
    revoked_at: float | None
    last_used_at: float | None
    #: The ids of the projects the token may see; empty: every project.
    projects: tuple[str, ...] = ()
    #: When the token stops working (epoch seconds); None: never.
    expires_at: float | None = None

    def allows(self, scope: str) -> bool:
        """True when this token may do what ``scope`` needs (admin > write > read)."""
        return (
            self.revoked_at is None
            and not self.expired(_time.time())
            and SCOPES.index(self.scope) >= SCOPES.index(scope)
        )

    def expired(self, now: float) -> bool:
        """True once the token's expiry time has passed."""
        return self.expires_at is not None and self.expires_at <= now

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
            "projects": list(self.projects),
            "expires_at": iso(self.expires_at),
        }


@dataclass(frozen=True, slots=True)
class Purged:
    """What a purge removed for good: ``iterations`` and ``experiments`` (rows), their metric
    ``points``, their ``artifacts`` (records), and ``blobs``, the sha256 digests of the stored
    files that nothing references any more (removed from the artifact store). ``kept`` names
    the iterations left in place because a registered model version uses their files."""

    iterations: int = 0
    experiments: int = 0
    points: int = 0
    artifacts: int = 0
    blobs: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()

    def __add__(self, other: Purged) -> Purged:
        return Purged(
            self.iterations + other.iterations,
            self.experiments + other.experiments,
            self.points + other.points,
            self.artifacts + other.artifacts,
            (*self.blobs, *other.blobs),
            (*self.kept, *other.kept),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations,
            "experiments": self.experiments,
            "points": self.points,
            "artifacts": self.artifacts,
            "blobs": list(self.blobs),
            "kept": list(self.kept),
        }
