"""The LightGBM callback on a real LightGBM: a few boosting rounds on 100 random rows."""

from __future__ import annotations

import inspect
import pickle
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callback_support import backend, run_example, run_script, steps
from mlops import tracking
from mlops.errors import InvalidInput

lgb = pytest.importorskip("lightgbm")

from mlops.integrations.lightgbm import MlopsCallback, mlops_callback  # noqa: E402

__all__ = ["backend"]  # a fixture

ROUNDS = 8
PARAMS = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}
STOPPED = "lightgbm training stopped before its end (it raised, and the error was caught)"


def arrays(noise: float = 0.0) -> tuple[Any, Any]:
    """100 rows of 5 features; ``noise`` flips that share of the labels."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    flip = rng.random(100) < noise
    y[flip] = 1 - y[flip]
    return x, y


def train(*callbacks: Any, rounds: int = ROUNDS, noise: float = 0.0) -> tuple[Any, dict]:
    x, y = arrays(noise)
    dtrain = lgb.Dataset(x[:80], label=y[:80])
    dvalid = lgb.Dataset(x[80:], label=y[80:], reference=dtrain)
    result: dict[str, Any] = {}
    booster = lgb.train(
        PARAMS, dtrain, rounds, valid_sets=[dtrain, dvalid], valid_names=["train", "valid"],
        callbacks=[lgb.record_evaluation(result), *callbacks],
    )  # fmt: skip
    return booster, result


def evals(x: Any, y: Any) -> dict[str, Any]:
    """The validation data of LGBMModel.fit: eval_X / eval_y since LightGBM 4.7."""
    if "eval_X" in inspect.signature(lgb.LGBMModel.fit).parameters:
        return {"eval_X": x, "eval_y": y}
    return {"eval_set": [(x, y)]}


def boom(env: Any) -> None:
    """Makes the training raise after its third round."""
    if env.iteration == 2:
        raise RuntimeError("diverged")


boom.order = 40  # type: ignore[attr-defined]  # after the mlops callback (25) has logged it


def test_training_is_recorded(backend: str, active: dict[str, str], tmp_path: Path) -> None:
    callback = mlops_callback(log_model=True)
    booster, result = train(callback)

    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"  # ended when lgb.train returned
    assert it["experiment_id"] == active["experiment_id"]
    assert it["name"].startswith("lightgbm ")
    params = it["parameters"]
    assert params["objective"] == "binary" and params["num_leaves"] == 4
    assert params["num_iterations"] == ROUNDS

    for name in ("train", "valid"):
        points = tracking.get_metric_history(it["id"], f"{name}-binary_logloss")
        assert [p["step"] for p in points] == list(range(ROUNDS))
        assert [p["value"] for p in points] == pytest.approx(result[name]["binary_logloss"])
    assert "best_iteration" not in it["metrics"]  # no early stopping: nothing is best

    assert type(booster) is lgb.Booster  # the booster is the user's, as LightGBM made it
    (artifact,) = tracking.list_artifacts(it["id"])
    assert artifact["name"] == "model/model.txt"
    path = tracking.download_artifacts(it["id"], "model/model.txt", tmp_path)
    loaded = lgb.Booster(model_file=path)
    x = arrays()[0]
    np.testing.assert_allclose(loaded.predict(x), booster.predict(x))


@pytest.mark.parametrize("first", ["mlops", "early_stopping"])
def test_early_stopping_ends_the_iteration_with_the_best_round(
    active: dict[str, str], first: str
) -> None:
    callback = mlops_callback(log_model=True)
    stopping = lgb.early_stopping(2, verbose=False)
    # the callbacks' order attributes decide, not the list's order
    booster, result = train(
        *([callback, stopping] if first == "mlops" else [stopping, callback]),
        rounds=50, noise=0.4,
    )  # fmt: skip
    trained = len(result["valid"]["binary_logloss"])  # up to the round early stopping stopped
    assert trained < 50
    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert steps(it["id"], "valid-binary_logloss") == list(range(trained))  # the last one too
    assert it["metrics"]["best_iteration"] == booster.best_iteration
    best = booster.best_score["valid"]["binary_logloss"]
    assert it["metrics"]["best/valid-binary_logloss"] == pytest.approx(best)
    history = tracking.get_metric_history(it["id"], "valid-binary_logloss")
    assert history[booster.best_iteration - 1]["value"] == pytest.approx(best)
    assert [a["name"] for a in tracking.list_artifacts(it["id"])] == ["model/model.txt"]
    assert type(booster) is lgb.Booster
    pickle.loads(pickle.dumps(booster))


def test_the_scikit_learn_api(active: dict[str, str]) -> None:
    x, y = arrays()
    callback = mlops_callback(name="clf")
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, min_child_samples=5, verbose=-1)
    model.fit(x[:80], y[:80], callbacks=[callback], **evals(x[80:], y[80:]))
    it = tracking.get_iteration(callback.iteration.id)
    assert it["name"] == "clf" and it["status"] == "finished"
    assert it["parameters"]["num_leaves"] == 4
    assert steps(it["id"], "valid_0-binary_logloss") == list(range(5))
    model.fit(x, y, callbacks=[callback], **evals(x[:20], y[:20]))  # again: a second one
    assert callback.iteration.id != it["id"]
    assert steps(callback.iteration.id, "valid_0-binary_logloss") == list(range(5))
    # a parallel search pickles its fit parameters: the copy keeps the arguments
    copied = pickle.loads(pickle.dumps(callback))
    assert isinstance(copied, MlopsCallback) and not copied._trainings.run.started


def test_cross_validation_records_the_mean_of_the_folds(active: dict[str, str]) -> None:
    callback = mlops_callback()
    x, y = arrays()
    lgb.cv(PARAMS, lgb.Dataset(x, label=y), 5, nfold=2, callbacks=[callback])
    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"  # at the last round
    results = lgb.cv(PARAMS, lgb.Dataset(x, label=y), 5, nfold=2)
    for name, cv_name in (
        ("valid-binary_logloss", "valid binary_logloss-mean"),
        ("valid-binary_logloss-stdv", "valid binary_logloss-stdv"),
    ):
        points = tracking.get_metric_history(it["id"], name)
        assert [p["step"] for p in points] == list(range(5))
        assert [p["value"] for p in points] == pytest.approx(results[cv_name])

    # stopped early, the folds' CVBooster records the best round: that ends the iteration
    x, y = arrays(noise=0.4)
    stopping = lgb.early_stopping(2, verbose=False)
    results = lgb.cv(PARAMS, lgb.Dataset(x, label=y), 50, nfold=2, callbacks=[callback, stopping])
    best = len(results["valid binary_logloss-mean"])  # lgb.cv cuts its results there
    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert it["metrics"]["best_iteration"] == best
    assert it["metrics"]["best/valid-binary_logloss"] == pytest.approx(
        results["valid binary_logloss-mean"][-1]
    )
    assert len(steps(it["id"], "valid-binary_logloss")) > best  # the rounds after it too


def test_a_given_iteration_is_logged_to_and_left_running(active: dict[str, str]) -> None:
    it = tracking.start_iteration("mine")
    callback = mlops_callback(iteration=it)
    train(callback)
    assert tracking.get_iteration(it.id)["status"] == "running"
    assert steps(it.id, "valid-binary_logloss") == list(range(ROUNDS))
    it.log_metric("test_auc", 0.9)
    assert it.end_iteration()["status"] == "finished"
    assert [i["id"] for i in tracking.list_iterations()] == [it.id]


def test_a_non_zero_rank_records_nothing(
    active: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    callback = mlops_callback(log_model=True)
    train(callback)
    assert callback.iteration["status"] == "disabled"
    assert tracking.list_iterations() == []


def test_a_caught_error_ends_the_iteration_failed_at_the_next_training(
    active: dict[str, str],
) -> None:
    callback = mlops_callback()
    with pytest.raises(RuntimeError, match="diverged"):
        train(callback, boom)
    failed = callback.iteration.id
    assert tracking.get_iteration(failed)["status"] == "running"  # nothing told it yet
    assert steps(failed, "valid-binary_logloss") == [0, 1, 2]
    train(callback)
    it = tracking.get_iteration(failed)
    assert it["status"] == "failed" and it["error"]["message"] == STOPPED
    assert tracking.get_iteration(callback.iteration.id)["status"] == "finished"


DIVERGED = {"type": "RuntimeError", "message": "diverged"}
SCRIPT = """
from test_integration_lightgbm import boom, mlops_callback, train
{body}
"""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("train(mlops_callback(name='boom'), boom)", DIVERGED),
        (
            "try:\n    train(mlops_callback(name='boom'), boom)\nexcept RuntimeError:\n    pass",
            {"type": "Error", "message": STOPPED},
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
    assert steps(it["id"], "valid-binary_logloss") == [0, 1, 2]


def test_bad_arguments_raise_at_once(active: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="log_model"):
        mlops_callback(log_model="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="name="):
        mlops_callback(name="")


def test_the_example_runs(mlops_home: Path) -> None:
    output, iterations = run_example("train_lightgbm.py", mlops_home)
    assert [i["name"] for i in iterations] == ["LGBMClassifier", "lgb.train"], output
    assert {i["status"] for i in iterations} == {"finished"}
    sk, booster = iterations
    assert booster["metrics"]["best_iteration"] >= 1
    assert "best/valid-auc" in booster["metrics"]
    assert [a["name"] for a in tracking.list_artifacts(booster["id"])] == ["model/model.txt"]
    assert steps(sk["id"], "valid_0-binary_logloss") == list(range(50))
