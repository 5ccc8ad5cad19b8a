"""Starts the HTTP store holds back for a moment, so that a short iteration is one request.

An iteration started in an experiment this process has already started one in (so the App has
said the experiment exists, and which project holds it) is not sent at once: ``start_iteration``
returns the iteration as this process made it, and its start goes to the App with the first
request about it — merged into ``POST /iterations/{id}/end`` when that is the first (a trial of a
sweep, started and ended within a moment: one request instead of two) — or after
:data:`START_DELAY` seconds by a background thread, whichever comes first. Any other request of
the store (a read, a search, a rename) sends every held start first, so the process always
reads what it wrote. An App older than the merged end (it answers ``NotFound``: it ignored the
start) gets the start and the end as two requests from then on.

What is held is never dropped: closing the store, a fork and the process's exit send it, and a
start the App cannot take now goes to the journal like any other write
(:meth:`HttpStore._write <mlops.store.http.HttpStore._write>`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError, NotFound

__all__ = ["START_DELAY", "HeldStarts"]

#: Seconds an iteration's start may wait for a request to ride with (it shows in the App then).
START_DELAY = 0.2
Op = tuple[str, str, dict[str, Any]]  # (journal operation, iteration id, request body)
_MERGED = ("create_iteration", "end_iteration")


class HeldStarts:
    """The held starts of one HTTP store (a mixin of :class:`~mlops.store.http.HttpStore`,
    which provides ``_write``, ``_background_budget`` and ``_stop``)."""

    _background_budget: float
    _stop: threading.Event

    def _init_starts(self) -> None:
        #: experiment id -> its project, for experiments the App confirmed to this process
        self._experiments: dict[str, str] = {}
        self._held: dict[str, tuple[Op, float]] = {}  # iteration id -> (create op, send by)
        self._held_lock = threading.RLock()  # held while a start is taken and sent: in order
        self._held_wake = threading.Event()
        self._held_thread: threading.Thread | None = None
        #: None until the App has answered a merged end; False: it is older, send two requests
        self._merged_ends: bool | None = None

    def _confirm_experiment(self, experiment_id: str, project_id: str) -> None:
        self._experiments[experiment_id] = project_id

    def _project_to_hold(self, experiment_id: str | None, project_id: str | None) -> str | None:
        """The project of a start that may be held (None: send it now, the App must answer)."""
        if experiment_id is None or self._merged_ends is False:
            return None
        known = self._experiments.get(experiment_id)
        return known if project_id in (None, known) else None

    def _hold(self, op: Op) -> None:
        with self._held_lock:
            self._held[op[1]] = (op, time.monotonic() + START_DELAY)
            if self._held_thread is None:
                self._held_thread = threading.Thread(
                    target=self._send_held_in_time, name="mlops-held-starts", daemon=True
                )
                self._held_thread.start()
        self._held_wake.set()

    def _with_start(self, ops: Sequence[Op]) -> tuple[list[Op], bool]:
        """``ops`` of one iteration with its held start first, if any (and whether it had one).
        Taken under the lock: a start the background thread is sending arrives first."""
        with self._held_lock:
            held = self._held.pop(ops[0][1], None) if self._held else None
        return ([held[0], *ops], True) if held is not None else (list(ops), False)

    def _merged(self, create: Op, end: Op) -> Op | None:
        """The end with the start in it, when the App takes that (None: send both)."""
        kinds = (create[0], end[0])
        if self._merged_ends is False or kinds != _MERGED or create[1] != end[1]:
            return None
        return (end[0], end[1], {**end[2], "start": create[2]})

    def _merged_answered(self, error: MlopsError | None) -> bool:
        """Learn from a merged end's answer whether the App makes the start; True when the
        start and the end must be sent again separately (an App older than the merged end)."""
        if error is None:
            self._merged_ends = True
            return False
        if isinstance(error, NotFound) and self._merged_ends is None:
            self._merged_ends = False
            return True
        raise error

    def _send_held(self, due_by: float | None = None) -> None:
        """Send the held starts (those due by ``due_by``, or all). A start the App refuses
        cannot be raised to anyone: it is said on stderr, and the iteration's next request
        gets the App's answer itself."""
        with self._held_lock:
            if not self._held:
                return
            due = [op for op, by in self._held.values() if due_by is None or by <= due_by]
            for op in due:
                del self._held[op[1]]
                try:
                    self._write([op], self._background_budget)
                except MlopsError as exc:
                    sys.stderr.write(
                        f"mlops: the App did not take the start of iteration {op[1]}: {exc}\n"
                    )

    def _send_held_in_time(self) -> None:
        while not self._stop.is_set():
            self._held_wake.wait()
            with self._held_lock:
                first = min((by for _, by in self._held.values()), default=None)
                if first is None:
                    self._held_wake.clear()
                    continue
            if self._stop.wait(max(first - time.monotonic(), 0.0)):
                return  # closing: close() sends what is held
            self._send_held(time.monotonic())

    def _forget_held(self) -> None:
        """In a forked child: the parent's held starts are the parent's to send."""
        self._init_starts()

    if TYPE_CHECKING:  # the HTTP store's own

        def _write(self, ops: Sequence[Op], budget: float, droppable: bool = False) -> Any: ...
