"""Artifacts in a local folder: ``$MLOPS_HOME/artifacts`` embedded, ``mlops app --artifacts PATH``.

Layout (every path is made here from a digest or an upload id, never from a name)::

    ROOT/blobs/ab/cd/abcd…   a blob, named by its sha256, read-only once written
    ROOT/uploads/<id>        the staged bytes of an upload in parts
    ROOT/tmp/                blobs being written (renamed into blobs/ once checked)

A blob is written to ``tmp/``, fsynced, checked and renamed into place, so a crash leaves either
the whole blob or none of it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from mlops.artifacts.base import CHUNK, ArtifactStore, Blob, Hasher, no_blob, no_upload
from mlops.artifacts.names import blob_key, check_digest, upload_key
from mlops.errors import InvalidInput, Unavailable

__all__ = ["LocalArtifacts"]


class LocalArtifacts(ArtifactStore):
    """Blobs in the folder ``root`` (made on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.uri = self.root.as_uri()
        self._hashers: dict[str, Hasher] = {}  # uploads whose every part this process saw
        self._lock = threading.Lock()
        self._deferred: list[tuple[Path, str]] | None = None  # written, not yet synced

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Write many blobs with one sync of the disk instead of two per blob: inside, blobs
        are written and checked but put in place only when the block ends, after one sync
        (10,000 small files cost two syncs, not 20,000). For one thread at a time."""
        self._deferred = []
        try:
            yield
        finally:
            pending, self._deferred = self._deferred, None
            try:
                _sync([tmp for tmp, _ in pending])
                for tmp, digest in pending:
                    self._place(tmp, digest, sync=False)
                _sync([])
            finally:
                for tmp, _ in pending:
                    tmp.unlink(missing_ok=True)

    # -- blobs ------------------------------------------------------------------------------
    def _blob(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self._blob(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self._blob(digest).stat().st_size
        except FileNotFoundError:
            raise no_blob(digest) from None

    def stored_at(self, digest: str) -> float:
        try:
            return self._blob(digest).stat().st_mtime
        except FileNotFoundError:
            raise no_blob(digest) from None

    def write(self, chunks: Iterable[bytes], digest: str | None = None) -> Blob:
        with _storage_errors(self.root):
            tmp_dir = self.root / "tmp"
            tmp_dir.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / uuid.uuid4().hex
            hasher = Hasher()
            deferred = self._deferred
            try:
                with open(tmp, "wb") as fh:
                    for chunk in chunks:
                        hasher.update(chunk)
                        fh.write(chunk)
                    if deferred is None:
                        fh.flush()
                        os.fsync(fh.fileno())
                blob = hasher.check(digest)
                if deferred is not None:
                    deferred.append((tmp, blob.digest))
                    return blob
                self._place(tmp, blob.digest)
            finally:
                if deferred is None:
                    tmp.unlink(missing_ok=True)
            return blob

    def _place(self, staged: Path, digest: str, sync: bool = True) -> None:
        """Move checked bytes to their blob path (keeping an existing copy of the same bytes)."""
        final = self._blob(digest)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        if sync:
            _fsync_dir(final.parent)

    def read(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_digest(digest)
        try:
            fh = open(self._blob(digest), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise no_blob(digest) from None
        return _chunks(fh, start, end)

    def delete(self, digest: str) -> None:
        with _storage_errors(self.root):
            self._blob(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        blobs = self.root / "blobs"
        if not blobs.is_dir():
            return
        for path in blobs.glob("*/*/*"):
            yield path.name

    # -- uploads in parts -------------------------------------------------------------------
    def _staged(self, upload_id: str) -> Path:
        return self.root / upload_key(upload_id)

    def start_upload(self) -> str:
        upload_id = uuid.uuid4().hex
        with _storage_errors(self.root):
            staged = self._staged(upload_id)
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.touch()
        with self._lock:
            self._hashers[upload_id] = Hasher()
        return upload_id

    def upload_offset(self, upload_id: str) -> int:
        try:
            return self._staged(upload_id).stat().st_size
        except FileNotFoundError:
            raise no_upload(upload_id) from None

    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        current = self.upload_offset(upload_id)
        if offset != current:
            raise InvalidInput(
                f"upload {upload_id} has {current} bytes, so the next part starts at offset "
                f"{current}, not {offset}: resume from {current}"
            )
        with self._lock:
            hasher = self._hashers.get(upload_id)
        with _storage_errors(self.root), open(self._staged(upload_id), "r+b") as fh:
            fh.seek(offset)
            for chunk in chunks:
                if hasher is not None:
                    hasher.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
            return fh.tell()

    def finish_upload(self, upload_id: str, digest: str) -> Blob:
        staged = self._staged(upload_id)
        size = self.upload_offset(upload_id)
        with self._lock:
            hasher = self._hashers.pop(upload_id, None)
        if hasher is None or hasher.size != size:  # resumed after a restart: hash it all again
            hasher = Hasher()
            with open(staged, "rb") as fh:
                for chunk in _chunks(fh, 0, None):
                    hasher.update(chunk)
        try:
            blob = hasher.check(digest)
        except InvalidInput:
            staged.unlink(missing_ok=True)
            raise
        with _storage_errors(self.root):
            self._place(staged, blob.digest)
            staged.unlink(missing_ok=True)
        return blob

    def abort_upload(self, upload_id: str) -> None:
        with self._lock:
            self._hashers.pop(upload_id, None)
        self._staged(upload_id).unlink(missing_ok=True)


def _chunks(fh: object, start: int, end: int | None) -> Iterator[bytes]:
    with fh as stream:  # type: ignore[attr-defined]
        stream.seek(start)
        left = None if end is None else max(end - start, 0)
        while left is None or left > 0:
            chunk = stream.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def _sync(files: list[Path]) -> None:
    """Make written files (and renames) durable: one sync of the disks where the platform has
    it, else an fsync of each file."""
    if hasattr(os, "sync"):
        os.sync()
        return
    for path in files:
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can fsync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _storage_errors(root: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise Unavailable(
            f"cannot write to the artifact folder {str(root)!r}: {exc.strerror or exc}; "
            "check that it exists, is writable and has free space"
        ) from exc
