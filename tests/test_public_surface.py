"""The public surface is small and pinned, and importing the library stays light."""

from __future__ import annotations

import subprocess
import sys

import mlops.tracking
from mlops import errors

PUBLIC = {
    "Iteration", "create_dataset", "create_experiment", "create_project", "get_dataset",
    "get_experiment", "get_iteration", "get_metric_history", "get_project", "list_datasets",
    "list_experiments", "list_iterations", "list_projects", "resume_iteration",
    "set_active_experiment",
    "set_active_project", "start_iteration", "update_project",
    "delete_artifacts", "download_artifacts", "download_model", "get_model", "get_model_version",
    "list_artifacts",
    "register_model", "set_model_alias", "history_frame", "iterations_frame",
    "delete_experiment", "delete_iteration", "rename_experiment", "rename_iteration",
    "restore_experiment", "restore_iteration", "set_experiment_tags", "set_iteration_tags",
    "get_note", "move_iteration", "rename_project", "set_note", "update_experiment",
    "purge_experiment", "purge_iterations",
    "delete_project", "restore_project", "purge_project", "delete_dataset", "restore_dataset",
    "purge_dataset", "update_iteration",
}  # fmt: skip


def test_tracking_exports_exactly_the_public_api() -> None:
    assert set(mlops.tracking.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(mlops.tracking, name).__doc__, f"{name} has no docstring"


def test_importing_tracking_pulls_in_no_server_database_or_cli_code() -> None:
    script = (
        "import sys, mlops.tracking\n"
        "heavy = ['sqlalchemy', 'alembic', 'fastapi', 'jinja2', 'httpx', 'uvicorn', 'click',"
        " 'rich', 'lark', 'numpy', 'psutil', 'pynvml']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_error_has_a_stable_code_and_an_http_status() -> None:
    codes = [cls.code for cls in errors.ERRORS_BY_CODE.values()]
    assert len(codes) == len(set(codes))
    for cls in errors.ERRORS_BY_CODE.values():
        assert issubclass(cls, errors.MlopsError) and 400 <= cls.status < 600
        assert cls.__doc__
