"""MlopsLogger on a real PyTorch Lightning training: a linear layer on a few dozen random
tensors, a few epochs on the CPU."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import warnings
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from mlops import tracking
from mlops.errors import InvalidInput

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers.logger import Logger  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from mlops.integrations.lightning import MlopsLogger  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_lightning.py"
EPOCHS = 3
BATCHES = 6  # 48 samples in batches of 8


class Regression(pl.LightningModule):
    """y = sum(x) with one linear layer; ``fail_at`` makes training_step raise at that batch."""

    def __init__(
        self, lr: float = 0.1, optimizer: dict[str, Any] | None = None, fail_at: int = -1
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError(f"the loss exploded at step {self.global_step}")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8 * BATCHES, 4, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)


class Spy(Logger):
    """What Lightning hands a logger, to compare with what mlops stored."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[dict[str, float], int | None]] = []

    @property
    def name(self) -> str:
        return "spy"

    @property
    def version(self) -> str:
        return "0"

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append((dict(metrics), step))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


def fit(
    tmp_path: Path, logger: Any, module: Regression | None = None, **trainer: Any
) -> pl.Trainer:
    """Train ``module`` (default: a fresh Regression) for EPOCHS epochs with ``logger``."""
    torch.manual_seed(0)
    trainer.setdefault("log_every_n_steps", 2)
    run = pl.Trainer(
        max_epochs=EPOCHS, logger=logger, accelerator="cpu", devices=1, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, **trainer,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        run.fit(
            module or Regression(optimizer={"name": "sgd", "momentum": 0.0}), loader(), loader()
        )
    return run


def test_a_training_is_recorded(tracking_uri: str, active: dict[str, str], tmp_path: Path) -> None:
    logger, spy = MlopsLogger(name="linear"), Spy()
    fit(tmp_path, [logger, spy])
    data = tracking.get_iteration(logger.version)
    assert data["name"] == "linear"
    assert data["experiment_id"] == active["experiment_id"]
    assert data["status"] == "finished" and data["error"] is None
    assert data["parameters"] == {
        "lr": 0.1, "fail_at": -1, "optimizer.name": "sgd", "optimizer.momentum": 0.0
    }  # fmt: skip
    assert logger.experiment is not None and logger.experiment.id == data["id"]
    assert logger.name == active["experiment_id"] and logger.save_dir is None

    for metric in ("train_loss", "val_loss", "epoch"):
        sent = [(step, m[metric]) for m, step in spy.calls if metric in m]
        stored = tracking.get_metric_history(data["id"], metric)
        # "epoch" goes with both series, twice at a step: the last value of a step is kept
        expected = dict(sent)
        assert [(p["step"], p["value"]) for p in stored] == sorted(expected.items()), metric
    train_steps = [p["step"] for p in tracking.get_metric_history(data["id"], "train_loss")]
    assert len(train_steps) == EPOCHS * BATCHES // 2
    assert len(tracking.get_metric_history(data["id"], "val_loss")) == EPOCHS
    assert data["metrics"]["epoch"] == EPOCHS - 1


def test_hyperparameters_from_a_namespace_are_flattened(active: dict[str, str]) -> None:
    logger = MlopsLogger()
    logger.log_hyperparams(Namespace(lr=0.01, model={"layers": 2, "act": torch.nn.ReLU}))
    logger.log_metrics({"loss": torch.tensor(0.5), "name": "not a number"}, step=3)
    logger.finalize("success")
    data = tracking.get_iteration(logger.version)
    assert data["parameters"] == {"lr": 0.01, "model.layers": 2, "model.act": "ReLU"}
    assert tracking.get_metric_history(data["id"], "loss")[0]["step"] == 3
    assert set(data["metrics"]) == {"loss"}
    assert data["name"].startswith("lightning ")


def test_a_training_that_raises_ends_failed_with_the_error(
    active: dict[str, str], tmp_path: Path
) -> None:
    logger = MlopsLogger()
    with pytest.raises(RuntimeError, match="exploded"):
        fit(tmp_path, logger, Regression(fail_at=4))
    data = tracking.get_iteration(logger.version)
    assert data["status"] == "failed"
    assert data["error"] == {"type": "RuntimeError", "message": "the loss exploded at step 4"}
    assert [p["step"] for p in tracking.get_metric_history(data["id"], "train_loss")] == [1, 3]


class Interrupted(Regression):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.global_step == 2:
            raise KeyboardInterrupt
        return super().training_step(batch, batch_idx)


def test_ctrl_c_ends_the_iteration_killed(active: dict[str, str], tmp_path: Path) -> None:
    logger = MlopsLogger()
    handler = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C while it shuts down
    try:
        with pytest.raises(SystemExit):  # and then exits
            fit(tmp_path, logger, Interrupted())
    finally:
        signal.signal(signal.SIGINT, handler)
    data = tracking.get_iteration(logger.version)
    assert data["status"] == "killed"
    assert data["error"]["type"] == "KeyboardInterrupt"


def test_checkpoints_are_kept_and_the_best_is_marked(
    active: dict[str, str], tmp_path: Path
) -> None:
    logger = MlopsLogger(log_checkpoints=True)
    best = ModelCheckpoint(
        monitor="val_loss", save_top_k=1, save_last=True, filename="{epoch}-{val_loss:.3f}"
    )
    fit(tmp_path, logger, callbacks=[best])
    data = tracking.get_iteration(logger.version)
    names = [a["name"] for a in tracking.list_artifacts(data["id"], "checkpoints")]
    # Lightning kept the best and the last file on disk; every one it wrote was copied at once
    assert sorted(p.name for p in Path(best.dirpath).glob("*.ckpt"))[-1] == "last.ckpt"
    assert len(list(Path(best.dirpath).glob("*.ckpt"))) == 2
    epochs = [n for n in names if n != "checkpoints/last.ckpt"]
    assert len(epochs) == EPOCHS and len(names) == EPOCHS + 1
    assert all(n.startswith("checkpoints/epoch=") and n.endswith(".ckpt") for n in epochs)
    (last,) = tracking.list_artifacts(data["id"], "checkpoints/last.ckpt")
    content = (Path(best.dirpath) / "last.ckpt").read_bytes()  # the last epoch's, not the first's
    assert last["sha256"] == hashlib.sha256(content).hexdigest()
    assert data["tags"]["best_checkpoint"] == f"checkpoints/{Path(best.best_model_path).name}"
    assert data["tags"]["best_checkpoint_monitor"] == "val_loss"
    assert data["tags"]["best_checkpoint_path"] == str(Path(best.best_model_path).absolute())
    assert float(data["tags"]["best_checkpoint_score"]) == pytest.approx(
        float(best.best_model_score)
    )
    (kept,) = tracking.list_artifacts(data["id"], data["tags"]["best_checkpoint"])
    assert kept["size_bytes"] == Path(best.best_model_path).stat().st_size


def test_checkpoints_are_not_kept_unless_asked(active: dict[str, str], tmp_path: Path) -> None:
    logger = MlopsLogger()
    fit(tmp_path, logger)
    assert tracking.list_artifacts(logger.version) == []
    tags = tracking.get_iteration(logger.version)["tags"]
    assert "best_checkpoint" not in tags  # no artifact to point at
    (saved,) = Path(tmp_path).rglob("*.ckpt")  # nothing monitored: the last one is the best
    assert tags["best_checkpoint_path"] == str(saved.absolute())


def test_a_given_iteration_is_logged_to_and_left_running(
    active: dict[str, str], tmp_path: Path
) -> None:
    it = tracking.start_iteration("mine")
    logger = MlopsLogger(iteration=it)
    fit(tmp_path, logger)
    assert logger.version == it.id and logger.experiment is it
    assert tracking.get_iteration(it.id)["status"] == "running"
    it.log_metric("after", 1.0)
    ended = it.end_iteration()
    assert ended["status"] == "finished"
    assert {"train_loss", "val_loss", "after"} <= set(ended["metrics"])
    assert ended["parameters"]["lr"] == 0.1
    assert len(tracking.list_iterations()) == 1


def test_test_after_fit_goes_to_the_same_iteration(active: dict[str, str], tmp_path: Path) -> None:
    logger = MlopsLogger()
    trainer = fit(tmp_path, logger)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.test(dataloaders=loader(), verbose=False)
    data = tracking.get_iteration(logger.version)
    assert data["status"] == "finished"
    assert {"train_loss", "val_loss", "test_loss"} <= set(data["metrics"])
    assert len(tracking.list_iterations()) == 1


def test_a_non_zero_rank_records_nothing(
    active: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = MlopsLogger(log_checkpoints=True)
    fit(tmp_path, logger)
    assert tracking.list_iterations() == []


def test_wrong_arguments_raise_at_once(active: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="log_checkpoints must be True or False"):
        MlopsLogger(log_checkpoints="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="iteration= takes the Iteration"):
        MlopsLogger(iteration="abc")  # type: ignore[arg-type]
    it = tracking.start_iteration("x")
    with pytest.raises(InvalidInput, match="not both"):
        MlopsLogger(iteration=it, experiment_id=active["experiment_id"])
    it.end_iteration()


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
    assert data["parameters"]["hidden"] > 0
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(data["metrics"])
    assert data["tags"]["best_checkpoint"].startswith("checkpoints/")
    assert tracking.list_artifacts(data["id"], data["tags"]["best_checkpoint"])
    assert data["id"] in result.stdout
