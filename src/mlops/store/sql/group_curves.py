"""The mean curve of each group of an experiment's iterations, in SQL: the groups of
:func:`~mlops.store.sql.groups.find_groups`, each iteration's group found by its key values, then
one statement that averages the groups' metric points per step (sums shifted by a reference, as
for the final values) and buckets the steps down to ``max_points``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Integer, case, cast, func, literal, select, true, tuple_

from mlops.errors import InvalidInput
from mlops.groups import GroupCurve, GroupSeries, parse_group_by
from mlops.store.sql.groups import GroupPlan, as_float, find_groups, references
from mlops.store.sql.iterations import _scoped, live
from mlops.store.sql.models import ITERATIONS, METRIC_POINTS
from mlops.values import check_name

__all__ = ["group_series"]


def group_series(
    conn: Connection,
    experiment_id: str,
    group_by: str | Sequence[str],
    metric: str,
    filter: str | None,
    order: str | None,
    limit: int,
    max_points: int,
    now: float,
) -> GroupSeries:
    """Each group's mean curve of ``metric`` (see :meth:`mlops.store.base.Store.group_series`)."""
    check_name(metric, "metric name")
    if (
        isinstance(max_points, bool)
        or not isinstance(max_points, int)
        or not 2 <= max_points <= 100_000
    ):
        raise InvalidInput(
            f"max_points must be a whole number from 2 to 100000, got {max_points!r}"
        )
    # the groups only (their curves carry no final values): a metric only to order them by
    found, raw_keys = find_groups(conn, experiment_id, group_by, filter, [], order, limit, 0, now)
    plan = GroupPlan(parse_group_by(group_by), [])
    listed = [g for g in found.groups if not g.others]
    index = {key: n for n, key in enumerate(raw_keys)}
    others = len(listed)
    # which group (its position) each iteration of the experiment belongs to
    keys = [*plan.keys, *plan.flags]
    whens = [(tuple_(*keys) == tuple_(*map(literal, key)), literal(n)) for key, n in index.items()]
    position = case(*whens, else_=literal(others)) if whens else literal(others)
    members = select(ITERATIONS.c.id.label("iteration_id"), cast(position, Integer).label("g"))
    members = _scoped(
        members.select_from(plan.source), experiment_id, None, filter, now, live(conn)
    )
    if not any(g.others for g in found.groups):
        if not raw_keys:
            return GroupSeries(found.group_by, metric, [], False)
        members = members.where(tuple_(*keys).in_(raw_keys))
    member = members.cte("members")
    ref = references(conn, experiment_id, [metric])[0]
    p = METRIC_POINTS.c
    shifted = p.value - literal(ref)
    per_step = (
        select(
            member.c.g,
            p.step,
            func.count(p.value).label("n"),
            func.sum(shifted).label("s"),
            func.sum(shifted * shifted).label("q"),
            func.min(p.value).label("lo"),
            func.max(p.value).label("hi"),
        )
        .select_from(member.join(METRIC_POINTS, p.iteration_id == member.c.iteration_id))
        .where(p.name == metric)
        .group_by(member.c.g, p.step)
        .cte("per_step")
    )
    c = per_step.c
    bounds = select(func.min(c.step).label("low"), func.max(c.step).label("high")).cte("bounds")
    span = bounds.c.high - bounds.c.low + 1
    bucket = ((c.step - bounds.c.low) * literal(max_points) // span).label("bucket")
    # the step's variance (no square root in SQL: SQLite may lack it); averaged per bucket
    variance = case(
        (c.n > 1, (c.q - c.s * c.s / c.n) / (c.n - 1)),
    )
    stepped = select(
        c.g, c.step, c.n, (c.s / case((c.n > 0, c.n))).label("mean"), variance.label("var"),
        c.lo, c.hi, bucket,
    ).select_from(per_step.join(bounds, true()))  # fmt: skip
    stepped_sq = stepped.subquery("stepped")
    t = stepped_sq.c
    query = (
        select(
            t.g,
            func.max(t.step),
            func.avg(t.mean),
            func.avg(t.var),
            func.min(t.lo),
            func.max(t.hi),
            func.max(t.n),
            func.count(),
        )
        .group_by(t.g, t.bucket)
        .order_by(t.g, t.bucket)
    )
    curves: dict[int, dict[str, list[Any]]] = {}
    downsampled = False
    for g, step, mean, var, lo, hi, n, steps in conn.execute(query).all():
        curve = curves.setdefault(
            int(g), {k: [] for k in ("steps", "mean", "std", "min", "max", "n")}
        )
        downsampled = downsampled or steps > 1
        curve["steps"].append(int(step))
        curve["mean"].append(None if mean is None else ref + float(mean))
        curve["std"].append(None if var is None else max(float(var), 0.0) ** 0.5)
        curve["min"].append(as_float(lo))
        curve["max"].append(as_float(hi))
        curve["n"].append(int(n))
    out = []
    for n, group in enumerate(found.groups):
        data = curves.get(n if not group.others else others)
        if data is None:
            continue
        out.append(
            GroupCurve(group, data["steps"], data["mean"], data["std"], data["min"], data["max"],
                       data["n"])
        )  # fmt: skip
    return GroupSeries(found.group_by, metric, out, downsampled)
