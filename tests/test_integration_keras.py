"""The Keras callback on a real Keras 3 (PyTorch backend): a dense model on 64 random rows."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported, here and in the examples

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops import tracking
from mlops.errors import InvalidInput

keras = pytest.importorskip("keras")

from callback_support import backend, run_example, run_script, steps  # noqa: E402
from mlops.integrations.keras import MlopsCallback  # noqa: E402

__all__ = ["backend"]  # a fixture

EPOCHS = 3
BATCHES = 2  # 48 training rows (validation_split=0.25 of 64) in batches of 24


def make_model() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def fit(model: Any, *callbacks: Any, epochs: int = EPOCHS) -> Any:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype="float32"))[:, None]
    return model.fit(
        x, y, epochs=epochs, batch_size=24, validation_split=0.25, verbose=0,
        callbacks=list(callbacks),
    )  # fmt: skip


class Boom(keras.callbacks.Callback):  # type: ignore[misc]
    """Makes the training raise at the end of its second epoch."""

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == 1:
            raise RuntimeError("diverged")


def test_fit_is_recorded(backend: str, active: dict[str, str], tmp_path: Path) -> None:
    callback = MlopsCallback(log_every_batch=True, log_model=True)
    model = make_model()
    history = fit(model, callback)

    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert it["experiment_id"] == active["experiment_id"]
    assert it["name"].startswith("keras ")
    params = it["parameters"]
    assert params["epochs"] == EPOCHS and params["steps"] == BATCHES
    assert "verbose" not in params
    assert params["optimizer.class"] == "Adam"
    assert params["optimizer.learning_rate"] == 0.01  # the float32 0.01, shown as 0.01
    assert params["optimizer.beta_1"] == 0.9

    for name in ("loss", "mae", "val_loss", "val_mae"):
        history_points = tracking.get_metric_history(it["id"], name)
        assert [p["step"] for p in history_points] == list(range(EPOCHS)), name
        assert [p["value"] for p in history_points] == pytest.approx(history.history[name])
    assert steps(it["id"], "batch/loss") == list(range(EPOCHS * BATCHES))
    assert steps(it["id"], "batch/mae") == list(range(EPOCHS * BATCHES))

    (artifact,) = tracking.list_artifacts(it["id"])
    assert artifact["name"] == "model/model.keras"
    path = tracking.download_artifacts(it["id"], "model/model.keras", tmp_path)
    loaded = keras.saving.load_model(path)
    x = np.ones((2, 4), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_second_fit_is_a_second_iteration(active: dict[str, str]) -> None:
    callback = MlopsCallback(name="dense")
    model = make_model()
    fit(model, callback)
    first = callback.iteration.id
    fit(model, callback, epochs=2)
    second = callback.iteration.id
    assert first != second
    for iteration_id, epochs in ((first, EPOCHS), (second, 2)):
        it = tracking.get_iteration(iteration_id)
        assert it["name"] == "dense" and it["status"] == "finished"
        assert it["parameters"]["epochs"] == epochs
        assert steps(iteration_id, "val_loss") == list(range(epochs))
        assert not tracking.list_artifacts(iteration_id)  # log_model is opt-in
        assert "batch/loss" not in it["metrics"]  # and so is log_every_batch


def test_a_given_iteration_is_logged_to_and_left_running(active: dict[str, str]) -> None:
    it = tracking.start_iteration("mine")
    callback = MlopsCallback(iteration=it)
    model = make_model()
    fit(model, callback)
    fit(model, callback, epochs=2)  # the same iteration: the epochs again
    assert callback.iteration is it
    assert tracking.get_iteration(it.id)["status"] == "running"
    assert steps(it.id, "loss") == list(range(EPOCHS))
    it.log_metric("test_mae", 0.5)
    assert it.end_iteration()["status"] == "finished"
    assert [i["id"] for i in tracking.list_iterations()] == [it.id]


def test_a_non_zero_rank_records_nothing(
    active: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    callback = MlopsCallback(log_model=True, log_every_batch=True)
    fit(make_model(), callback)
    assert callback.iteration["status"] == "disabled"
    assert tracking.list_iterations() == []


def test_a_caught_error_ends_the_iteration_failed_at_the_next_fit(
    active: dict[str, str],
) -> None:
    callback = MlopsCallback()
    model = make_model()
    with pytest.raises(RuntimeError, match="diverged"):
        fit(model, callback, Boom())
    failed = callback.iteration.id
    assert steps(failed, "loss") == [0, 1]
    fit(model, callback)
    it = tracking.get_iteration(failed)
    assert it["status"] == "failed"
    assert "stopped before its end" in it["error"]["message"]
    assert tracking.get_iteration(callback.iteration.id)["status"] == "finished"


def test_an_error_in_a_notebook_cell_ends_the_iteration_failed(active: dict[str, str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        callback = MlopsCallback()
        shell.user_ns.update(
            model=make_model(), fit=fit, callback=callback, Boom=Boom
        )  # fmt: skip
        result = shell.run_cell("fit(model, callback, Boom())")
        assert isinstance(result.error_in_exec, RuntimeError)
        it = tracking.get_iteration(callback.iteration.id)
        assert it["status"] == "failed"
        assert it["error"] == {"type": "RuntimeError", "message": "diverged"}
    finally:
        InteractiveShell.clear_instance()


def test_an_uncaught_error_ends_the_iteration_failed(
    active: dict[str, str], tmp_path: Path, mlops_home: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            os.environ["KERAS_BACKEND"] = "torch"
            from test_integration_keras import Boom, fit, make_model
            from mlops.integrations.keras import MlopsCallback
            fit(make_model(), MlopsCallback(name="boom"), Boom())
            """
        )
    )
    done = run_script(script, mlops_home, check=False)
    assert done.returncode == 1 and "diverged" in done.stderr, done.stderr
    (it,) = tracking.list_iterations()
    assert it["name"] == "boom" and it["status"] == "failed"
    assert it["error"] == {"type": "RuntimeError", "message": "diverged"}


def test_bad_arguments_raise_at_once(active: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="log_model"):
        MlopsCallback(log_model="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="log_every_batch"):
        MlopsCallback(log_every_batch=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="iteration="):
        MlopsCallback(iteration="abc")  # type: ignore[arg-type]
    assert tracking.list_iterations() == []


def test_the_example_runs(mlops_home: Path) -> None:
    output, iterations = run_example("train_keras.py", mlops_home)
    (it,) = iterations
    assert it["name"] == "dense-16x16" and it["status"] == "finished", output
    assert steps(it["id"], "val_accuracy") == list(range(15))
    assert it["metrics"]["val_accuracy"] > 0.8
    assert [a["name"] for a in tracking.list_artifacts(it["id"])] == ["model/model.keras"]
    (project,) = tracking.list_projects()
    assert project["title"] == "keras-demo"


def test_odd_values_are_skipped_and_a_schedule_is_flattened(active: dict[str, str]) -> None:
    model = make_model()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    callback = MlopsCallback()
    callback.set_model(model)
    callback.set_params({"epochs": 1, "steps": None, "verbose": 1})
    callback.on_train_begin()
    logs = {"loss": np.float32(0.5), "note": "text", "vector": np.ones(3), "nan": float("nan")}
    callback.on_epoch_end(0, logs)  # a callback never stops the training over a value
    callback.on_train_end()
    it = tracking.get_iteration(callback.iteration.id)
    assert it["status"] == "finished"
    assert set(it["metrics"]) == {"loss", "nan"}
    assert it["metrics"]["loss"] == 0.5
    params = it["parameters"]
    assert params["steps"] is None and params["optimizer.class"] == "SGD"
    assert params["optimizer.learning_rate.class_name"] == "ExponentialDecay"
    assert params["optimizer.learning_rate.config.decay_rate"] == 0.5
