"""The iterations table of an experiment page: its columns, their sort links and its rows.

Sorting and filtering are done by the store (one query for the page of 50 rows, one count);
this module only turns the page's query string into store arguments and back into links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from mlops.app.ui.render import path_part
from mlops.entities import Iteration, iso
from mlops.query import parse_order_by

#: Columns every table has: (key, label, first sort direction).
FIXED_COLUMNS = (
    ("name", "Name", "asc"),
    ("status", "Status", "asc"),
    ("started_at", "Started", "desc"),
    ("duration", "Duration", "desc"),
)
#: Metric and parameter columns shown when the visitor has not chosen any.
DEFAULT_COLUMNS = 4
_BARE = re.compile(r"[^\W\d]\w*")
#: Words the query language reads as keywords: names like these need quotes.
_KEYWORDS = ("and", "or", "not", "in", "like", "true", "false", "null", "asc", "desc")


def quote_name(name: str) -> str:
    """A metric or parameter name as the query language reads it (backticks when needed)."""
    if _BARE.fullmatch(name) and name.lower() not in _KEYWORDS:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass
class TableState:
    """What the visitor asked for: columns (explicit or default), filter, order, page, and
    whether the table shows the deleted iterations (``?deleted=1``) instead of the live ones."""

    experiment_id: str
    metrics: list[str]
    params: list[str]
    explicit: bool
    filter: str
    order_by: str
    page: int
    deleted: bool = False

    def query(self, **changes: Any) -> str:
        """The page's query string with ``changes`` (columns stay only when chosen)."""
        values: dict[str, Any] = {
            "metrics": ",".join(self.metrics),
            "params": ",".join(self.params),
            "filter": self.filter,
            "order_by": self.order_by,
            "page": self.page,
            "deleted": "1" if self.deleted else "",
        }
        values.update(changes)
        kept = {
            k: v
            for k, v in values.items()
            if (k in ("metrics", "params") and self.explicit) or v not in ("", None, 1)
        }
        return "?" + urlencode(kept) if kept else ""


def current_sort(order_by: str) -> tuple[str, str] | None:
    """(column key, "asc"/"desc") of the first sort term, when it is a column of the table."""
    term = parse_order_by(order_by or None)[0]
    direction = "desc" if term.descending else "asc"
    field = term.field
    if field.kind == "metric" and field.agg == "last":
        return f"metrics.{field.name}", direction
    if field.kind == "param":
        return f"params.{field.name}", direction
    if field.kind == "attr" and field.name in {key for key, _, _ in FIXED_COLUMNS}:
        return field.name, direction
    return None


def columns(state: TableState, sort: tuple[str, str] | None) -> list[dict[str, Any]]:
    """The table's columns with their kind, label, sort state and sort link."""
    specs: list[tuple[str, str, str, str, str]] = [
        (key, label, "attr", key, first) for key, label, first in FIXED_COLUMNS
    ]
    specs += [(f"metrics.{m}", m, "metric", f"metrics.{quote_name(m)}", "desc")
              for m in state.metrics]  # fmt: skip
    specs += [(f"params.{p}", p, "param", f"params.{quote_name(p)}", "asc")
              for p in state.params]  # fmt: skip
    out = []
    for key, label, kind, expression, first in specs:
        sorted_now = sort[1] if sort is not None and sort[0] == key else None
        flipped = "asc" if sorted_now == "desc" else "desc"
        direction = first if sorted_now is None else flipped
        link = state.query(order_by=f"{expression} {direction}", page=1)
        out.append(
            {
                "key": key,
                "label": label,
                "kind": kind,
                "name": label if kind != "attr" else None,
                "sorted": sorted_now,
                "sort_url": f"/experiments/{path_part(state.experiment_id)}{link}",
            }
        )
    return out


def rows(found: Sequence[Iteration], state: TableState) -> list[dict[str, Any]]:
    """Only what the table shows of each iteration (the chosen metrics and parameters)."""
    out = []
    for iteration in found:
        metrics = {m: iteration.metrics[m].last for m in state.metrics if m in iteration.metrics}
        params = {p: iteration.parameters[p] for p in state.params if p in iteration.parameters}
        out.append(
            {
                "id": iteration.id,
                "name": iteration.name,
                "status": iteration.status,
                "started_at": iso(iteration.started_at),
                "duration_seconds": iteration.duration_seconds,
                "deleted_at": iso(iteration.deleted_at),
                "metrics": metrics,
                "params": params,
            }
        )
    return out


def default_columns(names: Sequence[str]) -> list[str]:
    """The first few names (the table stays readable before the visitor picks columns)."""
    return list(names[:DEFAULT_COLUMNS])
