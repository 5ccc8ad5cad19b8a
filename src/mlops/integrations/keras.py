"""Track a Keras 3 training with one line::

    from mlops.integrations.keras import MlopsCallback

    model.fit(x, y, validation_split=0.2, epochs=10, callbacks=[MlopsCallback()])

It works with every Keras backend (TensorFlow, JAX, PyTorch). What it records:

- parameters: what ``fit`` tells its callbacks (``epochs``, ``steps``: batches per epoch) and
  the optimizer's class and configuration under ``optimizer.`` (``optimizer.class``,
  ``optimizer.learning_rate``, ...). Keras 3 does not tell callbacks the batch size: log it
  yourself (``iteration=it`` and ``it.log_parameter("batch_size", 32)``) if you want it;
- every epoch's logs at step = the epoch (``loss``, ``accuracy``, ``val_loss``, ...: the
  names Keras gives them, ``val_`` kept);
- with ``log_every_batch=True``, every batch's logs as ``batch/<name>`` at the batch's step
  counted across epochs (Keras reports the epoch's running mean, as its progress bar shows);
- with ``log_model=True``, the trained model at the end (``model.save``) as the artifact
  ``model/model.keras`` (load it back with ``keras.saving.load_model``).

Each ``fit`` is one iteration, ended ``finished`` at the end of the training; a second ``fit``
with the same callback starts a second one. A training that raises ends its iteration
``failed``: with the error when it ends the script or a notebook cell, and, when the script
catches the error, at the next ``fit`` with the same callback or at the exit of the process.
Given ``iteration=it``, it logs there and leaves the iteration running for you to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from mlops.errors import InvalidInput
from mlops.integrations._common import flatten, numbers
from mlops.integrations._training import Trainings, plain, save_model
from mlops.tracking import Iteration

__all__ = ["MlopsCallback"]

#: Entries of ``Callback.params`` that say how ``fit`` reports, not how it trains.
_NOT_PARAMETERS = frozenset({"verbose"})


class MlopsCallback(keras.callbacks.Callback):
    """A Keras callback that records ``fit`` in an mlops iteration.

    Args:
        iteration: log to this iteration (from ``tracking.start_iteration``) and leave it
            running; by default each ``fit`` starts its own iteration and ends it.
        name: the name of the iterations it starts (default: ``keras`` and the time).
        project_id: where to start them (default: the active project).
        experiment_id: where to start them (default: the active experiment).
        log_every_batch: also log every batch's logs as ``batch/<name>``.
        log_model: keep the trained model as the artifact ``model/model.keras``.
        system_metrics: sample system metrics while training (default: as
            ``tracking.start_iteration`` does).
    """

    def __init__(
        self,
        iteration: Iteration | None = None,
        name: str | None = None,
        project_id: str | None = None,
        experiment_id: str | None = None,
        log_every_batch: bool = False,
        log_model: bool = False,
        system_metrics: bool | None = None,
    ) -> None:
        super().__init__()
        for what, value in (("log_every_batch", log_every_batch), ("log_model", log_model)):
            if not isinstance(value, bool):
                raise InvalidInput(f"MlopsCallback({what}=...) takes True or False, got {value!r}")
        self._trainings = Trainings(
            "keras", iteration, name, project_id, experiment_id, system_metrics
        )
        self.log_every_batch = log_every_batch
        self.log_model = log_model
        self._batches_before = 0  # batches of the epochs before the current one
        self._batches_now = 0  # batches of the current epoch so far

    @property
    def iteration(self) -> Iteration:
        """The iteration of the current (or last) ``fit``."""
        return self._trainings.iteration

    # -- Keras hooks --------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        iteration = self._trainings.begin()
        self._batches_before = self._batches_now = 0
        parameters = {
            key: plain(value)
            for key, value in (self.params or {}).items()
            if key not in _NOT_PARAMETERS
        }
        parameters.update(_optimizer_parameters(self.model))
        if parameters:
            iteration.log_parameters(parameters)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches_now = batch + 1
        if self.log_every_batch and logs:
            values = numbers(logs, "batch/")
            if values:
                self.iteration.log_metrics(values, step=self._batches_before + batch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches_before += self._batches_now
        self._batches_now = 0
        values = numbers(logs or {})
        if values:
            self.iteration.log_metrics(values, step=epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.log_model:
            save_model(self.iteration, "model.keras", self._save, "Keras")
        self._trainings.end("finished")

    def _save(self, path: Path) -> None:
        self.model.save(path)


def _optimizer_parameters(model: Any) -> dict[str, Any]:
    """The optimizer's configuration as ``optimizer.<name>`` parameters (a learning-rate
    schedule as its own flattened configuration); none when it cannot say."""
    optimizer = getattr(model, "optimizer", None)
    get_config = getattr(optimizer, "get_config", None)
    if not callable(get_config):
        return {}
    try:
        config = get_config()
    except Exception:  # a custom optimizer's config must not stop the training
        return {}
    if not isinstance(config, dict):
        return {}
    parameters = {key: plain(value) for key, value in flatten(config, "optimizer").items()}
    # The config's name is the instance's (adam, adam_1, ...): the class compares runs.
    parameters["optimizer.class"] = type(optimizer).__name__
    return parameters
