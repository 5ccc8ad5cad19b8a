"""Files an iteration produces, through the library, on every backend (embedded SQLite,
PostgreSQL with a shared folder, a real App): logged, listed, downloaded; models registered."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops import tracking
from mlops.errors import InvalidInput, NotFound


@pytest.fixture
def backend(tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An active project and experiment on each backend; PostgreSQL keeps files in a folder
    named by MLOPS_ARTIFACT_STORE (the App's --artifacts for a team)."""
    if tracking_uri.startswith("postgresql"):
        monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "shared-artifacts"))
    project = tracking.create_project("files")
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("e")
    tracking.set_active_experiment(experiment["id"])
    return {"project_id": project["id"], "experiment_id": experiment["id"]}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_files_folders_text_dicts_and_images_are_kept_and_downloaded(
    backend: dict[str, str], tmp_path: Path
) -> None:
    import numpy as np

    weights = os.urandom(200_000)
    (tmp_path / "weights.bin").write_bytes(weights)
    plots = tmp_path / "plots"
    (plots / "inner").mkdir(parents=True)
    (plots / "roc#1.png").write_bytes(b"\x89PNG fake")
    (plots / "inner" / "loss.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    with tracking.start_iteration("files") as it:
        it.log_artifact(tmp_path / "weights.bin")
        it.log_artifact(plots)
        it.log_artifact(tmp_path / "weights.bin", "again/same-bytes.bin")
        it.log_text("# Notes\nworked", "notes.md")
        it.log_dict({"lr": 0.1, "layers": [64, 32]}, "config.json")
        for step in range(3):
            it.log_image(np.full((4, 5, 3), step * 40, dtype=np.uint8), "samples", step=step)
        it.log_image(np.linspace(0, 1, 12).reshape(3, 4), "gray.png")
    listed = {(a["name"], a["step"]): a for a in tracking.list_artifacts(it.id)}
    assert set(listed) == {
        ("weights.bin", None), ("plots/roc#1.png", None), ("plots/inner/loss.csv", None),
        ("again/same-bytes.bin", None), ("notes.md", None), ("config.json", None),
        ("samples", 0), ("samples", 1), ("samples", 2), ("gray.png", None),
    }  # fmt: skip
    assert listed[("weights.bin", None)]["sha256"] == sha(weights)
    assert listed[("again/same-bytes.bin", None)]["sha256"] == sha(weights)
    assert listed[("config.json", None)]["media_type"] == "application/json"
    assert listed[("samples", 1)]["media_type"] == "image/png"

    out = tmp_path / "out"
    assert tracking.download_artifacts(it.id, dst=out) == str(out)
    assert (out / "weights.bin").read_bytes() == weights
    assert (out / "plots" / "inner" / "loss.csv").read_text().startswith("step,loss")
    assert json.loads((out / "config.json").read_text()) == {"lr": 0.1, "layers": [64, 32]}
    assert (out / "notes.md").read_text() == "# Notes\nworked"
    assert (out / "gray.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    folder = tracking.download_artifacts(it.id, "plots", tmp_path / "only-plots")
    assert sorted(p.name for p in Path(folder).rglob("*") if p.is_file()) == [
        "loss.csv",
        "roc#1.png",
    ]
    with pytest.raises(NotFound, match="no file or folder 'nothing'"):
        tracking.download_artifacts(it.id, "nothing", tmp_path / "x")


def test_a_logged_model_is_kept_registered_and_downloaded(
    backend: dict[str, str], tmp_path: Path
) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(b"trained weights v1")
    with tracking.start_iteration("train") as it:
        it.log_metric("acc", 0.9)
        it.log_path_to_model(model)
    assert [a["name"] for a in tracking.list_artifacts(it.id)] == ["model/model.pkl"]
    version = tracking.register_model("digits", it.id)  # right after the end
    assert (version["version"], version["artifact"]) == (1, "model")
    assert tracking.set_model_alias("digits", "production", 1)["aliases"][0]["alias"] == (
        "production"
    )
    assert tracking.get_model("digits")["aliases"] == {"production": 1}
    assert tracking.get_model_version("digits", "production")["iteration_id"] == it.id
    where = tracking.download_model("digits", "production", tmp_path / "deploy")
    assert (Path(where) / "model.pkl").read_bytes() == b"trained weights v1"

    folder_model = tmp_path / "hf-model"
    folder_model.mkdir()
    (folder_model / "config.json").write_text("{}")
    (folder_model / "weights.safetensors").write_bytes(b"w" * 1000)
    with tracking.start_iteration("folder") as it2:
        it2.log_path_to_model(folder_model)
    names = sorted(a["name"] for a in tracking.list_artifacts(it2.id))
    assert names == ["model/config.json", "model/weights.safetensors"]

    with tracking.start_iteration("reference") as it3:
        it3.log_path_to_model(model, copy=False)
    assert tracking.list_artifacts(it3.id) == []
    assert tracking.get_iteration(it3.id)["model"]["sha256"] == sha(b"trained weights v1")
    with pytest.raises(NotFound, match="has no artifact 'model'"):
        tracking.register_model("digits", it3.id)


def test_a_file_that_changes_after_it_was_logged_is_named_and_not_kept(
    mlops_home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    checkpoint = tmp_path / "checkpoint.pt"
    script.write_text(
        "import os, pathlib, time\n"
        "from mlops import tracking\n"
        "from mlops.tracking._uploader import UPLOADER\n"
        "p = tracking.create_project('ckpt'); tracking.set_active_project(p['id'])\n"
        f"ckpt = pathlib.Path({str(checkpoint)!r})\n"
        "ckpt.write_bytes(b'epoch 1')\n"
        "UPLOADER._lock.acquire()  # hold the uploader until the file has changed\n"
        "it = tracking.start_iteration('r')\n"
        "it.log_artifact(ckpt)\n"
        "os.utime(ckpt, ns=(1, 1)); ckpt.write_bytes(b'epoch 2, longer')\n"
        "UPLOADER._lock.release()\n"
        "it.end_iteration()\n"
        "print(len(tracking.list_artifacts(it.id)))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], env={**os.environ, "MLOPS_HOME": str(mlops_home)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    assert "'checkpoint.pt'" in done.stderr and "changed after it was logged" in done.stderr


def test_bad_files_and_names_are_refused_at_the_call(mlops_home: Path, tmp_path: Path) -> None:
    project = tracking.create_project("bad")
    tracking.set_active_project(project["id"])
    with tracking.start_iteration("r") as it:
        with pytest.raises(InvalidInput, match="does not exist"):
            it.log_artifact(tmp_path / "missing.bin")
        (tmp_path / "ok.txt").write_text("x")
        for name in ("../escape", "/abs", "a\\b", "a//b"):
            with pytest.raises(InvalidInput):
                it.log_artifact(tmp_path / "ok.txt", name)
        with pytest.raises(InvalidInput, match="needs a dict"):
            it.log_dict(["not", "a", "dict"], "x.json")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="HxW"):
            import numpy as np

            it.log_image(np.zeros((2, 2, 2), dtype=np.uint8), "bad.png")
        with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
            it.log_image(np.full((2, 2), 3.0), "bad.png")
        with pytest.raises(InvalidInput, match="matplotlib or plotly"):
            it.log_figure(object(), "fig.png")


def test_a_matplotlib_figure_is_kept_as_png(mlops_home: Path, tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    project = tracking.create_project("fig")
    tracking.set_active_project(project["id"])
    figure, axes = pyplot.subplots()
    axes.plot([0, 1, 2], [1.0, 0.5, 0.2])
    with tracking.start_iteration("r") as it:
        it.log_figure(figure, "plots/loss.png")
    pyplot.close(figure)
    out = Path(tracking.download_artifacts(it.id, "plots/loss.png", tmp_path))
    assert out.read_bytes().startswith(b"\x89PNG")


def test_the_same_bytes_are_stored_once(mlops_home: Path, tmp_path: Path) -> None:
    project = tracking.create_project("dedupe")
    tracking.set_active_project(project["id"])
    data = os.urandom(50_000)
    (tmp_path / "a.bin").write_bytes(data)
    for name in ("r1", "r2"):
        with tracking.start_iteration(name) as it:
            it.log_artifact(tmp_path / "a.bin")
            it.log_artifact(tmp_path / "a.bin", "copy.bin")
    blobs = [p for p in (mlops_home / "artifacts" / "blobs").rglob("*") if p.is_file()]
    assert [p.name for p in blobs] == [sha(data)]


def test_a_plotly_figure_without_kaleido_says_what_to_install(mlops_home: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    project = tracking.create_project("plotly")
    tracking.set_active_project(project["id"])
    with tracking.start_iteration("r") as it, pytest.raises(InvalidInput, match="kaleido"):
        it.log_figure(go.Figure(go.Scatter(y=[1, 2])), "plots/p.png")
    assert tracking.list_artifacts(it.id) == []


def test_a_pil_image_and_reference_mode(
    mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_module = pytest.importorskip("PIL.Image")
    project = tracking.create_project("pil")
    tracking.set_active_project(project["id"])
    (tmp_path / "model.pkl").write_bytes(b"weights")
    monkeypatch.setenv("MLOPS_ARTIFACTS", "reference")
    with tracking.start_iteration("r") as it:
        it.log_image(image_module.new("RGB", (3, 2), (255, 0, 0)), "red.png")
        it.log_path_to_model(tmp_path / "model.pkl")
    [only] = tracking.list_artifacts(it.id)
    assert (only["name"], only["media_type"]) == ("red.png", "image/png")
    out = Path(tracking.download_artifacts(it.id, "red.png", tmp_path / "out"))
    assert image_module.open(out).size == (3, 2)
    assert tracking.get_iteration(it.id)["model"]["path"] == str(tmp_path / "model.pkl")
    monkeypatch.setenv("MLOPS_ARTIFACTS", "sometimes")
    with tracking.start_iteration("bad") as bad, pytest.raises(InvalidInput, match="copy"):
        bad.log_path_to_model(tmp_path / "model.pkl")
