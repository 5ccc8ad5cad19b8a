"""The Optuna callback on real studies: one iteration per trial, pruned and failed trials, the
best trial (and the Pareto front) marked, several threads, every backend for the main test."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from mlops import tracking
from mlops.errors import InvalidInput, NoActiveProject

optuna = pytest.importorskip("optuna")
from mlops.integrations.optuna import MlopsCallback  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_optuna.py"


def quadratic(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    for step in range(3):
        trial.report((x - 2) ** 2 + 3 - step, step)
    return (x - 2) ** 2


def enqueued(xs: list[float], **kwargs: Any) -> Any:
    """A study whose trials try ``x`` in this order (so the best moves predictably)."""
    study = optuna.create_study(**kwargs)
    for x in xs:
        study.enqueue_trial({"x": x})
    return study


def by_trial(experiment_id: str) -> dict[int, dict[str, Any]]:
    """The stored iterations of an experiment, by trial number."""
    found = tracking.list_iterations(experiment_id=experiment_id)
    return {int(i["tags"]["optuna.trial_number"]): i for i in found}


def best_numbers(rows: dict[int, dict[str, Any]]) -> set[int]:
    return {n for n, row in rows.items() if row["tags"]["optuna.best"] == "true"}


def test_a_study_logs_one_iteration_per_trial(tracking_uri: str, active: dict[str, str]) -> None:
    # x: 5, 3, 2.5, 4, 2, 7 -> values 9, 1, 0.25, 4, 0, 25: the best moves 0 -> 1 -> 2 -> 4
    study = enqueued([5, 3, 2.5, 4, 2, 7], study_name="quad")
    callback = MlopsCallback()
    study.optimize(quadratic, n_trials=6, callbacks=[callback])

    rows = by_trial(active["experiment_id"])  # the active experiment, not one of the study
    assert sorted(rows) == list(range(6))
    for trial in study.trials:
        row = rows[trial.number]
        assert row["id"] == callback.iteration_ids[("quad", trial.number)]
        assert row["name"] == f"trial {trial.number}"
        assert row["status"] == "finished"
        assert row["error"] is None
        assert row["parameters"] == {"x": trial.params["x"]}
        assert row["metrics"]["value"] == pytest.approx(trial.value)
        tags = row["tags"]
        assert tags["optuna.study_name"] == "quad"
        assert tags["optuna.state"] == "COMPLETE"
        assert tags["optuna.direction"] == "MINIMIZE"
        start = dt.datetime.fromisoformat(tags["optuna.datetime_start"])
        end = dt.datetime.fromisoformat(tags["optuna.datetime_complete"])
        assert start.timestamp() == pytest.approx(trial.datetime_start.timestamp(), abs=1e-3)
        assert row["metrics"]["duration_s"] == pytest.approx((end - start).total_seconds())
        history = tracking.get_metric_history(row["id"], "intermediate/value")
        assert [(p["step"], p["value"]) for p in history] == sorted(
            trial.intermediate_values.items()
        )
    assert best_numbers(rows) == {study.best_trial.number} == {4}
    # the old bests keep their status and end time: only the tag changed
    for old in (0, 1, 2):
        assert rows[old]["tags"]["optuna.best"] == "false"
        assert rows[old]["status"] == "finished"
        assert rows[old]["ended_at"] <= rows[old + 1]["started_at"]
    found = tracking.list_iterations(
        experiment_id=active["experiment_id"], filter='tags.`optuna.best` = "true"'
    )
    assert [i["name"] for i in found] == ["trial 4"]


def test_a_pruned_trial_is_finished_with_its_state_as_a_tag(active: dict[str, str]) -> None:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 100)
        for step in range(4):
            trial.report(x + step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    study = enqueued([1, 2, 50, 0.5], pruner=pruner)
    study.optimize(objective, n_trials=4, callbacks=[MlopsCallback()])

    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]
    rows = by_trial(active["experiment_id"])
    pruned = rows[2]
    assert pruned["status"] == "finished"
    assert pruned["tags"]["optuna.state"] == "PRUNED"
    assert pruned["tags"]["optuna.best"] == "false"
    assert pruned["metrics"]["value"] == 50.0  # Optuna's value of a pruned trial: its last report
    history = tracking.get_metric_history(pruned["id"], "intermediate/value")
    assert [(p["step"], p["value"]) for p in history] == [(0, 50.0)]  # pruned at its 1st step
    assert best_numbers(rows) == {3}


def test_a_failed_trial_is_failed_with_the_error(active: dict[str, str]) -> None:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -10, 10)
        if trial.number == 1:
            raise ValueError(f"x={x} diverged")
        return float("nan") if trial.number == 3 else x**2

    study = enqueued([3.0, 1.5, 2.0, 0.0])
    study.optimize(objective, n_trials=4, callbacks=[MlopsCallback()], catch=(ValueError,))

    rows = by_trial(active["experiment_id"])
    failed = rows[1]
    assert failed["status"] == "failed"
    assert failed["error"] == {"type": "ValueError", "message": "x=1.5 diverged"}
    assert failed["tags"]["optuna.state"] == "FAIL"
    assert failed["tags"]["optuna.best"] == "false"
    assert failed["parameters"] == {"x": 1.5}
    assert "value" not in failed["metrics"]
    assert [rows[n]["status"] for n in (0, 2)] == ["finished", "finished"]
    nan = rows[3]  # Optuna fails a trial that returns NaN: its message is the error
    assert nan["status"] == "failed"
    assert nan["error"]["type"] == "Error"
    assert "nan" in nan["error"]["message"]
    assert best_numbers(rows) == {2}


def test_a_multi_objective_study_marks_its_pareto_front(active: dict[str, str]) -> None:
    def objective(trial: Any) -> tuple[float, float]:
        return trial.suggest_float("a", 0, 10), trial.suggest_float("b", 0, 10)

    study = optuna.create_study(directions=["minimize", "maximize"])
    # (a, b): T2 dominates T0 and T1; T3 joins the front; T4 is dominated by T3
    for a, b in [(1, 1), (2, 3), (0.5, 3), (3, 5), (4, 4)]:
        study.enqueue_trial({"a": a, "b": b})
    study.optimize(objective, n_trials=5, callbacks=[MlopsCallback(metric_name=["loss", "acc"])])

    rows = by_trial(active["experiment_id"])
    assert best_numbers(rows) == {t.number for t in study.best_trials} == {2, 3}
    assert rows[3]["metrics"]["loss"] == 3.0
    assert rows[3]["metrics"]["acc"] == 5.0
    assert rows[3]["tags"]["optuna.direction"] == "MINIMIZE,MAXIMIZE"
    assert "intermediate/loss" not in rows[3]["metrics"]

    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(objective, n_trials=1, callbacks=[MlopsCallback()])
    (row,) = [
        i for i in tracking.list_iterations() if i["tags"]["optuna.study_name"] == study.study_name
    ]
    assert set(row["metrics"]) == {"value_0", "value_1", "duration_s"}

    with pytest.raises(InvalidInput, match="names 3 values, but the study has 2"):
        study.optimize(
            objective, n_trials=1, callbacks=[MlopsCallback(metric_name=["a", "b", "c"])]
        )


def test_two_threads_share_the_callback(active: dict[str, str]) -> None:
    both_running = threading.Barrier(2, timeout=30)
    threads: set[int] = set()

    def objective(trial: Any) -> float:
        threads.add(threading.get_ident())
        if trial.number < 2:
            both_running.wait()  # the first two trials run at the same time
        return quadratic(trial)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=10, n_jobs=2, callbacks=[MlopsCallback()])

    assert len(threads) == 2
    rows = by_trial(active["experiment_id"])
    assert sorted(rows) == list(range(10))
    assert all(r["status"] == "finished" for r in rows.values())
    assert best_numbers(rows) == {study.best_trial.number}
    for trial in study.trials:
        assert rows[trial.number]["metrics"]["value"] == pytest.approx(trial.value)


def test_where_the_trials_go(mlops_home: Path) -> None:
    project = tracking.create_project("tuning")
    tracking.set_active_project(project["id"])

    named = optuna.create_study(study_name="lr-search")
    named.optimize(quadratic, n_trials=2, callbacks=[MlopsCallback()])
    experiments = {e["name"]: e["id"] for e in tracking.list_experiments()}
    assert len(tracking.list_iterations(experiment_id=experiments["lr-search"])) == 2

    unnamed = optuna.create_study()
    unnamed.optimize(quadratic, n_trials=1, callbacks=[MlopsCallback()])
    experiments = {e["name"]: e["id"] for e in tracking.list_experiments()}
    assert set(experiments) == {"lr-search", "default"}
    assert len(tracking.list_iterations(experiment_id=experiments["default"])) == 1

    chosen = tracking.create_experiment("chosen")
    named.optimize(quadratic, n_trials=1, callbacks=[MlopsCallback(chosen["id"])])
    (row,) = tracking.list_iterations(experiment_id=chosen["id"])
    assert row["name"] == "trial 2"


def test_rank_one_records_nothing(active: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    callback = MlopsCallback()
    optuna.create_study(study_name="on-rank-1").optimize(
        quadratic, n_trials=3, callbacks=[callback]
    )
    assert tracking.list_iterations() == []
    assert [e["name"] for e in tracking.list_experiments()] == ["sweep"]
    assert callback.iteration_ids == {}


def test_bad_arguments_raise_at_once(mlops_home: Path) -> None:
    with pytest.raises(NoActiveProject, match="set_active_project"):
        MlopsCallback()
    project = tracking.create_project("p")
    tracking.set_active_project(project["id"])
    for bad in ("", [], ["a", "a"], 3):
        with pytest.raises(InvalidInput, match="metric_name"):
            MlopsCallback(metric_name=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="system_metrics"):
        MlopsCallback(system_metrics="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="experiment_id"):
        MlopsCallback(experiment_id="")


def test_the_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "example-home"
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    env["MLOPS_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--trials", "8"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    monkeypatch.setenv("MLOPS_HOME", str(home))  # read what the script stored
    rows = tracking.list_iterations(filter='tags.`optuna.study_name` = "quadratic-demo"')
    assert len(rows) == 8
    assert sum(r["tags"]["optuna.best"] == "true" for r in rows) == 1
    assert {r["tags"]["optuna.state"] for r in rows} <= {"COMPLETE", "PRUNED"}
    assert "best trial" in result.stdout
