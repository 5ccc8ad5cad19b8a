"""Artifact rows and the model registry of the SQL store, on SQLite and PostgreSQL; deleting
artifact rows on every backend (SQLite, PostgreSQL, a real App over HTTP)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from mlops.entities import Artifact
from mlops.errors import InvalidInput, NotFound
from mlops.store.base import Store
from mlops.store.sql.store import SqlStore


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def artifact(iteration_id: str, name: str, body: str = "x", step: int | None = None) -> Artifact:
    return Artifact(iteration_id, name, len(body), sha(body), "text/plain", time.time(), step)


def _iteration(store: SqlStore, iteration_id: str = "it1") -> str:
    project = store.create_project(f"p-{iteration_id}", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    store.create_iteration(iteration_id, "run", experiment.id, None, time.time(), {})
    return iteration_id


def test_artifact_rows_are_listed_replaced_and_kept_once(sql_store: SqlStore) -> None:
    it = _iteration(sql_store)
    rows = [
        artifact(it, "model/model.pkl", "weights"),
        artifact(it, "model/config.json", "{}"),
        artifact(it, "plots/roc#1.png", "png"),
        artifact(it, "samples", "img0", step=0),
        artifact(it, "samples", "img1", step=1),
    ]
    sql_store.log_artifacts(it, rows)
    sql_store.log_artifacts(it, rows)  # a retry keeps one row each
    listed = sql_store.list_artifacts(it)
    assert [(a.name, a.step) for a in listed] == [
        ("model/config.json", None), ("model/model.pkl", None), ("plots/roc#1.png", None),
        ("samples", 0), ("samples", 1),
    ]  # fmt: skip
    assert listed[1] == rows[0]
    sql_store.log_artifacts(it, [artifact(it, "model/model.pkl", "better weights")])
    [config, model] = sql_store.list_artifacts(it, prefix="model")
    assert (config.name, model.sha256) == ("model/config.json", sha("better weights"))
    assert sql_store.list_artifacts(it, prefix="model/model.pkl") == [model]
    assert sql_store.list_artifacts(it, prefix="mod") == []
    assert sha("better weights") in sql_store.artifact_digests()
    assert sha("weights") not in sql_store.artifact_digests()


def test_bad_artifact_rows_are_refused_with_the_reason(sql_store: SqlStore) -> None:
    it = _iteration(sql_store)
    sql_store.log_artifacts(it, [artifact(it, "model/model.pkl")])
    with pytest.raises(InvalidInput, match="both a file and a folder"):
        sql_store.log_artifacts(it, [artifact(it, "model")])
    with pytest.raises(InvalidInput, match="both a file and a folder"):
        sql_store.log_artifacts(it, [artifact(it, "model/model.pkl/inner")])
    with pytest.raises(InvalidInput, match=r"'\.\.'"):
        sql_store.log_artifacts(it, [artifact(it, "../escape")])
    with pytest.raises(InvalidInput, match="sha256"):
        sql_store.log_artifacts(it, [Artifact(it, "a", 1, "nope", "text/plain", 0.0)])
    with pytest.raises(InvalidInput, match="belongs to iteration"):
        sql_store.log_artifacts(it, [artifact("other", "a")])
    with pytest.raises(NotFound, match="'missing'"):
        sql_store.log_artifacts("missing", [artifact("missing", "a")])
    with pytest.raises(NotFound):
        sql_store.list_artifacts("missing")
    sql_store.log_artifacts(it, [])  # nothing to record is fine (schemathesis sent it: a 500)
    assert [a.name for a in sql_store.list_artifacts(it)] == ["model/model.pkl"]


def test_models_have_numbered_versions_and_movable_aliases(sql_store: SqlStore) -> None:
    first, second = _iteration(sql_store, "it1"), _iteration(sql_store, "it2")
    with pytest.raises(NotFound, match=r"has no artifact 'model'.*log it first"):
        sql_store.register_model("digits", first, "model", None, "alice")
    for it in (first, second):
        sql_store.log_artifacts(it, [artifact(it, "model/model.pkl", it)])
    v1 = sql_store.register_model("digits", first, "model", "baseline", "alice")
    v2 = sql_store.register_model("digits", second, "model/model.pkl", None, "bob")
    assert (v1.version, v2.version, v2.artifact) == (1, 2, "model/model.pkl")
    assert sql_store.get_model("digits").latest_version == 2
    moved = sql_store.set_model_alias("digits", "production", 1, "alice")
    assert moved.version == 1 and moved.aliases["production"][0] == "alice"
    sql_store.set_model_alias("digits", "production", 2, "carol")
    sql_store.set_model_alias("digits", "staging", 1, "carol")
    production = sql_store.get_model_version("digits", "production")
    assert production.version == 2 and production.aliases["production"][0] == "carol"
    assert sql_store.get_model_version("digits", "1").aliases.keys() == {"staging"}
    assert sql_store.get_model_version("digits", 2).iteration_id == second
    assert sql_store.get_model("digits").aliases == {"production": 2, "staging": 1}
    assert [v.version for v in sql_store.list_model_versions("digits")] == [2, 1]
    assert [m.name for m in sql_store.list_models()] == ["digits"]
    assert sql_store.model_digests() == {sha(first), sha(second)}
    with pytest.raises(InvalidInput, match="is a number"):
        sql_store.set_model_alias("digits", "3", 1, "alice")
    with pytest.raises(NotFound, match="no version 9"):
        sql_store.set_model_alias("digits", "canary", 9, "alice")
    with pytest.raises(NotFound, match=r"no alias 'canary'.*production, staging"):
        sql_store.get_model_version("digits", "canary")
    with pytest.raises(NotFound, match="no model is registered as 'nope'"):
        sql_store.get_model("nope")
    with pytest.raises(NotFound, match="no version 7"):
        sql_store.get_model_version("digits", 7)


def _uploaded(
    store: Store, tmp_path: Path, it: str, name: str, body: str, step: int | None = None
) -> Artifact:
    """An artifact row whose bytes are stored where this store keeps them (the App checks)."""
    from mlops.tracking._artifacts import files_for

    path = tmp_path / "upload"
    path.write_text(body)
    blob = files_for(store).put(path)
    return Artifact(it, name, blob.size, blob.digest, "text/plain", time.time(), step)


def test_deleting_a_file_a_folder_or_an_image_series(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "artifacts"))
    project = store.create_project("files", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    it = store.create_iteration("del1", "run", experiment.id, None, time.time(), {}).id
    layout = [
        ("model/model.pkl", "weights", None), ("model/config.json", "{}", None),
        ("model_v2/model.pkl", "weights", None), ("model.txt", "notes", None),
        ("samples", "img0", 0), ("samples", "img1", 1), ("m_d/a.txt", "a", None),
        ("mXd/b.txt", "b", None), ("100%/c.txt", "c", None), ("100%x/d.txt", "d", None),
    ]  # fmt: skip
    store.log_artifacts(it, [_uploaded(store, tmp_path, it, n, b, s) for n, b, s in layout])
    store.end_iteration(it, "finished", time.time())  # deleting is allowed after the end

    assert store.delete_artifacts(it, "model") == 2  # the folder, not model_v2/ nor model.txt
    assert store.delete_artifacts(it, "samples") == 2  # every step of the series
    assert store.delete_artifacts(it, "m_d") == 1  # "_" and "%" are no wildcards
    assert store.delete_artifacts(it, "100%") == 1
    assert store.delete_artifacts(it, "model_v2/model.pkl") == 1
    left = sorted(a.name for a in store.list_artifacts(it))
    assert left == ["100%x/d.txt", "mXd/b.txt", "model.txt"]
    with pytest.raises(NotFound, match="no artifact file or folder 'model'"):
        store.delete_artifacts(it, "model")
    with pytest.raises(NotFound, match="no artifact file or folder 'mod'"):
        store.delete_artifacts(it, "mod")  # a prefix of a name is not a folder
    with pytest.raises(NotFound, match="'missing'"):
        store.delete_artifacts("missing", "model.txt")
    with pytest.raises(InvalidInput, match=r"'\.\.'"):
        store.delete_artifacts(it, "../model.txt")
    # a name logged again after its delete is a new file
    store.log_artifacts(it, [_uploaded(store, tmp_path, it, "model/model.pkl", "new")])
    assert [a.name for a in store.list_artifacts(it, "model")] == ["model/model.pkl"]


def test_a_registered_model_keeps_its_files(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "artifacts"))
    project = store.create_project("registry", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    it = store.create_iteration("reg1", "run", experiment.id, None, time.time(), {}).id
    names = ["model/model.pkl", "model/config.json", "plots/roc.png"]
    store.log_artifacts(it, [_uploaded(store, tmp_path, it, n, n) for n in names])
    store.register_model("digits", it, "model", None, "alice")
    for name in ("model", "model/model.pkl"):
        with pytest.raises(InvalidInput, match=r"version 1 of the registered model 'digits'"):
            store.delete_artifacts(it, name)
    assert store.delete_artifacts(it, "plots") == 1
    assert sorted(a.name for a in store.list_artifacts(it)) == sorted(names[:2])
