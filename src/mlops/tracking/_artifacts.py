"""The artifact and model functions of ``mlops.tracking``: list and download an iteration's
files (or delete some), register models, move aliases, download a model.

Where the bytes live depends on the store: beside an embedded SQLite database (its
``artifacts`` folder, ``$MLOPS_HOME/artifacts`` for the default one), wherever
``MLOPS_ARTIFACT_STORE`` says for a PostgreSQL store (a folder or ``s3://bucket/prefix``), and
in the App for an ``http(s)://`` store.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from mlops.artifacts import ArtifactStore, Blob, default_location, open_artifact_store
from mlops.artifacts.names import check_name
from mlops.config import tracking_uri
from mlops.entities import Artifact
from mlops.errors import InvalidInput, NotFound
from mlops.store import Store, open_store
from mlops.values import check_id, check_optional_text

__all__ = [
    "delete_artifacts",
    "download_artifacts",
    "download_model",
    "files_for",
    "get_model",
    "get_model_version",
    "list_artifacts",
    "register_model",
    "set_model_alias",
]


class Files(Protocol):
    """Where an iteration's bytes go and come from, for one store."""

    def put(self, path: Path) -> Blob:
        """Store a local file's bytes; returns the blob (sha256, size)."""

    def open(self, artifact: Artifact) -> Iterator[bytes]:
        """The bytes of a recorded file."""

    def batch(self) -> AbstractContextManager[None]:
        """A block in which many files are put at the cost of one (they are durable when the
        block ends)."""


#: The files of each open store by its URI (with the store: a store reopened after
#: ``close_stores`` gets its own).
_files: dict[str, tuple[Store, Files]] = {}


def _store() -> Store:
    return open_store(tracking_uri())


def _location(store_uri: str) -> str:
    found = default_location(store_uri)
    if found is None:
        raise InvalidInput(
            "a PostgreSQL store keeps files where MLOPS_ARTIFACT_STORE says: set it to a shared "
            "folder or s3://bucket/prefix (the App's --artifacts), or log through the App "
            "(MLOPS_TRACKING_URI=http://app-host:port)"
        )
    return found


def files_for(store: Store) -> Files:
    """The place an iteration's bytes go for this store (opened once per store): an
    :class:`ArtifactStore` for SQL stores, the App's artifact routes for an App."""
    cached = _files.get(store.uri)
    if cached is not None and cached[0] is store:
        return cached[1]
    found: Files
    if store.uri.startswith(("http://", "https://")):
        from mlops.store.http_artifacts import HttpFiles

        found = HttpFiles(store)
    else:
        found = LocalFiles(open_artifact_store(_location(store.uri)))
    _files[store.uri] = (store, found)
    return found


class LocalFiles:
    """Bytes read and written straight in an artifact store (embedded and PostgreSQL stores)."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    def put(self, path: Path) -> Blob:
        return self.artifacts.write_file(path)

    def open(self, artifact: Artifact) -> Iterator[bytes]:
        return self.artifacts.read(artifact.sha256)

    def batch(self) -> AbstractContextManager[None]:
        batch = getattr(self.artifacts, "batch", None)
        return batch() if batch is not None else contextlib.nullcontext()


def list_artifacts(iteration_id: str, prefix: str | None = None) -> list[dict[str, Any]]:
    """The files an iteration logged: ``[{"name", "step", "size_bytes", "sha256",
    "media_type", "created_at", ...}]`` by name (the images of an image series by step).
    ``prefix`` lists one file or one folder. Raises ``NotFound`` for an unknown iteration."""
    check_id(iteration_id, "iteration_id")
    if prefix is not None:
        check_name(prefix)
    return [a.to_dict() for a in _store().list_artifacts(iteration_id, prefix)]


def download_artifacts(
    iteration_id: str, name: str | None = None, dst: str | os.PathLike[str] = "."
) -> str:
    """Download an iteration's files into ``dst`` with their relative layout (``plots/roc.png``
    lands in ``dst/plots/roc.png``): every file, or the file or folder ``name``. Returns the
    path of what was downloaded (the file, the folder, or ``dst``). Existing files of the same
    name are replaced. Raises ``NotFound`` when there is nothing of that name."""
    check_id(iteration_id, "iteration_id")
    if name is not None:
        check_name(name)
    store = _store()
    found = [a for a in store.list_artifacts(iteration_id, name) if a.step is None]
    if not found:
        what = "no files" if name is None else f"no file or folder {name!r}"
        raise NotFound(f"iteration {iteration_id!r} has {what} (see tracking.list_artifacts)")
    root = Path(dst).expanduser().absolute()
    files = files_for(store)
    for artifact in found:
        target = (root / artifact.name).absolute()
        if root not in target.parents:  # names are checked; this is the second lock
            raise InvalidInput(f"artifact {artifact.name!r} would land outside {str(root)!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with open(partial, "wb") as fh:
            for chunk in files.open(artifact):
                fh.write(chunk)
        os.replace(partial, target)
    if name is None:
        return str(root)
    return str(root / name)


def delete_artifacts(iteration_id: str, name: str) -> int:
    """Delete an iteration's file ``name`` (every image of an image series of that name) or
    every file in the folder ``name`` (``delete_artifacts(id, "checkpoints")``); allowed after
    the iteration ended. Returns how many files went. They leave ``list_artifacts`` at once;
    their bytes stay stored until ``mlops gc --yes`` removes those nothing refers to any more
    (another iteration may have logged the same bytes). Files of a running iteration that are
    still uploading are waited for first. Raises ``NotFound`` when the iteration has nothing of
    that name, ``InvalidInput`` when a registered model version uses it."""
    from mlops.tracking._uploader import UPLOADER

    check_id(iteration_id, "iteration_id")
    check_name(name)
    if UPLOADER.pending(iteration_id):
        UPLOADER.wait(iteration_id)
    return _store().delete_artifacts(iteration_id, name)


# -- models ---------------------------------------------------------------------------------
def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name on this system: still register
        return "local"


def register_model(
    name: str, iteration_id: str, artifact: str = "model", description: str | None = None
) -> dict[str, Any]:
    """Make the next version (1, 2, ...) of the model ``name`` from an iteration's artifact,
    a file or a folder (default ``model``, what ``log_path_to_model`` keeps). Call it right
    after ``end_iteration()``: the iteration's files are recorded by then. Returns the version's
    dict; raises ``NotFound`` when the iteration has no such artifact."""
    check_id(iteration_id, "iteration_id")
    check_name(artifact)
    check_optional_text(description, "description")
    version = _store().register_model(name, iteration_id, artifact, description, _who())
    return version.to_dict()


def set_model_alias(name: str, alias: str, version: int) -> dict[str, Any]:
    """Point ``alias`` (``"production"``, ``"staging"``, any word) at a version of a model;
    returns that version's dict. Moving an alias records who moved it and when."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput(f"version must be a version number, got {version!r}")
    return _store().set_model_alias(name, alias, version, _who()).to_dict()


def get_model(name: str) -> dict[str, Any]:
    """A registered model: ``{"name", "latest_version", "aliases": {alias: version}, ...}``."""
    return _store().get_model(name).to_dict()


def get_model_version(name: str, version_or_alias: str | int) -> dict[str, Any]:
    """A version of a model by number (``3``) or alias (``"production"``)."""
    return _store().get_model_version(name, version_or_alias).to_dict()


def download_model(
    name: str, version_or_alias: str | int, dst: str | os.PathLike[str] = "."
) -> str:
    """Download the artifact of a model version into ``dst``; returns its path there
    (``dst/model/...`` for the ``model`` folder)."""
    version = _store().get_model_version(name, version_or_alias)
    return download_artifacts(version.iteration_id, version.artifact, dst)
