"""The App's wire contract, declared once for the server and the HTTP client.

Responses are the ``to_dict()`` shapes of :mod:`mlops.entities`; requests are the dataclasses
below. JSON has no NaN or infinity, so non-finite floats travel as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (:func:`encode_float` / :func:`decode_float`). Where a string
is a value too (parameters), that would be ambiguous: a client that sends the header
:data:`FLOATS_HEADER` gets answers with the literals ``NaN``, ``Infinity`` and ``-Infinity``
(as Python's ``json`` reads and writes them), and a batch carries a parameter that holds one in
``parameters_json``, as its JSON text.

The values in a request are checked by the store behind the App, with the rules every backend
runs (:mod:`mlops.store.rules`): integers (steps, sizes, counts) fit in 64 bits, times are epoch
seconds, parameter values nest at most 32 deep; a value out of bounds is a 422 naming the field.

REST API (prefix ``/api/v1``; errors are ``{"error": {"code", "message"}}``):

====== ============================================= ==============================================
GET    /health                                        ``{"status": "ok", "schema": rev}``
GET    /projects?include_archived=&deleted=           ``{"projects": [project]}``
POST   /projects                    ProjectCreate     201 project
GET    /projects/{id}                                 project
PATCH  /projects/{id}               ProjectUpdate     project
DELETE /projects/{id}                                 project (deleted: it and all it holds hidden)
POST   /projects/{id}/restore       Restore           project (409 when its title was taken)
POST   /projects/{id}/purge         PurgeOptions      purged (the project and all it holds)
GET    /experiments?project_id=&name=&deleted=        ``{"experiments": [experiment]}``
POST   /experiments                 ExperimentCreate  201 experiment
GET    /experiments/{id}                              experiment
PATCH  /experiments/{id}            ExperimentUpdate  experiment (rename)
DELETE /experiments/{id}                              experiment (deleted: hidden, restorable)
POST   /experiments/{id}/restore  Restore           experiment (409 when its name was taken)
PATCH  /experiments/{id}/tags       TagChange         experiment
GET    /datasets?name=&deleted=                       ``{"datasets": [dataset]}``
POST   /datasets                    DatasetCreate     201 dataset (existing one: same content)
GET    /datasets/{id}                                 dataset
DELETE /datasets/{id}?force=                          dataset (422 naming live users unless force)
POST   /datasets/{id}/restore       Restore           dataset (``version``: under a new version)
POST   /datasets/{id}/purge         PurgeOptions      dataset (as it was; its links removed)
POST   /iterations                  IterationCreate   201 iteration (idempotent on ``id``)
GET    /iterations/{id}                               iteration
PATCH  /iterations/{id}             IterationUpdate   iteration (end state, heartbeat, name or
                                                      description)
DELETE /iterations/{id}                               iteration (deleted: hidden, restorable)
POST   /iterations/{id}/restore     Restore           iteration
PATCH  /iterations/{id}/tags        TagChange         iteration (ended ones too)
POST   /iterations/{id}/end         IterationEnd      iteration (last batch and end state at once)
POST   /iterations/{id}/batch       IterationBatch    ``{"points": n, "parameters": n}``
POST   /iterations/{id}/resume                        iteration (running again; idempotent)
GET    /iterations/{id}/metrics/{name}?max_points=    ``{"points": [point], "downsampled": bool}``
GET    /series?metric=&iteration_ids=&max_points=     ``{"series": {id: {"points", "total"}}}``;
       &after_step=&format=columns                    with ``format=columns`` each series as
                                                      ``{"steps", "values", "timestamps",
                                                      "downsampled", "total"}``
GET    /history/columns?iteration_id=&metric=         ``{"steps", "values", "timestamps"}``, or
                                                      packed for ``Accept:
                                                      application/x-mlops-series`` (mlops.series)
GET    /iterations?experiment_id=&project_id=&filter=&order_by=&limit=&cursor=&deleted=
                                                      ``{"iterations": [...], "next_cursor": c|null,
                                                      "total": n, "total_exact": bool}``
POST   /iterations/search           IterationSearch   same as GET /iterations
====== ============================================= ==============================================

``deleted=`` in a query string is ``false`` (the default: live ones only), ``true`` (deleted
ones only) or ``any``; in a JSON body it is false, true or null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "API_PREFIX",
    "FLOATS_HEADER",
    "MAX_BATCH_POINTS",
    "DatasetCreate",
    "ExperimentCreate",
    "ExperimentUpdate",
    "IterationBatch",
    "IterationCreate",
    "IterationEnd",
    "IterationSearch",
    "IterationTableSearch",
    "IterationUpdate",
    "ProjectCreate",
    "ProjectUpdate",
    "TagChange",
    "decode_float",
    "encode_float",
    "to_body",
]

API_PREFIX = "/api/v1"
#: The most metric points one batch request may carry (the client splits larger flushes).
MAX_BATCH_POINTS = 50_000
#: A request header: with the value ``literal``, non-finite floats in the answer are the JSON
#: literals ``NaN``, ``Infinity`` and ``-Infinity`` instead of strings.
FLOATS_HEADER = "X-Mlops-Floats"
#: The most iterations one list/search page returns.
MAX_PAGE = 1000
#: A search's ``total`` stops counting here unless ``exact_total`` asks for every match
#: (``total_exact`` in the answer says which): counting 100,000 matches costs more than the page.
MAX_TOTAL = 10_000
#: The most points one page of ``GET /history`` (a metric's history, page by page) returns.
MAX_HISTORY_PAGE = 100_000
#: The most iterations one ``GET /series`` (a metric of many iterations, for a chart) reads.
MAX_SERIES_PER_REQUEST = 100
#: The most iterations one page of ``POST /iterations/table`` (columns, for DataFrames) returns.
MAX_TABLE_PAGE = 5000

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_float(value: float) -> float | str:
    """A float as JSON can carry it: non-finite values become strings."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_float(value: float | int | str | None) -> float | None:
    """The inverse of :func:`encode_float` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return _NON_FINITE[value]
        except KeyError:
            raise ValueError(f"{value!r} is not a number") from None
    return float(value)


def to_body(request: Any) -> dict[str, Any]:
    """A request dataclass as its JSON body, shallowly (``dataclasses.asdict`` deep-copies every
    metric row of a batch, which costs more than sending it)."""
    return {f.name: getattr(request, f.name) for f in fields(request)}


def encode_floats(data: Any) -> Any:
    """Replace non-finite floats anywhere in JSON-able data by their strings."""
    if isinstance(data, float):
        return encode_float(data)
    if isinstance(data, dict):
        return {k: encode_floats(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [encode_floats(v) for v in data]
    return data


@dataclass
class ProjectCreate:
    """Body of ``POST /projects``."""

    title: str
    description: str | None = None
    status: str = "active"
    archived: bool = False


@dataclass
class ProjectUpdate:
    """Body of ``PATCH /projects/{id}``: fields left out (or null) stay as they are."""

    description: str | None = None
    status: str | None = None
    archived: bool | None = None
    title: str | None = None


@dataclass
class ExperimentCreate:
    """Body of ``POST /experiments``."""

    project_id: str
    name: str
    description: str | None = None


@dataclass
class ExperimentUpdate:
    """Body of ``PATCH /experiments/{id}``: a new name (unique among the project's live
    experiments) or description (``""`` clears it); left out or null, it stays."""

    name: str | None = None
    description: str | None = None


@dataclass
class IterationMove:
    """Body of ``POST /iterations/{id}/move``: the experiment (of the same project) to move to."""

    experiment_id: str


@dataclass
class NoteText:
    """Body of ``PUT /{projects|experiments|iterations}/{id}/note``: the Markdown text (``""``
    removes the note)."""

    text: str


@dataclass
class TagChange:
    """Body of ``PATCH /experiments/{id}/tags`` and ``PATCH /iterations/{id}/tags``: tags to
    set (added or overwritten) and tag keys to remove."""

    tags: dict[str, str] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)


@dataclass
class PurgeRequest:
    """Body of ``POST /iterations/purge``: the iterations to remove for good (deleted ones,
    or live ones too with ``force``)."""

    ids: list[str] = field(default_factory=list)
    force: bool = False


@dataclass
class PurgeOptions:
    """Body of ``POST /experiments/{id}/purge``: ``force`` purges a live experiment too."""

    force: bool = False


@dataclass
class DatasetCreate:
    """Body of ``POST /datasets``: the client computes digest, size and file count."""

    name: str
    path: str
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    version: str | None = None
    digest: str | None = None
    size_bytes: int | None = None
    file_count: int | None = None


@dataclass
class IterationCreate:
    """Body of ``POST /iterations``. ``id`` is made by the client, so a retry is harmless.
    Without ``experiment_id`` the iteration goes to the ``default`` experiment of
    ``project_id``."""

    id: str
    name: str
    started_at: float
    experiment_id: str | None = None
    project_id: str | None = None
    system: dict[str, Any] = field(default_factory=dict)
    #: False for a writer that sends no heartbeats: the iteration never reads as crashed.
    heartbeat: bool = True


@dataclass
class IterationUpdate:
    """Body of ``PATCH /iterations/{id}``; ``name`` renames it (allowed after its end)."""

    status: str | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    error: dict[str, str] | None = None
    model: dict[str, Any] | None = None
    name: str | None = None
    #: A new description (``""`` clears it); left out or null, it stays.
    description: str | None = None


@dataclass
class Restore:
    """Body of ``POST /{projects,experiments,iterations,datasets}/{id}/restore``: restore
    under a new ``name`` (a project's title, an experiment's or iteration's name) or, for a
    dataset, a new ``version``; left out, the old one."""

    name: str | None = None
    version: str | None = None


@dataclass
class IterationBatch:
    """Body of ``POST /iterations/{id}/batch``: everything one flush of the client carries.

    ``metrics`` rows are ``[name, step, value, timestamp]``; ``value`` may be ``"NaN"``,
    ``"Infinity"`` or ``"-Infinity"``. ``parameters_json`` holds parameters as their JSON text,
    where NaN, Infinity and -Infinity are literals (``{"lr": "NaN"}`` is the float, while
    ``parameters`` ``{"lr": "NaN"}`` is the string). ``every_value`` keeps every value of a
    metric, several at one step, as MLflow does (see :meth:`mlops.store.base.Store.log_batch`).
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: list[tuple[str, int, float | str, float]] = field(default_factory=list)
    dataset_ids: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    heartbeat_at: float | None = None
    parameters_json: dict[str, str] = field(default_factory=dict)
    every_value: bool = False


@dataclass
class IterationEnd:
    """Body of ``POST /iterations/{id}/end``: the last batch and the end state, written at once.
    ``start`` is the iteration's ``POST /iterations`` body when the App has not seen it yet (a
    short iteration sent whole, in one request): the App makes it first, as that route does."""

    status: str
    ended_at: float
    error: dict[str, str] | None = None
    model: dict[str, Any] | None = None
    batch: IterationBatch | None = None
    start: IterationCreate | None = None


@dataclass
class IterationSearch:
    """Body of ``POST /iterations/search`` (the same fields as the GET query string)."""

    experiment_id: str | None = None
    project_id: str | None = None
    filter: str | None = None
    order_by: list[str] | str | None = None
    limit: int = 100
    cursor: str | None = None
    #: Load only these parameters / metrics of each iteration (None: all of them).
    parameter_names: list[str] | None = None
    metric_names: list[str] | None = None
    #: False: live iterations only; True: deleted ones only; null: both.
    deleted: bool | None = False
    #: Count every match in ``total`` (by default counting stops at ``MAX_TOTAL``).
    exact_total: bool = False
    #: False: do not count the matches at all (``total`` and ``total_exact`` are null): a
    #: client that pages with ``next_cursor`` saves the count, which in a big experiment with
    #: a filter costs more than the page itself.
    count_total: bool = True


@dataclass
class IterationTableSearch:
    """Body of ``POST /iterations/table``: a search (as ``/iterations/search``) answered in
    columns, up to ``MAX_TABLE_PAGE`` iterations a page."""

    experiment_id: str | None = None
    project_id: str | None = None
    filter: str | None = None
    order_by: list[str] | str | None = None
    limit: int = MAX_TABLE_PAGE
    cursor: str | None = None
