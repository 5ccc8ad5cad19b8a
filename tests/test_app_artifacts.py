"""The App's artifact routes, through a real App process: blobs, resumable uploads, records,
downloads (ranges, folders as zip), files that never run in the App's origin, the registry."""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import AppProcess

BYTES = {"Content-Type": "application/octet-stream"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def app(tmp_path: Path, start_app: Any) -> AppProcess:
    app: AppProcess = start_app(f"sqlite:///{tmp_path / 'app.db'}", "--max-artifact-size", "8MiB")
    return app


def _iteration(client: httpx.Client) -> str:
    project = client.post("/projects", json={"title": f"files-{time.time_ns()}"}).json()
    experiment = client.post("/experiments", json={"project_id": project["id"], "name": "e"}).json()
    iteration_id = os.urandom(16).hex()
    body = {"id": iteration_id, "name": "run", "started_at": time.time(),
            "experiment_id": experiment["id"]}  # fmt: skip
    assert client.post("/iterations", json=body).status_code == 201
    return iteration_id


def _put(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.put(f"/blobs/{sha(data)}", content=data, headers=BYTES)


def _record(client: httpx.Client, it: str, name: str, data: bytes, media: str, step: Any = None):
    item = {"name": name, "sha256": sha(data), "size_bytes": len(data), "media_type": media,
            "step": step}  # fmt: skip
    return client.post(f"/iterations/{it}/artifacts", json={"artifacts": [item]})


def _content(client: httpx.Client, it: str, name: str, **params: Any) -> httpx.Response:
    return client.get(f"/iterations/{it}/artifacts/content", params={"name": name, **params})


def test_blobs_are_checked_recorded_and_downloaded(app: AppProcess) -> None:
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        it = _iteration(client)
        data = os.urandom(300_000)
        assert client.get(f"/blobs/{sha(data)}").status_code == 404
        wrong = client.put(f"/blobs/{sha(b'other')}", content=data, headers=BYTES)
        assert wrong.status_code == 422 and "do not match" in wrong.json()["error"]["message"]
        assert client.get(f"/blobs/{sha(data)}").status_code == 404
        assert client.put(f"/blobs/{sha(data)}", content=data).status_code == 415
        stored = _put(client, data)
        assert stored.status_code == 201 and stored.json()["size_bytes"] == len(data)
        assert client.get(f"/blobs/{sha(data)}").json()["sha256"] == sha(data)

        missing = _record(client, it, "never-uploaded.bin", b"nothing here", "text/plain")
        assert missing.status_code == 422 and "upload the bytes first" in missing.text
        assert _record(client, it, "plots/roc#1.png", data, "image/png").status_code == 201
        [listed] = client.get(f"/iterations/{it}/artifacts").json()["artifacts"]
        assert (listed["name"], listed["sha256"]) == ("plots/roc#1.png", sha(data))

        whole = _content(client, it, "plots/roc#1.png")
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-type"] == "application/octet-stream"
        assert whole.headers["content-disposition"].startswith("attachment;")
        assert whole.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in whole.headers["content-security-policy"]
        ranged = client.get(
            f"/iterations/{it}/artifacts/content",
            params={"name": "plots/roc#1.png"},
            headers={"Range": "bytes=100-199"},
        )
        assert ranged.status_code == 206 and ranged.content == data[100:200]
        assert ranged.headers["content-range"] == f"bytes 100-199/{len(data)}"
        tail = client.get(
            f"/iterations/{it}/artifacts/content",
            params={"name": "plots/roc#1.png"},
            headers={"Range": "bytes=-10"},
        )
        assert tail.content == data[-10:]
        beyond = client.get(
            f"/iterations/{it}/artifacts/content",
            params={"name": "plots/roc#1.png"},
            headers={"Range": f"bytes={len(data)}-"},
        )
        assert beyond.status_code == 416
        inline = _content(client, it, "plots/roc#1.png", inline=1)
        assert inline.headers["content-type"] == "image/png"
        assert inline.headers["content-disposition"].startswith("inline;")


def test_svg_and_html_are_only_ever_downloads(app: AppProcess) -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    )
    html = b"<html><script>alert(3)</script></html>"
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        it = _iteration(client)
        for name, data, media in (("x.svg", svg, "image/svg+xml"), ("x.html", html, "text/html")):
            _put(client, data)
            assert _record(client, it, name, data, media).status_code == 201
            shown = _content(client, it, name, inline=1)
            assert shown.headers["content-type"] == "application/octet-stream"
            assert shown.headers["content-disposition"].startswith("attachment;")
            assert "sandbox" in shown.headers["content-security-policy"]


def test_a_folder_downloads_as_a_zip_of_its_files(app: AppProcess) -> None:
    files = {"model/model.pkl": os.urandom(5000), "model/conf/params.json": b'{"lr": 0.1}'}
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        it = _iteration(client)
        for name, data in files.items():
            _put(client, data)
            assert _record(client, it, name, data, "application/octet-stream").status_code == 201
        answer = _content(client, it, "model")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            assert sorted(archive.namelist()) == ["conf/params.json", "model.pkl"]
            assert archive.read("model.pkl") == files["model/model.pkl"]
        assert _content(client, it, "mod").status_code == 404


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "a/../b", "%2e%2e/x", "a\\b", "a\x00b", "x" * 1025]
)
def test_traversal_names_are_refused(app: AppProcess, name: str) -> None:
    data = b"payload"
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        it = _iteration(client)
        _put(client, data)
        refused = _record(client, it, name, data, "text/plain")
        assert refused.status_code == 422, refused.text
        assert _content(client, it, name).status_code == 422


def test_an_upload_in_parts_resumes_after_the_app_restarts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'resume.db'}"
    data = os.urandom(3 * 1024 * 1024 + 17)
    first = AppProcess(db)
    try:
        with httpx.Client(base_url=first.url + "/api/v1") as client:
            upload = client.post("/uploads", json={}).json()["upload_id"]
            put = client.put(
                f"/uploads/{upload}/parts", params={"offset": 0}, content=data[:1_000_000],
                headers=BYTES,
            )  # fmt: skip
            assert put.json()["offset"] == 1_000_000
            wrong = client.put(
                f"/uploads/{upload}/parts", params={"offset": 5}, content=b"x", headers=BYTES
            )
            assert wrong.status_code == 422 and "resume from 1000000" in wrong.text
    finally:
        first.stop()
    second = AppProcess(db, port=first.port)
    try:
        with httpx.Client(base_url=second.url + "/api/v1") as client:
            offset = client.get(f"/uploads/{upload}").json()["offset"]
            assert offset == 1_000_000
            client.put(
                f"/uploads/{upload}/parts", params={"offset": offset}, content=data[offset:],
                headers=BYTES,
            )  # fmt: skip
            finished = client.post(f"/uploads/{upload}/finish", json={"sha256": sha(data)})
            assert finished.status_code == 200 and finished.json()["size_bytes"] == len(data)
            assert client.get(f"/blobs/{sha(data)}").status_code == 200
            assert client.get(f"/uploads/{upload}").status_code == 404
    finally:
        second.stop()


def test_a_file_over_the_size_limit_is_413_with_the_limit(app: AppProcess) -> None:
    big = os.urandom(9 * 1024 * 1024)
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        refused = _put(client, big)
        assert refused.status_code == 413 and "8,388,608" in refused.text

        def stream() -> Any:  # chunked, no Content-Length: refused on the way
            for start in range(0, len(big), 1 << 20):
                yield big[start : start + (1 << 20)]

        chunked = client.put(f"/blobs/{sha(big)}", content=stream(), headers=BYTES)
        assert chunked.status_code == 413
        assert client.get(f"/blobs/{sha(big)}").status_code == 404


def test_tokens_guard_uploads_and_downloads(tmp_path: Path, start_app: Any) -> None:
    from mlops.store.sql.store import SqlStore

    db = f"sqlite:///{tmp_path / 'auth.db'}"
    store = SqlStore(db)
    writer, _ = store.create_token("writer", "write")
    reader, _ = store.create_token("reader", "read")
    store.close()
    app = start_app(db, "--auth")
    data = b"secret weights"
    with httpx.Client(base_url=app.url + "/api/v1") as anonymous:
        assert _put(anonymous, data).status_code == 401
    with httpx.Client(
        base_url=app.url + "/api/v1", headers={"Authorization": f"Bearer {reader}"}
    ) as client:
        assert _put(client, data).status_code == 403
    with httpx.Client(
        base_url=app.url + "/api/v1", headers={"Authorization": f"Bearer {writer}"}
    ) as client:
        it = _iteration(client)
        assert _put(client, data).status_code == 201
        assert _record(client, it, "w.bin", data, "application/octet-stream").status_code == 201
        version = client.post(
            "/models/secret/versions", json={"iteration_id": it, "artifact": "w.bin"}
        )
        assert version.status_code == 201 and version.json()["created_by"] == "writer"
    with httpx.Client(
        base_url=app.url + "/api/v1", headers={"Authorization": f"Bearer {reader}"}
    ) as client:
        assert _content(client, it, "w.bin").content == data
        moved = client.put("/models/secret/aliases/production", json={"version": 1})
        assert moved.status_code == 403


def test_the_registry_through_the_app(app: AppProcess) -> None:
    data = b"model bytes"
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        it = _iteration(client)
        missing = client.post("/models/digits/versions", json={"iteration_id": it})
        assert missing.status_code == 404 and "has no artifact 'model'" in missing.text
        _put(client, data)
        _record(client, it, "model/model.pkl", data, "application/octet-stream")
        made = client.post("/models/digits/versions", json={"iteration_id": it})
        assert made.status_code == 201 and made.json()["version"] == 1
        moved = client.put("/models/digits/aliases/production", json={"version": 1})
        assert moved.json()["aliases"][0]["alias"] == "production"
        by_alias = client.get("/models/digits/versions/production").json()
        assert (by_alias["version"], by_alias["iteration_id"]) == (1, it)
        model = client.get("/models/digits").json()
        assert model["aliases"] == {"production": 1} and len(model["versions"]) == 1
        assert [m["name"] for m in client.get("/models").json()["models"]] == ["digits"]
        assert client.put("/models/digits/aliases/7", json={"version": 1}).status_code == 422
        assert client.get("/models/nope").status_code == 404


def _frames(files: list[bytes], digests: list[str] | None = None) -> bytes:
    body = b""
    for i, data in enumerate(files):
        digest = bytes.fromhex(digests[i] if digests else sha(data))
        body += digest + len(data).to_bytes(8, "big") + data
    return body


def test_many_small_files_go_in_one_request(app: AppProcess) -> None:
    files = [os.urandom(4096) for _ in range(50)]
    with httpx.Client(base_url=app.url + "/api/v1") as client:
        stored = client.put("/blobs", content=_frames(files), headers=BYTES)
        assert stored.status_code == 200, stored.text
        assert [b["sha256"] for b in stored.json()["blobs"]] == [sha(f) for f in files]
        assert all(client.get(f"/blobs/{sha(f)}").status_code == 200 for f in files[:3])
        bad = [os.urandom(10), os.urandom(10)]
        wrong = client.put(
            "/blobs", content=_frames(bad, [sha(bad[0]), sha(b"not it")]), headers=BYTES
        )
        assert wrong.status_code == 422 and "do not match" in wrong.text
        assert client.get(f"/blobs/{sha(bad[1])}").status_code == 404
        torn = client.put("/blobs", content=_frames(files[:1])[:-5], headers=BYTES)
        assert torn.status_code == 422 and "whole frames" in torn.text
