"""The file-logging methods of an :class:`~mlops.tracking.Iteration`: files, folders, text,
dicts, figures, images and the model, kept by the store's artifact storage.

Each call checks the name, notes each file's size and modification time (or writes the logged
object to the spool) and queues it for the background uploader: the training loop never waits
for hashing, disk or network. ``end_iteration()`` waits for the queued files while they make
progress (``MLOPS_UPLOAD_TIMEOUT``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.artifacts.names import check_name
from mlops.errors import InvalidInput
from mlops.tracking._artifacts import files_for
from mlops.tracking._files import (
    media_type,
    spool_dict,
    spool_figure,
    spool_image,
    spool_text,
)
from mlops.tracking._uploader import UPLOADER, Job, snapshot

if TYPE_CHECKING:
    from mlops.store.base import Store

__all__ = ["FileLogging", "copy_models"]

#: The artifact folder ``log_path_to_model`` keeps the model in.
MODEL_FOLDER = "model"


def copy_models() -> bool:
    """Whether ``log_path_to_model`` keeps a copy of the model (``MLOPS_ARTIFACTS``:
    ``copy``, the default, or ``reference`` for paths only)."""
    raw = os.environ.get("MLOPS_ARTIFACTS", "").strip().lower() or "copy"
    if raw not in ("copy", "reference"):
        raise InvalidInput(
            f"MLOPS_ARTIFACTS={raw!r} is not a mode: use copy (the default: models are kept) "
            "or reference (only their paths are recorded)"
        )
    return raw == "copy"


class FileLogging:
    """Mixed into :class:`~mlops.tracking.Iteration` (which provides ``id``, ``_store``,
    ``_check_open``)."""

    id: Any
    _store: Store | None

    def _check_open(self) -> None:  # pragma: no cover - provided by Iteration
        raise NotImplementedError

    def _queue(
        self,
        source: Path,
        name: str,
        media: str | None,
        step: int | None = None,
        spooled: bool = False,
    ) -> None:
        if self._store is None:  # a disabled iteration (non-zero rank): checked, not kept
            if spooled:
                source.unlink(missing_ok=True)
            return
        size, mtime = snapshot(source)
        job = Job(
            self._store, files_for(self._store), self.id, source, name, media, size, step,
            None if spooled else (size, mtime), spooled,
        )  # fmt: skip
        UPLOADER.submit(job)

    def log_artifact(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Keep a file, or a folder with its layout, as an artifact of this iteration.

        ``name`` defaults to the file's or folder's base name and may hold ``/``
        (``"plots/roc.png"``); a folder's files are kept under it (``name/relative/path``).
        The bytes are those of the file when it is logged: log a checkpoint once it is
        written, under a new name each time (a file that changes before it is read is
        reported on stderr, not kept). Raises ``InvalidInput`` for a missing path or a bad
        name. Logging a name again replaces it.
        """
        self._check_open()
        path = Path(os.fspath(local_path)).expanduser()
        if not path.exists():
            raise InvalidInput(f"log_artifact: {str(path)!r} does not exist")
        base = check_name(name if name is not None else path.absolute().name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            named = [(p, f"{base}/{p.relative_to(path).as_posix()}") for p in files]
            for _, inner in named:
                check_name(inner)
            for source, inner in named:
                self._queue(source, inner, None)
            return
        self._queue(path, base, None)

    def log_text(self, text: str, name: str) -> None:
        """Keep a text as a UTF-8 file (``"notes.md"``, ``"report.txt"``)."""
        self._check_open()
        name = check_name(name)
        self._queue(spool_text(text, name), name, media_type(name), spooled=True)

    def log_dict(self, data: dict[str, Any], name: str) -> None:
        """Keep a dict as JSON, or as YAML when ``name`` ends in ``.yaml`` / ``.yml``."""
        self._check_open()
        name = check_name(name)
        self._queue(spool_dict(data, name), name, media_type(name), spooled=True)

    def log_figure(self, figure: Any, name: str) -> None:
        """Keep a matplotlib or plotly figure as a PNG (plotly needs ``kaleido``)."""
        self._check_open()
        name = check_name(name)
        self._queue(spool_figure(figure, name), name, "image/png", spooled=True)

    def log_image(self, image: Any, name: str, step: int | None = None) -> None:
        """Keep an image: a numpy array (HxW, HxWx3 or HxWx4; uint8, or floats in [0, 1]), a
        PIL image, or the path of an image file. The same ``name`` over steps is one image
        series, shown with a step slider in the App."""
        self._check_open()
        name = check_name(name)
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            raise InvalidInput(
                f"log_image({name!r}): step must be a whole number >= 0, got {step!r}"
            )
        source, spooled = spool_image(image, name)
        media = "image/png" if spooled else media_type(source.name)
        self._queue(source, name, media, step, spooled)

    def _keep_model(self, path: str) -> bool:
        """Queue a copy of the model (a file or a folder) as ``model/...``; False when there
        is nothing there (yet)."""
        local = Path(path)
        if not local.exists():
            return False
        if local.is_dir():
            self.log_artifact(local, MODEL_FOLDER)
        else:
            self.log_artifact(local, f"{MODEL_FOLDER}/{local.name}")
        return True

    def _wait_for_files(self) -> None:
        """Wait for this iteration's queued files while they make progress; say what is left."""
        if self._store is None or not UPLOADER.pending(self.id):
            return
        try:
            left = UPLOADER.wait(self.id)
        except KeyboardInterrupt:
            kept = UPLOADER.keep_in_journal(self.id)
            if kept:
                where = getattr(self._store, "journal_path", None)
                sys.stderr.write(
                    f"mlops: interrupted: {kept} file(s) of iteration {self.id} not sent yet are "
                    f"kept in the journal {where}; run `mlops sync` to send them\n"
                )
            raise
        warn = getattr(self._store, "warn_files_kept", None)
        if warn is not None:
            warn(self.id)
        if left:
            sys.stderr.write(
                f"mlops: {left} file(s) of iteration {self.id} are still being sent after "
                "MLOPS_UPLOAD_TIMEOUT seconds without progress; they are sent in the "
                "background while this process runs\n"
            )
