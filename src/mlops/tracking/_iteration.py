"""The Iteration object a training script logs to."""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from mlops.entities import ModelFile
from mlops.errors import InvalidInput, IterationEnded, MlopsError
from mlops.store import MetricRow, Store
from mlops.tracking._datasets import file_sha256, model_path
from mlops.tracking._writer import WRITER
from mlops.values import (
    check_id,
    check_name,
    check_step,
    metric_value,
    parameter_value,
)

#: A full batch wakes the background writer before its next one-second tick.
BATCH_SIZE = 10_000

_float = float
_time = time.time


class Iteration(Mapping[str, Any]):
    """One model run. Returned by :func:`mlops.tracking.start_iteration`.

    It reads like the iteration's dict (``it["id"]``, ``dict(it)``) and logs with its methods.
    ``log_*`` calls check their input at once and buffer it in memory (a ``log_metric`` costs
    about a microsecond); a background thread writes the buffer every second.
    :meth:`end_iteration` writes what is left and returns the final dict.

    Use it as a context manager to end it automatically; an exception inside the block marks
    the iteration ``failed`` (``killed`` for Ctrl-C) with the exception's type and message::

        with tracking.start_iteration("rf-200") as it:
            it.log_parameters({"n_estimators": 200})
            it.log_metric("accuracy", 0.93)
    """

    def __init__(self, store: Store, data: dict[str, Any]) -> None:
        self._store = store
        self._data = data
        self.id: str = data["id"]
        self.name: str = data["name"]
        self.project_id: str = data["project_id"]
        self.experiment_id: str = data["experiment_id"]
        self._points: collections.deque[MetricRow] = collections.deque()
        self._next_step: dict[str, int] = {}
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._params: dict[str, Any] = {}
        self._datasets: list[str] = []
        self._tags: dict[str, str] = {}
        self._unsent: tuple[dict[str, Any], list[MetricRow], list[str], dict[str, str]] = (
            {},
            [],
            [],
            {},
        )
        self._model_path: str | None = None
        self._ended = False
        self._warned = False
        WRITER.register(self)

    # -- Mapping: the iteration's JSON data ------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "running"
        return f"<Iteration {self.name!r} id={self.id} {state}>"

    # -- logging ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._ended:
            raise IterationEnded(
                f"iteration {self.name!r} ({self.id}) has ended: start a new one with "
                "tracking.start_iteration(...) to log more"
            )

    def log_metric(self, metric_name: str, value: Any, step: int | None = None) -> None:
        """Append ``value`` to the series of metric ``metric_name``.

        ``value`` is any real number, numpy and torch scalars included; NaN and ±Inf are kept.
        ``step`` defaults to the next integer of this metric's series (0, 1, 2, ...); logging a
        step again replaces its value. Raises ``InvalidInput`` naming the metric for anything
        else (strings, None, lists), and ``IterationEnded`` after :meth:`end_iteration`.
        """
        if self._ended:
            self._check_open()
        next_step = self._next_step.get(metric_name)
        if next_step is None:
            check_name(metric_name, "metric name")
            next_step = 0
        if type(value) is not _float:
            value = metric_value(metric_name, value)
        step = next_step if step is None else check_step(metric_name, step)
        self._next_step[metric_name] = step + 1 if step >= next_step else next_step
        points = self._points
        points.append((metric_name, step, value, _time()))
        if len(points) % BATCH_SIZE == 0:
            WRITER.wake()

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log several metrics at once: ``{"loss": 0.3, "accuracy": 0.9}``. Either all are
        logged or, if one value is bad, none (the error names it)."""
        if not isinstance(metrics, Mapping):
            raise _not_a_dict("metrics", metrics)
        self._check_open()
        checked = {
            check_name(k, "metric name"): v if type(v) is float else metric_value(k, v)
            for k, v in metrics.items()
        }
        for name, value in checked.items():
            self.log_metric(name, value, step)

    def log_parameter(self, parameter_name: str, value: Any) -> None:
        """Record a parameter (hyperparameter, setting). Any JSON value keeps its type (int,
        float, str, bool, None, lists, dicts); other objects are stored as their ``str()``
        with a warning. Logging a name again replaces its value."""
        self._check_open()
        check_name(parameter_name, "parameter name")
        value = parameter_value(parameter_name, value)
        with self._pending_lock:
            self._params[parameter_name] = value

    def log_parameters(self, parameters: Mapping[str, Any]) -> None:
        """Record several parameters at once: ``{"lr": 0.01, "model": "rf"}``."""
        if not isinstance(parameters, Mapping):
            raise _not_a_dict("parameters", parameters)
        self._check_open()
        checked = {
            check_name(k, "parameter name"): parameter_value(k, v) for k, v in parameters.items()
        }
        with self._pending_lock:
            self._params.update(checked)

    def set_tag(self, key: str, value: str) -> None:
        """Label the iteration: ``it.set_tag("team", "vision")``. Tags are text and can be
        searched (``tags.team = "vision"``); setting a key again replaces its value."""
        self._check_open()
        check_name(key, "tag key")
        if not isinstance(value, str):
            raise InvalidInput(f"tag {key!r} must be text, got {type(value).__name__} {value!r}")
        with self._pending_lock:
            self._tags[key] = value

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set several tags at once: ``{"team": "vision", "gpu": "a100"}``."""
        if not isinstance(tags, Mapping):
            raise _not_a_dict("tags", tags)
        for key, value in tags.items():
            self.set_tag(key, value)

    def log_dataset(self, dataset_id: str) -> None:
        """Link a dataset made with :func:`mlops.tracking.create_dataset` to this iteration.
        Raises ``NotFound`` for an unknown id."""
        self._check_open()
        self._store.get_dataset(check_id(dataset_id, "dataset_id"))
        with self._pending_lock:
            if dataset_id not in self._datasets:
                self._datasets.append(dataset_id)

    def log_path_to_model(self, path_to_model: str | os.PathLike[str]) -> None:
        """Record where the trained model file is, as an absolute path (a URI such as
        ``s3://`` is kept as given). When the iteration ends and the file exists, its size and
        sha256 are recorded too. A local path that does not exist yet is recorded with one
        warning. The path is only text: nothing is uploaded."""
        self._check_open()
        self._model_path = model_path(path_to_model)

    # -- writing ----------------------------------------------------------------------------
    def _drain(self) -> tuple[dict[str, Any], list[MetricRow], list[str], dict[str, str]]:
        """Take everything buffered (and anything a failed write left) out of the buffers."""
        points = self._points
        batch = [points.popleft() for _ in range(len(points))]
        with self._pending_lock:
            params, self._params = self._params, {}
            datasets, self._datasets = self._datasets, []
            tags, self._tags = self._tags, {}
        old_params, old_points, old_datasets, old_tags = self._unsent
        if old_params or old_points or old_datasets or old_tags:
            params = {**old_params, **params}
            batch = old_points + batch
            datasets = old_datasets + datasets
            tags = {**old_tags, **tags}
        self._unsent = ({}, [], [], {})
        return params, batch, datasets, tags

    def _flush(self, heartbeat: bool = False, background: bool = False) -> None:
        """Write everything buffered in one store call; on failure keep it for the next try."""
        with self._flush_lock:
            params, batch, datasets, tags = self._drain()
            if not (params or batch or datasets or tags or heartbeat):
                return
            try:
                self._store.log_batch(
                    self.id,
                    parameters=params or None,
                    metrics=batch or None,
                    dataset_ids=datasets or None,
                    heartbeat_at=_time() if heartbeat else None,
                    tags=tags or None,
                )
            except MlopsError as exc:
                self._unsent = (params, batch, datasets, tags)
                if not background:
                    raise
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"mlops: could not write iteration {self.name!r} yet ({exc}); "
                        "keeping the data and retrying every second",
                        stacklevel=1,
                    )
                return
            self._warned = False

    def _unsent_summary(self) -> str:
        params, points, datasets, _tags = self._unsent
        return (
            f"{len(points) + len(self._points)} metric points, "
            f"{len(params) + len(self._params)} parameters, "
            f"{len(datasets) + len(self._datasets)} dataset links"
        )

    def end_iteration(self) -> dict[str, Any]:
        """Write everything logged, mark the iteration ``finished`` and return its final dict
        (parameters, last metric values, model file, datasets, system info). Calling it again
        returns the same dict."""
        return self._end("finished", None)

    def _end(self, status: str, error: dict[str, str] | None) -> dict[str, Any]:
        with self._pending_lock:
            already = self._ended
            self._ended = True
        if already:
            return dict(self._data)
        WRITER.unregister(self)
        model = None
        if self._model_path is not None:
            known = file_sha256(self._model_path)
            model = ModelFile(self._model_path, *(known or (None, None)))
        with self._flush_lock:
            params, batch, datasets, tags = self._drain()
            try:
                ended = self._store.end_iteration(
                    self.id, status, _time(), error=error, model=model,
                    parameters=params or None, metrics=batch or None,
                    dataset_ids=datasets or None, tags=tags or None,
                )  # fmt: skip
            except MlopsError:
                self._unsent = (params, batch, datasets, tags)
                with self._pending_lock:
                    self._ended = False  # nothing was written: ending can be tried again
                WRITER.register(self)
                raise
        self._data = ended.to_dict()
        return dict(self._data)

    def _end_quietly(self, status: str, error: dict[str, str] | None) -> None:
        try:
            self._end(status, error)
        except Exception as exc:
            sys.stderr.write(
                f"mlops: could not end iteration {self.name!r} ({self.id}): {exc}; "
                f"{self._unsent_summary()} not written\n"
            )

    # -- context manager --------------------------------------------------------------------
    def __enter__(self) -> Iteration:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._end("finished", None)
        elif isinstance(exc, KeyboardInterrupt):
            self._end("killed", {"type": "KeyboardInterrupt", "message": "interrupted (Ctrl-C)"})
        else:
            self._end("failed", {"type": type(exc).__name__, "message": str(exc)})


class DisabledIteration(Iteration):
    """What ``start_iteration`` returns on a non-zero rank of a distributed job: it accepts every
    call and records nothing, so one job makes one iteration (set ``MLOPS_ALL_RANKS=1`` to
    track every rank)."""

    def __init__(self, name: str, rank: int) -> None:
        self._data = {"id": None, "name": name, "status": "disabled", "rank": rank}
        self.id = ""
        self.name = name
        self._ended = False

    def log_metric(self, metric_name: str, value: Any, step: int | None = None) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        pass

    def log_parameter(self, parameter_name: str, value: Any) -> None:
        pass

    def log_parameters(self, parameters: Mapping[str, Any]) -> None:
        pass

    def log_dataset(self, dataset_id: str) -> None:
        pass

    def log_path_to_model(self, path_to_model: str | os.PathLike[str]) -> None:
        pass

    def set_tag(self, key: str, value: str) -> None:
        pass

    def _end(self, status: str, error: dict[str, str] | None) -> dict[str, Any]:
        self._ended = True
        return dict(self._data)


def _not_a_dict(what: str, value: Any) -> MlopsError:
    return InvalidInput(f"{what} must be a dict of name: value, got {type(value).__name__}")
