"""HttpStore: the store behind an App URL (``MLOPS_TRACKING_URI=http://host:port``).

Every :class:`~mlops.store.base.Store` method is one request of the REST contract
(:mod:`mlops.wire`), and an error the App answers is raised as the same class (``NotFound``...).

The training path never fails because of the App. Starting, logging to, updating and ending an
iteration retry while the App is failing (timeouts, ``429``, ``5xx``) with backoff for a bounded
time — a few seconds from the user's thread, a little longer from the background writer, a batch's
read timeout retried at least once — and a refused connection (the App is down) for less than a
second; then they write the operation to the journal (:mod:`mlops.store.journal`) instead and
return normally: ``start_iteration`` with the id the client made, ``end_iteration`` (within
``MLOPS_FLUSH_TIMEOUT``) with the iteration as this process knows it and one warning that says how
many metric points of how many iterations are kept and how to send them. From then on the process
writes to the journal, in order, while a background thread sends it to the App as soon as it
answers again (one line on stderr says so), and the process sends what is left at exit within
``MLOPS_FLUSH_TIMEOUT`` (:mod:`mlops.store.http_drain`); ``mlops sync`` sends what a process left
behind. A flush goes in requests of at most 10,000 points
(:data:`~mlops.store.http_codec.REQUEST_POINTS`), each well inside the read timeout.

Input the App refuses (other ``4xx``) is raised, never journaled: it would fail forever. Reads,
catalog writes (projects, experiments, datasets) and management calls (delete, restore, rename,
tags set or deleted after the fact) need the App's answer: they raise ``Unavailable`` naming
the URL, and are never journaled (their answer is the object as the App has it now).

``MLOPS_MODE=offline`` (air-gapped machines) never touches the network: the training path goes
straight to the journal, which ``mlops sync`` sends later to the App at the tracking URI.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops.config import flush_timeout, mlops_home
from mlops.entities import Dataset, Iteration, ModelFile
from mlops.errors import InvalidInput, MlopsError, Unavailable
from mlops.store import rules
from mlops.store.base import MetricRow, Store
from mlops.store.http_client import (
    LONG_READ_TIMEOUT,
    READ_TIMEOUT,
    Transport,
    Unreachable,
    part,
    route,
)
from mlops.store.http_codec import (
    Shadow,
    batch_body,
    binary_batch,
    iteration_from,
    model_body,
    split,
)
from mlops.store.http_drain import JournalDrain
from mlops.store.http_files import AppFiles
from mlops.store.http_groups import AppGroups
from mlops.store.http_manage import AppManagement
from mlops.store.http_reads import AppReads
from mlops.store.http_starts import HeldStarts
from mlops.store.http_tokens import AppTokens
from mlops.store.http_views import AppViews
from mlops.store.journal import JournalFile
from mlops.wire import (
    IterationCreate,
    IterationUpdate,
    encode_floats,
    to_body,
)
from mlops.wire_batch import BATCH_MEDIA_TYPE

__all__ = ["HttpStore"]

#: Seconds a read retries before raising ``Unavailable``.
READ_BUDGET = 3.0
Op = tuple[str, str, dict[str, Any]]  # (journal operation, iteration id, request body)
#: How many ended iterations a process remembers for the rules of the journal path.
MAX_ENDED = 10_000


class HttpStore(
    HeldStarts,
    JournalDrain,
    AppManagement,
    AppViews,
    AppTokens,
    AppReads,
    AppFiles,
    AppGroups,
    Store,
):
    """The store of an mlops App at ``uri`` (see the module docstring). ``offline=True`` is
    ``MLOPS_MODE=offline``: everything the training path writes goes to the journal."""

    def __init__(
        self, uri: str, offline: bool = False, home: Path | None = None, token: str | None = None
    ) -> None:
        if not uri.startswith(("http://", "https://")):
            raise InvalidInput(f"{uri!r} is not the URL of an mlops App (http://host:port)")
        self.uri = uri
        self.base = uri.rstrip("/")
        self.offline = offline
        self._transport = None if offline else Transport(self.base, token)
        self._journal = JournalFile(home or mlops_home())
        timeout = flush_timeout()
        # end_iteration may wait for a background flush and then retry itself: both together
        # stay inside MLOPS_FLUSH_TIMEOUT, so the data reaches the journal before the exit.
        self._user_budget = max(0.5, min(3.0, timeout * 0.25))
        self._background_budget = max(0.5, min(5.0, timeout * 0.4))
        self._shadows: dict[str, Shadow] = {}
        # (status, ended_at) of iterations this process ended, for the rules while the App is away
        self._ended: dict[str, tuple[str, float | None]] = {}
        self._datasets: dict[str, Dataset] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # the drain thread retries at once
        self._exit_started: float | None = None
        self._exit_deadline: float | None = None
        self._exit_marked = False
        self._init_locks()
        self._init_starts()
        #: None until the App took a binary batch; False: it refused one, send JSON
        self._binary_batches: bool | None = None
        if hasattr(os, "register_at_fork"):  # POSIX only
            os.register_at_fork(after_in_child=self._after_fork)
        if not offline:
            # Registered before the tracking library's own exit hook (which ends the running
            # iterations), so it runs after it: what they journaled is sent before the exit.
            atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        self._send_held()
        self._drain_at_exit()

    def _after_fork(self) -> None:
        self._init_locks()
        self._forget_held()
        # The parent's journal file stays the parent's: a forked child journals in its own.
        self._journal = JournalFile(self._journal.directory.parent)

    def _init_locks(self) -> None:
        self._lock = threading.Lock()  # journal appends and the send-or-journal decision
        self._drain_lock = threading.Lock()  # one drain pass at a time
        self._draining = False  # a drain thread runs
        self._drain_error: str | None = None
        self._outage = False  # the journal holds what the App could not take

    def __repr__(self) -> str:
        return f"<HttpStore {self.base}{' offline' if self.offline else ''}>"

    # -- plumbing ---------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        repeatable: bool = True,
        accept: str | None = None,
        long: bool = False,
    ) -> Any:
        """A request whose answer the caller needs (reads, catalog writes); ``long`` for one
        whose answer may take the App minutes (a whole series of millions of points)."""
        if self._held:  # what this process reads or changes includes what it started
            self._send_held()
        if self._transport is None:
            raise Unavailable(
                f"offline mode (MLOPS_MODE=offline): the App at {self.base} is not contacted, "
                "so projects, experiments, datasets and iterations cannot be read or created; "
                "unset MLOPS_MODE to use the App (training runs are kept in the journal)"
            )
        if self._journal.path is not None and (
            method in ("GET", "PATCH", "DELETE") or path.endswith(("/search", "/restore"))
        ):
            # Show what this process journaled when the App is back (and change it only after
            # it arrived: a rename or a tag must not be overtaken by a journaled write).
            self._drain_pass(time.monotonic() + READ_BUDGET, wait=False)
        return self._transport.request(
            method, path, body=body, params=params, repeatable=repeatable, accept=accept,
            budget=max(READ_BUDGET, LONG_READ_TIMEOUT) if long else READ_BUDGET,
            read_timeout=LONG_READ_TIMEOUT if long else READ_TIMEOUT,
        )  # fmt: skip

    def _write(self, ops: Sequence[Op], budget: float, droppable: bool = False) -> Any:
        """Send training-path operations in order and return the last answer; or, when the App
        cannot be reached within ``budget`` seconds (all of them together), journal the ones
        not sent and return None. ``droppable`` operations (a heartbeat alone) are not worth
        journaling."""
        deadline = time.monotonic() + budget
        ops, started = self._with_start(ops)
        droppable = droppable and not started
        if not self._exit_marked and ops[0][0] != "create_iteration":
            # Registered after the tracking library's exit hook, so it runs before it: the exit
            # starts there, and the journal is drained within MLOPS_FLUSH_TIMEOUT of it.
            self._exit_marked = True
            atexit.register(self._mark_exit)
        if not (self.offline or droppable) and self._journal.path is not None:
            # The App may be back: send what waits first, so that this goes straight to it
            # (the end of a run must not stay in the journal while the App answers).
            self._drain_pass(deadline, wait=False)
        with self._lock:
            if self.offline or self._journal.path is not None:
                if not droppable:
                    self._append(ops, None)
                return None
        assert self._transport is not None
        answer, index = None, 0
        while index < len(ops):
            merged = self._merged(ops[index], ops[index + 1]) if index + 1 < len(ops) else None
            try:
                answer = self._send(ops[index] if merged is None else merged, deadline)
                if merged is not None:
                    self._merged_answered(None)
            except Unreachable as exc:
                if not droppable:
                    with self._lock:
                        self._append(ops[index:], exc)  # a merged start and end: both
                return None
            except MlopsError as exc:
                if merged is None or not self._merged_answered(exc):
                    raise
                continue  # an App older than the merged end: the start, then the end
            index += 1 if merged is None else 2
        return answer

    def _send(self, op: Op, deadline: float) -> Any:
        """One operation's request: a batch of many points in its binary form unless the App
        refused that (an App older than it: then JSON from now on). A batch's read timeout is
        retried (its first attempt gets half the budget); a start or an end keeps one long
        attempt: the user's thread waits for it."""
        budget = max(deadline - time.monotonic(), 0.0)
        kind, iteration_id, body = op
        method, path = route(kind, iteration_id)
        assert self._transport is not None
        retry = kind == "log_batch"
        binary = None if self._binary_batches is False else binary_batch(kind, body)
        if binary is not None:
            try:
                answer = self._transport.request(
                    method, path, raw=binary, raw_type=BATCH_MEDIA_TYPE, budget=budget,
                    retry_timeout=retry,
                )  # fmt: skip
            except InvalidInput:
                if self._binary_batches:
                    raise
                # Refused before the App ever took the form: the same request as JSON. Its
                # error is the data's (raised, the form still untold); its success says that
                # the App does not take the form (an older one): JSON from now on.
                budget = max(deadline - time.monotonic(), 0.0)
                answer = self._transport.request(
                    method, path, body=body, budget=budget, retry_timeout=retry
                )
                self._binary_batches = False
                return answer
            self._binary_batches = True
            return answer
        return self._transport.request(method, path, body=body, budget=budget, retry_timeout=retry)

    def _append(self, ops: Sequence[Op], reason: Exception | None) -> None:
        first = self._journal.path is None
        try:
            for op, iteration_id, body in ops:
                self._journal.append(self.base, op, {"iteration_id": iteration_id, "body": body})
        except OSError as exc:
            raise Unavailable(
                f"the App at {self.base} is unreachable and the journal under "
                f"{self._journal.directory} cannot be written ({exc}): free some disk space"
            ) from None
        if first and reason is not None:
            self._outage = True
            sys.stderr.write(
                f"mlops: {reason}; keeping what is logged in {self._journal.path} and sending "
                "it when the App is back\n"
            )
        self._start_drain()

    def _warn_kept(self) -> None:
        """The one warning of an iteration that ended (or changed) in the journal."""
        if self.offline:
            message = (
                f"mlops: offline mode (MLOPS_MODE=offline): {self._kept()}; run `mlops sync` "
                f"to send them to the App at {self.base} when it is reachable"
            )
        elif self._drain_error is not None:
            message = (
                f"mlops: the App at {self.base} refused a journal record "
                f"({self._drain_error}); {self._kept()}: run `mlops sync` once the cause is fixed"
            )
        else:
            message = (
                f"mlops: the App at {self.base} is unreachable; {self._kept()}; they are sent "
                "when it is back (also at the exit of this process), or run `mlops sync`"
            )
        # Point the warning at the user's code, not at mlops.
        level, frame = 1, sys._getframe(0)
        while frame.f_back is not None and _is_mlops(frame.f_globals.get("__name__", "")):
            frame, level = frame.f_back, level + 1
        warnings.warn(message, UserWarning, stacklevel=level)

    # -- iterations: the training path -----------------------------------------------------
    def create_iteration(
        self,
        iteration_id: str,
        name: str,
        experiment_id: str | None,
        project_id: str | None,
        started_at: float,
        system: Mapping[str, Any],
        heartbeat: bool = True,
        new: bool = False,
    ) -> Iteration:
        rules.check_iteration(iteration_id, name, started_at, system)
        body = to_body(
            IterationCreate(iteration_id, name, started_at, experiment_id, project_id,
                            encode_floats(dict(system)), heartbeat)
        )  # fmt: skip
        op: Op = ("create_iteration", iteration_id, body)
        away = self.offline or self._journal.path is not None
        held = None if away or not new else self._project_to_hold(experiment_id, project_id)
        answer = None
        if held is not None:  # sent with the iteration's first request (http_starts)
            project_id = held
            self._hold(op)
        else:
            answer = self._write([op], self._user_budget)
        if answer is not None:
            iteration = iteration_from(answer)
            self._confirm_experiment(iteration.experiment_id, iteration.project_id)
        else:  # held, or journaled (the App makes it when the journal is sent)
            iteration = Iteration(
                iteration_id, name, project_id or "", experiment_id or "", "running",
                started_at, None, started_at if heartbeat else None, system=dict(system),
            )  # fmt: skip
        self._shadows[iteration_id] = Shadow(iteration)
        return iteration

    def log_batch(
        self,
        iteration_id: str,
        parameters: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricRow] | None = None,
        dataset_ids: Sequence[str] | None = None,
        heartbeat_at: float | None = None,
        tags: Mapping[str, str] | None = None,
        every_value: bool = False,
    ) -> None:
        rules.check_batch(parameters, metrics, dataset_ids, heartbeat_at, tags)
        if not isinstance(every_value, bool):
            raise InvalidInput(f"every_value must be True or False, got {every_value!r:.100}")
        known = self._state_if_away(iteration_id)
        has_data = bool(parameters or metrics or dataset_ids or tags)
        if known is not None and not rules.check_batch_of(iteration_id, *known, has_data):
            return  # a late heartbeat of an ended iteration
        shadow = self._shadows.get(iteration_id)
        if shadow is not None:
            shadow.add_batch(parameters, metrics, dataset_ids, tags, self._datasets)
        chunks = split(metrics)
        ops: list[Op] = []
        for index, chunk in enumerate(chunks):
            first, last = index == 0, index == len(chunks) - 1
            body = batch_body(
                parameters if first else None, chunk, dataset_ids if first else None,
                tags if first else None, heartbeat_at if last else None, every_value,
            )  # fmt: skip
            ops.append(("log_batch", iteration_id, body))
        self._write(ops, self._background_budget, droppable=not has_data)

    def update_iteration(
        self,
        iteration_id: str,
        status: str | None = None,
        ended_at: float | None = None,
        error: Mapping[str, str] | None = None,
        model: ModelFile | None = None,
        heartbeat_at: float | None = None,
    ) -> Iteration:
        rules.check_update(status, ended_at, error, model, heartbeat_at)
        body = to_body(
            IterationUpdate(status, ended_at, heartbeat_at, _error(error), model_body(model))
        )
        del body["name"]  # renaming is a management call (rename_iteration), never journaled
        shadow = self._shadows.get(iteration_id)
        if shadow is None:  # not started here: nothing to answer with while the App is away
            return iteration_from(self._call("PATCH", f"/iterations/{part(iteration_id)}", body))
        known = self._state_if_away(iteration_id)
        if known is not None:
            rules.check_update_of(iteration_id, *known, status, ended_at, heartbeat_at)
        shadow.update(status, ended_at, error, model, heartbeat_at)
        answer = self._write([("update_iteration", iteration_id, body)], self._user_budget)
        if answer is not None:
            return iteration_from(answer)
        self._warn_kept()
        return shadow.iteration()

    def end_iteration(
        self,
        iteration_id: str,
        status: str,
        ended_at: float,
        error: Mapping[str, str] | None = None,
        model: ModelFile | None = None,
        parameters: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricRow] | None = None,
        dataset_ids: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Iteration:
        rules.check_end(status, ended_at, error, model)
        rules.check_batch(parameters, metrics, dataset_ids, None, tags)
        chunks = split(metrics)
        ops: list[Op] = []
        for index, chunk in enumerate(chunks):
            first = index == 0
            batch = batch_body(
                parameters if first else None, chunk, dataset_ids if first else None,
                tags if first else None,
            )  # fmt: skip
            if index < len(chunks) - 1:
                ops.append(("log_batch", iteration_id, batch))
                continue
            empty = not (batch["parameters"] or batch["metrics"] or batch["dataset_ids"]
                         or batch["tags"])  # fmt: skip
            end = {"status": status, "ended_at": ended_at, "error": _error(error),
                   "model": model_body(model), "batch": None if empty else batch}  # fmt: skip
            ops.append(("end_iteration", iteration_id, end))
        shadow = self._shadows.get(iteration_id)
        if shadow is None:  # not started here: nothing to answer with while the App is away
            answer: Any = None
            for op, op_id, body in ops:
                answer = self._call(*route(op, op_id), body)
            return iteration_from(answer)
        known = self._state_if_away(iteration_id)
        has_batch = bool(parameters or metrics or dataset_ids or tags)
        if known is not None and not rules.check_end_of(
            iteration_id, *known, status, ended_at, has_batch
        ):
            return shadow.iteration()  # ended already: a retry
        shadow.add_batch(parameters, metrics, dataset_ids, tags, self._datasets)
        shadow.update(status, ended_at, error, model)
        answer = self._write(ops, self._user_budget)
        self._shadows.pop(iteration_id, None)
        ended = shadow.iteration() if answer is None else iteration_from(answer)
        if len(self._ended) >= MAX_ENDED:
            self._ended.pop(next(iter(self._ended)))
        self._ended[iteration_id] = (ended.status, ended.ended_at)
        if answer is None:
            self._warn_kept()
        return ended

    def resume(self, iteration_id: str) -> Iteration:
        """Reopen the iteration on the App (which needs to answer: ``Unavailable`` when it
        cannot be reached); what is logged to it afterwards takes the training path."""
        answer = self._call("POST", f"/iterations/{part(iteration_id)}/resume", {})
        iteration = iteration_from(answer)
        self._ended.pop(iteration_id, None)
        self._shadows[iteration_id] = Shadow(iteration)
        return iteration

    def _state_if_away(self, iteration_id: str) -> tuple[str, float | None] | None:
        """(status, ended_at) of an iteration as this process knows it, when writes go to the
        journal (the App cannot be asked, so the rules run on what this process wrote); None
        when they go to the App, which decides."""
        if not (self.offline or self._journal.path is not None):
            return None
        shadow = self._shadows.get(iteration_id)
        if shadow is not None:
            changes, base = shadow.changes, shadow.base
            return changes.get("status", base.status), changes.get("ended_at", base.ended_at)
        return self._ended.get(iteration_id)

    def close(self) -> None:
        """Stop the drain, close the connections and release the journal file (kept when it
        still holds records: ``mlops sync`` sends them)."""
        self._send_held()
        self._stop.set()
        self._wake.set()
        self._held_wake.set()
        atexit.unregister(self._at_exit)
        atexit.unregister(self._mark_exit)
        # Let a drain pass finish its record and acknowledgement; one stuck in a long request
        # keeps the journal and the connections (they go with the process).
        if not self._drain_lock.acquire(timeout=READ_TIMEOUT + 1):
            return
        try:
            with self._lock:
                self._journal.close(delete=self._journal.pending() == 0)
            if self._transport is not None:
                self._transport.close()
        finally:
            self._drain_lock.release()


def _error(error: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if error is None else dict(error)


def _is_mlops(module: str) -> bool:
    return module == "mlops" or module.startswith("mlops.")
