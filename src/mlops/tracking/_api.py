"""The functions of ``mlops.tracking`` (see the package docstring for an example)."""

from __future__ import annotations

import os
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from mlops.config import read_settings, tracking_uri, write_settings
from mlops.errors import AlreadyExists, InvalidInput, NoActiveProject, NotFound, Unavailable
from mlops.store import Store, open_store
from mlops.tracking._datasets import fingerprint
from mlops.tracking._disabled import DisabledIteration
from mlops.tracking._html import (
    ExperimentDict,
    ExperimentList,
    IterationDict,
    IterationList,
    ProjectDict,
    ProjectList,
)
from mlops.tracking._iteration import Iteration
from mlops.tracking._outbox import buffer_points, max_buffered_points
from mlops.tracking._system import system_info
from mlops.tracking._system_metrics import SAMPLER, sampling_interval
from mlops.tracking._writer import WRITER
from mlops.values import check_id, check_name, check_optional_text

if TYPE_CHECKING:
    from mlops.series import MetricColumns

_NO_PROJECT = (
    "no active project: call tracking.set_active_project(id) or pass project_id "
    "(tracking.list_projects() shows the ids)"
)


def _store() -> Store:
    return open_store(tracking_uri())


def _settings() -> dict[str, Any]:
    return read_settings(tracking_uri())


def _project_or_active(project_id: str | None) -> str | None:
    if project_id is not None:
        return check_id(project_id, "project_id")
    return _settings().get("active_project_id")


# -- projects -------------------------------------------------------------------------------
def create_project(
    title: str,
    description: str | None = None,
    status: str | None = None,
    archived: bool = False,
    exist_ok: bool = False,
) -> dict[str, Any]:
    """Create a project with a unique ``title`` and return its dict.

    ``status`` is free text (default ``"active"``). Raises ``AlreadyExists`` naming the id of
    the project that already has this title; with ``exist_ok=True`` that project is returned
    unchanged instead (a warning says so when the given description differs), so a script can
    run twice.
    """
    check_name(title, "project title")
    check_optional_text(description, "description")
    status = check_optional_text(status, "status") or "active"
    if not isinstance(archived, bool):
        raise InvalidInput(f"archived must be True or False, got {archived!r}")
    store = _store()
    try:
        return ProjectDict(store.create_project(title, description, status, archived).to_dict())
    except AlreadyExists:
        if exist_ok is not True:
            raise
        found = next((p for p in store.list_projects() if p.title == title), None)
        if found is None:  # deleted between the two calls: a plain retry creates it
            return ProjectDict(store.create_project(title, description, status, archived).to_dict())
        _warn_if_differs("project", title, found.id, found.description, description)
        return ProjectDict(found.to_dict())


def get_project(project_id: str) -> dict[str, Any]:
    """The project with this id. Raises ``NotFound`` for an unknown id."""
    return ProjectDict(_store().get_project(check_id(project_id, "project_id")).to_dict())


def list_projects(
    include_archived: bool = True, *, deleted: bool | None = False
) -> list[dict[str, Any]]:
    """Every project, newest first (live ones: ``deleted=True`` lists the deleted ones,
    ``None`` both)."""
    found = _store().list_projects(include_archived, deleted)
    return ProjectList(ProjectDict(p.to_dict()) for p in found)


def update_project(
    project_id: str,
    description: str | None = None,
    status: str | None = None,
    archived: bool | None = None,
) -> dict[str, Any]:
    """Change a project's description, status or archived flag (None leaves it as is)."""
    check_optional_text(description, "description")
    check_optional_text(status, "status")
    if archived is not None and not isinstance(archived, bool):
        raise InvalidInput(f"archived must be True, False or None, got {archived!r}")
    project = _store().update_project(
        check_id(project_id, "project_id"), description, status, archived
    )
    return ProjectDict(project.to_dict())


# -- experiments ----------------------------------------------------------------------------
def create_experiment(
    name: str,
    description: str | None = None,
    project_id: str | None = None,
    exist_ok: bool = False,
) -> dict[str, Any]:
    """Create an experiment in a project (default: the active project); names are unique
    within a project. Raises ``NoActiveProject`` when there is no project to put it in, and
    ``AlreadyExists`` for a taken name; with ``exist_ok=True`` the existing experiment is
    returned unchanged instead (a warning says so when the given description differs)."""
    check_name(name, "experiment name")
    check_optional_text(description, "description")
    project = _project_or_active(project_id)
    if project is None:
        raise NoActiveProject(_NO_PROJECT)
    store = _store()
    try:
        return ExperimentDict(store.create_experiment(project, name, description).to_dict())
    except AlreadyExists:
        if exist_ok is not True:
            raise
        found = store.find_experiment(project, name)
        if found is None:
            return ExperimentDict(store.create_experiment(project, name, description).to_dict())
        _warn_if_differs("experiment", name, found.id, found.description, description)
        return ExperimentDict(found.to_dict())


def _warn_if_differs(
    kind: str, name: str, found_id: str, stored: str | None, given: str | None
) -> None:
    if given is not None and given != stored:
        warnings.warn(
            f"mlops: {kind} {name!r} already exists (id {found_id}) with the description "
            f"{stored!r}; it is returned unchanged (update it to change the description)",
            stacklevel=3,
        )


def get_experiment(experiment_id: str, project_id: str | None = None) -> dict[str, Any]:
    """The experiment with this id. With ``project_id``, raises ``NotFound`` unless the
    experiment belongs to that project."""
    experiment = _store().get_experiment(check_id(experiment_id, "experiment_id"))
    if project_id is not None and experiment.project_id != project_id:
        raise NotFound(
            f"experiment {experiment_id!r} is not in project {project_id!r} "
            f"(it belongs to project {experiment.project_id!r})"
        )
    return ExperimentDict(experiment.to_dict())


def list_experiments(
    project_id: str | None = None, *, deleted: bool | None = False
) -> list[dict[str, Any]]:
    """Experiments of a project (default: the active project; every project when none is
    active), newest first. ``deleted=True`` lists the deleted ones instead, ``None`` both."""
    found = _store().list_experiments(_project_or_active(project_id), deleted)
    return ExperimentList(ExperimentDict(e.to_dict()) for e in found)


# -- datasets -------------------------------------------------------------------------------
def create_dataset(
    dataset_name: str,
    path_to_dataset: str,
    dataset_description: str | None = None,
    tags: Sequence[str] | str | None = None,
    version: str | int | None = None,
) -> dict[str, Any]:
    """Register a dataset and return its dict.

    A local file or folder gets a content digest (sha256 over relative paths and bytes), its
    size and file count; a URI such as ``s3://`` or ``https://`` is recorded as text, without a
    digest. A missing local path raises ``InvalidInput``.

    ``(dataset_name, version)`` is unique: registering the same content again returns the
    existing dataset, different content under the same version raises ``AlreadyExists``.
    Without ``version`` the same content reuses its version and new content gets the next
    one (``v1``, ``v2``, ...).
    """
    check_name(dataset_name, "dataset name")
    if not isinstance(path_to_dataset, str | os.PathLike):
        raise InvalidInput(f"path_to_dataset must be a path or URI string, got {path_to_dataset!r}")
    check_optional_text(dataset_description, "dataset_description")
    tag_list = [tags] if isinstance(tags, str) else list(tags or [])
    for tag in tag_list:
        check_name(tag, "dataset tag")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, str | int):
            raise InvalidInput(f"version must be a string or an integer, got {version!r}")
        version = check_name(str(version), "dataset version")
    path, digest, size, count = fingerprint(os.fspath(path_to_dataset))
    dataset = _store().create_dataset(
        dataset_name, path, dataset_description, tag_list, version, digest, size, count
    )
    return dataset.to_dict()


def get_dataset(dataset_id: str) -> dict[str, Any]:
    """The dataset with this id. Raises ``NotFound`` for an unknown id."""
    return _store().get_dataset(check_id(dataset_id, "dataset_id")).to_dict()


def list_datasets(name: str | None = None, *, deleted: bool | None = False) -> list[dict[str, Any]]:
    """Every dataset version (or those of one name), by name, newest version first (live
    ones: ``deleted=True`` lists the deleted ones, ``None`` both)."""
    return [d.to_dict() for d in _store().list_datasets(name, deleted)]


# -- iterations -----------------------------------------------------------------------------
def _rank() -> int:
    """This process's rank in a distributed job (``RANK``, set by torchrun, Accelerate, ...);
    0 outside one or with ``MLOPS_ALL_RANKS=1``."""
    raw = os.environ.get("RANK", "").strip()
    if not raw or os.environ.get("MLOPS_ALL_RANKS", "").lower() in ("1", "true", "yes"):
        return 0
    try:
        rank = int(raw)
    except ValueError:
        rank = -1
    if rank < 0:
        raise InvalidInput(
            f"RANK={raw!r} is not a rank: expected a whole number >= 0 (0 for the process "
            "that records the iteration, as set by torchrun); fix or unset RANK, or set "
            "MLOPS_ALL_RANKS=1 to track every process"
        )
    return rank


def _target(project_id: str | None, experiment_id: str | None) -> tuple[str | None, str | None]:
    """(experiment id, project id) for a new iteration, from the arguments and the settings."""
    if experiment_id is not None:
        return check_id(experiment_id, "experiment_id"), project_id
    settings = _settings()
    active_project = settings.get("active_project_id")
    project = check_id(project_id, "project_id") if project_id is not None else active_project
    if project is None:
        raise NoActiveProject(_NO_PROJECT)
    # set_active_project clears an active experiment of another project, so the active
    # experiment belongs to the active project.
    if project == active_project and settings.get("active_experiment_id"):
        return settings["active_experiment_id"], project
    global _told_default
    if not _told_default:
        _told_default = True
        sys.stderr.write(
            f"mlops: no active experiment: iterations go to the 'default' experiment of project "
            f"{project} (pick one with tracking.set_active_experiment(id) or pass experiment_id)\n"
        )
    return None, project


#: The notice about the ``default`` experiment is printed once per process.
_told_default = False


def start_iteration(
    iteration_name: str,
    project_id: str | None = None,
    experiment_id: str | None = None,
    *,
    system_metrics: bool | None = None,
    description: str | None = None,
) -> Iteration:
    """Start an iteration (one model run) and return it; log to it, then end it with
    ``end_iteration()`` or a ``with`` block. ``description`` is a short free text about the
    run (changed later with ``it.set_description(text)``).

    It goes to ``experiment_id`` (default: the active experiment). With only a project (given or
    active) it goes to that project's ``default`` experiment, made when missing (said once per
    process on stderr). On a non-zero ``RANK`` of a distributed job it records nothing but
    checks every call the same way (see :class:`DisabledIteration`); a ``RANK`` that is not a
    whole number raises ``InvalidInput``.

    While it runs, system metrics (``system/cpu_percent``, ``system/memory_rss_mb``, disk,
    network and NVIDIA GPUs) are logged in the background every ``MLOPS_SYSTEM_METRICS_INTERVAL``
    seconds (default 10, fractions allowed, ``0`` turns them off), the first at once and the
    last at the end; ``system_metrics=False`` turns them off for this iteration, ``True`` on
    even when the variable is ``0``. A bad ``MLOPS_SYSTEM_METRICS_INTERVAL`` raises
    ``InvalidInput``.
    """
    check_name(iteration_name, "iteration name")
    check_optional_text(description, "iteration description")
    interval = _system_metrics_interval(system_metrics)
    max_buffered_points()  # a bad MLOPS_MAX_BUFFERED_POINTS fails before anything is created
    buffer_points()  # and a bad MLOPS_BUFFER_POINTS
    rank = _rank()
    experiment, project = _target(project_id, experiment_id)
    if rank != 0:
        return DisabledIteration(iteration_name, rank, project, experiment, description)
    store = _store()
    created = store.create_iteration(
        uuid.uuid4().hex, iteration_name, experiment, project, time.time(), system_info(), new=True
    )
    iteration = Iteration(store, created.to_dict())
    if description:
        try:
            iteration.set_description(description)
        except Unavailable as exc:  # optional side effect: the run goes on without it
            warnings.warn(f"the iteration's description was not stored: {exc}", stacklevel=2)
    SAMPLER.start(iteration, interval, {})
    return iteration


def _system_metrics_interval(system_metrics: object) -> float:
    if system_metrics is not None and not isinstance(system_metrics, bool):
        raise InvalidInput(f"system_metrics must be True, False or None, got {system_metrics!r}")
    return sampling_interval(system_metrics)


def resume_iteration(iteration_id: str, *, system_metrics: bool | None = None) -> Iteration:
    """Reopen an ended iteration and return it to log more to it (a run restarted from a
    checkpoint): its status is ``running`` again, its end time and error are cleared, and what
    it logged stays. Metrics logged without a step continue after their last step. Resuming an
    iteration that runs in this process returns that same object. Raises ``NotFound`` for an
    unknown id.

    System metrics are sampled again as by :func:`start_iteration` (``system_metrics`` the
    same switch), their steps and cumulative counters going on from where they were."""
    check_id(iteration_id, "iteration_id")
    interval = _system_metrics_interval(system_metrics)
    running = WRITER.active(iteration_id)
    if running is not None:
        return running
    store = _store()
    resumed = store.resume(iteration_id)
    data = resumed.to_dict()
    iteration = Iteration(store, data)
    iteration._next_step.update({name: s.last_step + 1 for name, s in resumed.metrics.items()})
    SAMPLER.start(iteration, interval, data["metric_summaries"])
    return iteration


def _flush_if_running(iteration_id: str) -> None:
    running = WRITER.active(iteration_id)
    if running is not None:
        running._flush()


def get_iteration(iteration_id: str) -> dict[str, Any]:
    """The iteration with this id: parameters, last metric values (and min/max in
    ``metric_summaries``), model file, datasets, system info, status and error."""
    check_id(iteration_id, "iteration_id")
    _flush_if_running(iteration_id)
    return IterationDict(_store().get_iteration(iteration_id).to_dict())


@overload
def get_metric_history(
    iteration_id: str, metric_name: str, *, columns: Literal[False] = False
) -> list[dict[str, Any]]: ...
@overload
def get_metric_history(
    iteration_id: str, metric_name: str, *, columns: Literal[True]
) -> MetricColumns: ...
def get_metric_history(
    iteration_id: str, metric_name: str, *, columns: bool = False
) -> list[dict[str, Any]] | MetricColumns:
    """Every point of one metric, by step: ``[{"step", "value", "timestamp"}, ...]``.

    ``columns=True`` gives the same series as :class:`~mlops.series.MetricColumns`: packed
    arrays ``.steps``, ``.values`` and ``.timestamps`` (epoch seconds) that still iterate
    (and index) as those dicts; a million points read in a fraction of the time, without an
    object per point (``numpy.frombuffer(h.values)`` views the values)."""
    check_id(iteration_id, "iteration_id")
    check_name(metric_name, "metric name")
    if not isinstance(columns, bool):
        raise InvalidInput(f"columns must be True or False, got {columns!r:.100}")
    _flush_if_running(iteration_id)
    series = _store().get_metric_columns(iteration_id, metric_name)
    return series if columns else list(series)


def list_iterations(
    experiment_id: str | None = None,
    project_id: str | None = None,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
    *,
    deleted: bool | None = False,
) -> list[dict[str, Any]]:
    """Iterations of an experiment, of a project, or of every project when both are None
    (live ones: ``deleted=True`` lists the deleted ones, or those of deleted experiments,
    ``None`` all).

    ``filter`` uses the query language, e.g.
    ``metrics.accuracy > 0.9 and (params.model = "rf" or params.model in ("gb", "xgb"))``;
    ``order_by`` is like ``"metrics.accuracy desc"`` or ``["-metrics.loss", "name"]``
    (default: newest first). Returns at most ``limit`` iterations after skipping ``offset``.
    """
    for value, what in ((limit, "limit"), (offset, "offset")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{what} must be a whole number >= 0, got {value!r}")
    if filter is not None and not isinstance(filter, str):
        raise InvalidInput(f"filter must be a query string, got {filter!r}")
    found = _store().list_iteration_dicts(
        experiment_id, project_id, filter, order_by, limit, offset, deleted=deleted
    )
    return IterationList(IterationDict(i) for i in found)


# -- settings -------------------------------------------------------------------------------
def set_active_project(project_id: str) -> str:
    """Make a project the default for later calls, in this and every later process.
    Returns a message naming it. The active experiment is cleared if it is in another project."""
    project = _store().get_project(check_id(project_id, "project_id"))
    uri = tracking_uri()
    values: dict[str, Any] = {"active_project_id": project.id}
    active_experiment = read_settings(uri).get("active_experiment_id")
    if active_experiment:
        try:
            if _store().get_experiment(active_experiment).project_id != project.id:
                values["active_experiment_id"] = None
        except NotFound:
            values["active_experiment_id"] = None
    write_settings(uri, **values)
    return f"Active project is now {project.title!r} (id {project.id})"


def set_active_experiment(experiment_id: str) -> str:
    """Make an experiment (and its project) the default for later calls, in this and every
    later process. Returns a message naming both."""
    store = _store()
    experiment = store.get_experiment(check_id(experiment_id, "experiment_id"))
    project = store.get_project(experiment.project_id)
    write_settings(tracking_uri(), active_project_id=project.id, active_experiment_id=experiment.id)
    return (
        f"Active experiment is now {experiment.name!r} (id {experiment.id}) "
        f"in project {project.title!r} (id {project.id})"
    )
