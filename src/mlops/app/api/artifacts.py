"""REST routes for the files an iteration logged: record, list, download and delete them.

A download never runs in the App's origin: every file is sent as an attachment with a neutral
content type, ``nosniff`` and a sandboxing Content-Security-Policy; only images and plain text
may be shown inline (``?inline=1``, for the pages' previews), and SVG or HTML never are. A
folder downloads as one zip stream. Single files honour ``Range``.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Iterator
from typing import IO, Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from mlops.app.deps import ArtifactsDep, CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, ok
from mlops.app.schemas_files import ArtifactList, ArtifactsDeleted, content
from mlops.artifacts import ArtifactStore
from mlops.artifacts.names import check_digest, check_name
from mlops.artifacts.wire import ArtifactRecords
from mlops.entities import Artifact
from mlops.errors import InvalidInput, NotFound

router = APIRouter(tags=["artifacts"], route_class=PlainRoute, responses=ERRORS)

#: Media types a page may show inline; everything else is only ever a download.
INLINE = {
    "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv",
    "text/markdown", "application/json",
}  # fmt: skip
#: The most artifacts one request may record.
MAX_RECORDS = 10_000
_SANDBOX = (
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _records(iteration_id: str, body: ArtifactRecords, artifacts: ArtifactStore) -> list[Artifact]:
    if len(body.artifacts) > MAX_RECORDS:
        raise InvalidInput(
            f"record at most {MAX_RECORDS:,} artifacts a request, not {len(body.artifacts):,}"
        )
    now = time.time()
    out = []
    for item in body.artifacts:
        if not isinstance(item, dict):
            raise InvalidInput("each artifact is an object {name, sha256, size_bytes, media_type}")
        name = check_name(item.get("name"))
        digest = check_digest(item.get("sha256"))
        size, step, media = item.get("size_bytes"), item.get("step"), item.get("media_type")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidInput(f"size_bytes of artifact {name!r} must be a whole number")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise InvalidInput(f"step of artifact {name!r} must be a whole number or null")
        if not isinstance(media, str):
            raise InvalidInput(f"media_type of artifact {name!r} must be a string")
        try:
            stored = artifacts.size(digest)
        except NotFound:
            stored = None
        if stored != size:
            raise InvalidInput(
                f"artifact {name!r}: the App has no blob {digest} of {size} bytes; upload the "
                "bytes first (PUT /api/v1/blobs/{sha256})"
            )
        out.append(Artifact(iteration_id, name, size, digest, media, now, step))
    return out


@router.post(
    "/iterations/{iteration_id}/artifacts",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    responses=ok(ArtifactList, 201),
)
def record_artifacts(
    iteration_id: str, body: ArtifactRecords, store: StoreDep, artifacts: ArtifactsDep
) -> dict[str, Any]:
    """Record files of an iteration whose bytes were uploaded; recording again is harmless."""
    records = _records(iteration_id, body, artifacts)
    store.log_artifacts(iteration_id, records)
    return {"artifacts": [a.to_dict() for a in records]}


@router.get(
    "/iterations/{iteration_id}/artifacts", dependencies=[CanRead], responses=ok(ArtifactList)
)
def list_artifacts(iteration_id: str, store: StoreDep, prefix: str | None = None) -> dict[str, Any]:
    """The files of an iteration by name (and step), or those under the folder ``prefix``."""
    return {"artifacts": [a.to_dict() for a in store.list_artifacts(iteration_id, prefix)]}


@router.get(
    "/iterations/{iteration_id}/artifacts/content",
    dependencies=[CanRead],
    responses=content(),
    response_class=StreamingResponse,
)
def artifact_content(
    iteration_id: str,
    request: Request,
    store: StoreDep,
    artifacts: ArtifactsDep,
    name: Annotated[str, Query(max_length=1024)],
    step: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    inline: bool = False,
) -> StreamingResponse:
    """The bytes of one file (``Range`` honoured), or of a folder as a zip stream."""
    name = check_name(name)
    found = store.list_artifacts(iteration_id, prefix=name)
    exact = [a for a in found if a.name == name and a.step == step]
    if exact:
        return _file(exact[0], request, artifacts, inline)
    inside = [a for a in found if a.name != name and a.step is None]
    if step is None and inside:
        return _folder(name, inside, artifacts)
    where = "" if step is None else f" at step {step}"
    raise NotFound(f"iteration {iteration_id!r} has no artifact {name!r}{where}")


@router.delete(
    "/iterations/{iteration_id}/artifacts/{name:path}",
    dependencies=[CanWrite],
    responses=ok(ArtifactsDeleted),
)
def delete_artifacts(iteration_id: str, name: str, store: StoreDep) -> dict[str, Any]:
    """Delete the file ``name`` of an iteration (every step of an image series) or every file
    in the folder ``name``, ended iterations too (404 when it has nothing of that name). The
    bytes stay in the artifact store until ``mlops gc`` finds nothing refers to them."""
    name = check_name(name)
    deleted = store.delete_artifacts(iteration_id, name)
    return {"iteration_id": iteration_id, "name": name, "deleted": deleted}


def _disposition(kind: str, filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _file(
    artifact: Artifact, request: Request, artifacts: ArtifactStore, inline: bool
) -> StreamingResponse:
    size = artifact.size_bytes
    start, end, code = 0, size, status.HTTP_200_OK
    wanted = request.headers.get("range")
    headers = {"accept-ranges": "bytes", "content-security-policy": _SANDBOX}
    if wanted:
        match = _RANGE.match(wanted.strip())
        first, last = (match.group(1), match.group(2)) if match else ("", "")
        if match and (first or last):
            if first:
                start, end = int(first), min(int(last) + 1, size) if last else size
            else:
                start, end = max(size - int(last), 0), size
            if start >= size or start >= end:
                return StreamingResponse(
                    iter(()), status.HTTP_416_RANGE_NOT_SATISFIABLE,
                    headers={**headers, "content-range": f"bytes */{size}"},
                )  # fmt: skip
            code = status.HTTP_206_PARTIAL_CONTENT
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    show = inline and artifact.media_type in INLINE
    media = artifact.media_type if show else "application/octet-stream"
    if show and media.startswith("text/"):
        media += "; charset=utf-8"
    filename = artifact.name.rsplit("/", 1)[-1]
    headers["content-disposition"] = _disposition("inline" if show else "attachment", filename)
    headers["content-length"] = str(end - start)
    body = artifacts.read(artifact.sha256, start, end)
    return StreamingResponse(body, code, headers=headers, media_type=media)


def _folder(name: str, files: list[Artifact], artifacts: ArtifactStore) -> StreamingResponse:
    filename = name.rsplit("/", 1)[-1] + ".zip"
    headers = {
        "content-disposition": _disposition("attachment", filename),
        "content-security-policy": _SANDBOX,
    }
    return StreamingResponse(
        zip_stream(name, files, artifacts), headers=headers, media_type="application/zip"
    )


class _Pipe:
    """A write-only, unseekable file whose bytes are taken out as they come (for zipfile)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data

    @property
    def pending(self) -> bool:
        return bool(self.parts)


def zip_stream(folder: str, files: list[Artifact], artifacts: ArtifactStore) -> Iterator[bytes]:
    """A zip of the files under ``folder`` (paths inside it relative to the folder), produced
    chunk by chunk: never the whole archive in memory."""
    pipe = _Pipe()
    out = cast(IO[bytes], pipe)  # write/tell/flush are all zipfile needs of an unseekable file
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for artifact in files:
            inner = artifact.name[len(folder) + 1 :]
            info = zipfile.ZipInfo(inner, time.gmtime(artifact.created_at)[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=artifact.size_bytes > 2**31) as entry:
                for chunk in artifacts.read(artifact.sha256):
                    entry.write(chunk)
                    if pipe.pending:
                        yield pipe.take()
    yield pipe.take()
