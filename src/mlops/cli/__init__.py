"""The ``mlops`` command line: look at projects, experiments, iterations and datasets.

It uses only the public library :mod:`mlops.tracking` (plus ``mlops db upgrade``'s migration),
so what it shows is exactly what a script calling the library would get.

::

    mlops projects list [--json]
    mlops experiments list [--project ID] [--json]
    mlops iterations list [--experiment ID] [--project ID] [--filter EXPR] [--sort SPEC]
                          [--limit N] [--json]
    mlops iterations show ID [--json]
    mlops iterations metric ID NAME [--json]
    mlops iterations rename ID NAME | move ID EXPERIMENT | describe ID TEXT
    mlops projects|experiments|iterations delete NAME_OR_ID | restore NAME_OR_ID [--name NEW]
    mlops datasets list [--json]
    mlops datasets show ID [--json]
    mlops datasets delete ID [--force] | restore ID [--version NEW]
    mlops artifacts list ITERATION [--json] | download ITERATION [NAME] [-o DIR]
    mlops models list [--json] | show NAME [--json]
    mlops export --experiment ID [--format csv|json] [--output FILE] [--filter EXPR]
    mlops gc [--yes] [--min-age SECONDS] [--artifacts PATH]
    mlops purge --older-than 30d [--status S] [--experiment ID] [--include-live] [--yes]
    mlops purge --project NAME_OR_ID | --dataset ID [--yes]
    mlops db upgrade [--store URI]
    mlops backup DEST | restore SRC
    mlops app [--host H] [--port P] [--store URI] [--workers N] [--auth] [--insecure]
    mlops tokens create NAME --scope read|write|admin | list | revoke NAME
    mlops audit [--since 7d] [--who NAME] [--json]
    mlops sync [--store URL]
    mlops import mlflow SOURCE [--store URI] [--project NAME] [--no-artifacts]
                 [--experiment NAME_OR_ID ...] [--skip-deleted]
    mlops import tensorboard LOGDIR [--store URI] [--project NAME] [--experiment NAME]

Global options: ``--store URI``, ``--debug``, ``--version``. Tables show the first 8
characters of an id; every ID argument takes any unique prefix of one.
"""

from __future__ import annotations

from mlops.cli import _trash  # noqa: F401 - adds the delete and restore subcommands
from mlops.cli._app import app, audit, tokens
from mlops.cli._artifacts import artifacts, gc, models
from mlops.cli._backup import backup, restore
from mlops.cli._commands import datasets, db, experiments, projects
from mlops.cli._export import export
from mlops.cli._import import import_group
from mlops.cli._iterations import iterations
from mlops.cli._main import main
from mlops.cli._purge import purge
from mlops.cli._sync import sync

__all__ = ["main"]

for _command in (
    projects, experiments, iterations, datasets, artifacts, models, export, gc, db, app, tokens,
    sync, import_group, audit, backup, restore, purge,
):  # fmt: skip
    main.add_command(_command)
