"""The rules of the domain, in one place that every backend runs.

The SQL store calls these functions inside its write transaction (so the iteration's state it
checks is the state it changes); the HTTP store calls the ones that need no stored state before it
sends or journals anything (input the App would refuse is raised at once, never journaled); the
App runs the SQL store, so a rule breaks the same way embedded, on PostgreSQL and over HTTP, with
the same error class (:class:`~mlops.errors.InvalidInput`, :class:`~mlops.errors.IterationEnded`).

The life of an iteration:

- it starts ``running``; :meth:`~mlops.store.base.Store.end_iteration` (or ``update_iteration``
  with ``finished``, ``failed`` or ``killed``) ends it. ``crashed`` is never written: readers
  derive it from a ``running`` iteration whose heartbeat stopped.
- an ended iteration refuses batches (``IterationEnded``). A batch that carries nothing but a
  heartbeat is ignored instead: a writer thread racing the end must not fail the run.
- ``update_iteration`` on an ended iteration may change only what ending sets (the ended status,
  ``ended_at``, the error, the model file): no heartbeat, and never ``running`` again.
- ending an ended iteration again with the same status is a harmless retry (the HTTP client
  retries ``end``): it returns the iteration as stored and writes nothing; if the retry carries a
  batch, it must carry the same ``ended_at`` too (it is then the same request, already written).
  Another status raises ``IterationEnded``.
- only :meth:`~mlops.store.base.Store.resume` reopens an ended iteration.

Every function raises ``InvalidInput`` (a bad value) or ``IterationEnded`` (a write to an ended
iteration) with a message naming the field and the fix, and returns None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlops.entities import ModelFile, iso
from mlops.errors import InvalidInput, IterationEnded
from mlops.values import (
    INT64_MAX,
    INT64_MIN,
    MAX_NAME,
    MAX_STEP,
    MAX_TIMESTAMP,
    check_int,
    check_name,
    check_optional_text,
    check_parameter,
    check_step,
    check_timestamp,
    is_json_data,
)

__all__ = [
    "ENDED_STATUSES",
    "RUNNING",
    "WRITABLE_STATUSES",
    "check_batch",
    "check_batch_of",
    "check_dataset",
    "check_end",
    "check_end_of",
    "check_experiment",
    "check_iteration",
    "check_page",
    "check_project",
    "check_project_update",
    "check_purge",
    "check_series_batch",
    "check_update",
    "check_update_of",
]

RUNNING = "running"
#: The statuses an iteration ends with.
ENDED_STATUSES = ("finished", "failed", "killed")
#: The statuses a store writes (``crashed`` is derived by readers, never written).
WRITABLE_STATUSES = (RUNNING, *ENDED_STATUSES)
#: Longest client-made iteration id (a UUID with dashes; the library makes 32 hex digits).
MAX_ID = 36
MAX_PROJECT_STATUS = 64
MAX_DIGEST = 71  # "sha256:" and 64 hex digits
MAX_SHA256 = 64
#: The most characters the ``system`` info of an iteration may have as JSON.
MAX_SYSTEM_CHARS = 1_000_000


# -- projects, experiments, datasets ---------------------------------------------------------
def check_project(title: object, description: object, status: object, archived: object) -> None:
    """A new project: a title (1 to 250 characters), optional description text, a status
    (free text such as ``active``, 1 to 64 characters) and ``archived`` as a bool."""
    check_name(title, "project title")
    check_project_update(description, status, archived)
    if status is None:
        raise InvalidInput("project status must be a string such as 'active', got None")


def check_project_update(description: object, status: object, archived: object) -> None:
    """The fields of ``update_project`` (None leaves a field as it is)."""
    check_optional_text(description, "project description")
    if status is not None and len(check_name(status, "project status")) > MAX_PROJECT_STATUS:
        raise InvalidInput(
            f"project status {status!r} is too long: the limit is {MAX_PROJECT_STATUS} characters"
        )
    if archived is not None and not isinstance(archived, bool):
        raise InvalidInput(f"archived must be true or false, got {archived!r}")


def check_experiment(name: object, description: object) -> None:
    """A new experiment: a name (1 to 250 characters) and optional description text."""
    check_name(name, "experiment name")
    check_optional_text(description, "experiment description")


#: What can carry a note, and the longest note (characters).
NOTE_KINDS = ("project", "experiment", "iteration")
MAX_NOTE = 100_000


def check_note(kind: object, text: object) -> None:
    """A note: its owner's kind (``project``, ``experiment``, ``iteration``) and Markdown text
    (an empty text removes the note)."""
    if kind not in NOTE_KINDS:
        raise InvalidInput(f"a note belongs to one of {', '.join(NOTE_KINDS)}; got {kind!r}")
    if not isinstance(text, str):
        raise InvalidInput(f"a note is Markdown text, got {type(text).__name__} {text!r}")
    if len(text) > MAX_NOTE:
        raise InvalidInput(
            f"the note is {len(text)} characters long: the limit is {MAX_NOTE}; "
            "keep long reports as artifacts (tracking.log_artifact) and link them"
        )
    if "\x00" in text:
        raise InvalidInput("a note cannot contain the NUL character (\\x00)")


def check_dataset(
    name: object,
    path: object,
    description: object,
    tags: object,
    version: object,
    digest: object,
    size_bytes: object,
    file_count: object,
) -> None:
    """A dataset version: name, tags and version are names; path is non-empty text; size and
    file count are integers from 0 to 2**63 - 1 (what a database keeps)."""
    check_name(name, "dataset name")
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"dataset path must be a non-empty string, got {path!r}")
    check_optional_text(description, "dataset description")
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise InvalidInput(f"dataset tags must be a list of names, got {tags!r}")
    for tag in tags:
        check_name(tag, "dataset tag")
    if version is not None:
        check_name(version, "dataset version")
    _short_text(digest, "dataset digest", MAX_DIGEST)
    if size_bytes is not None:
        check_int(size_bytes, "dataset size_bytes", 0)
    if file_count is not None:
        check_int(file_count, "dataset file_count", 0)


# -- iterations: what needs no stored state --------------------------------------------------
def check_iteration(iteration_id: object, name: object, started_at: object, system: object) -> None:
    """A new iteration: a client-made id (1 to 36 characters), a name, a start time and the
    ``system`` info as a dict of JSON data."""
    given = check_name(iteration_id, "iteration id")
    if len(given) > MAX_ID or given != given.strip() or "/" in given:
        raise InvalidInput(
            f"iteration id {given!r} must be 1 to {MAX_ID} characters without '/' or "
            "surrounding spaces (the library makes 32 hex digits)"
        )
    check_name(name, "iteration name")
    check_timestamp(started_at, "started_at")
    if not isinstance(system, Mapping):
        raise InvalidInput(f"system must be a dict, got {type(system).__name__}")
    _json_data(dict(system), "system", MAX_SYSTEM_CHARS)


def check_batch(
    parameters: Mapping[str, Any] | None,
    metrics: Sequence[Any] | None,
    dataset_ids: Sequence[str] | None,
    heartbeat_at: float | None,
    tags: Mapping[str, str] | None,
) -> None:
    """One batch of ``log_batch`` / ``end_iteration``: parameter names and values (JSON data,
    bounded in depth and size), metric rows ``(name, step, value, timestamp)`` with steps
    from 0 to 2**63 - 1, dataset ids, a heartbeat time and text tags."""
    for given, what, kind in (
        (parameters, "parameters", Mapping), (tags, "tags", Mapping),
        (metrics, "metrics", Sequence), (dataset_ids, "dataset_ids", Sequence),
    ):  # fmt: skip
        if given is not None and (isinstance(given, str) or not isinstance(given, kind)):
            shape = "a dict of name: value" if kind is Mapping else "a list"
            raise InvalidInput(f"{what} must be {shape}, got {type(given).__name__}")
    for name, value in (parameters or {}).items():
        check_name(name, "parameter name")
        check_parameter(name, value)
    if metrics:
        _check_metrics(metrics)
    for dataset_id in dataset_ids or ():
        if not isinstance(dataset_id, str) or not dataset_id:
            raise InvalidInput(f"dataset id must be a non-empty string, got {dataset_id!r}")
    if heartbeat_at is not None:
        check_timestamp(heartbeat_at, "heartbeat_at")
    _check_tag_values(tags or {})


def _check_tag_values(tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        check_name(key, "tag key")
        if not isinstance(value, str):
            raise InvalidInput(f"tag {key!r} must be text, got {type(value).__name__} {value!r}")
        if "\x00" in value:
            raise InvalidInput(f"tag {key!r} contains a NUL character (\\x00): remove it")


def check_tag_change(tags: object, delete: object) -> None:
    """``set_*_tags``: text tags to set and tag keys to remove (a key may not be in both)."""
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidInput(f"tags must be a dict of key: text, got {type(tags).__name__}")
    if isinstance(delete, str) or not isinstance(delete, Sequence):
        raise InvalidInput(
            f"delete must be a list of tag keys, got {type(delete).__name__} {delete!r:.100}"
        )
    _check_tag_values(tags or {})
    for key in delete:
        check_name(key, "tag key")
        if tags and key in tags:
            raise InvalidInput(f"tag {key!r} is both set and deleted: pick one")


def _check_metrics(metrics: Sequence[Any]) -> None:
    """Every row. A batch may carry 50,000 points: the usual row (a known name, an int step,
    float value and time) costs one combined test; any other row takes the checks that name
    what is wrong."""
    checked: set[str] = set()
    high, latest = MAX_STEP, MAX_TIMESTAMP
    for row in metrics:
        try:
            name, step, value, timestamp = row
        except (TypeError, ValueError):
            raise InvalidInput(
                f"a metric row must be (name, step, value, timestamp), got {row!r}"
            ) from None
        if (
            type(step) is int
            and 0 <= step <= high
            and type(value) is float
            and type(timestamp) is float
            and 0.0 <= timestamp <= latest
            and name in checked
        ):
            continue
        _check_metric_row(name, step, value, timestamp)
        checked.add(name)


def _check_metric_row(name: Any, step: Any, value: Any, timestamp: Any) -> None:
    check_name(name, "metric name")
    check_step(name, step)
    if not isinstance(value, float) and (
        type(value) is not int or not INT64_MIN <= value <= INT64_MAX
    ):
        raise InvalidInput(
            f"metric {name!r} got {value!r} at step {step}: a metric value must be a float"
        )
    check_timestamp(timestamp, f"timestamp of metric {name!r} at step {step}")


def check_update(
    status: str | None,
    ended_at: float | None,
    error: Mapping[str, str] | None,
    model: ModelFile | None,
    heartbeat_at: float | None,
) -> None:
    """The fields of ``update_iteration``: a status of :data:`WRITABLE_STATUSES`, times, an
    error ``{"type", "message"}`` and a model file."""
    if status is not None:
        _check_status(status)
    if ended_at is not None:
        check_timestamp(ended_at, "ended_at")
    if heartbeat_at is not None:
        check_timestamp(heartbeat_at, "heartbeat_at")
    _check_error(error)
    _check_model(model)


def check_end(
    status: str,
    ended_at: float,
    error: Mapping[str, str] | None,
    model: ModelFile | None,
) -> None:
    """The end state of ``end_iteration``: one of :data:`ENDED_STATUSES` and an end time."""
    _check_status(status)
    if status not in ENDED_STATUSES:
        raise InvalidInput(
            f"an iteration ends as one of {', '.join(ENDED_STATUSES)}, not {status!r}"
        )
    check_timestamp(ended_at, "ended_at")
    _check_error(error)
    _check_model(model)


#: Iterations one read of a metric's series (``Store.get_metric_series_batch``) takes at most.
MAX_SERIES_IDS = 1000


def check_series_batch(iteration_ids: object, max_points: object, after_step: object) -> list[str]:
    """The iterations of one read of a metric's series, duplicates dropped (first come first):
    a list of at most :data:`MAX_SERIES_IDS` id strings; ``max_points`` an integer of at least
    4; ``after_step`` None or a 64-bit integer."""
    if isinstance(iteration_ids, str) or not isinstance(iteration_ids, (list, tuple)):
        raise InvalidInput(
            f"iteration ids must be a list of ids, got {type(iteration_ids).__name__}"
        )
    if not all(isinstance(i, str) for i in iteration_ids):
        wrong = next(i for i in iteration_ids if not isinstance(i, str))
        raise InvalidInput(f"an iteration id is a string, got {type(wrong).__name__} {wrong!r:.80}")
    ids = list(dict.fromkeys(iteration_ids))
    if len(ids) > MAX_SERIES_IDS:
        raise InvalidInput(
            f"one read of series takes at most {MAX_SERIES_IDS:,} iterations, got {len(ids):,}: "
            "read them in parts"
        )
    if check_int(max_points, "max_points") < 4:
        raise InvalidInput(f"max_points must be at least 4, got {max_points}")
    if after_step is not None:
        check_int(after_step, "after_step")
    return ids


def check_page(limit: object, offset: object) -> None:
    """``limit`` and ``offset`` of a listing: integers from 0 to 2**63 - 1."""
    check_int(limit, "limit", 0)
    check_int(offset, "offset", 0)


# -- iterations: against the stored state ----------------------------------------------------
def check_batch_of(iteration_id: str, status: str, ended_at: float | None, has_data: bool) -> bool:
    """Whether a batch is written to the iteration as stored (False: a heartbeat alone that
    reached an ended iteration, ignored). Raises ``IterationEnded`` for data after the end."""
    if status == RUNNING:
        return True
    if has_data:
        raise _ended(iteration_id, status, ended_at, "cannot take more data")
    return False


def check_update_of(
    iteration_id: str,
    stored_status: str,
    stored_ended_at: float | None,
    status: str | None,
    ended_at: float | None,
    heartbeat_at: float | None,
) -> None:
    """What ``update_iteration`` may change on the iteration as stored: a running iteration
    anything (but an end time while it stays running); an ended one only its end state."""
    if stored_status == RUNNING:
        if ended_at is not None and status in (None, RUNNING):
            raise InvalidInput(
                f"ended_at given for iteration {iteration_id!r}, which stays running: pass an "
                f"end status ({', '.join(ENDED_STATUSES)}) too, or use end_iteration"
            )
        return
    if status == RUNNING:
        raise _ended(iteration_id, stored_status, stored_ended_at, "cannot become running again")
    if heartbeat_at is not None:
        raise _ended(iteration_id, stored_status, stored_ended_at, "takes no heartbeat")


def check_end_of(
    iteration_id: str,
    stored_status: str,
    stored_ended_at: float | None,
    status: str,
    ended_at: float,
    has_batch: bool,
) -> bool:
    """Whether ``end_iteration`` must write (True: the iteration is running) or is a retry of an
    end that went through (False: return the iteration as stored). Raises ``IterationEnded``
    for another end of an ended iteration."""
    if stored_status == RUNNING:
        return True
    if status != stored_status:
        raise _ended(iteration_id, stored_status, stored_ended_at, f"cannot end as {status!r}")
    if has_batch and ended_at != stored_ended_at:
        raise _ended(iteration_id, stored_status, stored_ended_at, "cannot take more data")
    return False


def _ended(iteration_id: str, status: str, ended_at: float | None, what: str) -> IterationEnded:
    when = f" at {iso(ended_at)}" if ended_at is not None else ""
    return IterationEnded(
        f"iteration {iteration_id!r} ended ({status}{when}) and {what}: reopen it with "
        "store.resume(iteration_id) (tracking.resume_iteration) or start a new iteration"
    )


# -- helpers ---------------------------------------------------------------------------------
def _check_status(status: object) -> None:
    if status not in WRITABLE_STATUSES:
        hint = " (crashed is derived from a stopped heartbeat, never set)" * (status == "crashed")
        raise InvalidInput(f"status {status!r} is not one of {', '.join(WRITABLE_STATUSES)}{hint}")


def _check_error(error: object) -> None:
    if error is None:
        return
    if not isinstance(error, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in error.items()
    ):
        raise InvalidInput(f"error must be a dict {{'type': str, 'message': str}}, got {error!r}")
    _short_text(error.get("type"), "error type", MAX_NAME)


def _check_model(model: object) -> None:
    if model is None:
        return
    if not isinstance(model, ModelFile):
        raise InvalidInput(f"model must be a ModelFile, got {type(model).__name__}")
    if not isinstance(model.path, str) or not model.path:
        raise InvalidInput(f"model path must be a non-empty string, got {model.path!r}")
    if model.size_bytes is not None:
        check_int(model.size_bytes, "model size_bytes", 0)
    _short_text(model.sha256, "model sha256", MAX_SHA256)


def _short_text(value: object, what: str, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if len(value) > limit:
        raise InvalidInput(f"{what} {value[:40]!r}... is too long: the limit is {limit} characters")


def _json_data(value: dict[str, Any], what: str, limit: int) -> None:
    """JSON data of bounded depth and size (the parameter rules, with another size limit)."""
    if not is_json_data(value, what, limit):
        raise InvalidInput(f"{what} must hold only JSON data (str, numbers, lists, dicts)")
    if len(json.dumps(value, ensure_ascii=False, allow_nan=True)) > limit:
        raise InvalidInput(f"{what} is over {limit:,} characters as JSON: send less")


def check_purge(iteration_ids: object, status: object = None) -> None:
    """What a purge is given: a list of iteration ids and, to pick by status, one of
    :data:`WRITABLE_STATUSES`."""
    if isinstance(iteration_ids, str) or not isinstance(iteration_ids, (list, tuple)):
        raise InvalidInput(
            f"iteration ids to purge must be a list of ids, got {type(iteration_ids).__name__}"
        )
    for iteration_id in iteration_ids:
        if not isinstance(iteration_id, str) or not 0 < len(iteration_id) <= MAX_ID:
            raise InvalidInput(
                f"an iteration id is 1 to {MAX_ID} characters, got {iteration_id!r:.80}"
            )
    if status is not None and status not in WRITABLE_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(WRITABLE_STATUSES)}, not {status!r:.80}"
        )
