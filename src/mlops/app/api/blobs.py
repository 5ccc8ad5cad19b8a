"""REST routes for the bytes of artifacts: blobs by sha256 and uploads in parts.

Bodies are ``application/octet-stream`` (the one exception to the App's JSON-only writes, still
behind the token and Origin checks) and stream through to the artifact store: neither side holds
a whole file in memory. A blob becomes visible only once its sha256 was checked. An upload in
parts is staged in the artifact store itself, so an App restarted mid-upload tells the client
where to resume (``GET /uploads/{id}``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from mlops.app.deps import ArtifactsDep, CanRead, CanWrite
from mlops.app.responses import JsonResponse
from mlops.app.schemas import ERRORS, ok
from mlops.app.schemas_files import BlobList, BlobOut, UploadOut
from mlops.artifacts import ArtifactStore
from mlops.artifacts.names import check_digest, check_upload_id
from mlops.artifacts.wire import BlobFinish
from mlops.errors import InvalidInput, TooLarge

router = APIRouter(tags=["artifacts"], responses=ERRORS)
T = TypeVar("T")
#: The request body of the byte routes, for the OpenAPI document.
BYTES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _limited(request: Request, chunks: Iterator[bytes], already: int = 0) -> Iterator[bytes]:
    """The body's chunks, refusing (413) a file over the App's ``--max-artifact-size``."""
    limit: int = request.app.state.settings.max_artifact_bytes
    seen = already
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(
                f"the file is larger than the App's limit of {limit:,} bytes "
                "(mlops app --max-artifact-size); ask the App's admin to raise it"
            )
        yield chunk


async def stream_into(request: Request, consume: Callable[[Iterator[bytes]], T]) -> T:
    """Run ``consume`` on a worker thread with the request body as a plain iterator of chunks,
    pulled from the event loop as the thread asks for them."""
    body = request.stream().__aiter__()

    async def next_chunk() -> bytes:
        return await body.__anext__()

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = anyio.from_thread.run(next_chunk)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    return await anyio.to_thread.run_sync(lambda: consume(chunks()))


def _blob(digest: str, size: int) -> dict[str, Any]:
    return {"sha256": digest, "size_bytes": size}


@router.get("/blobs/{sha256}", dependencies=[CanRead], responses=ok(BlobOut))
async def get_blob(sha256: str, artifacts: ArtifactsDep) -> JsonResponse:
    """Whether the App has a blob (404 when not): a client skips uploading bytes it has."""
    digest = check_digest(sha256)
    size = await anyio.to_thread.run_sync(artifacts.size, digest)
    return JsonResponse(_blob(digest, size))


@router.put(
    "/blobs/{sha256}",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    responses=ok(BlobOut, 201),
    openapi_extra=BYTES_BODY,
)
async def put_blob(sha256: str, request: Request, artifacts: ArtifactsDep) -> JsonResponse:
    """Store a whole file in one request; its bytes must hash to ``sha256`` (422 otherwise,
    and nothing is kept)."""
    digest = check_digest(sha256)
    blob = await stream_into(request, lambda c: artifacts.write(_limited(request, c), digest))
    return JsonResponse(_blob(blob.digest, blob.size), status.HTTP_201_CREATED)


#: The most blobs, and the largest blob, one ``PUT /blobs`` may carry.
MAX_FRAMES = 1000
MAX_FRAME_BYTES = 1 << 20
_HEADER = 40  # 32 bytes of sha256, 8 of size (big-endian)


def read_frames(chunks: Iterator[bytes]) -> Iterator[tuple[str, bytes]]:
    """The (sha256, bytes) frames of a ``PUT /blobs`` body: each is the 32 bytes of its
    sha256, its size as 8 bytes big-endian, then its bytes."""
    buffer = bytearray()
    source = iter(chunks)

    def fill(size: int) -> bool:
        while len(buffer) < size:
            chunk = next(source, None)
            if chunk is None:
                return False
            buffer.extend(chunk)
        return True

    count = 0
    while fill(1):
        count += 1
        if count > MAX_FRAMES:
            raise InvalidInput(
                f"one request carries at most {MAX_FRAMES} files; send the rest next"
            )
        if not fill(_HEADER):
            raise InvalidInput("the body ends inside a frame header: send whole frames")
        digest, size = bytes(buffer[:32]).hex(), int.from_bytes(buffer[32:_HEADER], "big")
        if size > MAX_FRAME_BYTES:
            raise InvalidInput(
                f"a file in a batch is at most {MAX_FRAME_BYTES:,} bytes, not {size:,}: "
                "send larger ones with PUT /blobs/{sha256}"
            )
        if not fill(_HEADER + size):
            raise InvalidInput(f"the body ends inside the file {digest}: send whole frames")
        data = bytes(buffer[_HEADER : _HEADER + size])
        del buffer[: _HEADER + size]
        yield digest, data


def _write_frames(artifacts: ArtifactStore, chunks: Iterator[bytes]) -> list[dict[str, Any]]:
    batch = getattr(artifacts, "batch", None)
    with batch() if batch is not None else contextlib.nullcontext():
        stored = [artifacts.write(iter([data]), digest) for digest, data in read_frames(chunks)]
    return [_blob(b.digest, b.size) for b in stored]


@router.put(
    "/blobs",
    dependencies=[CanWrite],
    responses=ok(BlobList),
    openapi_extra=BYTES_BODY,
)
async def put_blobs(request: Request, artifacts: ArtifactsDep) -> JsonResponse:
    """Store many small files in one request (up to 1,000 of at most 1 MiB each): the body is
    frames of [32 bytes sha256][8 bytes size, big-endian][the bytes]. Each must hash to its
    sha256 (422 otherwise: none of the request's files is recorded by the client)."""
    blobs = await stream_into(request, lambda c: _write_frames(artifacts, _limited(request, c)))
    return JsonResponse({"blobs": blobs})


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    responses=ok(UploadOut, 201),
)
async def start_upload(artifacts: ArtifactsDep) -> JsonResponse:
    """Open an upload in parts for a large file."""
    upload_id = await anyio.to_thread.run_sync(artifacts.start_upload)
    return JsonResponse({"upload_id": upload_id, "offset": 0}, status.HTTP_201_CREATED)


@router.get("/uploads/{upload_id}", dependencies=[CanWrite], responses=ok(UploadOut))
async def get_upload(upload_id: str, artifacts: ArtifactsDep) -> JsonResponse:
    """Where the next part of an upload starts (after an App restart too)."""
    offset = await anyio.to_thread.run_sync(artifacts.upload_offset, check_upload_id(upload_id))
    return JsonResponse({"upload_id": upload_id, "offset": offset})


@router.put(
    "/uploads/{upload_id}/parts",
    dependencies=[CanWrite],
    responses=ok(UploadOut),
    openapi_extra=BYTES_BODY,
)
async def put_part(
    upload_id: str,
    request: Request,
    artifacts: ArtifactsDep,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)],
) -> JsonResponse:
    """Add the part that starts at ``offset`` (409-like 422 naming the right offset when it is
    not where the upload stands)."""
    upload_id = check_upload_id(upload_id)
    end = await stream_into(
        request, lambda c: artifacts.append(upload_id, offset, _limited(request, c, offset))
    )
    return JsonResponse({"upload_id": upload_id, "offset": end})


@router.post("/uploads/{upload_id}/finish", dependencies=[CanWrite], responses=ok(BlobOut))
async def finish_upload(upload_id: str, body: BlobFinish, artifacts: ArtifactsDep) -> JsonResponse:
    """Check the staged bytes against ``sha256`` and make them a blob."""
    upload_id, digest = check_upload_id(upload_id), check_digest(body.sha256)
    blob = await anyio.to_thread.run_sync(artifacts.finish_upload, upload_id, digest)
    return JsonResponse(_blob(blob.digest, blob.size))


@router.delete(
    "/uploads/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[CanWrite],
    responses={204: {"description": "The upload and its staged bytes are gone."}},
)
async def abort_upload(upload_id: str, artifacts: ArtifactsDep) -> Response:
    """Drop an unfinished upload."""
    await anyio.to_thread.run_sync(artifacts.abort_upload, check_upload_id(upload_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
