"""Files logged while the App is unreachable: kept in the journal (small ones copied, large ones
by reference) and uploaded by `mlops sync` once it is back, never twice."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import child_environ, free_port
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
    env = child_environ()
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
    started = time.monotonic()
    iteration_id, stderr = _train(mlops_home, port, small, big, MLOPS_UPLOAD_TIMEOUT="60", **extra)
    assert time.monotonic() - started < 15  # journaled at once, not after MLOPS_UPLOAD_TIMEOUT
    assert "and 3 file(s) kept in" in stderr
    [(path, count)] = journal.pending(mlops_home)
    spooled = list((mlops_home / "journal" / "files").iterdir())
    assert len(spooled) == 2  # the small file and the text; the big one by reference

    kept = tmp_path / "journal-before-sync"
    shutil.copytree(mlops_home / "journal", kept)

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

        # The acknowledgements lost (a crash before they were written): all sent again...
        shutil.copytree(kept, mlops_home / "journal", dirs_exist_ok=True)
        again = _sync(mlops_home)
        assert again.returncode == 0, again.stderr
        assert f"sent {count} records" in again.stdout
        resent = _listed(uri, iteration_id, monkeypatch)  # ...and nothing duplicated
        assert {k: (a["sha256"], a["size_bytes"]) for k, a in resent.items()} == {
            k: (a["sha256"], a["size_bytes"]) for k, a in listed.items()
        }
        assert _sync(mlops_home).stdout.startswith("nothing to sync")


def test_a_changed_file_is_named_by_sync_and_the_others_sent(
    catalog: tuple[Path, int], mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, port = catalog
    small, big = _files(tmp_path)
    iteration_id, _stderr = _train(mlops_home, port, small, big, MLOPS_MODE="offline")
    [(path, _count)] = journal.pending(mlops_home)
    with open(big, "r+b") as fh:
        fh.write(b"changed")
    [copy] = (mlops_home / "journal" / "files").glob(f"{_sha(small)}-*")
    copy.write_bytes(b"bit rot")  # a damaged copy in the journal is refused too

    with running_app(db, port) as uri:
        done = _sync(mlops_home)
        assert done.returncode == 1
        assert "'big.bin'" in done.stderr and "changed since it was logged" in done.stderr
        assert "'small.bin'" in done.stderr and "no longer matches its sha256" in done.stderr
        assert str(path) in done.stderr
        assert sorted(_listed(uri, iteration_id, monkeypatch)) == ["notes.txt"]
        assert path.exists()  # kept for inspection

        again = _sync(mlops_home)  # still named until someone deletes it; nothing re-sent
        assert again.returncode == 1 and "'big.bin'" in again.stderr
        assert "sent 0 records" in again.stdout


def test_the_drain_sends_files_once_the_app_is_back(
    catalog: tuple[Path, int], mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops import tracking

    db, port = catalog
    small, big = _files(tmp_path)
    monkeypatch.setenv("MLOPS_TRACKING_URI", f"http://127.0.0.1:{port}")
    it = tracking.start_iteration("drained")
    it.log_artifact(small, "small.bin")
    it.log_artifact(big, "big.bin")
    with pytest.warns(UserWarning, match=r"and 2 file\(s\) kept in"):
        it.end_iteration()
    assert journal.pending(mlops_home)

    with running_app(db, port):
        deadline = time.monotonic() + 30
        while journal.pending(mlops_home):  # the process's own drain sends it
            assert time.monotonic() < deadline, "the drain did not send the journal in 30 s"
            time.sleep(0.1)
        listed = {a["name"]: a for a in tracking.list_artifacts(it.id)}
        assert sorted(listed) == ["big.bin", "small.bin"]
        assert listed["big.bin"]["sha256"] == _sha(big)


#: Logs a large file to a running App and is interrupted (Ctrl-C) while end_iteration() waits.
INTERRUPTED = """
import _thread, json, sys, threading
from mlops import tracking
from mlops.tracking._uploader import UPLOADER

waiting = threading.Event()
wait = UPLOADER.wait
def signalled_wait(*args, **kwargs):
    waiting.set()
    return wait(*args, **kwargs)
UPLOADER.wait = signalled_wait
threading.Thread(target=lambda: (waiting.wait(), _thread.interrupt_main()), daemon=True).start()
it = tracking.start_iteration("interrupted")
print(json.dumps({"id": it.id}), flush=True)
it.log_artifact(sys.argv[1], "big.bin")
it.end_iteration()
"""


def test_ctrl_c_while_end_iteration_waits_leaves_the_files_for_sync(
    catalog: tuple[Path, int], mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, port = catalog
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(96 << 20)
    with running_app(db, port) as uri:
        env = _env(mlops_home, MLOPS_TRACKING_URI=uri, MLOPS_FLUSH_TIMEOUT="0")
        done = subprocess.run(
            [sys.executable, "-c", INTERRUPTED, str(big)],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
        assert "interrupted: 1 file(s)" in done.stderr and "mlops sync" in done.stderr
        iteration_id = json.loads(done.stdout)["id"]

        synced = _sync(mlops_home)
        assert synced.returncode == 0, synced.stderr
        [artifact] = _listed(uri, iteration_id, monkeypatch).values()
        assert artifact["name"] == "big.bin" and artifact["size_bytes"] == 96 << 20
