"""Per-metric summaries of a batch of points, shared by the SQL store and the HTTP client."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlops.store.base import MetricRow


@dataclass(slots=True)
class BatchSummary:
    """One metric of a batch: its last value (at its highest step, the latest there), min and
    max (NaN ignored, as None), and whether it only appends: its steps strictly increase, so
    the batch replaces none of its own points, and ``first_step`` tells whether it replaces a
    stored one. ``ordered``: its steps never decrease (with ``every_value`` a batch whose
    steps repeat still only appends)."""

    name: str
    last: float | None
    last_step: int
    min: float | None
    max: float | None
    first_step: int
    increasing: bool = True
    ordered: bool = True


def summarize_batch(metrics: Sequence[MetricRow]) -> list[BatchSummary]:
    """The summary of each metric of a batch, in one pass over its points."""
    acc: dict[str, BatchSummary] = {}
    for name, step, value, _ts in metrics:
        stored = None if math.isnan(value) else float(value)
        entry = acc.get(name)
        if entry is None:
            acc[name] = BatchSummary(name, stored, step, stored, stored, step)
            continue
        if step > entry.last_step:
            entry.last, entry.last_step = stored, step
        else:  # out of order or the same step twice: the batch alone cannot tell the summary
            entry.increasing = False
            entry.ordered = entry.ordered and step == entry.last_step
            if step == entry.last_step:
                entry.last = stored
            entry.first_step = min(entry.first_step, step)
        if stored is not None:
            if entry.min is None or stored < entry.min:
                entry.min = stored
            if entry.max is None or stored > entry.max:
                entry.max = stored
    return list(acc.values())


def summarize(
    iteration_id: str, metrics: Sequence[MetricRow]
) -> list[tuple[str, str, float | None, int, float | None, float | None]]:
    """Per metric of a batch: (iteration, name, last, last_step, min, max); NaN as None."""
    return [
        (iteration_id, s.name, s.last, s.last_step, s.min, s.max) for s in summarize_batch(metrics)
    ]
