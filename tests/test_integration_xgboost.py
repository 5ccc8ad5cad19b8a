"""The XGBoost callback on a real XGBoost: a few boosting rounds on 100 random rows."""

from __future__ import annotations

import copy
import pickle
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callback_support import backend, run_example, run_script, steps
from mlops import tracking
from mlops.errors import InvalidInput

xgb = pytest.importorskip("xgboost")

from mlops.integrations.xgboost import MlopsCallback  # noqa: E402

__all__ = ["backend"]  # a fixture

ROUNDS = 8
PARAMS = {"objective": "binary:logistic", "max_depth": 2, "eta": 0.3, "eval_metric": "logloss"}


def data(noise: float = 0.0) -> tuple[Any, Any]:
    """80 training and 20 validation rows; ``noise`` flips that share of the labels."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    flip = rng.random(100) < noise
    y[flip] = 1 - y[flip]
    return xgb.DMatrix(x[:80], label=y[:80]), xgb.DMatrix(x[80:], label=y[80:])


def train(*callbacks: Any, rounds: int = ROUNDS, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    dtrain, dvalid = kwargs.pop("dmatrices", None) or data()
    result: dict[str, Any] = {}
    booster = xgb.train(
        PARAMS, dtrain, rounds, evals=[(dtrain, "train"), (dvalid, "validation")],
        evals_result=result, verbose_eval=False, callbacks=list(callbacks), **kwargs,
    )  # fmt: skip
    return booster, result


class Boom(xgb.callback.TrainingCallback):  # type: ignore[misc]
    """Makes the training raise after its third round."""

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if epoch == 2:
            raise RuntimeError("diverged")
        return False


def test_training_is_recorded(backend: str, active: dict[str, str], tmp_path: Path) -> None:
    callback = MlopsCallback(log_model=True)
    booster, result = train(callback)

    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert it["experiment_id"] == active["experiment_id"]
    assert it["name"].startswith("xgboost ")
    params = it["parameters"]
    assert params["objective"] == "binary:logistic"
    assert params["max_depth"] == 2 and params["eta"] == 0.3  # not XGBoost's "0.300000012"
    assert params["eval_metric"] == ["logloss"]
    assert params["num_boost_round"] == ROUNDS
    assert params["subsample"] == 1 and params["tree_method"] == "auto"  # defaults too
    assert params["num_feature"] == 5
    assert not {"learning_rate", "updater_seq", "debug_synchronize"} & set(params)
    assert len(params) < 40

    for name in ("train", "validation"):
        points = tracking.get_metric_history(it["id"], f"{name}-logloss")
        assert [p["step"] for p in points] == list(range(ROUNDS))
        assert [p["value"] for p in points] == pytest.approx(result[name]["logloss"])
    assert "best_iteration" not in it["metrics"]  # no early stopping: nothing is best

    (artifact,) = tracking.list_artifacts(it["id"])
    assert artifact["name"] == "model/model.json"
    path = tracking.download_artifacts(it["id"], "model/model.json", tmp_path)
    loaded = xgb.Booster(model_file=path)
    dvalid = data()[1]
    np.testing.assert_allclose(loaded.predict(dvalid), booster.predict(dvalid))


def test_early_stopping_records_the_best_iteration(active: dict[str, str]) -> None:
    callback = MlopsCallback()
    booster, _ = train(callback, rounds=50, early_stopping_rounds=2, dmatrices=data(noise=0.4))
    rounds = booster.num_boosted_rounds()
    assert rounds < 50  # it stopped early
    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert it["metrics"]["best_iteration"] == booster.best_iteration
    assert it["metrics"]["best_score"] == pytest.approx(booster.best_score)
    assert it["parameters"]["num_boost_round"] == rounds
    history = tracking.get_metric_history(it["id"], "validation-logloss")
    assert [p["step"] for p in history] == list(range(rounds))
    best = history[booster.best_iteration]["value"]
    assert best == pytest.approx(booster.best_score) == min(p["value"] for p in history)


def test_the_scikit_learn_api_and_its_copies(active: dict[str, str]) -> None:
    from sklearn.base import clone

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5))
    y = (x[:, 0] > 0).astype(int)
    callback = MlopsCallback(name="clf")
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, callbacks=[callback])
    model.fit(x, y, eval_set=[(x[80:], y[80:])], verbose=False)
    first = callback.iteration.id
    assert steps(first, "validation_0-logloss") == list(range(5))
    assert tracking.get_iteration(first)["parameters"]["num_boost_round"] == 5

    # clone (as grid searches do) deep-copies the callbacks: the copy records on its own
    copied = clone(model).set_params(n_estimators=3)
    copied.fit(x, y, eval_set=[(x[80:], y[80:])], verbose=False)
    (twin,) = copied.get_params()["callbacks"]
    assert twin is not callback and twin.iteration.id != first
    assert callback.iteration.id == first
    assert steps(twin.iteration.id, "validation_0-logloss") == [0, 1, 2]
    iterations = tracking.list_iterations()
    assert [i["name"] for i in iterations] == ["clf", "clf"]
    assert {i["status"] for i in iterations} == {"finished"}

    # a fitted model pickles with its callbacks (joblib.dump, model registries)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(x), model.predict_proba(x))


def test_cross_validation_records_the_mean_of_the_folds(active: dict[str, str]) -> None:
    callback = MlopsCallback()
    results = xgb.cv(PARAMS, data()[0], 4, nfold=2, callbacks=[callback])
    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert it["parameters"]["max_depth"] == 2
    for name, column in (("test-logloss", "test-logloss-mean"), ("test-logloss-std", None)):
        points = tracking.get_metric_history(it["id"], name)
        assert [p["step"] for p in points] == list(range(4))
        column = column or name
        assert [p["value"] for p in points] == pytest.approx(list(results[column]))


def test_a_second_training_is_a_second_iteration(active: dict[str, str]) -> None:
    callback = MlopsCallback()
    train(callback)
    first = callback.iteration.id
    train(callback, rounds=3)
    assert callback.iteration.id != first
    assert steps(first, "validation-logloss") == list(range(ROUNDS))
    assert steps(callback.iteration.id, "validation-logloss") == [0, 1, 2]
    assert not tracking.list_artifacts(first)  # log_model is opt-in


def test_a_given_iteration_is_logged_to_and_left_running(active: dict[str, str]) -> None:
    it = tracking.start_iteration("mine")
    callback = MlopsCallback(iteration=it, log_model=True)
    train(callback)
    assert copy.deepcopy(callback).iteration is it  # copies log to the given iteration too
    assert tracking.get_iteration(it.id)["status"] == "running"
    assert steps(it.id, "train-logloss") == list(range(ROUNDS))
    assert it.end_iteration()["status"] == "finished"
    assert [a["name"] for a in tracking.list_artifacts(it.id)] == ["model/model.json"]
    assert [i["id"] for i in tracking.list_iterations()] == [it.id]


def test_a_non_zero_rank_records_nothing(
    active: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    callback = MlopsCallback(log_model=True)
    train(callback)
    assert callback.iteration["status"] == "disabled"
    assert tracking.list_iterations() == []


def test_a_caught_error_ends_the_iteration_failed_at_the_next_training(
    active: dict[str, str],
) -> None:
    callback = MlopsCallback()
    with pytest.raises(RuntimeError, match="diverged"):
        train(callback, Boom())
    failed = callback.iteration.id
    assert tracking.get_iteration(failed)["status"] == "running"  # nothing told it yet
    assert steps(failed, "validation-logloss") == [0, 1, 2]
    train(callback)
    it = tracking.get_iteration(failed)
    assert it["status"] == "failed"
    assert it["error"]["message"] == (
        "xgboost training stopped before its end (it raised, and the error was caught)"
    )
    assert tracking.get_iteration(callback.iteration.id)["status"] == "finished"


DIVERGED = {"type": "RuntimeError", "message": "diverged"}
SCRIPT = """
from test_integration_xgboost import Boom, MlopsCallback, train
{body}
"""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("train(MlopsCallback(name='boom'), Boom())", DIVERGED),
        (
            "try:\n    train(MlopsCallback(name='boom'), Boom())\nexcept RuntimeError:\n    pass",
            {"type": "Error", "message": "xgboost training stopped before its end (it raised, "
             "and the error was caught)"},
        ),
    ],
    ids=["uncaught", "caught"],
)  # fmt: skip
def test_a_training_that_raises_ends_failed_at_the_exit(
    active: dict[str, str], tmp_path: Path, mlops_home: Path, body: str, error: dict[str, str]
) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT.format(body=body)))
    done = run_script(script, mlops_home, check=False)
    assert done.returncode == (1 if "try" not in body else 0), done.stderr
    (it,) = tracking.list_iterations()
    assert it["name"] == "boom" and it["status"] == "failed"
    assert it["error"] == error
    assert steps(it["id"], "validation-logloss") == [0, 1, 2]


def test_bad_arguments_raise_at_once(active: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="log_model"):
        MlopsCallback(log_model=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not both"):
        MlopsCallback(iteration=tracking.start_iteration("x"), project_id="p")


def test_the_example_runs(mlops_home: Path) -> None:
    output, iterations = run_example("train_xgboost.py", mlops_home)
    assert [i["name"] for i in iterations] == ["XGBClassifier", "xgb.train"], output
    assert {i["status"] for i in iterations} == {"finished"}
    sk, booster = iterations
    assert booster["metrics"]["best_iteration"] < booster["parameters"]["num_boost_round"]
    assert [a["name"] for a in tracking.list_artifacts(booster["id"])] == ["model/model.json"]
    assert steps(sk["id"], "validation_0-logloss") == list(range(50))
