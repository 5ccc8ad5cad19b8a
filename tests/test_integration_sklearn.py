"""scikit-learn: estimators logged with their parameters and a model file that loads and
predicts again; searches logged as one iteration per candidate with the best one marked."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops import tracking
from mlops.errors import InvalidInput, IterationEnded

pytest.importorskip("sklearn")
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops.integrations.sklearn import log_estimator, log_search

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "search_sklearn.py"
GRID = {"C": [0.1, 1.0], "fit_intercept": [True, False]}  # 4 candidates


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Iris-like data: 3 classes of 30 points around their own centres in 4 dimensions."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=2.0, size=(3, 4))
    y = np.repeat(np.arange(3), 30)
    x = centres[y] + rng.normal(size=(90, 4))
    return x, y


def load_model(iteration_id: str, dst: Path) -> Any:
    """Download the iteration's model/model.pkl and unpickle it."""
    path = tracking.download_artifacts(iteration_id, "model", dst)
    with open(Path(path) / "model.pkl", "rb") as fh:
        return pickle.load(fh)


def test_an_estimator_and_a_search(
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    active: dict[str, str],
    data: Any,
) -> None:
    if tracking_uri.startswith("postgresql"):  # a team's files go to a shared place
        monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "shared-artifacts"))
    x, y = data
    with tracking.start_iteration("logreg") as it:
        model = LogisticRegression(C=0.5, max_iter=200).fit(x, y)
        log_estimator(it, model)
    stored = tracking.get_iteration(it.id)
    assert stored["parameters"]["C"] == 0.5
    assert stored["parameters"]["max_iter"] == 200
    assert stored["parameters"] == {k: v for k, v in model.get_params().items()}
    assert stored["tags"]["sklearn.estimator"] == "LogisticRegression"
    assert [a["name"] for a in tracking.list_artifacts(it.id)] == ["model/model.pkl"]
    loaded = load_model(it.id, tmp_path / "estimator")
    assert (loaded.predict(x) == model.predict(x)).all()

    search = GridSearchCV(LogisticRegression(max_iter=200), GRID, cv=3).fit(x, y)
    logged = log_search(search)
    results = search.cv_results_
    assert len(logged) == 4
    for index, row in enumerate(logged):  # in the order of cv_results_
        stored = tracking.get_iteration(row["id"])
        assert stored["name"] == f"LogisticRegression candidate {index}"
        assert stored["experiment_id"] == active["experiment_id"]
        assert stored["status"] == "finished"
        assert stored["parameters"] == results["params"][index]
        metrics = stored["metrics"]
        for key in ("mean_test_score", "std_test_score", "mean_fit_time", "std_score_time"):
            assert metrics[key] == pytest.approx(results[key][index])
        for split in range(3):
            assert metrics[f"split{split}_test_score"] == results[f"split{split}_test_score"][index]
        assert metrics["rank_test_score"] == results["rank_test_score"][index]
        assert "mean_train_score" not in metrics  # return_train_score is off
        assert stored["tags"]["sklearn.search"] == "GridSearchCV"
        assert stored["tags"]["sklearn.candidate"] == str(index)
        best = index == search.best_index_
        assert stored["tags"]["sklearn.best"] == ("true" if best else "false")
        files = [a["name"] for a in tracking.list_artifacts(row["id"])]
        assert files == (["model/model.pkl"] if best else [])
    best_model = load_model(logged[search.best_index_]["id"], tmp_path / "best")
    assert (best_model.predict(x) == search.predict(x)).all()
    found = tracking.list_iterations(filter='tags.`sklearn.best` = "true"')
    assert [i["id"] for i in found] == [logged[search.best_index_]["id"]]


def test_a_multi_metric_search_logs_every_scorer(active: dict[str, str], data: Any) -> None:
    x, y = data
    scoring = {"acc": "accuracy", "f1": "f1_macro"}
    search = GridSearchCV(
        LogisticRegression(max_iter=200),
        GRID,
        cv=3,
        scoring=scoring,
        refit="f1",
        return_train_score=True,
    ).fit(x, y)
    logged = log_search(search, name="multi")
    results = search.cv_results_
    for index, row in enumerate(logged):
        assert row["name"] == f"multi {index}"
        metrics = row["metrics"]
        for scorer in scoring:
            for kind in ("test", "train"):
                for stat in ("mean", "std"):
                    key = f"{stat}_{kind}_{scorer}"
                    assert metrics[key] == pytest.approx(results[key][index])
                for split in range(3):
                    assert f"split{split}_{kind}_{scorer}" in metrics
            assert metrics[f"rank_test_{scorer}"] == results[f"rank_test_{scorer}"][index]
    marked = [i for i, row in enumerate(logged) if row["tags"]["sklearn.best"] == "true"]
    assert marked == [search.best_index_]
    assert search.best_index_ == int(np.argmin(results["rank_test_f1"]))

    unrefit = GridSearchCV(
        LogisticRegression(max_iter=200), GRID, cv=3, scoring=scoring, refit=False
    ).fit(x, y)
    logged = log_search(unrefit)  # no best_index_: none is marked, no model
    assert all("sklearn.best" not in row["tags"] for row in logged)
    assert all(tracking.list_artifacts(row["id"]) == [] for row in logged)


def test_randomized_and_halving_searches(active: dict[str, str], data: Any) -> None:
    x, y = data
    randomized = RandomizedSearchCV(
        LogisticRegression(max_iter=200),
        {"C": [0.01, 0.1, 1.0, 10.0]},
        n_iter=3,
        cv=3,
        random_state=0,
    ).fit(x, y)
    logged = log_search(randomized)
    assert len(logged) == 3
    assert {r["tags"]["sklearn.search"] for r in logged} == {"RandomizedSearchCV"}
    assert sum(r["tags"]["sklearn.best"] == "true" for r in logged) == 1

    halving = HalvingGridSearchCV(
        LogisticRegression(max_iter=200), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3, min_resources=30
    ).fit(x, y)
    logged = log_search(halving)
    assert len(logged) == len(halving.cv_results_["params"])
    assert {"iter", "n_resources", "mean_test_score"} <= set(logged[-1]["metrics"])
    assert logged[halving.best_index_]["tags"]["sklearn.best"] == "true"


def test_a_pipeline_logs_its_steps_without_warnings(
    active: dict[str, str], data: Any, tmp_path: Path
) -> None:
    x, y = data
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tracking.start_iteration("pipeline") as it:
            log_estimator(it, pipeline, name="pipeline")
    params = tracking.get_iteration(it.id)["parameters"]
    assert params["logisticregression"] == "LogisticRegression"
    assert params["logisticregression__max_iter"] == 200
    assert params["standardscaler__with_mean"] is True
    assert params["steps"] == [
        ["standardscaler", "StandardScaler"],
        ["logisticregression", "LogisticRegression"],
    ]
    assert [a["name"] for a in tracking.list_artifacts(it.id)] == ["pipeline/model.pkl"]
    path = tracking.download_artifacts(it.id, "pipeline/model.pkl", tmp_path)
    with open(path, "rb") as fh:
        assert (pickle.load(fh).predict(x) == pipeline.predict(x)).all()

    with tracking.start_iteration("registered") as it:
        log_estimator(it, pipeline)
    version = tracking.register_model("digits-pipeline", it.id)
    assert version["version"] == 1


def test_what_cannot_be_logged_is_refused(active: dict[str, str], data: Any) -> None:
    x, y = data
    with tracking.start_iteration("refusals") as it:
        with pytest.raises(InvalidInput, match="LogisticRegression is not fitted yet"):
            log_estimator(it, LogisticRegression())
        with pytest.raises(InvalidInput, match="scikit-learn estimator"):
            log_estimator(it, object())
        with pytest.raises(InvalidInput, match=r"Iteration that tracking\.start_iteration"):
            log_estimator(it.id, LogisticRegression().fit(x, y))  # type: ignore[arg-type]
    with pytest.raises(IterationEnded):
        log_estimator(it, LogisticRegression().fit(x, y))
    with pytest.raises(InvalidInput, match="GridSearchCV is not fitted yet"):
        log_search(GridSearchCV(LogisticRegression(), GRID))
    with pytest.raises(InvalidInput, match="got the class LogisticRegression"):
        log_search(LogisticRegression)
    assert tracking.list_artifacts(it.id) == []


def test_rank_one_records_nothing(
    active: dict[str, str], data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = data
    search = GridSearchCV(LogisticRegression(max_iter=200), GRID, cv=3).fit(x, y)
    monkeypatch.setenv("RANK", "1")
    logged = log_search(search)
    assert [row["id"] for row in logged] == [None] * 4
    with tracking.start_iteration("rank 1") as it:
        log_estimator(it, search.best_estimator_)
    monkeypatch.delenv("RANK")
    assert tracking.list_iterations() == []


def test_the_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "example-home"
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    env["MLOPS_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    monkeypatch.setenv("MLOPS_HOME", str(home))  # read what the script stored
    rows = tracking.list_iterations()
    assert len(rows) == 7  # six candidates and the final model
    (best,) = [r for r in rows if r["tags"].get("sklearn.best") == "true"]
    (final,) = [r for r in rows if r["name"] == "svc final"]
    assert final["metrics"]["test_accuracy"] > 0.9
    assert final["parameters"]["svc__C"] == best["parameters"]["svc__C"]
    assert [a["name"] for a in tracking.list_artifacts(final["id"])] == ["model/model.pkl"]
