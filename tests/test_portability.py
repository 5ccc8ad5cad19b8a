"""The stores work where ``fcntl`` does not exist (Windows): a fresh embedded store, the HTTP
store journaling offline and ``mlops sync``, each in a process where importing ``fcntl`` fails
(and ``os.fork`` and ``os.register_at_fork``, POSIX only too, are gone); and the journal's lock
still keeps each file to one process, with ``fcntl`` and without."""

from __future__ import annotations

import contextlib
import json
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import child_environ, free_port
from mlops.config import write_settings
from mlops.store import journal
from mlops.store.journal import Record, scan
from test_http_store import make_catalog, points_in, running_app

#: Prepended to each script: what Windows lacks, made unavailable before mlops is imported.
NO_POSIX = """
import os, sys
sys.modules["fcntl"] = None  # `import fcntl` raises ImportError
del os.fork, os.register_at_fork  # the standard library checks for os.fork first
"""

EMBEDDED = """
from mlops import tracking
project = tracking.create_project("portable")
tracking.set_active_project(project["id"])
tracking.set_active_experiment(tracking.create_experiment("no-fcntl")["id"])
it = tracking.start_iteration("run")
for step in range(500):
    it.log_metric("loss", 1.0 / (step + 1))
final = it.end_iteration()
assert "fcntl" not in sys.modules or sys.modules["fcntl"] is None
print(json.dumps(final))
"""

OFFLINE = """
from mlops import tracking
it = tracking.start_iteration("offline")
it.log_parameters({"lr": 0.1})
for step in range(1000):
    it.log_metric("loss", 1.0 / (step + 1))
print(json.dumps(it.end_iteration()))
"""

SYNC = """
from mlops.cli import main
sys.argv = ["mlops", "sync"]
main()
"""

#: Appends records to its own journal file as fast as it can; prints the file's path first.
WRITER = """
from pathlib import Path
from mlops.store.journal import JournalFile
file = JournalFile(Path(sys.argv[1]))
name = sys.argv[2]
file.append("http://127.0.0.1:9", "create_iteration", {"iteration_id": name, "body": {}})
print(file.path, flush=True)
sys.stdin.readline()  # go
for n in range(int(sys.argv[3])):
    body = {"metrics": [["loss", n, 0.5, 1.0]], "writer": name}
    file.append("http://127.0.0.1:9", "log_batch", {"iteration_id": name, "body": body})
print("written", flush=True)
sys.stdin.readline()  # close
file.close(delete=False)
"""


#: One sync pass against an App that is not there; prints the files it found busy.
SYNC_BUSY = """
from pathlib import Path
from mlops.store import journal
report = journal.sync("http://127.0.0.1:9", Path(sys.argv[1]))
print(json.dumps([str(p) for p in report.busy]))
"""


def _run(
    script: str, home: Path, *args: str, posix: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = child_environ()
    environ.update(MLOPS_HOME=str(home), **env)
    prelude = "import json, sys\n" + ("" if posix else NO_POSIX)
    return subprocess.run(
        [sys.executable, "-c", prelude + script, *args],
        capture_output=True, text=True, env=environ, timeout=120,
    )  # fmt: skip


def test_a_fresh_embedded_store_works_without_fcntl(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = _run(EMBEDDED, home)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    final = json.loads(done.stdout)
    assert final["status"] == "finished" and final["metrics"] == {"loss": 0.002}
    with contextlib.closing(sqlite3.connect(home / "mlops.db")) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM metric_points WHERE iteration_id = ?", (final["id"],)
        ).fetchone()
    assert count == 500


def test_offline_journal_and_sync_work_without_fcntl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    write_settings(uri, active_project_id=project_id, active_experiment_id=experiment_id)

    trained = _run(OFFLINE, home, MLOPS_TRACKING_URI=uri, MLOPS_MODE="offline")
    assert trained.returncode == 0, trained.stderr
    final = json.loads(trained.stdout)
    assert final["status"] == "finished"
    assert "1000 metric points of 1 iteration(s) kept in" in trained.stderr
    [(path, count)] = journal.pending(home)
    assert count >= 2  # create, (batches), end

    with running_app(db, port):
        synced = _run(SYNC, home)
        assert synced.returncode == 0, synced.stderr
        assert f"sent {count} records from 1 journal file(s)" in synced.stdout
        assert points_in(db, final["id"]) == (1000, 1000)
    assert not path.exists() and journal.pending(home) == []
    assert list((home / "journal").iterdir()) == []  # no lock file left behind either


@pytest.mark.parametrize("posix", [True, False], ids=["fcntl", "no-fcntl"])
def test_two_processes_never_interleave_nor_replay_a_live_journal(
    tmp_path: Path, posix: bool
) -> None:
    """Two processes append to the journal at once while `mlops sync` runs over and over:
    each process has its own intact file, and sync never touches a file while it is written."""
    home = tmp_path / "home"
    records = 400
    environ = child_environ()
    prelude = "import json, sys\n" + ("" if posix else NO_POSIX)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", prelude + WRITER, str(home), name, str(records)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        for name in ("a", "b")
    ]
    paths = []
    for proc in writers:
        assert proc.stdout is not None
        paths.append(Path(proc.stdout.readline().strip()))
    assert paths[0] != paths[1] and all(p.exists() for p in paths)
    for proc in writers:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()

    def busy() -> set[Path]:
        """The files one sync pass (locking as the writers do) found busy."""
        if posix:
            return set(journal.sync("http://127.0.0.1:9", home).busy)  # nothing listens there
        done = _run(SYNC_BUSY, home, str(home))
        assert done.returncode == 0, done.stderr
        return {Path(p) for p in json.loads(done.stdout)}

    written = [False, False]
    while not all(written):
        assert set(paths) <= busy()  # a live file is left to its process
        assert not any(p.with_name(p.name + ".acked").exists() for p in paths)
        ready, _, _ = select.select([proc.stdout for proc in writers], [], [], 0)
        for index, proc in enumerate(writers):
            if proc.stdout in ready:
                written[index] = proc.stdout.readline().strip() == "written"
    for proc in writers:
        _out, err = proc.communicate("close\n", timeout=60)
        assert proc.returncode == 0, err
    for name, path in zip(("a", "b"), paths, strict=True):
        found = list(scan(path))
        assert all(isinstance(r, Record) for r in found), found
        assert [r.seq for r in found if isinstance(r, Record)] == list(range(1, records + 2))
        assert {r.args["iteration_id"] for r in found if isinstance(r, Record)} == {name}
