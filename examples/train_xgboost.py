"""Train XGBoost models and track them with mlops: one line, ``callbacks=[MlopsCallback()]``.

The data are a noisy classification problem made with numpy (nothing is downloaded). Two
trainings, each one iteration: ``xgb.train`` with early stopping (the booster's parameters,
``train-logloss`` / ``validation-logloss`` / ``validation-error`` per round, the best round
and the model file ``model/model.json``), and the same through the scikit-learn API
(``XGBClassifier``, when scikit-learn is installed). Everything goes to the project
``xgboost-demo``, experiment ``boosting`` (made on the first run). Run it with::

    MLOPS_HOME=./.demo-home python examples/train_xgboost.py
    MLOPS_HOME=./.demo-home mlops iterations list
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import xgboost as xgb

from mlops import tracking
from mlops.integrations.xgboost import MlopsCallback


def make_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of 10 features; the label depends on three of them, with 10% flipped."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    flip = rng.random(n) < 0.1
    y[flip] = 1 - y[flip]
    return x, y


def main() -> int:
    project = tracking.create_project("xgboost-demo", "XGBoost on made-up data", exist_ok=True)
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("boosting", "early stopping", exist_ok=True)
    tracking.set_active_experiment(experiment["id"])

    x, y = make_data()
    dtrain = xgb.DMatrix(x[:800], label=y[:800])
    dvalid = xgb.DMatrix(x[800:], label=y[800:])
    params = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "error"],
        "max_depth": 3,
        "eta": 0.1,
        "subsample": 0.8,
    }
    callback = MlopsCallback(name="xgb.train", log_model=True)
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=200,
        evals=[(dtrain, "train"), (dvalid, "validation")],
        early_stopping_rounds=10,  # on the last metric of the last evals: validation-error
        verbose_eval=False,
        callbacks=[callback],
    )
    ids = [callback.iteration.id]
    print(f"xgb.train stopped after {booster.num_boosted_rounds()} rounds")

    if importlib.util.find_spec("sklearn"):
        sk_callback = MlopsCallback(name="XGBClassifier")
        model = xgb.XGBClassifier(n_estimators=50, max_depth=3, callbacks=[sk_callback])
        model.fit(x[:800], y[:800], eval_set=[(x[800:], y[800:])], verbose=False)
        ids.append(sk_callback.iteration.id)

    for iteration_id in ids:
        it = tracking.get_iteration(iteration_id)
        shown = {k: round(v, 4) for k, v in it["metrics"].items() if k.startswith("valid")}
        print(f"iteration {it['name']} ({it['id']}): {it['status']} {shown}")
        if "best_iteration" in it["metrics"]:
            print(f"  best round {it['metrics']['best_iteration']:g}")
    print("See them with: mlops iterations list    or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
