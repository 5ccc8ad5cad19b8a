"""``mlops projects|experiments|iterations|datasets delete|restore`` and
``mlops iterations describe``: the trash from the command line (``mlops purge`` empties it)."""

from __future__ import annotations

import click

from mlops.cli._commands import datasets, experiments, projects
from mlops.cli._ids import (
    resolve_dataset,
    resolve_experiment,
    resolve_iteration,
    resolve_project_named,
)
from mlops.cli._iterations import iterations

__all__: list[str] = []

_new_name = click.option(
    "--name", metavar="NAME", help="Restore under this name (when the old one was taken)."
)


@projects.command("delete")
@click.argument("project", metavar="NAME")
def projects_delete(project: str) -> None:
    """Delete project NAME (title or id): it and all it holds leave lists and pages until
    `mlops projects restore`; `mlops purge --project` removes it for good."""
    from mlops import tracking

    done = tracking.delete_project(resolve_project_named(project, deleted=False))
    click.echo(f"deleted project {done['title']!r} ({done['id'][:8]}): restore it with "
               f"`mlops projects restore {done['id'][:8]}`")  # fmt: skip


@projects.command("restore")
@click.argument("project", metavar="NAME")
@_new_name
def projects_restore(project: str, name: str | None) -> None:
    """Bring deleted project NAME (title or id) back, titled --name when given."""
    from mlops import tracking

    done = tracking.restore_project(resolve_project_named(project, deleted=True), name)
    click.echo(f"restored project {done['title']!r} ({done['id'][:8]})")


@experiments.command("delete")
@click.argument("experiment_id", metavar="ID")
def experiments_delete(experiment_id: str) -> None:
    """Delete experiment ID: it and its iterations leave lists until restored."""
    from mlops import tracking

    done = tracking.delete_experiment(resolve_experiment(experiment_id))
    click.echo(f"deleted experiment {done['name']!r} ({done['id'][:8]})")


@experiments.command("restore")
@click.argument("experiment_id", metavar="ID")
@_new_name
def experiments_restore(experiment_id: str, name: str | None) -> None:
    """Bring deleted experiment ID back, named --name when given."""
    from mlops import tracking

    done = tracking.restore_experiment(resolve_experiment(experiment_id), name)
    click.echo(f"restored experiment {done['name']!r} ({done['id'][:8]})")


@iterations.command("delete")
@click.argument("iteration_id", metavar="ID")
def iterations_delete(iteration_id: str) -> None:
    """Delete iteration ID: it leaves lists and searches until restored."""
    from mlops import tracking

    done = tracking.delete_iteration(resolve_iteration(iteration_id))
    click.echo(f"deleted iteration {done['name']!r} ({done['id'][:8]})")


@iterations.command("restore")
@click.argument("iteration_id", metavar="ID")
@_new_name
def iterations_restore(iteration_id: str, name: str | None) -> None:
    """Bring deleted iteration ID back, renamed --name when given."""
    from mlops import tracking

    done = tracking.restore_iteration(resolve_iteration(iteration_id), name)
    click.echo(f"restored iteration {done['name']!r} ({done['id'][:8]})")


@iterations.command("describe")
@click.argument("iteration_id", metavar="ID")
@click.argument("text")
def iterations_describe(iteration_id: str, text: str) -> None:
    """Set the description of iteration ID to TEXT ("" clears it); allowed after it ended."""
    from mlops import tracking

    done = tracking.update_iteration(resolve_iteration(iteration_id), description=text)
    what = "cleared the description" if not done["description"] else "described"
    click.echo(f"{what} of iteration {done['id'][:8]}")


@datasets.command("delete")
@click.argument("dataset_id", metavar="ID")
@click.option("--force", is_flag=True, help="Delete it even while live iterations use it.")
def datasets_delete(dataset_id: str, force: bool) -> None:
    """Delete dataset version ID: it leaves dataset lists and lineage until restored."""
    from mlops import tracking

    done = tracking.delete_dataset(resolve_dataset(dataset_id), force)
    click.echo(f"deleted dataset {done['name']!r} {done['version']} ({done['id'][:8]})")


@datasets.command("restore")
@click.argument("dataset_id", metavar="ID")
@click.option("--version", metavar="VERSION", help="Restore as this version (when it was taken).")
def datasets_restore(dataset_id: str, version: str | None) -> None:
    """Bring deleted dataset version ID back, as --version when given."""
    from mlops import tracking

    done = tracking.restore_dataset(resolve_dataset(dataset_id), version)
    click.echo(f"restored dataset {done['name']!r} {done['version']} ({done['id'][:8]})")
