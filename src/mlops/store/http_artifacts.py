"""The bytes of artifacts through the App: uploads by sha256 (in resumable parts when large),
downloads by iteration and name.

A file is hashed first; the bytes of a large one the App already has are not sent again. A
file up to :data:`PART` bytes goes in one ``PUT /blobs/{sha256}``; a larger one in parts of
``PART`` bytes (``/uploads``), so that a broken connection or an App restart costs one part,
not the file. The App checks the sha256 before the file becomes visible, so a file that
changed while it was sent is refused, never stored under a wrong digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mlops.artifacts.base import CHUNK, Blob
from mlops.entities import Artifact
from mlops.errors import InvalidInput, NotFound, Unavailable
from mlops.store.http_client import part

__all__ = ["PART", "HttpFiles", "file_sha256", "upload"]

#: Bytes of one part of a large upload (and the largest file sent in one request).
PART = 16 << 20
#: Files up to this size are sent without asking first whether the App has them.
SMALL = 1 << 20
#: Small files sent in one request at most (the App takes up to 1,000).
BATCH_FILES = 500
BATCH_BYTES = 16 << 20
#: Seconds an upload in parts waits for the App to come back (a restart) before it gives up,
#: and the pause between two looks.
RESUME_BUDGET = 30.0
RESUME_PAUSE = 0.25
#: Seconds one part may take, retries included.
PART_BUDGET = 120.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def upload(transport: Any, path: Path) -> Blob:
    """Send a local file's bytes to the App through ``transport`` (unless it has them) and
    return the blob (sha256, size)."""
    size = path.stat().st_size
    if size <= SMALL:  # one request: sending it costs less than asking whether to
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        answer = transport.request("PUT", f"/blobs/{digest}", raw=data, budget=PART_BUDGET)
        return Blob(answer["sha256"], answer["size_bytes"])
    digest = file_sha256(path)
    try:
        known = transport.request("GET", f"/blobs/{digest}")
        if known["size_bytes"] == size:
            return Blob(digest, size)
    except NotFound:
        pass
    if size <= PART:
        data = path.read_bytes()
        answer = transport.request("PUT", f"/blobs/{digest}", raw=data, budget=PART_BUDGET)
        return Blob(answer["sha256"], answer["size_bytes"])
    upload_id = transport.request("POST", "/uploads", body={})["upload_id"]
    with open(path, "rb") as fh:
        _send_parts(transport, fh, upload_id, size)
    answer = transport.request("POST", f"/uploads/{upload_id}/finish", body={"sha256": digest})
    return Blob(answer["sha256"], answer["size_bytes"])


def _send_parts(transport: Any, fh: Any, upload_id: str, size: int) -> None:
    """Send a file in parts; when the App goes away (or restarts with part of a part), ask it
    where the upload stands and go on from there, for up to :data:`RESUME_BUDGET` seconds
    without progress."""
    parts = f"/uploads/{upload_id}/parts"
    offset, stalled_since = 0, None
    while offset < size:
        fh.seek(offset)
        chunk = fh.read(PART)
        try:
            answer = transport.request(
                "PUT", parts, params={"offset": offset}, raw=chunk, budget=PART_BUDGET
            )
            offset, stalled_since = answer["offset"], None
            continue
        except InvalidInput as exc:
            if "resume from" not in exc.message:  # a real refusal (too large...), not a resume
                raise
        except Unavailable:
            pass
        stalled_since = stalled_since or time.monotonic()
        if time.monotonic() - stalled_since > RESUME_BUDGET:
            raise Unavailable(
                f"the App stopped taking upload {upload_id} for {RESUME_BUDGET:g} s "
                f"at byte {offset:,} of {size:,}"
            )
        time.sleep(RESUME_PAUSE)
        with contextlib.suppress(Unavailable):
            offset = transport.request("GET", f"/uploads/{upload_id}")["offset"]


class HttpFiles:
    """The App's artifact routes, for the uploader and for downloads."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._sent: dict[tuple[str, int, int], Blob] = {}  # (path, size, mtime) -> its blob

    def prefetch(self, paths: list[Path]) -> None:
        """Send many small files (up to :data:`SMALL` bytes) in few requests (``PUT /blobs``,
        up to :data:`BATCH_FILES` files or :data:`BATCH_BYTES` a request); :meth:`put` then
        answers from what was sent. A failure here costs nothing: :meth:`put` sends the file
        again itself."""
        keys: list[tuple[str, int, int]] = []
        body = bytearray()
        for path in paths:
            stat = path.stat()
            if stat.st_size > SMALL:
                continue
            data = path.read_bytes()
            keys.append((str(path), stat.st_size, stat.st_mtime_ns))
            body += hashlib.sha256(data).digest() + len(data).to_bytes(8, "big") + data
            if len(keys) == BATCH_FILES or len(body) >= BATCH_BYTES:
                self._send_frames(keys, bytes(body))
                keys, body = [], bytearray()
        if keys:
            self._send_frames(keys, bytes(body))

    def _send_frames(self, keys: list[tuple[str, int, int]], body: bytes) -> None:
        answer = self._transport.request("PUT", "/blobs", raw=body, budget=PART_BUDGET)
        for key, blob in zip(keys, answer["blobs"], strict=True):
            self._sent[key] = Blob(blob["sha256"], blob["size_bytes"])

    @property
    def _transport(self) -> Any:
        transport = self._store._transport
        if transport is None:
            from mlops.errors import Unavailable

            raise Unavailable("offline mode (MLOPS_MODE=offline): files are not sent to the App")
        return transport

    def put(self, path: Path) -> Blob:
        """Send a local file's bytes (unless the App has them) and return the blob."""
        stat = path.stat()
        sent = self._sent.pop((str(path), stat.st_size, stat.st_mtime_ns), None)
        return sent if sent is not None else upload(self._transport, path)

    def batch(self) -> AbstractContextManager[None]:
        """Nothing to gather: each file is durable when the App answers."""
        return contextlib.nullcontext()

    def open(self, artifact: Artifact) -> Iterator[bytes]:
        """The bytes of one recorded file of an iteration."""
        params: dict[str, Any] = {"name": artifact.name}
        if artifact.step is not None:
            params["step"] = artifact.step
        path = f"/iterations/{part(artifact.iteration_id)}/artifacts/content"
        return self._transport.download(path, params)
