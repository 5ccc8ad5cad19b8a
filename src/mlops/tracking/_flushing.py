"""How an iteration's logged data reaches the store: the writer's flushes and the end.

A ``log_*`` call only fills the iteration's buffers. :meth:`WritePath._flush` (the background
writer, every second) moves them into the iteration's :class:`~mlops.tracking._outbox.Outbox`
and writes it in batches; a store that fails (a full disk, a database that stays locked) keeps
the data in memory, up to ``MLOPS_MAX_BUFFERED_POINTS`` points, for the next try. The end of an
iteration writes what is left and the end state, retrying for at most ``MLOPS_FLUSH_TIMEOUT``
seconds; it never raises because the store could not be written: it reports on stderr what
was not written and why, remembers it (``Iteration.unwritten``), and the background writer goes
on trying until the process exits.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from mlops.config import flush_timeout, redact_uri
from mlops.entities import ModelFile
from mlops.errors import MlopsError
from mlops.store import MetricRow, Store
from mlops.tracking._datasets import file_sha256
from mlops.tracking._outbox import PERMANENT_ERRORS, Outbox
from mlops.tracking._writer import WRITER

if TYPE_CHECKING:
    from mlops.tracking._iteration import Iteration

_time = time.time

#: Seconds between the background writer's tries of a store that failed.
RETRY_INTERVAL = 1.0


class WritePath:
    """The flushing and ending half of :class:`~mlops.tracking.Iteration` (its state is set up
    by ``Iteration._setup``)."""

    _store: Store | None
    _data: dict[str, Any]
    id: str
    name: str
    _points: collections.deque[MetricRow]
    _ranges: dict[str, list[float]]
    _pending_lock: threading.Lock
    _flush_lock: threading.Lock
    _points_lock: threading.Lock
    _params: dict[str, Any]
    _datasets: list[str]
    _tags: dict[str, str]
    _outbox: Outbox
    _not_kept: int
    _model_path: str | None
    _model: ModelFile | None
    _ended: bool
    _ending: tuple[str, dict[str, str] | None, float] | None
    _final: bool
    _gave_up: bool
    _reported: bool
    _warned: bool
    _retry_at: float  # time.monotonic() of the next background try of a failing store

    @property
    def unwritten(self) -> dict[str, Any] | None:
        """What could not be written to the store (counts of metric points, parameters, tags,
        dataset links, points not kept past ``MLOPS_MAX_BUFFERED_POINTS``, and the error), or
        None when everything logged so far was written or is on its way (while the iteration
        runs, or once the store has ended it)."""
        outbox = self._outbox
        refused = any(outbox.lost.values())
        end_pending = self._ending is not None and not (self._final or self._gave_up)
        dropped = outbox.not_kept or self._not_kept
        if outbox.error is None and not (dropped or refused or end_pending):
            return None
        return outbox.unwritten(self._not_kept)

    def _take_buffers(self) -> None:
        """Move what was logged since the last call into the outbox (under the flush lock)."""
        points = self._points
        with self._points_lock:
            rows = [points.popleft() for _ in range(len(points))]
            not_kept, self._not_kept = self._not_kept, 0
        with self._pending_lock:
            params, self._params = self._params, {}
            datasets, self._datasets = self._datasets, []
            tags, self._tags = self._tags, {}
        fold_ranges(self._ranges, rows)
        outbox = self._outbox
        before = outbox.not_kept
        outbox.not_kept += not_kept
        outbox.add(rows, params, tags, datasets)
        if outbox.not_kept and not before:
            sys.stderr.write(
                f"mlops: iteration {self.name!r} ({self.id}) holds "
                f"MLOPS_MAX_BUFFERED_POINTS={outbox.max_points:,} unwritten points: the points "
                "logged from now on are counted but not kept until the store accepts writes\n"
            )

    def _write_batch(self, heartbeat: bool) -> Any:
        store, iteration_id = self._store, self.id
        assert store is not None

        def write(**records: Any) -> None:
            store.log_batch(iteration_id, heartbeat_at=_time() if heartbeat else None, **records)

        return write

    def _flush(self, heartbeat: bool = False, eager: bool = True) -> None:
        """Write everything buffered, in batches; what a failing store refuses is kept for the
        next try. Never raises for a store that fails. Not ``eager`` (the background writer,
        woken by every full batch), a store that failed is tried again once a second only."""
        with self._flush_lock:
            # Read before taking the buffers: the end is set after the last point is logged,
            # so an end seen here comes with every point in the buffers taken next.
            ending = self._ending
            self._take_buffers()
            outbox = self._outbox
            failing = outbox.error is not None
            if failing and not eager and time.monotonic() < self._retry_at:
                outbox.pack()
                return
            self._retry_at = time.monotonic() + RETRY_INTERVAL
            if ending is not None:
                if not (self._final or self._gave_up):
                    self._finish()
                return
            if outbox.empty() and not heartbeat:
                return
            if outbox.empty():
                # A missed heartbeat is harmless: the next one is in a few seconds.
                with contextlib.suppress(MlopsError):
                    self._write_batch(heartbeat)()
                return
            if outbox.send(self._write_batch(heartbeat)):
                if failing:
                    sys.stderr.write(
                        f"mlops: iteration {self.name!r} ({self.id}): the store accepts writes "
                        "again; what was kept in memory is written\n"
                    )
                    self._warned = False
                return
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"mlops: could not write iteration {self.name!r} yet ({outbox.error}); "
                    f"keeping the data in memory (at most MLOPS_MAX_BUFFERED_POINTS="
                    f"{outbox.max_points:,} points) and retrying every second",
                    stacklevel=1,
                )

    def _finish(self) -> bool:
        """Write the outbox and the end state (under the flush lock). True when the store has
        ended the iteration or refused it for good; False when a retry may succeed."""
        assert self._ending is not None and self._store is not None
        status, error, ended_at = self._ending
        outbox = self._outbox
        if not outbox.send(self._write_batch(False), keep_last=True):
            return False
        chunk = outbox.head()
        try:
            ended = self._store.end_iteration(
                self.id, status, ended_at, error=error, model=self._model,
                parameters=outbox.parameters or None, metrics=chunk or None,
                dataset_ids=outbox.datasets or None, tags=outbox.tags or None,
            )  # fmt: skip
        except PERMANENT_ERRORS as exc:
            lost = outbox.lost
            lost["points"] += len(chunk)
            lost["parameters"] += len(outbox.parameters)
            lost["tags"] += len(outbox.tags)
            lost["datasets"] += len(outbox.datasets)
            outbox.take_sent(chunk)
            outbox.error = exc
            self._gave_up = True
            WRITER.unregister(cast("Iteration", self))
            return True
        except MlopsError as exc:
            outbox.error = exc
            return False
        outbox.take_sent(chunk)
        outbox.error = None
        self._data = ended.to_dict()
        with self._pending_lock:
            self._final = True
            late = self._reported  # end_iteration has already said it could not write this
        WRITER.unregister(cast("Iteration", self))
        if late:
            self._report_late_end()
        return True

    def _finish_until(self, deadline: float) -> None:
        pause = 0.05
        while True:
            with self._flush_lock:
                self._take_buffers()
                if self._final or self._gave_up or self._finish():
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)

    def _unsent_summary(self) -> str:
        text = self._outbox.summary()
        buffered = len(self._points)
        return f"{text} (+{buffered:,} points not yet taken)" if buffered else text

    def _end(
        self,
        status: str,
        error: dict[str, str] | None,
        deadline: float | None = None,
        at_exit: bool = False,
    ) -> dict[str, Any]:
        with self._pending_lock:
            first = not self._ended
            self._ended = True
        if first:
            if self._model_path is not None:
                known = file_sha256(self._model_path)
                self._model = ModelFile(self._model_path, *(known or (None, None)))
            self._ending = (status, error, _time())
        if not (self._final or self._gave_up):
            if deadline is None:
                deadline = time.monotonic() + flush_timeout()
            # It stops a little before the deadline, to leave time for the report. A store
            # that gives up by the deadline (SQLite: a lock waited for until then) ends on this
            # thread; any other on a thread, so that a call that blocks (a database locked
            # for minutes) cannot hold the training script past the deadline.
            deadline -= min(0.2, max(deadline - time.monotonic(), 0.0) / 10)
            assert self._store is not None
            with self._store.bounded(deadline) as bounded:
                if bounded:
                    self._finish_until(deadline)
            if not bounded:
                ENDERS.run(self._finish_until, deadline)
            with self._pending_lock:
                report = not self._final or self.unwritten is not None
                self._reported = self._reported or report
            if report:
                self._report_unwritten(at_exit)
        return dict(cast(Mapping[str, Any], self))

    def _store_name(self) -> str:
        return redact_uri(self._store.uri) if self._store is not None else "the store"

    def _report_unwritten(self, at_exit: bool) -> None:
        outbox = self._outbox
        where = f"iteration {self.name!r} ({self.id}) to {self._store_name()}"
        if self._final or self._gave_up:
            reason = outbox.error or f"more than MLOPS_MAX_BUFFERED_POINTS={outbox.max_points:,}"
            sys.stderr.write(
                f"mlops: ended, but could not write all of {where} ({reason}): "
                f"{self._unsent_summary()}; what is not written is lost\n"
            )
            return
        if at_exit:
            fate = "it is lost (the process is exiting)"
        else:
            fate = (
                "it is kept in memory and retried in the background until the process exits "
                "(call end_iteration() again to wait for it)"
            )
        reason = outbox.error or "the store did not answer in time"
        sys.stderr.write(
            f"mlops: gave up after {flush_timeout():g} s (MLOPS_FLUSH_TIMEOUT) writing {where} "
            f"({reason}): {self._unsent_summary()} not written; {fate}\n"
        )

    def _report_late_end(self) -> None:
        status = self._data.get("status")
        not_kept = self._outbox.not_kept
        sys.stderr.write(
            f"mlops: iteration {self.name!r} ({self.id}) is now written and ended ({status})"
            + (f"; {not_kept:,} points were not kept" if not_kept else "")
            + "\n"
        )

    def _end_quietly(
        self, status: str, error: dict[str, str] | None, deadline: float | None = None
    ) -> None:
        try:
            self._end(status, error, deadline, at_exit=True)
        except Exception as exc:
            sys.stderr.write(
                f"mlops: could not end iteration {self.name!r} ({self.id}): {exc}; "
                f"{self._unsent_summary()} not written\n"
            )


class _Ender:
    """A thread that runs one end at a time, kept for the next one."""

    def __init__(self, pool: Enders) -> None:
        self._pool = pool
        self._jobs: queue.SimpleQueue[tuple[Callable[[float], None], float, threading.Event]]
        self._jobs = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="mlops-end", daemon=True).start()

    def submit(self, job: Callable[[float], None], deadline: float) -> threading.Event:
        done = threading.Event()
        self._jobs.put((job, deadline, done))
        return done

    def _serve(self) -> None:
        while True:
            job, deadline, done = self._jobs.get()
            try:
                job(deadline)
            except Exception as exc:  # said, as a thread of its own would; the thread stays
                sys.stderr.write(
                    f"mlops: ending an iteration failed: {type(exc).__name__}: {exc}\n"
                )
            finally:
                kept = self._pool.give_back(self)
                done.set()
            if not kept:
                return


class Enders:
    """Threads that write the ends of iterations, so that a store call that blocks cannot hold
    the training script past its deadline. An idle thread is reused (starting one for every
    end cost more than a small iteration's whole write); a thread still blocked in a store
    call past its deadline is not waited for: the next end gets another."""

    def __init__(self) -> None:
        self._idle: list[_Ender] = []
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # POSIX only (not on Windows)
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A forked child has none of these threads (and a lock held by one stays held).
        self._idle = []
        self._lock = threading.Lock()

    def run(self, job: Callable[[float], None], deadline: float) -> None:
        """Run ``job(deadline)`` on an end thread; return when it is done or at the deadline."""
        with self._lock:
            ender = self._idle.pop() if self._idle else None
        if ender is None:
            ender = _Ender(self)
        ender.submit(job, deadline).wait(max(deadline - time.monotonic(), 0.0))

    def give_back(self, ender: _Ender) -> bool:
        """Keep ``ender`` for the next end (False: enough are kept, it stops)."""
        with self._lock:
            if len(self._idle) >= 4:
                return False
            self._idle.append(ender)
            return True


ENDERS = Enders()


def fold_ranges(ranges: dict[str, list[float]], rows: list[MetricRow]) -> None:
    """Widen each metric's [min, max] by these points (NaN ignored)."""
    for name, _step, value, _ts in rows:
        if value != value:
            continue
        known = ranges.get(name)
        if known is None:
            ranges[name] = [value, value]
        elif value < known[0]:
            known[0] = value
        elif value > known[1]:
            known[1] = value
