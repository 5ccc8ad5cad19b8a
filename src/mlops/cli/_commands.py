"""``mlops projects|experiments|datasets list`` and ``mlops db upgrade``."""

from __future__ import annotations

import os
from typing import Any

import click
from rich.text import Text

from mlops.cli._format import (
    Column,
    console,
    fmt_bytes,
    fmt_time,
    kv_table,
    print_json,
    print_table,
)
from mlops.cli._ids import resolve_dataset, resolve_project, short_ids
from mlops.cli._main import TRACKING_URI_ENV, WideHelpGroup

__all__ = ["datasets", "db", "experiments", "projects"]

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON to stdout (for scripts) instead of a table."
)


def _nothing(what: str, hint: str) -> None:
    console().print(Text(f"no {what} yet: {hint}", style="dim"))


# -- projects ---------------------------------------------------------------------------------
@click.group(cls=WideHelpGroup)
def projects() -> None:
    """Projects: each holds experiments."""


@projects.command("list")
@json_option
def projects_list(as_json: bool) -> None:
    """List every project, newest first."""
    from mlops import tracking

    rows = tracking.list_projects()
    if as_json:
        print_json(rows)
        return
    if not rows:
        _nothing("projects", "create one with mlops.tracking.create_project('name')")
        return
    print_table(
        console(),
        [
            Column("id", short_ids([r["id"] for r in rows]), style="cyan", always=True),
            Column("title", [r["title"] for r in rows], max_width=40),
            Column("status", [r.get("status") or "-" for r in rows], priority=1),
            Column("archived", ["yes" if r.get("archived") else "" for r in rows], priority=2),
            Column("created", [fmt_time(r.get("created_at")) for r in rows], priority=1),
            Column("description", [r.get("description") or "" for r in rows], 3, max_width=40),
        ],
        "fields",
    )


# -- experiments ------------------------------------------------------------------------------
@click.group(cls=WideHelpGroup)
def experiments() -> None:
    """Experiments: each holds iterations (model runs)."""


@experiments.command("list")
@click.option(
    "--project",
    "project_id",
    metavar="ID",
    help="Only this project's experiments (default: the active project, else all).",
)
@click.option("--deleted", is_flag=True, help="List the deleted experiments instead.")
@json_option
def experiments_list(project_id: str | None, deleted: bool, as_json: bool) -> None:
    """List experiments, newest first."""
    from mlops import tracking

    project = resolve_project(project_id) if project_id else None
    rows = tracking.list_experiments(project_id=project, deleted=deleted)
    if as_json:
        print_json(rows)
        return
    if not rows:
        _nothing("experiments", "create one with mlops.tracking.create_experiment('name')")
        return
    titles = {p["id"]: p["title"] for p in tracking.list_projects()}
    print_table(
        console(),
        [
            Column("id", short_ids([r["id"] for r in rows]), style="cyan", always=True),
            Column("name", [r["name"] for r in rows], max_width=40),
            Column(
                "project",
                [titles.get(r["project_id"], r["project_id"]) for r in rows],
                priority=1,
                max_width=24,
            ),
            Column("created", [fmt_time(r.get("created_at")) for r in rows], priority=1),
            Column("description", [r.get("description") or "" for r in rows], 3, max_width=40),
        ],
        "fields",
    )


# -- datasets ---------------------------------------------------------------------------------
@click.group(cls=WideHelpGroup)
def datasets() -> None:
    """Datasets: named, versioned data that iterations used."""


@datasets.command("list")
@json_option
def datasets_list(as_json: bool) -> None:
    """List every dataset version, newest first."""
    from mlops import tracking

    rows = tracking.list_datasets()
    if as_json:
        print_json(rows)
        return
    if not rows:
        _nothing("datasets", "log one with iteration.log_dataset(...)")
        return
    print_table(
        console(),
        [
            Column("id", short_ids([r["id"] for r in rows]), style="cyan", always=True),
            Column("name", [r["name"] for r in rows], max_width=40),
            Column("version", [str(r.get("version") or "-") for r in rows]),
            Column("size", [fmt_bytes(r.get("size_bytes")) for r in rows], 2, "right"),
            Column("files", [_count(r.get("file_count")) for r in rows], 3, "right"),
            Column("created", [fmt_time(r.get("created_at")) for r in rows], priority=2),
            Column("path", [r.get("path") or "" for r in rows], priority=1, max_width=40),
        ],
        "fields",
    )


@datasets.command("show")
@click.argument("dataset_id", metavar="ID")
@json_option
def datasets_show(dataset_id: str, as_json: bool) -> None:
    """Show one dataset version: path, digest, size, files, tags."""
    from mlops import tracking

    dataset = tracking.get_dataset(resolve_dataset(dataset_id))
    if as_json:
        print_json(dataset)
        return
    con = console()
    con.print(Text(f"Dataset {dataset['name']} {dataset.get('version')}", style="bold"))
    con.print(
        kv_table(
            [
                ("id", dataset["id"]),
                ("path", dataset.get("path") or "-"),
                ("digest", dataset.get("digest") or "-"),
                ("size", fmt_bytes(dataset.get("size_bytes"))),
                ("files", _count(dataset.get("file_count"))),
                ("created", fmt_time(dataset.get("created_at"))),
                ("tags", ", ".join(dataset.get("tags") or []) or "-"),
                ("description", dataset.get("description") or "-"),
            ]
        )
    )


def _count(value: Any) -> str:
    return "-" if value is None else str(value)


# -- db ---------------------------------------------------------------------------------------
@click.group(cls=WideHelpGroup)
def db() -> None:
    """The tracking database itself."""


@db.command("upgrade")
@click.option(
    "--store",
    metavar="URI",
    help="Database to upgrade (default: --store of mlops, MLOPS_TRACKING_URI, ~/.mlops/mlops.db).",
)
def db_upgrade(store: str | None) -> None:
    """Migrate the database to the schema of this mlops version (back it up first)."""
    from mlops.config import redact_uri, tracking_uri
    from mlops.store.sql.migrate import upgrade

    uri = tracking_uri(store or os.environ.get(TRACKING_URI_ENV) or None)
    where = redact_uri(uri)
    before, after = upgrade(uri)  # raises Unavailable naming the URI (without password)
    if before == after:
        click.echo(f"database at {where} is already at {after}")
    else:
        click.echo(f"database at {where} upgraded from {before or '(empty)'} to {after}")
