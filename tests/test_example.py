"""The scikit-learn example runs as a real script and leaves complete iterations behind."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops import tracking

pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_sklearn.py"
QUICK_ITERATIONS = 3  # --quick: two SGD runs and one gradient-boosting run
QUICK_EPOCHS = 5


def run_example(home: Path, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``train_sklearn.py --quick`` in its own process, storing into ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    env["MLOPS_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--quick", "--data-dir", str(data_dir)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def stored_iteration_ids(home: Path) -> list[str]:
    """Iteration ids read straight from the SQLite file, oldest first."""
    conn = sqlite3.connect(f"file:{home / 'mlops.db'}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM iterations ORDER BY started_at")]
    finally:
        conn.close()


def check_iteration(data: dict[str, Any], experiment_id: str) -> None:
    """One iteration of the example: finished, parameters, series, model file and dataset."""
    name = data["name"]
    assert data["status"] == "finished", name
    assert data["experiment_id"] == experiment_id
    assert data["error"] is None
    params = data["parameters"]
    assert params["model"] in ("SGDClassifier", "GradientBoostingClassifier")
    if params["model"] == "SGDClassifier":
        assert params["loss"] in ("hinge", "log_loss")
        assert params["alpha"] == pytest.approx(1e-3)
        assert params["epochs"] == QUICK_EPOCHS

    history = tracking.get_metric_history(data["id"], "val_accuracy")
    assert len(history) >= QUICK_EPOCHS, name
    assert [p["step"] for p in history] == list(range(len(history)))
    assert all(0.0 <= p["value"] <= 1.0 for p in history)
    assert data["metrics"]["val_accuracy"] == history[-1]["value"]
    assert {"train_accuracy", "val_loss", "test_accuracy"} <= set(data["metrics"])
    assert data["metrics"]["test_accuracy"] > 0.8, name

    model = data["model"]
    path = Path(model["path"])
    assert path.is_file(), name
    assert model["size_bytes"] == path.stat().st_size
    assert model["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    (dataset,) = data["datasets"]
    assert dataset["name"] == "digits"
    assert dataset["version"] == "1"
    assert dataset["tags"] == ["images", "classification"]
    assert dataset["digest"].startswith("sha256:")
    assert dataset["file_count"] == 1


def check_listing(ids: list[str]) -> None:
    """``mlops iterations list`` (the command the example suggests) in 80 columns: every run by
    its short id and whole name, with at least two of its metrics."""
    from click.testing import CliRunner

    from mlops.cli import main

    result = CliRunner().invoke(
        main, ["iterations", "list", "--limit", "20"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stdout
    metrics = {"train_accuracy", "val_accuracy", "val_loss", "test_accuracy"}
    assert len(metrics & set(lines[0].split())) >= 2, result.stdout
    for iteration_id in ids:
        name = tracking.get_iteration(iteration_id)["name"]
        row = next(line for line in lines if line.startswith(iteration_id[:8] + " "))
        assert f" {name} " in row and iteration_id not in result.stdout, result.stdout


def test_example_trains_and_tracks(tmp_path: Path, mlops_home: Path) -> None:
    data_dir = tmp_path / "data"
    run_example(mlops_home, data_dir, tmp_path)

    (project,) = [p for p in tracking.list_projects() if p["title"] == "digits-demo"]
    (experiment,) = [
        e for e in tracking.list_experiments(project["id"]) if e["name"] == "sgd-sweep"
    ]
    ids = stored_iteration_ids(mlops_home)
    assert len(ids) == QUICK_ITERATIONS
    for iteration_id in ids:
        check_iteration(tracking.get_iteration(iteration_id), experiment["id"])
    check_listing(ids)

    # A second run reuses the project, the experiment and the dataset version.
    run_example(mlops_home, data_dir, tmp_path)
    assert [p["title"] for p in tracking.list_projects()] == ["digits-demo"]
    assert [e["id"] for e in tracking.list_experiments(project["id"])] == [experiment["id"]]
    assert len(tracking.list_datasets("digits")) == 1
    ids = stored_iteration_ids(mlops_home)
    assert len(ids) == 2 * QUICK_ITERATIONS
    for iteration_id in ids[QUICK_ITERATIONS:]:
        check_iteration(tracking.get_iteration(iteration_id), experiment["id"])
