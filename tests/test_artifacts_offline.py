"""Files logged while the App is unreachable: kept in the journal (small ones copied, large ones
by reference) and uploaded by `mlops sync` once it is back, never twice."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port
from mlops.config import write_settings
from mlops.store import journal
from mlops.store.journal_files import SPOOL_LIMIT
from test_http_store import make_catalog, running_app

#: Logs a small and a large file (given as paths) to one iteration; prints its id.
TRAIN = """
import json, sys
from mlops import tracking
it = tracking.start_iteration("files")
it.log_metric("loss", 0.5, step=0)
it.log_artifact(sys.argv[1], "small.bin")
it.log_artifact(sys.argv[2], "big.bin")
it.log_text("hello", "notes.txt")
it.end_iteration()
print(json.dumps({"id": it.id}))
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return {**env, "MLOPS_HOME": str(home), **extra}


def _train(home: Path, port: int, small: Path, big: Path, **extra: str) -> tuple[str, str]:
    uri = f"http://127.0.0.1:{port}"
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(small), str(big)],
        capture_output=True, text=True, env=_env(home, MLOPS_TRACKING_URI=uri, **extra),
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"], done.stderr


def _sync(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops", "sync"],
        capture_output=True, text=True, env=_env(home), timeout=60,
    )  # fmt: skip


def _files(tmp_path: Path) -> tuple[Path, Path]:
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(100_000))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    assert big.stat().st_size > SPOOL_LIMIT
    return small, big


def _listed(uri: str, iteration_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from mlops import tracking

    monkeypatch.setenv("MLOPS_TRACKING_URI", uri)
    return {a["name"]: a for a in tracking.list_artifacts(iteration_id)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def catalog(mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """An App database with a project and an experiment, the settings pointing at a port
    where the App is not running yet: (database, port)."""
    monkeypatch.delenv("MLOPS_MODE", raising=False)
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    write_settings(
        f"http://127.0.0.1:{port}", active_project_id=project_id,
        active_experiment_id=experiment_id,
    )  # fmt: skip
    return db, port


@pytest.mark.parametrize("mode", ["down", "offline"])
def test_files_logged_while_the_app_is_away_are_sent_by_sync(
    catalog: tuple[Path, int],
    mlops_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    db, port = catalog
    small, big = _files(tmp_path)
    extra = {"MLOPS_MODE": "offline"} if mode == "offline" else {}
    iteration_id, stderr = _train(mlops_home, port, small, big, **extra)
    assert "and 3 files kept in" in stderr
    [(path, _count)] = journal.pending(mlops_home)
    spooled = list((mlops_home / "journal" / "files").iterdir())
    assert len(spooled) == 2  # the small file and the text; the big one by reference

    with running_app(db, port) as uri:
        done = _sync(mlops_home)
        assert done.returncode == 0, done.stderr
        listed = _listed(uri, iteration_id, monkeypatch)
        assert sorted(listed) == ["big.bin", "notes.txt", "small.bin"]
        assert listed["big.bin"]["sha256"] == _sha(big)
        assert listed["small.bin"]["size_bytes"] == small.stat().st_size

        from mlops import tracking

        out = Path(tracking.download_artifacts(iteration_id, dst=tmp_path / "out"))
        assert (out / "small.bin").read_bytes() == small.read_bytes()
        assert _sha(out / "big.bin") == _sha(big)
        assert (out / "notes.txt").read_text() == "hello"
        assert not path.exists()
        assert list((mlops_home / "journal" / "files").iterdir()) == []

        again = _sync(mlops_home)  # nothing left: nothing sent twice
        assert again.returncode == 0 and "nothing to sync" in again.stdout
        assert len(tracking.list_artifacts(iteration_id)) == 3


def test_a_referenced_file_changed_before_sync_is_named_and_the_others_sent(
    catalog: tuple[Path, int], mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, port = catalog
    small, big = _files(tmp_path)
    iteration_id, _stderr = _train(mlops_home, port, small, big, MLOPS_MODE="offline")
    [(path, _count)] = journal.pending(mlops_home)
    with open(big, "r+b") as fh:
        fh.write(b"changed")

    with running_app(db, port) as uri:
        done = _sync(mlops_home)
        assert done.returncode == 1
        assert "'big.bin'" in done.stderr and "changed since it was logged" in done.stderr
        assert str(path) in done.stderr
        assert sorted(_listed(uri, iteration_id, monkeypatch)) == ["notes.txt", "small.bin"]
        assert path.exists()  # kept for inspection

        again = _sync(mlops_home)  # still named until someone deletes it; nothing re-sent
        assert again.returncode == 1 and "'big.bin'" in again.stderr
        assert "sent 0 records" in again.stdout
