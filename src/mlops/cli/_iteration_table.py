"""The table of ``mlops iterations list``: which columns, in what order, and which always show.

The columns a ``--sort`` or ``--filter`` names are always shown (a table sorted on a metric it
does not show tells nothing); the others take turns for the width that is left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from mlops.cli._format import (
    Column,
    fmt_duration,
    fmt_number,
    fmt_time,
    fmt_value,
    status_text,
)
from mlops.cli._ids import short_ids
from mlops.entities import is_system_metric
from mlops.errors import InvalidInput
from mlops.query import And, Compare, Field, In, Node, Not, Or, parse_filter, parse_order_by

__all__ = ["MAX_METRIC_COLUMNS", "MAX_PARAM_COLUMNS", "check_sorted_field", "list_columns"]

#: Most metric and parameter columns the list table offers (fewer when the terminal is narrow).
MAX_METRIC_COLUMNS = 6
MAX_PARAM_COLUMNS = 4

#: Widest a cell of these columns gets before it is cut with "…".
NAME_WIDTH = 40
METRIC_WIDTH = 12
PARAM_WIDTH = 16


def named_fields(filter_: str | None, order_by: str | None) -> list[Field]:
    """The fields a filter and an order_by name, each once, the sort keys first."""
    fields = [term.field for term in parse_order_by(order_by)] if order_by else []
    if filter_:
        tree = parse_filter(filter_)
        if tree is not None:
            fields += _fields_of(tree)
    return list(dict.fromkeys(fields))


def _fields_of(node: Node) -> Iterator[Field]:
    if isinstance(node, Compare | In):
        yield node.field
    elif isinstance(node, Not):
        yield from _fields_of(node.item)
    elif isinstance(node, And | Or):
        for item in node.items:
            yield from _fields_of(item)


def check_sorted_field(rows: Sequence[dict[str, Any]], order_by: str | None) -> None:
    """Raise ``InvalidInput`` when the first sort key is a metric or parameter that none of the
    matching iterations has (iterations without it sort last, so the first row tells)."""
    if not rows or not order_by:
        return
    field = parse_order_by(order_by)[0].field
    if field.kind not in ("metric", "param"):
        return
    key, what, prefix = (
        ("metrics", "metric", "metrics.") if field.kind == "metric" else
        ("parameters", "parameter", "params.")
    )  # fmt: skip
    if field.name in (rows[0].get(key) or {}):
        return
    known = sorted({name for row in rows for name in row.get(key) or {}})
    if not known:
        raise InvalidInput(
            f"no iteration has a {what} named {field.name!r} to sort on: these have no {what}s"
        )
    example = known[0] if field.kind == "metric" else prefix + known[0]
    raise InvalidInput(
        f"no iteration has a {what} named {field.name!r} to sort on (these have "
        f"{', '.join(known)}): sort on one of them, e.g. --sort {example}"
    )


def list_columns(
    rows: Sequence[dict[str, Any]], fields: Sequence[Field] = (), system_metrics: bool = False
) -> list[Column]:
    """The columns of the list table, most important (lowest priority number) first; the
    ``fields`` a sort or filter named are ``always`` columns. System metrics
    (``system/cpu_percent``, ...) are left out unless ``system_metrics`` or named."""
    named = {(f.kind, f.name) for f in fields}
    attrs = {f.name for f in fields if f.kind == "attr"}
    columns = [
        Column("id", short_ids([r["id"] for r in rows]), style="cyan", always=True),
        Column("name", [r.get("name") or "" for r in rows], max_width=NAME_WIDTH),
        Column("status", [status_text(r.get("status")) for r in rows]),
    ]
    for attr, header in (("experiment_id", "experiment"), ("project_id", "project")):
        if attr in attrs:
            cells = short_ids([r.get(attr) or "" for r in rows])
            columns.append(Column(header, cells, style="cyan", always=True))
    columns += [
        Column(
            "started", [fmt_time(r.get("started_at")) for r in rows], 12,
            always="started_at" in attrs,
        ),
        Column(
            "duration", [fmt_duration(r.get("duration_seconds")) for r in rows], 11, "right",
            always="duration" in attrs,
        ),
    ]  # fmt: skip
    if "ended_at" in attrs:
        columns.append(Column("ended", [fmt_time(r.get("ended_at")) for r in rows], always=True))

    # Aggregates a sort or filter names (min(metrics.loss)) get a column of their own.
    for f in fields:
        if f.kind == "metric" and f.agg in ("min", "max"):
            cells = [_metric_cell(r, f.name, f.agg) for r in rows]
            header = f"{f.agg}({f.name})"
            columns.append(Column(header, cells, 0, "right", METRIC_WIDTH, always=True))
    wanted = [f.name for f in fields if f.kind == "metric" and f.agg in (None, "last")]
    seen = Counter(
        name
        for r in rows
        for name in (r.get("metrics") or {})
        if system_metrics or name in wanted or not is_system_metric(name)
    )
    metric_names = sorted(seen, key=lambda n: (n not in wanted, -seen[n], n))
    for rank, name in enumerate(metric_names):
        always = name in wanted
        if rank >= MAX_METRIC_COLUMNS and not always:
            continue
        cells = [_metric_cell(r, name, "last") for r in rows]
        # Two metrics first, then metrics and parameters take turns; the times come last.
        priority = rank + 1 if rank < 2 else 2 * rank
        columns.append(Column(name, cells, priority, "right", METRIC_WIDTH, always=always))
    for rank, name in enumerate(_param_names(rows, named)):
        always = ("param", name) in named
        if rank >= MAX_PARAM_COLUMNS and not always:
            continue
        cells = [_param_cell(r, name) for r in rows]
        # A parameter with one value in every row tells the runs apart less than any metric.
        priority = 3 + 2 * rank + (100 if len(set(cells)) <= 1 else 0)
        columns.append(Column(name, cells, priority, max_width=PARAM_WIDTH, always=always))
    for f in fields:
        if f.kind == "tag":
            cells = [str((r.get("tags") or {}).get(f.name, "")) for r in rows]
            columns.append(Column(f"tags.{f.name}", cells, max_width=PARAM_WIDTH, always=True))
    return columns


def _metric_cell(row: dict[str, Any], name: str, agg: str) -> str:
    if agg == "last":
        metrics = row.get("metrics") or {}
        return fmt_number(metrics[name]) if name in metrics else ""
    summary = (row.get("metric_summaries") or {}).get(name) or {}
    return fmt_number(summary.get(agg)) if agg in summary else ""


def _param_cell(row: dict[str, Any], name: str) -> str:
    params = row.get("parameters") or {}
    return fmt_value(params[name]) if name in params else ""


def _param_names(rows: Sequence[dict[str, Any]], named: set[tuple[str, str]]) -> list[str]:
    """Parameter names: those a sort or filter names, then those whose value differs between
    the rows (they tell runs apart), then the others."""
    values: dict[str, set[str]] = {}
    for row in rows:
        for name, value in (row.get("parameters") or {}).items():
            values.setdefault(name, set()).add(fmt_value(value))
    return sorted(values, key=lambda n: (("param", n) not in named, len(values[n]) <= 1, n))
