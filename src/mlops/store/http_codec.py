"""JSON of the REST contract to entities and back, and the client's own view of its iterations.

Answers of the App are the ``to_dict()`` shapes of :mod:`mlops.entities`; the functions here turn
them back into the same frozen entities the SQL store returns. :class:`Shadow` is what the HTTP
store knows about an iteration it writes, so that ``end_iteration`` can still return the
iteration's final state while the App cannot be reached.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from mlops.entities import (
    Dataset,
    Experiment,
    Iteration,
    MetricPoint,
    MetricSummary,
    ModelFile,
    Project,
)
from mlops.store.base import IterationTable, MetricRow
from mlops.store.summaries import summarize
from mlops.wire import (
    MAX_BATCH_POINTS,
    IterationBatch,
    decode_float,
    encode_float,
    encode_floats,
    to_body,
)
from mlops.wire_batch import encode_batch

__all__ = [
    "Shadow",
    "batch_body",
    "binary_batch",
    "dataset_from",
    "experiment_from",
    "iteration_from",
    "model_body",
    "point_from",
    "project_from",
    "request_json",
    "split",
]

#: Metric points per request: a flush is split into requests of at most this many points
#: (and never more than the App accepts, :data:`~mlops.wire.MAX_BATCH_POINTS`), so that one
#: request finishes well inside the client's read timeout even when the App is loaded.
REQUEST_POINTS = 10_000
_VALUE = itemgetter(2)
#: Points from which a batch goes to the App as columns (:func:`binary_batch`): fewer are as
#: quick as JSON, and a request a person may read stays readable.
BINARY_MIN_POINTS = 100


def _ts(value: str | float | None) -> float | None:
    """An ISO 8601 timestamp of the App as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _ts_required(value: str | float) -> float:
    ts = _ts(value)
    assert ts is not None
    return ts


def project_from(data: Mapping[str, Any]) -> Project:
    """A project from its JSON."""
    return Project(
        data["id"], data["title"], data.get("description"), data["status"],
        bool(data["archived"]), _ts_required(data["created_at"]),
        _ts_required(data["updated_at"]), _ts(data.get("deleted_at")), data.get("deleted_by"),
    )  # fmt: skip


def experiment_from(data: Mapping[str, Any]) -> Experiment:
    """An experiment from its JSON."""
    return Experiment(
        data["id"], data["name"], data.get("description"), data["project_id"],
        _ts_required(data["created_at"]), _ts(data.get("deleted_at")),
        dict(data.get("tags") or {}), data.get("deleted_by"),
    )  # fmt: skip


def dataset_from(data: Mapping[str, Any]) -> Dataset:
    """A dataset from its JSON."""
    return Dataset(
        data["id"], data["name"], data["version"], data["path"], data.get("description"),
        tuple(data.get("tags") or ()), data.get("digest"), data.get("size_bytes"),
        data.get("file_count"), _ts_required(data["created_at"]), _ts(data.get("deleted_at")),
        data.get("deleted_by"),
    )  # fmt: skip


def point_from(data: Mapping[str, Any]) -> MetricPoint:
    """A metric point from its JSON (``"NaN"``/``"Infinity"`` become floats again)."""
    return MetricPoint(int(data["step"]), _float(data["value"]), _ts_required(data["timestamp"]))


def _float(value: Any) -> float:
    decoded = decode_float(value)
    return float("nan") if decoded is None else decoded


def iteration_from(data: Mapping[str, Any]) -> Iteration:
    """An iteration from its JSON (metric summaries from ``metric_summaries``)."""
    summaries = data.get("metric_summaries") or {}
    metrics = {
        name: MetricSummary(
            _float(s["last"]), int(s["last_step"]), decode_float(s["min"]), decode_float(s["max"])
        )
        for name, s in summaries.items()
    }
    model = data.get("model")
    return Iteration(
        id=data["id"], name=data["name"], project_id=data["project_id"],
        experiment_id=data["experiment_id"], status=data["status"],
        started_at=_ts_required(data["started_at"]), ended_at=_ts(data.get("ended_at")),
        heartbeat_at=_ts(data.get("heartbeat_at")), parameters=dict(data.get("parameters") or {}),
        metrics=metrics,
        model=None if model is None else ModelFile(
            model["path"], model.get("size_bytes"), model.get("sha256")
        ),
        datasets=tuple(dataset_from(d) for d in data.get("datasets") or ()),
        system=dict(data.get("system") or {}), error=data.get("error"),
        tags=dict(data.get("tags") or {}), deleted_at=_ts(data.get("deleted_at")),
        deleted_by=data.get("deleted_by"), description=data.get("description"),
    )  # fmt: skip


def table_from(data: Mapping[str, Any]) -> IterationTable:
    """A page of ``POST /iterations/table`` (metric values may come as "NaN" strings)."""
    metrics = data["metrics"]
    values = [v if type(v) is float else _float(v) for v in metrics["values"]]
    return IterationTable(
        ids=data["ids"], names=data["names"], statuses=data["statuses"],
        experiment_ids=data["experiment_ids"], started_at=data["started_at"],
        ended_at=data["ended_at"],
        parameters=(data["parameters"]["rows"], data["parameters"]["names"],
                    data["parameters"]["values"]),
        metrics=(metrics["rows"], metrics["names"], values),
        tags=(data["tags"]["rows"], data["tags"]["names"], data["tags"]["values"]),
    )  # fmt: skip


def model_body(model: ModelFile | None) -> dict[str, Any] | None:
    """The ``model`` field of an update or end request."""
    return None if model is None else model.to_dict()


def split(metrics: Sequence[MetricRow] | None) -> list[Sequence[MetricRow]]:
    """Metric rows in chunks of at most :data:`REQUEST_POINTS` (at least one chunk, maybe
    empty)."""
    rows = metrics or ()
    size = max(1, min(REQUEST_POINTS, MAX_BATCH_POINTS))
    if len(rows) <= size:
        return [rows]
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def request_json(body: Any) -> bytes:
    """The UTF-8 JSON of a request's body (NaN and infinities as the App reads them)."""
    try:
        text = json.dumps(body, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except ValueError:  # a NaN or infinity somewhere in free-form data (parameters)
        text = json.dumps(encode_floats(body), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def binary_batch(op: str, body: Mapping[str, Any]) -> bytes | None:
    """The request of a batch (``log_batch``) or an end with :data:`BINARY_MIN_POINTS` points
    or more in its binary form (:mod:`mlops.wire_batch`); None: send it as JSON."""
    batch = body if op == "log_batch" else body.get("batch") if op == "end_iteration" else None
    rows = batch.get("metrics") if batch else None
    if not rows or len(rows) < BINARY_MIN_POINTS:
        return None
    bare = {**batch, "metrics": []}  # type: ignore[dict-item]
    return encode_batch(request_json(bare if op == "log_batch" else {**body, "batch": bare}), rows)


def batch_body(
    parameters: Mapping[str, Any] | None = None,
    metrics: Sequence[MetricRow] | None = None,
    dataset_ids: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    heartbeat_at: float | None = None,
    every_value: bool = False,
) -> dict[str, Any]:
    """The JSON of an :class:`~mlops.wire.IterationBatch` (non-finite metric values as strings,
    parameters that hold one as JSON text)."""
    plain, texts = _split_parameters(parameters or {})
    batch = IterationBatch(
        parameters=plain,
        metrics=_wire_rows(metrics or ()),
        dataset_ids=list(dataset_ids or ()),
        tags=dict(tags or {}),
        heartbeat_at=heartbeat_at,
        parameters_json=texts,
        every_value=every_value,
    )
    body = to_body(batch)
    if not every_value:  # the journal and the wire stay as before for mlops' own writes
        del body["every_value"]
    return body


def _wire_rows(rows: Sequence[MetricRow]) -> list[Any]:
    """Metric rows as JSON carries them: the rows themselves (not copied) when every value is
    finite, as they almost always are; else non-finite values as their strings."""
    try:
        finite = all(map(math.isfinite, map(_VALUE, rows)))
    except TypeError:  # not a number: the App's answer says so
        finite = False
    if finite:
        return rows if isinstance(rows, list) else list(rows)
    return [[n, s, encode_float(v), t] for n, s, v, t in rows]


def _split_parameters(parameters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(parameters as they are, JSON text of those holding NaN or an infinity): a string
    ``"NaN"`` and the float must stay apart."""
    try:
        json.dumps(parameters, allow_nan=False)
    except ValueError:
        pass
    else:
        return dict(parameters), {}
    plain: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for name, value in parameters.items():
        try:
            json.dumps(value, allow_nan=False)
            plain[name] = value
        except ValueError:
            texts[name] = json.dumps(value, ensure_ascii=False)
    return plain, texts


class Shadow:
    """What this process wrote to one iteration: enough to answer for it without the App."""

    def __init__(self, iteration: Iteration) -> None:
        self.base = iteration
        self.parameters = dict(iteration.parameters)
        self.metrics = dict(iteration.metrics)
        self.tags = dict(iteration.tags)
        self.datasets: dict[str, Dataset | None] = {d.id: d for d in iteration.datasets}
        self.changes: dict[str, Any] = {}

    def add_batch(
        self,
        parameters: Mapping[str, Any] | None,
        metrics: Sequence[MetricRow] | None,
        dataset_ids: Sequence[str] | None,
        tags: Mapping[str, str] | None,
        datasets: Mapping[str, Dataset],
    ) -> None:
        """Merge one batch, as the store does (the last value is the one at the highest step;
        min and max ignore NaN)."""
        self.parameters.update(parameters or {})
        self.tags.update(tags or {})
        for dataset_id in dataset_ids or ():
            self.datasets.setdefault(dataset_id, datasets.get(dataset_id))
        for _it, name, last, step, low, high in summarize(self.base.id, metrics or ()):
            value = float("nan") if last is None else last
            old = self.metrics.get(name)
            if old is None:
                self.metrics[name] = MetricSummary(value, step, low, high)
                continue
            if step < old.last_step:
                value, step = old.last, old.last_step
            self.metrics[name] = MetricSummary(value, step, _pick(min, old.min, low),
                                               _pick(max, old.max, high))  # fmt: skip

    def update(
        self,
        status: str | None = None,
        ended_at: float | None = None,
        error: Mapping[str, str] | None = None,
        model: ModelFile | None = None,
        heartbeat_at: float | None = None,
    ) -> None:
        """Apply the fields that are not None."""
        given = dict(status=status, ended_at=ended_at, model=model, heartbeat_at=heartbeat_at)
        self.changes.update({k: v for k, v in given.items() if v is not None})
        if error is not None:
            self.changes["error"] = dict(error)

    def iteration(self) -> Iteration:
        """The iteration as this process knows it."""
        base = self.base
        return Iteration(
            id=base.id, name=base.name, project_id=base.project_id,
            experiment_id=base.experiment_id, status=self.changes.get("status", base.status),
            started_at=base.started_at, ended_at=self.changes.get("ended_at", base.ended_at),
            heartbeat_at=self.changes.get("heartbeat_at", base.heartbeat_at),
            parameters=dict(self.parameters), metrics=dict(self.metrics),
            model=self.changes.get("model", base.model),
            datasets=tuple(d for d in self.datasets.values() if d is not None),
            system=dict(base.system), error=self.changes.get("error", base.error),
            tags=dict(self.tags), deleted_at=base.deleted_at, deleted_by=base.deleted_by,
            description=base.description,
        )  # fmt: skip


def _pick(how: Any, old: float | None, new: float | None) -> float | None:
    if old is None:
        return new
    if new is None:
        return old
    result: float = how(old, new)
    return result
