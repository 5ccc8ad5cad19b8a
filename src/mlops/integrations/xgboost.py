"""Track an XGBoost training with one line::

    from mlops.integrations.xgboost import MlopsCallback

    booster = xgb.train(params, dtrain, num_boost_round=100,
                        evals=[(dtrain, "train"), (dvalid, "validation")],
                        callbacks=[MlopsCallback()])
    # or through the scikit-learn API
    XGBClassifier(n_estimators=100, callbacks=[MlopsCallback()]).fit(x, y, eval_set=[(xv, yv)])

What it records:

- parameters: the booster's hyperparameters as XGBoost resolved them (``save_config()``), under
  the names its documentation gives (``objective``, ``eta``, ``max_depth``, ``subsample``,
  ``tree_method``, ``num_feature``, ``base_score``, ...), every one of them, the defaults too,
  so that runs compare column by column; XGBoost's internal switches (updater sequences,
  cache sizes, debug flags) and the duplicate aliases (``learning_rate`` for ``eta``,
  ``reg_alpha`` for ``alpha``, ...) are left out. A callback never sees the number of rounds:
  ``num_boost_round`` is logged at the end as the rounds actually trained;
- every evaluation metric of every round, named as XGBoost prints them
  (``validation-logloss``, ``train-auc``, ``validation_0-rmse`` for the scikit-learn API's
  ``eval_set``), at step = the round (0, 1, ...); with ``xgb.cv``, the mean over the folds
  (``test-logloss``) and its standard deviation (``test-logloss-std``);
- with early stopping, ``best_iteration`` (the round, so the step of the best point) and
  ``best_score`` as metrics;
- with ``log_model=True``, the trained booster (``save_model``) as the artifact
  ``model/model.json`` (load it with ``xgb.Booster(model_file=...)``).

Each training is one iteration, ended ``finished`` in ``after_training``; a second training
with the same callback starts a second one. The scikit-learn API copies its callbacks
(``sklearn.base.clone``, grid searches): each copy records its own trainings (a given
iteration is shared by the copies). A training that raises never reaches ``after_training``:
its iteration ends ``failed``, with the error when it ends the script or a notebook cell, and,
when the script catches the error, at the next training with the same callback or at the exit
of the process. Given ``iteration=it``, it logs there and leaves the iteration running.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import xgboost

from mlops.errors import InvalidInput
from mlops.integrations._common import number
from mlops.integrations._training import Trainings, save_model, short_float, to_float32
from mlops.tracking import Iteration

__all__ = ["MlopsCallback"]

#: Settings of save_config() that are XGBoost's internals, not hyperparameters a user chooses.
_INTERNAL = frozenset(
    {
        "debug_synchronize", "fail_on_invalid_gpu_id", "max_cached_hist_node", "num_trees",
        "process_type", "refresh_leaf", "seed_per_iteration", "specified_updater",
        "updater", "updater_seq", "validate_parameters", "name", "num_target", "boost_from_average",
    }
)  # fmt: skip
#: Aliases save_config() repeats: the first name is kept.
_ALIASES = {
    "learning_rate": "eta", "reg_alpha": "alpha", "reg_lambda": "lambda",
    "min_split_loss": "gamma", "random_state": "seed", "n_jobs": "nthread",
}  # fmt: skip


class MlopsCallback(xgboost.callback.TrainingCallback):
    """An XGBoost training callback that records a training in an mlops iteration.

    Args:
        iteration: log to this iteration (from ``tracking.start_iteration``) and leave it
            running; by default each training starts its own iteration and ends it.
        name: the name of the iterations it starts (default: ``xgboost`` and the time).
        project_id: where to start them (default: the active project).
        experiment_id: where to start them (default: the active experiment).
        log_model: keep the trained booster as the artifact ``model/model.json``.
        system_metrics: sample system metrics while training (default: as
            ``tracking.start_iteration`` does).
    """

    def __init__(
        self,
        iteration: Iteration | None = None,
        name: str | None = None,
        project_id: str | None = None,
        experiment_id: str | None = None,
        log_model: bool = False,
        system_metrics: bool | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(log_model, bool):
            raise InvalidInput(
                f"MlopsCallback(log_model=...) takes True or False, got {log_model!r}"
            )
        self._trainings = Trainings(
            "xgboost", iteration, name, project_id, experiment_id, system_metrics
        )
        self.log_model = log_model

    @property
    def iteration(self) -> Iteration:
        """The iteration of the current (or last) training."""
        return self._trainings.iteration

    # -- copies: scikit-learn clones its estimators' parameters, callbacks included ---------
    def __deepcopy__(self, memo: dict[int, Any]) -> MlopsCallback:
        copy = MlopsCallback.__new__(MlopsCallback)
        copy.__dict__.update(self.__dict__)
        copy._trainings = self._trainings.copy()
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        # A pickled model (joblib.dump of an XGBClassifier) carries its callbacks: the copy
        # keeps the arguments, not the iteration, which lives in this process only.
        config = self._trainings.config
        return (
            MlopsCallback,
            (None, config["name"], config["project_id"], config["experiment_id"],
             self.log_model, config["system_metrics"]),
        )  # fmt: skip

    # -- XGBoost hooks ------------------------------------------------------------------------
    def before_training(self, model: Any) -> Any:
        iteration = self._trainings.begin()
        parameters = booster_parameters(model)
        if parameters:
            iteration.log_parameters(parameters)
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        values: dict[str, float] = {}
        for data_name, metrics in evals_log.items():
            for metric_name, history in metrics.items():
                last = history[-1] if history else None
                if isinstance(last, tuple) and len(last) == 2:  # xgb.cv: (mean, std) of folds
                    last, std = last
                    if number(std) is not None:
                        values[f"{data_name}-{metric_name}-std"] = float(std)
                value = number(last)
                if value is not None:
                    values[f"{data_name}-{metric_name}"] = value
        if values:
            self.iteration.log_metrics(values, step=epoch)
        return False

    def after_training(self, model: Any) -> Any:
        iteration = self.iteration
        summary: dict[str, float] = {}
        rounds = _call(model, "num_boosted_rounds")
        if isinstance(rounds, int):
            iteration.log_parameter("num_boost_round", rounds)
        for attribute in ("best_iteration", "best_score"):
            value = number(_attribute(model, attribute))
            if value is not None:
                summary[attribute] = value
        if summary:
            iteration.log_metrics(summary)
        if self.log_model and hasattr(model, "save_model"):
            save_model(iteration, "model.json", lambda path: _save(model, path), "XGBoost")
        self._trainings.end("finished")
        return model


def booster_parameters(model: Any) -> dict[str, Any]:
    """The hyperparameters in ``model.save_config()``, named as XGBoost's documentation names
    them, internals and aliases left out (``xgb.cv``: those of its first fold)."""
    folds = getattr(model, "cvfolds", None)  # xgb.cv: every fold has the same parameters
    if isinstance(folds, list) and folds:
        model = getattr(folds[0], "bst", None)
    config = _call(model, "save_config")
    if not isinstance(config, str):
        return {}
    try:
        learner = json.loads(config)["learner"]
    except (ValueError, KeyError, TypeError):
        return {}
    found: dict[str, Any] = {}
    stack: list[Any] = [learner]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if isinstance(value, dict | list):
                stack.extend(value if isinstance(value, list) else [value])
            elif key not in _INTERNAL and key not in _ALIASES and isinstance(value, str):
                found[key] = _value(value)
    metrics = learner.get("metrics")
    if isinstance(metrics, list) and metrics:
        found["eval_metric"] = [m.get("name") for m in metrics if isinstance(m, dict)]
    return {key: found[key] for key in sorted(found) if found[key] != ""}


def _value(text: str) -> Any:
    """A save_config() value (all are text) as the number, list or text it stands for."""
    try:
        return int(text)
    except ValueError:
        pass
    if text.startswith("[") and text.endswith("]"):  # base_score "[5E-1]": one per target
        items = [_value(t) for t in text[1:-1].split(",") if t.strip()]
        return items[0] if len(items) == 1 else items
    try:
        value = float(text)
    except ValueError:
        return text
    # XGBoost keeps hyperparameters as float32 and writes 9 digits: eta=0.3 is "0.300000012"
    exact = to_float32(value)
    return short_float(exact) if math.isfinite(exact) else value


def _call(model: Any, method: str) -> Any:
    try:
        return getattr(model, method)()
    except Exception:  # a model without it (xgb.cv's folds) or that cannot say
        return None


def _attribute(model: Any, name: str) -> Any:
    try:
        return getattr(model, name)
    except Exception:  # XGBoost raises AttributeError when there was no early stopping
        return None


def _save(model: Any, path: Path) -> None:
    model.save_model(str(path))
