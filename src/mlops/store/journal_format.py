"""The journal's file format: records, their checksums, damaged lines, acknowledgements, locks.

See :mod:`mlops.store.journal` for the format and its guarantees; this module reads and writes
single files and knows nothing of the App.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

__all__ = [
    "OPS",
    "Damage",
    "Record",
    "acked_path",
    "add_refused",
    "count_lines",
    "describe_damage",
    "encode_record",
    "journal_dir",
    "lock_path",
    "new_lock",
    "read_acked",
    "read_refused",
    "record_files",
    "record_points",
    "refused_path",
    "remove",
    "scan",
    "write_acked",
]

#: The operations a journal record can hold, named after the store methods.
OPS = ("create_iteration", "log_batch", "update_iteration", "end_iteration", "log_artifact")
_SEQ_PREFIX = b'{"seq":'


@dataclass(frozen=True, slots=True)
class Record:
    """One journaled operation: ``op`` with its ``args``, meant for the App at ``uri``."""

    seq: int
    uri: str
    op: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Damage:
    """A damaged line of a journal file: its number (from 1), its byte offset and what is wrong.
    Its record cannot be read, so it is never sent."""

    line: int
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} (byte {self.offset}): {self.reason}"


def describe_damage(path: Path, damage: Sequence[Damage], sent_others: bool = True) -> str:
    """The message naming a journal file's damaged records, what became of them and the fix."""
    shown = "; ".join(str(d) for d in damage[:5])
    if len(damage) > 5:
        shown += f"; and {len(damage) - 5} more"
    others = "its other records were sent; " if sent_others else ""
    return (
        f"{len(damage)} damaged record(s) in the journal file {path} ({shown}) cannot be read "
        f"and were not sent; {others}the file is kept for inspection: delete it once looked at"
    )


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


def record_points(op: str, args: Mapping[str, Any]) -> int:
    """How many metric points a record carries (a batch, or the last batch of an end)."""
    body = args.get("body") or {}
    if op == "end_iteration":
        body = body.get("batch") or {}
    return len(body.get("metrics") or ()) if op in ("log_batch", "end_iteration") else 0


def record_files(op: str) -> int:
    """How many files a record carries."""
    return 1 if op == "log_artifact" else 0


def _check_line(line: bytes) -> tuple[int, bytes] | str:
    """(seq, JSON bytes) of an intact line, or what is wrong with a damaged or torn one."""
    if not line.endswith(b"\n"):
        return "torn: the file ends inside this record (its write was cut off)"
    if len(line) < 10 or line[8:9] != b" ":
        return "not a journal record (no checksum)"
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return "its checksum does not match its content"
        if not body.startswith(_SEQ_PREFIX):
            return "not a journal record (no seq)"
        return int(body[len(_SEQ_PREFIX) : body.index(b",")]), body
    except ValueError:
        return "not a journal record (bad checksum or seq)"


def _decode(body: bytes) -> Record | str:
    try:
        data = json.loads(body)
        record = Record(int(data["seq"]), str(data["uri"]), str(data["op"]), dict(data["args"]))
    except (ValueError, KeyError, TypeError):
        return "its JSON is not a journal record"
    return record if record.op in OPS else f"unknown operation {record.op!r}"


def scan(path: Path, after: int = 0, end: int | None = None) -> Iterator[Record | Damage]:
    """The records of a journal file with ``seq > after``, in order, and a :class:`Damage` for
    each damaged line wherever it is (bad checksum, bad JSON, torn tail). ``end`` stops at that
    byte (a live file's committed size)."""
    with open(path, "rb") as fh:
        offset = 0
        for number, line in enumerate(fh, 1):
            if end is not None and offset + len(line) > end:
                return
            checked = _check_line(line)
            if isinstance(checked, str):
                yield Damage(number, offset, checked)
            elif checked[0] > after:
                decoded = _decode(checked[1])
                yield Damage(number, offset, decoded) if isinstance(decoded, str) else decoded
            offset += len(line)


def count_lines(path: Path, after: int) -> tuple[int, list[Damage]]:
    """(records with seq > after, damaged lines) of a file, without decoding the JSON."""
    good, bad = 0, []
    with open(path, "rb") as fh:
        offset = 0
        for number, line in enumerate(fh, 1):
            checked = _check_line(line)
            if isinstance(checked, str):
                bad.append(Damage(number, offset, checked))
            elif checked[0] > after:
                good += 1
            offset += len(line)
    return good, bad


def acked_path(path: Path) -> Path:
    """Where the highest acknowledged ``seq`` of a journal file is kept."""
    return path.with_name(path.name + ".acked")


def lock_path(path: Path) -> Path:
    """The lock file of a journal file (hidden, next to it)."""
    return path.with_name(f".{path.name}.lock")


def read_acked(path: Path) -> int:
    """The highest acknowledged ``seq`` of a journal file (0 when none)."""
    try:
        return int(acked_path(path).read_text(encoding="ascii").strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def write_acked(path: Path, seq: int) -> None:
    """Record that the App acknowledged every record up to ``seq`` (atomic replace)."""
    target = acked_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{seq}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def refused_path(path: Path) -> Path:
    """Where the files of a journal file that could not be sent are named, one a line."""
    return path.with_name(path.name + ".refused")


def read_refused(path: Path) -> list[str]:
    """Why files of a journal file were refused (empty when none was)."""
    try:
        return refused_path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def add_refused(path: Path, message: str) -> None:
    """Note that a file of a journal file was refused: the journal file is kept until someone
    has looked at it and deleted it."""
    with open(refused_path(path), "a", encoding="utf-8") as fh:
        fh.write(message.replace("\n", " ") + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def remove(path: Path) -> None:
    """Delete a fully synced journal file, its ``.acked`` and ``.refused`` files and its lock
    file (call it with the lock held: whoever takes the lock next finds the journal file
    gone)."""
    path.unlink(missing_ok=True)
    acked_path(path).unlink(missing_ok=True)
    refused_path(path).unlink(missing_ok=True)
    lock_path(path).unlink(missing_ok=True)


def new_lock(path: Path) -> FileLock:
    """The (not yet acquired) lock of a journal file."""
    # Not thread-local: the thread that releases (close, exit) is not always the one that took it.
    return FileLock(lock_path(path), thread_local=False)
