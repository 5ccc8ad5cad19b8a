"""Turning the library's plain dicts into text: JSON for scripts, rich renderables for people.

Nothing here talks to a store; every function takes the dicts that :mod:`mlops.tracking` returns.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click
from rich import box
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from mlops.display import human_duration, human_size

__all__ = [
    "STATUS_STYLES",
    "Column",
    "console",
    "fit_table",
    "fmt_bytes",
    "fmt_duration",
    "fmt_number",
    "fmt_time",
    "fmt_value",
    "json_safe",
    "kv_table",
    "print_json",
    "print_table",
    "status_text",
]

#: Colour of each iteration status in tables.
STATUS_STYLES: dict[str, str] = {
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "crashed": "magenta",
    "running": "cyan",
}


def console() -> Console:
    """A console on the current ``sys.stdout`` (so click's test runner captures it).

    Long words are never cut in the middle of an id: tables decide what to leave out instead.
    """
    return Console(highlight=False, soft_wrap=False)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN/±inf float replaced by ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

    Python's ``json`` would write the bare tokens ``NaN``/``Infinity``, which are not JSON.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as strict JSON (indented, non-finite floats as strings)."""
    click.echo(json.dumps(json_safe(data), indent=2, allow_nan=False, default=str))


def fmt_time(iso: str | None) -> str:
    """An ISO 8601 UTC timestamp as local ``YYYY-MM-DD HH:MM:SS`` (``-`` when missing)."""
    if not iso:
        return "-"
    try:
        moment = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(seconds: float | None) -> str:
    """A duration for people (``"3.2 s"``, ``"4 min 10 s"``); ``-`` when unknown."""
    return human_duration(seconds) or "-"


def fmt_number(value: float | int | None, digits: int = 4) -> str:
    """A metric value with ``digits`` significant digits; ``nan``/``inf``/``-inf`` as such."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def fmt_value(value: Any, max_len: int | None = None) -> str:
    """A parameter value as text: strings as they are, other values as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = fmt_number(value, 6)
    else:
        text = json.dumps(json_safe(value), default=str)
    if max_len is not None and len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return text


def fmt_bytes(size: int | None) -> str:
    """A size in bytes as ``"12.3 MB"`` (``-`` when unknown)."""
    return human_size(size) or "-"


def status_text(status: str | None) -> Text:
    """An iteration status in its colour."""
    status = status or "-"
    return Text(status, style=STATUS_STYLES.get(status, ""))


@dataclass
class Column:
    """One column that :func:`fit_table` may show: lower ``priority`` is kept first, and an
    ``always`` column (the one a command's ``--sort`` or ``--filter`` names) is never left out."""

    header: str
    cells: Sequence[str | Text]
    priority: int = 0
    justify: JustifyMethod = "left"
    max_width: int | None = None
    style: str = ""
    always: bool = False


def _clip(cell: str | Text, max_width: int | None) -> Text:
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    if max_width is not None and text.cell_len > max_width:
        text.truncate(max_width, overflow="ellipsis")
    return text


def _build(columns: Sequence[Column], nrows: int) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=0,  # the box's own column separator is the one space between columns
        header_style="bold",
    )
    for col in columns:
        table.add_column(col.header, justify=col.justify, no_wrap=True, style=col.style)
    for i in range(nrows):
        table.add_row(*(_clip(col.cells[i], col.max_width) for col in columns))
    return table


def fit_table(con: Console, columns: Sequence[Column]) -> tuple[Table, list[str]]:
    """A table of the columns that fit the console's width, in their given order.

    ``always`` columns are shown whatever the width; the others are added by ``priority`` (then
    position) while the table still fits. Cells never wrap, so an id stays copyable. Columns
    without any value are dropped (unless ``always``). Returns the table and the headers that
    were left out for lack of room.
    """
    nrows = len(columns[0].cells) if columns else 0
    columns = [c for c in columns if c.always or any(_clip(cell, None).plain for cell in c.cells)]
    order = sorted(range(len(columns)), key=lambda i: (columns[i].priority, i))
    chosen: set[int] = {i for i, c in enumerate(columns) if c.always}
    hidden: list[str] = []
    unbounded = con.options.update_width(1_000_000)  # the natural width, not one clamped to fit
    for i in (i for i in order if i not in chosen):
        trial = [columns[j] for j in sorted(chosen | {i})]
        width = Measurement.get(con, unbounded, _build(trial, nrows)).maximum
        if width <= con.width or not chosen:
            chosen.add(i)
        else:
            hidden.append(columns[i].header)
    shown = [columns[j] for j in sorted(chosen)]
    return _build(shown, nrows), [h for h in (c.header for c in columns) if h in hidden]


def print_table(con: Console, columns: Sequence[Column], what: str = "rows") -> None:
    """Print a :func:`fit_table` and name the columns that did not fit."""
    table, hidden = fit_table(con, columns)
    con.print(table)
    if hidden:
        con.print(
            Text(
                f"not shown (too wide): {', '.join(hidden)}; "
                f"see all {what} with --json or in a wider terminal",
                style="dim",
            )
        )


def kv_table(rows: Iterable[tuple[str, Any]]) -> Table:
    """A two-column grid without borders: a dim key and its value (text or a renderable)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text | Table) else Text(str(value)))
    return table
