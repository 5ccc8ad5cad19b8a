"""log-batch reads a metric as MLflow's client sends it (text key, float value, integer
timestamp and step) without the per-field checks; anything else takes the checked way, which
names what is wrong. Both ways must give the same row."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.metrics import _metric, _plain_metric


@pytest.mark.parametrize(
    "item",
    [
        {"key": "loss", "value": 0.25, "timestamp": 1_700_000_000_123, "step": 7},
        {"key": "loss", "value": 0.25, "timestamp": 0},  # no step: 0, as MLflow's default
        {"key": "loss", "value": -1.5, "timestamp": 5, "step": -3},
        {"key": "big", "value": 1e300, "timestamp": 2**53 - 1, "step": 2**63 - 1},
        {"key": "low", "value": 1.0, "timestamp": 5, "step": -(2**63)},
    ],
)
def test_plain_metrics_read_as_the_checked_way_reads_them(item: dict[str, Any]) -> None:
    assert _plain_metric(item) == _metric(item, "metrics[0]")


@pytest.mark.parametrize(
    "item",
    [
        {"key": "loss", "value": "NaN", "timestamp": 5},  # MLflow's NaN and Infinity: text
        {"key": "loss", "value": 3, "timestamp": 5},  # an integer value
        {"key": "loss", "value": 1.0, "timestamp": "5"},  # the time as text
        {"key": "loss", "value": 1.0, "timestamp": 5, "step": "2"},
        {"key": "loss", "value": 1.0, "timestamp": True},
        {"key": "", "value": 1.0, "timestamp": 5},
        {"key": 3, "value": 1.0, "timestamp": 5},
        {"key": "loss", "value": 1.0, "timestamp": 2**53},
        {"key": "loss", "value": 1.0, "timestamp": -1},
        {"key": "loss", "value": 1.0, "timestamp": 5, "step": 2**63},
        {"key": "loss", "value": 1.0},
        ["loss", 1.0, 5],
    ],
)
def test_anything_else_takes_the_checked_way(item: Any) -> None:
    assert _plain_metric(item) is None
    try:
        row = _metric(item, "metrics[0]")
    except MlflowError as exc:  # named, as before
        assert "parameter" in str(exc)
    else:
        assert row[0] == item["key"] and isinstance(row[2], float)
        if item["value"] == "NaN":
            assert math.isnan(row[2])
