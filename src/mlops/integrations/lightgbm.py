"""Track a LightGBM training with one line::

    from mlops.integrations.lightgbm import mlops_callback

    booster = lgb.train(params, train_set, num_boost_round=100, valid_sets=[valid_set],
                        callbacks=[lgb.early_stopping(10), mlops_callback()])
    # or through the scikit-learn API
    LGBMClassifier(n_estimators=100).fit(x, y, eval_set=[(xv, yv)], callbacks=[mlops_callback()])

What it records:

- parameters: the params of the training as LightGBM hands them to its callbacks (what you
  passed, with ``num_iterations``; the scikit-learn API adds its constructor's arguments);
- every evaluation result of every round as ``<data name>-<metric>`` (``valid_0-binary_logloss``,
  ``training-auc``, as LightGBM prints them), at step = the round (0, 1, ...); with ``lgb.cv``,
  the mean over the folds and its standard deviation as ``<data name>-<metric>-stdv``;
- when early stopping found a best round: ``best_iteration`` as LightGBM counts it (1-based,
  the number of trees kept: its point in the series is at step ``best_iteration - 1``) and that
  round's results as ``best/<data name>-<metric>``;
- with ``log_model=True``, the booster (``save_model``: up to the best round when there is
  one, as LightGBM saves by default) as the artifact ``model/model.txt`` (load it with
  ``lgb.Booster(model_file=...)``).

Where the iteration ends: LightGBM calls no callback after the last round, and early stopping
ends the training from inside another callback. The callback runs before early stopping
(``order`` 25; ``lgb.early_stopping`` is 30), so it sees every round, the one training stops
at too, and it ends the iteration ``finished`` when ``lgb.train`` records the best score on the
booster, the last thing ``lgb.train`` does: it watches that one assignment on the booster of
its training (and nothing else), then gives the booster back its own class. With ``lgb.cv``
it ends at the last round, or when early stopping stops the folds before it (``lgb.cv`` then
records the best round on its ``CVBooster``: that assignment is watched the same way).
A training that raises ends ``failed``: with
the error when it ends the script or a notebook cell, and, when the script catches it, at the
next training with the same callback or at the exit of the process. Each training is one
iteration; one callback serves one training at a time. Given ``iteration=it``, it logs there
and leaves the iteration running.
"""

from __future__ import annotations

import warnings
import weakref
from pathlib import Path
from typing import Any

import lightgbm

from mlops.errors import InvalidInput
from mlops.integrations._common import number
from mlops.integrations._training import Trainings, plain, save_model
from mlops.tracking import Iteration

__all__ = ["MlopsCallback", "mlops_callback"]

#: The boosters being trained, watched for the end of their training.
_watched: weakref.WeakKeyDictionary[Any, MlopsCallback] = weakref.WeakKeyDictionary()


def mlops_callback(
    iteration: Iteration | None = None,
    name: str | None = None,
    project_id: str | None = None,
    experiment_id: str | None = None,
    log_model: bool = False,
    system_metrics: bool | None = None,
) -> MlopsCallback:
    """A LightGBM callback that records each training in an mlops iteration: pass it in
    ``callbacks=[...]`` of ``lgb.train`` or of a scikit-learn estimator's ``fit``.

    Args:
        iteration: log to this iteration (from ``tracking.start_iteration``) and leave it
            running; by default each training starts its own iteration and ends it.
        name: the name of the iterations it starts (default: ``lightgbm`` and the time).
        project_id: where to start them (default: the active project).
        experiment_id: where to start them (default: the active experiment).
        log_model: keep the trained booster as the artifact ``model/model.txt``.
        system_metrics: sample system metrics while training (default: as
            ``tracking.start_iteration`` does).
    """
    return MlopsCallback(iteration, name, project_id, experiment_id, log_model, system_metrics)


class MlopsCallback:
    """What :func:`mlops_callback` returns: a LightGBM callback (see the module's docs)."""

    #: After ``record_evaluation`` (20), before ``early_stopping`` (30).
    order = 25
    before_iteration = False

    def __init__(
        self,
        iteration: Iteration | None = None,
        name: str | None = None,
        project_id: str | None = None,
        experiment_id: str | None = None,
        log_model: bool = False,
        system_metrics: bool | None = None,
    ) -> None:
        if not isinstance(log_model, bool):
            raise InvalidInput(
                f"mlops_callback(log_model=...) takes True or False, got {log_model!r}"
            )
        self._trainings = Trainings(
            "lightgbm", iteration, name, project_id, experiment_id, system_metrics
        )
        self.log_model = log_model
        self._booster: Any = None
        self._watching = False
        self._rounds: dict[int, dict[str, float]] = {}

    @property
    def iteration(self) -> Iteration:
        """The iteration of the current (or last) training."""
        return self._trainings.iteration

    def __reduce__(self) -> tuple[Any, ...]:
        # Parallel searches pickle their fit parameters to worker processes: the copy keeps
        # the arguments, not the iteration, which lives in this process only.
        config = self._trainings.config
        return (
            MlopsCallback,
            (None, config["name"], config["project_id"], config["experiment_id"],
             self.log_model, config["system_metrics"]),
        )  # fmt: skip

    # -- the LightGBM hook --------------------------------------------------------------------
    def __call__(self, env: Any) -> None:
        if not self._trainings.training or env.model is not self._booster:
            self._begin(env)
        values: dict[str, float] = {}
        for result in env.evaluation_result_list or ():
            value = number(result[2]) if len(result) > 2 else None
            if value is not None:
                values[f"{result[0]}-{result[1]}"] = value
            spread = number(result[4]) if len(result) > 4 else None  # lgb.cv: over the folds
            if spread is not None:
                values[f"{result[0]}-{result[1]}-stdv"] = spread
        if values:
            self.iteration.log_metrics(values, step=env.iteration)
            self._rounds[env.iteration] = values
        if not self._watching and env.iteration >= env.end_iteration - 1:
            _unwatch(env.model)
            self._training_over(env.model)

    def _begin(self, env: Any) -> None:
        previous = self._booster
        if previous is not None:
            _unwatch(previous)
        iteration = self._trainings.begin()
        self._booster, self._rounds = env.model, {}
        self._watching = _watch(env.model, self)  # else it ends at the last round
        parameters = {str(k): plain(v) for k, v in (env.params or {}).items()}
        if parameters:
            iteration.log_parameters(parameters)

    def _training_over(self, booster: Any) -> None:
        """lgb.train has finished (or, on a booster it cannot watch, the last round is done)."""
        self._booster = None
        self._watching = False
        iteration = self.iteration
        try:
            best = getattr(booster, "best_iteration", 0)
            if isinstance(best, int) and best > 0:
                scores = self._rounds.get(best - 1, {})
                iteration.log_metrics(
                    {"best_iteration": best, **{f"best/{k}": v for k, v in scores.items()}}
                )
            if self.log_model and hasattr(booster, "save_model"):
                save_model(iteration, "model.txt", lambda path: _save(booster, path), "LightGBM")
        except Exception as exc:  # the training is over: never make it raise now
            warnings.warn(
                f"mlops: could not record the end of the LightGBM training: {exc}", stacklevel=2
            )
        self._rounds = {}
        self._trainings.end("finished")


class _Watched:
    """What a booster is while its training is watched: the assignment of ``attribute`` that
    ends ``lgb.train`` (``best_score``, after the last round, early stopping or not) or that
    ``lgb.cv`` makes when early stopping stops it (``best_iteration``) gives the booster its
    own class back and tells the callback."""

    attribute: str
    original: type

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == self.attribute:
            callback = _unwatch(self)
            if callback is not None:
                callback._training_over(self)


class _WatchedBooster(_Watched, lightgbm.Booster):
    attribute = "best_score"
    original = lightgbm.Booster


class _WatchedCVBooster(_Watched, lightgbm.CVBooster):
    attribute = "best_iteration"
    original = lightgbm.CVBooster


#: The booster classes watched, and whether their training may also end silently at its
#: last round (lgb.cv assigns nothing when early stopping did not stop it).
_WATCHES: dict[type, tuple[type, bool]] = {
    lightgbm.Booster: (_WatchedBooster, False),
    lightgbm.CVBooster: (_WatchedCVBooster, True),
}


def _watch(booster: Any, callback: MlopsCallback) -> bool:
    """Watch the end of ``booster``'s training; False when it has to end at the last round."""
    watch = _WATCHES.get(type(booster))
    if watch is None:
        return False
    _watched[booster] = callback
    booster.__class__ = watch[0]
    return not watch[1]


def _unwatch(booster: Any) -> MlopsCallback | None:
    if isinstance(booster, _Watched):
        object.__setattr__(booster, "__class__", booster.original)
    return _watched.pop(booster, None)


def _save(booster: Any, path: Path) -> None:
    booster.save_model(str(path))
