"""The public tracking API, as a training script uses it, on the embedded store."""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlops.tracking
from mlops import tracking
from mlops.errors import (
    AlreadyExists,
    InvalidInput,
    IterationEnded,
    MlopsError,
    NoActiveProject,
    NotFound,
)

SEED_SIGNATURES = {
    "create_project": ["title", "description", "status", "archived"],
    "get_project": ["project_id"],
    "get_experiment": ["experiment_id", "project_id"],
    "create_experiment": ["name", "description", "project_id"],
    "create_dataset": [
        "dataset_name", "path_to_dataset", "dataset_description", "tags", "version"
    ],
    "start_iteration": ["iteration_name", "project_id", "experiment_id"],
    "set_active_project": ["project_id"],
    "set_active_experiment": ["experiment_id"],
}  # fmt: skip
ITERATION_METHODS = {
    "log_path_to_model": ["path_to_model"],
    "log_metric": ["metric_name", "value", "step"],
    "log_metrics": ["metrics", "step"],
    "log_parameter": ["parameter_name", "value"],
    "log_parameters": ["parameters"],
    "log_dataset": ["dataset_id"],
    "end_iteration": [],
}


def test_the_seed_api_has_exactly_the_promised_names() -> None:
    for name, params in SEED_SIGNATURES.items():
        found = inspect.signature(getattr(tracking, name)).parameters
        # the seed's arguments, in its order; anything added after them is optional
        assert list(found)[: len(params)] == params, name
        extra = list(found.values())[len(params) :]
        assert all(p.default is not inspect.Parameter.empty for p in extra), name
    for name, params in ITERATION_METHODS.items():
        found = list(inspect.signature(getattr(tracking.Iteration, name)).parameters.values())[1:]
        assert [p.name for p in found][: len(params)] == params, name
        assert all(p.default is not inspect.Parameter.empty for p in found[len(params) :]), name
    assert mlops.tracking.create_project is tracking.create_project


def test_projects_and_experiments(mlops_home: Path) -> None:
    project = tracking.create_project("vision", description="cats", status="active")
    assert set(project) >= {"id", "title", "description", "status", "archived", "created_at"}
    assert isinstance(project["id"], str) and project["archived"] is False
    assert tracking.get_project(project["id"]) == project
    with pytest.raises(AlreadyExists, match=project["id"]):
        tracking.create_project("vision")
    with pytest.raises(NoActiveProject, match=r"set_active_project\(id\) or pass project_id"):
        tracking.create_experiment("sweep")
    experiment = tracking.create_experiment("sweep", "lr sweep", project_id=project["id"])
    assert experiment["project_id"] == project["id"]
    assert tracking.get_experiment(experiment["id"], project_id=project["id"]) == experiment
    other = tracking.create_project("other")
    with pytest.raises(NotFound, match="not in project"):
        tracking.get_experiment(experiment["id"], project_id=other["id"])
    with pytest.raises(NotFound, match="'missing'"):
        tracking.get_project("missing")
    updated = tracking.update_project(project["id"], archived=True)
    assert updated["archived"] is True and updated["description"] == "cats"


def test_active_settings_are_seen_by_another_process(mlops_home: Path) -> None:
    project = tracking.create_project("demo")
    message = tracking.set_active_project(project["id"])
    assert "'demo'" in message and project["id"] in message
    experiment = tracking.create_experiment("sweep")
    message = tracking.set_active_experiment(experiment["id"])
    assert "'sweep'" in message and experiment["id"] in message and "'demo'" in message
    script = (
        "from mlops import tracking\n"
        "it = tracking.start_iteration('from-child')\n"
        "it.log_metric('acc', 0.5)\n"
        "print(it.end_iteration()['experiment_id'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={**os.environ, "MLOPS_HOME": str(mlops_home)},
    )  # fmt: skip
    assert out.stdout.strip() == experiment["id"]


def test_setting_an_experiment_of_another_project_switches_the_project(active) -> None:  # type: ignore[no-untyped-def]
    other = tracking.create_project("other")
    experiment = tracking.create_experiment("x", project_id=other["id"])
    tracking.set_active_experiment(experiment["id"])
    it = tracking.start_iteration("run")
    assert (it["project_id"], it["experiment_id"]) == (other["id"], experiment["id"])
    it.end_iteration()


def test_an_iteration_end_to_end(active, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n")
    dataset = tracking.create_dataset("toy", str(data), "a toy", tags=["t"], version="1")
    it = tracking.start_iteration("rf-100")
    assert it["status"] == "running" and it["id"] == it.id
    it.log_parameters({"model": "rf", "n_estimators": 100, "lr": 0.1, "flags": [True, None]})
    it.log_parameter("depth", 5)
    for value in (0.5, 0.7, 0.9):
        it.log_metric("accuracy", value)
    it.log_metrics({"loss": 0.3, "f1": 0.8})
    it.log_path_to_model(str(model))
    it.log_dataset(dataset["id"])
    final = it.end_iteration()
    assert final["status"] == "finished" and final["ended_at"] is not None
    assert final["parameters"] == {
        "model": "rf", "n_estimators": 100, "lr": 0.1, "flags": [True, None], "depth": 5
    }  # fmt: skip
    assert final["metrics"] == {"accuracy": 0.9, "loss": 0.3, "f1": 0.8}
    assert final["metric_summaries"]["accuracy"]["min"] == 0.5
    assert final["path_to_model"] == str(model)
    assert final["model"]["size_bytes"] == 7 and len(final["model"]["sha256"]) == 64
    assert [d["id"] for d in final["datasets"]] == [dataset["id"]]
    assert {"host", "user", "python", "platform", "command"} <= set(final["system"])
    json.dumps(final)  # plain JSON data
    history = tracking.get_metric_history(final["id"], "accuracy")
    assert [(p["step"], p["value"]) for p in history] == [(0, 0.5), (1, 0.7), (2, 0.9)]
    assert tracking.get_iteration(final["id"]) == final
    assert it.end_iteration() == final  # ending twice is harmless
    with pytest.raises(IterationEnded, match="rf-100"):
        it.log_metric("accuracy", 1.0)


def test_steps_default_to_the_next_integer_per_metric(active) -> None:  # type: ignore[no-untyped-def]
    with tracking.start_iteration("steps") as it:
        it.log_metric("a", 1.0)
        it.log_metric("a", 2.0, step=10)
        it.log_metric("a", 3.0)
        it.log_metric("b", 4.0)
    steps = [p["step"] for p in tracking.get_metric_history(it.id, "a")]
    assert steps == [0, 10, 11]
    assert [p["step"] for p in tracking.get_metric_history(it.id, "b")] == [0]


class _TorchLikeScalar:
    """Stands in for a 0-d torch tensor (torch is not installed here): ``.item()`` and ``ndim``."""

    ndim = 0

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value

    def size(self) -> tuple[int, ...]:
        return ()


def test_metric_values_real_numbers_only(active) -> None:  # type: ignore[no-untyped-def]
    it = tracking.start_iteration("values")
    accepted = [1, 2.5, np.float32(0.25), np.int64(7), np.array(3.5), _TorchLikeScalar(0.125)]
    accepted += [math.nan, math.inf, -math.inf]
    for value in accepted:
        it.log_metric("m", value)
    for bad in ("0.5", None, [1.0], np.array([1.0, 2.0]), True, 1 + 2j, 10**400):
        with pytest.raises(InvalidInput, match="metric 'm'"):
            it.log_metric("m", bad)
    with pytest.raises(InvalidInput, match="metric 'bad'"):
        it.log_metrics({"good": 1.0, "bad": "x"})
    final = it.end_iteration()
    values = [p["value"] for p in tracking.get_metric_history(final["id"], "m")]
    assert values[:6] == [1.0, 2.5, 0.25, 7.0, 3.5, 0.125]
    assert math.isnan(values[6]) and values[7:] == [math.inf, -math.inf]
    assert "good" not in final["metrics"]  # log_metrics is all or nothing


def test_names_and_parameter_values(active) -> None:  # type: ignore[no-untyped-def]
    it = tracking.start_iteration("ünïcødé 🚀")
    it.log_parameter("学习率", 0.01)
    it.log_metric("x" * 250, 1.0)
    for bad in ("", "x" * 251, 5, None):
        with pytest.raises(InvalidInput):
            it.log_metric(bad, 1.0)  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match="stored as its text"):
        it.log_parameter("path", Path("/tmp/x"))
    it.log_parameter("np", np.float64(0.5))
    final = it.end_iteration()
    assert final["name"] == "ünïcødé 🚀"
    assert final["parameters"] == {"学习率": 0.01, "path": "/tmp/x", "np": 0.5}


def test_with_block_marks_failed_with_the_exception(active) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ZeroDivisionError), tracking.start_iteration("boom") as it:
        it.log_metric("loss", 1.0)
        raise ZeroDivisionError("division by zero in epoch 3")
    got = tracking.get_iteration(it.id)
    assert got["status"] == "failed"
    assert got["error"] == {"type": "ZeroDivisionError", "message": "division by zero in epoch 3"}
    assert got["metrics"] == {"loss": 1.0}


def test_ctrl_c_inside_with_marks_killed(active) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyboardInterrupt), tracking.start_iteration("interrupted") as it:
        raise KeyboardInterrupt
    assert tracking.get_iteration(it.id)["status"] == "killed"


def test_a_running_iteration_can_be_read_back_while_it_runs(active) -> None:  # type: ignore[no-untyped-def]
    it = tracking.start_iteration("live")
    it.log_metric("loss", 0.5)
    it.log_parameter("lr", 0.1)
    got = tracking.get_iteration(it.id)
    assert got["status"] == "running" and got["metrics"] == {"loss": 0.5}
    assert got["parameters"] == {"lr": 0.1}
    it.end_iteration()


def test_start_iteration_targets(mlops_home: Path) -> None:
    with pytest.raises(NoActiveProject):
        tracking.start_iteration("nowhere")
    project = tracking.create_project("p")
    it = tracking.start_iteration("in-default", project_id=project["id"])
    experiment = tracking.get_experiment(it["experiment_id"])
    assert experiment["name"] == "default" and experiment["project_id"] == project["id"]
    it.end_iteration()
    other = tracking.create_project("q")
    with pytest.raises(InvalidInput, match="belongs to project"):
        tracking.start_iteration("x", project_id=other["id"], experiment_id=experiment["id"])
    with pytest.raises(NotFound, match="'ghost'"):
        tracking.start_iteration("x", experiment_id="ghost")


def test_non_zero_ranks_record_nothing(active, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with tracking.start_iteration("gpu3") as it:
        it.log_metric("loss", 1.0)
        it.log_parameter("lr", 0.1)
    assert it.end_iteration()["status"] == "disabled"
    assert tracking.list_iterations() == []
    monkeypatch.setenv("RANK", "0")
    with tracking.start_iteration("gpu0"):
        pass
    assert [i["name"] for i in tracking.list_iterations()] == ["gpu0"]


def test_datasets_fingerprint_local_data(mlops_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    first = tracking.create_dataset("imgs", str(folder), tags="raw", version=1)
    assert (first["version"], first["file_count"], first["size_bytes"]) == ("1", 2, 3)
    assert first["digest"].startswith("sha256:") and first["tags"] == ["raw"]
    assert tracking.create_dataset("imgs", str(folder), version=1)["id"] == first["id"]
    (folder / "sub" / "b.txt").write_text("changed")
    with pytest.raises(AlreadyExists, match="digest"):
        tracking.create_dataset("imgs", str(folder), version=1)
    remote = tracking.create_dataset("lake", "s3://bucket/train/")
    assert remote["digest"] is None and remote["path"] == "s3://bucket/train/"
    with pytest.raises(InvalidInput, match="does not exist"):
        tracking.create_dataset("gone", str(tmp_path / "missing"))
    assert tracking.get_dataset(first["id"]) == first
    assert {d["name"] for d in tracking.list_datasets()} == {"imgs", "lake"}


def test_every_error_is_an_mlops_error_with_a_fix(mlops_home: Path) -> None:
    for call in (
        lambda: tracking.get_project(""),
        lambda: tracking.get_iteration("nope"),
        lambda: tracking.get_dataset("nope"),
        lambda: tracking.list_iterations(limit=-1),
        lambda: tracking.create_project(""),
        lambda: tracking.create_dataset("d", 42),  # type: ignore[arg-type]
    ):
        with pytest.raises(MlopsError) as info:
            call()
        assert len(str(info.value)) > 20


def test_git_commit_is_recorded_inside_a_repository(active, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "x"], check=True)
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    with tracking.start_iteration("in-git") as it:
        pass
    system = tracking.get_iteration(it.id)["system"]
    assert len(system["git"]["commit"]) == 40 and system["git"]["dirty"] is True
