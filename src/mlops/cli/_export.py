"""``mlops export``: every iteration of an experiment as CSV or JSON, one row per iteration."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from typing import IO, Any

import click

from mlops.cli._format import json_safe
from mlops.cli._ids import resolve_experiment
from mlops.entities import is_system_metric

__all__ = ["BASE_FIELDS", "PAGE_SIZE", "export", "export_rows"]

#: Iterations fetched per request while paging through an experiment.
PAGE_SIZE = 1000

#: The first columns of every export, before ``params.<name>`` and ``metrics.<name>`` (named as
#: in the query language, so a column reads as the filter or sort that would use it).
BASE_FIELDS = ("id", "name", "status", "started_at", "ended_at", "duration_seconds")

#: Oldest first, so iterations that start while we page only ever land on later pages.
_PAGE_ORDER = "started_at asc, id asc"


def _pages(experiment_id: str, filter_: str | None) -> Iterator[dict[str, Any]]:
    """Every matching iteration, fetched ``PAGE_SIZE`` at a time, each id once."""
    from mlops import tracking

    seen: set[str] = set()
    offset = 0
    while True:
        page = tracking.list_iterations(
            experiment_id=experiment_id,
            filter=filter_,
            order_by=_PAGE_ORDER,
            limit=PAGE_SIZE,
            offset=offset,
        )
        for row in page:
            if row["id"] not in seen:
                seen.add(row["id"])
                yield row
        if len(page) < PAGE_SIZE:
            return
        offset += len(page)


def export_rows(
    iterations: list[dict[str, Any]], system_metrics: bool = False
) -> tuple[list[str], list[dict[str, Any]]]:
    """The export's column names and flat rows (missing params/metrics are None); the system
    metrics (``system/cpu_percent``, ...) only with ``system_metrics``."""
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for it in iterations:
        params.update(dict.fromkeys(it.get("parameters") or {}))
        metrics.update(
            dict.fromkeys(
                n for n in it.get("metrics") or {} if system_metrics or not is_system_metric(n)
            )
        )
    param_names, metric_names = sorted(params), sorted(metrics)
    fields = [
        *BASE_FIELDS,
        *(f"params.{n}" for n in param_names),
        *(f"metrics.{n}" for n in metric_names),
    ]
    rows = []
    for it in iterations:
        row = {f: it.get(f) for f in BASE_FIELDS}
        p, m = it.get("parameters") or {}, it.get("metrics") or {}
        row.update({f"params.{n}": p.get(n) for n in param_names})
        row.update({f"metrics.{n}": m.get(n) for n in metric_names})
        rows.append(row)
    return fields, rows


def _csv_cell(value: Any) -> str:
    """One CSV cell: floats round-trip (``nan``, ``inf``, ``-inf`` as such), None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # 'inf', '-inf', or the shortest exact form
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(json_safe(value), default=str)


def _write_csv(out: IO[str], fields: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_csv_cell(row[f]) for f in fields])


def _write_json(out: IO[str], rows: list[dict[str, Any]]) -> None:
    json.dump(json_safe(rows), out, indent=2, allow_nan=False, default=str)
    out.write("\n")


@click.command()
@click.option("--experiment", "experiment_id", metavar="ID", required=True, help="Experiment.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    default="-",
    help="Write here instead of stdout (replaced only once the export is complete).",
)
@click.option("--filter", "filter_", metavar="EXPR", help="Only iterations matching this query.")
@click.option(
    "--system-metrics",
    is_flag=True,
    help="Include the system metrics (metrics.system/cpu_percent, ...).",
)
def export(
    experiment_id: str, fmt: str, output: str, filter_: str | None, system_metrics: bool
) -> None:
    """Export every iteration of an experiment, one row each.

    Columns: id, name, status, started_at, ended_at, duration_seconds, then params.<name> for
    every parameter and metrics.<name> (last value) for every metric, named as in --filter
    (the system metrics, system/cpu_percent and the like, only with --system-metrics).
    Missing values are empty in CSV and null in JSON; NaN and infinities are nan/inf/-inf in
    CSV and the strings "NaN"/"Infinity"/"-Infinity" in JSON.
    """
    experiment_id = resolve_experiment(experiment_id)  # NotFound naming it, not an empty export
    fields, rows = export_rows(list(_pages(experiment_id, filter_)), system_metrics)
    with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
        if fmt == "csv":
            _write_csv(out, fields, rows)
        else:
            _write_json(out, rows)
    if output != "-":
        click.echo(f"exported {len(rows)} iterations to {output}", err=True)
