"""The artifact store contract: content-addressed blobs, written once, read by range.

Every backend (a local folder, S3-compatible object storage) answers these methods the same way.
A blob is named by the sha256 of its bytes, so the same bytes logged twice are stored once, and a
blob becomes visible only after its digest was checked: a reader never sees half a file or a file
under a wrong digest.

Large files arrive in parts (:meth:`ArtifactStore.start_upload`, :meth:`append`,
:meth:`finish_upload`). The parts are staged in the store itself, so an App restarted in the
middle of an upload answers :meth:`upload_offset` with what it already has and the client resumes
from there instead of starting again.

Errors: ``NotFound`` for an unknown blob or upload, ``InvalidInput`` for a digest that does not
match the bytes or a part sent at the wrong offset, ``Unavailable`` when the storage cannot be
reached; never an ``OSError`` or a boto error of their own.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops.artifacts.names import check_digest
from mlops.errors import InvalidInput, NotFound

__all__ = ["ArtifactStore", "Blob", "DigestMismatch", "Hasher", "no_blob", "no_upload"]

#: Bytes read or written at a time when streaming.
CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """A stored blob: its sha256 (hex) and size in bytes."""

    digest: str
    size: int


class DigestMismatch(InvalidInput):
    """Raised when bytes do not have the sha256 they were announced with; nothing is stored."""

    code = "digest_mismatch"


class Hasher:
    """A running sha256 and byte count of a stream."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self.size += len(chunk)

    def digest(self) -> str:
        return self._sha.hexdigest()

    def check(self, expected: str | None) -> Blob:
        """The blob these bytes make; raises ``DigestMismatch`` unless they hash to
        ``expected`` (when given)."""
        found = self.digest()
        if expected is not None and check_digest(expected) != found:
            raise DigestMismatch(
                f"the bytes received ({self.size} bytes, sha256 {found}) do not match the "
                f"announced sha256 {expected}: the file changed or was damaged on the way; "
                "nothing was stored, send it again"
            )
        return Blob(found, self.size)


class ArtifactStore(abc.ABC):
    """Where the bytes of logged files are kept (see the module docstring)."""

    uri: str

    @abc.abstractmethod
    def has(self, digest: str) -> bool:
        """Whether a blob with this sha256 is stored."""

    @abc.abstractmethod
    def size(self, digest: str) -> int:
        """The size in bytes of a stored blob. Raises ``NotFound``."""

    @abc.abstractmethod
    def write(self, chunks: Iterable[bytes], digest: str | None = None) -> Blob:
        """Store a stream of bytes as one blob and return it.

        The bytes are hashed as they arrive; with ``digest`` given they must hash to it
        (``DigestMismatch`` otherwise, and nothing is stored). Writing bytes that are already
        stored keeps the one copy.
        """

    def write_file(self, path: Path) -> Blob:
        """Store the bytes of a local file (read once, hashed on the way)."""
        with open(path, "rb") as fh:
            return self.write(iter(lambda: fh.read(CHUNK), b""))

    @abc.abstractmethod
    def read(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of a blob (to its end when ``end`` is None), in chunks.
        Raises ``NotFound`` for an unknown blob (before the first chunk is produced)."""

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob (nothing happens for one that is not stored)."""

    @abc.abstractmethod
    def digests(self) -> Iterator[str]:
        """The sha256 of every stored blob, in no particular order (for garbage collection)."""

    @abc.abstractmethod
    def stored_at(self, digest: str) -> float:
        """When a blob was stored (epoch seconds). Raises ``NotFound``."""

    # -- uploads in parts -------------------------------------------------------------------
    @abc.abstractmethod
    def start_upload(self) -> str:
        """Open an upload in parts; returns its id."""

    @abc.abstractmethod
    def upload_offset(self, upload_id: str) -> int:
        """How many bytes of the upload are stored, where the next part starts (after a
        restart too). Raises ``NotFound`` for an unknown or finished upload."""

    @abc.abstractmethod
    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        """Add the next part at ``offset`` (which must equal :meth:`upload_offset`, else
        ``InvalidInput`` says where to resume); returns the new offset."""

    @abc.abstractmethod
    def finish_upload(self, upload_id: str, digest: str) -> Blob:
        """Check that the staged bytes hash to ``digest`` and make them a blob; the upload is
        gone afterwards. ``DigestMismatch`` (the upload is dropped) when they do not."""

    @abc.abstractmethod
    def abort_upload(self, upload_id: str) -> None:
        """Drop an unfinished upload and its staged bytes (nothing happens for an unknown one)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def no_blob(digest: str) -> NotFound:
    """The error for a blob that is not stored."""
    return NotFound(f"no artifact blob with sha256 {digest} is stored")


def no_upload(upload_id: str) -> NotFound:
    """The error for an upload that is unknown or already finished."""
    return NotFound(
        f"upload {upload_id} is unknown or already finished: start a new upload to send the file"
    )
