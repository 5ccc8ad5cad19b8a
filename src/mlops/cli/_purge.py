"""``mlops purge``: remove deleted iterations for good, a dry run unless ``--yes``."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from mlops.cli._format import Column, console, fmt_time, print_table
from mlops.cli._ids import resolve_dataset, resolve_experiment, resolve_project_named

__all__ = ["parse_age", "purge"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
#: Iterations per purge call (the store's batch: one transaction, one step of the bar).
BATCH = 500
#: Iterations shown in the dry run's table.
SHOWN = 10


def parse_age(text: str) -> float:
    """Seconds of an age such as ``30d``, ``12h``, ``90m``, ``45s`` or ``2w``."""
    found = _AGE.match(text)
    if found is None:
        raise click.BadParameter(
            f"{text!r} is not a duration: write a number and a unit, e.g. 30d, 12h, 90m, 2w "
            "(units s, m, h, d, w)",
            param_hint="'--older-than'",
        )
    return float(found.group(1)) * _UNITS[found.group(2)]


class _Age(click.ParamType):
    name = "AGE"

    def convert(self, value: object, param: click.Parameter | None, ctx: object) -> float:
        if isinstance(value, float):
            return value
        return parse_age(str(value))


@click.command()
@click.option(
    "--older-than",
    "age",
    type=_Age(),
    help="Purge what was deleted longer ago than this, e.g. 30d, 12h, 2w.",
)
@click.option(
    "--project", metavar="NAME", help="Purge this deleted project (title or id) with all it holds."
)
@click.option("--dataset", metavar="ID", help="Purge this deleted dataset version.")
@click.option(
    "--status",
    type=click.Choice(["running", "finished", "failed", "killed"]),
    help="Only iterations of this status.",
)
@click.option("--experiment", metavar="ID", help="Only iterations of this experiment (id prefix).")
@click.option(
    "--include-live",
    is_flag=True,
    help="Also iterations that were never deleted but started longer ago than --older-than.",
)
@click.option("--yes", is_flag=True, help="Purge for good (without it: only say what would go).")
def purge(
    age: float | None,
    project: str | None,
    dataset: str | None,
    status: str | None,
    experiment: str | None,
    include_live: bool,
    yes: bool,
) -> None:
    """Remove deleted iterations (--older-than), a deleted project (--project) or a deleted
    dataset version (--dataset) for good (rows, metric points, files nothing else uses).
    A dry run unless --yes."""
    from mlops import tracking
    from mlops.config import tracking_uri
    from mlops.store import open_store

    if sum(x is not None for x in (age, project, dataset)) != 1:
        raise click.UsageError("give one of --older-than AGE, --project NAME or --dataset ID")
    if project is not None or dataset is not None:
        _purge_one(project, dataset, yes)
        return
    assert age is not None

    experiment_id = resolve_experiment(experiment) if experiment else None
    store = open_store(tracking_uri())
    cutoff = time.time() - age
    ids = store.purgeable_iterations(cutoff, status, experiment_id, include_live)
    where = ""
    if experiment_id is not None:
        found = tracking.get_experiment(experiment_id)
        where = f" of experiment {found['name']!r} ({experiment_id[:8]})"
    what = "deleted" if not include_live else "deleted or started"
    if not yes:
        click.echo(
            f"would purge {len(ids)} iteration(s){where} {what} before {fmt_time(_iso(cutoff))}"
        )
        if ids:
            _show(ids[:SHOWN], len(ids))
            click.echo("run again with --yes to purge them for good", err=True)
        return
    total = {"iterations": 0, "points": 0, "artifacts": 0, "blobs": 0, "kept": 0}
    with _bar(len(ids)) as advance:
        for start in range(0, len(ids), BATCH):
            done = tracking.purge_iterations(ids[start : start + BATCH], force=include_live)
            for key in total:
                value = done[key]
                total[key] += len(value) if isinstance(value, list) else value
            advance(min(start + BATCH, len(ids)))
    click.echo(
        f"purged {total['iterations']} iteration(s){where}: {total['points']} metric point(s), "
        f"{total['artifacts']} file record(s), {total['blobs']} stored file(s) freed"
    )
    if total["kept"]:
        click.echo(
            f"kept {total['kept']} iteration(s) a registered model version uses: delete the "
            "version first",
            err=True,
        )


def _purge_one(project: str | None, dataset: str | None, yes: bool) -> None:
    """Purge one deleted project or dataset version (a dry run unless ``yes``)."""
    from mlops import tracking

    if project is not None:
        project_id = resolve_project_named(project, deleted=True)
        found = tracking.get_project(project_id)
        what = f"project {found['title']!r} ({project_id[:8]})"
        if found["deleted_at"] is None:
            raise click.ClickException(
                f"{what} is not deleted: delete it first (`mlops projects delete {project_id[:8]}`)"
            )
        if not yes:
            count = len(tracking.list_iterations(project_id=project_id, deleted=True, limit=10001))
            many = "more than 10000" if count > 10000 else str(count)
            click.echo(f"would purge {what} with {many} iteration(s)")
            click.echo("run again with --yes to purge it for good", err=True)
            return
        done = tracking.purge_project(project_id)
        click.echo(
            f"purged {what}: {done['experiments']} experiment(s), {done['iterations']} "
            f"iteration(s), {done['points']} metric point(s), {len(done['blobs'])} stored "
            "file(s) freed"
        )
        if done["kept"]:
            click.echo(
                f"kept {len(done['kept'])} iteration(s) a registered model version uses (and "
                "the project): delete the version first",
                err=True,
            )
        return
    assert dataset is not None
    dataset_id = resolve_dataset(dataset)
    found = tracking.get_dataset(dataset_id)
    what = f"dataset {found['name']!r} {found['version']} ({dataset_id[:8]})"
    if found["deleted_at"] is None:
        raise click.ClickException(
            f"{what} is not deleted: delete it first (`mlops datasets delete {dataset_id[:8]}`)"
        )
    if not yes:
        click.echo(f"would purge {what}")
        click.echo("run again with --yes to purge it for good", err=True)
        return
    tracking.purge_dataset(dataset_id)
    click.echo(f"purged {what}")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def _show(ids: list[str], count: int) -> None:
    """A table of the first iterations that would go, with their experiment."""
    from mlops import tracking

    rows = [tracking.get_iteration(i) for i in ids]
    names: dict[str, str] = {}
    for row in rows:
        if row["experiment_id"] not in names:
            names[row["experiment_id"]] = tracking.get_experiment(row["experiment_id"])["name"]
    print_table(
        console(),
        [
            Column("id", [r["id"][:8] for r in rows], style="cyan", always=True),
            Column("name", [r["name"] for r in rows], always=True),
            Column("experiment", [names[r["experiment_id"]] for r in rows]),
            Column("status", [r["status"] for r in rows], priority=1),
            Column("deleted", [fmt_time(r["deleted_at"]) for r in rows], priority=2),
        ],
        "iterations",
    )
    if count > len(ids):
        click.echo(f"... and {count - len(ids)} more")


@contextmanager
def _bar(total: int) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr, one step per purged batch."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("purging"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("purging", total=total)
        yield lambda done: bar.update(task, completed=done)
