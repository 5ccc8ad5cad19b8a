"""``mlops import tensorboard``: event files written by ``torch.utils.tensorboard`` itself,
imported into real stores and read back through mlops' own API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import child_environ
from mlops import tracking
from mlops.store import Store


def write_logs(logdir: Path) -> None:
    """Two runs: one with a step written again (a restart) and hparams, one in a sub-folder."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir / "lr-0.1")) as writer:
        for step in range(4):
            writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalar("train/loss", 9.0, 2)  # resumed from step 2
        writer.add_scalar("val/acc", 0.75, 3)
        writer.add_hparams({"lr": 0.1, "optimizer": "adam", "batch": 32}, {"hparam/acc": 0.75})
    with SummaryWriter(str(logdir / "sweep" / "lr-0.01")) as writer:
        writer.add_scalar("train/loss", 0.5, 0)


@pytest.fixture
def target(sql_store_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("MLOPS_TRACKING_URI", sql_store_uri)
    from mlops.store import open_store

    yield open_store(sql_store_uri)


def test_each_run_folder_becomes_an_iteration(tmp_path: Path, target: Store) -> None:
    from mlops.importers import import_tensorboard

    write_logs(tmp_path / "logs")
    report = import_tensorboard(tmp_path / "logs", target)
    assert report.problems == [] and (report.runs_copied, report.points) == (2, 8)
    (project,) = [p for p in tracking.list_projects() if p["title"] == "tensorboard"]
    (experiment,) = tracking.list_experiments(project["id"])
    assert experiment["name"] == "logs"
    runs = {i["name"]: i for i in tracking.list_iterations(experiment_id=experiment["id"])}
    assert set(runs) == {"lr-0.1", "sweep/lr-0.01"}
    run = runs["lr-0.1"]
    assert run["status"] == "finished"
    assert run["parameters"] == {"lr": 0.1, "optimizer": "adam", "batch": 32}
    loss = tracking.get_metric_history(run["id"], "train/loss")
    assert [(p["step"], p["value"]) for p in loss] == [
        (0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3)), (2, 9.0), (3, 0.25)
    ]  # fmt: skip
    assert (
        loss[0]["timestamp"] <= loss[-1]["timestamp"] and loss[0]["timestamp"] >= run["started_at"]
    )
    assert tracking.get_metric_history(run["id"], "hparam/acc")[0]["value"] == 0.75
    assert run["metrics"]["val/acc"] == 0.75
    again = import_tensorboard(tmp_path / "logs", target)
    assert (again.runs_copied, again.runs_present, again.points) == (0, 2, 0)
    assert len(tracking.get_metric_history(run["id"], "train/loss")) == 5


def test_cli_and_what_is_left_out(tmp_path: Path) -> None:
    """The command names the experiment and project; an image is listed as not copied (exit
    1); without the tensorboard package the error says what to install."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "logs" / "run")) as writer:
        writer.add_scalar("loss", 1.0, 0)
        writer.add_image("sample", np.full((1, 2, 2), 0.5), 0)
    store = f"sqlite:///{tmp_path / 'mlops.db'}"
    env = {**child_environ(), "MLOPS_HOME": str(tmp_path / "home")}

    def cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
        code = f"import sys\n{prelude}from mlops.cli import main\nmain(sys.argv[1:])\n"
        command = [sys.executable, "-c", code, "import", "tensorboard", *args, "--store", store]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    logs = str(tmp_path / "logs")
    done = cli(logs, "--experiment", "baseline", "--project", "vision")
    assert done.returncode == 1, done.stderr
    assert "1 run(s) copied, 1 metric value(s)" in done.stdout
    assert "run 'run': 1 images tag(s) not copied" in done.stderr
    missing = cli(logs, prelude="sys.modules['tensorboard'] = None\n")
    assert missing.returncode == 1
    assert 'pip install "mlops-library[tensorboard]"' in missing.stderr
