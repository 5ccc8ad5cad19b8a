"""The Iteration object a training script logs to.

``log_*`` calls check their input and append it to in-memory buffers; the background writer
(:mod:`mlops.tracking._writer`) moves the buffers into the iteration's outbox
(:mod:`mlops.tracking._outbox`) and writes it. The buffer is bounded: past
``MLOPS_BUFFER_POINTS`` (default 100,000) unwritten points, a log call waits while the writer
makes progress (back-pressure, said once in a warning), so a loop that logs faster than the store
writes keeps a steady memory. A store that cannot be written never ends the
training run: unwritten points stay in memory up to ``MLOPS_MAX_BUFFERED_POINTS`` (default
5,000,000) and are written when the store accepts them again; :meth:`Iteration.end_iteration`
waits at most ``MLOPS_FLUSH_TIMEOUT`` seconds, then reports on stderr what it could not write
(and keeps it in :attr:`Iteration.unwritten`) instead of raising.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from mlops.entities import ModelFile, iso
from mlops.errors import InvalidInput, IterationEnded, MlopsError
from mlops.store import MetricRow, Store
from mlops.store.rules import ENDED_STATUSES
from mlops.tracking._datasets import is_remote, model_path
from mlops.tracking._flushing import WritePath, fold_ranges
from mlops.tracking._logging_files import FileLogging, copy_models
from mlops.tracking._outbox import BATCH_SIZE, Outbox, buffer_points, max_buffered_points
from mlops.tracking._system_metrics import SAMPLER
from mlops.tracking._writer import WRITER
from mlops.values import (
    check_id,
    check_name,
    check_optional_text,
    check_step,
    metric_value,
    parameter_value,
)

__all__ = ["BATCH_SIZE", "Iteration"]

_float = float
_time = time.time

#: Seconds log_metric waits, past the bound, for a store that writes but makes no progress.
STALL_SECONDS = 1.0

#: The keys of the iteration's dict that show what was logged while it runs.
_LIVE_KEYS = frozenset(
    ("parameters", "metrics", "metric_summaries", "tags", "datasets", "path_to_model", "model")
)


class Iteration(FileLogging, WritePath, Mapping[str, Any]):
    """One model run. Returned by :func:`mlops.tracking.start_iteration`.

    It reads like the iteration's dict (``it["id"]``, ``dict(it)``) and logs with its methods.
    While it runs, the dict shows what was logged so far (parameters, the last value of each
    metric by step, tags, datasets, the model path), written or not yet; once ended it is the
    stored iteration. (While it runs, the min and max of ``metric_summaries`` count every value
    logged, even one later replaced at its step.) ``log_*`` calls check their input at once and
    buffer it in memory (a ``log_metric`` costs about half a microsecond); a background thread
    writes the buffer every second. :meth:`end_iteration` writes what is left and returns the
    final dict; a store that cannot be written never makes it raise (see :attr:`unwritten`).

    Use it as a context manager to end it automatically; an exception inside the block marks
    the iteration ``failed`` (``killed`` for Ctrl-C) with the exception's type and message::

        with tracking.start_iteration("rf-200") as it:
            it.log_parameters({"n_estimators": 200})
            it.log_metric("accuracy", 0.93)
    """

    def __init__(self, store: Store, data: dict[str, Any]) -> None:
        self._setup(store, data)
        WRITER.register(self)

    def _setup(self, store: Store | None, data: dict[str, Any]) -> None:
        self._store = store
        self._data = data
        self.id: str = data["id"]
        self.name: str = data["name"]
        self.project_id: str | None = data["project_id"]
        self.experiment_id: str | None = data["experiment_id"]
        self._points: collections.deque[MetricRow] = collections.deque()
        self._next_step: dict[str, int] = {}
        self._last: dict[str, float] = {}  # metric -> its value at its highest step
        self._ranges: dict[str, list[float]] = {}  # metric -> [min, max], NaN ignored
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._points_lock = threading.Lock()
        self._params: dict[str, Any] = {}
        self._datasets: list[str] = []
        self._tags: dict[str, str] = {}
        self._logged_params: dict[str, Any] = {}
        self._logged_tags: dict[str, str] = {}
        self._logged_datasets: dict[str, dict[str, Any]] = {}
        self._outbox = Outbox(max_buffered_points())
        self._buffer_points = buffer_points()
        self._throttled = threading.Event()  # set while a log call waits for the writer
        self._throttles = 0  # how many times a log call has waited for the writer
        # points logged since the last check of the bound: the writer takes points out of
        # self._points while the script logs, so its length cannot tell when a batch is full
        self._unchecked = 0
        self._not_kept = 0  # points dropped by log_metric past the bound, not yet counted
        self._model_path: str | None = None
        self._model: ModelFile | None = None
        self._copy_model = False
        self._model_copied = False
        self._ended = False
        self._ending: tuple[str, dict[str, str] | None, float] | None = None
        self._final = False  # _data is the ended iteration as the store has it
        self._gave_up = False  # the store refused the end for good
        self._reported = False  # _end has said on stderr what it could not write
        self._warned = False
        self._retry_at = 0.0

    # -- Mapping: the iteration's JSON data ------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in _LIVE_KEYS and not self._final:
            return self._live(key)
        if key in ("status", "ended_at") and self._ending is not None and not self._final:
            status, _error, ended_at = self._ending
            return status if key == "status" else iso(ended_at)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "running"
        return f"<Iteration {self.name!r} id={self.id} {state}>"

    def _repr_html_(self) -> str:
        """A compact table in Jupyter: what was logged so far, linked to the App's page."""
        from mlops.tracking._html import iteration_html

        return iteration_html(self)

    def _live(self, key: str) -> Any:
        data = self._data
        if key == "parameters":
            return {**data["parameters"], **self._logged_params}
        if key == "tags":
            return {**data["tags"], **self._logged_tags}
        if key == "metrics":
            return {**data["metrics"], **self._last}
        if key == "metric_summaries":
            return self._live_summaries()
        if key == "datasets":
            known = {d["id"] for d in data["datasets"]}
            logged = [d for i, d in list(self._logged_datasets.items()) if i not in known]
            return [dict(d) for d in data["datasets"]] + [dict(d) for d in logged]
        if self._model_path is None:
            return data[key]
        if key == "path_to_model":
            return self._model_path
        model = self._model or ModelFile(self._model_path)
        return model.to_dict()

    def _live_summaries(self) -> dict[str, Any]:
        summaries = {name: dict(s) for name, s in self._data["metric_summaries"].items()}
        ranges = {name: list(r) for name, r in list(self._ranges.items())}
        fold_ranges(ranges, list(self._points))  # the points the writer has not taken yet
        last, next_step = dict(self._last), dict(self._next_step)
        for name, value in last.items():
            low, high = ranges.get(name, (None, None))
            summaries[name] = {
                "last": value, "last_step": next_step[name] - 1, "min": low, "max": high
            }  # fmt: skip
        return summaries

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
        if step is None:
            step = next_step
            self._next_step[metric_name] = step + 1
            self._last[metric_name] = value
        else:
            step = check_step(metric_name, step)
            if step >= next_step - 1:  # a new highest step, or the highest one again
                if step >= next_step:
                    self._next_step[metric_name] = step + 1
                self._last[metric_name] = value
        self._points.append((metric_name, step, value, _time()))
        unchecked = self._unchecked + 1
        self._unchecked = unchecked
        if unchecked >= BATCH_SIZE:
            self._batch_full()

    def _batch_full(self) -> None:
        """Every BATCH_SIZE points: wake the writer, and keep no more than the bound."""
        self._unchecked = 0
        WRITER.wake()
        points, outbox = self._points, self._outbox
        if outbox.error is None and len(points) + outbox.points > self._buffer_points:
            self._wait_for_writer()
        # Room for the next batch, so that a working store never has to drop one.
        room = outbox.max_points - BATCH_SIZE
        if len(points) + outbox.points <= room:
            return
        # A store that writes, only slower than the script logs, is waited for; a store that
        # fails, or makes no progress for a second, is not: the points past the bound go.
        waited = len(points) + outbox.points
        patience = time.monotonic() + STALL_SECONDS
        while outbox.error is None and time.monotonic() < patience:
            WRITER.wake()
            time.sleep(0.005)
            held = len(points) + outbox.points
            if held <= room:
                return
            if held < waited:
                waited, patience = held, time.monotonic() + STALL_SECONDS
        with self._points_lock:
            excess = min(len(points) + outbox.points - outbox.max_points, len(points))
            for _ in range(max(excess, 0)):
                points.pop()
            self._not_kept += max(excess, 0)

    def _wait_for_writer(self) -> None:
        """Back-pressure: hold the log call while the writer brings the buffer down to half
        of ``MLOPS_BUFFER_POINTS``, as long as it makes progress (a store that fails, or
        writes nothing for STALL_SECONDS, is not waited for). Warns once per iteration."""
        points, outbox = self._points, self._outbox
        low = self._buffer_points // 2
        if not self._throttles:
            warnings.warn(
                f"mlops: iteration {self.name!r} logs faster than the store is written: past "
                f"MLOPS_BUFFER_POINTS={self._buffer_points:,} unwritten points, log calls wait "
                "for the writer (set the variable higher to buffer more in memory)",
                stacklevel=4,
            )
        self._throttles += 1
        self._throttled.set()
        try:
            waited = len(points) + outbox.points
            patience = time.monotonic() + STALL_SECONDS
            while outbox.error is None and time.monotonic() < patience:
                WRITER.wake()
                time.sleep(0.002)
                held = len(points) + outbox.points
                if held <= low:
                    return
                if held < waited:
                    waited, patience = held, time.monotonic() + STALL_SECONDS
        finally:
            self._throttled.clear()

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log several metrics at once: ``{"loss": 0.3, "accuracy": 0.9}``. Either all are
        logged or, if one value is bad, none (the error names it). Cheaper per point than
        :meth:`log_metric` (the points share one timestamp and one check of the step)."""
        if type(metrics) is not dict and not isinstance(metrics, Mapping):  # ABC check: slow
            raise _not_a_dict("metrics", metrics)
        if self._ended:
            self._check_open()
        next_steps, last = self._next_step, self._last
        points = self._points
        if step is None:  # the common case: known metrics, floats, the next step of each
            get, now = next_steps.get, _time()
            rows: list[MetricRow] = []
            usual = True
            for name, value in metrics.items():
                at = get(name)
                if at is None or type(value) is not _float:
                    usual = False
                    break
                rows.append((name, at, value, now))
            if usual:
                points.extend(rows)
                for row in rows:
                    next_steps[row[0]] = row[1] + 1
                last.update(metrics)
                self._unchecked += len(rows)
                if self._unchecked >= BATCH_SIZE:
                    self._batch_full()
                return
        if not next_steps.keys() >= metrics.keys():  # a new metric: check its name
            for name in metrics:
                if name not in next_steps:
                    check_name(name, "metric name")
        checked: list[tuple[str, float]] = list(metrics.items())
        if [1 for _name, value in checked if type(value) is not _float]:
            checked = [(k, v if type(v) is _float else metric_value(k, v)) for k, v in checked]
        if step is not None and checked:
            step = check_step(checked[0][0], step)
        now = _time()
        if step is None:
            get = next_steps.get
            rows = [(name, get(name, 0), value, now) for name, value in checked]
            points.extend(rows)
            next_steps.update([(row[0], row[1] + 1) for row in rows])
            last.update(checked)
        else:
            for name, value in checked:
                next_step = next_steps.get(name, 0)
                if step >= next_step - 1:  # a new highest step, or the highest one again
                    if step >= next_step:
                        next_steps[name] = step + 1
                    last[name] = value
                points.append((name, step, value, now))
        self._unchecked += len(checked)
        if self._unchecked >= BATCH_SIZE:
            self._batch_full()

    def log_parameter(self, parameter_name: str, value: Any) -> None:
        """Record a parameter (hyperparameter, setting). Any JSON value keeps its type (int,
        float, str, bool, None, lists, dicts); other objects are stored as their ``str()``
        with a warning. Logging a name again replaces its value."""
        self._check_open()
        check_name(parameter_name, "parameter name")
        value = parameter_value(parameter_name, value)
        with self._pending_lock:
            self._params[parameter_name] = value
            self._logged_params[parameter_name] = value

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
            self._logged_params.update(checked)

    def set_tag(self, key: str, value: str) -> None:
        """Label the iteration: ``it.set_tag("team", "vision")``. Tags are text and can be
        searched (``tags.team = "vision"``); setting a key again replaces its value."""
        self._check_open()
        check_name(key, "tag key")
        if not isinstance(value, str):
            raise InvalidInput(f"tag {key!r} must be text, got {type(value).__name__} {value!r}")
        with self._pending_lock:
            self._tags[key] = value
            self._logged_tags[key] = value

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set several tags at once: ``{"team": "vision", "gpu": "a100"}``."""
        if not isinstance(tags, Mapping):
            raise _not_a_dict("tags", tags)
        for key, value in tags.items():
            self.set_tag(key, value)

    def delete_tag(self, key: str) -> None:
        """Remove a tag: ``it.delete_tag("team")``; a key it does not have is no error. Allowed
        after the end too (tags are annotations). Written at once, after what was logged
        before (over HTTP the App must answer: ``Unavailable`` when it cannot be reached)."""
        check_name(key, "tag key")
        self._retag([key])
        if self._store is not None:
            self._flush()
            self._retag([key], self._store.set_iteration_tags(self.id, delete=[key]).tags)

    def set_note(self, text: str) -> None:
        """Set the iteration's Markdown note (``""`` removes it), also after the end: written
        at once (over HTTP the App must answer: ``Unavailable`` when it cannot be reached).
        The same as ``tracking.set_note(text, iteration_id=it.id)``."""
        if not isinstance(text, str):
            raise InvalidInput(f"a note is Markdown text, got {type(text).__name__} {text!r:.100}")
        if self._store is None:
            raise InvalidInput(f"iteration {self.id!r} has no store to write its note to")
        self._flush()
        self._store.set_note("iteration", self.id, text)

    def set_description(self, text: str | None) -> None:
        """Set the iteration's description (a short free text; ``""`` or None clears it),
        also after the end: written at once (over HTTP the App must answer: ``Unavailable``
        when it cannot be reached). The same as
        ``tracking.update_iteration(it.id, description=text)``."""
        check_optional_text(text, "iteration description")
        if self._store is None:
            raise InvalidInput(f"iteration {self.id!r} has no store to write its description to")
        self._flush()
        self._data["description"] = self._store.set_iteration_description(self.id, text).description

    def _retag(self, deleted: list[str], stored: Mapping[str, str] | None = None) -> None:
        """Forget ``deleted`` tags wherever this object keeps them (and take ``stored``, the
        tags the store has now)."""
        with self._flush_lock, self._pending_lock:  # the order _flush takes them in
            for key in deleted:
                for kept in (self._tags, self._logged_tags, self._outbox.tags):
                    kept.pop(key, None)
            if stored is not None:  # it holds every tag written: keep only the unwritten ones
                self._logged_tags = {k: v for k, v in self._logged_tags.items() if k in self._tags}
            tags = self._data["tags"] = dict(self._data["tags"] if stored is None else stored)
            for key in deleted:
                tags.pop(key, None)

    def log_dataset(self, dataset_id: str) -> None:
        """Link a dataset made with :func:`mlops.tracking.create_dataset` to this iteration.
        Raises ``NotFound`` for an unknown id."""
        self._check_open()
        check_id(dataset_id, "dataset_id")
        dataset = self._find_dataset(dataset_id)
        with self._pending_lock:
            if dataset_id not in self._logged_datasets:
                self._datasets.append(dataset_id)
                self._logged_datasets[dataset_id] = dataset

    def _find_dataset(self, dataset_id: str) -> dict[str, Any]:
        assert self._store is not None
        return self._store.get_dataset(dataset_id).to_dict()

    def log_path_to_model(
        self, path_to_model: str | os.PathLike[str], copy: bool | None = None
    ) -> None:
        """Record where the trained model is (a file or a folder), as an absolute path (a URI
        such as ``s3://`` is kept as given), and keep a copy of it as the artifact ``model/...``
        so it can be downloaded (and registered with :func:`mlops.tracking.register_model`).

        ``copy=False`` (or ``MLOPS_ARTIFACTS=reference``) records only the path, for huge
        checkpoints that already live on shared storage. When the iteration ends and the file
        exists, its size and sha256 are recorded too; a local path that does not exist yet is
        recorded with one warning and copied at the end if it is there then."""
        self._check_open()
        if copy is not None and not isinstance(copy, bool):
            raise InvalidInput(f"copy must be True, False or None, got {copy!r}")
        self._model_path = model_path(path_to_model)
        self._copy_model = copy_models() if copy is None else copy
        if self._copy_model and not is_remote(self._model_path):
            self._model_copied = self._keep_model(self._model_path)

    def end_iteration(
        self, status: str = "finished", error: BaseException | str | None = None
    ) -> dict[str, Any]:
        """Write everything logged, mark the iteration ``finished`` and return its final dict
        (parameters, last metric values, model file, datasets, system info). Calling it again
        returns the same dict.

        ``status`` may instead be ``failed`` or ``killed``, with the ``error`` that ended the
        run (an exception, recorded as its type and message, or a message)::

            except Exception as exc:
                it.end_iteration("failed", exc)

        It waits at most ``MLOPS_FLUSH_TIMEOUT`` seconds for a store that cannot be written (a
        full disk, a locked database), and then does not raise: it says on stderr what it
        could not write and why, keeps it in :attr:`unwritten`, returns the dict of what was
        logged, and goes on trying in the background until the process exits (calling
        ``end_iteration()`` again waits once more)."""
        return self._end(*end_state(status, error))

    def _end(
        self,
        status: str,
        error: dict[str, str] | None,
        deadline: float | None = None,
        at_exit: bool = False,
    ) -> dict[str, Any]:
        """End as the write path does, then wait for this iteration's files (the model copy
        made now when it did not exist at the call). The system metrics sampler takes its last
        sample first."""
        SAMPLER.stop(self)
        path = self._model_path
        if self._copy_model and not self._model_copied and path and not is_remote(path):
            self._model_copied = self._keep_model(path)
        ended = super()._end(status, error, deadline, at_exit)
        self._wait_for_files()
        return ended

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


def end_state(
    status: object, error: BaseException | str | None
) -> tuple[str, dict[str, str] | None]:
    """The (status, error record) of ``end_iteration(status, error)``, checked."""
    if status not in ENDED_STATUSES:
        raise InvalidInput(
            f"end_iteration(status={status!r}): an iteration ends as one of "
            f"{', '.join(ENDED_STATUSES)}"
        )
    if error is None:
        record = None
    elif isinstance(error, BaseException):
        record = {"type": type(error).__name__, "message": str(error)}
    elif isinstance(error, str):
        record = {"type": "Error", "message": error}
    else:
        raise InvalidInput(
            f"end_iteration(error=...) takes an exception or a message, got {type(error).__name__}"
        )
    if record is not None and status == "finished":
        raise InvalidInput(
            "end_iteration: a finished iteration has no error; end it as 'failed' or 'killed'"
        )
    return str(status), record


def _not_a_dict(what: str, value: Any) -> MlopsError:
    return InvalidInput(f"{what} must be a dict of name: value, got {type(value).__name__}")
