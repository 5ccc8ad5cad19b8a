"""MlopsCallback on a real Hugging Face Trainer: a one-layer BERT built from a config (nothing
is downloaded) on random token ids, a few steps on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download

from mlops import tracking
from mlops.errors import InvalidInput

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from mlops.integrations.transformers import NOT_FINISHED, MlopsCallback  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_transformers.py"
SECRET = "hf_not_a_real_token_123"
MAX_STEPS = 6  # logs at 2, 4, 6; evaluates and saves at 3 and 6


class Tokens(torch.utils.data.Dataset):
    """``n`` rows of 8 random token ids (of 50) with a random label."""

    def __init__(self, n: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 50, (n, 8), generator=generator)
        self.labels = torch.randint(0, 2, (n,), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


class Explode(TrainerCallback):
    """Raises in the training loop once the global step reaches ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.at:
            raise RuntimeError(f"the loss exploded at step {state.global_step}")


def model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
    )  # fmt: skip
    return BertForSequenceClassification(config)


def trainer(tmp_path: Path, callbacks: list[Any], **arguments: Any) -> Trainer:
    """A Trainer of MAX_STEPS steps that logs every 2 and evaluates and saves every 3."""
    settings: dict[str, Any] = dict(
        output_dir=str(tmp_path / "out"), max_steps=MAX_STEPS, logging_steps=2,
        eval_strategy="steps", eval_steps=3, save_steps=3, report_to="none", use_cpu=True,
        per_device_train_batch_size=4, per_device_eval_batch_size=8, disable_tqdm=True,
        dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    settings.update(arguments)
    return Trainer(
        model=model(),
        args=TrainingArguments(**settings),
        train_dataset=Tokens(32),
        eval_dataset=Tokens(16, seed=1),
        callbacks=callbacks,
    )


def steps(iteration_id: str, metric: str) -> list[int]:
    return [p["step"] for p in tracking.get_metric_history(iteration_id, metric)]


def test_a_training_is_recorded(
    tracking_uri: str, active: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tracking_uri.startswith("postgresql"):  # a PostgreSQL store keeps files elsewhere
        monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "artifacts"))
    callback = MlopsCallback(name="bert-tiny", log_checkpoints=True)
    run = trainer(
        tmp_path, [callback], hub_token=SECRET, metric_for_best_model="loss",
        greater_is_better=False, save_total_limit=1, learning_rate=1e-3,
    )  # fmt: skip
    run.train()
    data = tracking.get_iteration(callback.iteration.id)
    assert data["name"] == "bert-tiny" and data["experiment_id"] == active["experiment_id"]
    assert data["status"] == "finished" and data["error"] is None

    params = data["parameters"]
    assert params["learning_rate"] == 1e-3 and params["max_steps"] == MAX_STEPS
    assert params["eval_strategy"] == "steps" and params["report_to"] == []
    assert params["model.hidden_size"] == 16 and params["model.model_type"] == "bert"
    assert params["model.num_hidden_layers"] == 1
    assert "hub_token" not in params and SECRET not in json.dumps(data)

    iteration_id = data["id"]
    assert steps(iteration_id, "train/loss") == [2, 4, 6]
    assert steps(iteration_id, "train/learning_rate") == [2, 4, 6]
    assert steps(iteration_id, "train/grad_norm") == [2, 4, 6]
    assert steps(iteration_id, "eval/loss") == [3, 6]
    assert steps(iteration_id, "eval/runtime") == [3, 6]
    assert steps(iteration_id, "train/train_runtime") == [MAX_STEPS]
    history = run.state.log_history
    sent = [(h["step"], h["loss"]) for h in history if "loss" in h]
    stored = tracking.get_metric_history(iteration_id, "train/loss")
    assert [p["step"] for p in stored] == [step for step, _ in sent]
    assert [p["value"] for p in stored] == pytest.approx([loss for _, loss in sent])
    summary = history[-1]
    assert data["metrics"]["train/train_samples_per_second"] == pytest.approx(
        summary["train_samples_per_second"]
    )
    assert data["metrics"]["train/epoch"] == pytest.approx(summary["epoch"])

    # save_total_limit deleted checkpoints; the copies were made when they were saved
    kept = {a["name"].split("/")[1] for a in tracking.list_artifacts(iteration_id, "checkpoints")}
    assert kept == {"checkpoint-3", "checkpoint-6"}
    assert len(list((tmp_path / "out").glob("checkpoint-*"))) < len(kept)
    names = {a["name"] for a in tracking.list_artifacts(iteration_id, "checkpoints/checkpoint-6")}
    assert "checkpoints/checkpoint-6/config.json" in names
    best = Path(run.state.best_model_checkpoint).name
    assert data["tags"]["best_checkpoint"] == f"checkpoints/{best}"
    assert float(data["tags"]["best_checkpoint_score"]) == pytest.approx(run.state.best_metric)
    assert data["tags"]["best_checkpoint_monitor"] == "loss"
    assert data["tags"]["best_checkpoint_path"] == run.state.best_model_checkpoint


def test_a_given_iteration_is_logged_to_and_left_running(
    active: dict[str, str], tmp_path: Path
) -> None:
    it = tracking.start_iteration("mine")
    callback = MlopsCallback(iteration=it)
    trainer(tmp_path, [callback]).train()
    assert callback.iteration is it
    assert tracking.get_iteration(it.id)["status"] == "running"
    ended = it.end_iteration()
    assert {"train/loss", "eval/loss"} <= set(ended["metrics"])
    assert ended["parameters"]["max_steps"] == MAX_STEPS
    assert tracking.list_artifacts(it.id) == []  # checkpoints only when asked
    assert "best_checkpoint" not in ended["tags"]
    assert len(tracking.list_iterations()) == 1


def test_an_error_in_an_owned_iteration_ends_it_failed(
    active: dict[str, str], tmp_path: Path
) -> None:
    with (
        pytest.raises(RuntimeError, match="exploded"),
        tracking.start_iteration("owned") as it,
    ):
        trainer(tmp_path, [Explode(at=3), MlopsCallback(iteration=it)]).train()
    data = tracking.get_iteration(it.id)
    assert data["status"] == "failed"
    assert data["error"] == {"type": "RuntimeError", "message": "the loss exploded at step 3"}
    assert steps(it.id, "train/loss") == [2]


def test_a_caught_error_ends_the_iteration_failed_at_the_next_training(
    active: dict[str, str], tmp_path: Path
) -> None:
    callback = MlopsCallback()
    with pytest.raises(RuntimeError, match="exploded"):
        trainer(tmp_path, [Explode(at=3), callback]).train()
    first = callback.iteration.id
    assert tracking.get_iteration(first)["status"] == "running"  # no hook saw the error
    trainer(tmp_path, [callback]).train()
    failed, finished = tracking.get_iteration(first), tracking.get_iteration(callback.iteration.id)
    assert failed["status"] == "failed"
    assert failed["error"] == {"type": "Error", "message": NOT_FINISHED}
    assert finished["status"] == "finished" and finished["id"] != first
    assert steps(finished["id"], "train/loss") == [2, 4, 6]


SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
from mlops import tracking
from test_integration_transformers import Explode, trainer
from mlops.integrations.transformers import MlopsCallback
from pathlib import Path

project = tracking.create_project("p")
tracking.set_active_project(project["id"])
caught, uncaught = MlopsCallback(name="caught"), MlopsCallback(name="uncaught")
try:
    trainer(Path({work!r}) / "a", [Explode(at=2), caught]).train()
except RuntimeError:
    pass  # the script goes on: the process ends normally
if sys.argv[1] == "raise":
    trainer(Path({work!r}) / "b", [Explode(at=4), uncaught]).train()
"""


@pytest.mark.parametrize("end", ["exit", "raise"])
def test_a_training_that_raised_ends_failed_when_the_process_exits(
    tmp_path: Path, end: str
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(SCRIPT.format(tests=str(Path(__file__).parent), work=str(tmp_path)))
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    result = subprocess.run(
        [sys.executable, str(script), end], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == (1 if end == "raise" else 0), result.stderr
    by_name = {i["name"]: i for i in tracking.list_iterations()}
    assert by_name["caught"]["status"] == "failed"
    assert by_name["caught"]["error"] == {"type": "Error", "message": NOT_FINISHED}
    if end == "raise":
        assert by_name["uncaught"]["status"] == "failed"
        assert by_name["uncaught"]["error"] == {
            "type": "RuntimeError", "message": "the loss exploded at step 4"
        }  # fmt: skip
    else:
        assert set(by_name) == {"caught"}


def test_evaluate_after_training_goes_to_the_same_iteration(
    active: dict[str, str], tmp_path: Path
) -> None:
    callback = MlopsCallback()
    run = trainer(tmp_path, [callback], eval_strategy="no")
    run.train()
    run.evaluate()
    run.evaluate(metric_key_prefix="test")
    data = tracking.get_iteration(callback.iteration.id)
    assert data["status"] == "finished"
    assert steps(data["id"], "eval/loss") == [MAX_STEPS]
    assert steps(data["id"], "test/loss") == [MAX_STEPS]
    assert len(tracking.list_iterations()) == 1


def test_a_non_zero_rank_records_nothing(
    active: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    trainer(tmp_path, [MlopsCallback(log_checkpoints=True)]).train()
    assert tracking.list_iterations() == []


def test_wrong_arguments_raise_at_once(active: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="log_checkpoints must be True or False"):
        MlopsCallback(log_checkpoints=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="iteration= takes the Iteration"):
        MlopsCallback(iteration={"id": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="name= must be a non-empty string"):
        MlopsCallback(name="  ")


def test_the_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    env["MLOPS_HOME"] = str(tmp_path / "example-home")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--work-dir", str(tmp_path / "work")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    monkeypatch.setenv("MLOPS_HOME", env["MLOPS_HOME"])  # read back what the script stored
    (data,) = tracking.list_iterations()
    assert data["status"] == "finished"
    assert data["parameters"]["model.model_type"] == "bert"
    assert {"train/loss", "eval/loss", "eval/accuracy"} <= set(data["metrics"])
    assert data["tags"]["best_checkpoint"].startswith("checkpoints/checkpoint-")
    assert tracking.list_artifacts(data["id"], data["tags"]["best_checkpoint"])
    assert data["id"] in result.stdout
