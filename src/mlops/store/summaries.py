"""Per-metric summaries of a batch of points, shared by the SQL store and the HTTP client."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlops.store.base import MetricRow


def summarize(
    iteration_id: str, metrics: Sequence[MetricRow]
) -> list[tuple[str, str, float | None, int, float | None, float | None]]:
    """Per metric of a batch: (iteration, name, last, last_step, min, max); NaN as None."""
    acc: dict[str, list[Any]] = {}
    for name, step, value, _ts in metrics:
        stored = None if math.isnan(value) else value
        entry = acc.get(name)
        if entry is None:
            acc[name] = [stored, step, stored, stored]
            continue
        if step >= entry[1]:
            entry[0], entry[1] = stored, step
        if stored is not None:
            if entry[2] is None or stored < entry[2]:
                entry[2] = stored
            if entry[3] is None or stored > entry[3]:
                entry[3] = stored
    return [(iteration_id, name, e[0], e[1], e[2], e[3]) for name, e in acc.items()]
