"""MLflow's records as mlops values: what an MLflow run becomes, checked against mlops' limits.

Whatever mlops cannot keep (a metric value at a negative step, a name over 250 characters) is
left out here and reported through ``problem``: never dropped silently.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Sequence

from mlops.errors import InvalidInput
from mlops.importers._records import MlflowDataset, MlflowExperiment, MlflowRun, RunData
from mlops.store.base import MetricRow
from mlops.values import MAX_NAME, MAX_STEP, MAX_TIMESTAMP, check_name, check_parameter

__all__ = [
    "ENDED",
    "Prepared",
    "choose_experiments",
    "dataset_path",
    "describe",
    "first_time",
    "is_default",
    "metric_rows",
    "seconds",
    "valid_name",
    "valid_tags",
]

#: What MLflow's ended statuses become; RUNNING and SCHEDULED stay running.
ENDED = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}

Problem = Callable[[str], None]


class Prepared:
    """One run as mlops values: status and end, parameters, tags, metric rows."""

    __slots__ = ("ended_at", "every_value", "parameters", "rows", "status", "tags")

    def __init__(
        self, run: MlflowRun, data: RunData, started: float, problem: Problem, check: bool = True
    ) -> None:
        """``check=False`` keeps the metric rows as read (the store's own check refuses a
        batch with a point it cannot keep; the caller then prepares the run again, checked)."""
        what = describe(run)
        if check:  # else the caller reports them once the run is written
            for message in data.problems:
                problem(f"{what}: {message}")
        self.rows = metric_rows(data, what, problem) if check else data.metrics
        self.parameters = valid_params(data.params, what, problem) if check else data.params
        self.tags = valid_tags(data.tags, what, problem) if check else data.tags
        self.status = ENDED.get(run.status)
        last = max((r[3] for r in self.rows), default=started)
        self.ended_at = max(seconds(run.end_ms) or last, started)
        self.every_value = repeats_a_step(self.rows)


def repeats_a_step(rows: list[MetricRow]) -> bool:
    """Whether a metric has several values at one step (rows sorted by name and step), which
    takes ``every_value``. Two neighbours with the same step are rare: the C-level look for
    them comes first, the exact one (same name too) only then."""
    steps = [r[1] for r in rows]
    if not any(map(operator.eq, steps, steps[1:])):
        return False
    return any(a[1] == b[1] and a[0] == b[0] for a, b in itertools.pairwise(rows))


def describe(run: MlflowRun) -> str:
    return f"run {run.id}" + (f" ({run.name})" if run.name else "")


def metric_rows(data: RunData, what: str, problem: Problem) -> list[MetricRow]:
    """The reader's rows without the points mlops cannot keep (a negative step, a time
    before 1970, a name over 250 characters), which are counted per metric and listed."""
    rows: list[MetricRow] = []
    bad: dict[str, int] = {}
    for key, step, value, ts in data.metrics:
        if valid_name(key) and 0 <= step <= MAX_STEP and 0 <= ts <= MAX_TIMESTAMP:
            rows.append((key, step, value, ts))
        else:
            bad[key] = bad.get(key, 0) + 1
    for key, count in bad.items():
        why = (
            "a name mlops cannot keep (empty, NUL or over 250 characters)"
            if not valid_name(key)
            else "a negative step or a timestamp before 1970"
        )
        problem(f"{what}: metric {key[:80]!r}: {count} value(s) not copied: {why}")
    return rows


def valid_params(params: dict[str, str], what: str, problem: Problem) -> dict[str, str]:
    """The params mlops can keep (as the strings MLflow kept)."""
    kept = {}
    for key, value in params.items():
        try:
            check_name(key, "parameter name")
            kept[key] = check_parameter(key, value)
        except InvalidInput as exc:
            problem(f"{what}: parameter {key[:80]!r} not copied: {exc}")
    return kept


def valid_tags(tags: dict[str, str], what: str, problem: Problem) -> dict[str, str]:
    """The tags mlops can keep."""
    kept = {}
    for key, value in tags.items():
        if valid_name(key) and "\x00" not in value:
            kept[key] = value
        else:
            problem(f"{what}: tag {key[:80]!r} not copied (a name over 250 characters or a NUL)")
    return kept


def dataset_path(source: MlflowDataset) -> str:
    """Where the data is, from MLflow's dataset source JSON (``{"uri": ...}``)."""
    try:
        parsed = json.loads(source.source)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("uri", "url", "path", "table_name", "location"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return str(parsed[key])
    return source.source or f"mlflow:{source.source_type or 'dataset'}:{source.name}"


def valid_name(name: str) -> bool:
    """Whether mlops keeps this as a name (1 to 250 characters, no NUL)."""
    return bool(name.strip()) and len(name) <= MAX_NAME and "\x00" not in name


def first_time(data: RunData | None) -> float | None:
    """The earliest metric time of a run that has no start time."""
    times = [m[3] for m in data.metrics] if data is not None else []
    return min(times) if times else None


def seconds(ms: int | None) -> float | None:
    """MLflow's epoch milliseconds as epoch seconds (None for none or 0)."""
    return None if ms is None or ms <= 0 else ms / 1000.0


def choose_experiments(
    found: list[MlflowExperiment], wanted: Sequence[str] | None
) -> list[MlflowExperiment]:
    """The experiments picked by name or id (all when none is); ``InvalidInput`` for one the
    source does not have."""
    if not wanted:
        return found
    chosen = []
    for given in wanted:
        match = next((e for e in found if given in (e.id, e.name)), None)
        if match is None:
            names = ", ".join(repr(e.name) for e in found[:20]) or "none"
            raise InvalidInput(
                f"the MLflow source has no experiment named or numbered {given!r} (it has {names})"
            )
        if match not in chosen:
            chosen.append(match)
    return chosen


def is_default(experiment: MlflowExperiment, wanted: Sequence[str] | None) -> bool:
    """MLflow's own Default experiment, not asked for by name."""
    return experiment.id == "0" and experiment.name == "Default" and not wanted
