"""``mlops iterations list|show|metric``: the runs, one table or one run in detail."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlops.cli._commands import json_option
from mlops.cli._format import (
    console,
    fmt_bytes,
    fmt_duration,
    fmt_number,
    fmt_time,
    fmt_value,
    kv_table,
    print_json,
    print_table,
    status_text,
)
from mlops.cli._ids import resolve_experiment, resolve_iteration, resolve_project, short_ids
from mlops.cli._iteration_table import check_sorted_field, list_columns, named_fields
from mlops.cli._main import WideHelpGroup
from mlops.entities import is_system_metric

__all__ = ["iterations", "order_spec"]

#: Fields of an iteration itself that ``--sort`` passes through without a ``metrics.`` prefix.
ATTRIBUTES = frozenset(
    {"id", "name", "status", "experiment_id", "project_id", "started_at", "ended_at", "duration"}
)

_BARE = re.compile(r"[^\W\d]\w*")
_SPEC = re.compile(r"^(?P<sign>[-+]?)(?P<key>[^\s]+)(?:\s+(?P<dir>asc|desc))?$", re.IGNORECASE)


def order_spec(sort: str) -> str:
    """The ``order_by`` for ``--sort``: a bare metric name means that metric, best first.

    ``accuracy`` → ``metrics.accuracy desc``; ``accuracy asc`` → ``metrics.accuracy asc``;
    ``-loss`` → ``-metrics.loss``; ``system/cpu_percent`` → ``metrics.`system/cpu_percent` desc``
    (odd names quoted); a full spec (``params.lr``, ``-metrics.loss``,
    ``"metrics.loss asc"``) or an iteration field (``started_at``) passes through unchanged.
    """
    spec = " ".join(sort.split())
    match = _SPEC.match(spec)
    if not spec or match is None:
        return spec  # let the query language report what is wrong with it
    key = match["key"]
    if "." in key or key in ATTRIBUTES:
        return spec
    # system/cpu_percent, train/loss: quoted for the query language (unless already quoted)
    if not (_BARE.fullmatch(key) or key.startswith(("`", '"'))):
        key = "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"
    if match["sign"] or match["dir"]:
        return f"{match['sign']}metrics.{key}" + (f" {match['dir']}" if match["dir"] else "")
    return f"metrics.{key} desc"


@click.group(cls=WideHelpGroup)
def iterations() -> None:
    """Iterations: the model runs of an experiment."""


@iterations.command("list")
@click.option("--experiment", "experiment_id", metavar="ID", help="Only this experiment's runs.")
@click.option("--project", "project_id", metavar="ID", help="Only this project's runs.")
@click.option(
    "--filter",
    "filter_",
    metavar="EXPR",
    help="""Query, e.g. 'metrics.accuracy > 0.9 and params.model = "rf"'.""",
)
@click.option(
    "--sort",
    metavar="SPEC",
    help="Order: a metric name sorts on it, highest first (e.g. accuracy); or a spec such as "
    "'-metrics.loss', 'metrics.loss asc', 'params.lr' (default: newest first).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    default=20,
    show_default=True,
    help="Show at most this many runs.",
)
@click.option(
    "--system-metrics",
    is_flag=True,
    help="Offer the system metrics (system/cpu_percent, ...) as columns too; without it they "
    "show only when --sort or --filter names them.",
)
@click.option(
    "--deleted",
    is_flag=True,
    help="List the deleted runs (and those of deleted experiments) instead of the live ones.",
)
@json_option
def iterations_list(
    experiment_id: str | None,
    project_id: str | None,
    filter_: str | None,
    sort: str | None,
    limit: int,
    system_metrics: bool,
    deleted: bool,
    as_json: bool,
) -> None:
    """List iterations with their main metrics and parameters (--json: every value, system
    metrics included)."""
    from mlops import tracking

    order_by = order_spec(sort) if sort else None
    rows = tracking.list_iterations(
        experiment_id=resolve_experiment(experiment_id) if experiment_id else None,
        project_id=resolve_project(project_id) if project_id else None,
        filter=filter_,
        order_by=order_by,
        limit=limit,
        deleted=deleted,
    )
    check_sorted_field(rows, order_by)
    if as_json:
        print_json(rows)
        return
    con = console()
    if not rows:
        con.print(Text("no iterations match", style="dim"))
        return
    columns = list_columns(rows, named_fields(filter_, order_by), system_metrics)
    print_table(con, columns, "metrics and parameters")
    if len(rows) == limit:
        con.print(Text(f"showing the first {limit}: use --limit to see more", style="dim"))


@iterations.command("show")
@click.argument("iteration_id", metavar="ID")
@json_option
def iterations_show(iteration_id: str, as_json: bool) -> None:
    """Show one iteration: status, times, parameters, metrics, model, datasets, system."""
    from mlops import tracking

    it = tracking.get_iteration(resolve_iteration(iteration_id))
    if as_json:
        print_json(it)
        return
    experiment = tracking.get_experiment(it["experiment_id"])
    project = tracking.get_project(it["project_id"])
    _print_iteration(console(), it, experiment.get("name"), project.get("title"))


def _heading(con: Console, title: str) -> None:
    con.print()
    con.print(Text(title, style="bold"))


def _plain_table(*headers: str, right: Sequence[str] = ()) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, justify="right" if header in right else "left", overflow="fold")
    return table


def _named(name: str | None, the_id: str | None) -> str:
    return f"{name} ({the_id})" if name else the_id or "-"


def _print_iteration(
    con: Console, it: dict[str, Any], experiment: str | None = None, project: str | None = None
) -> None:
    """The readable view of one iteration dict (with its experiment's and project's names)."""
    title = Text.assemble(("Iteration ", "bold"), (it.get("name") or "", "bold cyan"))
    con.print(title)
    con.print(
        kv_table(
            [
                ("id", it["id"]),
                ("status", status_text(it.get("status"))),
                ("experiment", _named(experiment, it.get("experiment_id"))),
                ("project", _named(project, it.get("project_id"))),
                ("started", fmt_time(it.get("started_at"))),
                ("ended", fmt_time(it.get("ended_at"))),
                ("duration", fmt_duration(it.get("duration_seconds"))),
            ]
            + [("heartbeat", fmt_time(it.get("heartbeat_at")))] * (it.get("ended_at") is None)
        )
    )
    error = it.get("error")
    if error:
        _heading(con, "Error")
        con.print(Text(f"{error.get('type') or 'Error'}: {error.get('message') or ''}", "red"))

    params = it.get("parameters") or {}
    _heading(con, f"Parameters ({len(params)})")
    if params:
        table = _plain_table("name", "value")
        for name in sorted(params):
            table.add_row(name, fmt_value(params[name]))
        con.print(table)
    else:
        con.print(Text("none logged", style="dim"))

    summaries = it.get("metric_summaries") or {}
    system = {n: s for n, s in summaries.items() if is_system_metric(n)}
    training = {n: s for n, s in summaries.items() if n not in system}
    _heading(con, f"Metrics ({len(training)})")
    if training:
        con.print(_metrics_table(training))
    else:
        con.print(Text("none logged", style="dim"))
    if system:
        _heading(con, f"System metrics ({len(system)})")
        con.print(_metrics_table(system))

    model = it.get("model")
    if model or it.get("path_to_model"):
        model = model or {"path": it.get("path_to_model")}
        _heading(con, "Model")
        con.print(
            kv_table(
                [
                    ("path", model.get("path") or "-"),
                    ("size", fmt_bytes(model.get("size_bytes"))),
                    ("sha256", model.get("sha256") or "-"),
                ]
            )
        )

    used = it.get("datasets") or []
    if used:
        _heading(con, f"Datasets ({len(used)})")
        table = _plain_table("name", "version", "id", "path")
        for d, short in zip(used, short_ids([d["id"] for d in used]), strict=True):
            table.add_row(d.get("name", ""), str(d.get("version", "")), short, d.get("path", ""))
        con.print(table)

    info = it.get("system") or {}
    if info:
        _heading(con, "System")
        con.print(kv_table((k, fmt_value(v, 200)) for k, v in sorted(info.items())))


def _metrics_table(summaries: dict[str, Any]) -> Table:
    table = _plain_table("name", "last", "step", "min", "max", right=("last", "step", "min", "max"))
    for name in sorted(summaries):
        s = summaries[name]
        table.add_row(
            name,
            fmt_number(s.get("last"), 6),
            str(s.get("last_step", "-")),
            fmt_number(s.get("min"), 6),
            fmt_number(s.get("max"), 6),
        )
    return table


@iterations.command("metric")
@click.argument("iteration_id", metavar="ID")
@click.argument("metric_name", metavar="NAME")
@json_option
def iterations_metric(iteration_id: str, metric_name: str, as_json: bool) -> None:
    """Show every logged point of one metric of one iteration, by step."""
    from mlops import tracking

    points = tracking.get_metric_history(resolve_iteration(iteration_id), metric_name)
    if as_json:
        print_json(points)
        return
    table = _plain_table("step", "value", "time", right=("step", "value"))
    for p in points:
        table.add_row(str(p["step"]), fmt_number(p["value"], 6), fmt_time(p.get("timestamp")))
    con = console()
    con.print(table)
    con.print(Text(f"{len(points)} points of {metric_name}", style="dim"))


@iterations.command("rename")
@click.argument("iteration_id", metavar="ID")
@click.argument("name")
def iterations_rename(iteration_id: str, name: str) -> None:
    """Give iteration ID a new NAME (allowed after it ended)."""
    from mlops import tracking

    renamed = tracking.rename_iteration(resolve_iteration(iteration_id), name)
    click.echo(f"renamed iteration {renamed['id'][:8]} to {renamed['name']!r}")


@iterations.command("move")
@click.argument("iteration_id", metavar="ID")
@click.argument("experiment_id", metavar="EXPERIMENT")
def iterations_move(iteration_id: str, experiment_id: str) -> None:
    """Move iteration ID, with everything it logged, to EXPERIMENT (an experiment of the same
    project)."""
    from mlops import tracking

    moved = tracking.move_iteration(
        resolve_iteration(iteration_id), resolve_experiment(experiment_id)
    )
    click.echo(f"moved iteration {moved['id'][:8]} to experiment {moved['experiment_id'][:8]}")
