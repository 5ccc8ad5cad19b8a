"""mlops backup / restore: a consistent copy of the embedded store taken while a training
writes, put back into an empty MLOPS_HOME with every point and file it claims."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import child_environ
from mlops import tracking
from mlops.cli import main
from mlops.store import close_stores

WRITER = r"""
import sys
from pathlib import Path
from mlops import tracking

stop = Path(sys.argv[1])
project = tracking.create_project("vision")
tracking.set_active_project(project["id"])
tracking.set_active_experiment(tracking.create_experiment("sweep")["id"])
Path(sys.argv[2]).write_text("weights")
n = 0
while not stop.exists():
    it = tracking.start_iteration(f"run-{n}")
    if n == 0:
        it.log_artifact(sys.argv[2], "model.bin")
    for step in range(200):
        it.log_metric("loss", float(step), step=step)
        if step % 20 == 0:
            it._flush()
    it.end_iteration()
    print(it.id, flush=True)
    n += 1
"""


def test_a_backup_taken_during_writes_restores_with_all_its_data(
    tmp_path: Path, mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = tmp_path / "stop"
    env = {**child_environ(), "MLOPS_HOME": str(mlops_home)}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stop), str(tmp_path / "model.bin")],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        first = child.stdout.readline().strip()  # one iteration ended, the next one writing
        assert first, "the writing process ended early"
        result = CliRunner().invoke(main, ["backup", str(tmp_path / "copy")])
        assert result.exit_code == 0, result.output
        assert " 0 artifact file(s)" not in result.output
        assert child.poll() is None  # it was writing all along
        assert child.stdout.readline().strip()  # and goes on writing after
    finally:
        stop.touch()
        child.wait(timeout=120)
    assert child.returncode == 0

    copy = tmp_path / "copy"
    conn = sqlite3.connect(copy / "mlops.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()

    restored_home = tmp_path / "restored"
    close_stores()
    monkeypatch.setenv("MLOPS_HOME", str(restored_home))
    result = CliRunner().invoke(main, ["restore", str(copy)])
    assert result.exit_code == 0, result.output
    iterations = tracking.list_iterations()
    assert first in {i["id"] for i in iterations}
    for iteration in iterations:  # every point the copy claims is there, in order
        if "loss" not in iteration["metrics"]:  # started just before the snapshot: no points
            assert iteration["status"] == "running"
            continue
        points = tracking.get_metric_history(iteration["id"], "loss")
        steps = [p["step"] for p in points]
        assert steps == list(range(len(steps)))
        assert [p["value"] for p in points] == [float(s) for s in steps]
        if iteration["status"] == "finished":
            assert len(steps) == 200
        assert iteration["metrics"]["loss"] == float(steps[-1])
    path = tracking.download_artifacts(first, "model.bin", tmp_path / "down")
    assert Path(path).read_text() == "weights"


def test_restore_refuses_a_non_empty_home_and_backup_a_used_folder(
    tmp_path: Path, mlops_home: Path
) -> None:
    tracking.create_project("vision")
    runner = CliRunner()
    assert runner.invoke(main, ["backup", str(tmp_path / "copy")]).exit_code == 0
    again = runner.invoke(main, ["backup", str(tmp_path / "copy")])
    assert again.exit_code != 0 and "is not empty: pass a new or empty folder" in again.output
    refused = runner.invoke(main, ["restore", str(tmp_path / "copy")])
    assert refused.exit_code != 0
    assert f"MLOPS_HOME {mlops_home} is not empty" in refused.output
    assert "Traceback" not in refused.output
    not_a_backup = runner.invoke(main, ["restore", str(tmp_path)])
    assert "not a backup made by `mlops backup`" in not_a_backup.output


def test_backup_of_a_postgresql_store_names_pg_dump_and_the_bucket(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--store", "postgresql://u@127.0.0.1/test", "backup", str(tmp_path / "c")]
    )
    assert result.exit_code != 0
    assert "pg_dump" in result.output and "artifact bucket" in result.output
    assert not (tmp_path / "c").exists()


def test_the_cli_renames_and_moves_an_iteration(mlops_home: Path) -> None:
    project = tracking.create_project("vision")
    source = tracking.create_experiment("a", project_id=project["id"])
    target = tracking.create_experiment("b", project_id=project["id"])
    foreign = tracking.create_experiment("c", project_id=tracking.create_project("audio")["id"])
    it = tracking.start_iteration("run", experiment_id=source["id"])
    it.end_iteration()
    runner = CliRunner()
    renamed = runner.invoke(main, ["iterations", "rename", it.id[:8], "best"])
    assert renamed.exit_code == 0 and "to 'best'" in renamed.output
    moved = runner.invoke(main, ["iterations", "move", it.id[:8], target["id"][:8]])
    assert moved.exit_code == 0, moved.output
    assert tracking.get_iteration(it.id)["experiment_id"] == target["id"]
    refused = runner.invoke(main, ["iterations", "move", it.id, foreign["id"]])
    assert refused.exit_code != 0 and "only between experiments of its project" in refused.output
    assert "Traceback" not in refused.output
