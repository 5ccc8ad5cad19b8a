"""Damaged journal records are never skipped in silence: the drain and ``mlops sync`` name the
file and the damaged lines, send the other records, keep the file for inspection, and
``mlops sync`` exits 1 until someone has looked."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from conftest import child_environ, free_port
from mlops.store import http_drain, journal
from mlops.store.http import HttpStore
from mlops.store.journal import Damage
from test_http_store import make_catalog, points_in, running_app


@pytest.fixture(autouse=True)
def _no_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLOPS_MODE", "MLOPS_API_TOKEN", "MLOPS_FLUSH_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


def _mlops_sync(home: Path) -> subprocess.CompletedProcess[str]:
    env = child_environ()
    env["MLOPS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "mlops", "sync"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def _journal_a_run(store: HttpStore, experiment_id: str, batches: int) -> str:
    """An iteration started and logged while the store journals: create + ``batches``
    batches of 100 points of ``loss`` (steps 100*b ... 100*b+99)."""
    iteration_id = f"it{time.time_ns()}"
    store.create_iteration(iteration_id, "damaged", experiment_id, None, time.time(), {})
    for b in range(batches):
        rows = [("loss", 100 * b + s, 0.5, time.time()) for s in range(100)]
        store.log_batch(iteration_id, metrics=rows)
    return iteration_id


def _damage_line(path: Path, number: int) -> bytes:
    """Change one byte of line ``number`` (from 1) so its checksum no longer matches."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines[number - 1] = lines[number - 1].replace(b"0.5", b"0.7", 1)
    path.write_bytes(b"".join(lines))
    return b"".join(lines)


def test_mlops_sync_names_damaged_records_keeps_the_file_and_exits_1(
    mlops_home: Path, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    _project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    store = HttpStore(uri, offline=True, home=mlops_home)
    iteration_id = _journal_a_run(store, experiment_id, batches=3)  # lines 1 (create) .. 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.end_iteration(iteration_id, "finished", time.time())  # line 5
    store.close()
    [(path, count)] = journal.pending(mlops_home)
    assert count == 5
    offset = sum(len(line) for line in path.read_bytes().splitlines(keepends=True)[:2])
    saved = _damage_line(path, 3)
    with path.open("ab") as fh:
        fh.write(b'0badc0de {"seq":6,')  # and a torn tail: a write cut off by a crash
        saved += b'0badc0de {"seq":6,'

    with running_app(db, port):
        done = _mlops_sync(mlops_home)
        assert done.returncode == 1, done.stderr
        assert "sent 4 records from 1 journal file(s)" in done.stdout
        error = done.stderr.strip()
        assert error.startswith("error: 2 damaged record(s) in the journal file ")
        assert str(path) in error and "\n" not in error
        assert f"line 3 (byte {offset}): its checksum does not match its content" in error
        assert "line 6 (byte " in error and "torn" in error
        assert "kept for inspection" in error and "delete it" in error
        assert path.read_bytes() == saved  # kept as it was, not truncated
        assert points_in(db, iteration_id) == (200, 200)  # batches 1 and 3 arrived

        again = _mlops_sync(mlops_home)  # nothing left to send, the damage still reported
        assert again.returncode == 1 and "2 damaged record(s)" in again.stderr
        assert path.read_bytes() == saved

    path.unlink()  # looked at: deleted by hand
    clean = _mlops_sync(mlops_home)
    assert clean.returncode == 0 and "nothing to sync" in clean.stdout


def test_the_drain_names_damaged_records_and_keeps_the_file(
    mlops_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(http_drain, "DRAIN_FIRST_DELAY", 3600.0)  # only end_iteration drains
    db = tmp_path / "app.db"
    _project_id, experiment_id = make_catalog(db)
    port = free_port()
    store = HttpStore(f"http://127.0.0.1:{port}", home=mlops_home)  # the App is down
    try:
        iteration_id = _journal_a_run(store, experiment_id, batches=3)
        [(path, count)] = journal.pending(mlops_home)
        assert count == 4
        saved = _damage_line(path, 2)
        with running_app(db, port):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                final = store.end_iteration(iteration_id, "finished", time.time())
            assert not [w for w in caught if "mlops" in str(w.message)]  # the end went through
            assert final.status == "finished"
            assert points_in(db, iteration_id) == (200, 200)  # batches 2 and 3 arrived
        err = capfd.readouterr().err
        assert f"1 damaged record(s) in the journal file {path}" in err
        assert "line 2 (byte " in err and "kept for inspection" in err
        assert path.read_bytes() == saved  # kept, untouched
        [(found, [damage])] = journal.damaged(mlops_home)
        assert found == path and isinstance(damage, Damage) and damage.line == 2
        assert journal.pending(mlops_home) == []  # everything else was acknowledged
    finally:
        store.close()
    assert path.exists()  # closing the store does not delete it either
