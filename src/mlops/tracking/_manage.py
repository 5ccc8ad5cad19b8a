"""Managing what was tracked after the fact: delete, restore, rename, move, describe, tags,
notes.

Deletion is soft: a deleted experiment or iteration leaves lists, counts and searches (and the
App's pages) until it is restored; ``get_*`` still returns it, with ``deleted_at`` set. These
calls need the store's answer: over HTTP the App must be reachable (``Unavailable`` otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops.config import tracking_uri
from mlops.errors import InvalidInput
from mlops.store import Store, open_store
from mlops.tracking._writer import WRITER
from mlops.values import check_id, check_name, check_optional_text

if TYPE_CHECKING:
    from mlops.artifacts import ArtifactStore


def _store() -> Store:
    return open_store(tracking_uri())


def _artifact_store(store: Store) -> ArtifactStore | None:
    """The artifact store the library writes this store's files to (the App frees its own
    over HTTP; a PostgreSQL store without ``MLOPS_ARTIFACT_STORE`` has none known here)."""
    from mlops.tracking._artifacts import LocalFiles, files_for

    try:
        files = files_for(store)
    except InvalidInput:
        return None
    return files.artifacts if isinstance(files, LocalFiles) else None


def delete_experiment(experiment_id: str) -> dict[str, Any]:
    """Delete an experiment: it and its iterations leave lists and searches (nothing is
    erased: :func:`restore_experiment` brings them back), and its name is free at once for a
    new experiment. Returns the experiment, with ``deleted_at`` set."""
    return _store().delete_experiment(check_id(experiment_id, "experiment_id")).to_dict()


def restore_experiment(experiment_id: str, name: str | None = None) -> dict[str, Any]:
    """Bring a deleted experiment and its iterations back, named ``name`` when given. Raises
    ``AlreadyExists`` when a live experiment of the project took its name meanwhile: pass a
    new ``name``."""
    if name is not None:
        check_name(name, "experiment name")
    experiment_id = check_id(experiment_id, "experiment_id")
    return _store().restore_experiment(experiment_id, name).to_dict()


def rename_experiment(experiment_id: str, name: str) -> dict[str, Any]:
    """Give an experiment a new name. Raises ``AlreadyExists`` when another live experiment
    of the project has that name."""
    check_name(name, "experiment name")
    return _store().rename_experiment(check_id(experiment_id, "experiment_id"), name).to_dict()


def set_experiment_tags(
    experiment_id: str, tags: Mapping[str, str] | None = None, delete: Sequence[str] = ()
) -> dict[str, Any]:
    """Set text tags of an experiment (``{"owner": "ada"}``; a key set again is replaced) and
    remove the keys in ``delete``. Returns the experiment with its tags."""
    experiment = _store().set_experiment_tags(
        check_id(experiment_id, "experiment_id"), tags, delete
    )
    return experiment.to_dict()


def delete_iteration(iteration_id: str) -> dict[str, Any]:
    """Delete an iteration: it leaves lists and searches (what it logged stays, and
    :func:`restore_iteration` brings it back). Returns it, with ``deleted_at`` set."""
    return _store().delete_iteration(check_id(iteration_id, "iteration_id")).to_dict()


def restore_iteration(iteration_id: str, name: str | None = None) -> dict[str, Any]:
    """Bring a deleted iteration back, renamed ``name`` when given (it stays hidden while
    its experiment or project is deleted)."""
    if name is not None:
        check_name(name, "iteration name")
    return _store().restore_iteration(check_id(iteration_id, "iteration_id"), name).to_dict()


def rename_iteration(iteration_id: str, name: str) -> dict[str, Any]:
    """Give an iteration a new name; allowed after it ended."""
    check_name(name, "iteration name")
    check_id(iteration_id, "iteration_id")
    running = WRITER.active(iteration_id)
    renamed = _store().rename_iteration(iteration_id, name)
    if running is not None:
        running.name = running._data["name"] = renamed.name
    return renamed.to_dict()


def set_iteration_tags(
    iteration_id: str, tags: Mapping[str, str] | None = None, delete: Sequence[str] = ()
) -> dict[str, Any]:
    """Set text tags of an iteration and remove the keys in ``delete``, also after it ended
    (tags are annotations: ``set_iteration_tags(id, {"reviewed": "yes"}, delete=["wip"])``).
    Returns the iteration as stored now. For a running iteration, what it logged before is
    written first."""
    check_id(iteration_id, "iteration_id")
    running = WRITER.active(iteration_id)
    if running is not None:
        running._flush()
    updated = _store().set_iteration_tags(iteration_id, tags, delete)
    if running is not None:
        running._retag(list(delete), updated.tags)
    return updated.to_dict()


def rename_project(project_id: str, title: str) -> dict[str, Any]:
    """Give a project a new title. Raises ``AlreadyExists`` naming the project that has it."""
    check_name(title, "project title")
    return _store().rename_project(check_id(project_id, "project_id"), title).to_dict()


def update_experiment(experiment_id: str, description: str | None) -> dict[str, Any]:
    """Replace an experiment's description (None or ``""`` clears it); returns the
    experiment. (A project's description: :func:`update_project`.)"""
    check_optional_text(description, "experiment description")
    experiment_id = check_id(experiment_id, "experiment_id")
    return _store().update_experiment(experiment_id, description).to_dict()


def move_iteration(iteration_id: str, experiment_id: str) -> dict[str, Any]:
    """Move an iteration, with everything it logged, to another experiment of the same
    project (running ones too: what they log next lands in the new experiment). Raises
    ``InvalidInput`` naming both projects for an experiment of another project."""
    check_id(iteration_id, "iteration_id")
    check_id(experiment_id, "experiment_id")
    running = WRITER.active(iteration_id)
    if running is not None:
        running._flush()
    moved = _store().move_iteration(iteration_id, experiment_id)
    if running is not None:
        running.experiment_id = running._data["experiment_id"] = moved.experiment_id
    return moved.to_dict()


def _note_owner(
    project_id: str | None, experiment_id: str | None, iteration_id: str | None
) -> tuple[str, str]:
    given = [
        (kind, value)
        for kind, value in (
            ("project", project_id),
            ("experiment", experiment_id),
            ("iteration", iteration_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            "name exactly one owner of the note: project_id=, experiment_id= or iteration_id= "
            f"(got {', '.join(k + '_id' for k, _ in given) or 'none'})"
        )
    kind, value = given[0]
    return kind, check_id(value, f"{kind}_id")


def set_note(
    text: str,
    *,
    project_id: str | None = None,
    experiment_id: str | None = None,
    iteration_id: str | None = None,
) -> dict[str, Any]:
    """Set the Markdown note of one project, experiment or iteration (name exactly one):
    ``set_note("## Why\\nlr too high", iteration_id=it.id)``. It replaces the note it had;
    ``""`` removes it. The App's pages render it (raw HTML shown as text). Returns
    ``{"kind", "owner_id", "text", "updated_at"}``."""
    kind, owner_id = _note_owner(project_id, experiment_id, iteration_id)
    if not isinstance(text, str):
        raise InvalidInput(f"a note is Markdown text, got {type(text).__name__} {text!r:.100}")
    return _store().set_note(kind, owner_id, text).to_dict()


def get_note(
    *,
    project_id: str | None = None,
    experiment_id: str | None = None,
    iteration_id: str | None = None,
) -> dict[str, Any]:
    """The note of one project, experiment or iteration (name exactly one); its ``text`` is
    ``""`` (and ``updated_at`` None) when there is none."""
    kind, owner_id = _note_owner(project_id, experiment_id, iteration_id)
    return _store().get_note(kind, owner_id).to_dict()


def purge_iterations(iteration_ids: Sequence[str], force: bool = False) -> dict[str, Any]:
    """Remove deleted iterations for good: their rows, parameters, metric points, tags,
    dataset links and artifact records, and every stored file (blob) no other iteration
    refers to (a file shared with a live iteration stays). Only deleted iterations (or those
    of a deleted experiment) are purged: a live one raises ``InvalidInput`` unless ``force``;
    an unknown id raises ``NotFound`` before anything is removed. This cannot be undone.

    Returns the counts ``{"iterations", "experiments", "points", "artifacts", "blobs",
    "kept"}``; ``kept`` names iterations left in place because a registered model version
    uses their files (delete the version first)."""
    if isinstance(iteration_ids, str):
        raise InvalidInput(
            "iteration_ids must be a list of ids, not one string: "
            f"purge_iterations([{iteration_ids!r}])"
        )
    ids = [check_id(i, "iteration_id") for i in iteration_ids]
    store = _store()
    return store.purge_iterations(ids, force=force, artifacts=_artifact_store(store)).to_dict()


def purge_experiment(experiment_id: str, force: bool = False) -> dict[str, Any]:
    """Remove a deleted experiment for good, with all its iterations and what they logged
    (as :func:`purge_iterations`: rows, metric points, artifact records and the files nothing
    else refers to). Only a deleted experiment is purged: a live one raises ``InvalidInput``
    unless ``force``. While a registered model version uses one of its iterations, the
    experiment and that iteration stay (named in ``kept``). This cannot be undone."""
    check_id(experiment_id, "experiment_id")
    store = _store()
    return store.purge_experiment(
        experiment_id, force=force, artifacts=_artifact_store(store)
    ).to_dict()
