"""``mlops artifacts`` (list, download, delete), ``mlops models`` and ``mlops gc`` on the
embedded store, at 80 columns."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner, Result

from mlops import tracking
from mlops.cli import main


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env={"COLUMNS": "80"})


def _trained(tmp_path: Path) -> str:
    project = tracking.create_project("cli-files")
    tracking.set_active_project(project["id"])
    (tmp_path / "model.pkl").write_bytes(b"weights")
    (tmp_path / "report.md").write_text("# done")
    with tracking.start_iteration("train") as it:
        it.log_path_to_model(tmp_path / "model.pkl")
        it.log_artifact(tmp_path / "report.md", "reports/final.md")
    return it.id


def test_artifacts_are_listed_and_downloaded(mlops_home: Path, tmp_path: Path) -> None:
    iteration_id = _trained(tmp_path)
    listed = run("artifacts", "list", iteration_id[:8])
    assert listed.exit_code == 0, listed.output
    assert "model/model.pkl" in listed.output and "reports/final.md" in listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80
    rows = json.loads(run("artifacts", "list", iteration_id, "--json").output)
    assert {r["name"] for r in rows} == {"model/model.pkl", "reports/final.md"}
    out = tmp_path / "out"
    done = run("artifacts", "download", iteration_id[:6], "reports", "-o", str(out))
    assert done.exit_code == 0, done.output
    assert (out / "reports" / "final.md").read_text() == "# done"
    missing = run("artifacts", "download", iteration_id, "nope", "-o", str(out))
    assert missing.exit_code == 1 and missing.output.startswith("error: ")


def test_models_are_listed_and_shown(mlops_home: Path, tmp_path: Path) -> None:
    iteration_id = _trained(tmp_path)
    tracking.register_model("digits", iteration_id)
    tracking.set_model_alias("digits", "production", 1)
    listed = run("models", "list")
    assert listed.exit_code == 0 and "digits" in listed.output and "production" in listed.output
    shown = run("models", "show", "digits", "--json")
    assert json.loads(shown.output)["versions"][0]["iteration_id"] == iteration_id
    unknown = run("models", "show", "nope")
    assert unknown.exit_code == 1 and "no model is registered as 'nope'" in unknown.output


def test_models_show_their_tags_and_empty_models(mlops_home: Path, tmp_path: Path) -> None:
    from mlops.config import tracking_uri
    from mlops.store import open_store

    iteration_id = _trained(tmp_path)
    store = open_store(tracking_uri())
    store.create_model("empty", "not trained yet", {"team": "cv"})
    store.create_model("digits", None, {"stage": "beta"})
    tracking.register_model("digits", iteration_id)
    store.set_model_version_tags("digits", 1, {"data": "v1"})
    listed = run("models", "list")
    assert listed.exit_code == 0, listed.output
    assert (
        "stage=beta" in listed.output
        and "team=cv" in listed.output
        and "vNone" not in listed.output
    )
    shown = run("models", "show", "digits")
    assert "stage=beta" in shown.output and "data=v1" in shown.output
    empty = run("models", "show", "empty")
    assert (
        empty.exit_code == 0 and "not trained yet" in empty.output and "no versions" in empty.output
    )
    assert json.loads(run("models", "show", "digits", "--json").output)["tags"] == {"stage": "beta"}


def test_gc_removes_only_blobs_nothing_refers_to(mlops_home: Path, tmp_path: Path) -> None:
    from mlops.artifacts import open_artifact_store

    _trained(tmp_path)
    files = open_artifact_store(mlops_home / "artifacts")
    orphan = files.write(iter([b"nobody refers to me"]))
    fresh = files.write(iter([b"uploaded a moment ago, not recorded yet"]))
    old = time.time() - 7200
    blob = mlops_home / "artifacts" / "blobs" / orphan.digest[:2] / orphan.digest[2:4]
    os.utime(blob / orphan.digest, (old, old))
    dry = run("gc")
    assert dry.exit_code == 0 and "would remove 1 unreferenced file(s)" in dry.output
    assert files.has(orphan.digest)
    done = run("gc", "--yes")
    assert done.exit_code == 0 and "removed 1 unreferenced file(s)" in done.output
    assert not files.has(orphan.digest) and files.has(fresh.digest)
    assert len(list(files.digests())) == 3  # the model, the report, the fresh upload


def test_artifacts_are_deleted_after_a_confirmation(mlops_home: Path, tmp_path: Path) -> None:
    iteration_id = _trained(tmp_path)
    kept = run("artifacts", "delete", iteration_id[:8], "reports", input="n\n")
    assert kept.exit_code == 1 and "Delete 1 file(s) in the folder 'reports'" in kept.output
    assert "nothing deleted" in kept.output
    assert {a["name"] for a in tracking.list_artifacts(iteration_id)} == {
        "model/model.pkl", "reports/final.md",
    }  # fmt: skip
    done = run("artifacts", "delete", iteration_id[:8], "reports", input="y\n")
    assert done.exit_code == 0 and "deleted 1 file(s)" in done.output, done.output
    assert [a["name"] for a in tracking.list_artifacts(iteration_id)] == ["model/model.pkl"]
    missing = run("artifacts", "delete", iteration_id, "reports", "--yes")
    assert missing.exit_code == 1 and missing.output.startswith("error: ")
    assert "no file or folder 'reports'" in missing.output
    tracking.register_model("digits", iteration_id)
    registered = run("artifacts", "delete", iteration_id, "model", "--yes")
    assert registered.exit_code == 1 and "registered model 'digits'" in registered.output


def test_gc_frees_the_bytes_of_a_deleted_file_nothing_else_uses(
    mlops_home: Path, tmp_path: Path
) -> None:
    from mlops.artifacts import open_artifact_store

    first = _trained(tmp_path)
    with tracking.start_iteration("copy") as it:  # the same report bytes, another record
        it.log_artifact(tmp_path / "report.md", "copy.md")
    files = open_artifact_store(mlops_home / "artifacts")
    [model] = tracking.list_artifacts(first, "model")
    [report] = tracking.list_artifacts(first, "reports")
    assert tracking.delete_artifacts(first, "model") == 1
    assert tracking.delete_artifacts(first, "reports/final.md") == 1
    assert files.has(model["sha256"])  # the bytes stay until gc
    done = run("gc", "--yes", "--min-age", "0")
    assert done.exit_code == 0 and "removed 1 unreferenced file(s)" in done.output, done.output
    assert not files.has(model["sha256"])
    assert files.has(report["sha256"])  # the other iteration's copy.md still uses them
    assert tracking.download_artifacts(it.id, "copy.md", tmp_path / "out")
    assert (tmp_path / "out" / "copy.md").read_text() == "# done"


def test_a_running_iteration_sends_its_queued_files_before_a_delete(mlops_home: Path) -> None:
    project = tracking.create_project("cli-running")
    with tracking.start_iteration("train", project_id=project["id"]) as it:
        it.log_text("scratch", "tmp/scratch.txt")  # queued for the uploader, not recorded yet
        it.log_text("kept", "kept.txt")
        assert tracking.delete_artifacts(it.id, "tmp") == 1
    assert [a["name"] for a in tracking.list_artifacts(it.id)] == ["kept.txt"]
