"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/...``) over the App's artifact store.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``, so every
path a client sends is ``<experiment_id>/<run_id>/artifacts/<name>``: the run is an iteration
and ``<name>`` the name of one of its artifacts, checked by :mod:`mlops.artifacts.names` (a
``..``, an absolute path, a backslash, NUL or a percent-encoded ``%2e%2e`` is refused with
MLflow's ``INVALID_PARAMETER_VALUE``). A client path never becomes a storage key: the bytes are
content-addressed blobs and the name is a record on the iteration, the same record that
``tracking.log_artifact`` makes, so what MLflow uploads lists in mlops and the other way round.

Uploads stream to the artifact store (never whole in memory). MLflow's multipart upload
(``mpu/create``, ``complete``, ``abort``), which MLflow clients use for large files when
``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` is set, is served in proxy mode: the part URLs that
``mpu/create`` hands out point back at this App (``mpu/parts/<upload_id>/<n>``) and carry the
caller's ``Authorization`` header, each part is stored as a blob, and ``complete`` joins them.
"""

from __future__ import annotations

import posixpath
import secrets
import time
from collections.abc import Iterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from mlops.app.api.artifacts import _file
from mlops.app.api.blobs import _limited, stream_into
from mlops.app.deps import ArtifactsDep, CanRead, CanWrite, StoreDep
from mlops.app.mlflow import mapping
from mlops.app.mlflow.errors import MlflowError
from mlops.artifacts import ArtifactStore
from mlops.artifacts.names import check_digest, check_name
from mlops.entities import Artifact
from mlops.errors import InvalidInput, NotFound, TooLarge
from mlops.store.base import Store
from mlops.tracking._files import media_type

__all__ = ["RunPath", "artifact_uri", "router", "unsupported"]

#: Artifacts MLflow clients never see in listings: the records of logged models.
HIDDEN = ".mlflow"


router = APIRouter(tags=["mlflow"], include_in_schema=False)
Json = Annotated[dict[str, Any], Body()]


class RunPath:
    """A path of MLflow's artifact proxy: ``<experiment_id>/<run_id>/artifacts[/<name>]``."""

    def __init__(self, path: str) -> None:
        try:
            path = check_name(path, "artifact path")
        except InvalidInput as exc:
            raise MlflowError("INVALID_PARAMETER_VALUE", exc.message) from None
        parts = path.split("/")
        if len(parts) < 3 or parts[2] != "artifacts":
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"artifact path {path!r} is not inside a run: the App keeps MLflow artifacts "
                "per run, at '<experiment_id>/<run_id>/artifacts/<name>' (the run's "
                "artifact_uri)",
            )
        self.experiment_id, self.run_id = parts[0], parts[1]
        #: The artifact name inside the run ("" for the run's artifact root).
        self.name = "/".join(parts[3:])

    def iteration(self, store: Store) -> str:
        """The iteration of the run (``RESOURCE_DOES_NOT_EXIST`` for an unknown run)."""
        try:
            return store.get_iteration(self.run_id).id
        except NotFound:
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"Run with id={self.run_id} not found", 404
            ) from None


def artifact_uri(experiment_id: str, run_id: str, name: str = "") -> str:
    """The ``mlflow-artifacts:`` URI of a run's artifact (its root without ``name``)."""
    root = mapping.artifact_uri(experiment_id, run_id)
    return f"{root}/{name}" if name else root


def record(
    store: Store, iteration_id: str, name: str, digest: str, size: int, media: str | None = None
) -> Artifact:
    """Record a stored blob as the iteration's artifact ``name`` (a name logged again points at
    its new bytes, as with ``tracking.log_artifact``)."""
    artifact = Artifact(
        iteration_id, name, size, digest, media or media_type(name), time.time(), None
    )
    store.log_artifacts(iteration_id, [artifact])
    return artifact


def _file_of(store: Store, iteration_id: str, name: str) -> Artifact | None:
    found = [a for a in store.list_artifacts(iteration_id, prefix=name) if a.name == name]
    if not found:
        return None
    plain = [a for a in found if a.step is None]
    return plain[0] if plain else max(found, key=lambda a: a.step or 0)


def _need_file(path: RunPath) -> str:
    if not path.name:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            "name a file inside the run: '<experiment_id>/<run_id>/artifacts/<name>'",
        )
    return path.name


def _writable(name: str) -> str:
    """A name an upload may write: not inside the App's own ``.mlflow/`` records."""
    if name.split("/", 1)[0] == HIDDEN:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            f"artifact path {name!r} is inside '{HIDDEN}/', which the App keeps for its records "
            "of logged models: pick another folder",
        )
    return name


# -- single files -------------------------------------------------------------------------
@router.put("/mlflow-artifacts/artifacts/{artifact_path:path}", dependencies=[CanWrite])
async def upload_artifact(
    artifact_path: str, request: Request, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Upload one file of a run (MLflow's ``log_artifact``): the body is its bytes."""
    path = RunPath(artifact_path)
    name = _writable(_need_file(path))
    iteration_id = await anyio.to_thread.run_sync(path.iteration, store)
    blob = await stream_into(request, lambda c: artifacts.write(_limited(request, c)))
    await anyio.to_thread.run_sync(record, store, iteration_id, name, blob.digest, blob.size)
    return JSONResponse({})


@router.get("/mlflow-artifacts/artifacts/{artifact_path:path}", dependencies=[CanRead])
def download_artifact(
    artifact_path: str, request: Request, store: StoreDep, artifacts: ArtifactsDep
) -> Response:
    """The bytes of one file of a run (``Range`` honoured), sent as an attachment."""
    path = RunPath(artifact_path)
    name = _need_file(path)
    found = _file_of(store, path.iteration(store), name)
    if found is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"run {path.run_id} has no artifact file {name!r}", 404
        )
    return _file(found, request, artifacts, inline=False)


def listing(store: Store, iteration_id: str, folder: str) -> list[dict[str, Any]]:
    """The files and folders directly inside ``folder`` of an iteration ("" for its root), by
    base name, as MLflow's ``FileInfo``: a file's own path lists nothing, as in MLflow."""
    entries: dict[str, dict[str, Any]] = {}
    folders: set[str] = set()
    for artifact in store.list_artifacts(iteration_id, folder or None):
        if artifact.name == folder:
            continue  # the path is a file: MLflow lists nothing
        inner = artifact.name[len(folder) + 1 :] if folder else artifact.name
        head, _, rest = inner.partition("/")
        if not folder and head == HIDDEN:
            continue
        if rest:
            folders.add(head)
        else:
            entries[head] = {"path": head, "is_dir": False, "file_size": artifact.size_bytes}
    for name in folders - entries.keys():
        entries[name] = {"path": name, "is_dir": True}
    return [entries[k] for k in sorted(entries)]


@router.get("/mlflow-artifacts/artifacts", dependencies=[CanRead])
def list_artifacts(
    store: StoreDep, path: Annotated[str | None, Query(max_length=2048)] = None
) -> JSONResponse:
    """The files and folders directly inside a run's folder (their base names): MLflow's
    ``list_artifacts`` through the proxy."""
    where = RunPath(path or "")
    return JSONResponse({"files": listing(store, where.iteration(store), where.name)})


@router.get("/mlflow/artifacts/list", dependencies=[CanRead])
def list_run_artifacts(
    request: Request,
    store: StoreDep,
    run_id: Annotated[str, Query(max_length=64)] = "",
    run_uuid: Annotated[str, Query(max_length=64)] = "",
    path: Annotated[str | None, Query(max_length=2048)] = None,
) -> JSONResponse:
    """The tracking side of the same listing (``/mlflow/artifacts/list``): paths relative to
    the run's root, and the root's URI."""
    run = run_id or run_uuid
    if not run:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'."
        )
    folder = (path or "").strip("/")
    where = RunPath(f"0/{run}/artifacts/{folder}" if folder else f"0/{run}/artifacts")
    iteration = store.get_iteration(where.iteration(store))
    files = [
        {**entry, "path": f"{where.name}/{entry['path']}" if where.name else entry["path"]}
        for entry in listing(store, iteration.id, where.name)
    ]
    experiment_id = mapping.mapping_of(request).experiment_out(iteration.experiment_id)
    return JSONResponse({"root_uri": artifact_uri(experiment_id, iteration.id), "files": files})


@router.delete("/mlflow-artifacts/artifacts/{artifact_path:path}", dependencies=[CanWrite])
def delete_artifact(artifact_path: str, store: StoreDep) -> JSONResponse:
    """Delete a file of a run, or every file in one of its folders (MLflow's
    ``delete_artifacts``): their records go, the bytes stay until ``mlops gc``."""
    if artifact_path.count("/") == 3 and artifact_path.endswith("/artifacts/"):
        artifact_path = artifact_path[:-1]  # the client's root: refused below, in words
    path = RunPath(artifact_path)
    if not path.name:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            "name a file or folder inside the run ('<experiment_id>/<run_id>/artifacts/<name>'):"
            " the App does not delete a run's whole artifact root, delete the run instead",
        )
    name = _writable(path.name)
    iteration_id = path.iteration(store)
    try:
        store.delete_artifacts(iteration_id, name)
    except NotFound:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"run {path.run_id} has no artifact {name!r}", 404
        ) from None
    return JSONResponse({})


# -- multipart uploads (proxy mode) --------------------------------------------------------
def _target(path: RunPath, local_file: object) -> str:
    """The artifact name a multipart upload makes: the folder of the URL plus the base name of
    the client's file, as MLflow's own stores join them."""
    if not isinstance(local_file, str) or not local_file:
        raise MlflowError("INVALID_PARAMETER_VALUE", "'path' (the file's name) is required")
    base = local_file.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    name = posixpath.join(path.name, base) if path.name else base
    try:
        return _writable(check_name(name, "artifact path"))
    except InvalidInput as exc:
        raise MlflowError("INVALID_PARAMETER_VALUE", exc.message) from None


def _upload_id(value: object) -> str:
    if isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    raise MlflowError("INVALID_PARAMETER_VALUE", f"{value!r} is not an upload id of this App")


@router.post("/mlflow-artifacts/mpu/create/{artifact_path:path}", dependencies=[CanWrite])
def create_multipart_upload(
    artifact_path: str, request: Request, body: Json, store: StoreDep
) -> JSONResponse:
    """Start a multipart upload: one part URL (on this App) per part."""
    path = RunPath(artifact_path)
    _target(path, body.get("path"))
    path.iteration(store)
    parts = body.get("num_parts", 1)
    if isinstance(parts, str) and parts.isdigit():
        parts = int(parts)
    if isinstance(parts, bool) or not isinstance(parts, int) or not 1 <= parts <= 10_000:
        raise MlflowError("INVALID_PARAMETER_VALUE", "num_parts must be from 1 to 10,000")
    upload_id = secrets.token_hex(16)
    base = str(request.url_for("upload_part", upload_id=upload_id, part_number="0"))[:-1]
    headers = {}
    if "authorization" in request.headers:
        headers["Authorization"] = request.headers["authorization"]
    credentials = [
        {"url": f"{base}{n}", "part_number": n, "headers": headers} for n in range(1, parts + 1)
    ]
    return JSONResponse({"upload_id": upload_id, "credentials": credentials})


@router.put(
    "/mlflow-artifacts/mpu/parts/{upload_id}/{part_number}",
    dependencies=[CanWrite],
    name="upload_part",
)
async def upload_part(
    upload_id: str, part_number: int, request: Request, artifacts: ArtifactsDep
) -> JSONResponse:
    """One part of a multipart upload (the URL ``mpu/create`` handed out); its ETag is the
    sha256 of its bytes."""
    _upload_id(upload_id)
    if not 1 <= part_number <= 10_000:
        raise MlflowError("INVALID_PARAMETER_VALUE", "part_number must be from 1 to 10,000")
    blob = await stream_into(request, lambda c: artifacts.write(_limited(request, c)))
    return JSONResponse({}, headers={"ETag": f'"{blob.digest}"'})


def _joined(artifacts: ArtifactStore, digests: list[str]) -> Iterator[bytes]:
    for digest in digests:
        yield from artifacts.read(digest)


@router.post("/mlflow-artifacts/mpu/complete/{artifact_path:path}", dependencies=[CanWrite])
def complete_multipart_upload(
    artifact_path: str, request: Request, body: Json, store: StoreDep, artifacts: ArtifactsDep
) -> JSONResponse:
    """Join the uploaded parts, in part order, into the run's artifact."""
    path = RunPath(artifact_path)
    name = _target(path, body.get("path"))
    _upload_id(body.get("upload_id"))
    iteration_id = path.iteration(store)
    parts = body.get("parts")
    if not isinstance(parts, list) or not parts:
        raise MlflowError("INVALID_PARAMETER_VALUE", "'parts' lists the uploaded parts")
    ordered: dict[int, str] = {}
    for part in parts:
        number = part.get("part_number") if isinstance(part, dict) else None
        etag = part.get("etag") if isinstance(part, dict) else None
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise MlflowError("INVALID_PARAMETER_VALUE", "each part needs its part_number")
        try:
            digest = check_digest(str(etag).strip('"'))
        except InvalidInput:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", f"part {number}: {etag!r} is not an ETag of this App"
            ) from None
        if not artifacts.has(digest):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", f"part {number} was not uploaded: upload it again"
            )
        ordered[number] = digest
    limit: int = request.app.state.settings.max_artifact_bytes
    total = sum(artifacts.size(d) for d in ordered.values())
    if total > limit:
        raise TooLarge(f"the file is larger than the App's limit of {limit:,} bytes")
    blob = artifacts.write(_joined(artifacts, [ordered[n] for n in sorted(ordered)]))
    record(store, iteration_id, name, blob.digest, blob.size)
    return JSONResponse({})


@router.post("/mlflow-artifacts/mpu/abort/{artifact_path:path}", dependencies=[CanWrite])
def abort_multipart_upload(artifact_path: str, body: Json, store: StoreDep) -> JSONResponse:
    """Give up a multipart upload: nothing is recorded (parts already sent are unreferenced
    blobs, which ``mlops gc`` removes)."""
    path = RunPath(artifact_path)
    _target(path, body.get("path"))
    _upload_id(body.get("upload_id"))
    path.iteration(store)
    return JSONResponse({})


def unsupported(on: APIRouter, method: str, path: str, instead: str) -> None:
    """Answer ``method path`` with MLflow's ``NOT_IMPLEMENTED`` (501), saying what to do
    instead: a call mlops has no records for is refused in words, never a 404 or a 500."""

    def answer() -> JSONResponse:
        raise MlflowError(
            "NOT_IMPLEMENTED",
            f"the App does not support {method} {path} (mlops has no record for it): {instead}",
            501,
        )

    answer.__doc__ = f"Not supported by the App: {instead}."
    on.add_api_route(path, answer, methods=[method], name=f"unsupported {method} {path}")


_DIRECT = "the App proxies every file (mlflow-artifacts:), there is no storage to sign URLs for"
for _method, _path in [
    ("POST", "/mlflow/artifacts/presigned-upload-url"),
    ("POST", "/mlflow/artifacts/presigned-download-url"),
    ("GET", "/mlflow-artifacts/presigned/{artifact_path:path}"),
]:
    unsupported(router, _method, _path, _DIRECT)
