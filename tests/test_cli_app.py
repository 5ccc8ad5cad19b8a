"""``mlops app`` as a user starts it: a real process and its stdout."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

from conftest import free_port


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    box: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


def test_the_printed_url_answers_at_once_with_two_workers(tmp_path: Path) -> None:
    """The URL ``mlops app --workers 2`` prints is only printed once the App answers there:
    a request sent the moment the line appears gets its answer (not a refused connection)."""
    port = free_port()
    command = [sys.executable, "-m", "mlops", "app", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        [*command, "--store", f"sqlite:///{tmp_path / 'app.db'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = _readline(proc, 60)
        assert line == f"mlops App running at http://127.0.0.1:{port}/\n", (line, proc.poll())
        url = line.split(" at ", 1)[1].strip()
        answer = httpx.get(f"{url}api/v1/health", timeout=5)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "Traceback" not in stderr
