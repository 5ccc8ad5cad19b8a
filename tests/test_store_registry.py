"""Changing the model registry after registration (empty models, descriptions, tags, renames,
deletes), on every backend (SQLite, PostgreSQL, a real App over HTTP) by the same tests."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from mlops.entities import Artifact
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.base import Store


def _iteration(store: Store, iteration_id: str = "it1") -> str:
    project = store.create_project(f"p-{iteration_id}", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    store.create_iteration(iteration_id, "run", experiment.id, None, time.time(), {})
    sha = hashlib.sha256(b"weights").hexdigest()
    uri = getattr(store, "base", "")
    if isinstance(uri, str) and uri.startswith("http"):  # the App records only bytes it has
        kind = {"Content-Type": "application/octet-stream"}
        httpx.put(f"{uri}/api/v1/blobs/{sha}", content=b"weights", headers=kind).raise_for_status()
    row = Artifact(iteration_id, "model/model.pkl", 7, sha, "application/octet-stream", 1.0)
    store.log_artifacts(iteration_id, [row])
    return iteration_id


def test_a_model_created_empty_holds_description_and_tags_then_gets_version_1(
    store: Store,
) -> None:
    made = store.create_model("clf", "a classifier", {"team": "cv", "task": "images"}, "ada")
    assert (made.name, made.description, made.latest_version) == ("clf", "a classifier", None)
    assert made.tags == {"team": "cv", "task": "images"}
    assert store.get_model("clf") == made
    assert store.list_model_versions("clf") == []
    with pytest.raises(AlreadyExists, match="clf"):
        store.create_model("clf")
    it = _iteration(store)
    assert store.register_model("clf", it, "model", None, "ada").version == 1
    model = store.get_model("clf")
    assert (model.latest_version, model.description, model.tags["team"]) == (
        1,
        "a classifier",
        "cv",
    )

    assert store.update_model("clf", "better").description == "better"
    assert store.update_model("clf", None).description is None
    tagged = store.set_model_tags("clf", {"stage": "beta", "team": "nlp"}, delete=["task"])
    assert tagged.tags == {"stage": "beta", "team": "nlp"}
    assert store.set_model_tags("clf", delete=["absent"]).tags == tagged.tags
    assert store.list_models()[0].tags == {"stage": "beta", "team": "nlp"}
    with pytest.raises(InvalidInput, match="both set and deleted"):
        store.set_model_tags("clf", {"a": "1"}, delete=["a"])
    with pytest.raises(InvalidInput, match="text"):
        store.set_model_tags("clf", {"a": 1})  # type: ignore[dict-item]
    with pytest.raises(NotFound):
        store.set_model_tags("nope", {"a": "1"})
    with pytest.raises(InvalidInput, match="'/'"):
        store.create_model("a/b")


def test_versions_take_tags_and_descriptions_and_deleted_numbers_are_not_given_again(
    store: Store,
) -> None:
    it = _iteration(store)
    for _ in range(3):
        store.register_model("clf", it, "model", "first", "ada")
    tagged = store.set_model_version_tags("clf", 2, {"data": "v2", "ok": "yes"})
    assert tagged.tags == {"data": "v2", "ok": "yes"}
    assert store.set_model_version_tags("clf", 2, delete=["ok"]).tags == {"data": "v2"}
    assert store.get_model_version("clf", 1).tags == {}
    assert store.update_model_version("clf", 2, "second").description == "second"
    assert [v.tags for v in store.list_model_versions("clf")] == [{}, {"data": "v2"}, {}]
    with pytest.raises(NotFound, match="no version 9"):
        store.set_model_version_tags("clf", 9, {"a": "b"})
    with pytest.raises(NotFound, match="no version 9"):
        store.update_model_version("clf", 9, "x")

    store.set_model_alias("clf", "champion", 3, "ada")
    store.set_model_alias("clf", "keep", 1, "ada")
    store.delete_model_version("clf", 3)
    assert store.get_model("clf").aliases == {"keep": 1}
    assert store.get_model("clf").latest_version == 2
    with pytest.raises(NotFound):
        store.get_model_version("clf", "champion")
    with pytest.raises(NotFound):
        store.delete_model_version("clf", 3)
    assert store.register_model("clf", it, "model", None, "ada").version == 4
    assert [a.name for a in store.list_artifacts(it)] == ["model/model.pkl"]

    store.delete_model_alias("clf", "keep")
    assert store.get_model("clf").aliases == {}
    assert store.get_model_version("clf", 1).aliases == {}
    with pytest.raises(NotFound, match="no alias"):
        store.delete_model_alias("clf", "keep")


def test_a_renamed_model_takes_its_versions_aliases_and_tags(store: Store) -> None:
    it = _iteration(store)
    store.create_model("clf", "desc", {"team": "cv"})
    store.register_model("clf", it, "model", "v1", "ada")
    store.register_model("clf", it, "model", None, "ada")
    store.set_model_version_tags("clf", 1, {"data": "v1"})
    store.set_model_alias("clf", "champion", 1, "ada")
    store.delete_model_version("clf", 2)
    store.create_model("taken")
    with pytest.raises(AlreadyExists, match="taken"):
        store.rename_model("clf", "taken")
    renamed = store.rename_model("clf", "vision-clf")
    assert (renamed.name, renamed.description, renamed.tags) == (
        "vision-clf",
        "desc",
        {"team": "cv"},
    )
    assert (renamed.latest_version, renamed.aliases) == (1, {"champion": 1})
    version = store.get_model_version("vision-clf", "champion")
    assert (version.version, version.tags, version.description) == (1, {"data": "v1"}, "v1")
    assert [m.name for m in store.list_models()] == ["taken", "vision-clf"]
    with pytest.raises(NotFound):
        store.get_model("clf")
    # the deleted version 2's number stays taken under the new name
    assert store.register_model("vision-clf", it, "model", None, "ada").version == 3
    with pytest.raises(NotFound):
        store.rename_model("clf", "other")


def test_a_deleted_model_takes_its_versions_and_the_name_is_free_again(store: Store) -> None:
    it = _iteration(store)
    store.create_model("clf", None, {"team": "cv"})
    store.register_model("clf", it, "model", None, "ada")
    store.set_model_version_tags("clf", 1, {"data": "v1"})
    store.set_model_alias("clf", "champion", 1, "ada")
    store.delete_model("clf")
    assert store.list_models() == []
    with pytest.raises(NotFound):
        store.get_model_version("clf", 1)
    with pytest.raises(NotFound):
        store.delete_model("clf")
    assert [a.name for a in store.list_artifacts(it)] == ["model/model.pkl"]
    again = store.register_model("clf", it, "model", None, "ada")
    assert (again.version, again.tags, again.aliases) == (1, {}, {})
    assert store.get_model("clf").tags == {}
