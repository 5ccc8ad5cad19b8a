"""REST routes for iterations: start, log in batches, end, read, search."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, status
from starlette.convertors import Convertor, register_url_convertor

from mlops.app.api.lifecycle import DELETED, Deleted
from mlops.app.binary_batch import BINARY_BODY, BatchRoute, metric_block
from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import (
    ERRORS,
    BatchResult,
    IterationOut,
    IterationPage,
    IterationTableOut,
    MetricHistory,
    MetricPage,
    MetricSeries,
    ok,
)
from mlops.entities import Iteration, ModelFile
from mlops.errors import InvalidInput, TooLarge
from mlops.series import MetricColumns
from mlops.store.base import IterationTable, MetricRow, Store
from mlops.values import check_name
from mlops.wire import (
    MAX_BATCH_POINTS,
    MAX_HISTORY_PAGE,
    MAX_PAGE,
    MAX_SERIES_PER_REQUEST,
    MAX_TABLE_PAGE,
    MAX_TOTAL,
    IterationBatch,
    IterationCreate,
    IterationEnd,
    IterationSearch,
    IterationTableSearch,
    IterationUpdate,
    decode_float,
)
from mlops.wire_batch import MetricBlock

router = APIRouter(tags=["iterations"], route_class=PlainRoute, responses=ERRORS)
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
# The rules (statuses, names, ranges, ended iterations) are the store's (mlops.store.rules):
# these routes only turn the wire's shapes into the store's arguments.


class _Rest(Convertor[str]):
    """The rest of the path, newlines included: Starlette's ``path`` stops at a newline, so a
    metric whose name holds one could be logged but its history never read."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("rest", _Rest())


def _model(data: Mapping[str, Any] | None) -> ModelFile | None:
    if data is None:
        return None
    return ModelFile(data.get("path"), data.get("size_bytes"), data.get("sha256"))  # type: ignore[arg-type]


def _metrics(rows: Sequence[Sequence[Any]]) -> list[MetricRow]:
    if len(rows) > MAX_BATCH_POINTS:
        raise TooLarge(
            f"a batch carries at most {MAX_BATCH_POINTS:,} metric points, this one "
            f"{len(rows):,}: split it (the mlops client does this by itself)"
        )
    out: list[MetricRow] = []
    for name, step, value, timestamp in rows:
        try:
            number = decode_float(value)
        except ValueError:
            raise InvalidInput(f"metric {name!r} got {value!r}: not a number") from None
        out.append((name, step, number, timestamp))  # type: ignore[arg-type]
    return out


def _parameters(batch: IterationBatch) -> dict[str, Any]:
    parameters = dict(batch.parameters)
    for name, text in batch.parameters_json.items():
        try:
            parameters[name] = json.loads(text)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"parameters_json[{name!r}] is not JSON text: send the value's JSON, or the "
                "value itself in parameters"
            ) from None
    for name in parameters:
        check_name(name, "parameter name")
    return parameters


def _batch(batch: IterationBatch | None, block: MetricBlock | None = None) -> dict[str, Any]:
    """The store's arguments of a batch (its points from ``block`` when it came binary)."""
    if batch is None:
        return {}
    if block is not None and batch.metrics:
        raise InvalidInput(
            "a binary batch carries its points as columns: leave the body's metrics empty"
        )
    parameters = _parameters(batch)
    return {
        "parameters": parameters or None,
        "metrics": (_metrics(batch.metrics) if block is None else block.rows()) or None,
        "dataset_ids": batch.dataset_ids or None,
        "tags": batch.tags or None,
    }


@router.post(
    "/iterations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    responses=ok(IterationOut, 201),
)
def create_iteration(body: IterationCreate, store: StoreDep) -> dict[str, Any]:
    """Start an iteration with a client-made id (a retry returns the same iteration)."""
    return _create(body, store).to_dict()


def _create(body: IterationCreate, store: Store) -> Iteration:
    return store.create_iteration(
        body.id, body.name, body.experiment_id, body.project_id,
        body.started_at, body.system, body.heartbeat,
    )  # fmt: skip


@router.get("/iterations/{iteration_id}", dependencies=[CanRead], responses=ok(IterationOut))
def get_iteration(iteration_id: str, store: StoreDep) -> dict[str, Any]:
    """One iteration with parameters, metric summaries, datasets, model and system info."""
    return store.get_iteration(iteration_id).to_dict()


@router.patch("/iterations/{iteration_id}", dependencies=[CanWrite], responses=ok(IterationOut))
def update_iteration(iteration_id: str, body: IterationUpdate, store: StoreDep) -> dict[str, Any]:
    """Change status, end time, error, model file or heartbeat; or the name or description
    (``""`` clears it; both allowed after the iteration ended)."""
    ending = (body.status, body.ended_at, body.error, body.model, body.heartbeat_at)
    if body.description is not None:
        iteration = store.set_iteration_description(iteration_id, body.description)
    if body.name is not None:
        iteration = store.rename_iteration(iteration_id, body.name)
    if (body.name is not None or body.description is not None) and all(v is None for v in ending):
        return iteration.to_dict()
    iteration = store.update_iteration(
        iteration_id, body.status, body.ended_at, body.error, _model(body.model),
        body.heartbeat_at,
    )  # fmt: skip
    return iteration.to_dict()


def _takes_binary(path: str, **kwargs: Any) -> Callable[[_Endpoint], _Endpoint]:
    """A POST route whose body may also come as a binary batch (:mod:`mlops.wire_batch`)."""

    def add(endpoint: _Endpoint) -> _Endpoint:
        router.add_api_route(
            path, endpoint, methods=["POST"], route_class_override=BatchRoute,
            openapi_extra=BINARY_BODY, **kwargs,
        )  # fmt: skip
        return endpoint

    return add


@_takes_binary(
    "/iterations/{iteration_id}/batch", dependencies=[CanWrite], responses=ok(BatchResult)
)
def log_batch(
    iteration_id: str, body: IterationBatch, store: StoreDep, request: Request
) -> dict[str, int]:
    """Parameters, metric points, dataset links and tags of one iteration, in one transaction.
    Idempotent: points are keyed by (iteration, metric, step); with ``every_value`` every
    value is kept, several at one step, and a point sent again is stored once. The points may
    come as columns instead (``Content-Type: application/x-mlops-batch``, see
    ``mlops.wire_batch``)."""
    batch = _batch(body, metric_block(request))
    store.log_batch(
        iteration_id, heartbeat_at=body.heartbeat_at, every_value=body.every_value, **batch
    )
    return {"points": len(batch["metrics"] or ()), "parameters": len(batch["parameters"] or ())}


@_takes_binary(
    "/iterations/{iteration_id}/end", dependencies=[CanWrite], responses=ok(IterationOut)
)
def end_iteration(
    iteration_id: str, body: IterationEnd, store: StoreDep, request: Request
) -> dict[str, Any]:
    """Write the last batch and the end state at once; returns the ended iteration. With
    ``start``, an iteration the App has not seen is made first (as ``POST /iterations``, so a
    retry is harmless): a short iteration costs one request. The last batch's points may
    come as columns (``Content-Type: application/x-mlops-batch``, see ``mlops.wire_batch``)."""
    block = metric_block(request)
    if block is not None and body.batch is None:
        raise InvalidInput(
            "a binary end carries points but no batch: send the batch (its metrics empty) "
            "in the body"
        )
    if body.start is not None:
        if body.start.id != iteration_id:
            raise InvalidInput(
                f"start.id {body.start.id!r:.100} is not the iteration being ended "
                f"({iteration_id!r:.100}): send the start of this iteration, or none"
            )
        _create(body.start, store)
    iteration = store.end_iteration(
        iteration_id, body.status, body.ended_at, body.error,
        _model(body.model), **_batch(body.batch, block),
    )  # fmt: skip
    return iteration.to_dict()


@router.post(
    "/iterations/{iteration_id}/resume", dependencies=[CanWrite], responses=ok(IterationOut)
)
def resume_iteration(iteration_id: str, store: StoreDep) -> dict[str, Any]:
    """Reopen an ended iteration to log more to it (status back to running, end time and
    error cleared). Idempotent: resuming a running iteration returns it."""
    return store.resume(iteration_id).to_dict()


@router.get(
    "/iterations/{iteration_id}/metrics/{metric_name:rest}",
    dependencies=[CanRead],
    responses=ok(MetricHistory),
)
def get_metric_history(
    iteration_id: str,
    metric_name: str,
    store: StoreDep,
    max_points: Annotated[int | None, Query(ge=4, le=100_000)] = None,
) -> dict[str, Any]:
    """A metric's series by step; ``max_points`` downsamples it for charts (min and max of
    each bucket are kept, so spikes stay visible)."""
    if max_points is None:
        points = store.get_metric_history(iteration_id, metric_name)
        total = len(points)
    else:
        points, total = store.get_metric_series(iteration_id, metric_name, max_points)
    return {
        "points": [p.to_dict() for p in points],
        "downsampled": len(points) < total,
        "total": total,
    }


@router.get("/history", dependencies=[CanRead], responses=ok(MetricPage))
def get_metric_page(
    store: StoreDep,
    iteration_id: str,
    metric: str,
    after_step: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 10_000,
) -> dict[str, Any]:
    """A metric's points with a step after ``after_step`` (from the first when absent), by
    step, ``limit`` of them (a full page ends with every value of its last step): a long
    history read page by page, as ``history_frame`` does."""
    check_name(metric, "metric name")
    points = store.get_metric_page(iteration_id, metric, after_step, limit)
    return {"points": [p.to_dict() for p in points]}


@router.get("/series", dependencies=[CanRead], responses=ok(MetricSeries))
def get_metric_series(
    store: StoreDep,
    metric: str,
    iteration_ids: Annotated[list[str], Query(min_length=1, max_length=MAX_SERIES_PER_REQUEST)],
    max_points: Annotated[int, Query(ge=4, le=100_000)] = 1000,
    after_step: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
    format: Literal["points", "columns"] = "points",
) -> dict[str, Any]:
    """One metric of up to 100 iterations at once, each downsampled to ``max_points`` (for
    comparing runs): ``{"series": {iteration_id: {"points", "downsampled", "total"}}}``, or
    with ``format=columns`` each series as ``{"steps", "values", "timestamps" (epoch
    seconds), "downsampled", "total"}`` (no object per point: a chart of 100 curves); 404
    naming the first iteration without a point of the metric. ``after_step``: only the
    points after that step, at most ``max_points`` of them and not downsampled (a live
    page's increment; ``total`` counts what is sent; an iteration with nothing new, or
    unknown, gets an empty series)."""
    series = store.get_metric_series_batch(iteration_ids, metric, max_points, after_step)
    answer = _columns_answer if format == "columns" else _series_answer
    return {"metric": metric, "series": {i: answer(*found) for i, found in series.items()}}


def _series_answer(columns: MetricColumns, total: int) -> dict[str, Any]:
    """One series as a list of points (the default format)."""
    return {"points": list(columns), "downsampled": len(columns) < total, "total": total}


def _columns_answer(columns: MetricColumns, total: int) -> dict[str, Any]:
    """One series in columns (``format=columns``)."""
    return {**columns.to_json(), "downsampled": len(columns) < total, "total": total}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise InvalidInput("cursor is not one this App handed out: start again without it")


def _search(store: StoreDep, search: IterationSearch) -> dict[str, Any]:
    if not 1 <= search.limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {search.limit}")
    offset = _decode_cursor(search.cursor)
    iterations = store.list_iterations(
        search.experiment_id, search.project_id, search.filter, search.order_by,
        search.limit + 1, offset, search.parameter_names, search.metric_names, search.deleted,
    )  # fmt: skip
    more = len(iterations) > search.limit
    for flag in ("exact_total", "count_total"):
        if not isinstance(getattr(search, flag), bool):
            raise InvalidInput(f"{flag} must be true or false, got {getattr(search, flag)!r:.100}")
    page: dict[str, Any] = {
        "iterations": [i.to_dict() for i in iterations[: search.limit]],
        "next_cursor": _encode_cursor(offset + search.limit) if more else None,
        "total": None,
        "total_exact": None,
    }
    if search.count_total:
        cap = None if search.exact_total else MAX_TOTAL + 1
        total = store.count_iterations(
            search.experiment_id, search.project_id, search.filter, cap, search.deleted
        )
        page["total"] = min(total, MAX_TOTAL) if cap else total
        page["total_exact"] = cap is None or total <= MAX_TOTAL
    return page


@router.post("/iterations/table", dependencies=[CanRead], responses=ok(IterationTableOut))
def iteration_table(body: IterationTableSearch, store: StoreDep) -> dict[str, Any]:
    """The same search as ``POST /iterations/search`` (``filter``, ``order_by``), answered in
    columns, up to 5,000 iterations a page: what ``tracking.iterations_frame`` reads."""
    if not 1 <= body.limit <= MAX_TABLE_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_TABLE_PAGE}, got {body.limit}")
    offset = _decode_cursor(body.cursor)
    pages = store.iteration_tables(
        body.experiment_id, body.project_id, body.filter, body.order_by, body.limit,
        body.limit, offset,
    )  # fmt: skip
    page = next(iter(pages), None) or IterationTable()
    full = len(page.ids) == body.limit
    return {**page.to_dict(), "next_cursor": _encode_cursor(offset + body.limit) if full else None}


@router.get("/iterations", dependencies=[CanRead], responses=ok(IterationPage))
def list_iterations(
    store: StoreDep,
    experiment_id: str | None = None,
    project_id: str | None = None,
    filter: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    limit: int = 100,
    cursor: str | None = None,
    parameter_names: Annotated[list[str] | None, Query()] = None,
    metric_names: Annotated[list[str] | None, Query()] = None,
    deleted: Deleted = "false",
    exact_total: bool = False,
    count_total: bool = True,
) -> dict[str, Any]:
    """Search iterations. ``filter`` is the query language, e.g.
    ``metrics.accuracy > 0.9 and params.model = "rf"``; ``order_by`` e.g.
    ``metrics.accuracy desc`` (repeatable); page with ``next_cursor``; ``parameter_names`` and
    ``metric_names`` (repeatable) load only those values of each iteration; ``deleted``:
    ``false`` (live ones), ``true`` (deleted ones, or in a deleted experiment) or ``any``;
    ``total`` counts up to 10,000 matches (``total_exact`` says whether that is all of them),
    ``exact_total=true`` counts every one, ``count_total=false`` none (both null)."""
    search = IterationSearch(
        experiment_id, project_id, filter, order_by, limit, cursor, parameter_names,
        metric_names, DELETED[deleted], exact_total, count_total,
    )  # fmt: skip
    return _search(store, search)


@router.post("/iterations/search", dependencies=[CanRead], responses=ok(IterationPage))
def search_iterations(body: IterationSearch, store: StoreDep) -> dict[str, Any]:
    """The same search as ``GET /iterations``, with the query in a JSON body."""
    return _search(store, body)
