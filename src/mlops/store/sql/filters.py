"""Compile the query language of :mod:`mlops.query` to SQLAlchemy Core over the store's tables.

Everything is bound parameters and portable SQL (SQLite and PostgreSQL). Typical use::

    node = parse_filter(text)
    plan = order_clauses(parse_order_by(order_by), now)
    stmt = select(iterations)
    cond = where_clause(node, now)
    if cond is not None:
        stmt = stmt.where(cond)
    stmt = plan.apply(stmt).limit(limit).offset(offset)   # outer joins, then ORDER BY

Semantics (the same as :mod:`mlops.query` documents): a condition on a parameter, a metric or a
dataset is ``EXISTS`` "a row of that iteration such that ...", so ``params.x != 5`` needs x
and ``not params.x = 5`` also keeps iterations without x. Every condition is two-valued (never
SQL NULL), so ``not`` is an exact complement. ``status`` is the status readers show: a running
iteration whose heartbeat is older than ``HEARTBEAT_TIMEOUT`` is ``crashed``.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import and_, case, literal, literal_column, not_, or_, select
from sqlalchemy.sql import ColumnElement, FromClause, Select

from mlops.entities import HEARTBEAT_TIMEOUT
from mlops.errors import InvalidInput
from mlops.query import MAX_ORDER_TERMS, And, Field, In, Node, Not, Or, OrderTerm, Value
from mlops.store.sql.models import DATASETS as datasets
from mlops.store.sql.models import ITERATION_DATASETS as iteration_datasets
from mlops.store.sql.models import ITERATION_TAGS as iteration_tags
from mlops.store.sql.models import ITERATIONS as iterations
from mlops.store.sql.models import METRIC_SUMMARIES as metric_summaries
from mlops.store.sql.models import PARAMETERS as parameters

__all__ = [
    "PAGE_RANGE_LIMIT", "RANGE_LIMIT", "OrderPlan", "Probe", "order_clauses", "where_clause",
]  # fmt: skip

#: A metric condition inside an experiment with fewer matches than this in the summaries'
#: per-experiment index is read as that range (the list of matching ids: cheap to make, and the
#: best start for a rare value); with more, it is checked iteration by iteration (``EXISTS`` on
#: the primary key), so that a read that can stop early (a page, a capped count) does: the list
#: of 500,000 ids a filter like ``metrics.acc > 0.5`` matches at 1,000,000 iterations takes
#: SQLite 3 s to make before the first row, the page by ``EXISTS`` 3 ms. A capped count checks
#: per row only a filter that is one metric condition: with a second one (``params.opt =
#: "adam" and metrics.loss < 0.5``, 1 iteration in 8) it would check 80,000 iterations twice to
#: find 10,000, slower than making the list of 50,000 (411 against 168 ms for the page at
#: 100,000 iterations). The probe itself reads up to this many index entries (a few ms; 150 ms
#: for 100,000 in a 7 GB file).
RANGE_LIMIT = 20_000
#: The same for a page (it stops after its ``limit`` matches): a list of 5,000 ids costs a
#: page of a 10,000-iteration experiment 15 of its 25 ms, the walk by ``EXISTS`` 10 ms in all.
PAGE_RANGE_LIMIT = 2_000


@dataclass(frozen=True)
class Probe:
    """How a read that can stop early lets :func:`where_clause` see whether a metric
    condition's range is short: ``count`` counts the rows of a query (at most its LIMIT)."""

    count: Callable[[Select[Any]], int]
    limit: int = RANGE_LIMIT

    def short(self, range_: Select[Any]) -> bool:
        """Whether ``range_`` holds fewer than ``limit`` rows."""
        return self.count(range_.limit(self.limit)) < self.limit


Cond = ColumnElement[bool]
_S = TypeVar("_S", bound="Select[Any]")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NULLABLE_ATTRS = ("ended_at", "duration")
# Constant sort keys and EXISTS select lists (never user input) stay literal: PostgreSQL cannot
# always infer the type of a bound parameter in ORDER BY CASE or a bare SELECT list.
_ZERO: ColumnElement[int] = literal_column("0")
_ONE: ColumnElement[int] = literal_column("1")
# PostgreSQL turns each EXISTS under a top-level AND into a semi-join and weighs the orders of
# all of them: that finds the cheap plans (start from an index on a rare value), but planning
# grows steeply (200 conditions: 94 s). The first _JOINABLE conditions of a filter stay
# joinable; later ones are fenced (OFFSET 0) and checked per row on the (iteration_id, name)
# primary key, so planning stays flat (100 conditions: 40 ms).
_JOINABLE = 8


class OrderPlan(NamedTuple):
    """What ``order_clauses`` returns: LEFT OUTER JOINs (target, ON clause) to add to a
    ``select(iterations)`` and the ORDER BY elements, in order (ending with ``iterations.id``)."""

    joins: list[tuple[FromClause, Cond]]
    order_by: list[ColumnElement[Any]]

    def apply(self, stmt: _S) -> _S:
        """``stmt`` with the outer joins added and ordered by the terms."""
        for target, onclause in self.joins:
            stmt = stmt.outerjoin(target, onclause)
        return stmt.order_by(*self.order_by)


def where_clause(
    node: Node | None, now: float, experiment_id: str | None = None, probe: Probe | None = None
) -> Cond | None:
    """The WHERE condition over ``iterations`` for a parsed filter (None for no filter).

    ``now`` (epoch seconds) decides which running iterations count as crashed. With
    ``experiment_id`` (the search is inside one experiment) a metric condition reads the
    summaries' per-experiment index as a range instead of probing every iteration; with
    ``probe`` too (a read that can stop early), only when that range holds fewer than
    ``probe.limit`` matches. Raises ``InvalidInput`` for a comparison that makes no sense
    (e.g. a metric against a string).
    """
    if node is None:
        return None
    return _condition(node, now, experiment_id, itertools.count(), probe)


def order_clauses(terms: list[OrderTerm], now: float | None = None) -> OrderPlan:
    """The joins and ORDER BY elements for parsed order terms (see :class:`OrderPlan`).

    Use: ``stmt = order_clauses(terms, now).apply(select(iterations).where(...))``; or add
    ``stmt = stmt.outerjoin(target, onclause)`` for each of ``plan.joins`` and then
    ``stmt.order_by(*plan.order_by)``. Each metric/param/tag sorted by joins one alias of
    ``metric_summaries``/``parameters``/``iteration_tags`` on its primary key (one row per
    iteration at most, so paging is exact), shared by ``metrics.x`` and ``min(metrics.x)``; a
    term repeating an earlier field is left out (it could not break a tie). Iterations without
    the metric or parameter (or with a NaN metric) come last in both directions; parameters sort
    numbers first, then strings, then other JSON values; ``status`` sorts by the shown status
    (``now`` defaults to the current time); ``iterations.id`` breaks ties so that pages are
    stable. More than ``MAX_ORDER_TERMS`` terms is ``InvalidInput``.
    """
    if len(terms) > MAX_ORDER_TERMS:
        raise InvalidInput(f"An order_by has at most {MAX_ORDER_TERMS} keys, not {len(terms)}.")
    now = time.time() if now is None else now
    joins: list[tuple[FromClause, Cond]] = []
    keys: list[ColumnElement[Any]] = []
    aliases: dict[tuple[str, str], FromClause] = {}

    def joined(table: FromClause, key: str, field: Field) -> FromClause:
        found = aliases.get((field.kind, field.name))
        if found is None:
            found = aliases[field.kind, field.name] = table.alias(f"order_{len(aliases)}")
            on = and_(found.c.iteration_id == iterations.c.id, found.c[key] == field.name)
            joins.append((found, on))
        return found

    seen: set[Field] = set()
    for term in terms:
        field = term.field
        if field in seen:
            continue
        seen.add(field)
        sort_keys: list[ColumnElement[Any]] = []
        if field.kind == "metric":
            ms = joined(metric_summaries, "name", field)
            column: ColumnElement[Any] = ms.c[field.agg or "last"]
            keys.append(_last_if_null(column))
            sort_keys = [column]
        elif field.kind == "param":
            p = joined(parameters, "name", field)
            keys.append(_last_if_null(p.c.iteration_id))
            num, text = p.c.value_num.is_not(None), p.c.value_str.is_not(None)
            rank = case((num, _ZERO), (text, _ONE), else_=literal_column("2"))
            keys.append(rank)
            sort_keys = [p.c.value_num, p.c.value_str, p.c.value_json]
        elif field.kind == "tag":
            t = joined(iteration_tags, "key", field)
            keys.append(_last_if_null(t.c.value))
            sort_keys = [t.c.value]
        elif field.kind == "attr":
            column = _attr(field.name, now)
            if field.name in _NULLABLE_ATTRS:
                keys.append(_last_if_null(column))
            sort_keys = [column]
        else:
            raise InvalidInput(
                f"Cannot order by {field.kind}.{field.name}: only by params, "
                "metrics, tags and attributes such as started_at."
            )
        keys.extend(k.desc() if term.descending else k.asc() for k in sort_keys)
    keys.append(iterations.c.id.asc())
    return OrderPlan(joins, keys)


def _last_if_null(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A portable NULLS LAST: 1 for NULL, 0 otherwise, sorted ascending before the column."""
    return case((column.is_(None), _ONE), else_=_ZERO)


def _crashed(now: float) -> Cond:
    hb = iterations.c.heartbeat_at
    cutoff = now - HEARTBEAT_TIMEOUT
    return and_(iterations.c.status == "running", hb.is_not(None), hb < cutoff)


def _attr(name: str, now: float) -> ColumnElement[Any]:
    """The SQL expression of an attribute (``status`` as shown, ``duration`` in seconds)."""
    if name == "status":
        return case((_crashed(now), literal("crashed")), else_=iterations.c.status)
    if name == "duration":
        return iterations.c.ended_at - iterations.c.started_at
    if name not in iterations.c:
        raise InvalidInput(f"Unknown attribute {name!r}.")
    return iterations.c[name]


def _condition(
    node: Node, now: float, experiment_id: str | None, seq: Iterator[int], probe: Probe | None
) -> Cond:
    if isinstance(node, And):
        return and_(*(_condition(item, now, experiment_id, seq, probe) for item in node.items))
    if isinstance(node, Or):
        return or_(*(_condition(item, now, experiment_id, seq, probe) for item in node.items))
    if isinstance(node, Not):
        if isinstance(node.item, Not):  # exact (conditions are two-valued), and keeps SQL shallow
            return _condition(node.item.item, now, experiment_id, seq, probe)
        return not_(_condition(node.item, now, experiment_id, seq, probe))
    field = node.field
    values = node.values if isinstance(node, In) else (node.value,)

    def matches(column: ColumnElement[Any]) -> Cond:
        if isinstance(node, In):
            return _member(column, node.values, node.negated)
        return _compare(column, node.op, node.value)

    if field.kind == "attr" and field.name == "status":
        if not isinstance(node, In):
            return _status(node.op, str(node.value), now)
        op, joiner = ("!=", and_) if node.negated else ("=", or_)
        return joiner(*(_status(op, str(value), now) for value in dict.fromkeys(values)))
    if field.kind == "attr":
        column = _attr(field.name, now)
        if field.name in _NULLABLE_ATTRS and all(value is not None for value in values):
            return and_(column.is_not(None), matches(column))  # two-valued, never NULL
        return matches(column)
    fenced = next(seq) >= _JOINABLE
    if field.kind == "param":
        p = parameters.alias()
        if isinstance(node, In):
            cond = _param_member(p, node.values, node.negated)
        else:
            cond = _param(p, node.op, node.value)
        rows = select(_ONE).where(p.c.iteration_id == iterations.c.id, p.c.name == field.name)
    elif field.kind == "metric":
        ms = metric_summaries.alias()
        column = ms.c[field.agg or "last"]
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(
                    f"metrics.{field.name} is a number: compare it to a number, not {value!r}."
                )
        cond = matches(column)
        if experiment_id is not None and not fenced:
            matching = select(ms.c.iteration_id).where(
                ms.c.experiment_id == experiment_id, ms.c.name == field.name, cond
            )
            if probe is None or probe.short(matching):
                return iterations.c.id.in_(matching)
        rows = select(_ONE).where(ms.c.iteration_id == iterations.c.id, ms.c.name == field.name)
    elif field.kind == "tag":
        t = iteration_tags.alias()
        cond = matches(t.c.value)
        rows = select(_ONE).where(t.c.iteration_id == iterations.c.id, t.c.key == field.name)
    elif field.kind == "dataset":
        d, used = datasets.alias(), iteration_datasets.alias()
        cond = matches(d.c[field.name])
        rows = (
            select(_ONE)
            .select_from(used.join(d, d.c.id == used.c.dataset_id))
            .where(used.c.iteration_id == iterations.c.id, d.c.deleted_at.is_(None))
        )  # a deleted dataset matches no condition: it is hidden from the query language too
    else:
        raise InvalidInput(f"Unknown field kind {field.kind!r}.")
    rows = rows.where(cond).correlate(iterations)
    if fenced:
        rows = rows.offset(_ZERO)  # PostgreSQL never turns an EXISTS with an OFFSET into a join
    return rows.exists()


def _status(op: str, value: str, now: float) -> Cond:
    """status = / != value, with crashed derived from the heartbeat (never NULL)."""
    if value == "crashed":
        cond = _crashed(now)
    elif value == "running":
        hb = iterations.c.heartbeat_at
        alive = or_(hb.is_(None), hb >= now - HEARTBEAT_TIMEOUT)
        cond = and_(iterations.c.status == "running", alive)
    else:
        cond = iterations.c.status == value
    if op == "=":
        return cond
    if op == "!=":
        return not_(cond)
    raise InvalidInput(f"status can only be compared with =, != or in, not {op}.")


def _compare(column: ColumnElement[Any], op: str, value: Value) -> Cond:
    """``column op value`` for a plain column (like is case-insensitive, \\ escapes % and _)."""
    if op in ("like", "not like"):
        if not isinstance(value, str):
            raise InvalidInput(f"like needs a quoted pattern, not {value!r}.")
        matched = column.ilike(value, escape="\\")
        return matched if op == "like" else not_(matched)
    if value is None:
        if op not in ("=", "!="):
            raise InvalidInput(f"null can only be compared with = or !=, not {op}.")
        return column.is_(None) if op == "=" else column.is_not(None)
    if op not in _OPS:
        raise InvalidInput(f"Unknown operator {op!r}.")
    return cast(Cond, _OPS[op](column, value))


def _member(column: ColumnElement[Any], values: Sequence[Value], negated: bool) -> Cond:
    """``column in (values)`` (``not in`` when negated) as one IN list, null as IS NULL: one OR
    per value would pass SQLite's expression depth (1,000) and slow PostgreSQL down."""
    known = [value for value in values if value is not None]
    parts: list[Cond] = []
    if known:
        parts.append(column.not_in(known) if negated else column.in_(known))
    if len(known) < len(values):
        parts.append(column.is_not(None) if negated else column.is_(None))
    return and_(*parts) if negated else or_(*parts)


def _param_member(p: FromClause, values: Sequence[Value], negated: bool) -> Cond:
    """``params.x in / not in (values)``: one IN list for each column the values live in
    (:func:`_param` for one value; ``not in`` also holds for a parameter of another type)."""
    groups: dict[str, list[Value]] = {"value_num": [], "value_str": [], "value_json": []}
    for value in values:
        if isinstance(value, bool) or value is None:
            groups["value_json"].append("null" if value is None else str(value).lower())
        else:
            groups["value_num" if isinstance(value, int | float) else "value_str"].append(value)
    parts: list[Cond] = []
    for name, group in groups.items():
        column = p.c[name]
        if not group:
            continue
        if not negated:
            parts.append(column.in_(group))
        elif name == "value_json":  # never NULL
            parts.append(column.not_in(group))
        else:
            parts.append(or_(column.is_(None), column.not_in(group)))
    return and_(*parts) if negated else or_(*parts)


def _param(p: FromClause, op: str, value: Value) -> Cond:
    """The condition on one ``parameters`` row: numbers against value_num, strings against
    value_str, true/false/null against value_json. ``!=`` and ``not like`` also hold for a
    parameter of another type (it exists and is not equal)."""
    if isinstance(value, bool) or value is None:
        if op not in ("=", "!="):
            raise InvalidInput(f"{value!r} can only be compared with = or !=, not {op}.")
        as_json = "null" if value is None else str(value).lower()
        return cast(Cond, _OPS[op](p.c.value_json, as_json))
    column = p.c.value_num if isinstance(value, int | float) else p.c.value_str
    if op in ("!=", "not like"):
        positive = _compare(column, "=" if op == "!=" else "like", value)
        return or_(column.is_(None), not_(positive))
    return _compare(column, op, value)
