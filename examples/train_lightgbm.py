"""Train LightGBM models and track them with mlops: one line, ``callbacks=[mlops_callback()]``.

The data are a noisy classification problem made with numpy (nothing is downloaded). Two
trainings, each one iteration: ``lgb.train`` with early stopping (its parameters,
``train-binary_logloss`` / ``valid-binary_logloss`` / ``valid-auc`` per round, the best round
and its scores, the model file ``model/model.txt``), and the same through the scikit-learn API
(``LGBMClassifier``, when scikit-learn is installed). Everything goes to the project
``lightgbm-demo``, experiment ``boosting`` (made on the first run). Run it with::

    MLOPS_HOME=./.demo-home python examples/train_lightgbm.py
    MLOPS_HOME=./.demo-home mlops iterations list
"""

from __future__ import annotations

import importlib.util
import inspect
import sys

import lightgbm as lgb
import numpy as np

from mlops import tracking
from mlops.integrations.lightgbm import mlops_callback


def make_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of 10 features; the label depends on three of them, with 10% flipped."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    flip = rng.random(n) < 0.1
    y[flip] = 1 - y[flip]
    return x, y


def main() -> int:
    project = tracking.create_project("lightgbm-demo", "LightGBM on made-up data", exist_ok=True)
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("boosting", "early stopping", exist_ok=True)
    tracking.set_active_experiment(experiment["id"])

    x, y = make_data()
    dtrain = lgb.Dataset(x[:800], label=y[:800])
    dvalid = lgb.Dataset(x[800:], label=y[800:], reference=dtrain)
    params = {
        "objective": "binary",
        "metric": ["binary_logloss", "auc"],
        "num_leaves": 15,
        "learning_rate": 0.1,
        "verbose": -1,
    }
    callback = mlops_callback(name="lgb.train", log_model=True)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=200,
        valid_sets=[dtrain, dvalid],
        valid_names=["train", "valid"],
        callbacks=[lgb.early_stopping(10, verbose=False), callback],
    )
    ids = [callback.iteration.id]
    print(f"lgb.train kept {booster.current_iteration()} trees (up to the best round)")

    if importlib.util.find_spec("sklearn"):
        sk_callback = mlops_callback(name="LGBMClassifier")
        model = lgb.LGBMClassifier(n_estimators=50, num_leaves=15, verbose=-1)
        # LightGBM 4.7 takes eval_X / eval_y; older versions eval_set
        if "eval_X" in inspect.signature(model.fit).parameters:
            evals: dict[str, object] = {"eval_X": x[800:], "eval_y": y[800:]}
        else:
            evals = {"eval_set": [(x[800:], y[800:])]}
        model.fit(x[:800], y[:800], callbacks=[sk_callback], **evals)
        ids.append(sk_callback.iteration.id)

    for iteration_id in ids:
        it = tracking.get_iteration(iteration_id)
        shown = {k: round(v, 4) for k, v in it["metrics"].items() if k.startswith("valid")}
        print(f"iteration {it['name']} ({it['id']}): {it['status']} {shown}")
        if "best_iteration" in it["metrics"]:
            print(f"  best round {it['metrics']['best_iteration']:g} (1-based, as LightGBM counts)")
    print("See them with: mlops iterations list    or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
