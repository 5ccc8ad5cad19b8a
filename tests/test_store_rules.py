"""The rules of the domain (mlops.store.rules), checked on every backend by the same tests: an
ended iteration refuses writes until it is resumed, statuses are the known ones, names and
integers are checked, parameter values are bounded; and the same answers through raw HTTP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import AppProcess, _sql_uri
from mlops import tracking
from mlops.entities import ModelFile
from mlops.errors import InvalidInput, IterationEnded, NotFound
from mlops.store import journal
from mlops.store.base import Store
from mlops.store.http import HttpStore

INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One App for every HTTP test of this module (starting one takes seconds)."""
    app = AppProcess(f"sqlite:///{tmp_path_factory.mktemp('rules') / 'behind-app.db'}")
    yield app.url
    app.stop()


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The ``store_uri`` of conftest, with the App shared by this module's tests."""
    if request.param == "http":
        yield request.getfixturevalue("shared_app")
        return
    yield from _sql_uri(request.param, tmp_path)


def _u(prefix: str) -> str:
    """A name no other test of this module uses (the HTTP backend is one App for them all)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _running(store: Store, iteration_id: str | None = None) -> str:
    iteration_id = iteration_id or _u("it")
    project = store.create_project(_u("p"), None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    store.create_iteration(iteration_id, "run", experiment.id, None, time.time(), {})
    return iteration_id


def _ended(store: Store, status: str = "finished") -> tuple[str, float]:
    iteration_id = _running(store)
    ended_at = time.time()
    store.end_iteration(
        iteration_id, status, ended_at, parameters={"lr": 0.1}, metrics=[("acc", 0, 0.5, ended_at)]
    )
    return iteration_id, ended_at


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# -- statuses ---------------------------------------------------------------------------------
def test_a_status_is_one_of_the_known_ones(store: Store) -> None:
    iteration_id = _running(store)
    for status in ("crashed", "paused", "", "FINISHED"):
        with pytest.raises(InvalidInput, match="running, finished, failed, killed"):
            store.update_iteration(iteration_id, status=status)
    with pytest.raises(InvalidInput, match="ends as one of finished, failed, killed"):
        store.end_iteration(iteration_id, "running", time.time())
    assert store.get_iteration(iteration_id).status == "running"


def test_ended_at_needs_an_end_status(store: Store) -> None:
    iteration_id = _running(store)
    with pytest.raises(InvalidInput, match="stays running"):
        store.update_iteration(iteration_id, ended_at=time.time())
    assert store.get_iteration(iteration_id).ended_at is None


# -- an ended iteration ----------------------------------------------------------------------
def test_an_ended_iteration_refuses_batches(store: Store) -> None:
    iteration_id, _ = _ended(store)
    with pytest.raises(IterationEnded, match="resume"):
        store.log_batch(iteration_id, {"late": 1})
    with pytest.raises(IterationEnded):
        store.log_batch(iteration_id, metrics=[("acc", 1, 0.9, time.time())])
    with pytest.raises(IterationEnded):
        store.log_batch(iteration_id, tags={"late": "yes"})
    got = store.get_iteration(iteration_id)
    assert (got.status, got.parameters, got.tags) == ("finished", {"lr": 0.1}, {})
    assert [p.step for p in store.get_metric_history(iteration_id, "acc")] == [0]


def test_a_late_heartbeat_of_an_ended_iteration_is_ignored(store: Store) -> None:
    iteration_id, _ = _ended(store)
    before = store.get_iteration(iteration_id)
    store.log_batch(iteration_id, heartbeat_at=time.time() + 60)  # a writer thread racing end
    assert store.get_iteration(iteration_id) == before


def test_an_ended_iteration_changes_only_its_end_state(store: Store) -> None:
    iteration_id, _ = _ended(store)
    corrected = store.update_iteration(
        iteration_id, status="failed", error={"type": "OOM", "message": "out of memory"},
        model=ModelFile("/m.bin", 3, "ab"),
    )  # fmt: skip
    assert (corrected.status, corrected.error, corrected.model) == (
        "failed", {"type": "OOM", "message": "out of memory"}, ModelFile("/m.bin", 3, "ab")
    )  # fmt: skip
    with pytest.raises(IterationEnded, match="cannot become running again"):
        store.update_iteration(iteration_id, status="running")
    with pytest.raises(IterationEnded, match="takes no heartbeat"):
        store.update_iteration(iteration_id, heartbeat_at=time.time())
    assert store.get_iteration(iteration_id) == corrected


def test_ending_again_with_the_same_status_is_a_harmless_retry(store: Store) -> None:
    iteration_id, ended_at = _ended(store)
    first = store.get_iteration(iteration_id)
    retry = store.end_iteration(
        iteration_id, "finished", ended_at, parameters={"lr": 0.1},
        metrics=[("acc", 0, 0.5, ended_at)],
    )  # fmt: skip
    assert retry == first
    assert store.end_iteration(iteration_id, "finished", time.time()) == first
    with pytest.raises(IterationEnded, match="cannot end as 'failed'"):
        store.end_iteration(iteration_id, "failed", time.time())
    with pytest.raises(IterationEnded, match="cannot take more data"):  # new data, not a retry
        store.end_iteration(iteration_id, "finished", time.time(), parameters={"more": 1})
    assert store.get_iteration(iteration_id) == first


def test_resume_reopens_an_ended_iteration(store: Store) -> None:
    iteration_id = _running(store)
    store.end_iteration(
        iteration_id, "failed", time.time(), error={"type": "ValueError", "message": "boom"},
        parameters={"lr": 0.1},
    )  # fmt: skip
    resumed = store.resume(iteration_id)
    assert (resumed.status, resumed.ended_at, resumed.error) == ("running", None, None)
    assert resumed.parameters == {"lr": 0.1} and resumed.heartbeat_at is not None
    assert store.get_iteration(iteration_id) == resumed
    assert store.resume(iteration_id) == resumed  # idempotent
    store.log_batch(iteration_id, {"epochs": 20}, [("acc", 5, 0.9, time.time())])
    ended = store.end_iteration(iteration_id, "finished", time.time())
    assert (ended.status, ended.parameters) == ("finished", {"lr": 0.1, "epochs": 20})
    with pytest.raises(NotFound, match="ghost"):
        store.resume("ghost")


# -- projects, experiments, datasets ---------------------------------------------------------
def test_project_fields_are_checked_the_same_everywhere(store: Store) -> None:
    project = store.create_project(_u("vision"), None, "active", False)
    with pytest.raises(InvalidInput, match="project status must not be empty"):
        store.update_project(project.id, status="")
    with pytest.raises(InvalidInput, match=r"project status 'xxxxx.*limit is 64"):
        store.update_project(project.id, status="x" * 65)
    with pytest.raises(InvalidInput, match="archived must be true or false"):
        store.update_project(project.id, archived="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="project description must be a string"):
        store.update_project(project.id, description=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="project title must not be empty"):
        store.create_project(" ", None, "active", False)
    with pytest.raises(InvalidInput, match="limit is 250"):
        store.create_project("t" * 251, None, "active", False)
    with pytest.raises(InvalidInput, match="project status must not be empty"):
        store.create_project(_u("other"), None, "", False)
    assert store.get_project(project.id) == project


def test_experiment_and_dataset_names_are_checked(store: Store) -> None:
    project = store.create_project(_u("p"), None, "active", False)
    name = _u("d")
    with pytest.raises(InvalidInput, match="experiment name must not be empty"):
        store.create_experiment(project.id, "", None)
    with pytest.raises(InvalidInput, match=r"experiment name .* limit is 250"):
        store.create_experiment(project.id, "e" * 251, None)
    with pytest.raises(InvalidInput, match="dataset name must not be empty"):
        store.create_dataset("", "/d", None, [], None, None, None, None)
    with pytest.raises(InvalidInput, match="dataset tag must not be empty"):
        store.create_dataset(name, "/d", None, [""], None, None, None, None)
    with pytest.raises(InvalidInput, match=r"dataset digest .* limit is 71"):
        store.create_dataset(name, "/d", None, [], None, "sha256:" + "a" * 65, None, None)
    assert store.list_experiments(project.id) == [] and store.list_datasets(name) == []


def test_iteration_ids_fit_the_store(store: Store) -> None:
    project = store.create_project(_u("p"), None, "active", False)
    with pytest.raises(InvalidInput, match="1 to 36 characters"):
        store.create_iteration("x" * 37, "run", None, project.id, time.time(), {})
    with pytest.raises(InvalidInput, match="iteration name must not be empty"):
        store.create_iteration(_u("a"), "", None, project.id, time.time(), {})
    longest = uuid.uuid4().hex + "abcd"
    assert store.create_iteration(longest, "run", None, project.id, time.time(), {}).id == longest


# -- integers, timestamps, parameter values --------------------------------------------------
def test_integers_beyond_64_bits_are_refused_naming_the_field(store: Store) -> None:
    name = _u("d")
    too_big = "out of range: it must be from 0 to 9,223,372,036,854,775,807"
    with pytest.raises(InvalidInput, match=f"dataset size_bytes {2**63} is {too_big}"):
        store.create_dataset(name, "/d", None, [], None, None, 2**63, 1)
    with pytest.raises(InvalidInput, match=f"dataset file_count -1 is {too_big}"):
        store.create_dataset(name, "/d", None, [], None, None, 1, -1)
    biggest = store.create_dataset(name, "/d", None, [], None, None, INT64_MAX, INT64_MAX)
    assert store.get_dataset(biggest.id).size_bytes == INT64_MAX
    iteration_id = _running(store)
    with pytest.raises(InvalidInput, match=f"model size_bytes {2**64} is {too_big}"):
        store.update_iteration(iteration_id, model=ModelFile("/m", 2**64, None))
    for step in (2**63, -1, 10**30):
        with pytest.raises(InvalidInput, match=r"step of metric 'loss' .* out of range"):
            store.log_batch(iteration_id, metrics=[("loss", step, 0.1, time.time())])
    store.log_batch(iteration_id, metrics=[("loss", INT64_MAX, 0.1, time.time())])
    assert [p.step for p in store.get_metric_history(iteration_id, "loss")] == [INT64_MAX]
    with pytest.raises(InvalidInput, match=r"offset .* out of range"):
        store.list_iterations(offset=2**64)
    with pytest.raises(InvalidInput, match="limit -1 is out of range"):
        store.list_iterations(limit=-1)


def test_timestamps_must_be_times(store: Store) -> None:
    project = store.create_project(_u("p"), None, "active", False)
    with pytest.raises(InvalidInput, match="started_at nan is not a time"):
        store.create_iteration(_u("a"), "a", None, project.id, float("nan"), {})
    iteration_id = _running(store)
    with pytest.raises(InvalidInput, match=r"timestamp of metric 'm' at step 0 .* year 9999"):
        store.log_batch(iteration_id, metrics=[("m", 0, 1.0, 1e300)])
    with pytest.raises(InvalidInput, match="heartbeat_at -1"):
        store.log_batch(iteration_id, heartbeat_at=-1)
    with pytest.raises(InvalidInput, match="ended_at inf"):
        store.end_iteration(iteration_id, "finished", float("inf"))
    assert store.get_iteration(iteration_id).status == "running"


def test_parameter_values_are_bounded_in_depth_and_size(store: Store) -> None:
    iteration_id = _running(store)
    with pytest.raises(InvalidInput, match=r"parameter 'deep' nests .* 33 or more .* limit is 32"):
        store.log_batch(iteration_id, {"deep": _nested(10_000)})
    with pytest.raises(InvalidInput, match=r"parameter 'big' is 70,002 characters .* 65,536"):
        store.log_batch(iteration_id, {"big": "x" * 70_000})
    with pytest.raises(InvalidInput, match="parameter 'odd' is a set, not JSON data"):
        store.log_batch(iteration_id, {"odd": {1, 2}})
    store.log_batch(iteration_id, {"ok": _nested(32), "seed": 2**100})
    assert store.get_iteration(iteration_id).parameters == {"ok": _nested(32), "seed": 2**100}


def test_batch_shapes_and_tags_are_checked(store: Store) -> None:
    iteration_id = _running(store)
    with pytest.raises(InvalidInput, match="dataset_ids must be a list, got str"):
        store.log_batch(iteration_id, dataset_ids="abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="parameters must be a dict"):
        store.log_batch(iteration_id, [("lr", 0.1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="tag 'gpu' must be text, got int 1"):
        store.log_batch(iteration_id, tags={"gpu": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="metric 'm' got 'high' at step 0"):
        store.log_batch(iteration_id, metrics=[("m", 0, "high", time.time())])  # type: ignore[list-item]
    assert store.get_iteration(iteration_id).tags == {}


# -- where the rules run: before the journal, in the library, through raw HTTP ---------------
def test_the_http_store_checks_before_it_journals(tmp_path: Path) -> None:
    home = tmp_path / "offline-home"
    store = HttpStore("http://127.0.0.1:9", offline=True, home=home)
    try:
        store.create_iteration("it-1", "run", None, "p", time.time(), {})
        with pytest.raises(InvalidInput, match="out of range"):
            store.log_batch("it-1", metrics=[("m", 2**64, 1.0, time.time())])
        with pytest.raises(InvalidInput, match="nests"):
            store.log_batch("it-1", {"deep": _nested(100)})
        with pytest.raises(InvalidInput, match="ends as one of"):
            store.end_iteration("it-1", "running", time.time())
    finally:
        store.close()
    assert [count for _path, count in journal.pending(home)] == [1]  # the create only


def test_the_journal_path_runs_the_rules_of_an_ended_iteration(tmp_path: Path) -> None:
    home = tmp_path / "offline-home"
    store = HttpStore("http://127.0.0.1:9", offline=True, home=home)
    try:
        store.create_iteration("it-1", "run", None, "p", time.time(), {})
        with pytest.warns(UserWarning, match="offline mode"):
            store.update_iteration("it-1", status="killed", ended_at=time.time())
        with pytest.raises(IterationEnded, match="cannot become running again"):
            store.update_iteration("it-1", status="running")
        with pytest.raises(IterationEnded, match="cannot take more data"):
            store.log_batch("it-1", {"late": 1})
        with pytest.raises(IterationEnded, match="cannot end as 'finished'"):
            store.end_iteration("it-1", "finished", time.time())
        assert store.end_iteration("it-1", "killed", time.time()).status == "killed"  # a retry
        store.create_iteration("it-2", "run", None, "p", time.time(), {})
        with pytest.warns(UserWarning, match="offline mode"):
            store.end_iteration("it-2", "finished", time.time())
        store.log_batch("it-2", heartbeat_at=time.time())  # late heartbeat: nothing to keep
        with pytest.raises(IterationEnded, match="cannot take more data"):
            store.log_batch("it-2", metrics=[("m", 0, 1.0, time.time())])
    finally:
        store.close()
    # create, update to killed, create, end: nothing refused was journaled
    assert [count for _path, count in journal.pending(home)] == [4]


def test_the_library_refuses_a_deep_parameter_clearly(active: dict[str, str]) -> None:
    with tracking.start_iteration("deep") as it:
        with pytest.raises(InvalidInput, match=r"parameter 'layers' nests .* limit is 32"):
            it.log_parameter("layers", _nested(10_000))
        with pytest.raises(InvalidInput, match="parameter 'layers' nests"):
            it.log_parameters({"layers": _nested(40)})
        it.log_parameter("ok", _nested(3))
        with pytest.warns(UserWarning, match="not JSON data"):
            it.log_parameter("odd", _Unprintable())  # never kills the run
    parameters = tracking.get_iteration(it.id)["parameters"]
    assert parameters == {"ok": _nested(3), "odd": "<_Unprintable object>"}


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.fixture
def app_url(sql_store_uri: str, start_app: Any) -> Iterator[str]:
    """A real App on each SQL backend."""
    yield start_app(sql_store_uri).url + "/api/v1"


def test_raw_http_requests_get_422_and_409_never_500(app_url: str) -> None:
    with httpx.Client(base_url=app_url, timeout=10) as http:
        project = http.post("/projects", json={"title": "p"}).json()
        assert http.patch(f"/projects/{project['id']}", json={"status": ""}).status_code == 422
        for field in ("size_bytes", "file_count"):
            answer = http.post("/datasets", json={"name": "d", "path": "/d", field: 2**64})
            assert answer.status_code == 422, answer.text
            assert f"dataset {field} {2**64} is out of range" in answer.json()["error"]["message"]
        start = {"id": "r1", "name": "run", "started_at": time.time(), "project_id": project["id"]}
        assert http.post("/iterations", json=start).status_code == 201
        for bad in ({"status": "crashed"}, {"model": {"path": "/m", "size_bytes": 2**70}}):
            answer = http.patch("/iterations/r1", json=bad)
            assert answer.status_code == 422, answer.text
        answer = http.post("/iterations/r1/batch", json={"metrics": [["m", 2**63, 1.0, 1.0]]})
        assert answer.status_code == 422 and "step of metric 'm'" in answer.text
        deep = '{"parameters": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}"
        headers = {"Content-Type": "application/json"}
        answer = http.post("/iterations/r1/batch", content=deep, headers=headers)
        assert answer.status_code == 422 and "nests too deeply" in answer.text
        huge = '{"name": "d", "path": "/d", "size_bytes": ' + "9" * 5000 + "}"
        answer = http.post("/datasets", content=huge, headers=headers)
        assert answer.status_code == 422 and "4300 digits" in answer.text
        answer = http.post("/iterations/r1/batch", json={"parameters": {"x": _nested(100)}})
        assert answer.status_code == 422 and "parameter 'x' nests" in answer.text
        nan_start = json.dumps({**start, "id": "r2"}).replace(str(start["started_at"]), "NaN")
        answer = http.post("/iterations", content=nan_start, headers=headers)
        assert answer.status_code == 422 and "started_at nan" in answer.text
        end = {"status": "finished", "ended_at": time.time()}
        assert http.post("/iterations/r1/end", json=end).status_code == 200
        assert http.post("/iterations/r1/end", json=end).status_code == 200  # a retry
        answer = http.post("/iterations/r1/batch", json={"parameters": {"late": 1}})
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "iteration_ended"
        answer = http.patch("/iterations/r1", json={"status": "running"})
        assert answer.status_code == 409 and "resume" in answer.text
        for _ in range(2):  # idempotent
            answer = http.post("/iterations/r1/resume", json={})
            assert answer.status_code == 200 and answer.json()["status"] == "running"
        assert http.post("/iterations/ghost/resume", json={}).status_code == 404


def test_the_library_resumes_an_iteration_and_continues_its_steps(tracking_uri: str) -> None:
    project = tracking.create_project(_u("p"))
    with tracking.start_iteration("run", project_id=project["id"]) as it:
        it.log_metric("loss", 0.9)
        it.log_metric("loss", 0.8)
    resumed = tracking.resume_iteration(it.id)
    assert (resumed.id, resumed["status"], resumed["ended_at"]) == (it.id, "running", None)
    assert tracking.resume_iteration(it.id) is resumed  # running here: the same object
    resumed.log_metric("loss", 0.7)
    final = resumed.end_iteration()
    assert (final["status"], final["metrics"]) == ("finished", {"loss": 0.7})
    assert [p["step"] for p in tracking.get_metric_history(it.id, "loss")] == [0, 1, 2]
    with pytest.raises(NotFound, match="ghost"):
        tracking.resume_iteration("ghost")


def test_an_iteration_without_heartbeats_never_reads_as_crashed(store: Store) -> None:
    project = store.create_project(_u("p"), None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    long_ago = time.time() - 3600  # an hour-long epoch without a write
    silent = store.create_iteration(_u("it"), "mlflow run", experiment.id, None, long_ago, {},
                                    heartbeat=False)  # fmt: skip
    beating = store.create_iteration(_u("it"), "mlops run", experiment.id, None, long_ago, {})
    assert silent.heartbeat_at is None
    store.log_batch(silent.id, metrics=[("loss", 0, 0.5, long_ago)])
    assert store.get_iteration(silent.id).to_dict()["status"] == "running"
    assert store.get_iteration(beating.id).to_dict()["status"] == "crashed"
    store.end_iteration(silent.id, "finished", time.time())
    resumed = store.resume(silent.id)  # a reopened one stays without heartbeats
    assert resumed.heartbeat_at is None and resumed.to_dict()["status"] == "running"
    running = store.list_iterations(experiment.id, filter='status = "running"')
    assert [i.id for i in running] == [silent.id]
