"""Artifacts in S3-compatible object storage (AWS S3, MinIO, Ceph, R2): ``s3://bucket/prefix``.

Shared by every App process on every machine. The endpoint and credentials come from boto3's
usual places (``AWS_ENDPOINT_URL`` for MinIO and friends, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``~/.aws/``). Keys, under the prefix::

    blobs/ab/cd/abcd…   a blob, named by its sha256
    uploads/<id>        an upload in parts: an S3 multipart upload, so it survives App restarts
    tmp/<id>            a blob being written whose digest is not known in advance

A blob appears at its key only after its bytes were checked: a multipart upload whose digest
was announced is completed only when the bytes hash to it; otherwise the bytes are completed
under ``tmp/`` or ``uploads/``, checked, and copied into place on the server.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from mlops.artifacts.base import CHUNK, ArtifactStore, Blob, Hasher, no_blob, no_upload
from mlops.artifacts.names import blob_key, check_digest, upload_key
from mlops.errors import InvalidInput, NotFound, Unavailable

__all__ = ["S3Artifacts"]

#: Bytes of one part of a multipart upload (S3 wants at least 5 MiB for all but the last).
PART = 16 << 20


class S3Artifacts(ArtifactStore):
    """Blobs under ``s3://bucket/prefix`` (see the module docstring)."""

    def __init__(self, uri: str, client: Any = None) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise InvalidInput(f"{uri!r} is not an S3 location: use s3://bucket/prefix")
        self.uri = uri
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        if client is None:
            try:
                import boto3
            except ImportError:
                raise InvalidInput(
                    "S3 artifact storage needs boto3: pip install 'mlops-library[s3]'"
                ) from None
            client = boto3.client("s3")
        self._s3 = client
        self._hashers: dict[str, Hasher] = {}
        self._lock = threading.Lock()

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    # -- blobs ------------------------------------------------------------------------------
    def _head(self, digest: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            with _storage_errors(self.uri, not_found=False):
                return dict(
                    self._s3.head_object(Bucket=self.bucket, Key=self._key(blob_key(digest)))
                )
        except ClientError:
            return None

    def has(self, digest: str) -> bool:
        return self._head(digest) is not None

    def size(self, digest: str) -> int:
        head = self._head(digest)
        if head is None:
            raise no_blob(digest)
        return int(head["ContentLength"])

    def stored_at(self, digest: str) -> float:
        head = self._head(digest)
        if head is None:
            raise no_blob(digest)
        return float(head["LastModified"].timestamp())

    def write(self, chunks: Iterable[bytes], digest: str | None = None) -> Blob:
        key = self._key(blob_key(digest) if digest is not None else f"tmp/{uuid.uuid4().hex}")
        hasher = Hasher()
        with _storage_errors(self.uri):
            buffered = _Parts(chunks, hasher)
            first = next(buffered, None)
            if first is None or buffered.exhausted:  # one part: checked before it is stored
                blob = hasher.check(digest)
                if digest is not None and self.has(blob.digest):
                    return blob
                body = first.read() if first is not None else b""
                final = self._key(blob_key(blob.digest))
                self._s3.put_object(Bucket=self.bucket, Key=final, Body=body)
                return blob
            upload = self._s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
            try:
                done = [self._part(key, upload, 1, first)]
                done += [self._part(key, upload, n, p) for n, p in enumerate(buffered, start=2)]
                blob = hasher.check(digest)
            except BaseException:
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
                raise
            if digest is not None and self.has(blob.digest):
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
                return blob
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
            )
            if digest is None:
                self._move(key, blob.digest)
            return blob

    def _part(self, key: str, upload: str, number: int, body: Any) -> dict[str, Any]:
        answer = self._s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
        )
        body.close()
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _move(self, key: str, digest: str) -> None:
        """Copy checked bytes at ``key`` to their blob key on the server, then drop ``key``."""
        if not self.has(digest):
            source = {"Bucket": self.bucket, "Key": key}
            self._s3.copy(source, self.bucket, self._key(blob_key(digest)))
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def read(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_digest(digest)
        if end is not None and end <= start:
            return iter(())
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(blob_key(digest))}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with _storage_errors(self.uri):
            try:
                body = self._s3.get_object(**request)["Body"]
            except self._s3.exceptions.NoSuchKey:
                raise no_blob(digest) from None
        return _stream(body)

    def delete(self, digest: str) -> None:
        with _storage_errors(self.uri):
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(blob_key(digest)))

    def digests(self) -> Iterator[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key("blobs/")
        )
        with _storage_errors(self.uri):
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"].rsplit("/", 1)[-1]

    # -- uploads in parts -------------------------------------------------------------------
    def _upload(self, upload_id: str) -> tuple[str, str]:
        """(S3 key, S3 upload id) of one of our uploads, found again after a restart too."""
        key = self._key(upload_key(upload_id))
        with _storage_errors(self.uri):
            found = self._s3.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        for upload in found.get("Uploads", []):
            if upload["Key"] == key:
                return key, upload["UploadId"]
        raise no_upload(upload_id)

    def _parts(self, key: str, upload: str) -> list[dict[str, Any]]:
        pages = self._s3.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=key, UploadId=upload
        )
        with _storage_errors(self.uri):
            return [part for page in pages for part in page.get("Parts", [])]

    def start_upload(self) -> str:
        upload_id = uuid.uuid4().hex
        with _storage_errors(self.uri):
            self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self._key(upload_key(upload_id))
            )
        with self._lock:
            self._hashers[upload_id] = Hasher()
        return upload_id

    def upload_offset(self, upload_id: str) -> int:
        key, upload = self._upload(upload_id)
        return sum(int(part["Size"]) for part in self._parts(key, upload))

    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        key, upload = self._upload(upload_id)
        parts = self._parts(key, upload)
        current = sum(int(part["Size"]) for part in parts)
        if offset != current:
            raise InvalidInput(
                f"upload {upload_id} has {current} bytes, so the next part starts at offset "
                f"{current}, not {offset}: resume from {current}"
            )
        with self._lock:
            hasher = self._hashers.get(upload_id)
        with tempfile.TemporaryFile() as spool, _storage_errors(self.uri):
            for chunk in chunks:
                if hasher is not None:
                    hasher.update(chunk)
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            self._s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=len(parts) + 1, Body=spool
            )
        return current + size

    def finish_upload(self, upload_id: str, digest: str) -> Blob:
        digest = check_digest(digest)
        key, upload = self._upload(upload_id)
        parts = self._parts(key, upload)
        size = sum(int(part["Size"]) for part in parts)
        with self._lock:
            hasher = self._hashers.pop(upload_id, None)
        listed = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
        with _storage_errors(self.uri):
            if hasher is not None and hasher.size == size:  # every part seen: check first
                try:
                    blob = hasher.check(digest)
                except InvalidInput:
                    self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
                    raise
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": listed}
            )
            if hasher is None or hasher.size != size:  # resumed after a restart: read it back
                hasher = Hasher()
                for chunk in _stream(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]):
                    hasher.update(chunk)
                try:
                    blob = hasher.check(digest)
                except InvalidInput:
                    self._s3.delete_object(Bucket=self.bucket, Key=key)
                    raise
            self._move(key, blob.digest)
        return blob

    def abort_upload(self, upload_id: str) -> None:
        with self._lock:
            self._hashers.pop(upload_id, None)
        try:
            key, upload = self._upload(upload_id)
        except NotFound:
            return
        with _storage_errors(self.uri):
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)


class _Parts:
    """Chunks regrouped into spooled parts of ``PART`` bytes, hashed on the way."""

    def __init__(self, chunks: Iterable[bytes], hasher: Hasher) -> None:
        self._chunks = iter(chunks)
        self._hasher = hasher
        self.exhausted = False

    def __iter__(self) -> _Parts:
        return self

    def __next__(self) -> Any:
        if self.exhausted:
            raise StopIteration
        spool = tempfile.SpooledTemporaryFile(max_size=PART + CHUNK)  # noqa: SIM115
        while spool.tell() < PART:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.exhausted = True
                break
            self._hasher.update(chunk)
            spool.write(chunk)
        if spool.tell() == 0 and self.exhausted:
            spool.close()
            raise StopIteration
        spool.seek(0)
        return spool


def _stream(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


@contextlib.contextmanager
def _storage_errors(uri: str, not_found: bool = True) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if not not_found and code in ("404", "NoSuchKey", "NotFound"):
            raise
        if code in ("NoSuchUpload",):
            raise NotFound(f"the upload is unknown or already finished ({code})") from exc
        raise Unavailable(
            f"the artifact storage at {uri} refused the request: {code} ({exc})"
        ) from exc
    except BotoCoreError as exc:
        raise Unavailable(
            f"the artifact storage at {uri} cannot be reached ({exc}); check AWS_ENDPOINT_URL "
            "and the credentials"
        ) from exc
