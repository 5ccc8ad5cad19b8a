"""Groups of iterations: the shapes a grouping returns and the rules every backend shares.

A grouping reads ``group_by`` (one or more parameters or tags, written as in the query
language: ``params.config, params.lr, tags.model``; quote a name holding a comma with
backticks: ``params.`a,b```) and answers, per group, the key values, how many iterations it
holds and, for each chosen metric (its final value, as the table shows it), the mean, the
standard deviation (sample, n - 1), the minimum and the maximum. Iterations without a grouping
key form a group of their own whose key is *missing* (not ``null``: a parameter can be
logged as ``None``). Groups beyond the first ``limit`` are gathered into one "others" group.

This module only parses and holds values; the SQL store computes them (store/sql/groups.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import InvalidInput
from mlops.query import Field, parse_order_by
from mlops.wire import decode_float, encode_float

__all__ = [
    "GROUP_ORDERS",
    "MAX_GROUP_KEYS",
    "MAX_GROUP_LIMIT",
    "MAX_GROUP_METRICS",
    "MAX_IDS_PER_GROUP",
    "GroupCurve",
    "GroupOrder",
    "GroupSearch",
    "GroupSeries",
    "IterationGroup",
    "IterationGroups",
    "MetricSpread",
    "field_name",
    "parse_group_by",
    "parse_group_order",
    "spread",
]

#: Keys of one grouping at most.
MAX_GROUP_KEYS = 5
#: Metrics aggregated by one grouping at most.
MAX_GROUP_METRICS = 50
#: Groups listed before the rest is gathered into "others", at most.
MAX_GROUP_LIMIT = 1000
#: Iteration ids given per group (for expanding it), at most.
MAX_IDS_PER_GROUP = 1000
#: What groups can be ordered by.
GROUP_ORDERS = ("count", "mean", "min", "max")


def field_name(found: Field) -> str:
    """``params.NAME`` / ``tags.NAME`` of a grouping key, the name quoted when needed."""
    prefix = "params" if found.kind == "param" else "tags"
    return f"{prefix}.{_quoted(found.name)}"


_BARE = re.compile(r"[^\W\d]\w*")
_WORDS = ("and", "or", "not", "in", "like", "true", "false", "null", "asc", "desc")


def _quoted(name: str) -> str:
    if all(_BARE.fullmatch(part) and part.lower() not in _WORDS for part in name.split(".")):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def parse_group_by(group_by: str | Sequence[str]) -> list[Field]:
    """The grouping keys of ``group_by``: one string of comma-separated fields or a list of them,
    each ``params.NAME`` or ``tags.NAME``. Raises ``InvalidInput`` naming the bad key."""
    if isinstance(group_by, str):
        specs = [group_by]
    elif isinstance(group_by, Sequence):
        specs = list(group_by)
    else:
        raise InvalidInput(f"group_by is a string or a list of them, not {type(group_by).__name__}")
    fields: list[Field] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise InvalidInput(f"a group_by key is a string, not {type(spec).__name__}")
        if not spec.strip():
            continue
        try:
            terms = parse_order_by(spec)
        except InvalidInput as exc:
            raise InvalidInput(f"group_by {spec!r:.200} does not parse: {exc}") from None
        for term in terms:
            if term.field.kind not in ("param", "tag") or term.descending:
                raise InvalidInput(
                    f"group_by {spec!r:.200}: group by parameters or tags "
                    "(params.lr, tags.model), with no sort direction"
                )
            if term.field not in fields:
                fields.append(term.field)
    if not fields:
        raise InvalidInput("group_by names no key: give one such as params.lr or tags.model")
    if len(fields) > MAX_GROUP_KEYS:
        raise InvalidInput(f"group_by has {len(fields)} keys; at most {MAX_GROUP_KEYS}")
    return fields


@dataclass(frozen=True, slots=True)
class GroupOrder:
    """How groups are ordered: by ``count`` (iterations) or by the ``mean``, ``min`` or ``max``
    of ``metric``; ``descending`` (the default for count)."""

    by: str = "count"
    metric: str | None = None
    descending: bool = True

    def text(self) -> str:
        """The order as :func:`parse_group_order` reads it."""
        direction = "desc" if self.descending else "asc"
        if self.metric is None:
            return f"count {direction}"
        return f"{self.by}(metrics.{_quoted(self.metric)}) {direction}"


_ORDER = re.compile(r"^\s*(count|mean|min|max)\s*(?:\((.*)\))?\s*(asc|desc)?\s*$", re.I | re.S)


def parse_group_order(order: str | None) -> GroupOrder:
    """``count desc`` (the default), ``count asc``, ``mean(metrics.acc) desc``,
    ``min(metrics.loss)``, ``max(metrics.acc) desc`` (a metric alone, ``metrics.acc desc``,
    is its mean). Raises ``InvalidInput`` with the forms allowed."""
    if order is None or not order.strip():
        return GroupOrder()
    if not isinstance(order, str):
        raise InvalidInput(f"a group order is a string, not {type(order).__name__}")
    hint = "order groups by count, mean(metrics.NAME), min(metrics.NAME) or max(...), asc/desc"
    found = _ORDER.match(order)
    if found is None:
        try:
            terms = parse_order_by(order)
        except InvalidInput:
            raise InvalidInput(f"group order {order!r:.200} does not parse: {hint}") from None
        if len(terms) != 1 or terms[0].field.kind != "metric":
            raise InvalidInput(f"group order {order!r:.200}: {hint}")
        term = terms[0]
        by = "mean" if term.field.agg == "last" else str(term.field.agg)
        return GroupOrder(by, term.field.name, term.descending)
    by, inner, direction = found.group(1).lower(), found.group(2), found.group(3)
    descending = direction is None or direction.lower() == "desc"
    if by == "count":
        if inner is not None:
            raise InvalidInput(f"group order {order!r:.200}: count takes no metric ({hint})")
        return GroupOrder("count", None, descending)
    if inner is None:
        raise InvalidInput(f"group order {order!r:.200}: {by} needs a metric ({hint})")
    try:
        terms = parse_order_by(inner)
    except InvalidInput:
        raise InvalidInput(f"group order {order!r:.200} does not parse: {hint}") from None
    if len(terms) != 1 or terms[0].field.kind != "metric" or terms[0].field.agg != "last":
        raise InvalidInput(f"group order {order!r:.200}: {hint}")
    return GroupOrder(by, terms[0].field.name, descending)


def spread(
    count: int, total: float | None, squares: float | None, low: Any, high: Any, ref: float
) -> MetricSpread:
    """The spread of ``count`` values from their sums shifted by ``ref`` (the sums of
    ``value - ref`` and of its square: shifting keeps the variance exact to many digits when
    the values are far from 0 and close together)."""
    if count == 0 or total is None:
        return MetricSpread(count, None, None, _num(low), _num(high))
    mean = ref + total / count
    std = None
    if count > 1 and squares is not None:
        variance = (squares - total * total / count) / (count - 1)
        std = math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else None
    return MetricSpread(count, mean if math.isfinite(mean) else None, std, _num(low), _num(high))


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _floats(value: float | None) -> float | str | None:
    return None if value is None else encode_float(value)


@dataclass(frozen=True, slots=True)
class MetricSpread:
    """Mean, standard deviation (None for fewer than two values), min and max of one metric
    over the ``count`` iterations of a group that have a value of it (NaN values left out)."""

    count: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": _floats(self.mean),
            "std": _floats(self.std),
            "min": _floats(self.min),
            "max": _floats(self.max),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSpread:
        return cls(
            int(data["count"]),
            decode_float(data.get("mean")),
            decode_float(data.get("std")),
            decode_float(data.get("min")),
            decode_float(data.get("max")),
        )


@dataclass(frozen=True, slots=True)
class IterationGroup:
    """One group: ``key`` holds the value of each grouping key (None where ``missing`` is
    True: the iterations have no such parameter or tag), ``count`` its iterations, ``metrics``
    the spread of each chosen metric, ``iteration_ids`` the first of its iterations (newest
    first, capped). The "others" group (``others`` True) gathers ``groups`` groups; its key is
    empty and it lists no ids."""

    key: tuple[Any, ...]
    missing: tuple[bool, ...]
    count: int
    metrics: dict[str, MetricSpread] = field(default_factory=dict)
    iteration_ids: tuple[str, ...] = ()
    others: bool = False
    groups: int = 1

    def label(self, names: Sequence[str]) -> str:
        """A short text naming the group: ``lr=0.1 · model=rf`` (``(missing)`` for none)."""
        if self.others:
            return f"others ({self.groups} groups)"
        parts = []
        for name, value, missing in zip(names, self.key, self.missing, strict=True):
            short = name.split(".", 1)[1]
            parts.append(f"{short}=(missing)" if missing else f"{short}={_show(value)}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "missing": list(self.missing),
            "count": self.count,
            "metrics": {name: s.to_dict() for name, s in self.metrics.items()},
            "iteration_ids": list(self.iteration_ids),
            "others": self.others,
            "groups": self.groups,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IterationGroup:
        return cls(
            tuple(data["key"]),
            tuple(bool(m) for m in data["missing"]),
            int(data["count"]),
            {n: MetricSpread.from_dict(s) for n, s in data["metrics"].items()},
            tuple(data["iteration_ids"]),
            bool(data["others"]),
            int(data["groups"]),
        )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class IterationGroups:
    """The answer of a grouping: the keys (``group_by`` as ``params.NAME``/``tags.NAME``), the
    metrics aggregated, the groups in order (the "others" group last, when there is one),
    ``total`` iterations matched and ``group_count`` distinct groups (before gathering)."""

    group_by: tuple[str, ...]
    metrics: tuple[str, ...]
    order: str
    groups: list[IterationGroup]
    total: int
    group_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_by": list(self.group_by),
            "metrics": list(self.metrics),
            "order": self.order,
            "groups": [g.to_dict() for g in self.groups],
            "total": self.total,
            "group_count": self.group_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IterationGroups:
        return cls(
            tuple(data["group_by"]),
            tuple(data["metrics"]),
            str(data["order"]),
            [IterationGroup.from_dict(g) for g in data["groups"]],
            int(data["total"]),
            int(data["group_count"]),
        )


@dataclass(frozen=True, slots=True)
class GroupCurve:
    """One group's curve of a metric: at each of ``steps`` (the last step of a bucket of steps
    when downsampled) the mean across the group's iterations, the standard deviation (None with
    a single iteration), the min, the max, and how many iterations had a value there."""

    group: IterationGroup
    steps: list[int]
    mean: list[float | None]
    std: list[float | None]
    min: list[float | None]
    max: list[float | None]
    counts: list[int]

    def to_dict(self) -> dict[str, Any]:
        group = self.group.to_dict()
        return {
            "key": group["key"],
            "missing": group["missing"],
            "count": group["count"],
            "others": group["others"],
            "groups": group["groups"],
            "steps": self.steps,
            **{
                name: [_floats(v) for v in values]
                for name, values in (
                    ("mean", self.mean),
                    ("std", self.std),
                    ("min", self.min),
                    ("max", self.max),
                )
            },
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupCurve:
        group = IterationGroup(
            tuple(data["key"]),
            tuple(bool(m) for m in data["missing"]),
            int(data["count"]),
            others=bool(data["others"]),
            groups=int(data["groups"]),
        )
        mean, std, low, high = (
            [decode_float(v) for v in data[name]] for name in ("mean", "std", "min", "max")
        )
        steps = [int(s) for s in data["steps"]]
        return cls(group, steps, mean, std, low, high, [int(c) for c in data["counts"]])


@dataclass(frozen=True, slots=True)
class GroupSeries:
    """The mean curves of one metric, one per group (in the grouping's order, "others" last),
    each at most ``max_points`` points; ``downsampled`` when steps were gathered into buckets."""

    group_by: tuple[str, ...]
    metric: str
    curves: list[GroupCurve]
    downsampled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_by": list(self.group_by),
            "metric": self.metric,
            "curves": [c.to_dict() for c in self.curves],
            "downsampled": self.downsampled,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupSeries:
        return cls(
            tuple(data["group_by"]),
            str(data["metric"]),
            [GroupCurve.from_dict(c) for c in data["curves"]],
            bool(data["downsampled"]),
        )


@dataclass
class GroupSearch:
    """Body of ``POST /experiments/{experiment_id}/groups`` (the arguments of
    :meth:`mlops.store.base.Store.group_iterations`)."""

    group_by: list[str] | str
    filter: str | None = None
    metrics: list[str] = field(default_factory=list)
    order: str | None = None
    limit: int = 20
    ids_per_group: int = 100
