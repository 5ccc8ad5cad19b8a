"""Downsampling long metric series for charts, keeping what the eye must not miss.

A series of ``n`` points becomes at most ``max_points``: the steps are cut into buckets and
each bucket keeps its lowest and its highest point (in step order), so a spike or a dip stays
on the chart however long the run. A NaN in a bucket is kept as one NaN point so the chart
shows a gap there; the first and the last point are always kept.
"""

from __future__ import annotations

import math

from mlops.entities import MetricPoint


def downsample(points: list[MetricPoint], max_points: int) -> list[MetricPoint]:
    """At most ``max_points`` (>= 4) points of ``points`` (sorted by step), min/max per bucket."""
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    if len(points) <= max_points:
        return points
    first, last = points[0], points[-1]
    inner = points[1:-1]
    buckets = max((max_points - 2) // 2, 1)
    size = len(inner) / buckets
    out = [first]
    for b in range(buckets):
        chunk = inner[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        finite = [p for p in chunk if not math.isnan(p.value)]
        if not finite:
            out.append(chunk[0])
            continue
        low = min(finite, key=lambda p: p.value)
        high = max(finite, key=lambda p: p.value)
        keep = sorted({low, high}, key=lambda p: p.step)
        if len(finite) < len(chunk):  # a NaN in the bucket: keep a gap marker
            nan = next(p for p in chunk if math.isnan(p.value))
            keep = sorted([*keep, nan], key=lambda p: p.step)
        out.extend(keep)
    out.append(last)
    return out
