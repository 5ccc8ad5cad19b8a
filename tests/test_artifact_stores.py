"""One behaviour suite for every artifact backend: a local folder and S3 (a moto server)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.artifacts import ArtifactStore, DigestMismatch, check_name, open_artifact_store
from mlops.artifacts.names import blob_key, check_upload_id
from mlops.errors import InvalidInput, NotFound
from s3_support import s3_bucket, s3_endpoint  # noqa: F401 - fixtures

MiB = 1 << 20


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "artifacts")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/team/artifacts"


@pytest.fixture
def artifacts(location: str) -> Iterator[ArtifactStore]:
    store = open_artifact_store(location)
    yield store
    store.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read_all(store: ArtifactStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(store.read(digest, start, end))


def test_blobs_are_content_addressed_and_stored_once(artifacts: ArtifactStore) -> None:
    data = b"roc curve " * 1000
    blob = artifacts.write(chunks(data))
    assert (blob.digest, blob.size) == (sha(data), len(data))
    again = artifacts.write(chunks(data), digest=blob.digest)
    assert again == blob
    assert list(artifacts.digests()) == [blob.digest]
    assert artifacts.has(blob.digest) and artifacts.size(blob.digest) == len(data)
    assert read_all(artifacts, blob.digest) == data
    empty = artifacts.write(iter([]))
    assert empty.size == 0 and read_all(artifacts, empty.digest) == b""
    artifacts.delete(blob.digest)
    assert not artifacts.has(blob.digest)
    with pytest.raises(NotFound, match=blob.digest):
        artifacts.size(blob.digest)
    with pytest.raises(NotFound):
        read_all(artifacts, blob.digest)


def test_reads_by_range(artifacts: ArtifactStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    digest = artifacts.write(chunks(data)).digest
    assert read_all(artifacts, digest, 10, 20) == data[10:20]
    assert read_all(artifacts, digest, len(data) - 5) == data[-5:]
    assert read_all(artifacts, digest, 0, MiB) == data
    assert read_all(artifacts, digest, 7, 7) == b""


def test_bytes_that_do_not_match_their_digest_are_never_stored(artifacts: ArtifactStore) -> None:
    data = os.urandom(1000)
    wrong = sha(b"something else")
    with pytest.raises(DigestMismatch, match="do not match"):
        artifacts.write(chunks(data), digest=wrong)
    assert list(artifacts.digests()) == [] and not artifacts.has(sha(data))


def test_a_large_blob_streams_in_parts(artifacts: ArtifactStore) -> None:
    data = os.urandom(20 * MiB + 123)  # more than one S3 part of 16 MiB
    blob = artifacts.write(chunks(data, MiB), digest=sha(data))
    assert blob.size == len(data) and read_all(artifacts, blob.digest) == data
    unknown_digest = artifacts.write(chunks(data[::-1], MiB))
    assert unknown_digest.digest == sha(data[::-1])
    assert sorted(artifacts.digests()) == sorted([blob.digest, unknown_digest.digest])


def test_an_upload_in_parts_resumes_after_a_restart(location: str) -> None:
    data = os.urandom(11 * MiB + 7)
    first, second = data[: 5 * MiB], data[5 * MiB : 10 * MiB]
    store = open_artifact_store(location)
    upload = store.start_upload()
    assert store.upload_offset(upload) == 0
    assert store.append(upload, 0, chunks(first)) == len(first)
    with pytest.raises(InvalidInput, match=f"resume from {len(first)}"):
        store.append(upload, 0, chunks(second))
    # A new process (the App restarted) finds the upload where it was left.
    restarted = open_artifact_store(location)
    offset = restarted.upload_offset(upload)
    assert offset == len(first)
    offset = restarted.append(upload, offset, chunks(second))
    offset = restarted.append(upload, offset, chunks(data[offset:]))
    assert offset == len(data)
    blob = restarted.finish_upload(upload, sha(data))
    assert blob.size == len(data) and read_all(restarted, blob.digest) == data
    with pytest.raises(NotFound, match="start a new upload"):
        restarted.upload_offset(upload)
    assert list(restarted.digests()) == [blob.digest]


def test_an_upload_with_the_wrong_digest_is_dropped(artifacts: ArtifactStore) -> None:
    data = os.urandom(1000)
    upload = artifacts.start_upload()
    artifacts.append(upload, 0, [data])
    with pytest.raises(DigestMismatch):
        artifacts.finish_upload(upload, sha(b"other"))
    with pytest.raises(NotFound):
        artifacts.upload_offset(upload)
    assert list(artifacts.digests()) == []
    aborted = artifacts.start_upload()
    artifacts.append(aborted, 0, [data])
    artifacts.abort_upload(aborted)
    with pytest.raises(NotFound):
        artifacts.append(aborted, 1000, [data])
    artifacts.abort_upload(aborted)  # twice is harmless


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd", "a/../../b", "/etc/passwd", "C:evil", "a\\b", "a\x00b", "a//b", "./a",
        "a/.", "%2e%2e/secret", "a/%2E%2E/b", "%2fetc", "a%5cb", "a%00b", "", "x" * 1025,
        "line\nbreak",
    ],
)  # fmt: skip
def test_traversal_and_odd_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)


@pytest.mark.parametrize(
    "name", ["model.pkl", "plots/roc.png", "roc#1.png", "what?.txt", "données/é.csv", "a..b"]
)
def test_plain_names_are_kept_as_given(name: str) -> None:
    assert check_name(name) == name


def test_keys_come_only_from_digests_and_upload_ids() -> None:
    digest = sha(b"x")
    assert blob_key(digest) == f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
    assert blob_key("sha256:" + digest) == blob_key(digest)
    for bad in ("../" + digest[3:], digest.upper(), "x" * 64):
        with pytest.raises(InvalidInput):
            blob_key(bad)
    with pytest.raises(InvalidInput):
        check_upload_id("../uploads/abc")
