"""The journal: what a training process could not send to the App, kept on disk until it is sent.

When the App is unreachable (or ``MLOPS_MODE=offline``), the HTTP store writes each operation of
the training path (start an iteration, log a batch, update or end it) to a journal file under
``MLOPS_HOME/journal/`` instead, and sends it later: by itself when the App is back, or with
``mlops sync`` (:func:`sync`).

File format
-----------
One file per process, ``<time>-<pid>-<random>.jsonl``, one record per line::

    <crc32 of the JSON, 8 lowercase hex digits> <JSON>\\n

where the JSON is ``{"seq": n, "uri": "http://app:8080", "op": "log_batch", "args": {...}}``:
``seq`` counts the records of the file from 1, ``uri`` is the App the record is meant for, ``op``
one of :data:`OPS` and ``args`` the ``iteration_id`` and the request ``body`` of the REST
contract (:mod:`mlops.wire`; non-finite floats already written as ``"NaN"``...). A
``log_artifact`` record is a file logged while the App was away: its bytes are copied under
``journal/files/`` (up to :data:`~mlops.store.journal_files.SPOOL_LIMIT`) or referenced by path
(:mod:`mlops.store.journal_files`); sending it uploads the bytes, then records the row.

Guarantees
----------
- Records are appended and ``fsync``'d one by one: a record the store reported as kept survives a
  crash of the process or of the machine.
- Each record carries its own checksum, so a torn last line (power cut in the middle of a write)
  or a damaged record loses only that record: reading reports it as :class:`Damage` (its line
  and byte offset), the other records are sent, and the file is kept for inspection (never
  deleted nor truncated): the drain and ``mlops sync`` name it and its damaged lines, and
  ``mlops sync`` exits non-zero until someone has looked and deleted it.
- Which records the App acknowledged is kept next to the file, in ``<name>.acked`` (the highest
  acknowledged ``seq``, replaced atomically). A record counts as synced only once the App answered
  it with success; a file whose records are all synced is deleted with its ``.acked`` file.
- A journaled file that cannot be sent (referenced, and changed or vanished since) is named in
  ``<name>.refused`` (one line each) and skipped; the records after it are sent, and the file
  is kept like a damaged one: ``mlops sync`` names it and exits non-zero until it is deleted.
- Sending a record twice is harmless (ids are made by the client and every write is idempotent
  on the App), so a crash between sending and acknowledging at worst sends a record again.
- The process that writes a journal file holds an exclusive lock on it (``.<name>.lock`` next to
  it, a :mod:`filelock` lock: ``flock`` on POSIX, ``LockFileEx`` on Windows, released by the
  system when the process dies) for as long as it runs, and :func:`sync` takes the same lock
  before replaying a file: a file is written by one process only, never replayed by two
  processes at once, and a running process's file is left to that process.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from mlops.store.journal_format import (
    OPS,
    Damage,
    Record,
    add_refused,
    count_lines,
    describe_damage,
    encode_record,
    journal_dir,
    lock_path,
    new_lock,
    read_acked,
    read_refused,
    record_files,
    record_points,
    remove,
    scan,
    write_acked,
)

__all__ = [
    "OPS",
    "Damage",
    "JournalFile",
    "Record",
    "SyncReport",
    "damaged",
    "describe_damage",
    "journal_dir",
    "pending",
    "read_acked",
    "refused",
    "scan",
    "sync",
    "write_acked",
]

#: Seconds between two writes of the ``.acked`` file while replaying (and once at the end).
ACK_INTERVAL = 0.25
#: Seconds :func:`sync` keeps retrying one record before it stops (the App is down).
SYNC_BUDGET = 10.0


class JournalFile:
    """The journal file of this process: created at the first :meth:`append`, locked while the
    process lives. Not thread-safe: the HTTP store serializes calls with its own lock."""

    def __init__(self, home: Path) -> None:
        self.directory = journal_dir(home)
        self.path: Path | None = None
        self.last_seq = 0
        self.size = 0
        #: Damaged lines found in this file (by byte offset): it is kept when it is closed.
        self.damage: dict[int, Damage] = {}
        #: Files of this file's records that could not be sent (named): it is kept when closed.
        self.refused: list[str] = []
        # (seq, iteration id, points, files) per record
        self._kept: list[tuple[int, str, int, int]] = []
        self._fd: int | None = None
        self._lock: FileLock | None = None
        self._pid = os.getpid()

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.directory / f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        # Locked before the file exists, so a concurrent `mlops sync` never sees it unlocked.
        lock = new_lock(path)
        lock.acquire(blocking=False)  # a new random name: nobody else holds it
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | _BINARY, 0o600)
        except BaseException:
            lock.release()
            lock_path(path).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)  # the file's name survives a crash too
        self.path, self._fd, self._lock, self.last_seq, self.size = path, fd, lock, 0, 0
        self.damage, self._kept, self.refused = {}, [], []
        return fd

    def append(self, uri: str, op: str, args: dict[str, Any]) -> int:
        """Write one record and ``fsync`` it; returns its ``seq``."""
        if self._pid != os.getpid():  # a forked child does not write to its parent's file
            self._fd, self._lock, self.path, self._pid = None, None, None, os.getpid()
        fd = self._fd if self._fd is not None else self._open()
        line = encode_record(Record(self.last_seq + 1, uri, op, args))
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, self.size)  # never leave half a record before the next one
            raise
        self.last_seq += 1
        self.size += len(line)
        iteration = str(args.get("iteration_id", ""))
        self._kept.append((self.last_seq, iteration, record_points(op, args), record_files(op)))
        return self.last_seq

    def pending(self) -> int:
        """How many records of this file the App has not acknowledged yet."""
        if self.path is None:
            return 0
        return self.last_seq - read_acked(self.path)

    def kept(
        self, after: int | None = None, iteration_id: str | None = None
    ) -> tuple[int, int, int]:
        """(metric points, iterations, files) in the records after ``after`` (default: those
        the App has not acknowledged yet), of one iteration when ``iteration_id`` is given."""
        if self.path is None:
            return 0, 0, 0
        acked = read_acked(self.path) if after is None else after
        waiting = [
            entry for entry in self._kept if entry[0] > acked and iteration_id in (None, entry[1])
        ]
        return (
            sum(entry[2] for entry in waiting),
            len({entry[1] for entry in waiting}),
            sum(entry[3] for entry in waiting),
        )

    def unacked(self) -> Iterator[Record | Damage]:
        """The records not acknowledged yet, up to the last complete append (and every damaged
        line of the file)."""
        if self.path is None:
            return iter(())
        return scan(self.path, read_acked(self.path), self.size)

    def close(self, delete: bool) -> None:
        """Release the file (deleting it, and its ``.acked`` file, when everything was sent and
        none of its records is damaged)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)  # before deleting: Windows deletes no open file
        if self.path is not None and delete and not self.damage and not self.refused:
            remove(self.path)
        if self._lock is not None and self._pid == os.getpid():
            self._lock.release()
        self._fd, self._lock, self.path, self.last_seq, self.size = None, None, None, 0, 0
        self._kept, self.refused = [], []


_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":  # Windows opens no directory; NTFS journals names itself
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _files(home: Path) -> list[Path]:
    directory = journal_dir(home)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.jsonl") if not p.name.startswith("."))


def pending(home: Path) -> list[tuple[Path, int]]:
    """Journal files under ``home`` with records the App has not acknowledged, oldest first,
    with how many such records each holds."""
    found = []
    for path in _files(home):
        try:
            count, _bad = count_lines(path, read_acked(path))
        except FileNotFoundError:  # synced and deleted meanwhile
            continue
        if count:
            found.append((path, count))
    return found


def damaged(home: Path) -> list[tuple[Path, list[Damage]]]:
    """Journal files under ``home`` with damaged lines, oldest first, with those lines."""
    found = []
    for path in _files(home):
        try:
            bad = count_lines(path, read_acked(path))[1]
        except FileNotFoundError:
            continue
        if bad:
            found.append((path, bad))
    return found


def refused(home: Path) -> list[tuple[Path, list[str]]]:
    """Journal files under ``home`` with files that could not be sent, with why."""
    found = []
    for path in _files(home):
        messages = read_refused(path)
        if messages:
            found.append((path, messages))
    return found


@dataclass
class SyncReport:
    """What :func:`sync` did.

    ``sent`` records were acknowledged by the App, ``remaining`` records are still to send,
    ``files`` lists the journal files that had records to send. ``damaged`` lists the files with
    damaged records and those records (never sent; the files are kept for inspection). ``busy``
    files belong to a running process (it sends them itself) or another sync; ``errors`` says
    why records remain. ``refused`` lists the files with journaled files that could not be sent
    (changed or vanished since they were logged), with why; those journal files are kept too.
    """

    sent: int = 0
    remaining: int = 0
    files: list[Path] = field(default_factory=list)
    damaged: list[tuple[Path, list[Damage]]] = field(default_factory=list)
    busy: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[tuple[Path, list[str]]] = field(default_factory=list)

    @property
    def skipped_corrupt(self) -> int:
        """How many damaged records were not sent."""
        return sum(len(damage) for _path, damage in self.damaged)


def _lock(path: Path) -> FileLock | None:
    """The exclusive lock of a journal file, held; None when busy or the file is gone."""
    if not path.exists():
        return None
    lock = new_lock(path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return None
    if not path.exists():  # synced and removed by its owner meanwhile
        lock_path(path).unlink(missing_ok=True)
        lock.release()
        return None
    return lock


def sync(
    uri: str | None,
    home: Path,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Send every pending journal record under ``home`` to its App (``uri`` overrides the App
    each record names), oldest file first and in order within a file.

    ``progress(done, total)`` is called after each record. A record counts as synced only after
    the App answered it with success; a fully synced file is deleted, unless some of its records
    are damaged (they are listed in ``damaged`` and the file is kept for inspection). When the
    App cannot be reached, sync stops and reports what remains (run it again later); when the
    App refuses a record (e.g. its experiment does not exist there), the rest of that file is
    kept and the reason is in ``errors``. Files locked by a running process or another sync are
    skipped.
    """
    report = SyncReport()
    locked: list[tuple[Path, FileLock, int]] = []  # (path, its lock, pending records)
    for path, count in pending(home):
        report.files.append(path)
        lock = _lock(path)
        if lock is None:
            report.busy.append(path)
            report.remaining += count
            continue
        locked.append((path, lock, count))
    for path in _files(home):  # files without anything to send: synced, or only damage left
        if path not in report.files and (lock := _lock(path)) is not None:
            try:
                _good, bad = count_lines(path, read_acked(path))
                if bad:
                    report.damaged.append((path, bad))
                if messages := read_refused(path):
                    report.refused.append((path, messages))
                if (
                    not bad and not messages
                ):  # fully synced, left by a crash between the last ack and the delete
                    remove(path)
            finally:
                lock.release()
    total = sum(count for _path, _lock_, count in locked)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    transports: dict[str, Any] = {}
    stopped = False
    try:
        for path, lock, count in locked:
            try:
                if stopped:
                    report.remaining += count
                    continue
                sent, bad, error, unreachable = _replay(path, uri, transports, tick)
                report.sent += sent
                if bad:
                    report.damaged.append((path, bad))
                if messages := read_refused(path):
                    report.refused.append((path, messages))
                if error is None:
                    if not bad and not messages:
                        remove(path)
                else:
                    report.remaining += count - sent
                    report.errors.append(error)
                    stopped = unreachable
            finally:
                lock.release()
    finally:
        for transport in transports.values():
            transport.close()
    report.damaged.sort()
    report.refused.sort()
    return report


def _replay(
    path: Path,
    uri: str | None,
    transports: dict[str, Any],
    tick: Callable[[], None],
) -> tuple[int, list[Damage], str | None, bool]:
    """Send the pending records of one locked file: (sent, damaged lines, error, App
    unreachable)."""
    from mlops.errors import MlopsError
    from mlops.store.http_client import Transport, Unreachable, send_record
    from mlops.store.journal_files import FileRefused

    acked = read_acked(path)
    sent = 0
    bad: list[Damage] = []
    last_ack = time.monotonic()
    error: str | None = None
    unreachable = False
    for record in scan(path, acked):
        if isinstance(record, Damage):
            bad.append(record)
            continue
        target = (uri or record.uri).rstrip("/")
        transport = transports.get(target)
        if transport is None:
            transport = transports[target] = Transport(target)
        try:
            send_record(transport, record, budget=SYNC_BUDGET, journal=path.parent)
        except FileRefused as exc:  # named and kept; the records after it are still sent
            add_refused(path, exc.message)
            acked = record.seq
            tick()
            continue
        except Unreachable as exc:
            error, unreachable = str(exc), True
            break
        except MlopsError as exc:
            error = (
                f"the App at {target} refused record {record.seq} ({record.op}) of {path}: "
                f"{exc.message}; the file is kept"
            )
            break
        acked, sent = record.seq, sent + 1
        tick()
        if time.monotonic() - last_ack >= ACK_INTERVAL:
            write_acked(path, acked)
            last_ack = time.monotonic()
    write_acked(path, acked)
    if error is not None:  # the rest of the file was not read: count its damage too
        bad = count_lines(path, 0)[1]
    return sent, bad, error, unreachable
