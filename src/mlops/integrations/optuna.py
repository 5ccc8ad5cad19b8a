"""Track an Optuna study: one iteration per trial.

::

    import optuna
    from mlops.integrations.optuna import MlopsCallback

    study = optuna.create_study(study_name="lr-search", direction="minimize")
    study.optimize(objective, n_trials=50, callbacks=[MlopsCallback()])

Every trial becomes one iteration, named ``trial <number>``, made when the trial ends (Optuna
calls its callbacks then). It records:

- the trial's parameters (``trial.params``) as parameters;
- its value as the metric ``value`` (``metric_name=`` renames it; a multi-objective study gets
  ``value_0``, ``value_1``, ... or the list of names given), and ``duration_s``, the trial's
  own run time;
- the values the objective reported with ``trial.report`` as the series
  ``intermediate/value`` at their steps;
- the tags ``optuna.study_name``, ``optuna.trial_number``, ``optuna.state`` (``COMPLETE``,
  ``PRUNED``, ``FAIL``), ``optuna.datetime_start`` and ``optuna.datetime_complete`` (the
  trial's real start and end, ISO 8601 UTC: the iteration's own start and end are when it was
  logged, a moment after the trial) and ``optuna.best``;
- the status: a complete or pruned trial ``finished`` (as MLflow's callback does, the tag
  ``optuna.state=PRUNED`` tells a pruned one apart), a failed one ``failed`` with the error the
  objective raised. (Optuna calls callbacks for a failed trial only when ``catch=`` lets the
  study go on; otherwise the error ends ``optimize`` before any callback runs.)

``optuna.best`` is ``"true"`` on the best trial so far and ``"false"`` on every other trial
(filter with ``tags.`optuna.best` = "true"``). When a better trial comes, the tag of the old
best is set to ``"false"`` (its iteration stays as it ended). A multi-objective study marks its
Pareto front (Optuna's ``study.best_trials``) the same way. "Best" is among the trials this
callback logged.

Where the trials go: ``experiment_id`` if given; else the active experiment (of the active
project, or of ``project_id`` when that is the active one); else, in the project (given or
active), the experiment named after the study when the study has a name of its own
(``create_study(study_name=...)``, made when missing), or the project's ``default`` experiment
for an unnamed study. System metrics are off (``system_metrics=True`` turns them on): the
iteration exists only while the trial is logged. The callback may be shared by the threads of
``optimize(n_jobs=...)``. On a non-zero ``RANK`` nothing is recorded.
"""

from __future__ import annotations

import collections
import datetime as _dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops import tracking
from mlops.config import read_settings, tracking_uri
from mlops.errors import InvalidInput, MlopsError, NoActiveProject
from mlops.integrations._common import number, warn_once
from mlops.store import Store
from mlops.tracking._api import _rank
from mlops.values import check_id, check_name

if TYPE_CHECKING:
    import optuna

__all__ = ["MlopsCallback"]

#: Optuna names a study it was not given a name for ``no-name-<uuid>``.
_UNNAMED = "no-name-"
BEST_TAG = "optuna.best"


@dataclass
class _Logged:
    """A logged complete trial that is (or was) among the best."""

    number: int
    key: tuple[float, ...]  # the values, each turned so that lower is better
    iteration_id: str
    store: Store


class MlopsCallback:
    """An Optuna callback that logs every trial of a study as one iteration (see the module's
    docstring for what is recorded)::

        study.optimize(objective, n_trials=20, callbacks=[MlopsCallback()])

    ``experiment_id`` / ``project_id`` say where the trials go (default: as the module says);
    ``metric_name`` names the trial's value, or is a list with one name per objective of a
    multi-objective study; ``system_metrics=True`` samples system metrics while each trial is
    logged. Raises ``InvalidInput`` for a bad argument, and ``NoActiveProject`` at once when
    there is no project to log to.
    """

    def __init__(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        metric_name: str | Sequence[str] = "value",
        system_metrics: bool = False,
    ) -> None:
        if experiment_id is not None:
            check_id(experiment_id, "experiment_id")
        if project_id is not None:
            check_id(project_id, "project_id")
        if isinstance(metric_name, str):
            check_name(metric_name, "metric_name")
            names: str | tuple[str, ...] = metric_name
        elif isinstance(metric_name, Sequence) and metric_name:
            names = tuple(check_name(n, "metric_name") for n in metric_name)
            if len(set(names)) != len(names):
                raise InvalidInput(f"metric_name={list(names)!r} names a metric twice")
        else:
            raise InvalidInput(
                f"metric_name must be a metric name, or a list of names (one per objective), "
                f"got {metric_name!r}"
            )
        if not isinstance(system_metrics, bool):
            raise InvalidInput(f"system_metrics must be True or False, got {system_metrics!r}")
        if experiment_id is None and project_id is None and not _active_project():
            raise NoActiveProject(
                "MlopsCallback: no active project to log the trials to: call "
                "tracking.set_active_project(id) or pass project_id= or experiment_id="
            )
        self._experiment_id = experiment_id
        self._project_id = project_id
        self._metric_name = names
        self._system_metrics = system_metrics
        self._lock = threading.Lock()
        self._targets: dict[str, tuple[str | None, str | None]] = {}
        self._best: dict[str, list[_Logged]] = {}
        self._warned: set[str] = set()
        #: The id of each logged trial's iteration, by (study name, trial number).
        self.iteration_ids: dict[tuple[str, int], str] = {}
        _FAILURES.install()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Log ``trial`` (Optuna calls this once per finished trial, from any thread)."""
        failure = _FAILURES.pop(trial.number) if trial.state.name == "FAIL" else None
        with self._lock:
            self._log(study, trial, failure)

    # -- one trial --------------------------------------------------------------------------
    def _log(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, failure: object) -> None:
        directions = [d.name for d in study.directions]
        names = self._names(len(directions))
        experiment_id, project_id = self._target(study.study_name)
        it = tracking.start_iteration(
            f"trial {trial.number}", project_id, experiment_id, system_metrics=self._system_metrics
        )
        state = trial.state.name
        try:
            it.log_parameters(trial.params)
            it.set_tags(_tags(study, trial, directions))
            values = trial.values or []
            it.log_metrics(
                {n: v for n, v in zip(names, map(number, values), strict=False) if v is not None}
            )
            if len(directions) == 1:
                series = f"intermediate/{names[0]}"
                for step, value in sorted(trial.intermediate_values.items()):
                    got = number(value)
                    if got is not None:
                        it.log_metric(series, got, step)
            if trial.datetime_start is not None and trial.datetime_complete is not None:
                duration = trial.datetime_complete - trial.datetime_start
                it.log_metric("duration_s", duration.total_seconds())
            key = _key(values, directions) if state == "COMPLETE" and values else None
            front = self._best.setdefault(study.study_name, [])
            best, beaten = _place(front, key, single=len(directions) == 1)
            it.set_tag(BEST_TAG, "true" if best else "false")
        except BaseException as exc:
            it.end_iteration("failed", exc)
            raise
        if state == "FAIL":
            it.end_iteration("failed", _failure(trial, failure))
        else:
            it.end_iteration("finished")
        if it.id is None:  # a non-zero RANK: nothing is stored
            return
        self.iteration_ids[(study.study_name, trial.number)] = it.id
        if best and key is not None:
            assert it._store is not None
            front.append(_Logged(trial.number, key, it.id, it._store))
        for old in beaten:
            front.remove(old)
            self._unmark(old)

    def _names(self, objectives: int) -> tuple[str, ...]:
        given = self._metric_name
        if isinstance(given, str):
            return (given,) if objectives == 1 else tuple(f"{given}_{i}" for i in range(objectives))
        if len(given) != objectives:
            raise InvalidInput(
                f"MlopsCallback(metric_name={list(given)!r}) names {len(given)} values, but the "
                f"study has {objectives} objective(s): give one name per objective"
            )
        return given

    def _target(self, study_name: str) -> tuple[str | None, str | None]:
        """(experiment id, project id) for the trials of a study, found at its first trial."""
        found = self._targets.get(study_name)
        if found is None:
            found = self._targets[study_name] = self._find_target(study_name)
        return found

    def _find_target(self, study_name: str) -> tuple[str | None, str | None]:
        if self._experiment_id is not None:
            return self._experiment_id, self._project_id
        settings = read_settings(tracking_uri())
        active = settings.get("active_project_id")
        project = self._project_id or active
        if project is None:
            raise NoActiveProject(
                "MlopsCallback: no active project to log the trials to: call "
                "tracking.set_active_project(id) or pass project_id= or experiment_id="
            )
        if project == active and settings.get("active_experiment_id"):
            return settings["active_experiment_id"], project
        if study_name.startswith(_UNNAMED) or _rank() != 0:
            return None, project  # the project's default experiment
        experiment = tracking.create_experiment(
            study_name, f"Optuna study {study_name!r}", project_id=project, exist_ok=True
        )
        return experiment["id"], project

    def _unmark(self, old: _Logged) -> None:
        """Set ``optuna.best=false`` on a trial that is no longer among the best (tags are
        annotations: an ended iteration takes them)."""
        try:
            old.store.set_iteration_tags(old.iteration_id, {BEST_TAG: "false"})
        except MlopsError as exc:
            warn_once(
                self._warned,
                "unmark",
                f"mlops: could not move the tag {BEST_TAG} off trial {old.number} "
                f"(iteration {old.iteration_id}): {exc}",
            )


def _active_project() -> str | None:
    project: str | None = read_settings(tracking_uri()).get("active_project_id")
    return project


def _tags(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, directions: list[str]
) -> dict[str, str]:
    tags = {
        "optuna.study_name": study.study_name,
        "optuna.trial_number": str(trial.number),
        "optuna.state": trial.state.name,
        "optuna.direction": ",".join(directions),
    }
    for key, when in (
        ("optuna.datetime_start", trial.datetime_start),
        ("optuna.datetime_complete", trial.datetime_complete),
    ):
        if when is not None:
            tags[key] = when.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")
    return tags


def _key(values: Sequence[float], directions: list[str]) -> tuple[float, ...]:
    return tuple(v if d == "MINIMIZE" else -v for v, d in zip(values, directions, strict=True))


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def _place(
    front: list[_Logged], key: tuple[float, ...] | None, single: bool
) -> tuple[bool, list[_Logged]]:
    """Whether a trial with these values joins the best (the best one, or the Pareto front),
    and the members it pushes out. A tie with the best of one objective keeps the older."""
    if key is None:
        return False, []
    if single:
        if front and not key < front[0].key:
            return False, []
        return True, list(front)
    if any(_dominates(m.key, key) for m in front):
        return False, []
    return True, [m for m in front if _dominates(key, m.key)]


def _failure(trial: optuna.trial.FrozenTrial, caught: object) -> BaseException | str:
    """Why a trial failed: what Optuna recorded, else the error it logged, else a message."""
    reason = trial.system_attrs.get("fail_reason")
    if isinstance(reason, str) and reason:
        return reason
    if isinstance(caught, BaseException | str):
        return caught
    return f"trial {trial.number} failed (Optuna logged no reason)"


class _FailureLog(logging.Handler):
    """Optuna gives callbacks no reason for a failed trial, but logs one (with the exception)
    just before it calls them, in the same thread: keep it for the callback."""

    LOGGER = "optuna.study._optimize"

    def __init__(self) -> None:
        super().__init__()
        self._reasons: collections.OrderedDict[tuple[int, int], BaseException | str] = (
            collections.OrderedDict()
        )
        self._installed = False
        self._guard = threading.Lock()

    def install(self) -> None:
        with self._guard:
            if not self._installed:
                logging.getLogger(self.LOGGER).addHandler(self)
                self._installed = True

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        head, sep, rest = message.partition(" failed with parameters: ")
        if not sep or not head.startswith("Trial "):
            return
        try:
            trial = int(head.removeprefix("Trial "))
        except ValueError:
            return
        exc = record.exc_info[1] if record.exc_info else None
        reason: BaseException | str
        if isinstance(exc, BaseException):
            reason = exc
        else:
            reason = rest.partition("because of the following error: ")[2].rstrip(".") or rest
        with self._guard:
            self._reasons[(threading.get_ident(), trial)] = reason
            while len(self._reasons) > 64:  # failures no callback took (no MlopsCallback)
                self._reasons.popitem(last=False)

    def pop(self, trial: int) -> BaseException | str | None:
        with self._guard:
            return self._reasons.pop((threading.get_ident(), trial), None)


_FAILURES = _FailureLog()
