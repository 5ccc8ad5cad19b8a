"""What every framework integration stands on: ending an iteration as failed with its error,
the iteration a callback logs to, flat parameters, numbers out of framework values and
checkpoint copies that outlive the framework's own files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops import tracking
from mlops.errors import InvalidInput
from mlops.integrations._common import Run, flatten, keep_copy, number, numbers


def test_end_iteration_records_a_failure_with_its_error(tracking_uri: str, active: dict) -> None:
    it = tracking.start_iteration("fails")
    it.log_metric("loss", 1.0)
    try:
        raise RuntimeError("CUDA out of memory")
    except RuntimeError as exc:
        ended = it.end_iteration("failed", exc)
    assert ended["status"] == "failed"
    stored = tracking.get_iteration(it.id)
    assert stored["status"] == "failed"
    assert stored["error"] == {"type": "RuntimeError", "message": "CUDA out of memory"}


def test_end_iteration_refuses_a_status_or_error_that_makes_no_sense(active: dict) -> None:
    it = tracking.start_iteration("odd end")
    with pytest.raises(InvalidInput, match="finished, failed, killed"):
        it.end_iteration("running")
    with pytest.raises(InvalidInput, match="no error"):
        it.end_iteration("finished", ValueError("x"))
    with pytest.raises(InvalidInput, match="exception or a message"):
        it.end_iteration("failed", 42)  # type: ignore[arg-type]
    assert it.end_iteration("killed", "stopped by the scheduler")["status"] == "killed"
    assert tracking.get_iteration(it.id)["error"]["message"] == "stopped by the scheduler"


def test_a_run_starts_its_iteration_when_first_used_and_ends_it(active: dict) -> None:
    run = Run("keras")
    assert not run.started
    it = run.iteration
    assert run.owned and run.started and it.name.startswith("keras ")
    assert it.experiment_id == active["experiment_id"]
    try:
        raise ValueError("bad batch")
    except ValueError:
        run.end("failed")  # takes the exception being handled
    assert tracking.get_iteration(it.id)["error"] == {"type": "ValueError", "message": "bad batch"}
    run.restart()
    assert run.iteration.id != it.id  # a second fit is a second iteration
    run.end()
    assert tracking.get_iteration(run.iteration.id)["status"] == "finished"


def test_a_run_given_an_iteration_leaves_it_to_its_owner(active: dict) -> None:
    it = tracking.start_iteration("mine")
    run = Run("xgboost", iteration=it)
    assert run.iteration is it and not run.owned
    run.end("failed", "ignored: not ours to end")
    assert tracking.get_iteration(it.id)["status"] == "running"
    it.end_iteration()


def test_a_run_names_a_wrong_argument(active: dict) -> None:
    with pytest.raises(InvalidInput, match=r"tracking\.start_iteration returned"):
        Run("keras", iteration={"id": "x"})  # type: ignore[arg-type]
    it = tracking.start_iteration("mine")
    with pytest.raises(InvalidInput, match="not both"):
        Run("keras", iteration=it, experiment_id="e")
    with pytest.raises(InvalidInput, match="non-empty string"):
        Run("keras", name="  ")
    it.end_iteration()


def test_a_run_on_a_non_zero_rank_records_nothing(
    active: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    run = Run("lightning")
    run.iteration.log_metric("loss", 0.5)
    run.end()
    monkeypatch.delenv("RANK")
    assert tracking.list_iterations(experiment_id=active["experiment_id"]) == []


def test_flatten_names_nested_configs_with_dots() -> None:
    config = {"optimizer": {"name": "adam", "betas": [0.9, 0.99], "sched": {"warmup": 10}}, "a": 1}
    assert flatten(config) == {
        "a": 1,
        "optimizer.betas": [0.9, 0.99],
        "optimizer.name": "adam",
        "optimizer.sched.warmup": 10,
    }
    assert flatten({"lr": 0.1}, prefix="model") == {"model.lr": 0.1}
    assert flatten({"empty": {}}) == {"empty": {}}


def test_numbers_keeps_what_is_a_number_and_leaves_out_the_rest() -> None:
    assert number(np.float32(0.5)) == 0.5
    assert number(np.array([2.0])) == 2.0
    assert number(np.array([1.0, 2.0])) is None
    assert number(True) is None and number("0.3") is None and number(None) is None
    logs = {"loss": np.float64(0.25), "epoch": 3, "note": "text", "per_class": [0.1, 0.2]}
    assert numbers(logs, prefix="train/") == {"train/loss": 0.25, "train/epoch": 3.0}


def test_a_kept_checkpoint_is_the_bytes_at_the_call(tmp_path: Path, active: dict) -> None:
    checkpoint = tmp_path / "epoch=1.ckpt"
    checkpoint.write_bytes(b"weights of epoch 1")
    folder = tmp_path / "checkpoint-3"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"w3")
    (folder / "sub" / "state.json").write_text("{}")
    it = tracking.start_iteration("checkpoints")
    keep_copy(it, checkpoint, "checkpoints/epoch=1.ckpt")
    keep_copy(it, folder, "checkpoints/checkpoint-3")
    # the framework overwrites the file in place and deletes the folder at once
    checkpoint.write_bytes(b"weights of epoch 2, longer")
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()
    it.end_iteration()
    names = {a["name"]: a["size_bytes"] for a in tracking.list_artifacts(it.id)}
    assert names == {
        "checkpoints/epoch=1.ckpt": len(b"weights of epoch 1"),
        "checkpoints/checkpoint-3/model.safetensors": 2,
        "checkpoints/checkpoint-3/sub/state.json": 2,
    }
    out = tracking.download_artifacts(it.id, "checkpoints/epoch=1.ckpt", tmp_path / "down")
    assert Path(out).read_bytes() == b"weights of epoch 1"
    with pytest.raises(InvalidInput, match="does not exist"):
        keep_copy(tracking.start_iteration("x"), tmp_path / "missing.ckpt", "c")


def test_importing_the_integrations_package_imports_no_framework() -> None:
    script = (
        "import sys, mlops.integrations, mlops.integrations._common\n"
        "heavy = ['torch', 'lightning', 'keras', 'transformers', 'xgboost', 'lightgbm',"
        " 'optuna', 'sklearn', 'pandas', 'numpy']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
