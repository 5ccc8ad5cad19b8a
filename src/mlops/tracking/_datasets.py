"""Fingerprints of local datasets: a sha256 over relative paths and bytes, size and file count."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
import warnings
from pathlib import Path

from mlops.errors import InvalidInput

_REMOTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_CHUNK = 1 << 20
_PROGRESS_ABOVE = 256 << 20  # show progress when hashing more than this many bytes


def is_remote(path: str) -> bool:
    """A URI such as ``s3://``, ``gs://`` or ``https://`` (``file://`` is local)."""
    return bool(_REMOTE.match(path)) and not path.startswith("file://")


def model_path(path: object) -> str:
    """The path of a model file as it is recorded: absolute for a local path (a missing one is
    recorded with a warning), as given for a URI."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"path_to_model must be a non-empty path string, got {path!r}")
    if is_remote(path):
        return path
    local = Path(path.removeprefix("file://")).expanduser().absolute()
    if not local.exists():
        warnings.warn(
            f"mlops: model path {str(local)!r} does not exist (yet); it is recorded as given, "
            "with its size and sha256 if the file is there when the iteration ends",
            stacklevel=3,
        )
    return str(local)


def fingerprint(path: str) -> tuple[str, str | None, int | None, int | None]:
    """(stored path, digest, size in bytes, file count) of a dataset path.

    Remote URIs are kept as given, without digest. A local path must exist.
    """
    if is_remote(path):
        return path, None, None, None
    local = Path(path.removeprefix("file://")).expanduser()
    if not local.exists():
        raise InvalidInput(
            f"dataset path {path!r} does not exist: pass an existing file or folder, "
            "or a URI such as s3://bucket/key"
        )
    local = local.resolve()
    files = (
        [local]
        if local.is_file()
        else sorted(
            (p for p in local.rglob("*") if p.is_file()),
            key=lambda p: p.relative_to(local).as_posix(),
        )
    )
    total = sum(f.stat().st_size for f in files)
    digest = hashlib.sha256()
    progress = _Progress(total) if total > _PROGRESS_ABOVE and sys.stderr.isatty() else None
    for file in files:
        name = file.name if file == local else file.relative_to(local).as_posix()
        digest.update(name.encode("utf-8") + b"\0")
        with open(file, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                if progress:
                    progress.advance(len(chunk))
        digest.update(b"\0")
    if progress:
        progress.done()
    return str(local), "sha256:" + digest.hexdigest(), total, len(files)


def file_sha256(path: str) -> tuple[int, str] | None:
    """(size, sha256) of a file, or None when it does not exist (yet)."""
    try:
        size = os.path.getsize(path)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return size, digest.hexdigest()


class _Progress:
    """A one-line progress bar on stderr (only drawn on a terminal)."""

    def __init__(self, total: int) -> None:
        self.total, self.done_bytes, self.last = total, 0, 0.0

    def advance(self, n: int) -> None:
        self.done_bytes += n
        now = time.monotonic()
        if now - self.last >= 0.2:
            self.last = now
            share = self.done_bytes / self.total
            bar = "#" * int(share * 30)
            sys.stderr.write(f"\rmlops: hashing dataset [{bar:<30}] {share:6.1%}")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write(f"\rmlops: hashed {self.total / 1e6:,.0f} MB{' ' * 40}\n")
