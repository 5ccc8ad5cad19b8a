"""A damaged ``settings.json`` is an error naming the file and the fix, and is never replaced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import child_environ
from mlops import tracking
from mlops.config import read_settings, write_settings
from mlops.errors import InvalidInput


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"stores": {"sqlite:///x.db": {"active_project_id": "p1"}', "not valid JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('{"stores": {"sqlite:///x.db": 3}}', '"stores" must map'),
        (b"\xff\xfe garbage", "cannot be read"),
    ],
)
def test_a_damaged_settings_file_is_an_error_and_is_kept(
    mlops_home: Path, content: str | bytes, reason: str
) -> None:
    path = mlops_home / "settings.json"
    path.parent.mkdir(parents=True)
    raw = content if isinstance(content, bytes) else content.encode()
    path.write_bytes(raw)
    with pytest.raises(InvalidInput, match="fix or delete it") as read:
        read_settings("sqlite:///x.db")
    assert str(path) in read.value.message and reason in read.value.message
    with pytest.raises(InvalidInput, match="fix or delete it"):
        write_settings("sqlite:///x.db", active_project_id="p2")
    assert path.read_bytes() == raw  # never replaced
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary left


def test_the_cli_reports_a_damaged_settings_file_in_one_line(mlops_home: Path) -> None:
    path = mlops_home / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"stores": ', encoding="utf-8")
    env = child_environ()
    env["MLOPS_HOME"] = str(mlops_home)
    done = subprocess.run(
        [sys.executable, "-m", "mlops", "experiments", "list"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: the settings file ") and str(path) in done.stderr
    assert "Traceback" not in done.stderr
    assert path.read_text(encoding="utf-8") == '{"stores": '


def test_a_damaged_settings_file_stops_the_tracking_api_before_it_writes(
    mlops_home: Path,
) -> None:
    project = tracking.create_project("demo")
    path = mlops_home / "settings.json"
    path.write_text("{oops", encoding="utf-8")
    with pytest.raises(InvalidInput, match="settings file"):
        tracking.set_active_project(project["id"])
    assert path.read_text(encoding="utf-8") == "{oops"


def test_good_settings_are_kept_per_store(mlops_home: Path) -> None:
    write_settings("sqlite:///a.db", active_project_id="p1")
    write_settings("sqlite:///b.db", active_project_id="p2")
    write_settings("sqlite:///a.db", active_experiment_id="e1")
    assert read_settings("sqlite:///a.db") == {
        "active_project_id": "p1",
        "active_experiment_id": "e1",
    }
    assert read_settings("sqlite:///b.db") == {"active_project_id": "p2"}
    assert read_settings("sqlite:///c.db") == {}
