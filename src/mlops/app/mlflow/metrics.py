"""MLflow's metric endpoints: log-metric, log-batch (metrics, params and tags), get-history
(paged) and get-history-bulk-interval (sampled for charts).

MLflow keeps every value of a metric, several at one step too (its default step is 0): these
routes write with ``every_value=True``, so a loop of ``mlflow.log_metric("loss", v)`` without a
step reads back whole, while a retried request (the same step, timestamp and value) is stored
once.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request

from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.mlflow._args import (
    JsonBody,
    integer,
    pairs,
    query,
    required_text,
    string_list,
)
from mlops.app.mlflow.errors import invalid
from mlops.app.mlflow.mapping import ms, seconds
from mlops.app.mlflow.runs import MAX_PARAM_VALUE, MAX_TAG_VALUE, log_tags, run_id_of
from mlops.app.mlflow.search import page_offset, page_token
from mlops.app.responses import PlainRoute
from mlops.entities import MetricPoint
from mlops.errors import NotFound
from mlops.store.base import MetricRow, Store

router = APIRouter(route_class=PlainRoute, include_in_schema=False)

#: MLflow's limits of one log-batch request (mlflow/utils/validation.py).
MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000
#: get-history-bulk-interval: runs per request and points per run (MLflow's server's).
MAX_RUNS_BULK = 100
MAX_POINTS_PER_RUN = 2500
_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _value(value: Any, where: str) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        if value in _FLOATS:
            return _FLOATS[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid(
        f"Invalid value {json.dumps(value)} for parameter '{where}' supplied: Please specify "
        "value as a valid double (64-bit floating point)"
    )


def _metric(item: Any, where: str) -> MetricRow:
    prefix = f"{where}." if where else ""
    if not isinstance(item, dict):
        raise invalid(f"Invalid value for parameter '{where}' supplied: it must be an object")
    for field in ("key", "value", "timestamp"):
        if item.get(field) in (None, ""):
            raise invalid(f"Missing value for required parameter '{prefix}{field}'.")
    key = item["key"]
    if not isinstance(key, str):
        raise invalid(f"Invalid value for parameter '{prefix}key' supplied: it must be a string")
    value = _value(item["value"], f"{prefix}value")
    timestamp = seconds(item["timestamp"], f"{prefix}timestamp")
    step = integer(item, "step", 0, -(2**63), 2**63 - 1)
    return (key, step, value, timestamp)


def _plain_metric(item: Any) -> MetricRow | None:
    """The metric of a log-batch as MLflow's client sends it (a text key, a float value, an
    integer timestamp and step in range), or None for anything else, which ``_metric`` reads
    and names: the common case without the per-field checks and messages (a third of the
    App's time for a batch of 1,000 metrics)."""
    if type(item) is not dict:
        return None
    key, value, ms_ = item.get("key"), item.get("value"), item.get("timestamp")
    step = item.get("step", 0)
    if (
        type(key) is str
        and key
        and type(value) is float
        and type(ms_) is int
        and type(step) is int
        and 0 <= ms_ < 2**53
        and -(2**63) <= step < 2**63
    ):
        return (key, step, value, ms_ / 1000.0)
    return None


def _limit(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise invalid(
            f"A batch logging request can contain at most {limit} {what}. Got {count} {what}. "
            f"Please split up {what} across multiple requests and try again."
        )


@router.post("/runs/log-metric", dependencies=[CanWrite])
def log_metric(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Log one value of a metric (every value kept, even several at one step)."""
    run_id = run_id_of(body)
    row = _metric(body, "")
    store.log_batch(run_id, metrics=[row], every_value=True)
    return {}


@router.post("/runs/log-batch", dependencies=[CanWrite])
def log_batch(body: JsonBody, store: StoreDep) -> dict[str, Any]:
    """Log metrics (every value kept), params (as strings) and tags in one transaction, within
    MLflow's limits: 1,000 metrics, 100 params, 100 tags, 1,000 in all."""
    run_id = run_id_of(body)
    metrics_in, params_in, tags_in = (body.get(k) or [] for k in ("metrics", "params", "tags"))
    for what, items in (("metrics", metrics_in), ("params", params_in), ("tags", tags_in)):
        if not isinstance(items, list):
            raise invalid(f"Invalid value for parameter '{what}' supplied: it must be a list")
    _limit(len(metrics_in), MAX_METRICS, "metrics")
    _limit(len(params_in), MAX_PARAMS_TAGS, "params")
    _limit(len(tags_in), MAX_PARAMS_TAGS, "tags")
    total = len(metrics_in) + len(params_in) + len(tags_in)
    _limit(total, MAX_ENTITIES, "metrics, params, and tags")
    metrics = [_plain_metric(m) or _metric(m, f"metrics[{i}]") for i, m in enumerate(metrics_in)]
    params = pairs(body, "params", MAX_PARAM_VALUE, "Param")
    tags = pairs(body, "tags", MAX_TAG_VALUE, "Tag")
    if metrics or params:
        store.log_batch(
            run_id,
            parameters=params or None,
            metrics=metrics or None,
            every_value=True,
        )
    if tags:  # tags are annotations: allowed after the run ended, as MLflow allows them
        log_tags(store, run_id, tags)
    return {}


def _history(store: Store, run_id: str, key: str) -> list[MetricPoint]:
    """Every point of a metric; none for a run without it (MLflow's answer), RESOURCE_DOES_NOT_
    EXIST for an unknown run (looked up only then)."""
    try:
        return store.get_metric_history(run_id, key)
    except NotFound:
        store.get_iteration(run_id)
        return []


def _point(key: str, point: MetricPoint) -> dict[str, Any]:
    return {"key": key, "value": point.value, "timestamp": ms(point.timestamp), "step": point.step}


@router.get("/metrics/get-history", dependencies=[CanRead])
def get_metric_history(request: Request, store: StoreDep) -> dict[str, Any]:
    """Every value of a metric of a run, in step order (paged with ``max_results``)."""
    args = query(request)
    run_id = run_id_of(args)
    key = required_text(args, "metric_key")
    points = _history(store, run_id, key)
    if args.get("max_results") in (None, ""):
        return {"metrics": [_point(key, p) for p in points]}
    limit = integer(args, "max_results", 0, 1)
    offset = page_offset(args.get("page_token"))
    answer: dict[str, Any] = {"metrics": [_point(key, p) for p in points[offset : offset + limit]]}
    if offset + limit < len(points):
        answer["next_page_token"] = page_token(offset + limit)
    return answer


def _sample(points: list[MetricPoint], count: int) -> list[MetricPoint]:
    """At most ``count`` points spread evenly, the first and the last kept."""
    if len(points) <= count:
        return points
    if count == 1:
        return [points[-1]]
    last = len(points) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)})
    return [points[i] for i in picks]


@router.get("/metrics/get-history-bulk-interval", dependencies=[CanRead])
def get_metric_history_bulk_interval(request: Request, store: StoreDep) -> dict[str, Any]:
    """A metric of up to 100 runs for a chart: at most ``max_results`` true points per run
    (the store's downsampled series), optionally between ``start_step`` and ``end_step``."""
    args = query(request, lists=("run_ids",))
    run_ids = string_list(args, "run_ids")
    if not run_ids:
        raise invalid("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_RUNS_BULK:
        raise invalid(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_BULK} "
            f"run_ids. Received {len(run_ids)} run_ids."
        )
    key = required_text(args, "metric_key")
    count = integer(args, "max_results", MAX_POINTS_PER_RUN, 1, MAX_POINTS_PER_RUN)
    start, end = args.get("start_step"), args.get("end_step")
    if (start is None) != (end is None):
        raise invalid("If either start step or end step are specified, both must be specified.")
    low = integer(args, "start_step", 0, -(2**63))
    high = integer(args, "end_step", 0, -(2**63))
    if start is not None and low > high:
        raise invalid(
            f"end_step must be greater than start_step. Found start_step={low} and end_step={high}."
        )
    out: list[dict[str, Any]] = []
    for run_id in sorted(set(run_ids)):
        if start is None:
            try:
                points, _ = store.get_metric_series(run_id, key, count)
            except NotFound:
                store.get_iteration(run_id)
                points = []
        else:
            inside = [p for p in _history(store, run_id, key) if low <= p.step <= high]
            points = _sample(inside, count)
        out.extend({**_point(key, p), "run_id": run_id} for p in points)
    return {"metrics": out}
