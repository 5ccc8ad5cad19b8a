"""Train scikit-learn models on the handwritten digits and track every run with mlops.

The digits (8x8 images, 1,797 samples, bundled with scikit-learn: nothing is downloaded) are
written as a CSV file to a work folder and registered as the dataset ``digits`` version ``1``.
The script then sweeps an ``SGDClassifier`` over ``loss`` x ``alpha``, one iteration per
setting, logging per-epoch ``train_accuracy``, ``val_accuracy`` and ``val_loss`` (the model's
own loss: log loss or hinge loss), the model file and a final ``test_accuracy``. A
``GradientBoostingClassifier`` iteration logs one point per boosting stage.

Everything goes to the project ``digits-demo``, experiment ``sgd-sweep`` (created on the first
run, reused afterwards). Run it with::

    MLOPS_HOME=./.demo-home python examples/train_sklearn.py           # or: make demo
    MLOPS_HOME=./.demo-home python examples/train_sklearn.py --quick   # a few seconds

and look at the results with::

    MLOPS_HOME=./.demo-home mlops iterations list
    MLOPS_HOME=./.demo-home mlops app       # the web App on the same data

Without ``MLOPS_HOME`` the runs go to ``~/.mlops``. The CSV and the model files go to
``./.demo-data`` (``--data-dir`` to change it).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, hinge_loss, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mlops import tracking

PROJECT = "digits-demo"
EXPERIMENT = "sgd-sweep"
SEED = 0
CLASSES = np.arange(10)


@dataclass(frozen=True)
class Splits:
    """Scaled train / validation / test splits of the digits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Plan:
    """What to train: the SGD grid, its epochs and the boosting stages (0: no boosting)."""

    losses: tuple[str, ...]
    alphas: tuple[float, ...]
    epochs: int
    boosting_stages: int


# -- data -----------------------------------------------------------------------------------
def write_digits_csv(folder: Path) -> Path:
    """Write the digits to ``folder/digits.csv`` (64 pixel columns, then ``target``).

    The bytes are the same on every run, so registering the folder again finds the same
    dataset version instead of a conflicting one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    header = ",".join([*(f"pixel_{i}" for i in range(64)), "target"])
    lines = [header]
    for row, target in zip(digits.data.astype(int), digits.target, strict=True):
        lines.append(",".join(map(str, row.tolist())) + f",{int(target)}")
    path = folder / "digits.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_splits(csv_path: Path) -> Splits:
    """Read the CSV back and split it 60/20/20, standardized on the training part."""
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    x, y = table[:, :-1], table[:, -1].astype(int)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=SEED, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=SEED, stratify=y_rest
    )
    scaler = StandardScaler().fit(x_train)
    return Splits(
        scaler.transform(x_train),
        y_train,
        scaler.transform(x_val),
        y_val,
        scaler.transform(x_test),
        y_test,
    )


# -- training -------------------------------------------------------------------------------
def save_model(model: Any, path: Path) -> str:
    """Pickle a model and return its path as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(model, fh)
    return str(path)


def train_sgd(
    loss: str, alpha: float, epochs: int, data: Splits, dataset_id: str, models: Path
) -> str:
    """One SGD run as one iteration, trained epoch by epoch; returns the iteration id."""
    name = f"sgd-{loss}-alpha={alpha:g}"
    with tracking.start_iteration(name) as it:
        it.log_parameters(
            {
                "model": "SGDClassifier",
                "loss": loss,
                "alpha": alpha,
                "penalty": "l2",
                "learning_rate": "optimal",
                "epochs": epochs,
                "random_state": SEED,
                "n_train": len(data.y_train),
            }
        )
        it.log_dataset(dataset_id)
        model = SGDClassifier(loss=loss, alpha=alpha, random_state=SEED)
        rng = np.random.default_rng(SEED)
        for epoch in range(epochs):
            order = rng.permutation(len(data.y_train))
            model.partial_fit(data.x_train[order], data.y_train[order], classes=CLASSES)
            if loss == "log_loss":
                val_loss = log_loss(data.y_val, model.predict_proba(data.x_val), labels=CLASSES)
            else:
                val_loss = hinge_loss(
                    data.y_val, model.decision_function(data.x_val), labels=CLASSES
                )
            it.log_metrics(
                {
                    "train_accuracy": accuracy_score(data.y_train, model.predict(data.x_train)),
                    "val_accuracy": accuracy_score(data.y_val, model.predict(data.x_val)),
                    "val_loss": float(val_loss),
                },
                step=epoch,
            )
        it.log_path_to_model(save_model(model, models / f"sgd-{loss}-alpha-{alpha:g}.pkl"))
        it.log_metric("test_accuracy", accuracy_score(data.y_test, model.predict(data.x_test)))
    return it.id


def train_boosting(stages: int, data: Splits, dataset_id: str, models: Path) -> str:
    """One gradient-boosting run; each boosting stage is one step of its series."""
    params = {"n_estimators": stages, "learning_rate": 0.3, "max_depth": 2, "subsample": 0.8}
    with tracking.start_iteration(f"gboost-{stages}") as it:
        it.log_parameters({"model": "GradientBoostingClassifier", **params, "random_state": SEED})
        it.log_dataset(dataset_id)
        model = GradientBoostingClassifier(**params, random_state=SEED)
        model.fit(data.x_train, data.y_train)
        train_stages = model.staged_predict(data.x_train)
        val_stages = model.staged_predict_proba(data.x_val)
        for stage, (train_pred, val_proba) in enumerate(zip(train_stages, val_stages, strict=True)):
            it.log_metrics(
                {
                    "train_accuracy": accuracy_score(data.y_train, train_pred),
                    "val_accuracy": accuracy_score(data.y_val, CLASSES[val_proba.argmax(axis=1)]),
                    "val_loss": float(log_loss(data.y_val, val_proba, labels=CLASSES)),
                },
                step=stage,
            )
        it.log_path_to_model(save_model(model, models / f"gboost-{stages}.pkl"))
        it.log_metric("test_accuracy", accuracy_score(data.y_test, model.predict(data.x_test)))
    return it.id


# -- command line ---------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sweep scikit-learn models on the digits and track each run with mlops."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".demo-data"),
        help="work folder for the dataset CSV and the model files (default: ./.demo-data)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small sweep with few epochs (for tests)"
    )
    parser.add_argument("--epochs", type=int, help="SGD epochs per run (default: 30, quick: 5)")
    parser.add_argument(
        "--no-boosting", action="store_true", help="skip the gradient-boosting iteration"
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(("hinge", "log_loss"), (1e-3,), 5, 10)
    else:
        plan = Plan(("hinge", "log_loss"), (1e-4, 1e-3, 1e-2), 30, 40)
    if args.epochs is not None:
        if args.epochs < 1:
            raise SystemExit("--epochs must be at least 1")
        plan = Plan(plan.losses, plan.alphas, args.epochs, plan.boosting_stages)
    if args.no_boosting:
        plan = Plan(plan.losses, plan.alphas, plan.epochs, 0)
    return plan


def print_summary(iteration_ids: Sequence[str]) -> None:
    """A table of the stored iterations: status, final and best val_accuracy, test_accuracy."""
    rows = [tracking.get_iteration(i) for i in iteration_ids]
    width = max(len("iteration"), *(len(r["name"]) for r in rows))
    print(f"\n{'iteration':<{width}}  {'status':<8}  {'val_acc':>7}  {'best':>7}  {'test_acc':>8}")
    print("-" * (width + 40))
    for row in rows:
        summary = row["metric_summaries"].get("val_accuracy") or {}
        print(
            f"{row['name']:<{width}}  {row['status']:<8}  "
            f"{_fmt(row['metrics'].get('val_accuracy')):>7}  {_fmt(summary.get('max')):>7}  "
            f"{_fmt(row['metrics'].get('test_accuracy')):>8}"
        )
    best = max(rows, key=lambda r: r["metrics"].get("val_accuracy") or 0.0)
    print(f"\nbest by final val_accuracy: {best['name']} (iteration {best['id']})")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    started = time.perf_counter()

    data_dir = args.data_dir.expanduser().resolve()
    dataset_dir = data_dir / "digits"
    csv_path = write_digits_csv(dataset_dir)
    dataset = tracking.create_dataset(
        "digits",
        str(dataset_dir),
        "8x8 handwritten digits (scikit-learn)",
        tags=["images", "classification"],
        version="1",
    )
    data = load_splits(csv_path)

    # exist_ok: a second run adds iterations to the same project and experiment
    project = tracking.create_project(
        PROJECT, "scikit-learn on the 8x8 handwritten digits", exist_ok=True
    )
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment(
        EXPERIMENT,
        "SGDClassifier over loss x alpha, and a gradient-boosting baseline",
        exist_ok=True,
    )
    print(tracking.set_active_experiment(experiment["id"]))
    print(f"dataset digits v{dataset['version']} ({dataset['digest']}) at {dataset['path']}")

    models = data_dir / "models"
    ids: list[str] = []
    for loss in plan.losses:
        for alpha in plan.alphas:
            ids.append(train_sgd(loss, alpha, plan.epochs, data, dataset["id"], models))
            print(f"  trained sgd-{loss}-alpha={alpha:g}")
    if plan.boosting_stages:
        ids.append(train_boosting(plan.boosting_stages, data, dataset["id"], models))
        print(f"  trained gboost-{plan.boosting_stages}")

    print_summary(ids)
    print(f"\n{len(ids)} iterations in {time.perf_counter() - started:.1f} s. See them with:")
    print("  mlops iterations list        or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
