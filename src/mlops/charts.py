"""What the experiment page's charts of many iterations read: the chosen parameters and final
metric values of an experiment's filtered iterations, in columns (parallel coordinates and
scatter; ``POST /api/v1/experiments/{id}/points``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import InvalidInput
from mlops.values import check_name

__all__ = ["MAX_CHART_ITERATIONS", "MAX_CHART_NAMES", "IterationValues", "check_value_request"]

#: Iterations one answer carries at most (parallel coordinates draws up to this many lines).
MAX_CHART_ITERATIONS = 10_000
#: Names of parameters plus metrics one request may ask for.
MAX_CHART_NAMES = 50


@dataclass(frozen=True, slots=True)
class IterationValues:
    """Filtered iterations of an experiment in columns: the k-th entry of each list belongs to
    the k-th iteration of ``ids`` (None where it has no such parameter or metric; a metric is
    its last value, NaN included); ``more`` says whether iterations past the limit match too."""

    ids: list[str]
    names: list[str]
    parameters: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, list[float | None]] = field(default_factory=dict)
    more: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "names": self.names,
            "parameters": self.parameters,
            "metrics": self.metrics,
            "more": self.more,
        }


def check_value_request(
    limit: int, parameter_names: Sequence[str], metric_names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The parameter and metric names of a request for :class:`IterationValues`, each once, in
    the order given; ``InvalidInput`` naming what to fix for a bad limit, too many names or a
    bad name."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInput(f"limit must be a whole number, got {limit!r:.100}")
    if not 1 <= limit <= MAX_CHART_ITERATIONS:
        raise InvalidInput(f"limit must be between 1 and {MAX_CHART_ITERATIONS}, got {limit}")
    wanted = []
    for what, names in (("parameter", parameter_names), ("metric", metric_names)):
        if isinstance(names, str):
            raise InvalidInput(f"{what} names must be a list, not the string {names!r:.100}")
        for name in names:
            check_name(name, f"{what} name")
        wanted.append(list(dict.fromkeys(names)))
    parameters, metrics = wanted
    if len(parameters) + len(metrics) > MAX_CHART_NAMES:
        raise InvalidInput(
            f"at most {MAX_CHART_NAMES} parameters and metrics at once, got "
            f"{len(parameters) + len(metrics)}: ask for fewer"
        )
    return parameters, metrics
