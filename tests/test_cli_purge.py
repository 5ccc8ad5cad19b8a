"""``mlops purge``: a dry run by default, ``--yes`` purges for good with a progress bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlops import tracking
from mlops.cli import main
from mlops.cli._purge import parse_age
from mlops.errors import NotFound

MLOPS_SCRIPT = Path(sys.executable).with_name("mlops")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def trash(active: dict[str, str]) -> dict[str, str]:
    """Three iterations: one live, one deleted that finished, one deleted that failed."""
    ids = {}
    for name, status in (("live", "finished"), ("old", "finished"), ("broken", "failed")):
        it = tracking.start_iteration(name)
        it.log_metric("loss", 0.5)
        it.end_iteration(status)
        ids[name] = it.id
    tracking.delete_iteration(ids["old"])
    tracking.delete_iteration(ids["broken"])
    return {**active, **ids}


def test_a_dry_run_says_what_would_go_and_removes_nothing(trash: dict[str, str]) -> None:
    result = run("purge", "--older-than", "0s")
    assert result.exit_code == 0, result.output
    assert "would purge 2 iteration(s)" in result.stdout
    assert "old" in result.stdout and "broken" in result.stdout and "sweep" in result.stdout
    assert "--yes" in result.stderr
    assert tracking.get_iteration(trash["old"])["deleted_at"] is not None

    recent = run("purge", "--older-than", "30d")
    assert "would purge 0 iteration(s)" in recent.stdout  # deleted just now

    failed = run("purge", "--older-than", "0s", "--status", "failed", "--experiment",
                 trash["experiment_id"][:6])  # fmt: skip
    assert "would purge 1 iteration(s) of experiment 'sweep'" in failed.stdout


def test_yes_purges_only_what_was_chosen(trash: dict[str, str]) -> None:
    result = run("purge", "--older-than", "0s", "--status", "failed", "--yes")
    assert result.exit_code == 0, result.output
    assert "purged 1 iteration(s): 1 metric point(s)" in result.stdout
    with pytest.raises(NotFound):
        tracking.get_iteration(trash["broken"])
    assert tracking.get_iteration(trash["old"])["deleted_at"] is not None

    live = run("purge", "--older-than", "0s", "--include-live", "--yes")
    assert "purged 2 iteration(s)" in live.stdout
    assert tracking.list_iterations(deleted=None) == []


@pytest.mark.parametrize("bad", ["30", "30x", "d", "-3d", "ten days"])
def test_a_bad_duration_is_named_with_examples(bad: str, mlops_home: Path) -> None:
    result = run("purge", "--older-than", bad)
    assert result.exit_code == 2
    assert f"'{bad}' is not a duration" in result.stderr and "30d" in result.stderr
    assert "Traceback" not in result.output


def test_ages_in_every_unit() -> None:
    assert [parse_age(t) for t in ("45s", "90m", "12h", "30d", "2w", "1.5h")] == [
        45, 5400, 43_200, 2_592_000, 1_209_600, 5400
    ]  # fmt: skip


def test_an_unknown_experiment_is_one_error_line(mlops_home: Path) -> None:
    result = run("purge", "--older-than", "1d", "--experiment", "nothere")
    assert result.exit_code == 1 and "nothere" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_installed_script_purges_with_yes(trash: dict[str, str], mlops_home: Path) -> None:
    env = {**os.environ, "MLOPS_HOME": str(mlops_home)}
    env.pop("MLOPS_TRACKING_URI", None)
    tracking_done = subprocess.run(
        [str(MLOPS_SCRIPT), "purge", "--older-than", "0s", "--yes"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert tracking_done.returncode == 0, tracking_done.stderr
    assert "purged 2 iteration(s)" in tracking_done.stdout
    assert [i["name"] for i in tracking.list_iterations(deleted=None)] == ["live"]
