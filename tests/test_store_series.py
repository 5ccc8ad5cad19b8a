"""Metric series on every backend: downsampled charts show true points, summaries follow the
stored series, and every double comes back bit for bit."""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from mlops.entities import MetricPoint
from mlops.errors import NotFound
from mlops.store.base import MetricRow, Store

LARGEST = 1.7976931348623157e308
TINY = 5e-324  # the smallest subnormal
EXACT = [0.0, -0.0, TINY, -TINY, LARGEST, -LARGEST, math.inf, -math.inf, math.nan, 1e-310, 0.1]


def _iteration(store: Store, name: str = "run") -> str:
    project = store.create_project(f"p-{name}", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    return store.create_iteration(f"id-{name}", name, experiment.id, None, time.time(), {}).id


def _bits(value: float | None) -> str | None:
    """A float's 8 bytes (None stays None): -0.0 and 0.0 differ, every NaN is one NaN."""
    if value is None:
        return None
    assert isinstance(value, float), f"{value!r} is not a float"
    return struct.pack("<d", value).hex()


def _same(a: float, b: float) -> bool:
    return _bits(a) == _bits(b)


# -- downsampled series ---------------------------------------------------------------------


def _falling(step: int) -> float:
    return 10.0 / (1 + step / 10)


def _saw_tooth(step: int) -> float:
    return float(step % 37)


def _spiky(step: int) -> float:
    return {777: 50.0, 4321: -30.0, 6000: math.nan}.get(step, 1.0)


def _check_falling(points: Sequence[MetricPoint]) -> None:
    values = [p.value for p in points]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)


def _check_saw_tooth(points: Sequence[MetricPoint]) -> None:
    between = [p.value for p in points if p.value not in (0.0, 36.0)]
    assert len(between) <= 4  # only where the series (or a short last bucket) starts or ends
    for tenth in range(10):  # the full range all along the chart
        seen = {p.value for p in points if tenth * 1000 <= p.step < (tenth + 1) * 1000}
        assert {0.0, 36.0} <= seen, tenth


def _check_spiky(points: Sequence[MetricPoint]) -> None:
    by_step = {p.step: p.value for p in points}
    assert by_step[777] == 50.0 and by_step[4321] == -30.0 and math.isnan(by_step[6000])
    assert [p.step for p in points if math.isnan(p.value)] == [6000]


@pytest.mark.parametrize(
    ("shape", "check"),
    [(_falling, _check_falling), (_saw_tooth, _check_saw_tooth), (_spiky, _check_spiky)],
    ids=["monotone", "saw-tooth", "spiky"],
)
def test_a_downsampled_series_shows_true_points_in_step_order(
    store: Store,
    shape: Callable[[int], float],
    check: Callable[[Sequence[MetricPoint]], None],
) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    raw = {step: shape(step) for step in range(10_000)}
    store.log_batch(iteration_id, metrics=[("m", s, v, now) for s, v in raw.items()])
    points, total = store.get_metric_series(iteration_id, "m", 200)
    assert total == 10_000 and len(points) <= 200
    steps = [p.step for p in points]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 9_999
    wrong = [(p.step, p.value, raw[p.step]) for p in points if not _same(p.value, raw[p.step])]
    assert wrong == []  # each point is a stored point: its value at its step
    check(points)


def test_a_downsampled_series_keeps_the_first_and_last_point(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    rising = [("m", s, float(s % 100 == 50) + s / 1e6, now) for s in range(500, 2_000)]
    store.log_batch(iteration_id, metrics=rising)
    points, total = store.get_metric_series(iteration_id, "m", 10)
    assert total == 1_500 and len(points) <= 10
    assert (points[0].step, points[0].value) == (500, 500 / 1e6)
    assert (points[-1].step, points[-1].value) == (1_999, 1_999 / 1e6)


def test_a_series_in_columns_is_the_series(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    values = [math.nan if s == 7 else 1 / (s + 1) for s in range(300)]
    store.log_batch(iteration_id, metrics=[("m", s, v, now + s) for s, v in enumerate(values)])
    for max_points in (1000, 20):  # whole, downsampled
        points, total = store.get_metric_series(iteration_id, "m", max_points)
        columns, counted = store.get_metric_series_columns(iteration_id, "m", max_points)
        assert counted == total == 300
        assert list(columns.steps) == [p.step for p in points]
        assert [_bits(v) for v in columns.values] == [_bits(p.value) for p in points]
        assert list(columns.timestamps) == pytest.approx([p.timestamp for p in points])
    with pytest.raises(NotFound, match="m"):
        store.get_metric_series_columns(iteration_id, "nope", 100)


# -- summaries follow the stored series -----------------------------------------------------


def _assert_summary_is_the_series(store: Store, iteration_id: str, name: str) -> None:
    history = store.get_metric_history(iteration_id, name)
    finite = [p.value for p in history if not math.isnan(p.value)]
    summary = store.get_iteration(iteration_id).metrics[name]
    assert summary.last_step == history[-1].step
    assert _same(summary.last, history[-1].value)
    assert (summary.min, summary.max) == ((min(finite), max(finite)) if finite else (None, None))


def test_summaries_follow_a_replaced_step(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    store.log_batch(iteration_id, None, [("loss", 0, 100.0, now)])
    store.log_batch(iteration_id, None, [("loss", 0, 1.0, now)])
    assert [p.value for p in store.get_metric_history(iteration_id, "loss")] == [1.0]
    summary = store.get_iteration(iteration_id).metrics["loss"]
    assert (summary.last, summary.last_step, summary.min, summary.max) == (1.0, 0, 1.0, 1.0)
    # twice the same step in one batch: the later value is the stored one
    store.log_batch(iteration_id, None, [("acc", 3, 0.9, now), ("acc", 3, 0.2, now)])
    assert [p.value for p in store.get_metric_history(iteration_id, "acc")] == [0.2]
    _assert_summary_is_the_series(store, iteration_id, "acc")


def test_summaries_follow_rewrites_retries_and_late_points(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    first: list[MetricRow] = [("m", 0, 5.0, now), ("m", 1, 3.0, now), ("m", 2, 4.0, now)]
    store.log_batch(iteration_id, None, first)
    store.log_batch(iteration_id, None, [("m", 3, 9.0, now), ("m", 4, -2.0, now)])
    store.log_batch(iteration_id, None, first)  # a retry of the first batch
    _assert_summary_is_the_series(store, iteration_id, "m")
    changes: list[list[MetricRow]] = [
        [("m", 3, 0.0, now)],  # the max goes away
        [("m", 4, 7.0, now)],  # the last value and the min change
        [("m", 1, math.nan, now), ("m", 2, math.nan, now)],
        [("m", 2, 8.0, now), ("m", 6, 1.5, now)],  # a late point and a new last one at once
        [("m", 5, -1.0, now)],  # a point between stored ones
        [("m", s, math.nan, now) for s in range(7)],  # nothing but NaN is left
    ]
    for batch in changes:
        store.log_batch(iteration_id, None, batch)
        _assert_summary_is_the_series(store, iteration_id, "m")
    ended = store.end_iteration(iteration_id, "finished", now, metrics=[("m", 6, 2.5, now)])
    assert (ended.metrics["m"].last, ended.metrics["m"].min, ended.metrics["m"].max) == (
        2.5,
        2.5,
        2.5,
    )
    _assert_summary_is_the_series(store, iteration_id, "m")


# -- exact values ---------------------------------------------------------------------------


def test_every_double_round_trips_bit_for_bit(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    rows: list[MetricRow] = [(f"m{i}", 0, v, now) for i, v in enumerate(EXACT)]
    rows += [("all", s, v, now) for s, v in enumerate(EXACT)]
    rows += [("min", 0, 0.5, now), ("min", 1, -0.0, now), ("max", 0, -7.0, now)]
    rows += [("max", 1, -0.0, now)]
    parameters: dict[str, Any] = {f"p{i}": v for i, v in enumerate(EXACT)}
    parameters["nested"] = [-0.0, math.inf, {"x": -math.inf, "y": math.nan}]
    parameters["text"] = "NaN"
    store.log_batch(iteration_id, parameters, rows)

    history = store.get_metric_history(iteration_id, "all")
    assert [_bits(p.value) for p in history] == [_bits(v) for v in EXACT]
    iteration = store.get_iteration(iteration_id)
    [listed] = store.list_iterations(experiment_id=iteration.experiment_id)
    for got in (iteration, listed):
        for i, value in enumerate(EXACT):
            summary = got.metrics[f"m{i}"]
            finite = None if math.isnan(value) else _bits(value)
            assert (_bits(summary.last), _bits(summary.min), _bits(summary.max)) == (
                _bits(value),
                finite,
                finite,
            ), value
            assert _bits(got.parameters[f"p{i}"]) == _bits(value), value
        assert _bits(got.metrics["min"].min) == _bits(-0.0)
        assert _bits(got.metrics["max"].max) == _bits(-0.0)
        nested = got.parameters["nested"]
        assert [_bits(nested[0]), _bits(nested[1])] == [_bits(-0.0), _bits(math.inf)]
        assert _bits(nested[2]["x"]) == _bits(-math.inf) and math.isnan(nested[2]["y"])
        assert got.parameters["text"] == "NaN"


def test_a_downsampled_series_keeps_exact_values(store: Store) -> None:
    iteration_id = _iteration(store)
    now = time.time()
    raw = {step: 1.0 for step in range(2_000)}
    for i, value in enumerate(EXACT):  # each one the lowest or highest of its stretch
        raw[100 + 150 * i] = value
    store.log_batch(iteration_id, metrics=[("m", s, v, now) for s, v in raw.items()])
    points, total = store.get_metric_series(iteration_id, "m", 100)
    assert total == 2_000 and len(points) <= 100
    got = {p.step: _bits(p.value) for p in points}
    assert {100 + 150 * i: got.get(100 + 150 * i) for i in range(len(EXACT))} == {
        100 + 150 * i: _bits(v) for i, v in enumerate(EXACT)
    }


def test_the_apps_series_route_shows_true_points_to_a_browser(
    sql_store_uri: str, start_app: Callable[..., Any]
) -> None:
    import httpx

    from mlops.store.sql.store import SqlStore
    from mlops.wire import decode_float

    writer = SqlStore(sql_store_uri)
    iteration_id = _iteration(writer)
    raw = {step: _spiky(step) for step in range(10_000)}
    raw[5000] = -0.0
    now = time.time()
    writer.log_batch(iteration_id, metrics=[("m", s, v, now) for s, v in raw.items()])
    writer.close()
    app = start_app(sql_store_uri)
    answer = httpx.get(
        f"{app.url}/api/v1/series",
        params={"metric": "m", "iteration_ids": [iteration_id], "max_points": 100},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    series = answer.json()["series"][iteration_id]  # a browser's JSON: NaN as "NaN"
    assert series["downsampled"] and series["total"] == 10_000 and len(series["points"]) <= 100
    points = [(p["step"], decode_float(p["value"])) for p in series["points"]]
    assert [s for s, _ in points] == sorted({s for s, _ in points})
    assert [(s, _bits(v)) for s, v in points] == [(s, _bits(raw[s])) for s, _ in points]
    assert {(777, _bits(50.0)), (4321, _bits(-30.0)), (5000, _bits(-0.0))} <= {
        (s, _bits(v)) for s, v in points
    }
    assert math.isnan(dict(points)[6000])
