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
contract (:mod:`mlops.wire`; non-finite floats already written as ``"NaN"``...).

Guarantees
----------
- Records are appended and ``fsync``'d one by one: a record the store reported as kept survives a
  crash of the process or of the machine.
- Each record carries its own checksum, so a torn last line (power cut in the middle of a write)
  or a damaged record loses only that record: reading skips it and counts it.
- Which records the App acknowledged is kept next to the file, in ``<name>.acked`` (the highest
  acknowledged ``seq``, replaced atomically). A record counts as synced only once the App answered
  it with success; a file whose records are all synced is deleted with its ``.acked`` file.
- Sending a record twice is harmless (ids are made by the client and every write is idempotent
  on the App), so a crash between sending and acknowledging at worst sends a record again.
- The process that writes a journal file holds an exclusive ``flock`` on it for as long as it
  runs, and :func:`sync` takes the same lock before replaying a file: a file is never replayed by
  two processes at once, and a running process's file is left to that process.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OPS", "JournalFile", "Record", "SyncReport", "journal_dir", "pending", "sync"]

#: The operations a journal record can hold, named after the store methods.
OPS = ("create_iteration", "log_batch", "update_iteration", "end_iteration")
#: Seconds between two writes of the ``.acked`` file while replaying (and once at the end).
ACK_INTERVAL = 0.25
#: Seconds :func:`sync` keeps retrying one record before it stops (the App is down).
SYNC_BUDGET = 10.0
_SEQ_PREFIX = b'{"seq":'


@dataclass(frozen=True, slots=True)
class Record:
    """One journaled operation: ``op`` with its ``args``, meant for the App at ``uri``."""

    seq: int
    uri: str
    op: str
    args: dict[str, Any]


def journal_dir(home: Path) -> Path:
    """The folder of the journal files (``MLOPS_HOME/journal``)."""
    return Path(home) / "journal"


def encode_record(record: Record) -> bytes:
    """One line of a journal file."""
    body = json.dumps(
        {"seq": record.seq, "uri": record.uri, "op": record.op, "args": record.args},
        separators=(",", ":"),
        allow_nan=False,
        ensure_ascii=False,
    ).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _check_line(line: bytes) -> tuple[int, bytes] | None:
    """(seq, JSON bytes) of an intact line, None for a damaged or torn one."""
    if len(line) < 10 or not line.endswith(b"\n") or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body) or not body.startswith(_SEQ_PREFIX):
            return None
        return int(body[len(_SEQ_PREFIX) : body.index(b",")]), body
    except ValueError:
        return None


def _decode(body: bytes) -> Record | None:
    try:
        data = json.loads(body)
        record = Record(int(data["seq"]), str(data["uri"]), str(data["op"]), dict(data["args"]))
    except (ValueError, KeyError, TypeError):
        return None
    return record if record.op in OPS else None


def scan(path: Path, after: int = 0, end: int | None = None) -> Iterator[Record | None]:
    """The records of a journal file with ``seq > after``, in order; ``None`` for each damaged
    line (bad checksum, bad JSON, torn tail). ``end`` stops at that byte (a live file's
    committed size)."""
    with open(path, "rb") as fh:
        read = 0
        for line in fh:
            read += len(line)
            if end is not None and read > end:
                return
            checked = _check_line(line)
            if checked is None:
                yield None
                continue
            seq, body = checked
            if seq > after:
                yield _decode(body)


def _count(path: Path, after: int) -> tuple[int, int]:
    """(records with seq > after, damaged lines) of a file, without decoding the JSON."""
    good = bad = 0
    with open(path, "rb") as fh:
        for line in fh:
            checked = _check_line(line)
            if checked is None:
                bad += 1
            elif checked[0] > after:
                good += 1
    return good, bad


def _acked_path(path: Path) -> Path:
    return path.with_name(path.name + ".acked")


def read_acked(path: Path) -> int:
    """The highest acknowledged ``seq`` of a journal file (0 when none)."""
    try:
        return int(_acked_path(path).read_text(encoding="ascii").strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def write_acked(path: Path, seq: int) -> None:
    """Record that the App acknowledged every record up to ``seq`` (atomic replace)."""
    target = _acked_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{seq}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def remove(path: Path) -> None:
    """Delete a fully synced journal file and its ``.acked`` file."""
    path.unlink(missing_ok=True)
    _acked_path(path).unlink(missing_ok=True)


class JournalFile:
    """The journal file of this process: created at the first :meth:`append`, locked while the
    process lives. Not thread-safe: the HTTP store serializes calls with its own lock."""

    def __init__(self, home: Path) -> None:
        self.directory = journal_dir(home)
        self.path: Path | None = None
        self.last_seq = 0
        self.size = 0
        self._fd: int | None = None
        self._pid = os.getpid()

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        # Locked before it gets its name, so a concurrent `mlops sync` never sees it unlocked.
        creating = self.directory / f".{name}.creating"
        fd = os.open(creating, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.replace(creating, self.directory / name)
        _fsync_directory(self.directory)  # the file's name survives a crash too
        self.path, self._fd, self.last_seq, self.size = self.directory / name, fd, 0, 0
        return fd

    def append(self, uri: str, op: str, args: dict[str, Any]) -> int:
        """Write one record and ``fsync`` it; returns its ``seq``."""
        if self._pid != os.getpid():  # a forked child does not write to its parent's file
            self._fd, self.path, self._pid = None, None, os.getpid()
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
        return self.last_seq

    def pending(self) -> int:
        """How many records of this file the App has not acknowledged yet."""
        if self.path is None:
            return 0
        return self.last_seq - read_acked(self.path)

    def unacked(self) -> Iterator[Record | None]:
        """The records not acknowledged yet, up to the last complete append."""
        if self.path is None:
            return iter(())
        return scan(self.path, read_acked(self.path), self.size)

    def close(self, delete: bool) -> None:
        """Release the file (deleting it, and its ``.acked`` file, when everything was sent)."""
        if self.path is not None and delete:
            remove(self.path)
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self.path, self.last_seq, self.size = None, None, 0, 0


def _fsync_directory(directory: Path) -> None:
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
            count, _bad = _count(path, read_acked(path))
        except FileNotFoundError:  # synced and deleted meanwhile
            continue
        if count:
            found.append((path, count))
    return found


@dataclass
class SyncReport:
    """What :func:`sync` did.

    ``sent`` records were acknowledged by the App, ``skipped_corrupt`` damaged records were
    skipped (each one is lost), ``remaining`` records are still to send, ``files`` lists the
    journal files that had records to send. ``busy`` files belong to a running process (it sends
    them itself) or another sync; ``errors`` says why records remain.
    """

    sent: int = 0
    skipped_corrupt: int = 0
    remaining: int = 0
    files: list[Path] = field(default_factory=list)
    busy: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _lock(path: Path) -> int | None:
    """An fd holding the exclusive lock of a journal file, None when busy or gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino != os.stat(path).st_ino:  # replaced or deleted meanwhile
            raise FileNotFoundError(path)
    except OSError:
        os.close(fd)
        return None
    return fd


def sync(
    uri: str | None,
    home: Path,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Send every pending journal record under ``home`` to its App (``uri`` overrides the App
    each record names), oldest file first and in order within a file.

    ``progress(done, total)`` is called after each record. A record counts as synced only after
    the App answered it with success; a fully synced file is deleted. When the App cannot be
    reached, sync stops and reports what remains (run it again later); when the App refuses a
    record (e.g. its experiment does not exist there), the rest of that file is kept and the
    reason is in ``errors``. Files locked by a running process or another sync are skipped.
    """
    report = SyncReport()
    locked: list[tuple[Path, int, int]] = []  # (path, fd, pending records)
    for path, count in pending(home):
        report.files.append(path)
        fd = _lock(path)
        if fd is None:
            report.busy.append(path)
            report.remaining += count
            continue
        locked.append((path, fd, count))
    for path in _files(home):  # fully synced files left by a crash between ack and delete
        if path not in report.files and (fd := _lock(path)) is not None:
            if _count(path, read_acked(path))[0] == 0:
                remove(path)
            os.close(fd)
    total = sum(count for _path, _fd, count in locked)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    transports: dict[str, Any] = {}
    stopped = False
    try:
        for path, fd, count in locked:
            try:
                if stopped:
                    report.remaining += count
                    continue
                sent, corrupt, error, unreachable = _replay(path, uri, transports, tick)
                report.sent += sent
                report.skipped_corrupt += corrupt
                if error is None:
                    remove(path)
                else:
                    report.remaining += count - sent
                    report.errors.append(error)
                    stopped = unreachable
            finally:
                os.close(fd)
    finally:
        for transport in transports.values():
            transport.close()
    return report


def _replay(
    path: Path,
    uri: str | None,
    transports: dict[str, Any],
    tick: Callable[[], None],
) -> tuple[int, int, str | None, bool]:
    """Send the pending records of one locked file: (sent, damaged, error, App unreachable)."""
    from mlops.errors import MlopsError
    from mlops.store.http_client import Transport, Unreachable, send_record

    acked = read_acked(path)
    sent = corrupt = 0
    last_ack = time.monotonic()
    error: str | None = None
    unreachable = False
    for record in scan(path, acked):
        if record is None:
            corrupt += 1
            sys.stderr.write(f"mlops: skipped a damaged record in {path} (lost)\n")
            continue
        target = (uri or record.uri).rstrip("/")
        transport = transports.get(target)
        if transport is None:
            transport = transports[target] = Transport(target)
        try:
            send_record(transport, record, budget=SYNC_BUDGET)
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
    return sent, corrupt, error, unreachable
