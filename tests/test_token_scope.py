"""Tokens limited to projects: a token of P1 sees nothing of P2, through any route."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from mlops.app import AppSettings, create_app
from mlops.app.routing import every_route
from mlops.entities import Artifact
from mlops.store.sql.store import SqlStore
from mlops.wire import API_PREFIX

#: The names of P2's things: none may reach a P1 token.
P2_NAMES = (
    "bravo-secret", "bravo-exp", "bravo-run", "bravo-data", "bravo-model", "bravo-gone",
    "bravo-note",
)  # fmt: skip


def _fill(store: SqlStore, title: str, prefix: str) -> dict[str, str]:
    """A project with an experiment, an ended iteration with metrics, parameters, tags, a
    dataset, an artifact and a registered model."""
    project = store.create_project(title, f"{prefix} project", "active", False)
    experiment = store.create_experiment(project.id, f"{prefix}-exp", None)
    iteration_id = f"{prefix}-iter-0001"
    store.create_iteration(iteration_id, f"{prefix}-run", experiment.id, None, time.time(), {})
    dataset = store.create_dataset(f"{prefix}-data", "/data", None, [], None, None, None, None)
    now = time.time()
    store.log_batch(
        iteration_id,
        parameters={"lr": 0.1},
        metrics=[("loss", 0, 1.0, now), ("loss", 1, 0.5, now)],
        dataset_ids=[dataset.id],
        tags={"team": prefix},
    )
    store.log_artifacts(
        iteration_id, [Artifact(iteration_id, "model.pkl", 3, "ab" * 32, "text/plain", now)]
    )
    store.end_iteration(iteration_id, "finished", time.time())
    store.register_model(f"{prefix}-model", iteration_id, "model.pkl", None, "test")
    store.set_note("iteration", iteration_id, f"{prefix}-note")
    store.set_note("project", project.id, f"{prefix}-note")
    gone = f"{prefix}-gone-0001"  # in the trash: the Trash page and purge listings
    store.create_iteration(gone, f"{prefix}-gone", experiment.id, None, time.time() - 90, {})
    store.end_iteration(gone, "failed", time.time())
    store.delete_iteration(gone)
    return {
        "gone": gone,
        "project": project.id,
        "experiment": experiment.id,
        "iteration": iteration_id,
        "dataset": dataset.id,
        "dataset_name": dataset.name,
        "model": f"{prefix}-model",
    }


@pytest.fixture
def two_projects(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    p1 = _fill(store, "alpha-team", "alpha")
    p2 = _fill(store, "bravo-secret", "bravo")
    secret, _ = store.create_token("alpha-writer", "write", [p1["project"]])
    store.close()
    app = create_app(AppSettings(uri, auth=True))
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app, base_url="http://127.0.0.1", headers=headers) as client:
        yield client, p1, p2


def _value(param: str, ids: dict[str, str]) -> str:
    """What to put in a path parameter for the things of ``ids``."""
    name = param.lower()
    for key, fits in (
        ("iteration", ("iteration", "run")),
        ("experiment", ("experiment",)),
        ("project", ("project",)),
        ("dataset", ("dataset",)),
        ("model", ("model",)),
    ):
        if any(word in name for word in fits):
            return ids[key]
    if name in ("name",):
        return ids["model"]
    if "version" in name:
        return "1"
    if "metric" in name or name == "key":
        return "loss"
    return "model.pkl"


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route: the OpenAPI document's, and the App's others (pages,
    MLflow), read at test time so a new route is covered without a line here."""
    document = client.get(f"{API_PREFIX}/openapi.json").json()
    found = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    app: Any = client.app
    for route in every_route(app.routes):
        if isinstance(route, APIRoute):
            found |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    assert len(found) > 50
    return sorted(found)


def _leaks(text: str, p2: dict[str, str], asked: str) -> list[str]:
    """P2's ids and names in ``text`` that the request did not name itself."""
    secrets = [*P2_NAMES, p2["project"], p2["experiment"], p2["dataset"], p2["gone"]]
    return [s for s in secrets if s in text and s not in asked]


def _path(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", lambda m: _value(m.group(1), ids), path)


def test_a_project_token_sees_nothing_of_another_project_on_any_route(
    two_projects: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, p1, p2 = two_projects
    body = {
        "run_id": p2["iteration"], "experiment_id": p2["experiment"],
        "project_id": p2["project"], "iteration_id": p2["iteration"], "name": p2["model"],
        "experiment_ids": [p2["experiment"]], "dataset_ids": [p2["dataset"]], "key": "loss",
    }  # fmt: skip
    query = {k: v for k, v in body.items() if isinstance(v, str)}
    problems: list[str] = []
    for method, template in _routes(client):
        if template.startswith("/static") or template.endswith("/logout"):
            continue
        # guessed P2 ids in the path: 404 (never 403, never their data)
        if "{" in template:
            path = _path(template, p2)
            answer = client.request(method, path, json=body if method != "GET" else None)
            guessed = any(value in path for value in p2.values())
            if guessed and (answer.status_code < 400 or answer.status_code in (403, 500)):
                problems.append(f"{method} {path} with P2's ids answered {answer.status_code}")
            leaked = _leaks(answer.text, p2, path + str(body))
            if leaked:
                problems.append(f"{method} {path} shows {leaked}")
        if method != "GET":
            continue
        # reads with P1's ids, and with P2's ids in the query string
        path = _path(template, p1)
        for params in ({}, query):
            answer = client.get(path, params=params)
            # 501: an MLflow endpoint mlops answers NOT_IMPLEMENTED on purpose (presigned URLs)
            if answer.status_code >= 500 and answer.status_code != 501:
                problems.append(f"GET {path} {params} failed: {answer.text[:200]}")
            leaked = _leaks(answer.text, p2, str(params))
            if leaked:
                problems.append(f"GET {path} {params} shows {leaked}")
    assert problems == []


def test_lists_counts_and_searches_hold_only_the_tokens_projects(
    two_projects: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, p1, p2 = two_projects
    projects = client.get(f"{API_PREFIX}/projects").json()
    assert [p["id"] for p in projects["projects"]] == [p1["project"]]
    found = client.get(f"{API_PREFIX}/iterations", params={"filter": "metrics.loss < 2"}).json()
    assert [i["id"] for i in found["iterations"]] == [p1["iteration"]]
    answer = client.get(f"{API_PREFIX}/iterations", params={"project_id": p2["project"]})
    assert answer.status_code == 404
    assert client.get(f"{API_PREFIX}/iterations/{p2['iteration']}").status_code == 404
    assert client.get(f"{API_PREFIX}/iterations/{p1['iteration']}").status_code == 200
    datasets = client.get("/datasets.json").json()
    assert [d["name"] for d in datasets["datasets"]] == ["alpha-data"]
    assert "bravo" not in client.get("/projects").text
    assert client.get(f"/projects/{p2['project']}").status_code == 404


def test_mlflow_clients_of_a_project_token_see_only_its_experiments(
    two_projects: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, _, p2 = two_projects
    answer = client.post("/api/2.0/mlflow/experiments/search", json={"max_results": 100})
    assert answer.status_code == 200, answer.text
    assert "bravo" not in answer.text
    run = client.get("/api/2.0/mlflow/runs/get", params={"run_id": p2["iteration"]})
    assert run.status_code == 404
    assert run.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_project_token_cannot_create_projects_but_writes_in_its_own(
    two_projects: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, p1, _ = two_projects
    answer = client.post(f"{API_PREFIX}/projects", json={"title": "new"})
    assert answer.status_code == 403
    assert "limited to projects" in answer.json()["error"]["message"]
    created = client.post(
        f"{API_PREFIX}/experiments", json={"project_id": p1["project"], "name": "more"}
    )
    assert created.status_code == 201, created.text


def test_project_tokens_are_made_by_title_or_id_and_listed(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    try:
        one = store.create_project("one", None, "active", False)
        two = store.create_project("two", None, "active", False)
        _, token = store.create_token("both", "read", ["one", two.id, "one"])
        assert token.projects == (one.id, two.id)
        assert store.list_tokens()[0].projects == (one.id, two.id)
        with pytest.raises(Exception, match="no project with id or title 'three'"):
            store.create_token("bad", "read", ["three"])
    finally:
        store.close()


def test_the_cli_makes_and_lists_tokens_limited_to_projects(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from mlops.cli import main

    uri = f"sqlite:///{tmp_path / 's.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    store.close()
    runner = CliRunner()
    command = ["tokens", "create", "team", "--scope", "read", "--project", "vision"]
    made = runner.invoke(main, [*command, "--expires", "12h", "--store", uri])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("mlops_")
    listed = json.loads(runner.invoke(main, ["tokens", "list", "--json", "--store", uri]).output)
    assert listed[0]["projects"] == [project.id] and listed[0]["expires_at"]
    bad = runner.invoke(main, ["tokens", "create", "x", "--project", "nope", "--store", uri])
    assert bad.exit_code != 0 and "no project with id or title 'nope'" in bad.output
    bad = runner.invoke(main, ["tokens", "create", "y", "--expires", "later", "--store", uri])
    assert bad.exit_code != 0 and "--expires 'later'" in bad.output


def test_the_scoped_iteration_page_reads_the_project_index(tmp_path: Path) -> None:
    """The condition a limited token adds (project in its projects) is served by the
    (project, started) index, not a scan of every iteration."""
    from sqlalchemy import event

    from mlops.store.sql.engine import transaction

    store = SqlStore(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        ids = [store.create_project(f"p{i}", None, "active", False).id for i in range(3)]
        for n, project in enumerate(ids):
            for k in range(20):
                store.create_iteration(f"it-{n}-{k}", "run", None, project, float(k), {})
        statements: list[tuple[str, Any]] = []

        def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        event.listen(store._engine, "before_cursor_execute", seen)
        scoped: Any = frozenset(ids[:2])
        found = store.list_iterations(project_id=scoped, limit=5)
        event.remove(store._engine, "before_cursor_execute", seen)
        assert {i.project_id for i in found} <= set(ids[:2]) and len(found) == 5
        (statement, parameters) = next(
            s for s in statements if s[0].startswith("SELECT") and "project_id IN" in s[0]
        )
        with transaction(store._engine, False, "explain") as conn:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        steps = [row[3] for row in plan]
        assert any("ix_iterations_project_started" in step for step in steps), steps
    finally:
        store.close()


def test_the_trash_of_a_project_token_holds_only_its_projects(
    two_projects: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, p1, p2 = two_projects
    later = time.time() + 60
    listed = client.get(f"{API_PREFIX}/trash/iterations", params={"deleted_before": later})
    assert listed.status_code == 200, listed.text
    assert p1["gone"] in listed.text and p2["gone"] not in listed.text
    page = client.get("/trash.json")
    assert "alpha-gone" in page.text and "bravo-gone" not in page.text
    assert client.get(f"{API_PREFIX}/iterations/{p2['iteration']}/note").status_code == 404
    assert client.get(f"{API_PREFIX}/iterations/{p1['iteration']}/note").json()["text"] == (
        "alpha-note"
    )


def test_a_project_token_deletes_its_own_datasets_but_not_one_another_project_uses(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    p1 = _fill(store, "alpha-team", "alpha")
    p2 = _fill(store, "bravo-secret", "bravo")
    shared = store.create_dataset("shared-data", "/data", None, [], None, None, None, None)
    for n, owner in enumerate((p1, p2)):
        user = f"shared-user-{n}"
        store.create_iteration(user, user, owner["experiment"], None, time.time(), {})
        store.log_batch(user, dataset_ids=[shared.id])
        store.end_iteration(user, "finished", time.time())
    secret, _ = store.create_token("alpha-writer", "write", [p1["project"]])
    store.close()
    app = create_app(AppSettings(uri, auth=True))
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app, base_url="http://127.0.0.1", headers=headers) as client:
        for how, path in (
            ("DELETE", f"{API_PREFIX}/datasets/{shared.id}"),
            ("POST", f"{API_PREFIX}/datasets/{shared.id}/purge"),
        ):
            answer = client.request(how, path, params={"force": "true"}, json={"force": True})
            assert answer.status_code == 403, answer.text
            message = answer.json()["error"]["message"]
            assert "also used by iterations of projects this token cannot see" in message
            assert p2["project"] not in message and "bravo" not in message
        assert client.get(f"{API_PREFIX}/datasets/{shared.id}").status_code == 200
        own = client.delete(f"{API_PREFIX}/datasets/{p1['dataset']}", params={"force": "true"})
        assert own.status_code == 200, own.text
        assert own.json()["deleted_at"] is not None
