"""The journal side of :class:`~mlops.store.http.HttpStore`: sending what it journaled.

A background thread sends the journal, in order, as soon as the App answers again (retrying
with growing delays while it does not); the training path sends it first itself when it writes
(so that the end of a run goes to the App, not to the journal, once it is back); and at the
exit of the process, what is left is sent within ``MLOPS_FLUSH_TIMEOUT`` (counted from the
start of the exit, the tracking library's ending of its iterations included). Damaged records
are reported (file, line, byte offset) and never sent; their file is kept for inspection. One
line on stderr says when the App is back and the journal was sent.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlops.config import flush_timeout
from mlops.errors import MlopsError
from mlops.store.http_client import Transport, Unreachable, send_record
from mlops.store.journal import ACK_INTERVAL, Damage, JournalFile, describe_damage, write_acked
from mlops.store.journal_files import (
    SPOOL_LIMIT,
    FileRefused,
    artifact_body,
    reference,
    spool,
    spool_dir,
)
from mlops.store.journal_format import add_refused

__all__ = ["DRAIN_BUDGET", "JournalDrain"]

#: Seconds the background drain retries one journal record (it tries again later): room for
#: two attempts of a full read timeout, since nobody waits for it.
DRAIN_BUDGET = 32.0
DRAIN_FIRST_DELAY = 1.0
DRAIN_MAX_DELAY = 10.0
#: Seconds between two drain passes once the process exits (the App may answer any moment).
EXIT_RETRY_DELAY = 0.2


class JournalDrain:
    """Drain methods of :class:`~mlops.store.http.HttpStore` (which sets these attributes)."""

    base: str
    offline: bool
    _transport: Transport | None
    _journal: JournalFile
    _lock: threading.Lock  # journal appends and the send-or-journal decision
    _drain_lock: threading.Lock  # one drain pass at a time
    _stop: threading.Event  # the store closes
    _wake: threading.Event  # the drain thread retries at once
    _draining: bool  # a drain thread runs
    _drain_error: str | None  # the App refused a record: draining stops
    _outage: bool  # the journal holds what the App could not take
    _exit_started: float | None
    _exit_deadline: float | None  # the process exits: the drain ends by then
    _app_down = False  # the last attempt found nothing listening at the App's address
    # HttpStore's: journal operations (with ``_lock`` held); the warning of what is kept
    _append: Callable[[Sequence[tuple[str, str, dict[str, Any]]], Exception | None], None]
    _warn_kept: Callable[[], None]

    def _kept(self) -> str:
        return f"{_counts(*self._journal.kept())} kept in {self._journal.path}"

    # -- files ------------------------------------------------------------------------------
    @property
    def journaling(self) -> bool:
        """True when the training path writes to the journal (offline, or the App was away)."""
        return self.offline or self._journal.path is not None

    @property
    def journal_path(self) -> Path | None:
        """The journal file of this process (None while nothing is journaled)."""
        return self._journal.path

    def journal_artifact(
        self,
        iteration_id: str,
        source: Path | None,
        name: str,
        step: int | None,
        media_type: str,
        snapshot: tuple[int, int] | None,
        blob: tuple[str, int] | None = None,
        reason: Exception | None = None,
    ) -> None:
        """Keep a logged file in the journal (:mod:`mlops.store.journal_files`): its bytes up
        to ``SPOOL_LIMIT`` (or when ``snapshot`` is None, a copy the library made), else a
        reference; only the row when ``blob`` (sha256, size) says the App has the bytes.
        Raises ``FileRefused`` when the file changed since ``snapshot``, ``OSError`` when it
        cannot be read or the journal written."""
        if blob is not None:
            body = artifact_body(name, step, media_type, blob[1], blob[0])
        else:
            assert source is not None
            if snapshot is None or snapshot[0] <= SPOOL_LIMIT:
                spooled, digest, size = spool(self._journal.directory, source)
                body = artifact_body(name, step, media_type, size, digest, spooled=spooled)
            else:
                digest, size, mtime_ns = reference(source)
                body = artifact_body(
                    name, step, media_type, size, digest, path=str(source.absolute()),
                    mtime_ns=mtime_ns,
                )  # fmt: skip
            if snapshot is not None:
                stat = source.stat()
                if (size, size) != (stat.st_size, snapshot[0]) or stat.st_mtime_ns != snapshot[1]:
                    if "spool" in body:
                        (spool_dir(self._journal.directory) / body["spool"]).unlink()
                    raise FileRefused(f"{name!r}: {str(source)!r} changed after it was logged")
        with self._lock:
            self._append([("log_artifact", iteration_id, body)], reason)

    def warn_files_kept(self, iteration_id: str) -> None:
        """Say once that an iteration's files went to the journal (when some did)."""
        with self._lock:
            files = self._journal.kept(iteration_id=iteration_id)[2]
        if files:
            self._warn_kept()

    def _start_drain(self) -> None:
        """Start the drain thread unless it runs (called with ``_lock`` held)."""
        if self.offline or self._draining or self._drain_error is not None or self._stop.is_set():
            return
        self._draining = True
        threading.Thread(target=self._drain_loop, name="mlops-journal-drain", daemon=True).start()

    def _drain_loop(self) -> None:
        delay = DRAIN_FIRST_DELAY
        while True:
            if self._exit_deadline is not None:
                delay = min(delay, EXIT_RETRY_DELAY)
            self._wake.wait(delay * random.uniform(0.8, 1.2))
            self._wake.clear()
            if self._stop.is_set():
                break
            outcome = self._drain_pass(None, wait=True)
            if outcome == "done":
                with self._lock:  # records appended since are drained by this thread too
                    if self._journal.path is None:
                        self._draining = False
                        return
            elif outcome == "stop":
                break
            delay = min(delay * 2, DRAIN_MAX_DELAY) if outcome == "retry" else DRAIN_FIRST_DELAY
        with self._lock:
            self._draining = False

    def _drain_pass(self, deadline: float | None, wait: bool) -> str:
        """Send the journal in order: "done" when empty, "progress" when records remain,
        "retry" when the App is still unreachable, "stop" when it refused a record (or the
        store closes). ``deadline`` bounds the pass (None: the background drain, bounded only
        by the exit of the process); ``wait=False`` returns "progress" at once when another pass
        runs."""
        if self._transport is None or self._drain_error is not None:
            return "stop"
        if not self._drain_lock.acquire(blocking=wait):
            return "progress"
        try:
            return self._send_journal(deadline, self._stop)
        finally:
            self._drain_lock.release()

    def _send_journal(self, deadline: float | None, cancel: threading.Event | None) -> str:
        assert self._transport is not None
        with self._lock:
            path, end_seq = self._journal.path, self._journal.last_seq
            records = self._journal.unacked()
        if path is None:
            return "done"
        acked, sent, last_ack, found = 0, 0, 0.0, 0
        try:
            for record in records:
                if cancel is not None and cancel.is_set():
                    return "stop"
                if isinstance(record, Damage):
                    found += record.offset not in self._journal.damage
                    self._journal.damage.setdefault(record.offset, record)
                    continue
                until = deadline if deadline is not None else self._exit_deadline
                budget = DRAIN_BUDGET if until is None else until - time.monotonic()
                if budget <= 0:
                    return "progress"
                try:
                    send_record(self._transport, record, budget, cancel, path.parent)
                except FileRefused as exc:
                    self._journal.refused.append(exc.message)
                    add_refused(path, exc.message)
                    sys.stderr.write(
                        f"mlops: {exc.message}; the journal {path} is kept for inspection: "
                        "delete it once looked at\n"
                    )
                except Unreachable as exc:
                    self._app_down = exc.refused
                    return "progress" if sent else "retry"
                except MlopsError as exc:
                    self._drain_error = exc.message
                    sys.stderr.write(
                        f"mlops: the App at {self.base} refused journal record "
                        f"{record.seq} ({record.op}): {exc.message}; the journal {path} is "
                        "kept, run `mlops sync` once the cause is fixed\n"
                    )
                    return "stop"
                else:
                    sent += 1
                acked, self._app_down = record.seq, False
                if time.monotonic() - last_ack >= ACK_INTERVAL:
                    write_acked(path, acked)
                    last_ack = time.monotonic()
            acked = end_seq  # every record up to the end was sent, or is damaged beyond repair
        finally:
            if acked:
                write_acked(path, acked)
            if found:
                damage = sorted(self._journal.damage.values(), key=lambda d: d.offset)
                sys.stderr.write(f"mlops: {describe_damage(path, damage, sent_others=False)}\n")
        with self._lock:
            if self._journal.path != path or self._journal.pending() != 0:
                return "progress"
            if self._outage and not self.offline:
                sys.stderr.write(
                    f"mlops: the App at {self.base} is back: sent the journal {path} to it "
                    f"({_counts(*self._journal.kept(after=0))})\n"
                )
            self._outage = False
            self._journal.close(delete=True)
            return "done"

    def _mark_exit(self) -> None:
        self._exit_started = time.monotonic()

    def _drain_at_exit(self) -> None:
        """At exit, send what the journal holds for what is left of ``MLOPS_FLUSH_TIMEOUT``
        (counted from the start of the exit); say what stays for ``mlops sync``. The drain
        thread, when it runs, goes on (its request in flight is the one to wait for), now
        bounded by that deadline; otherwise the journal is sent from here. An App that refuses
        connections (down) is tried once more, not waited for."""
        if self._journal.path is None or self._drain_error is not None:
            return
        deadline = (self._exit_started or time.monotonic()) + flush_timeout()
        self._exit_deadline, self._app_down = deadline, False
        self._wake.set()
        while self._journal.path is not None and self._drain_error is None:
            left = deadline - time.monotonic()
            if left <= 0 or self._app_down:
                break
            with self._lock:
                threaded = self._draining
            if threaded:
                time.sleep(min(0.05, left))
            elif self._drain_lock.acquire(timeout=left):
                try:
                    if self._send_journal(deadline, None) != "progress":
                        break
                finally:
                    self._drain_lock.release()
        with self._lock:
            if self._journal.path is not None and self._journal.pending():
                sys.stderr.write(
                    f"mlops: the App at {self.base} did not take the journal within "
                    f"{flush_timeout():g} s (MLOPS_FLUSH_TIMEOUT) at exit: {self._kept()}; "
                    "run `mlops sync` to send them\n"
                )


def _counts(points: int, iterations: int, files: int) -> str:
    """What a journal holds, in words (files only when there are some)."""
    text = f"{points} metric points of {iterations} iteration(s)"
    return f"{text} and {files} file(s)" if files else text
