"""Track machine-learning runs from a training script.

Projects hold experiments, experiments hold iterations (one model run each). An iteration logs
parameters, metrics, the path to its model file and the datasets it used::

    from mlops import tracking

    project = tracking.create_project("digits")
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("sgd-sweep")
    tracking.set_active_experiment(experiment["id"])

    with tracking.start_iteration("alpha=1e-4") as it:
        it.log_parameters({"alpha": 1e-4, "loss": "hinge"})
        for epoch in range(20):
            it.log_metric("accuracy", train_one_epoch())
        it.log_path_to_model("model.joblib")

Data goes to the store named by ``MLOPS_TRACKING_URI`` (default: an embedded SQLite database in
``MLOPS_HOME``, ``~/.mlops``). Every function returns plain JSON-able dicts and raises the errors
of :mod:`mlops.errors`.

A store that cannot be written (a full disk, a locked database) never stops the training: the
points wait in memory, up to ``MLOPS_MAX_BUFFERED_POINTS`` per iteration (default 5,000,000),
and are written when the store accepts them again; ``end_iteration()`` waits at most
``MLOPS_FLUSH_TIMEOUT`` seconds and reports on stderr, rather than raises, what it could not
write (``it.unwritten`` has the counts).
"""

from __future__ import annotations

from mlops.tracking._api import (
    create_dataset,
    create_experiment,
    create_project,
    get_dataset,
    get_experiment,
    get_iteration,
    get_metric_history,
    get_project,
    list_datasets,
    list_experiments,
    list_iterations,
    list_projects,
    resume_iteration,
    set_active_experiment,
    set_active_project,
    start_iteration,
    update_project,
)
from mlops.tracking._artifacts import (
    delete_artifacts,
    download_artifacts,
    download_model,
    get_model,
    get_model_version,
    list_artifacts,
    register_model,
    set_model_alias,
)
from mlops.tracking._frames import history_frame, iterations_frame
from mlops.tracking._iteration import Iteration
from mlops.tracking._manage import (
    delete_experiment,
    delete_iteration,
    get_note,
    move_iteration,
    purge_experiment,
    purge_iterations,
    rename_experiment,
    rename_iteration,
    rename_project,
    restore_experiment,
    restore_iteration,
    set_experiment_tags,
    set_iteration_tags,
    set_note,
    update_experiment,
)
from mlops.tracking._trash import (
    delete_dataset,
    delete_project,
    purge_dataset,
    purge_project,
    restore_dataset,
    restore_project,
    update_iteration,
)

__all__ = [
    "Iteration",
    "create_dataset",
    "create_experiment",
    "create_project",
    "delete_artifacts",
    "delete_dataset",
    "delete_experiment",
    "delete_iteration",
    "delete_project",
    "download_artifacts",
    "download_model",
    "get_dataset",
    "get_experiment",
    "get_iteration",
    "get_metric_history",
    "get_model",
    "get_model_version",
    "get_note",
    "get_project",
    "history_frame",
    "iterations_frame",
    "list_artifacts",
    "list_datasets",
    "list_experiments",
    "list_iterations",
    "list_projects",
    "move_iteration",
    "purge_dataset",
    "purge_experiment",
    "purge_iterations",
    "purge_project",
    "register_model",
    "rename_experiment",
    "rename_iteration",
    "rename_project",
    "restore_dataset",
    "restore_experiment",
    "restore_iteration",
    "restore_project",
    "resume_iteration",
    "set_active_experiment",
    "set_active_project",
    "set_experiment_tags",
    "set_iteration_tags",
    "set_model_alias",
    "set_note",
    "start_iteration",
    "update_experiment",
    "update_iteration",
    "update_project",
]
