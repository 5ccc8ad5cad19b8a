"""The downsampling of :mod:`.series` done on a series already read whole: the same buckets and
the same points, for a series only a few times longer than the chart (a chart of 100 curves of
1,000 steps at 500 points), where reading every point in bulk and picking in memory costs less
than the SQL statement's index scans and lookups per bucket.

Each bucket is a slice of the columns (found by bisection of the steps, or by position), its
lowest and highest value and their first positions found by the array's own ``min``, ``max``
and ``index`` (a bucket with NaN is walked point by point, NaN being no value).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

from mlops.series import MetricColumns
from mlops.store.sql.series import bucket_count

__all__ = ["downsample_whole"]


def _picks(values: array[float], start: int, stop: int, into: set[int]) -> None:
    """Add the first positions of the lowest and highest value of ``values[start:stop]`` and
    of its first NaN."""
    part = values[start:stop]
    if not part:
        return
    if part == part:  # no NaN: arrays compare element by element, and NaN != NaN
        into.add(start + part.index(min(part)))
        into.add(start + part.index(max(part)))
        return
    low = high = None
    gap = False
    for k in range(start, stop):
        value = values[k]
        if value != value:
            if not gap:
                into.add(k)
                gap = True
            continue
        if low is None or value < values[low]:
            low = k
        if high is None or value > values[high]:
            high = k
    into.update(k for k in (low, high) if k is not None)


def downsample_whole(columns: MetricColumns, max_points: int) -> MetricColumns:
    """The chart's points of a whole series longer than ``max_points``: buckets of equal widths
    of steps, or of equal counts of points when some step holds several values, each giving the
    first point of its lowest value, of its highest value and of its first NaN; the first and
    the last point always (what :func:`mlops.store.sql.series.downsample` gives)."""
    steps, values = columns.steps, columns.values
    total = len(steps)
    if total <= max_points:
        return columns
    buckets = bucket_count(max_points, values != values)
    picked = {0, total - 1}
    if len(set(steps)) < total:  # several values at some step
        width = -(-total // buckets)
        for start in range(0, total, width):
            _picks(values, start, min(start + width, total), picked)
    else:
        low, high = steps[0], steps[-1]
        width = -(-(high - low + 1) // buckets)
        start = 0
        for first in range(low, high + 1, width):
            stop = bisect_left(steps, first + width, start)
            _picks(values, start, stop, picked)
            start = stop
    order = sorted(picked)
    return MetricColumns(
        array("q", [steps[k] for k in order]),
        array("d", [values[k] for k in order]),
        array("d", [columns.timestamps[k] for k in order]),
    )
