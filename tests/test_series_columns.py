"""A whole series in columns: the store method on every backend, the JSON and binary forms of
``GET /api/v1/history/columns`` (negotiated by ``Accept``), and the tracking function."""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops import tracking
from mlops.app import AppSettings, create_app
from mlops.errors import InvalidInput, NotFound
from mlops.series import SERIES_MEDIA_TYPE, MetricColumns
from mlops.store import Store

ODD = [1.5, math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]


def _bits(values: object) -> list[str]:
    return [struct.pack("<d", v).hex() for v in values]  # type: ignore[attr-defined]


def _iteration(store: Store, name: str = "run") -> str:
    project = store.create_project(f"p-{name}", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    return store.create_iteration(f"id-{name}", name, experiment.id, None, time.time(), {}).id


def test_columns_are_the_history_on_every_backend(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    rows = [("loss", step, ODD[step % len(ODD)], now + step) for step in range(0, 60, 3)]
    store.log_batch(iteration_id, metrics=rows)
    columns = store.get_metric_columns(iteration_id, "loss")
    history = store.get_metric_history(iteration_id, "loss")
    assert list(columns.steps) == [p.step for p in history] == list(range(0, 60, 3))
    assert _bits(columns.values) == _bits(p.value for p in history) == _bits(r[2] for r in rows)
    assert list(columns.timestamps) == [p.timestamp for p in history]
    assert [(d["step"], d["timestamp"]) for d in columns] == [
        (d["step"], d["timestamp"]) for d in (p.to_dict() for p in history)
    ]
    with pytest.raises(NotFound, match="loss"):
        store.get_metric_columns(iteration_id, "acc")
    with pytest.raises(NotFound):
        store.get_metric_columns("no-such-iteration", "loss")


def test_several_values_at_one_step_keep_their_order(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    rows = [("m", 1, 3.0, now), ("m", 0, 2.0, now), ("m", 1, 1.0, now + 1)]
    store.log_batch(iteration_id, metrics=rows, every_value=True)
    columns = store.get_metric_columns(iteration_id, "m")
    assert list(zip(columns.steps, columns.values, strict=True)) == [(0, 2.0), (1, 3.0), (1, 1.0)]


def test_binary_and_json_forms_round_trip_every_bit() -> None:
    columns = MetricColumns.of_rows([(s, v, 1e9 + s) for s, v in enumerate(ODD)])
    packed = columns.to_bytes()
    assert packed[:4] == b"MLSR" and len(packed) == 16 + 24 * len(ODD)
    back = MetricColumns.from_bytes(packed)
    assert _bits(back.values) == _bits(ODD) and list(back.steps) == list(range(len(ODD)))
    assert back == columns
    as_json = {"steps": [0, 1, 2], "values": [1.0, "NaN", "-Infinity"], "timestamps": [1, 2, 3]}
    decoded = MetricColumns.from_json(as_json)
    assert math.isnan(decoded.values[1]) and decoded.values[2] == -math.inf
    empty = MetricColumns()
    assert MetricColumns.from_bytes(empty.to_bytes()) == empty and list(empty) == []
    assert MetricColumns.from_json(empty.to_json()) == empty


def test_a_bad_binary_series_is_named() -> None:
    with pytest.raises(InvalidInput, match="at least 16 bytes"):
        MetricColumns.from_bytes(b"MLSR")
    with pytest.raises(InvalidInput, match="not a binary series"):
        MetricColumns.from_bytes(b"XXXX" + bytes(12))
    with pytest.raises(InvalidInput, match="of 1 points is 40 bytes"):
        MetricColumns.from_bytes(MetricColumns.of_rows([(0, 1.0, 2.0)]).to_bytes()[:-1])
    with pytest.raises(InvalidInput, match="as many steps"):
        MetricColumns.from_json({"steps": [1], "values": [], "timestamps": []})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    app = create_app(AppSettings(f"sqlite:///{tmp_path / 'app.db'}"))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        store = app.state.store if hasattr(app.state, "store") else None
        if store is None:
            from mlops.store.sql.store import SqlStore

            store = SqlStore(f"sqlite:///{tmp_path / 'app.db'}")
        iteration_id = _iteration(store)
        now = time.time()
        store.log_batch(iteration_id, metrics=[("loss", s, v, now) for s, v in enumerate(ODD)])
        yield c, iteration_id


def test_accept_negotiates_the_binary_form(client: tuple[TestClient, str]) -> None:
    c, iteration_id = client
    params = {"iteration_id": iteration_id, "metric": "loss"}
    plain = c.get("/api/v1/history/columns", params=params)
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    body = plain.json()
    assert body["steps"] == list(range(len(ODD)))
    assert body["values"][1:4] == ["NaN", "Infinity", "-Infinity"]
    packed = c.get("/api/v1/history/columns", params=params, headers={"Accept": SERIES_MEDIA_TYPE})
    assert packed.headers["content-type"] == SERIES_MEDIA_TYPE
    assert _bits(MetricColumns.from_bytes(packed.content).values) == _bits(ODD)
    for accept in ("text/nonsense", f"{SERIES_MEDIA_TYPE};q=0", ";;,,q=", "*/*"):
        answer = c.get("/api/v1/history/columns", params=params, headers={"Accept": accept})
        assert answer.headers["content-type"] == "application/json", accept
        assert answer.json() == body
    missing = c.get("/api/v1/history/columns", params={**params, "metric": "acc"})
    assert missing.status_code == 404 and "acc" in missing.json()["error"]["message"]


def test_openapi_declares_both_forms(client: tuple[TestClient, str]) -> None:
    c, _ = client
    document = c.get("/api/v1/openapi.json").json()
    answer = document["paths"]["/api/v1/history/columns"]["get"]["responses"]["200"]
    assert SERIES_MEDIA_TYPE in answer["content"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/MetricColumnsOut")
    declared = document["components"]["schemas"]["MetricColumnsOut"]["properties"]
    assert set(declared) == {"steps", "values", "timestamps"}


def test_tracking_gives_columns_that_iterate_as_the_documented_dicts(
    tracking_uri: str, active: dict[str, str]
) -> None:
    it = tracking.start_iteration("cols", system_metrics=False)
    for step, value in enumerate(ODD):
        it.log_metric("loss", value, step=step)
    it.end_iteration()
    columns = tracking.get_metric_history(it.id, "loss", columns=True)
    dicts = tracking.get_metric_history(it.id, "loss")
    assert len(columns) == len(dicts) == len(ODD)
    assert [d["step"] for d in columns] == [d["step"] for d in dicts]
    assert columns[0] == dicts[0] and columns[-1] == dicts[-1]
    assert _bits(columns.values) == _bits(d["value"] for d in dicts) == _bits(ODD)
    with pytest.raises(InvalidInput, match="columns"):
        tracking.get_metric_history(it.id, "loss", columns="yes")  # type: ignore[call-overload]
