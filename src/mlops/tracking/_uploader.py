"""The background uploader of a process: hashes and sends logged files, records them.

``log_artifact`` and friends only check the name, note the file's size and modification time,
and queue a job: the training loop never waits for disk or network. One daemon thread sends the
jobs in order: it reads the file into the artifact store (which hashes it on the way), then
records the artifact rows, many files per transaction.

What is kept is the bytes as they were at the call: a file whose size or modification time
changed before it was read is reported by name on stderr and not recorded (its bytes are never
stored under a name they do not belong to). Spooled files (``log_text``, ``log_dict``, ...) are
removed once sent.

When the store is an App that cannot be reached (its journal is in use, ``MLOPS_MODE=offline``,
or an upload finds it down), a file goes to the store's journal instead, at once
(:mod:`mlops.store.journal_files`), and is sent with it when the App is back or by
``mlops sync``. :meth:`Uploader.keep_in_journal` does the same for the files still queued when
``end_iteration()`` is interrupted (Ctrl-C).

:meth:`Uploader.wait` lets ``end_iteration()`` wait for an iteration's files while they make
progress: it gives up after ``MLOPS_UPLOAD_TIMEOUT`` seconds (default 60) without a byte sent.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.entities import Artifact
from mlops.errors import InvalidInput, MlopsError, Unavailable
from mlops.store.base import Store
from mlops.store.journal_files import FileRefused
from mlops.tracking._files import media_type

if TYPE_CHECKING:
    from mlops.tracking._artifacts import Files

__all__ = ["UPLOADER", "Job", "Uploader", "upload_timeout"]

#: Rows recorded in one store call at most.
ROWS_PER_CALL = 1000


def upload_timeout() -> float:
    """Seconds ``end_iteration()`` waits for uploads that make no progress
    (``MLOPS_UPLOAD_TIMEOUT``, default 60)."""
    raw = os.environ.get("MLOPS_UPLOAD_TIMEOUT", "60")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise InvalidInput(
            f"MLOPS_UPLOAD_TIMEOUT={raw!r} is not a number of seconds: set it to e.g. 60"
        ) from None


@dataclass(frozen=True)
class Job:
    """One file to send: where it is, what it is called, and how it was at the call."""

    store: Store
    files: Files
    iteration_id: str
    source: Path
    name: str
    #: None: guessed from the name by the uploader (mimetypes reads its tables on first use,
    #: which the training loop should not pay for)
    media_type: str | None
    size: int
    step: int | None = None
    #: (size, mtime_ns) at the call; None for a spooled copy that nothing else touches.
    snapshot: tuple[int, int] | None = None
    spooled: bool = False


def snapshot(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file, to tell later whether it changed."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class Uploader:
    """Sends queued files in the background (see the module docstring)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Condition()
        self._pending: dict[str, int] = defaultdict(int)  # files not yet done, per iteration
        self._bytes_done = 0
        self._bytes_queued = 0
        self._thread: threading.Thread | None = None
        self._current: list[Job] = []  # the batch being sent
        self.failures: dict[str, list[str]] = defaultdict(list)

    def submit(self, job: Job) -> None:
        """Queue a file; returns at once."""
        with self._lock:
            self._pending[job.iteration_id] += 1
            self._bytes_queued += job.size
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="mlops-uploader", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def pending(self, iteration_id: str) -> int:
        """How many files of an iteration are not sent yet."""
        with self._lock:
            return self._pending.get(iteration_id, 0)

    def wait(self, iteration_id: str, stall: float | None = None) -> int:
        """Wait until an iteration's files are sent, or until ``stall`` seconds pass without
        progress (default ``MLOPS_UPLOAD_TIMEOUT``); returns how many are left."""
        stall = upload_timeout() if stall is None else stall
        progress = _Progress() if sys.stderr.isatty() else None
        with self._lock:
            last_done, last_change = self._bytes_done, time.monotonic()
            while self._pending.get(iteration_id, 0):
                self._lock.wait(0.2)
                if self._bytes_done != last_done:
                    last_done, last_change = self._bytes_done, time.monotonic()
                if progress is not None:
                    progress.show(self._bytes_done, self._bytes_queued)
                if time.monotonic() - last_change > stall:
                    break
            left = self._pending.get(iteration_id, 0)
        if progress is not None:
            progress.done()
        return left

    # -- the background thread --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < ROWS_PER_CALL:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            with self._lock:
                self._current = batch
            self._send(batch)

    def _send(self, batch: list[Job]) -> None:
        rows: dict[tuple[int, str], list[Artifact]] = defaultdict(list)
        stores: dict[tuple[int, str], Store] = {}
        self._prefetch(batch)
        try:
            with contextlib.ExitStack() as stack:  # one sync of the disk for the whole batch
                for files in {id(job.files): job.files for job in batch}.values():
                    stack.enter_context(files.batch())
                for job in batch:
                    artifact = self._store_bytes(job)
                    if artifact is not None:
                        key = (id(job.store), job.iteration_id)
                        rows[key].append(artifact)
                        stores[key] = job.store
        except OSError as exc:  # the batch's bytes could not be made durable
            for key, artifacts in rows.items():
                self._fail(key[1], f"could not store {len(artifacts)} file(s): {exc}")
            rows.clear()
        for key, artifacts in rows.items():
            try:
                stores[key].log_artifacts(key[1], artifacts)
            except Unavailable as exc:  # the App went away: the rows wait in the journal
                if not self._rows_to_journal(stores[key], key[1], artifacts, exc):
                    names = ", ".join(a.name for a in artifacts[:5])
                    self._fail(
                        key[1], f"could not record {len(artifacts)} file(s) ({names}): {exc}"
                    )
            except MlopsError as exc:
                names = ", ".join(a.name for a in artifacts[:5])
                self._fail(key[1], f"could not record {len(artifacts)} file(s) ({names}): {exc}")
        with self._lock:
            self._current = []
            self._done([job.iteration_id for job in batch])

    def _prefetch(self, batch: list[Job]) -> None:
        """Let a backend that can send many small files at once do so (the App: one request
        for hundreds); what it could not send, each job sends by itself."""
        by_files: dict[int, tuple[Any, list[Path]]] = {}
        for job in batch:
            prefetch = getattr(job.files, "prefetch", None)
            if prefetch is not None and not getattr(job.store, "journaling", False):
                by_files.setdefault(id(job.files), (prefetch, []))[1].append(job.source)
        for prefetch, paths in by_files.values():
            if len(paths) > 1:
                with contextlib.suppress(MlopsError, OSError):
                    prefetch(paths)

    def _done(self, iteration_ids: list[str]) -> None:
        """Count files as done (called with ``_lock`` held)."""
        for iteration_id in iteration_ids:
            self._pending[iteration_id] -= 1
            if not self._pending[iteration_id]:
                del self._pending[iteration_id]
        self._lock.notify_all()

    def _store_bytes(self, job: Job) -> Artifact | None:
        """The artifact row for a job once its bytes are stored; None when it could not be."""
        try:
            if job.snapshot is not None and snapshot(job.source) != job.snapshot:
                self._changed(job)
                return None
            if getattr(job.store, "journaling", False):  # the App is away: no need to try
                self._to_journal(job, None)
                return None
            try:
                blob = job.files.put(job.source)
            except Unavailable as exc:
                if not hasattr(job.store, "journal_artifact"):
                    raise
                self._to_journal(job, exc)
                return None
            if job.snapshot is not None and snapshot(job.source) != job.snapshot:
                self._changed(job)
                return None
        except FileNotFoundError:
            self._fail(
                job.iteration_id, f"{job.name!r}: {str(job.source)!r} vanished before it was read"
            )
            return None
        except (MlopsError, OSError) as exc:
            self._fail(job.iteration_id, f"could not store {job.name!r}: {exc}")
            return None
        finally:
            with self._lock:
                self._bytes_done += job.size
                self._lock.notify_all()
        if job.spooled:
            job.source.unlink(missing_ok=True)
        media = job.media_type or media_type(job.name)
        return Artifact(
            job.iteration_id, job.name, blob.size, blob.digest, media, time.time(), job.step
        )

    def _to_journal(self, job: Job, reason: Exception | None) -> None:
        """Keep a file in the store's journal (the App cannot be reached); never a row now."""
        media = job.media_type or media_type(job.name)
        try:
            job.store.journal_artifact(  # type: ignore[attr-defined]
                job.iteration_id, job.source, job.name, job.step, media, job.snapshot,
                reason=reason,
            )  # fmt: skip
        except FileRefused:
            self._changed(job)
            return
        if job.spooled:
            job.source.unlink(missing_ok=True)

    def _rows_to_journal(
        self, store: Store, iteration_id: str, artifacts: list[Artifact], reason: Exception
    ) -> bool:
        """Keep rows whose bytes the App has in the store's journal; False when it has none."""
        keep = getattr(store, "journal_artifact", None)
        if keep is None:
            return False
        try:
            for a in artifacts:
                keep(iteration_id, None, a.name, a.step, a.media_type, None,
                     blob=(a.sha256, a.size_bytes), reason=reason)  # fmt: skip
        except (MlopsError, OSError) as exc:
            self._fail(
                iteration_id, f"could not keep {len(artifacts)} file(s) in the journal: {exc}"
            )
        return True

    def keep_in_journal(self, iteration_id: str) -> int:
        """Move an iteration's files not sent yet into its store's journal (``end_iteration()``
        was interrupted; ``mlops sync`` sends them); returns how many were kept. Files of a
        store without a journal stay queued."""
        with self._queue.mutex:
            queued = [
                job for job in self._queue.queue
                if job.iteration_id == iteration_id and hasattr(job.store, "journal_artifact")
            ]  # fmt: skip
            for job in queued:
                self._queue.queue.remove(job)
        with self._lock:
            # The batch in flight may still finish: sending it twice is harmless.
            flying = [j for j in self._current if j.iteration_id == iteration_id]
            self._done([job.iteration_id for job in queued])
        kept = 0
        for job in queued + [j for j in flying if hasattr(j.store, "journal_artifact")]:
            try:
                self._to_journal(job, None)
                kept += 1
            except FileNotFoundError:
                if job in queued:
                    self._fail(iteration_id, f"{job.name!r}: {str(job.source)!r} vanished")
            except (MlopsError, OSError) as exc:
                self._fail(iteration_id, f"could not keep {job.name!r} in the journal: {exc}")
        return kept

    def _changed(self, job: Job) -> None:
        self._fail(
            job.iteration_id,
            f"{job.name!r}: {str(job.source)!r} changed after it was logged, so it was not kept "
            "(log a file once it is written, under a new name each time, or with copy=False)",
        )

    def _fail(self, iteration_id: str, message: str) -> None:
        self.failures[iteration_id].append(message)
        sys.stderr.write(f"mlops: {message}\n")


class _Progress:
    """A one-line progress bar of the uploads on stderr (only drawn on a terminal)."""

    def __init__(self) -> None:
        self._shown = 0.0

    def show(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._shown < 0.25 or total <= 0:
            return
        self._shown = now
        share = min(done / total, 1.0)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\rmlops: uploading files [{bar:<30}] {done / 2**20:,.1f} MiB")
        sys.stderr.flush()

    def done(self) -> None:
        if self._shown:
            sys.stderr.write("\n")


UPLOADER = Uploader()
