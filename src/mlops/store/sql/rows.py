"""Turning rows into entities (and parameter values into their stored forms)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row

from mlops.entities import (
    Dataset,
    Experiment,
    Iteration,
    MetricSummary,
    ModelFile,
    Project,
    effective_status,
)


def encode_parameter(value: Any) -> tuple[str, float | None, str | None]:
    """(exact JSON, numeric form, string form) of a parameter value; booleans are not numbers."""
    value_json = json.dumps(value, ensure_ascii=False, allow_nan=True)
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float: kept exactly, not sortable
            number = None
        if number is not None and math.isnan(number):
            number = None
    text = value if isinstance(value, str) else None
    return value_json, number, text


def decode_parameter(value_json: str) -> Any:
    return json.loads(value_json)


def nan_if_none(value: float | None) -> float:
    """Stored NULL metric values are NaN (SQLite cannot keep NaN in a REAL column)."""
    return math.nan if value is None else value


def project(row: Row[Any]) -> Project:
    return Project(
        id=row.id,
        title=row.title,
        description=row.description,
        status=row.status,
        archived=bool(row.archived),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
    )


def experiment(row: Row[Any], tags: Iterable[Row[Any]] = ()) -> Experiment:
    return Experiment(
        id=row.id,
        name=row.name,
        description=row.description,
        project_id=row.project_id,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        tags={t.key: t.value for t in tags},
        deleted_by=row.deleted_by,
    )


def dataset(row: Row[Any]) -> Dataset:
    return Dataset(
        id=row.id,
        name=row.name,
        version=row.version,
        path=row.path,
        description=row.description,
        tags=tuple(row.tags or ()),
        digest=row.digest,
        size_bytes=row.size_bytes,
        file_count=row.file_count,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
    )


def summary(row: Any) -> MetricSummary:
    return MetricSummary(
        last=nan_if_none(row.last), last_step=row.last_step, min=row.min, max=row.max
    )


def iteration(
    row: Row[Any],
    parameters: Iterable[Any],
    summaries: Iterable[Any],
    datasets: Iterable[Dataset],
    tags: Iterable[Any],
    now: float,
) -> Iteration:
    """The iteration of ``row`` (an ``iterations`` row: SQLAlchemy's, or a named tuple with its
    columns) and its rows of parameters (name, value_json), summaries and tags (key, value)."""
    return iteration_of(
        row,
        {p.name: decode_parameter(p.value_json) for p in parameters},
        {s.name: summary(s) for s in summaries},
        datasets,
        {t.key: t.value for t in tags},
        now,
    )


def iteration_of(
    row: Any,
    parameters: dict[str, Any],
    metrics: dict[str, MetricSummary],
    datasets: Iterable[Dataset],
    tags: dict[str, str],
    now: float,
) -> Iteration:
    """The iteration of ``row`` (as in :func:`iteration`) with its parameters (decoded), metric
    summaries and tags already in dicts."""
    model = (
        ModelFile(row.model_path, row.model_size_bytes, row.model_sha256)
        if row.model_path is not None
        else None
    )
    error = (
        {"type": row.error_type, "message": row.error_message or ""}
        if row.error_type is not None
        else None
    )
    return Iteration(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        experiment_id=row.experiment_id,
        status=effective_status(row.status, row.heartbeat_at, now),
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
        parameters=parameters,
        metrics=metrics,
        model=model,
        datasets=tuple(datasets),
        system=dict(row.system or {}),
        error=error,
        tags=tags,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
        description=row.description,
    )
