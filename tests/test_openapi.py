"""The OpenAPI document tells the truth: schemathesis drives every operation of ``/api/v1`` on a
real App process and checks each answer's status, content type and body against it; every
entity's ``to_dict()`` matches the schema declared for it."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mlops.app import AppSettings, create_app, schemas
from mlops.entities import (
    Dataset,
    Experiment,
    Iteration,
    MetricPoint,
    MetricSummary,
    ModelFile,
    Project,
)
from mlops.store.sql.store import SqlStore
from mlops.wire import API_PREFIX, encode_floats

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Small, fixed and derandomized: the same cases on every run, the whole file in seconds.
EXAMPLES = settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@dataclass
class LiveApp:
    """A running App with some data in it: ``known`` holds ids that exist."""

    url: str
    headers: dict[str, str]
    auth: bool
    known: dict[str, str]


def _seed(client: httpx.Client) -> dict[str, str]:
    """A project, an experiment, a dataset, an ended iteration and a running one, both with
    non-finite metric values: real ids for the generated requests to hit."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    project = post("/projects", {"title": "vision", "description": "cats"})
    experiment = post("/experiments", {"project_id": project["id"], "name": "sweep"})
    dataset = post("/datasets", {"name": "cifar", "path": "/data/cifar", "tags": ["train"]})
    started = time.time()
    ended = post(
        "/iterations",
        {"id": "it-ended", "name": "rf", "experiment_id": experiment["id"], "started_at": started},
    )
    points = [["loss", step, 1.0 / (step + 1), started + step] for step in range(20)]
    points += [["odd", 0, "NaN", started], ["odd", 1, "Infinity", started]]
    post(
        f"/iterations/{ended['id']}/end",
        {
            "status": "finished",
            "ended_at": started + 30,
            "model": {"path": "model.pkl", "size_bytes": 10, "sha256": "ab" * 32},
            "batch": {
                "parameters": {"depth": 3, "lr": 0.1, "nested": {"a": [1, 2]}},
                "metrics": points,
                "dataset_ids": [dataset["id"]],
                "tags": {"team": "cv"},
            },
        },
    )
    running = post(
        "/iterations",
        {"id": "it-running", "name": "gb", "project_id": project["id"], "started_at": started},
    )
    post(f"/iterations/{running['id']}/batch", {"metrics": points, "parameters": {"depth": 5}})
    return {
        "project_id": project["id"],
        "experiment_id": experiment["id"],
        "dataset_id": dataset["id"],
        "iteration_id": running["id"],
        "metric_name": "odd",  # its points are "NaN" and "Infinity"
        "metric": "odd",
    }


@pytest.fixture(params=["open", "auth"])
def live_app(request: pytest.FixtureRequest, start_app: Any, tmp_path: Path) -> LiveApp:
    """A real App process on SQLite, without and with ``--auth`` (a write token is made with
    the store's token API, as `mlops tokens create` does)."""
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    headers: dict[str, str] = {}
    args: tuple[str, ...] = ()
    if request.param == "auth":
        store = SqlStore(uri)
        secret, _ = store.create_token("schemathesis", "write")
        store.close()
        headers = {"Authorization": f"Bearer {secret}"}
        args = ("--auth",)
    app = start_app(uri, *args)
    with httpx.Client(base_url=app.url + API_PREFIX, headers=headers, timeout=10) as client:
        known = _seed(client)
    return LiveApp(app.url, headers, request.param == "auth", known)


def _with_known_ids(known: dict[str, str], values: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The generated values, or the same with every id replaced by one that exists (so the
    answers of found objects are checked, not only 404s)."""
    replaced = {}
    for key, value in values.items():
        if key in known:
            replaced[key] = known[key]
        elif key == "iteration_ids":
            replaced[key] = [known["iteration_id"], "it-ended"]
        elif key == "dataset_ids":
            replaced[key] = [known["dataset_id"]]
        else:
            replaced[key] = value
    return st.sampled_from([values, replaced])


@pytest.fixture
def api_schema(live_app: LiveApp) -> Any:
    """The App's own OpenAPI document, with hooks that point generated ids at real objects."""
    schema = schemathesis.openapi.from_url(f"{live_app.url}{API_PREFIX}/openapi.json")
    known = live_app.known

    def flatmap_path_parameters(
        _context: Any, path: dict[str, Any] | None
    ) -> st.SearchStrategy[Any]:
        return st.just(path) if not path else _with_known_ids(known, path)

    def flatmap_query(_context: Any, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        return st.just(query) if not query else _with_known_ids(known, query)

    def flatmap_body(_context: Any, body: Any) -> st.SearchStrategy[Any]:
        return _with_known_ids(known, body) if isinstance(body, dict) else st.just(body)

    for hook in (flatmap_path_parameters, flatmap_query, flatmap_body):
        schema.hook(hook)
    return schema


def _failure(label: str, mode: GenerationMode, exc: BaseException) -> str:
    return f"{mode.value} {label}: {type(exc).__name__}: {exc}"


def test_every_operation_answers_as_declared(live_app: LiveApp, api_schema: Any) -> None:
    """No 500, only declared statuses, JSON, and bodies that match their schema, for valid
    and invalid requests; with ``--auth`` the same request without a token gets a (declared)
    401."""

    def checker(mode: GenerationMode) -> Callable[[Case], None]:
        def check(case: Case) -> None:
            case.call_and_validate(headers=live_app.headers, checks=CHECKS)
            if not live_app.auth:
                return
            anonymous = case.call()
            case.validate_response(anonymous, checks=CHECKS)
            # a body that is not JSON is refused (400/422) before the token is looked at
            if mode is GenerationMode.POSITIVE and case.path != f"{API_PREFIX}/health":
                assert anonymous.status_code == 401, f"{case.as_curl_command()}: {anonymous.text}"
                assert anonymous.json()["error"]["code"] == "unauthorized"

        return check

    failures: list[str] = []
    labels = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        # A free string in the path is never invalid: only queries and bodies can be
        modes = [GenerationMode.POSITIVE]
        if len(operation.query) or operation.body:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            run = EXAMPLES(given(operation.as_strategy(generation_mode=mode))(checker(mode)))
            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
                failures.append(_failure(operation.label, mode, exc))
    assert len(labels) >= 20, labels
    assert not failures, "\n\n".join(failures)


def _entities() -> list[tuple[Any, type[BaseModel]]]:
    """Every entity the API hands out, with every optional part filled and NaN / infinities
    where a metric may hold them, next to the schema declared for it."""
    model = ModelFile("model.pkl", 10, "ab" * 32)
    dataset = Dataset("d1", "cifar", "v1", "/data", "desc", ("a",), "sha", 1, 2, 1.0)
    summary = MetricSummary(math.nan, 3, -math.inf, math.inf)
    iteration = Iteration(
        "i1", "run", "p1", "e1", "finished", 1.0, 2.0, 1.5,
        parameters={"lr": 0.1, "nested": {"x": [1, math.nan]}},
        metrics={"loss": summary, "acc": MetricSummary(0.9, 1, 0.1, 0.9)},
        model=model, datasets=(dataset,), system={"python": "3.11"},
        error={"type": "ValueError", "message": "boom"}, tags={"team": "cv"}, deleted_at=3.0,
    )  # fmt: skip
    return [
        (Project("p1", "vision", "desc", "active", False, 1.0, 2.0), schemas.ProjectOut),
        (Experiment("e1", "sweep", None, "p1", 1.0), schemas.ExperimentOut),
        (Experiment("e2", "old", "d", "p1", 1.0, 2.0, {"owner": "ada"}), schemas.ExperimentOut),
        (dataset, schemas.DatasetOut),
        (MetricPoint(1, math.inf, 1.0), schemas.MetricPointOut),
        (summary, schemas.MetricSummaryOut),
        (model, schemas.ModelFileOut),
        (iteration, schemas.IterationOut),
        (Iteration("i2", "run", "p1", "e1", "running", 1.0, None, None), schemas.IterationOut),
    ]


@pytest.mark.parametrize(("entity", "model"), _entities())
def test_each_entity_matches_its_declared_schema(entity: Any, model: type[BaseModel]) -> None:
    """A key that ``to_dict()`` grows (or loses) and the schema does not declare fails here:
    the models forbid undeclared keys and require every declared one."""
    sent = json.dumps(encode_floats(entity.to_dict()), allow_nan=False)
    model.model_validate_json(sent, strict=True)
    declared = {field.alias or name for name, field in model.model_fields.items()}
    assert declared == set(entity.to_dict())


def test_every_operation_declares_its_answer_and_every_error(tmp_path: Path) -> None:
    """A client generated from the document knows each success shape, the one error shape of
    every status the App answers with, and where the token goes."""
    app = create_app(AppSettings(f"sqlite:///{tmp_path / 'app.db'}"))
    document = app.openapi()
    app.state.store.close()
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 17
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for path, method, operation in operations:
        responses = operation["responses"]
        success = [s for s in responses if s.startswith("2")]
        if path.endswith("/artifacts/content"):  # bytes, whole or a range of them
            assert success == ["200", "206"], (path, method)
            assert "application/octet-stream" in responses["200"]["content"]
        elif success == ["204"]:  # nothing to say
            assert "content" not in responses["204"], (path, method)
        else:
            assert len(success) == 1, (path, method)
            assert responses[success[0]]["content"]["application/json"]["schema"]["$ref"]
        statuses = {"400", "500", "503"}
        if path != f"{API_PREFIX}/health":
            statuses |= {str(s) for s in schemas.ERROR_STATUSES}
            assert operation["security"] == [{"token": []}], (path, method)
        assert statuses <= set(responses), (path, method)
        for status in statuses:
            assert responses[status]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The App in-process on a real SQLite file."""
    app = create_app(AppSettings(f"sqlite:///{tmp_path / 'app.db'}"))
    with TestClient(app, base_url=f"http://127.0.0.1{API_PREFIX}") as test_client:
        yield test_client


def _project(client: TestClient) -> str:
    created = client.post("/projects", json={"title": "p"})
    assert created.status_code == 201
    project_id: str = created.json()["id"]
    return project_id


def _running_iteration(client: TestClient, project_id: str) -> str:
    body = {"id": "it-1", "name": "run", "project_id": project_id, "started_at": time.time()}
    assert client.post("/iterations", json=body).status_code == 201
    return "it-1"


def test_times_the_api_cannot_show_are_refused_naming_the_field(client: TestClient) -> None:
    """Found by schemathesis: a start time in year 1e9 was stored, and every later read of the
    iteration (and of every list holding it) answered 500."""
    project_id = _project(client)
    far = {"id": "it-far", "name": "run", "project_id": project_id, "started_at": 4.2e16}
    refused = client.post("/iterations", json=far)
    assert refused.status_code == 422 and "started_at" in refused.json()["error"]["message"]
    iteration_id = _running_iteration(client, project_id)
    row = ["loss", 0, 1.0, 1e300]
    batch = client.post(f"/iterations/{iteration_id}/batch", json={"metrics": [row]})
    assert batch.status_code == 422 and "'loss'" in batch.json()["error"]["message"]
    ended = client.patch(f"/iterations/{iteration_id}", json={"ended_at": -5})
    assert ended.status_code == 422 and "ended_at" in ended.json()["error"]["message"]
    page = client.get("/iterations")
    assert page.status_code == 200 and [i["id"] for i in page.json()["iterations"]] == ["it-1"]


def test_a_metric_whose_name_holds_a_newline_can_be_read(client: TestClient) -> None:
    """Found by schemathesis: Starlette's ``path`` parameter stops at a newline, so such a
    metric was logged but its history answered a bare "Not Found"."""
    iteration_id = _running_iteration(client, _project(client))
    name = "val\nloss/top-1"
    row = [name, 3, 0.5, time.time()]
    assert client.post(f"/iterations/{iteration_id}/batch", json={"metrics": [row]}).is_success
    history = client.get(f"/iterations/{iteration_id}/metrics/{quote(name, safe='')}")
    assert history.status_code == 200
    assert [p["step"] for p in history.json()["points"]] == [3]


def test_sizes_a_database_cannot_hold_are_refused_naming_the_field(client: TestClient) -> None:
    """Found by schemathesis: a dataset of 2**80 bytes answered 500 (SQLite's integers stop at
    64 bits), and a model's size could be any JSON value, so the iteration broke its schema."""
    dataset = {"name": "cifar", "path": "/data", "size_bytes": 2**80}
    refused = client.post("/datasets", json=dataset)
    assert refused.status_code == 422 and "size_bytes" in refused.json()["error"]["message"]
    negative = client.post("/datasets", json={"name": "cifar", "path": "/data", "file_count": -1})
    assert negative.status_code == 422 and "file_count" in negative.json()["error"]["message"]
    iteration_id = _running_iteration(client, _project(client))
    model = {"path": "model.pkl", "size_bytes": "big"}
    bad_model = client.patch(f"/iterations/{iteration_id}", json={"model": model})
    assert bad_model.status_code == 422
    assert "model size_bytes" in bad_model.json()["error"]["message"]
    assert client.get(f"/iterations/{iteration_id}").json()["model"] is None


def test_answers_keep_their_non_finite_values_as_declared(client: TestClient) -> None:
    """Declaring the schemas did not put answers through pydantic (which would turn NaN and
    infinities into null): the strings the schema declares come back."""
    iteration_id = _running_iteration(client, _project(client))
    now = time.time()
    rows = [["odd", 0, "NaN", now], ["odd", 1, "Infinity", now], ["odd", 2, "-Infinity", now]]
    assert client.post(f"/iterations/{iteration_id}/batch", json={"metrics": rows}).is_success
    history = client.get(f"/iterations/{iteration_id}/metrics/odd")
    schemas.MetricHistory.model_validate_json(history.text, strict=True)
    assert [p["value"] for p in history.json()["points"]] == ["NaN", "Infinity", "-Infinity"]
    iteration = client.get(f"/iterations/{iteration_id}")
    schemas.IterationOut.model_validate_json(iteration.text, strict=True)
    summary = iteration.json()["metric_summaries"]["odd"]
    assert summary == {"last": "-Infinity", "last_step": 2, "min": "-Infinity", "max": "Infinity"}


def test_an_iteration_id_no_url_could_name_is_refused(client: TestClient) -> None:
    """An id with a '/' was accepted, and then every URL for it answered a bare "Not Found"."""
    body = {"id": "a/b", "name": "run", "project_id": _project(client), "started_at": 1.0}
    refused = client.post("/iterations", json=body)
    assert refused.status_code == 422 and "'a/b'" in refused.json()["error"]["message"]
    assert client.get("/iterations").json()["total"] == 0
