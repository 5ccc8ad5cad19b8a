"""`mlops sync` sends what an offline run kept, as a real command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import child_environ, free_port
from mlops.config import write_settings
from mlops.store import journal
from test_http_store import make_catalog, points_in, running_app, train


def _sync(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_environ()
    env["MLOPS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "mlops", "sync", *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_mlops_sync_sends_an_offline_run(
    mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_MODE", raising=False)
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    write_settings(uri, active_project_id=project_id, active_experiment_id=experiment_id)
    out, _stderr = train(uri, MLOPS_MODE="offline")
    [(_path, count)] = journal.pending(mlops_home)

    down = _sync(mlops_home)  # the App is not running yet
    assert down.returncode == 1
    assert down.stderr.strip().startswith("error: ") and "still to send" in down.stderr
    assert journal.pending(mlops_home)[0][1] == count

    with running_app(db, port):
        up = _sync(mlops_home)
        assert up.returncode == 0, up.stderr
        assert f"sent {count} records" in up.stdout
        assert points_in(db, out["final"]["id"]) == (1000, 1000)
    assert journal.pending(mlops_home) == []
    assert "nothing to sync" in _sync(mlops_home).stdout
