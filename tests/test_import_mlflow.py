"""``mlops import mlflow``: real MLflow sources (an mlruns/ folder, an SQLite database, a real
``mlflow server`` process) written by the real ``mlflow`` client, imported into real stores and
read back through mlops' own API."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import child_environ, free_port
from mlops import tracking
from mlops.entities import iso
from mlops.store import Store

pytestmark = pytest.mark.timeout(300)


def _client(uri: str) -> Any:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def write_history(uri: str, folder: Path, artifact_root: Path | None = None) -> dict[str, str]:
    """Two experiments and four runs, logged by MLflow itself; returns the run ids by role."""
    import mlflow.data
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag, Metric

    client = _client(uri)

    def where(name: str) -> str | None:
        return None if artifact_root is None else (artifact_root / name).as_uri()

    team = client.create_experiment(
        "vision", artifact_location=where("vision"),
        tags={"mlops.project": "team-a", "owner": "ana", "mlflow.note.content": "CNN sweep"},
    )  # fmt: skip
    other = client.create_experiment("tabular", artifact_location=where("tabular"))
    best = client.create_run(team, run_name="best", tags={"stage": "tuning"}).info.run_id
    client.log_param(best, "lr", "0.01")
    client.log_param(best, "layers", "[64, 64]")
    t0 = 1_700_000_000_000
    client.log_batch(
        best,
        metrics=[Metric("loss", v, t0 + i, 0) for i, v in enumerate((3.0, 2.0, 1.0))]
        + [Metric("acc", 0.5 + s / 10, t0 + 10 + s, s) for s in range(5)]
        + [Metric("inf_metric", math.inf, t0, 0), Metric("nan_metric", math.nan, t0, 0)],
    )
    (folder / "notes.txt").write_text("hello")
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    client.log_artifact(best, str(folder / "notes.txt"))
    client.log_artifact(best, str(folder / "weights.bin"), "model")
    data = mlflow.data.from_pandas(
        pd.DataFrame({"x": [1.0, 2.0]}), source="/data/train.csv", name="train"
    )
    client.log_inputs(
        best,
        [DatasetInput(data._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])],
    )
    end = int(time.time() * 1000) + 60_000
    client.set_terminated(best, "FINISHED", end_time=end)
    failed = client.create_run(team, run_name="broken").info.run_id
    client.log_metric(failed, "loss", 9.0, step=1)
    client.set_terminated(failed, "FAILED")
    gone = client.create_run(other, run_name="gone").info.run_id
    client.log_param(gone, "seed", "1")
    client.set_terminated(gone, "KILLED")
    client.delete_run(gone)
    alive = client.create_run(other, run_name="still-running").info.run_id
    client.log_metric(alive, "loss", 0.5)
    dropped = client.create_experiment("abandoned", artifact_location=where("abandoned"))
    orphan = client.create_run(dropped, run_name="orphan").info.run_id
    client.set_terminated(orphan)
    client.delete_experiment(dropped)
    return {
        "best": best, "failed": failed, "gone": gone, "alive": alive, "orphan": orphan,
        "best_end": iso(end / 1000),
    }  # fmt: skip


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("mlruns-src")
    root = folder / "mlruns"
    return root, write_history(root.as_uri(), folder)


@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str], Path]:
    folder = tmp_path_factory.mktemp("mlflow-db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, write_history(uri, folder, folder / "artifacts"), folder


def _open(uri: str) -> Store:
    from mlops.store.sql.store import SqlStore

    return SqlStore(uri)


@pytest.fixture
def target(sql_store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """An empty SQL store (SQLite, PostgreSQL) with somewhere for files, and the tracking
    library pointed at it."""
    monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "mlops-artifacts"))
    monkeypatch.setenv("MLOPS_TRACKING_URI", sql_store_uri)
    from mlops.store import open_store

    yield open_store(sql_store_uri)


def _experiment_ids(store: Store) -> dict[tuple[str, str], str]:
    projects = {p.id: p.title for p in store.list_projects()}
    return {(projects[e.project_id], e.name): e.id for e in store.list_experiments(None, None)}


def check_history(store: Store, runs: dict[str, str], artifacts: bool = True) -> None:
    """What a user sees after importing :func:`write_history`'s source."""
    experiments = _experiment_ids(store)
    assert {("team-a", "vision"), ("mlflow", "tabular"), ("mlflow", "abandoned")} <= set(
        experiments
    )
    assert store.get_experiment(experiments["mlflow", "abandoned"]).deleted_at is not None
    assert store.get_iteration(runs["orphan"]).status == "finished"
    assert {e["name"] for e in tracking.list_experiments()} >= {"vision", "tabular"}
    assert "abandoned" not in {e["name"] for e in tracking.list_experiments()}
    vision = tracking.get_experiment(experiments["team-a", "vision"])
    assert vision["description"] == "CNN sweep"
    assert store.get_experiment(experiments["team-a", "vision"]).tags["owner"] == "ana"
    listed = tracking.list_iterations(experiment_id=experiments["team-a", "vision"])
    assert {i["name"] for i in listed} == {"best", "broken"}
    best = tracking.get_iteration(runs["best"])
    assert best["status"] == "finished"
    assert best["parameters"] == {"lr": "0.01", "layers": "[64, 64]"}
    assert best["tags"]["stage"] == "tuning" and best["tags"]["mlflow.runName"] == "best"
    assert best["ended_at"] == runs["best_end"] and best["duration_seconds"] > 59
    loss = tracking.get_metric_history(runs["best"], "loss")
    assert [(p["step"], p["value"]) for p in loss] == [(0, 3.0), (0, 2.0), (0, 1.0)]
    assert loss[0]["timestamp"] == "2023-11-14T22:13:20Z"
    acc = tracking.get_metric_history(runs["best"], "acc")
    assert [p["step"] for p in acc] == [0, 1, 2, 3, 4]
    assert tracking.get_metric_history(runs["best"], "inf_metric")[0]["value"] == math.inf
    assert math.isnan(tracking.get_metric_history(runs["best"], "nan_metric")[0]["value"])
    assert [(d["name"], d["path"]) for d in best["datasets"]] == [("train", "/data/train.csv")]
    assert best["datasets"][0]["tags"] == ["training"]
    if artifacts:
        files = {a["name"]: a["size_bytes"] for a in tracking.list_artifacts(runs["best"])}
        assert files == {"notes.txt": 5, "model/weights.bin": 200}
    assert tracking.get_iteration(runs["failed"])["status"] == "failed"
    # A run MLflow still calls RUNNING keeps running (it shows as crashed: its heartbeat is old)
    alive = store.get_iteration(runs["alive"])
    assert alive.status in ("running", "crashed") and alive.ended_at is None
    gone = store.get_iteration(runs["gone"])
    assert gone.deleted_at is not None and gone.status == "killed"
    tabular = experiments["mlflow", "tabular"]
    assert [i["name"] for i in tracking.list_iterations(experiment_id=tabular)] == ["still-running"]


def test_import_an_mlruns_folder_twice(mlruns: tuple[Path, dict[str, str]], target: Store) -> None:
    from mlops.importers import import_mlflow

    root, runs = mlruns
    seen: list[tuple[int, int]] = []
    report = import_mlflow(str(root), target, progress=lambda d, t: seen.append((d, t)))
    assert report.problems == []
    assert (report.runs_copied, report.artifacts, report.points) == (5, 2, 12)
    assert seen[-1] == (5, 5)
    check_history(target, runs)
    again = import_mlflow(root.as_uri(), target)
    assert again.problems == [] and (again.runs_copied, again.runs_present) == (0, 5)
    assert (again.runs_running, again.points, again.artifacts) == (1, 0, 0)
    check_history(target, runs)
    assert len(tracking.get_metric_history(runs["alive"], "loss")) == 1
    assert len(tracking.list_datasets()) == 1


def test_import_an_sqlite_database(
    mlflow_db: tuple[str, dict[str, str], Path], target: Store
) -> None:
    from mlops.importers import import_mlflow

    uri, runs, _ = mlflow_db
    report = import_mlflow(uri, target)
    assert report.problems == [] and report.runs_copied == 5
    check_history(target, runs)
    assert import_mlflow(uri, target).runs_present == 5


def test_pick_experiments_skip_deleted_and_files(
    mlflow_db: tuple[str, dict[str, str], Path], target: Store
) -> None:
    from mlops.errors import InvalidInput
    from mlops.importers import import_mlflow

    uri, runs, _ = mlflow_db
    with pytest.raises(InvalidInput, match="no experiment named or numbered 'nope'"):
        import_mlflow(uri, target, experiments=["nope"])
    report = import_mlflow(
        uri, target, project="old", experiments=["tabular"], skip_deleted=True, artifacts=False
    )
    assert (report.runs_copied, report.runs_skipped, report.problems) == (1, 1, [])
    assert set(_experiment_ids(target)) == {("old", "tabular")}
    # Files skipped once are copied by a later import that asks for them
    import_mlflow(uri, target, experiments=["vision"], artifacts=False)
    assert tracking.list_artifacts(runs["best"]) == []
    assert import_mlflow(uri, target, experiments=["vision"]).artifacts == 2
    assert len(tracking.list_artifacts(runs["best"])) == 2


def _mlflow_server(db: Path, artifacts: Path) -> Iterator[str]:
    import httpx

    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1",
         "--port", str(port), "--artifacts-destination", str(artifacts), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_environ(),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not answer within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("sql_store_uri", ["sqlite"], indirect=True)
def test_import_from_an_mlflow_server(
    mlflow_db: tuple[str, dict[str, str], Path], target: Store, tmp_path: Path
) -> None:
    """The server's REST API, on a copy of the database (already migrated, so it starts
    quickly), plus a run whose files went through the server's artifact proxy."""
    from mlops.importers import import_mlflow

    _, runs, folder = mlflow_db
    shutil.copy(folder / "mlflow.db", tmp_path / "served.db")
    for url in _mlflow_server(tmp_path / "served.db", tmp_path / "proxied"):
        client = _client(url)
        proxied = client.create_experiment("proxied")
        run = client.create_run(proxied, run_name="through-proxy").info.run_id
        (tmp_path / "plot.txt").write_text("a plot")
        client.log_artifact(run, str(tmp_path / "plot.txt"), "plots")
        client.set_terminated(run)
        report = import_mlflow(url, target)
        assert report.problems == [] and report.runs_copied == 6
        check_history(target, runs)
        assert [a["name"] for a in tracking.list_artifacts(run)] == ["plots/plot.txt"]
        again = import_mlflow(url, target)
        assert (again.runs_copied, again.runs_present, again.artifacts) == (0, 6, 0)


def test_cli_imports_without_mlflow_and_lists_what_it_could_not_copy(
    tmp_path: Path, mlflow_db: tuple[str, dict[str, str], Path]
) -> None:
    """The command runs with ``mlflow`` unimportable; a value mlops cannot keep (a negative
    step) is listed and the exit status is 1; a clean source exits 0."""
    root = tmp_path / "mlruns"
    client = _client(root.as_uri())
    experiment = client.create_experiment("odd")
    run = client.create_run(experiment, run_name="negative").info.run_id
    client.log_metric(run, "loss", 1.0, step=-1)
    client.log_metric(run, "loss", 0.5, step=2)
    client.set_terminated(run)
    store = f"sqlite:///{tmp_path / 'mlops.db'}"
    code = (
        "import sys; sys.modules['mlflow'] = None\n"  # any `import mlflow` fails
        "from mlops.cli import main\n"
        "rc = main(sys.argv[1:], standalone_mode=False)\n"
        "assert not [m for m, v in sys.modules.items() if v and m.split('.')[0] == 'mlflow']\n"
        "sys.exit(rc)\n"
    )
    env = {**child_environ(), "MLOPS_HOME": str(tmp_path / "home")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", code, "import", "mlflow", *args, "--store", store]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    first = cli(str(root))
    assert first.returncode == 1, first.stderr
    assert "1 run(s) copied" in first.stdout
    assert "metric 'loss': 1 value(s) not copied: a negative step" in first.stderr
    assert "error: 1 thing(s) could not be copied (listed above)" in first.stderr
    clean = cli(mlflow_db[0], "--no-artifacts", "--project", "imported")
    assert clean.returncode == 0, clean.stderr
    assert "5 run(s) copied" in clean.stdout
    again = cli(mlflow_db[0], "--no-artifacts", "--project", "imported")
    assert again.returncode == 0 and "0 run(s) copied" in again.stdout
    assert "5 run(s) already imported (1 still running: topped up)" in again.stdout


def test_import_into_an_app_over_http(
    mlruns: tuple[Path, dict[str, str]], start_app: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Through the App's REST API (the HTTP store): one run at a time, files uploaded."""
    from mlops.importers import import_mlflow
    from mlops.store import open_store

    app = start_app(f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("MLOPS_TRACKING_URI", app.url)
    store = open_store(app.url)
    root, runs = mlruns
    report = import_mlflow(str(root), store)
    assert report.problems == [] and (report.runs_copied, report.artifacts) == (5, 2)
    check_history(store, runs)
    again = import_mlflow(str(root), store)
    assert (again.runs_copied, again.runs_present, again.artifacts) == (0, 5, 0)


def test_meta_yaml_without_pyyaml(mlruns: tuple[Path, dict[str, str]]) -> None:
    """The reader of MLflow's meta.yaml used when PyYAML is not installed reads every file
    MLflow wrote as PyYAML does."""
    import yaml

    from mlops.importers.mlflow_files import _plain_yaml

    files = list(mlruns[0].rglob("meta.yaml"))
    assert len(files) > 8
    for path in files:
        text = path.read_text()
        assert _plain_yaml(text) == yaml.safe_load(text), path


def test_import_a_postgresql_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An MLflow database on PostgreSQL (MLflow's own schema, made by MLflow)."""
    from conftest import _drop_schema, _postgres_uri
    from mlops.importers import import_mlflow
    from mlops.store import close_stores, open_store

    source = _postgres_uri()
    try:
        mlflow_uri = source.replace("postgresql://", "postgresql+psycopg://")
        runs = write_history(mlflow_uri, tmp_path, tmp_path / "artifacts")
        target = f"sqlite:///{tmp_path / 'mlops.db'}"
        monkeypatch.setenv("MLOPS_TRACKING_URI", target)
        report = import_mlflow(source, open_store(target))
        assert report.problems == [] and (report.runs_copied, report.artifacts) == (5, 2)
        check_history(open_store(target), runs)
        assert "postgres@127.0.0.1" in report.source
    finally:
        close_stores()
        _drop_schema(source)
