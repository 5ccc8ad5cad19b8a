"""The shapes of the App's answers about groups of iterations, declared for OpenAPI (as
:mod:`mlops.app.schemas` does for the rest: descriptions only, routes answer plain dicts)."""

from __future__ import annotations

from typing import Any

from mlops.app.schemas import MetricValue, _Shape

__all__ = ["GroupCurveOut", "GroupSeriesOut", "IterationGroupOut", "IterationGroupsOut"]


class MetricSpreadOut(_Shape):
    """Mean, standard deviation (null below two values), min and max of one metric over the
    ``count`` iterations of a group with a value of it."""

    count: int
    mean: MetricValue | None
    std: MetricValue | None
    min: MetricValue | None
    max: MetricValue | None


class IterationGroupOut(_Shape):
    """One group (:meth:`mlops.groups.IterationGroup.to_dict`): ``key`` (null where
    ``missing``), ``count``, ``metrics``, the first ``iteration_ids``; the "others" group has
    ``others`` true and gathers ``groups`` groups."""

    key: list[Any]
    missing: list[bool]
    count: int
    metrics: dict[str, MetricSpreadOut]
    iteration_ids: list[str]
    others: bool
    groups: int


class IterationGroupsOut(_Shape):
    """The groups of an experiment's iterations, in order ("others" last)."""

    group_by: list[str]
    metrics: list[str]
    order: str
    groups: list[IterationGroupOut]
    total: int
    group_count: int


class GroupCurveOut(_Shape):
    """One group's mean curve: per step, the mean, std, min, max and count of values."""

    key: list[Any]
    missing: list[bool]
    count: int
    others: bool
    groups: int
    steps: list[int]
    mean: list[MetricValue | None]
    std: list[MetricValue | None]
    min: list[MetricValue | None]
    max: list[MetricValue | None]
    counts: list[int]


class GroupSeriesOut(_Shape):
    """The mean curves of one metric, one per group."""

    group_by: list[str]
    metric: str
    curves: list[GroupCurveOut]
    downsampled: bool
