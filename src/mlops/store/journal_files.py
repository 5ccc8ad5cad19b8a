"""Files in the journal: artifacts logged while the App could not be reached.

A ``log_artifact`` record names the iteration, the file's name, step, media type, size and
sha256, and where its bytes are:

- ``"spool"``: a file up to :data:`SPOOL_LIMIT` bytes (and every copy the library made itself,
  ``log_text``, ``log_dict``, ...) is copied into ``MLOPS_HOME/journal/files/`` (``fsync``'d
  before its record is written), so the training script may change or delete its own file;
- ``"path"`` with ``"mtime_ns"``: a larger file is journaled by reference, and must still be
  there, unchanged (size, modification time and sha256), when the journal is sent;
- neither: the bytes already reached the App, only the row is missing.

Sending a record uploads the bytes (unless the App has them: blobs are content-addressed) and
then records the row (keyed by iteration, name and step), so sending it twice is harmless. A
referenced file that changed or vanished, or a spooled copy that no longer matches its sha256,
is refused by name (:class:`FileRefused`): its journal file is kept for inspection.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from mlops.artifacts.base import CHUNK

__all__ = ["SPOOL_LIMIT", "FileRefused", "artifact_body", "send_artifact", "spool", "spool_dir"]

#: Files up to this many bytes are copied into the journal; larger ones are journaled by
#: reference (their path, size, modification time and sha256).
SPOOL_LIMIT = 8 << 20


class FileRefused(Exception):
    """A journaled file cannot be sent: the referenced file changed or vanished since it was
    logged, or its spooled copy is damaged. The message names it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def spool_dir(journal: Path) -> Path:
    """The folder of the spooled copies of the journal files in ``journal`` (a directory)."""
    return journal / "files"


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def spool(journal: Path, source: Path) -> tuple[str, str, int]:
    """Copy ``source`` into the journal's spool folder, durably: (spool name, sha256, size)."""
    folder = spool_dir(journal)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    name = secrets.token_hex(8)
    tmp = folder / f".{name}.tmp"
    size = 0
    try:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        final = f"{digest.hexdigest()}-{name}"
        os.replace(tmp, folder / final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final, digest.hexdigest(), size


def reference(source: Path) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns) of a file journaled by reference."""
    stat = source.stat()
    return _hash(source), stat.st_size, stat.st_mtime_ns


def artifact_body(
    name: str,
    step: int | None,
    media_type: str,
    size: int,
    sha256: str,
    spooled: str | None = None,
    path: str | None = None,
    mtime_ns: int | None = None,
) -> dict[str, Any]:
    """The body of a ``log_artifact`` journal record (see the module docstring)."""
    body: dict[str, Any] = {
        "name": name, "step": step, "media_type": media_type, "size_bytes": size,
        "sha256": sha256,
    }  # fmt: skip
    if spooled is not None:
        body["spool"] = spooled
    if path is not None:
        body["path"], body["mtime_ns"] = path, mtime_ns
    return body


def _source(journal: Path, body: dict[str, Any]) -> Path | None:
    """The local file holding a record's bytes, checked; None when only the row is missing."""
    name, sha256 = body["name"], body["sha256"]
    if "spool" in body:
        source = spool_dir(journal) / str(body["spool"])
        if not source.exists():  # sent before, then the acknowledgement was lost
            return None
        if _hash(source) != sha256:
            raise FileRefused(
                f"{name!r}: its copy in the journal ({source}) no longer matches its sha256 "
                f"{sha256}, so it was not sent"
            )
        return source
    if "path" not in body:
        return None
    source = Path(str(body["path"]))
    try:
        stat = source.stat()
    except FileNotFoundError:
        raise FileRefused(
            f"{name!r}: {str(source)!r} was journaled by reference and has vanished since it "
            "was logged, so it was not sent"
        ) from None
    changed = (stat.st_size, stat.st_mtime_ns) != (body["size_bytes"], body["mtime_ns"])
    if changed or _hash(source) != sha256:
        raise FileRefused(
            f"{name!r}: {str(source)!r} was journaled by reference and has changed since it "
            "was logged (size, modification time or sha256), so it was not sent"
        )
    return source


def send_artifact(transport: Any, journal: Path, args: dict[str, Any]) -> Any:
    """Upload a ``log_artifact`` record's bytes (unless the App has them) and record its row;
    then remove its spooled copy. Raises :class:`FileRefused`, ``Unreachable`` or the error
    the App answered."""
    from mlops.errors import NotFound
    from mlops.store.http_artifacts import upload
    from mlops.store.http_client import part

    body = dict(args["body"])
    source = _source(journal, body)
    if source is not None:
        blob = upload(transport, source)
        if blob.digest != body["sha256"]:
            raise FileRefused(
                f"{body['name']!r}: {str(source)!r} changed while it was sent, so it was not kept"
            )
    elif "spool" in body:
        try:
            transport.request("GET", f"/blobs/{body['sha256']}")
        except NotFound:
            raise FileRefused(
                f"{body['name']!r}: its copy in the journal is missing and the App does not "
                "have its bytes, so it was not sent"
            ) from None
    row = {k: body[k] for k in ("name", "sha256", "size_bytes", "media_type", "step")}
    answer = transport.request(
        "POST", f"/iterations/{part(args['iteration_id'])}/artifacts", body={"artifacts": [row]}
    )
    if source is not None and "spool" in body:
        source.unlink(missing_ok=True)
    return answer
