"""The shapes of the App's JSON answers, declared for the OpenAPI document.

These models mirror the ``to_dict()`` shapes of :mod:`mlops.entities` and the envelopes listed
in :mod:`mlops.wire`; request bodies are the dataclasses of :mod:`mlops.wire` themselves. They
only *describe* the answers: routes keep returning plain dicts that
:class:`~mlops.app.responses.JsonResponse` encodes as they are (pydantic would turn NaN into
null and cost a deep copy of every value). ``tests/test_openapi.py`` validates real answers of a
real App against these schemas, and every entity's ``to_dict()`` against its model, so a key
added to one and not the other fails a test.

Every model forbids keys it does not declare (``additionalProperties: false``) and requires all
it declares: ``to_dict()`` always writes every key, with null for what is unknown.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.entities import STATUSES

__all__ = [
    "ERRORS",
    "BatchResult",
    "DatasetList",
    "DatasetOut",
    "ErrorOut",
    "ExperimentList",
    "ExperimentOut",
    "Health",
    "IterationOut",
    "IterationPage",
    "MetricHistory",
    "MetricPointOut",
    "MetricSeries",
    "MetricSummaryOut",
    "ModelFileOut",
    "NoteOut",
    "ProjectList",
    "ProjectOut",
    "errors",
    "ok",
]

Responses = dict[int | str, dict[str, Any]]

#: An ISO 8601 time in UTC, e.g. ``2026-05-04T12:30:00.250000Z``.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
#: A metric value: a JSON number, or one of the strings that stand for the non-finite floats.
MetricValue = Annotated[
    float | Literal["NaN", "Infinity", "-Infinity"],
    Field(description='a number, or "NaN", "Infinity", "-Infinity" for non-finite values'),
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Shape):
    """What went wrong: a stable ``code`` and a message that names the thing and the fix."""

    code: str
    message: str


class ErrorOut(_Shape):
    """The one error shape of the App, whatever the status."""

    error: ErrorDetail


class ProjectOut(_Shape):
    """A project (:meth:`mlops.entities.Project.to_dict`)."""

    id: str
    title: str
    description: str | None
    status: str
    archived: bool
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None
    #: Who deleted it (a token's name, or ``local:<user>``); null while it is live.
    deleted_by: str | None


class NoteOut(_Shape):
    """The Markdown note of a project, experiment or iteration
    (:meth:`mlops.entities.Note.to_dict`); ``text`` is ``""`` and ``updated_at`` null when
    there is none."""

    kind: str
    owner_id: str
    text: str
    updated_at: str | None


class ExperimentOut(_Shape):
    """An experiment (:meth:`mlops.entities.Experiment.to_dict`); ``deleted_at`` is set while
    it is deleted."""

    id: str
    name: str
    description: str | None
    project_id: str
    created_at: Timestamp
    deleted_at: Timestamp | None
    #: Who deleted it (a token's name, or ``local:<user>``); null while it is live.
    deleted_by: str | None
    tags: dict[str, str]


class PurgedOut(_Shape):
    """What a purge removed for good (:meth:`mlops.entities.Purged.to_dict`): counts of
    iterations, experiments, metric points and artifact records, the sha256 digests of the
    blobs removed from the artifact store, and the iterations kept because a registered model
    version uses them."""

    iterations: int
    experiments: int
    points: int
    artifacts: int
    blobs: list[str]
    kept: list[str]


class PurgeableOut(_Shape):
    """Ids of the iterations a purge would remove (oldest first)."""

    ids: list[str]


class DatasetOut(_Shape):
    """A dataset version (:meth:`mlops.entities.Dataset.to_dict`)."""

    id: str
    name: str
    version: str
    path: str
    description: str | None
    tags: list[str]
    digest: str | None
    size_bytes: int | None
    file_count: int | None
    created_at: Timestamp
    deleted_at: Timestamp | None
    #: Who deleted it (a token's name, or ``local:<user>``); null while it is live.
    deleted_by: str | None


class MetricPointOut(_Shape):
    """One point of a metric's series (:meth:`mlops.entities.MetricPoint.to_dict`)."""

    step: int
    value: MetricValue
    timestamp: Timestamp


class MetricSummaryOut(_Shape):
    """Last value (at the highest step), min and max of a metric (NaN ignored by min and max)."""

    last: MetricValue
    last_step: int
    min: MetricValue | None
    max: MetricValue | None


class ModelFileOut(_Shape):
    """The model file an iteration logged (:meth:`mlops.entities.ModelFile.to_dict`)."""

    path: str
    size_bytes: int | None
    sha256: str | None


class IterationOut(_Shape):
    """An iteration with what it logged (:meth:`mlops.entities.Iteration.to_dict`).

    ``metrics`` holds the last value of each metric, ``metric_summaries`` last, min and max;
    ``status`` is ``crashed`` for a running iteration whose heartbeat stopped."""

    id: str
    name: str
    project_id: str
    experiment_id: str
    status: Annotated[str, Field(json_schema_extra={"enum": list(STATUSES)})]
    started_at: Timestamp
    ended_at: Timestamp | None
    heartbeat_at: Timestamp | None
    duration_seconds: float | None
    parameters: dict[str, Any]
    metrics: dict[str, MetricValue]
    metric_summaries: dict[str, MetricSummaryOut]
    path_to_model: str | None
    model: ModelFileOut | None
    datasets: list[DatasetOut]
    system: dict[str, Any]
    error: dict[str, str] | None
    tags: dict[str, str]
    deleted_at: Timestamp | None
    #: Who deleted it (a token's name, or ``local:<user>``); null while it is live.
    deleted_by: str | None
    #: A free text about the run (null: none).
    description: str | None


class ProjectList(_Shape):
    """Projects, newest first."""

    projects: list[ProjectOut]


class ExperimentList(_Shape):
    """Experiments, newest first."""

    experiments: list[ExperimentOut]


class DatasetList(_Shape):
    """Dataset versions."""

    datasets: list[DatasetOut]


class IterationPage(_Shape):
    """One page of a search: pass ``next_cursor`` back as ``cursor`` for the next (null: the
    last page); ``total`` counts the matches up to 10,000 (``MAX_TOTAL``): ``total_exact`` is
    true when that is every match, false when there are more (ask with ``exact_total`` to
    count them all); both are null when the search said ``count_total: false``."""

    iterations: list[IterationOut]
    next_cursor: str | None
    total: int | None
    total_exact: bool | None


class _Values(_Shape):
    """Parameters of a page: the row of each value's iteration, its name, its JSON value."""

    rows: list[int]
    names: list[str]
    values: list[Any]


class _MetricValues(_Shape):
    """The last value of each metric: the row of its iteration, its name, the value."""

    rows: list[int]
    names: list[str]
    values: list[MetricValue]


class _TagValues(_Shape):
    """Tags: the row of each tag's iteration, its key, its text."""

    rows: list[int]
    names: list[str]
    values: list[str]


class IterationTableOut(_Shape):
    """One page of a search in columns (for DataFrames): the k-th entry of ``ids``, ``names``,
    ``statuses``, ``experiment_ids``, ``started_at`` and ``ended_at`` (epoch seconds, null
    while running) is the k-th iteration; ``parameters``, ``metrics`` (last values) and
    ``tags`` give (row, name, value) in three lists each. Pass ``next_cursor`` back as
    ``cursor`` for the next page (null: the last one)."""

    ids: list[str]
    names: list[str]
    statuses: list[str]
    experiment_ids: list[str]
    started_at: list[float]
    ended_at: list[float | None]
    parameters: _Values
    metrics: _MetricValues
    tags: _TagValues
    next_cursor: str | None


class BatchResult(_Shape):
    """How many metric points and parameters a batch carried."""

    points: int
    parameters: int


class MetricHistory(_Shape):
    """A metric's points in step order; ``downsampled`` when fewer than ``total`` are sent."""

    points: list[MetricPointOut]
    downsampled: bool
    total: int


class MetricPage(_Shape):
    """One page of a metric's points in step order (a page shorter than the ``limit`` asked
    for is the last; pass the last step back as ``after_step`` for the next)."""

    points: list[MetricPointOut]


class MetricColumnsOut(_Shape):
    """Every point of one metric in columns, by step: ``steps[i]``, ``values[i]`` and
    ``timestamps[i]`` (epoch seconds) are point ``i``. A client whose ``Accept`` names
    ``application/x-mlops-series`` gets the same series packed: a 16-byte header (``MLSR``,
    version 1, three zero bytes, the number of points n as a little-endian uint64), then n
    int64 steps, n float64 values and n float64 timestamps, all little-endian."""

    steps: list[int]
    values: list[MetricValue]
    timestamps: list[float]


class SeriesColumns(MetricColumnsOut):
    """A metric's series in columns (``format=columns``): ``downsampled`` when fewer than
    ``total`` points are sent."""

    downsampled: bool
    total: int


class MetricSeries(_Shape):
    """One metric of several iterations, keyed by iteration id: each a list of points, or in
    columns with ``format=columns`` (no object per point: what a chart of 100 curves asks)."""

    metric: str
    series: dict[str, MetricHistory | SeriesColumns]


class Health(_Shape):
    """The App is up; ``schema`` is the revision of the database schema it expects."""

    status: Literal["ok"]
    version: str
    schema_: str = Field(alias="schema")


#: When the App answers each error status.
ERROR_STATUSES: dict[int, str] = {
    400: "The Host header is not one this App serves, or the call needs a project and names none.",
    401: "The App runs with --auth and the request carries no valid token.",
    403: "The token's scope is too small, or a web page of another origin tried to change data.",
    404: "Nothing has that id (the message names it and its kind).",
    408: "The request body arrived too slowly.",
    409: "A unique title or name is taken (the message names the existing id), or the "
    "iteration has ended.",
    413: "The request body, or the batch it carries, is over the App's limit.",
    415: "The request body is not sent as Content-Type: application/json.",
    422: "A value, name, filter or order_by is not acceptable (the message says which).",
    500: "The App or its storage hit an unexpected error; it is in the App's log.",
    503: "The store is unreachable, busy or behind (`mlops db upgrade`), or the App has too "
    "many requests in flight: retry after Retry-After seconds.",
}


def errors(*statuses: int) -> Responses:
    """``responses=`` entries for error statuses (all of them when none are named), each with
    the one error shape ``{"error": {"code", "message"}}``."""
    chosen = statuses or tuple(ERROR_STATUSES)
    return {s: {"description": ERROR_STATUSES[s], "content": _ERROR_CONTENT} for s in chosen}


#: The error answer's content by reference to its schema rather than as a ``model``: FastAPI
#: would build a pydantic field for each status of each route (about 1,200, a third of the
#: App's start-up); :func:`error_schemas` puts the schema itself into the OpenAPI components.
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def error_schemas() -> dict[str, Any]:
    """The OpenAPI component schemas of the error shape (``ErrorOut`` and what it holds)."""
    schema = ErrorOut.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    found: dict[str, Any] = schema.pop("$defs", {})
    return {**found, "ErrorOut": schema}


#: Every error status of an API operation: routers declare them for each of their routes.
ERRORS: Responses = errors()


def ok(model: type[BaseModel], status: int = 200) -> Responses:
    """The ``responses=`` entry of a route's success answer: ``model`` describes its JSON (the
    route still answers with its plain dict)."""
    description = (model.__doc__ or "").strip().split("\n\n")[0]
    return {status: {"model": model, "description": description}}
