"""The App's REST API, through a real App process on a loopback port."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.store.sql.store import SqlStore

API = "/api/v1"


@pytest.fixture
def app(start_app, tmp_path: Path):  # type: ignore[no-untyped-def]
    return start_app(f"sqlite:///{tmp_path / 'app.db'}")


@pytest.fixture
def client(app) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=app.url + API, timeout=10)


def _iteration(client: httpx.Client) -> str:
    project = client.post("/projects", json={"title": "p"}).json()
    experiment = client.post("/experiments", json={"project_id": project["id"], "name": "e"})
    body = {"id": "it-1", "name": "run", "experiment_id": experiment.json()["id"]}
    created = client.post("/iterations", json={**body, "started_at": time.time()})
    assert created.status_code == 201
    return "it-1"


def test_openapi_docs_and_health(client: httpx.Client, app) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/openapi.json").json()
    assert "/api/v1/iterations/{iteration_id}/batch" in spec["paths"]
    assert "metrics.accuracy > 0.9" in spec["info"]["description"]
    docs = httpx.get(app.url + "/api/v1/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/" in docs.text
    assert "<script>" not in docs.text  # no inline script: the CSP forbids it
    assert httpx.get(app.url + "/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/health").json()["status"] == "ok"


def test_one_error_shape_with_fitting_statuses(client: httpx.Client) -> None:
    created = client.post("/projects", json={"title": "vision"})
    assert created.status_code == 201
    again = client.post("/projects", json={"title": "vision"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    assert created.json()["id"] in again.json()["error"]["message"]
    missing = client.get("/projects/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    invalid = client.post("/projects", json={"title": ""})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_input"
    bad_filter = client.get("/iterations", params={"filter": "metrics.acc >"})
    assert bad_filter.status_code == 422
    assert bad_filter.json()["error"]["code"] == "query_syntax"
    assert client.get("/no/such/route").json()["error"]["code"] == "not_found"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(
        ["/projects", "/experiments", "/datasets", "/iterations", "/iterations/x/batch",
         "/iterations/x/end", "/iterations/search"]
    ),
    body=st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ),
)  # fmt: skip
def test_bad_input_is_never_a_server_error(client: httpx.Client, path: str, body: object) -> None:
    # Sent as Python writes JSON, bare NaN/Infinity tokens included: the App must cope.
    content = json.dumps(body).encode()
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()


def test_batches_round_trip_nan_and_infinity(client: httpx.Client) -> None:
    iteration_id = _iteration(client)
    now = time.time()
    rows = [["loss", 0, 1.0, now], ["loss", 1, "NaN", now], ["loss", 2, "-Infinity", now]]
    batch = {"parameters": {"lr": 0.1, "layers": [64, 32]}, "metrics": rows, "tags": {"t": "x"}}
    assert client.post(f"/iterations/{iteration_id}/batch", json=batch).json()["points"] == 3
    history = client.get(f"/iterations/{iteration_id}/metrics/loss").json()["points"]
    assert [p["value"] for p in history] == [1.0, "NaN", "-Infinity"]
    ended = client.post(
        f"/iterations/{iteration_id}/end",
        json={"status": "finished", "ended_at": time.time(), "batch": {"metrics": []}},
    ).json()
    assert ended["status"] == "finished" and ended["metrics"] == {"loss": "-Infinity"}
    assert ended["parameters"] == {"lr": 0.1, "layers": [64, 32]} and ended["tags"] == {"t": "x"}


def test_history_downsampling_keeps_spikes(client: httpx.Client) -> None:
    iteration_id = _iteration(client)
    rows = [["m", s, 100.0 if s == 777 else math.sin(s / 50), time.time()] for s in range(5000)]
    client.post(f"/iterations/{iteration_id}/batch", json={"metrics": rows})
    answer = client.get(f"/iterations/{iteration_id}/metrics/m", params={"max_points": 200})
    data = answer.json()
    assert data["downsampled"] and data["total"] == 5000 and len(data["points"]) <= 200
    assert max(p["value"] for p in data["points"]) == 100.0  # the spike survived
    assert data["points"][0]["step"] == 0 and data["points"][-1]["step"] == 4999


def test_search_filters_orders_and_pages_with_a_cursor(client: httpx.Client) -> None:
    project = client.post("/projects", json={"title": "p"}).json()
    experiment = client.post("/experiments", json={"project_id": project["id"], "name": "e"})
    experiment_id = experiment.json()["id"]
    for i in range(25):
        body = {"id": f"i{i:02}", "name": f"r{i}", "experiment_id": experiment_id}
        client.post("/iterations", json={**body, "started_at": time.time()})
        model = "rf" if i % 2 else "gb"
        batch = {"parameters": {"model": model}, "metrics": [["acc", 0, i / 100, time.time()]]}
        client.post(f"/iterations/i{i:02}/batch", json=batch)
    query = {
        "experiment_id": experiment_id, "filter": 'params.model = "rf" and metrics.acc > 0.04',
        "order_by": "metrics.acc desc", "limit": 5,
    }  # fmt: skip
    seen, cursor = [], None
    while True:
        page = client.get("/iterations", params={**query, **({"cursor": cursor} if cursor else {})})
        data = page.json()
        seen += [i["id"] for i in data["iterations"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    expected = [f"i{i:02}" for i in range(24, 4, -1) if i % 2]
    assert seen == expected and data["total"] == len(expected)
    post = client.post("/iterations/search", json={**query, "order_by": ["metrics.acc desc"]})
    assert [i["id"] for i in post.json()["iterations"]] == expected[:5]


def test_oversized_batches_and_bodies_are_refused(client: httpx.Client) -> None:
    iteration_id = _iteration(client)
    rows = [["m", s, 1.0, 0.0] for s in range(50_001)]
    too_many = client.post(f"/iterations/{iteration_id}/batch", json={"metrics": rows})
    assert too_many.status_code == 413 and "50,000" in too_many.json()["error"]["message"]
    huge = b'{"title": "' + b"x" * (33 * 1024 * 1024) + b'"}'
    answer = client.post("/projects", content=huge, headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_requests_from_other_sites_and_hosts_are_refused(client: httpx.Client, app) -> None:  # type: ignore[no-untyped-def]
    form = client.post("/projects", data={"title": "x"})
    assert form.status_code == 415
    csrf = client.post("/projects", json={"title": "x"}, headers={"origin": "https://evil.example"})
    assert csrf.status_code == 403
    same = client.post("/projects", json={"title": "ok"}, headers={"origin": app.url})
    assert same.status_code == 201
    rebinding = client.get("/projects", headers={"host": "attacker.example"})
    assert rebinding.status_code == 400
    answer = client.get("/projects")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "access-control-allow-origin" not in answer.headers


def test_the_app_never_serves_a_logged_path(client: httpx.Client, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    iteration_id = _iteration(client)
    body = {"status": "finished", "ended_at": time.time(), "model": {"path": str(secret)}}
    client.post(f"/iterations/{iteration_id}/end", json=body)
    client.post("/datasets", json={"name": "d", "path": str(secret)})
    for url in (
        f"/iterations/{iteration_id}", "/datasets", f"/static/..%2f..%2f{secret}",
        f"/static/../../../../{secret}", f"/static/{secret}",
    ):  # fmt: skip
        text = httpx.get(app.url + API + url if not url.startswith("/static") else app.url + url)
        assert "TOP-SECRET-CONTENT" not in text.text


def test_public_address_without_tokens_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mlops", "app", "--host", "0.0.0.0", "--port", "1"]
    out = subprocess.run(
        [*command, "--store", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 1 and "--auth" in out.stderr and "--insecure" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_an_outdated_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    SqlStore(uri).close()
    import sqlite3

    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0000'")
    out = subprocess.run(
        [sys.executable, "-m", "mlops", "app", "--port", "1", "--store", uri],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 1 and "mlops db upgrade" in out.stderr


def test_sigterm_lets_in_flight_requests_finish(app, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    """A request the App is reading when SIGTERM arrives is answered and stored in full.

    The request asks ``Expect: 100-continue``: the App answers "100 Continue" once it has the
    request's head and starts reading its body, so the test knows the request is in flight.
    SIGTERM goes then; once the App has stopped accepting new connections (its shutdown has
    begun), the body of 50,000 points is sent.
    """
    iteration_id = _iteration(client)
    body = json.dumps({"metrics": [["m", s, 1.0, 0.0] for s in range(50_000)]}).encode()
    head = (
        f"POST {API}/iterations/{iteration_id}/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", app.port), timeout=20) as sock:
        sock.sendall(head)
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"HTTP/1.1 100"), "the App did not ask for the body"
        assert stream.readline() == b"\r\n"
        app.proc.send_signal(signal.SIGTERM)
        _wait_until_refused(app.port)
        sock.sendall(body)
        status_line = stream.readline()
        headers = _read_headers(stream)
        answer = json.loads(stream.read(int(headers["content-length"])))
    assert status_line.split()[1] == b"200", (status_line, answer)
    assert answer["points"] == 50_000
    code = app.proc.wait(30)
    assert code in (0, -signal.SIGTERM)  # Uvicorn re-raises SIGTERM after its graceful shutdown
    assert "Traceback" not in app.proc.stderr.read()
    store = SqlStore(app.store_uri)
    assert len(store.get_metric_history(iteration_id, "m")) == 50_000
    store.close()


def _wait_until_refused(port: int, timeout: float = 20.0) -> None:
    """Return once nothing accepts connections on ``port`` any more."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, f"port {port} still accepts after {timeout} s"
        time.sleep(0.02)


def _read_headers(stream: Any) -> dict[str, str]:
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def test_tokens_guard_every_call(start_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'auth.db'}"
    store = SqlStore(uri)
    reader, _ = store.create_token("reader", "read")
    writer, _ = store.create_token("writer", "write")
    app = start_app(uri, "--auth")

    def call(token: str | None, method: str = "GET") -> int:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if method == "GET":
            return httpx.get(f"{app.url}{API}/projects", headers=headers).status_code
        body = {"title": f"p-{time.time()}"}
        return httpx.post(f"{app.url}{API}/projects", json=body, headers=headers).status_code

    assert call(None) == 401 and call("mlops_wrong") == 401
    assert call(reader) == 200 and call(reader, "POST") == 403
    assert call(writer) == 200 and call(writer, "POST") == 201
    revoke = [sys.executable, "-m", "mlops", "tokens", "revoke", "writer", "--store", uri]
    subprocess.run(revoke, check=True, capture_output=True)
    assert call(writer) == 401  # refused at once, no restart
    assert httpx.get(f"{app.url}{API}/health").status_code == 200  # health needs no token
    listed = subprocess.run(
        [sys.executable, "-m", "mlops", "tokens", "list", "--json", "--store", uri],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert reader not in listed.stdout and '"revoked_at": null' in listed.stdout
    store.close()


def test_overload_answers_503_with_retry_after() -> None:
    from fastapi.testclient import TestClient

    from mlops.app import AppSettings, create_app

    settings_ = AppSettings(store_uri="sqlite:///unused.db", max_in_flight=0)
    app = create_app(settings_, store=_NoStore())
    answer = TestClient(app, base_url="http://127.0.0.1").get(f"{API}/projects")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"


class _NoStore:
    """The overload guard answers before any store is touched."""

    def close(self) -> None:
        pass


def test_one_request_brings_a_metric_of_several_iterations(client: httpx.Client) -> None:
    iteration_id = _iteration(client)
    body = {"id": "it-2", "name": "two", "project_id": None, "started_at": time.time()}
    body["experiment_id"] = client.get(f"/iterations/{iteration_id}").json()["experiment_id"]
    client.post("/iterations", json=body)
    for which, steps in ((iteration_id, 3000), ("it-2", 10)):
        rows = [["loss", s, 1 / (s + 1), time.time()] for s in range(steps)]
        client.post(f"/iterations/{which}/batch", json={"metrics": rows})
    answer = client.get(
        "/series",
        params={"metric": "loss", "iteration_ids": [iteration_id, "it-2"], "max_points": 100},
    ).json()
    long, short = answer["series"][iteration_id], answer["series"]["it-2"]
    assert long["downsampled"] and long["total"] == 3000 and len(long["points"]) <= 150
    assert not short["downsampled"] and len(short["points"]) == 10
    missing = client.get("/series", params={"metric": "loss", "iteration_ids": ["ghost"]})
    assert missing.status_code == 404
