"""A large upload resumes where it stopped when the App is killed and restarted mid-way: the
same upload goes on (the App kept its staged bytes), it does not start again."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import AppProcess
from mlops import tracking
from mlops.store import http_artifacts

MiB = 1 << 20


def _staged(folder: Path) -> dict[str, int]:
    found = folder.glob("*") if folder.is_dir() else []
    return {p.name: p.stat().st_size for p in found}


def test_an_app_restarted_mid_upload_resumes_the_same_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    uploads = tmp_path / "artifacts" / "uploads"
    data = os.urandom(24 * MiB)
    (tmp_path / "checkpoint.pt").write_bytes(data)
    # Parts of 2 MiB, a little apart, so that the App can be killed between two of them.
    monkeypatch.setattr(http_artifacts, "PART", 2 * MiB)
    real_request = http_artifacts.upload.__globals__["_send_parts"]

    def slow_parts(transport: Any, fh: Any, upload_id: str, size: int) -> None:
        original = transport.request

        def paced(method: str, path: str, **kwargs: Any) -> Any:
            if path.endswith("/parts"):
                time.sleep(0.05)
            return original(method, path, **kwargs)

        transport.request = paced
        try:
            real_request(transport, fh, upload_id, size)
        finally:
            del transport.request

    monkeypatch.setattr(http_artifacts, "_send_parts", slow_parts)
    first = AppProcess(db)
    monkeypatch.setenv("MLOPS_TRACKING_URI", first.url)
    project = tracking.create_project("resume")
    it = tracking.start_iteration("big", project_id=project["id"])
    it.log_artifact(tmp_path / "checkpoint.pt")
    deadline = time.monotonic() + 60
    while not any(size >= 6 * MiB for size in _staged(uploads).values()):
        assert time.monotonic() < deadline, "the upload never got going"
        time.sleep(0.02)
    before = _staged(uploads)
    first.stop(sig=9)
    seen: set[str] = set(before)
    watching = threading.Event()

    def watch() -> None:  # every upload the App stages from now on
        while not watching.is_set():
            seen.update(_staged(uploads))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    second = AppProcess(db, port=first.port)
    try:
        it.end_iteration()
        watching.set()
        watcher.join()
        [upload_id] = before
        assert seen == {upload_id}  # the same upload went on: none was started again
        [artifact] = tracking.list_artifacts(it.id)
        assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
        assert _staged(uploads) == {}  # finished: no upload left, and no second one was made
        out = Path(tracking.download_artifacts(it.id, dst=tmp_path / "out"))
        assert (out / "checkpoint.pt").read_bytes() == data
        assert before[upload_id] < len(data)
    finally:
        second.stop()
