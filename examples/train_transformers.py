"""Train a tiny Hugging Face BERT classifier and track it with mlops in one line.

The model is built from a config (one layer, 32 wide: nothing is downloaded) and learns a
made-up task on random token ids: is the first token in the lower half of the vocabulary?
``Trainer(..., callbacks=[MlopsCallback(log_checkpoints=True)])`` records the training
arguments and the model config as parameters, ``train/loss``, ``train/learning_rate``,
``eval/loss`` and ``eval/accuracy`` at each global step, every checkpoint folder with the best
one marked, and the final status. ``report_to="none"`` keeps other installed trackers quiet.

Everything goes to the project ``transformers-demo``, experiment ``tiny-bert`` (created on the
first run, reused afterwards). It takes a few seconds on a CPU::

    MLOPS_HOME=./.demo-home python examples/train_transformers.py
    MLOPS_HOME=./.demo-home mlops iterations list
    MLOPS_HOME=./.demo-home mlops app       # the web App on the same data

The Trainer's own files (checkpoints) go to ``./.demo-data/transformers`` (``--work-dir``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # this example never needs the Hub

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from mlops import tracking
from mlops.integrations.transformers import MlopsCallback

PROJECT = "transformers-demo"
EXPERIMENT = "tiny-bert"
VOCAB = 64


class FirstTokenTask(torch.utils.data.Dataset):
    """Sequences of 12 random token ids; the label says whether the first is below VOCAB/2."""

    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(2, VOCAB, (n, 12), generator=generator)
        self.labels = (self.ids[:, 0] < VOCAB // 2).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def accuracy(prediction: Any) -> dict[str, float]:
    """``eval_accuracy`` for the Trainer (recorded as ``eval/accuracy``)."""
    logits, labels = prediction.predictions, prediction.label_ids
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a tiny BERT, tracked with mlops.")
    parser.add_argument("--work-dir", type=Path, default=Path(".demo-data/transformers"))
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)

    project = tracking.create_project(PROJECT, "transformers tracked by mlops", exist_ok=True)
    tracking.set_active_project(project["id"])
    tracking.set_active_experiment(
        tracking.create_experiment(EXPERIMENT, "a one-layer BERT", exist_ok=True)["id"]
    )

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    callback = MlopsCallback(name="tiny-bert", log_checkpoints=True)
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=TrainingArguments(
            output_dir=str(args.work_dir),
            max_steps=args.steps,
            learning_rate=3e-3,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=64,
            logging_steps=5,
            eval_strategy="steps",
            eval_steps=10,
            save_steps=10,
            save_total_limit=2,
            metric_for_best_model="accuracy",
            report_to="none",  # no other tracker; mlops comes in through callbacks=[...]
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        ),
        train_dataset=FirstTokenTask(256, seed=1),
        eval_dataset=FirstTokenTask(64, seed=2),
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    trainer.train()

    data = tracking.get_iteration(callback.iteration.id)
    print(f"iteration {data['id']} ({data['name']}): {data['status']}")
    print(f"  eval/accuracy {data['metrics']['eval/accuracy']:.3f}")
    print(f"  best checkpoint {data['tags']['best_checkpoint']}")
    print("See it with: mlops iterations list    or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
