"""Train a small PyTorch Lightning classifier and track it with mlops in one line.

Two noisy point clouds in 8 dimensions (made here: nothing is downloaded) are told apart by a
two-layer MLP. ``Trainer(logger=MlopsLogger(log_checkpoints=True))`` records the
hyperparameters (``save_hyperparameters``), ``train_loss`` / ``val_loss`` / ``val_accuracy``
at each global step, every checkpoint with the best one marked, and the final status.

Everything goes to the project ``lightning-demo``, experiment ``mlp`` (created on the first
run, reused afterwards). It takes a few seconds on a CPU::

    MLOPS_HOME=./.demo-home python examples/train_lightning.py
    MLOPS_HOME=./.demo-home mlops iterations list
    MLOPS_HOME=./.demo-home mlops app       # the web App on the same data

Lightning's own files (checkpoints) go to ``./.demo-data/lightning`` (``--work-dir``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from mlops import tracking
from mlops.integrations.lightning import MlopsLogger

PROJECT = "lightning-demo"
EXPERIMENT = "mlp"


class Classifier(pl.LightningModule):
    """A two-layer MLP for two classes."""

    def __init__(self, features: int = 8, hidden: int = 16, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()  # recorded as the iteration's parameters
        self.net = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
        self.log("val_accuracy", (logits.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def blobs(n: int, seed: int) -> TensorDataset:
    """``n`` points of two classes around +1 and -1 in 8 dimensions."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn(n, 8, generator=generator) + (y[:, None] * 2.0 - 1.0)
    return TensorDataset(x, y)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a Lightning MLP, tracked with mlops.")
    parser.add_argument("--work-dir", type=Path, default=Path(".demo-data/lightning"))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    project = tracking.create_project(PROJECT, "Lightning tracked by mlops", exist_ok=True)
    tracking.set_active_project(project["id"])
    tracking.set_active_experiment(
        tracking.create_experiment(EXPERIMENT, "a two-layer MLP", exist_ok=True)["id"]
    )

    torch.manual_seed(0)
    logger = MlopsLogger(name="mlp-hidden-16", log_checkpoints=True)
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        logger=logger,
        callbacks=[ModelCheckpoint(monitor="val_accuracy", mode="max", save_top_k=2)],
        accelerator="cpu",
        default_root_dir=args.work_dir,
        log_every_n_steps=4,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    train = DataLoader(blobs(256, seed=1), batch_size=32, shuffle=True)
    val = DataLoader(blobs(128, seed=2), batch_size=128)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(Classifier(), train, val)

    data = tracking.get_iteration(logger.version)
    print(f"iteration {data['id']} ({data['name']}): {data['status']}")
    print(f"  val_accuracy {data['metrics']['val_accuracy']:.3f}")
    print(f"  best checkpoint {data['tags']['best_checkpoint']}")
    print("See it with: mlops iterations list    or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
