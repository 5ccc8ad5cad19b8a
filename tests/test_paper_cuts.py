"""Paper cuts a new user hits: create twice, steps, model paths, the default experiment, URLs,
folders that cannot be written, the project page's best value."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops import tracking
from mlops.errors import AlreadyExists, InvalidInput, QuerySyntaxError
from mlops.store.base import Store


def test_create_project_and_experiment_with_exist_ok_return_the_existing_ones(
    mlops_home: Path,
) -> None:
    project = tracking.create_project("digits", description="handwritten digits")
    with pytest.raises(AlreadyExists, match=project["id"]):
        tracking.create_project("digits")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = tracking.create_project("digits", description="handwritten digits", exist_ok=True)
        assert tracking.create_project("digits", exist_ok=True) == again
    assert again == project
    with pytest.warns(UserWarning, match="already exists .* returned unchanged"):
        differs = tracking.create_project("digits", description="other", exist_ok=True)
    assert differs["description"] == "handwritten digits"

    experiment = tracking.create_experiment("sweep", project_id=project["id"])
    with pytest.raises(AlreadyExists):
        tracking.create_experiment("sweep", project_id=project["id"])
    same = tracking.create_experiment("sweep", project_id=project["id"], exist_ok=True)
    assert same == experiment
    with pytest.warns(UserWarning, match="returned unchanged"):
        tracking.create_experiment("sweep", "new words", project_id=project["id"], exist_ok=True)
    assert len(tracking.list_experiments(project["id"])) == 1


def test_negative_steps_are_refused(active: dict[str, str]) -> None:
    with tracking.start_iteration("steps") as it:
        with pytest.raises(InvalidInput, match="from 0 to"):
            it.log_metric("loss", 1.0, step=-1)
        with pytest.raises(InvalidInput, match="from 0 to"):
            it.log_metrics({"loss": 1.0}, step=-5)
        it.log_metric("loss", 2.0, step=0)
    assert [p["step"] for p in tracking.get_metric_history(it.id, "loss")] == [0]


def test_model_paths_are_absolute_and_a_missing_one_warns_once(
    active: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("model.pkl").write_bytes(b"weights")
    with tracking.start_iteration("relative") as it, warnings.catch_warnings():
        warnings.simplefilter("error")
        it.log_path_to_model("model.pkl")
    ended = tracking.get_iteration(it.id)
    assert ended["model"]["path"] == str(tmp_path / "model.pkl")
    assert ended["model"]["size_bytes"] == 7

    it = tracking.start_iteration("missing")
    with pytest.warns(UserWarning, match="does not exist") as caught:
        it.log_path_to_model(Path("later") / "model.pt")
    it.end_iteration()
    assert len([w for w in caught if "does not exist" in str(w.message)]) == 1
    model = tracking.get_iteration(it.id)["model"]
    assert model["path"] == str(tmp_path / "later" / "model.pt")
    assert model["sha256"] is None

    with tracking.start_iteration("remote") as it:
        it.log_path_to_model("s3://bucket/model.pt")
    assert tracking.get_iteration(it.id)["model"]["path"] == "s3://bucket/model.pt"


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_an_iteration_without_experiment_says_once_where_it_goes(mlops_home: Path) -> None:
    code = (
        "from mlops import tracking\n"
        "p = tracking.create_project('solo')\n"
        "tracking.set_active_project(p['id'])\n"
        "for i in range(3):\n"
        "    tracking.start_iteration(f'run{i}').end_iteration()\n"
        "print([e['name'] for e in tracking.list_experiments()])\n"
    )
    done = _python(code, {**os.environ, "MLOPS_HOME": str(mlops_home)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['default']"
    assert done.stderr.count("'default' experiment") == 1
    assert "set_active_experiment" in done.stderr


@pytest.mark.parametrize("uri", ["http://", "https://", "http://:8080", "http://host:port"])
def test_an_incomplete_app_url_is_named(
    uri: str, monkeypatch: pytest.MonkeyPatch, mlops_home: Path
) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", uri)
    with pytest.raises(InvalidInput, match="http://app-host:port") as caught:
        tracking.list_projects()
    assert "database server" not in str(caught.value)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make a folder read-only for this test: a read-only bind mount when running as root
    (permissions do not bind root, and CI runs as root), else its mode bits."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_home_that_cannot_be_made_or_written_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    code = (
        "from mlops import tracking\n"
        "from mlops.errors import MlopsError\n"
        "try:\n"
        "    tracking.create_project('x')\n"
        "except MlopsError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    with read_only(locked):
        for home in (locked, locked / "deeper" / "home"):
            env = {**os.environ, "MLOPS_HOME": str(home), "HOME": str(tmp_path)}
            done = _python(code, env)
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith("InvalidInput"), done.stdout
            assert str(locked) in done.stdout and "MLOPS_HOME" in done.stdout
            assert "database server" not in done.stdout and "Traceback" not in done.stderr


def test_an_existing_database_in_a_read_only_folder_can_be_read(tmp_path: Path) -> None:
    home = tmp_path / "shared-home"
    env = {**os.environ, "MLOPS_HOME": str(home), "HOME": str(tmp_path)}
    made = _python(
        "from mlops import tracking\n"
        "p = tracking.create_project('kept')\n"
        "tracking.set_active_project(p['id'])\n"
        "with tracking.start_iteration('r') as it:\n"
        "    it.log_metric('acc', 0.5)\n",
        env,
    )
    assert made.returncode == 0, made.stderr
    with read_only(home):
        read = _python(
            "from mlops import tracking\n"
            "from mlops.errors import InvalidInput\n"
            "[p] = tracking.list_projects()\n"
            "[it] = tracking.list_iterations()\n"
            "print(p['title'], it['metrics'])\n"
            "try:\n"
            "    tracking.create_project('new')\n"
            "except InvalidInput as exc:\n"
            "    print('refused:', exc)\n"
            "try:\n"
            "    tracking.set_active_project(p['id'])\n"
            "except InvalidInput as exc:\n"
            "    print('settings:', exc)\n",
            env,
        )
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    assert lines[0] == "kept {'acc': 0.5}"
    assert lines[1].startswith("refused:") and "read-only" in lines[1] and "MLOPS_HOME" in lines[1]
    assert lines[2].startswith("settings:") and "settings.json" in lines[2]
    assert "MLOPS_HOME" in lines[2] and "Traceback" not in read.stderr


def test_a_filter_syntax_error_is_one_query_syntax_error_with_a_caret(store: Store) -> None:
    project = store.create_project("q", None, "active", False)
    with pytest.raises(QuerySyntaxError) as caught:
        store.list_iterations(project_id=project.id, filter="metrics.acc > > 3")
    message = str(caught.value)
    assert "^" in message and "metrics.acc > > 3" in message
    assert caught.value.__cause__ is None or isinstance(caught.value.__cause__, QuerySyntaxError)


def test_the_project_page_best_is_the_best_value_reached_with_its_iteration(
    sql_store_uri: str,
) -> None:
    from fastapi.testclient import TestClient

    from mlops.app import AppSettings, create_app
    from mlops.store.sql.store import SqlStore

    store = SqlStore(sql_store_uri)
    project = store.create_project("best", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    now = time.time()
    # "peaked" reached 0.9 and ended at 0.1; "steady" ends highest, at 0.5.
    series: dict[str, list[float]] = {"peaked": [0.2, 0.9, 0.1], "steady": [0.3, 0.4, 0.5]}
    for name, values in series.items():
        store.create_iteration(name, name, experiment.id, None, now, {})
        store.log_batch(name, metrics=[("acc", step, v, now) for step, v in enumerate(values)])
    [high] = store.experiment_overviews(project.id, "acc", "max")
    assert high.best == 0.9 and high.best_iteration == ("peaked", "peaked")
    [low] = store.experiment_overviews(project.id, "acc", "min")
    assert low.best == 0.1 and low.best_iteration == ("peaked", "peaked")
    app = create_app(AppSettings(store_uri=sql_store_uri), store=store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get(f"/projects/{project.id}.json?metric=acc&goal=max").json()
        [row] = page["experiments"]
        assert (row["best"], row["best_iteration"]) == (0.9, {"id": "peaked", "name": "peaked"})
        html = client.get(f"/projects/{project.id}?metric=acc&goal=max").text
        assert 'href="/iterations/peaked" data-testid="best-iteration-link">peaked<' in html
