"""The store contract, checked on every backend by the same tests."""

from __future__ import annotations

import math
import time

import pytest

from mlops.entities import ModelFile
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.base import Store


def _iteration(store: Store, name: str = "run") -> tuple[str, str]:
    project = store.create_project(f"p-{name}", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    iteration = store.create_iteration(
        f"id-{name}", name, experiment.id, None, time.time(), {"host": "h"}
    )
    return iteration.id, experiment.id


def test_projects_are_unique_by_title_and_updatable(store: Store) -> None:
    project = store.create_project("vision", "cats", "active", False)
    with pytest.raises(AlreadyExists, match=project.id):
        store.create_project("vision", None, "active", False)
    updated = store.update_project(project.id, status="paused", archived=True)
    assert (updated.status, updated.archived, updated.description) == ("paused", True, "cats")
    assert store.get_project(project.id) == updated
    assert [p.id for p in store.list_projects(include_archived=False)] == []
    with pytest.raises(NotFound, match="nope"):
        store.get_project("nope")


def test_experiment_names_are_unique_within_a_project(store: Store) -> None:
    a = store.create_project("a", None, "active", False)
    b = store.create_project("b", None, "active", False)
    first = store.create_experiment(a.id, "sweep", None)
    store.create_experiment(b.id, "sweep", None)  # same name, other project: fine
    with pytest.raises(AlreadyExists, match=first.id):
        store.create_experiment(a.id, "sweep", None)
    assert store.find_experiment(a.id, "sweep") == first
    assert store.find_experiment(a.id, "other") is None
    assert [e.id for e in store.list_experiments(a.id)] == [first.id]
    with pytest.raises(NotFound):
        store.create_experiment("missing", "x", None)


def test_batches_are_idempotent_and_summaries_track_last_min_max(store: Store) -> None:
    iteration_id, _ = _iteration(store)
    now = time.time()
    batch = [("loss", 0, 0.9, now), ("loss", 1, 0.5, now), ("loss", 2, 0.7, now)]
    store.log_batch(iteration_id, {"lr": 0.1, "model": "rf"}, batch)
    store.log_batch(iteration_id, {"lr": 0.1, "model": "rf"}, batch)  # a retry
    history = store.get_metric_history(iteration_id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.5), (2, 0.7)]
    summary = store.get_iteration(iteration_id).metrics["loss"]
    assert (summary.last, summary.last_step, summary.min, summary.max) == (0.7, 2, 0.5, 0.9)
    # an older step arriving late does not become "last"
    store.log_batch(iteration_id, None, [("loss", 1, 0.1, now)])
    summary = store.get_iteration(iteration_id).metrics["loss"]
    assert (summary.last, summary.min) == (0.7, 0.1)


def test_nan_and_infinities_round_trip(store: Store) -> None:
    iteration_id, _ = _iteration(store)
    now = time.time()
    values = [math.nan, math.inf, -math.inf, 1.5]
    store.log_batch(iteration_id, None, [("m", i, v, now) for i, v in enumerate(values)])
    got = [p.value for p in store.get_metric_history(iteration_id, "m")]
    assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf, 1.5]
    summary = store.get_iteration(iteration_id).metrics["m"]
    assert (summary.min, summary.max, summary.last) == (-math.inf, math.inf, 1.5)
    store.log_batch(iteration_id, None, [("m", 9, math.nan, now)])
    assert math.isnan(store.get_iteration(iteration_id).metrics["m"].last)


def test_parameters_keep_their_types(store: Store) -> None:
    iteration_id, _ = _iteration(store)
    params = {"i": 3, "f": 0.5, "s": "rf", "b": True, "n": None, "l": [1, "a"], "d": {"k": 1}}
    store.log_batch(iteration_id, params)
    got = store.get_iteration(iteration_id).parameters
    assert got == params
    assert type(got["i"]) is int and type(got["b"]) is bool


def test_iterations_create_once_and_update(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    iteration_id, experiment_id = _iteration(store)
    again = store.create_iteration(iteration_id, "run", experiment_id, None, time.time(), {})
    assert again.id == iteration_id and again.system == {"host": "h"}
    store.update_iteration(
        iteration_id,
        status="failed",
        ended_at=time.time(),
        error={"type": "ValueError", "message": "boom"},
        model=ModelFile("/m.bin", 3, "ab"),
    )
    got = store.get_iteration(iteration_id)
    assert got.status == "failed" and got.error == {"type": "ValueError", "message": "boom"}
    assert got.model == ModelFile("/m.bin", 3, "ab")
    with pytest.raises(NotFound, match="ghost"):
        store.log_batch("ghost", {"a": 1})
    with pytest.raises(NotFound, match="no metric 'x'"):
        store.get_metric_history(iteration_id, "x")


def test_a_running_iteration_without_heartbeat_reads_as_crashed(store: Store) -> None:
    iteration_id, experiment_id = _iteration(store)
    assert store.get_iteration(iteration_id).status == "running"
    store.update_iteration(iteration_id, heartbeat_at=time.time() - 3600)
    assert store.get_iteration(iteration_id).status == "crashed"
    found = store.list_iterations(experiment_id=experiment_id, filter='status = "crashed"')
    assert [i.id for i in found] == [iteration_id]
    assert store.list_iterations(experiment_id=experiment_id, filter='status = "running"') == []


def test_datasets_version_by_content(store: Store) -> None:
    first = store.create_dataset("digits", "/d", None, ["a"], None, "sha256:1", 10, 1)
    assert first.version == "v1"
    same = store.create_dataset("digits", "/d", None, [], None, "sha256:1", 10, 1)
    assert same.id == first.id
    second = store.create_dataset("digits", "/d", None, [], None, "sha256:2", 11, 1)
    assert second.version == "v2"
    pinned = store.create_dataset("digits", "/d", None, [], "2024", "sha256:3", 1, 1)
    assert store.create_dataset("digits", "/d", None, [], "2024", "sha256:3", 1, 1) == pinned
    with pytest.raises(AlreadyExists, match="sha256:3"):
        store.create_dataset("digits", "/d", None, [], "2024", "sha256:4", 1, 1)
    assert {d.version for d in store.list_datasets("digits")} == {"v1", "v2", "2024"}
    iteration_id, _ = _iteration(store)
    store.log_batch(iteration_id, dataset_ids=[first.id, first.id])
    assert [d.id for d in store.get_iteration(iteration_id).datasets] == [first.id]
    with pytest.raises(NotFound, match="nope"):
        store.log_batch(iteration_id, dataset_ids=["nope"])


def test_list_filter_order_and_page(store: Store) -> None:
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    now = time.time()
    for i in range(6):
        iteration_id = f"it{i}"
        store.create_iteration(iteration_id, f"run-{i}", experiment.id, None, now + i, {})
        model = "rf" if i % 2 else "gb"
        store.log_batch(iteration_id, {"model": model}, [("acc", 0, i / 10, now)])
    ordered = store.list_iterations(experiment_id=experiment.id, order_by="metrics.acc desc")
    assert [i.id for i in ordered] == [f"it{i}" for i in (5, 4, 3, 2, 1, 0)]
    page = store.list_iterations(
        experiment_id=experiment.id, order_by="metrics.acc", limit=2, offset=2
    )
    assert [i.id for i in page] == ["it2", "it3"]
    found = store.list_iterations(
        experiment_id=experiment.id, filter='metrics.acc >= 0.2 and params.model = "rf"'
    )
    assert sorted(i.id for i in found) == ["it3", "it5"]
    assert store.count_iterations(experiment_id=experiment.id, filter='params.model = "gb"') == 3


def test_an_iteration_without_experiment_goes_to_the_default_one(store: Store) -> None:
    project = store.create_project("p", None, "active", False)
    first = store.create_iteration("a", "a", None, project.id, time.time(), {})
    second = store.create_iteration("b", "b", None, project.id, time.time(), {})
    default = store.get_experiment(first.experiment_id)
    assert default.name == "default" and second.experiment_id == default.id
    other = store.create_project("q", None, "active", False)
    with pytest.raises(InvalidInput, match="belongs to project"):
        store.create_iteration("c", "c", default.id, other.id, time.time(), {})
    with pytest.raises(NotFound):
        store.create_iteration("d", "d", None, "ghost", time.time(), {})


def test_ending_writes_the_last_batch_and_the_state_at_once(store: Store) -> None:
    iteration_id, _ = _iteration(store)
    ended = store.end_iteration(
        iteration_id, "finished", time.time(), parameters={"lr": 0.1},
        metrics=[("acc", 0, 0.9, time.time())], tags={"team": "vision"},
    )  # fmt: skip
    assert ended.status == "finished" and ended.ended_at is not None
    assert (ended.parameters, ended.tags, ended.metrics["acc"].last) == (
        {"lr": 0.1}, {"team": "vision"}, 0.9
    )  # fmt: skip
    assert store.get_iteration(iteration_id) == ended
    with pytest.raises(NotFound, match="ghost"):
        store.end_iteration("ghost", "finished", time.time())


def test_tags_filter_and_order(store: Store) -> None:
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    for i, team in enumerate(["vision", "nlp", "vision"]):
        store.create_iteration(f"t{i}", f"r{i}", experiment.id, None, time.time(), {})
        store.log_batch(f"t{i}", tags={"team": team, "n": str(i)})
    found = store.list_iterations(filter='tags.team = "vision"', order_by="tags.n desc")
    assert [i.id for i in found] == ["t2", "t0"]
    assert store.get_iteration("t1").tags == {"team": "nlp", "n": "1"}


def test_ordering_by_a_metric_pages_across_missing_values(store: Store) -> None:
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    other = store.create_experiment(project.id, "other", None)
    now = time.time()
    values = {"a": 0.3, "b": 0.9, "c": math.nan, "d": None, "e": 0.5, "f": None, "g": 0.1}
    for i, (name, value) in enumerate(values.items()):
        store.create_iteration(name, name, experiment.id, None, now + i, {})
        if value is not None:
            store.log_batch(name, metrics=[("acc", 0, value, now)])
    store.create_iteration("x", "x", other.id, None, now, {})  # another experiment, higher acc
    store.log_batch("x", metrics=[("acc", 0, 1.0, now)])

    def page(order: str, limit: int, offset: int) -> list[str]:
        found = store.list_iterations(
            experiment_id=experiment.id, order_by=order, limit=limit, offset=offset
        )
        return [i.id for i in found]

    # valued first in order, then the ones without a value (NaN counts as none) by id
    assert page("metrics.acc desc", 10, 0) == ["b", "e", "a", "g", "c", "d", "f"]
    assert page("metrics.acc", 10, 0) == ["g", "a", "e", "b", "c", "d", "f"]
    assert page("metrics.acc desc", 3, 3) == ["g", "c", "d"]
    assert page("metrics.acc desc", 2, 5) == ["d", "f"]
    assert page("metrics.acc desc", 2, 7) == []
    everything = store.list_iterations(order_by="metrics.acc desc", limit=3)
    assert [i.id for i in everything] == ["x", "b", "e"]


def test_long_series_come_downsampled_keeping_spikes_and_gaps(store: Store) -> None:
    iteration_id, _ = _iteration(store)
    now = time.time()
    rows = [("m", s, math.sin(s / 300), now) for s in range(20_000)]
    rows[7_777] = ("m", 7_777, 50.0, now)  # a spike
    rows[12_345] = ("m", 12_345, math.nan, now)  # a NaN: a gap
    store.log_batch(iteration_id, metrics=rows)
    points, total = store.get_metric_series(iteration_id, "m", 400)
    assert total == 20_000 and len(points) <= 400 + 200  # min, max and a gap per bucket at most
    steps = [p.step for p in points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 19_999
    assert max(p.value for p in points if not math.isnan(p.value)) == 50.0
    assert any(math.isnan(p.value) for p in points)
    short, short_total = store.get_metric_series(iteration_id, "m", 100_000)
    assert short_total == 20_000 and len(short) == 20_000


def test_counts_can_stop_at_a_limit(store: Store) -> None:
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    for i in range(5):
        store.create_iteration(f"c{i}", f"c{i}", experiment.id, None, time.time(), {})
    assert store.count_iterations(experiment_id=experiment.id) == 5
    assert store.count_iterations(experiment_id=experiment.id, limit=3) == 3
    assert store.count_iterations(experiment_id=experiment.id, limit=10) == 5


def test_a_page_can_load_only_some_columns(store: Store) -> None:
    iteration_id, experiment_id = _iteration(store)
    params = {f"p{i}": i for i in range(30)}
    store.log_batch(iteration_id, params, [(f"m{i}", 0, float(i), time.time()) for i in range(30)])
    [few] = store.list_iterations(
        experiment_id=experiment_id, parameter_names=["p3", "p7"], metric_names=["m1"]
    )
    assert few.parameters == {"p3": 3, "p7": 7} and list(few.metrics) == ["m1"]
    [none] = store.list_iterations(experiment_id=experiment_id, parameter_names=[], metric_names=[])
    assert none.parameters == {} and none.metrics == {}
    [full] = store.list_iterations(experiment_id=experiment_id)
    assert len(full.parameters) == 30 and len(full.metrics) == 30
