"""The background writer of a process: flushes buffered data, beats hearts, ends runs at exit.

One daemon thread serves every active iteration of the process. It wakes every second (or as
soon as an iteration has a full batch), writes each iteration's buffer in one store call, and
writes a heartbeat every few seconds so that readers can tell a dead process (``crashed``).

At exit the iterations still running are ended: ``finished`` after a normal exit, ``failed`` with
the exception after an uncaught one, ``killed`` after Ctrl-C or SIGTERM. That final flush is
bounded by ``MLOPS_FLUSH_TIMEOUT`` so a process never hangs on its way out; whatever could not
be written is reported on stderr.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from mlops.config import flush_timeout
from mlops.entities import HEARTBEAT_INTERVAL

if TYPE_CHECKING:
    from mlops.tracking._iteration import Iteration

FLUSH_INTERVAL = 1.0


class Writer:
    """Flushes the active iterations of this process in the background."""

    def __init__(self) -> None:
        self._active: dict[str, Iteration] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._hooks_installed = False
        self._uncaught: BaseException | None = None
        self._previous_sigterm: Any = None

    # -- registry ---------------------------------------------------------------------------
    def register(self, iteration: Iteration) -> None:
        with self._lock:
            self._active[iteration.id] = iteration
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mlops-writer", daemon=True)
                self._thread.start()
            if not self._hooks_installed:
                self._install_hooks()

    def unregister(self, iteration: Iteration) -> None:
        with self._lock:
            self._active.pop(iteration.id, None)

    def active(self, iteration_id: str) -> Iteration | None:
        return self._active.get(iteration_id)

    def wake(self) -> None:
        self._wake.set()

    # -- the background loop ----------------------------------------------------------------
    def _run(self) -> None:
        last_beat = time.time()
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            now = time.time()
            beat = now - last_beat >= HEARTBEAT_INTERVAL
            with self._lock:
                iterations = list(self._active.values())
            for iteration in iterations:
                try:
                    iteration._flush(heartbeat=beat, eager=False)
                except Exception as exc:  # the writer must outlive any one failure
                    sys.stderr.write(
                        f"mlops: the background writer failed on iteration {iteration.id}: "
                        f"{type(exc).__name__}: {exc}\n"
                    )
            if beat:
                last_beat = now

    # -- the end of the process -------------------------------------------------------------
    def _install_hooks(self) -> None:
        self._hooks_installed = True
        atexit.register(self.end_all_at_exit)
        previous_excepthook = sys.excepthook

        def excepthook(
            kind: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            self._uncaught = exc
            previous_excepthook(kind, exc, tb)

        sys.excepthook = excepthook
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGTERM)
            if current is not signal.SIG_IGN:
                self._previous_sigterm = current
                signal.signal(signal.SIGTERM, self._on_sigterm)
        if hasattr(os, "register_at_fork"):  # POSIX only (not on Windows)
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A forked child does not own its parent's iterations.
        self._active.clear()
        self._thread = None
        self._lock = threading.Lock()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.end_all("killed", {"type": "SIGTERM", "message": "the process was terminated"})
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    def end_all_at_exit(self) -> None:
        exc = self._uncaught
        if exc is None:
            self.end_all("finished", None)
        elif isinstance(exc, KeyboardInterrupt):
            self.end_all("killed", {"type": "KeyboardInterrupt", "message": "interrupted (Ctrl-C)"})
        else:
            self.end_all("failed", {"type": type(exc).__name__, "message": str(exc)})

    def end_all(self, status: str, error: dict[str, str] | None) -> None:
        """End every active iteration, waiting at most ``MLOPS_FLUSH_TIMEOUT`` seconds in all."""
        with self._lock:
            iterations = list(self._active.values())
        if not iterations:
            return
        deadline = time.monotonic() + flush_timeout()
        for iteration in iterations:
            worker = threading.Thread(
                target=iteration._end_quietly, args=(status, error, deadline), daemon=True
            )
            worker.start()
            worker.join(max(deadline - time.monotonic(), 0.0))
            if worker.is_alive():
                sys.stderr.write(
                    f"mlops: gave up after {flush_timeout():g} s (MLOPS_FLUSH_TIMEOUT) writing "
                    f"iteration {iteration.id} ({iteration.name!r}): {iteration._unsent_summary()} "
                    "not written\n"
                )


WRITER = Writer()
