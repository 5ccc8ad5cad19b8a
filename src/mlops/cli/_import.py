"""``mlops import mlflow|tensorboard``: copy existing history into the store, with a progress
bar; what could not be copied is listed at the end and the exit status is then 1."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from mlops.cli._main import TRACKING_URI_ENV, WideHelpGroup
from mlops.errors import MlopsError
from mlops.store.base import Store

__all__ = ["import_group"]

store_option = click.option(
    "--store",
    metavar="URI",
    help="The mlops store to import into (default: the global --store, MLOPS_TRACKING_URI, "
    "else ~/.mlops/mlops.db).",
)


@click.group("import", cls=WideHelpGroup)
def import_group() -> None:
    """Copy MLflow or TensorBoard history into mlops (running it again copies nothing twice)."""


@contextmanager
def _bar(what: str) -> Iterator[Callable[[int, int], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def _store(uri: str | None) -> Store:
    from mlops.config import tracking_uri
    from mlops.store import open_store

    if uri:
        os.environ[TRACKING_URI_ENV] = tracking_uri(uri)
    return open_store(tracking_uri())


def _finish(report: object) -> None:
    from mlops.importers.mlflow import ImportReport

    assert isinstance(report, ImportReport)
    parts = [
        f"{report.experiments} experiment(s)",
        f"{report.runs_copied} run(s) copied",
        f"{report.points:,} metric value(s)",
        f"{report.artifacts} file(s)",
    ]
    if report.runs_present:
        running = (
            f" ({report.runs_running} still running: topped up)" if report.runs_running else ""
        )
        parts.append(f"{report.runs_present} run(s) already imported{running}")
    if report.runs_skipped:
        parts.append(f"{report.runs_skipped} deleted run(s) skipped")
    click.echo(f"imported from {report.source}: " + ", ".join(parts))
    if report.problems:
        click.echo(f"not copied ({len(report.problems)}):", err=True)
        for line in report.problems:
            click.echo(f"  - {line}", err=True)
        raise MlopsError(f"{len(report.problems)} thing(s) could not be copied (listed above)")


@import_group.command("mlflow")
@click.argument("source")
@store_option
@click.option(
    "--project",
    default="mlflow",
    show_default=True,
    help="Project of the experiments (an experiment's tag mlops.project wins).",
)
@click.option("--no-artifacts", is_flag=True, help="Do not copy the runs' files.")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Import only this experiment (repeat for more; default: all).",
)
@click.option(
    "--skip-deleted",
    is_flag=True,
    help="Leave deleted experiments and runs out (default: copy them as deleted).",
)
def import_mlflow_command(
    source: str,
    store: str | None,
    project: str,
    no_artifacts: bool,
    experiments: tuple[str, ...],
    skip_deleted: bool,
) -> None:
    """Copy MLflow experiments and runs from SOURCE: an mlruns/ folder, a database URI
    (sqlite:///mlflow.db, postgresql://...) or an MLflow server URL (http://host:5000).

    Runs keep their ids, names, statuses, times, params, tags, every metric value, dataset
    inputs and files. MLflow need not be installed.
    """
    from mlops.importers.mlflow import import_mlflow

    target = _store(store)
    with _bar("importing runs") as progress:
        report = import_mlflow(
            source, target, project=project, artifacts=not no_artifacts,
            experiments=experiments or None, skip_deleted=skip_deleted, progress=progress,
        )  # fmt: skip
    _finish(report)


@import_group.command("tensorboard")
@click.argument("logdir", type=click.Path(file_okay=False))
@store_option
@click.option("--project", default="tensorboard", show_default=True, help="Project to import into.")
@click.option("--experiment", metavar="NAME", help="Experiment name (default: the logdir's name).")
def import_tensorboard_command(
    logdir: str, store: str | None, project: str, experiment: str | None
) -> None:
    """Copy TensorBoard logs from LOGDIR: each folder of event files becomes an iteration,
    its scalars metric series (steps and wall times kept), its hparams parameters."""
    from mlops.importers.tensorboard import import_tensorboard

    target = _store(store)
    with _bar("reading runs") as progress:
        report = import_tensorboard(
            logdir, target, project=project, experiment=experiment, progress=progress
        )
    _finish(report)
