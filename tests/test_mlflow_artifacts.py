"""MLflow clients log artifacts and models into the App, read back through mlops' own API.

The real ``mlflow`` client (3.17.2) talks to a real App process: the fluent artifact calls,
``mlflow.sklearn.log_model`` + the registry + ``load_model`` back, multipart uploads in proxy
mode, deleting files and folders, and raw requests for the path-traversal holes MLflow's own
proxy had.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from conftest import AppProcess
from mlops import tracking
from mlops.errors import NotFound

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    folder = tmp_path_factory.mktemp("mlflow-app")
    started = AppProcess(f"sqlite:///{folder / 'mlops.db'}")
    yield started
    started.stop()


@pytest.fixture
def client(app: AppProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The mlflow client pointed at the App, in an experiment of its own; mlops' own
    functions read the same App."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", app.url)
    monkeypatch.setenv("MLOPS_TRACKING_URI", app.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # set_experiment exports MLFLOW_EXPERIMENT_ID: monkeypatch owns it, so it goes afterwards
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
    mlflow.set_tracking_uri(app.url)
    mlflow.set_experiment(f"exp-{uuid.uuid4().hex[:8]}")
    yield mlflow.MlflowClient()
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def names(run_id: str) -> set[str]:
    return {a["name"] for a in tracking.list_artifacts(run_id)}


def test_fluent_artifacts_land_on_the_iteration(client: Any, tmp_path: Path) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    single = tmp_path / "notes.txt"
    single.write_text("first notes")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [3, 1, 2])
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="copies")
        mlflow.log_artifacts(str(folder), artifact_path="data")
        mlflow.log_figure(figure, "plots/curve.png")
        mlflow.log_text("some text", "texts/t.txt")
        mlflow.log_dict({"lr": 0.1, "layers": [3, 4]}, "config/params.json")
        mlflow.log_image(np.zeros((4, 4, 3), dtype=np.uint8), "images/black.png")
    plt.close(figure)
    run_id = run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/{run.info.experiment_id}/{run_id}/artifacts"

    assert names(run_id) == {
        "notes.txt", "copies/notes.txt", "data/a.csv", "data/sub/b.bin",
        "plots/curve.png", "texts/t.txt", "config/params.json", "images/black.png",
    }  # fmt: skip
    by_name = {a["name"]: a for a in tracking.list_artifacts(run_id)}
    assert by_name["plots/curve.png"]["media_type"] == "image/png"
    blob = (folder / "sub" / "b.bin").read_bytes()
    assert by_name["data/sub/b.bin"]["sha256"] == hashlib.sha256(blob).hexdigest()

    root = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in root] == [
        ("config", True), ("copies", True), ("data", True), ("images", True),
        ("notes.txt", False), ("plots", True), ("texts", True),
    ]  # fmt: skip
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "data/sub")] == [
        ("data/sub/b.bin", len(blob))
    ]
    assert client.list_artifacts(run_id, "notes.txt") == []

    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "all")))
    assert (out / "data" / "sub" / "b.bin").read_bytes() == blob
    assert (out / "notes.txt").read_text() == "first notes"
    assert json.loads((out / "config" / "params.json").read_text()) == {"lr": 0.1, "layers": [3, 4]}
    assert (out / "plots" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/texts/t.txt") == "some text"
    # mlops' own download gives the same bytes
    mine = tracking.download_artifacts(run_id, "data/sub/b.bin", tmp_path / "mine")
    assert Path(mine).read_bytes() == blob


def test_files_logged_with_mlops_read_in_mlflow(
    client: Any, app: AppProcess, tmp_path: Path
) -> None:
    project = tracking.create_project("native")
    experiment = tracking.create_experiment("logged natively", project_id=project["id"])
    it = tracking.start_iteration("native", experiment_id=experiment["id"])
    it.log_text("from mlops", "notes/hello.txt")
    it.log_dict({"k": [1, 2]}, "cfg.json")
    run_id = it.end_iteration()["id"]
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id)] == [
        ("cfg.json", False), ("notes", True),
    ]  # fmt: skip
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "from mlops"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/cfg.json") == {"k": [1, 2]}
    listed = httpx.get(f"{app.url}/api/2.0/mlflow/artifacts/list",
                       params={"run_id": run_id, "path": "notes"}).json()  # fmt: skip
    assert listed["root_uri"].endswith(f"/{run_id}/artifacts")
    assert listed["files"] == [{"path": "notes/hello.txt", "is_dir": False, "file_size": 10}]


def test_a_name_logged_again_points_at_its_new_bytes(client: Any, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("one", "t.txt")
        mlflow.log_text("two", "t.txt")
        mlflow.log_text("", "empty.txt")
        mlflow.log_text("ünï", "odd names/café 1%.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/t.txt") == "two"
    sizes = {a["name"]: a["size_bytes"] for a in tracking.list_artifacts(run.info.run_id)}
    assert sizes == {"t.txt": 3, "empty.txt": 0, "odd names/café 1%.txt": len("ünï".encode())}
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/empty.txt") == ""
    odd = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/odd names/café 1%.txt")
    assert odd == "ünï"


def test_sklearn_model_registered_aliased_and_loaded_back(client: Any, tmp_path: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 0.1], [3.0, 0.0], [0.5, 2.0], [2.5, 0.3]])
    y = np.array([0, 0, 1, 1, 0, 1])
    estimator = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(estimator, name="model", pip_requirements=["scikit-learn"])
    run_id, model_id = run.info.run_id, info.model_id
    assert info.model_uri == f"models:/{model_id}"
    logged = client.get_logged_model(model_id)
    assert (logged.name, logged.source_run_id, str(logged.status)) == ("model", run_id, "READY")
    assert logged.artifact_location.endswith(f"/{run_id}/artifacts/models/{model_id}")
    assert tracking.get_iteration(run_id)["tags"]["mlops.logged_models"] == "true"
    files = {a["name"] for a in tracking.list_artifacts(run_id, f"models/{model_id}")}
    listed = httpx.get(
        f"{mlflow.get_tracking_uri()}/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/directories"
    ).json()
    assert listed["root_uri"] == logged.artifact_location
    assert {f["path"] for f in listed["files"]} == {f.rsplit("/", 1)[1] for f in files}
    assert {f"models/{model_id}/MLmodel", f"models/{model_id}/requirements.txt"} <= files

    version = mlflow.register_model(f"runs:/{run_id}/model", "churn")
    assert (version.version, version.source, version.run_id) == ("1", info.model_uri, run_id)
    client.set_registered_model_alias("churn", "champion", version.version)
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    registered = client.get_registered_model("churn")
    assert registered.aliases == {"champion": "1"}
    assert [v.version for v in registered.latest_versions] == ["1"]
    assert [v.version for v in client.search_model_versions("name = 'churn'")] == ["1"]
    assert "churn" in [m.name for m in client.search_registered_models()]
    assert [m.name for m in client.search_registered_models("name LIKE 'chu%'")] == ["churn"]
    assert client.search_registered_models("name = 'other'") == []
    with pytest.warns(FutureWarning):  # stages are deprecated in MLflow
        assert [v.version for v in client.get_latest_versions("churn")] == ["1"]

    expected = estimator.predict_proba(x)
    for uri in (
        "models:/churn@champion",
        "models:/churn/1",
        info.model_uri,
        f"runs:/{run_id}/model",
    ):
        (where := tmp_path / uuid.uuid4().hex).mkdir()
        loaded = mlflow.sklearn.load_model(uri, dst_path=str(where))
        assert np.allclose(loaded.predict_proba(x), expected), uri

    # the same data through mlops' own API
    assert tracking.get_model("churn")["aliases"] == {"champion": 1}
    mine = tracking.get_model_version("churn", "champion")
    assert (mine["iteration_id"], mine["artifact"]) == (run_id, f"models/{model_id}")

    second = mlflow.register_model(info.model_uri, "churn")
    assert second.version == "2"
    client.set_registered_model_alias("churn", "champion", "2")
    assert tracking.get_model("churn")["aliases"] == {"champion": 2}


def test_a_logged_model_is_deleted_with_its_files_unless_registered(client: Any) -> None:
    from sklearn.linear_model import LinearRegression

    estimator = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    with mlflow.start_run() as run:
        kept = mlflow.sklearn.log_model(estimator, name="kept", pip_requirements=["scikit-learn"])
        gone = mlflow.sklearn.log_model(estimator, name="gone", pip_requirements=["scikit-learn"])
    run_id = run.info.run_id
    mlflow.register_model(kept.model_uri, "kept-model")
    client.delete_logged_model(gone.model_id)
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
        client.get_logged_model(gone.model_id)
    assert tracking.list_artifacts(run_id, f"models/{kept.model_id}")
    assert not any(
        a["name"].startswith(f"models/{gone.model_id}") for a in tracking.list_artifacts(run_id)
    )
    with pytest.raises(mlflow.exceptions.MlflowException, match="kept-model"):
        client.delete_logged_model(kept.model_id)  # a registered version uses its files
    assert client.get_logged_model(kept.model_id).name == "kept"


@pytest.mark.filterwarnings("ignore:`y_pred` was renamed:FutureWarning")  # mlflow's metric call
def test_sklearn_autolog_logs_its_model_and_plots(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.utils.environment
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    # the server is under test, not the client's (slow) scan of the environment
    monkeypatch.setattr(mlflow.utils.environment, "_infer_requirements", lambda *a, **k: [])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    mlflow.sklearn.autolog(log_datasets=False, silent=True)
    try:
        with mlflow.start_run() as run:
            fitted = LogisticRegression().fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    logged = names(run.info.run_id)
    assert {"training_confusion_matrix.png", "estimator.html"} <= logged
    assert any(n.startswith("models/m-") and n.endswith("/MLmodel") for n in logged)
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert (loaded.predict(x) == fitted.predict(x)).all()


def test_a_saved_model_folder_logged_as_artifacts_registers_too(
    client: Any, tmp_path: Path
) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x, y = np.arange(6.0).reshape(3, 2), np.array([1.0, 2.0, 3.0])
    fitted = LinearRegression().fit(x, y)
    mlflow.sklearn.save_model(fitted, tmp_path / "saved", pip_requirements=["scikit-learn"])
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path / "saved"), "legacy")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/legacy", "legacy")
    assert version.source == f"runs:/{run.info.run_id}/legacy"
    loaded = mlflow.sklearn.load_model("models:/legacy/1")
    assert np.allclose(loaded.predict(x), fitted.predict(x))
    mine = tracking.get_model_version("legacy", 1)
    assert (mine["iteration_id"], mine["artifact"]) == (run.info.run_id, "legacy")


def test_models_outside_a_run_and_in_the_default_experiment(client: Any, tmp_path: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x, y = np.arange(8.0).reshape(4, 2), np.array([0.5, 1.5, 2.5, 3.5])
    tree = LinearRegression().fit(x, y)
    free = mlflow.sklearn.log_model(tree, name="free-tree", pip_requirements=["scikit-learn"])
    holder = tracking.get_iteration(client.get_logged_model(free.model_id).source_run_id)
    assert (holder["name"], holder["tags"]["mlops.logged_model"]) == ("free-tree", "true")
    assert np.allclose(mlflow.sklearn.load_model(free.model_uri).predict(x), tree.predict(x))

    mlflow.set_experiment(experiment_id="0")  # MLflow's Default experiment
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(tree, name="tree", pip_requirements=["scikit-learn"])
    found = client.search_logged_models(experiment_ids=["0"], filter_string="name = 'tree'")
    assert [m.source_run_id for m in found] == [run.info.run_id]
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/tree")
    assert np.allclose(loaded.predict(x), tree.predict(x))
    with pytest.raises(mlflow.exceptions.MlflowException, match="equality only"):
        client.search_logged_models(experiment_ids=["0"], filter_string="name LIKE 't%'")


def test_multipart_upload_in_proxy_mode(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1 << 20))
    data = os.urandom(1 << 20) * 2 + b"tail"  # three parts, the last one short
    big = tmp_path / "weights.bin"
    big.write_bytes(data)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="ckpt")
    (found,) = tracking.list_artifacts(run.info.run_id)
    assert (found["name"], found["size_bytes"]) == ("ckpt/weights.bin", len(data))
    assert found["sha256"] == hashlib.sha256(data).hexdigest()
    # it went in parts: each part is a blob of its own in the App
    part = hashlib.sha256(data[: 1 << 20]).hexdigest()
    assert httpx.get(f"{mlflow.get_tracking_uri()}/api/v1/blobs/{part}").status_code == 200
    back = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="ckpt/weights.bin", dst_path=str(tmp_path / "d")
    )
    assert Path(back).read_bytes() == data


def test_a_big_upload_streams_through_the_app(client: Any, app: AppProcess) -> None:
    psutil = pytest.importorskip("psutil")
    with mlflow.start_run() as run:
        pass
    root = f"{run.info.experiment_id}/{run.info.run_id}/artifacts"
    process = psutil.Process(app.proc.pid)
    before = process.memory_info().rss
    chunk, count = os.urandom(1 << 20), 160

    def body() -> Iterator[bytes]:
        for _ in range(count):
            yield chunk

    answer = httpx.put(
        f"{app.url}/api/2.0/mlflow-artifacts/artifacts/{root}/big.bin",
        content=body(), headers={"content-type": "application/octet-stream"}, timeout=120,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    grew = process.memory_info().rss - before
    assert grew < 64 << 20, f"the App grew by {grew >> 20} MiB for a {count} MiB upload"
    (found,) = tracking.list_artifacts(run.info.run_id)
    assert found["size_bytes"] == count << 20
    assert found["sha256"] == hashlib.sha256(chunk * count).hexdigest()


# -- refused paths ---------------------------------------------------------------------------
@pytest.fixture
def run_root(client: Any) -> Iterator[str]:
    with mlflow.start_run() as run:
        mlflow.log_text("kept", "kept.txt")
    yield f"{run.info.experiment_id}/{run.info.run_id}/artifacts"


def raw(app: AppProcess, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """A request whose path is sent byte for byte (no client normalises ``..`` away)."""
    connection = http.client.HTTPConnection("127.0.0.1", int(app.url.rsplit(":", 1)[1]))
    headers = {"content-type": "application/json" if method == "POST" else "text/plain"}
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    text = answer.read()
    connection.close()
    return answer.status, json.loads(text) if text else None


TRAVERSALS = [
    "{root}/../../../escape.txt",
    "{root}/%2e%2e/%2e%2e/escape.txt",
    "{root}/%2E%2E%2F%2E%2E%2Fescape.txt",
    "{root}/%252e%252e/escape.txt",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "{root}/..%5C..%5Cescape.txt",
    "{root}/a%5Cb.txt",
    "{root}/evil%00.txt",
    "{root}/./x.txt",
    "{root}//x.txt",
    "C:/windows/x.txt",
]


@pytest.mark.parametrize("template", TRAVERSALS)
def test_traversal_is_refused_everywhere(app: AppProcess, run_root: str, template: str) -> None:
    path = template.format(root=run_root)
    base = "/api/2.0/mlflow-artifacts"
    calls = [
        ("PUT", f"{base}/artifacts/{path}", b"bytes"),
        ("GET", f"{base}/artifacts/{path}", None),
        ("GET", f"{base}/artifacts?path={path}", None),
        ("POST", f"{base}/mpu/create/{path}", b'{"path": "x.bin", "num_parts": 1}'),
        ("PUT", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{path}", b"bytes"),
        ("DELETE", f"{base}/artifacts/{path}", None),
        ("DELETE", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{path}", None),
    ]
    for method, url, body in calls:
        status, answer = raw(app, method, url, body)
        assert status == 400, (method, url, status, answer)
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE", (method, url, answer)
    run_id = run_root.split("/")[1]
    assert names(run_id) == {"kept.txt"}


@pytest.mark.parametrize("name", ["../../escape.bin", "..", "a/..", "C:\\x\\..\\..\\y"])
def test_multipart_file_names_are_checked(app: AppProcess, run_root: str, name: str) -> None:
    body = json.dumps({"path": name, "num_parts": 1}).encode()
    status, answer = raw(app, "POST", f"/api/2.0/mlflow-artifacts/mpu/create/{run_root}", body)
    if name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] in ("..", ""):
        assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    else:  # only the base name counts, as in MLflow: "escape.bin" inside the run
        assert status == 200, answer


def test_the_records_of_logged_models_cannot_be_forged(
    app: AppProcess, client: Any, run_root: str
) -> None:
    run_id = run_root.split("/")[1]
    model_id = f"m-{run_id}-0123abcd"
    record = f".mlflow/logged-models/{model_id}.json"
    status, answer = raw(
        app, "PUT", f"/api/2.0/mlflow-artifacts/artifacts/{run_root}/{record}", b"{}"
    )
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    body = json.dumps({"path": "x.json", "num_parts": 1}).encode()
    status, answer = raw(
        app, "POST", f"/api/2.0/mlflow-artifacts/mpu/create/{run_root}/.mlflow", body
    )
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    # a file written there by other means is checked, never trusted
    it = tracking.resume_iteration(run_id)
    it.log_text('{"model_id": "not this one"}', record)
    it.end_iteration()
    assert record in names(run_id)
    status, answer = raw(app, "GET", f"/api/2.0/mlflow/logged-models/{model_id}")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_the_mlflow_client_deletes_files_and_folders(client: Any, app: AppProcess) -> None:
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    with mlflow.start_run() as run:
        for name in ("a.txt", "keep.txt", "dir/b.txt", "dir/sub/c.txt", "dir2/d.txt", "e.txt"):
            mlflow.log_text(name, name)
    run_id, uri = run.info.run_id, run.info.artifact_uri
    repo = MlflowArtifactsRepository(uri)
    repo.delete_artifacts("a.txt")
    repo.delete_artifacts("dir")  # the folder and everything in it, not dir2/
    assert names(run_id) == {"keep.txt", "dir2/d.txt", "e.txt"}
    assert [f.path for f in client.list_artifacts(run_id)] == ["dir2", "e.txt", "keep.txt"]
    # the other prefix, raw
    root = uri.removeprefix("mlflow-artifacts:/")
    status, answer = raw(app, "DELETE", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{root}/e.txt")
    assert (status, answer) == (200, {})
    assert names(run_id) == {"keep.txt", "dir2/d.txt"}
    # the client raises requests' HTTPError with MLflow's error body, as against MLflow
    with pytest.raises(requests.HTTPError) as missing:
        repo.delete_artifacts("a.txt")
    assert missing.value.response is not None and missing.value.response.status_code == 404
    assert missing.value.response.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"run {run_id} has no artifact 'a.txt'"
    }  # fmt: skip
    with pytest.raises(requests.HTTPError) as whole:
        repo.delete_artifacts()  # the run's whole root is not deleted this way
    assert whole.value.response is not None
    refused = whole.value.response.json()
    assert refused["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "delete the run instead" in refused["message"]
    status, answer = raw(app, "DELETE", f"/api/2.0/mlflow-artifacts/artifacts/{root}/.mlflow/x")
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    unknown = f"{root.split('/')[0]}/{uuid.uuid4().hex}/artifacts/keep.txt"
    status, answer = raw(app, "DELETE", f"/api/2.0/mlflow-artifacts/artifacts/{unknown}")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert names(run_id) == {"keep.txt", "dir2/d.txt"}


def test_unknown_run_and_file(app: AppProcess, run_root: str) -> None:
    experiment = run_root.split("/")[0]
    status, answer = raw(app, "PUT", f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/"
                         f"{uuid.uuid4().hex}/artifacts/x.txt", b"x")  # fmt: skip
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, answer = raw(app, "GET", f"/api/2.0/mlflow-artifacts/artifacts/{run_root}/nope.txt")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, answer = raw(app, "GET", "/api/2.0/mlflow-artifacts/artifacts/just/a-folder")
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_log_model_of_older_clients_keeps_the_history_tag(app: AppProcess, client: Any) -> None:
    summary = {"artifact_path": "model", "flavors": {"sklearn": {}}, "utc_time_created": "t"}
    with mlflow.start_run() as run:
        for _ in range(2):
            body = {"run_id": run.info.run_id, "model_json": json.dumps(
                {**summary, "run_id": run.info.run_id})}  # fmt: skip
            status, _answer = raw(
                app, "POST", "/api/2.0/mlflow/runs/log-model", json.dumps(body).encode()
            )
            assert status == 200
    history = json.loads(
        tracking.get_iteration(run.info.run_id)["tags"]["mlflow.log-model.history"]
    )
    assert [h["artifact_path"] for h in history] == ["model", "model"]


def test_calls_without_mlops_records_answer_not_implemented(app: AppProcess, run_root: str) -> None:
    for method, path in [
        ("POST", "/api/2.0/mlflow/artifacts/presigned-upload-url"),
        ("GET", f"/api/2.0/mlflow-artifacts/presigned/{run_root}/kept.txt"),
    ]:
        status, answer = raw(app, method, path, b"{}" if method == "POST" else None)
        assert (status, answer["error_code"]) == (501, "NOT_IMPLEMENTED"), path
    status, answer = raw(app, "GET", "/api/2.0/mlflow/registered-models/get?name=nope")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, answer = raw(app, "GET", "/api/2.0/mlflow/logged-models/m-nope")
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_tokens_guard_the_proxy_and_travel_with_multipart_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.store.sql.store import SqlStore

    db = f"sqlite:///{tmp_path / 'auth.db'}"
    store = SqlStore(db)
    writer, _ = store.create_token("writer", "write")
    reader, _ = store.create_token("reader", "read")
    store.close()
    app = AppProcess(db, "--auth")
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", writer)
        monkeypatch.setenv("MLOPS_API_TOKEN", writer)
        monkeypatch.setenv("MLOPS_TRACKING_URI", app.url)
        monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
        monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
        monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1 << 20))
        monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
        mlflow.set_tracking_uri(app.url)
        mlflow.set_experiment("guarded")
        data = os.urandom((1 << 20) + 10)
        (tmp_path / "w.bin").write_bytes(data)
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(tmp_path / "w.bin"))
        (found,) = tracking.list_artifacts(run.info.run_id)
        assert found["sha256"] == hashlib.sha256(data).hexdigest()
        root = f"{run.info.experiment_id}/{run.info.run_id}/artifacts"
        url = f"{app.url}/api/2.0/mlflow-artifacts/artifacts/{root}/x.txt"
        assert httpx.put(url, content=b"x").status_code == 401
        as_reader = {"Authorization": f"Bearer {reader}"}
        answer = httpx.put(url, content=b"x", headers=as_reader)
        assert (answer.status_code, answer.json()["error_code"]) == (403, "PERMISSION_DENIED")
        listed = httpx.get(f"{app.url}/api/2.0/mlflow-artifacts/artifacts?path={root}",
                           headers=as_reader)  # fmt: skip
        assert [f["path"] for f in listed.json()["files"]] == ["w.bin"]
        doomed = f"{app.url}/api/2.0/mlflow-artifacts/artifacts/{root}/w.bin"
        mine = f"{app.url}/api/v1/iterations/{run.info.run_id}/artifacts/w.bin"
        for url in (doomed, mine):
            assert httpx.delete(url).status_code == 401
            assert httpx.delete(url, headers=as_reader).status_code == 403
        assert [a["name"] for a in tracking.list_artifacts(run.info.run_id)] == ["w.bin"]
        answer = httpx.delete(mine, headers={"Authorization": f"Bearer {writer}"})
        assert answer.json() == {"iteration_id": run.info.run_id, "name": "w.bin", "deleted": 1}
        assert tracking.list_artifacts(run.info.run_id) == []
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        app.stop()


def test_the_registry_keeps_what_mlflow_clients_send(client: Any) -> None:
    """Every registered-model and model-version call of MlflowClient, read back through
    mlops' own API: nothing sent is dropped."""
    from mlflow.exceptions import MlflowException

    name = f"reg-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run() as run:
        mlflow.log_text("flavors: {}", "model/MLmodel")
    run_id = run.info.run_id
    made = client.create_registered_model(name, {"team": "cv"}, "a classifier")
    assert (made.name, made.tags, made.description) == (name, {"team": "cv"}, "a classifier")
    got = client.get_registered_model(name)
    assert (got.tags, got.description, got.latest_versions) == ({"team": "cv"}, "a classifier", [])
    mine = tracking.get_model(name)
    assert (mine["tags"], mine["description"], mine["latest_version"]) == (
        {"team": "cv"}, "a classifier", None,
    )  # fmt: skip
    with pytest.raises(MlflowException, match="already exists"):
        client.create_registered_model(name)

    first = client.create_model_version(
        name, f"runs:/{run_id}/model", run_id, tags={"data": "v1"}, description="first"
    )
    assert (first.version, first.tags, first.description) == ("1", {"data": "v1"}, "first")
    second = client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    assert tracking.get_model_version(name, 1)["tags"] == {"data": "v1"}
    assert tracking.get_model(name)["latest_version"] == 2

    client.update_registered_model(name, "better")
    client.set_registered_model_tag(name, "stage", "beta")
    client.delete_registered_model_tag(name, "team")
    client.delete_registered_model_tag(name, "absent")  # no error, as in MLflow
    client.update_model_version(name, "1", "described")
    client.set_model_version_tag(name, "1", "ok", "yes")
    client.delete_model_version_tag(name, "1", "data")
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "latest", second.version)
    mine = tracking.get_model(name)
    assert (mine["description"], mine["tags"]) == ("better", {"stage": "beta"})
    assert mine["aliases"] == {"champion": 1, "latest": 2}
    version = tracking.get_model_version(name, "champion")
    assert (version["description"], version["tags"]) == ("described", {"ok": "yes"})
    got = client.get_model_version(name, "1")
    assert (got.description, got.tags, got.aliases) == ("described", {"ok": "yes"}, ["champion"])
    assert [m.name for m in client.search_registered_models("tags.stage = 'beta'")] == [name]
    assert [
        v.version for v in client.search_model_versions(f"name = '{name}' and tag.ok = 'yes'")
    ] == ["1"]

    client.delete_registered_model_alias(name, "latest")
    client.delete_registered_model_alias(name, "latest")  # no error, as in MLflow
    assert tracking.get_model(name)["aliases"] == {"champion": 1}
    with pytest.warns(FutureWarning), pytest.raises(MlflowException, match="alias"):
        client.transition_model_version_stage(name, "1", "Production")
    with pytest.warns(FutureWarning):  # every version is in stage "None"
        assert client.get_latest_versions(name, ["Production"]) == []
    with pytest.warns(FutureWarning):
        assert [v.version for v in client.get_latest_versions(name, ["None"])] == ["2"]
    copied = client.copy_model_version(f"models:/{name}/1", f"{name}-copy")
    assert (copied.version, copied.tags, copied.description) == ("1", {"ok": "yes"}, "described")
    assert tracking.get_model_version(f"{name}-copy", 1)["iteration_id"] == run_id
    client.delete_registered_model(f"{name}-copy")

    client.rename_registered_model(name, f"{name}-v2")  # MlflowClient answers None
    name = f"{name}-v2"
    assert client.get_registered_model(name).tags == {"stage": "beta"}
    assert tracking.get_model(name)["aliases"] == {"champion": 1}
    assert tracking.get_model_version(name, 1)["tags"] == {"ok": "yes"}
    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException, match="not found"):
        client.get_model_version(name, "2")
    with pytest.raises(NotFound):
        tracking.get_model_version(name, 2)
    assert tracking.get_model(name)["latest_version"] == 1
    assert client.create_model_version(name, f"runs:/{run_id}/model", run_id).version == "3"
    client.delete_registered_model(name)
    with pytest.raises(MlflowException, match="not found"):
        client.get_registered_model(name)
    with pytest.raises(NotFound):
        tracking.get_model(name)
    assert "model/MLmodel" in names(run_id)  # the run keeps its files


BAD, GONE = "INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("DELETE", "registered-models/delete", {}, BAD),
        ("DELETE", "registered-models/delete", {"name": "nope"}, GONE),
        ("POST", "registered-models/rename", {"name": "nope"}, BAD),
        ("PATCH", "model-versions/update", {"name": "nope", "version": "x"}, BAD),
        ("POST", "model-versions/set-tag", {"name": "n", "version": "1", "key": 3}, BAD),
        ("POST", "model-versions/transition-stage", {"name": "n", "version": "1", "stage": "P"}, GONE),  # noqa: E501
        ("POST", "registered-models/create", {"name": "x", "tags": "no"}, BAD),
        ("POST", "registered-models/create", {"name": "a/b"}, BAD),
        ("DELETE", "registered-models/alias", {"name": "nope", "alias": "a"}, GONE),
    ],
)  # fmt: skip
def test_bad_registry_calls_answer_mlflow_errors(
    app: AppProcess, method: str, path: str, body: dict[str, Any], code: str
) -> None:
    answer = httpx.request(method, f"{app.url}/api/2.0/mlflow/{path}", json=body)
    assert answer.status_code in (400, 404), answer.text
    assert answer.json()["error_code"] == code, answer.text
