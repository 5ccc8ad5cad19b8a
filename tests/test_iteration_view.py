"""The Iteration's dict while it runs, the iteration of a non-zero rank, and RANK itself."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlops import tracking
from mlops.errors import InvalidInput, IterationEnded, NoActiveProject, NotFound


def test_the_iteration_dict_shows_what_was_logged_as_it_goes(active, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    dataset = tracking.create_dataset("toy", str(data))
    it = tracking.start_iteration("live-dict")
    assert it["metrics"] == {} and it["parameters"] == {}
    it.log_metric("loss", 0.9)
    assert it["metrics"] == {"loss": 0.9}  # at once, before any write
    it.log_metric("loss", 0.5)
    it.log_metric("loss", 0.7, step=1)  # the highest step again: its value is replaced
    it.log_metric("loss", 0.1, step=0)  # a lower step: the last value does not change
    it.log_metric("acc", math.nan)
    it.log_parameters({"lr": 0.01, "layers": [64, 32]})
    it.set_tag("team", "vision")
    it.log_dataset(dataset["id"])
    it.log_path_to_model(str(tmp_path / "model.pt"))
    assert it["metrics"]["loss"] == 0.7 and math.isnan(it["metrics"]["acc"])
    assert it["parameters"] == {"lr": 0.01, "layers": [64, 32]}
    assert it["tags"] == {"team": "vision"}
    assert [d["id"] for d in it["datasets"]] == [dataset["id"]]
    assert it["path_to_model"] == str(tmp_path / "model.pt")
    summary = it["metric_summaries"]["loss"]
    assert summary == {"last": 0.7, "last_step": 1, "min": 0.1, "max": 0.9}
    assert it["metric_summaries"]["acc"]["min"] is None  # NaN is not a minimum

    stored = tracking.get_iteration(it.id)  # writes the buffer, then reads the store
    assert stored["metrics"]["loss"] == 0.7 and stored["parameters"] == it["parameters"]
    it.log_metric("loss", 0.2)
    it.log_parameter("lr", 0.02)
    view = dict(it)
    assert view["metrics"]["loss"] == 0.2 and view["parameters"]["lr"] == 0.02
    assert view["metric_summaries"]["loss"]["last_step"] == 2
    assert set(view) == set(stored)

    final = it.end_iteration()
    assert final["metrics"]["loss"] == 0.2 and final["parameters"]["lr"] == 0.02
    assert dict(it) == final == tracking.get_iteration(it.id)


def test_the_live_dict_costs_log_metric_nothing(active) -> None:  # type: ignore[no-untyped-def]
    with tracking.start_iteration("many") as it:
        for step in range(30_000):
            it.log_metric("loss", 1.0 / (step + 1))
        assert it["metrics"] == {"loss": 1.0 / 30_000}
        assert it["metric_summaries"]["loss"]["last_step"] == 29_999
        assert it["metric_summaries"]["loss"]["max"] == 1.0
    assert it["metric_summaries"]["loss"]["min"] == 1.0 / 30_000


def test_a_non_zero_rank_checks_every_call_like_rank_zero(active, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RANK", "2")
    it = tracking.start_iteration("gpu2")
    assert (it.id, it.name, it.rank) == (None, "gpu2", 2)
    assert it.project_id == active["project_id"]
    assert it.experiment_id == active["experiment_id"]
    with pytest.raises(InvalidInput, match="metric 'm'"):
        it.log_metric("m", "0.5")
    with pytest.raises(InvalidInput, match="metric 'm'"):
        it.log_metric("m", 1.0, step="3")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        it.log_metric("", 1.0)
    with pytest.raises(InvalidInput, match="metric 'bad'"):
        it.log_metrics({"good": 1.0, "bad": None})
    with pytest.raises(InvalidInput, match="must be a dict"):
        it.log_parameters([("lr", 0.1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="tag 'team'"):
        it.set_tag("team", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="dataset_id"):
        it.log_dataset("")
    with pytest.raises(InvalidInput, match="path_to_model"):
        it.log_path_to_model("")
    it.log_metric("loss", 0.5)
    it.log_parameter("lr", 0.1)
    assert it["metrics"] == {"loss": 0.5} and it["parameters"] == {"lr": 0.1}
    monkeypatch.setenv("RANK", "0")
    with tracking.start_iteration("gpu0") as real:
        pass
    assert set(real) <= set(it)  # the same keys as a real iteration (and "rank")
    final = it.end_iteration()
    assert final["status"] == "disabled" and final["rank"] == 2
    with pytest.raises(IterationEnded):
        it.log_metric("loss", 0.4)
    assert [i["name"] for i in tracking.list_iterations()] == ["gpu0"]


def test_a_non_zero_rank_refuses_what_rank_zero_refuses(mlops_home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(NoActiveProject):
        tracking.start_iteration("nowhere")
    with pytest.raises(InvalidInput):
        tracking.start_iteration("")
    with pytest.raises(InvalidInput, match="experiment_id"):
        tracking.start_iteration("x", experiment_id="")


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5"])
def test_a_malformed_rank_is_an_error_that_says_what_it_expected(active, monkeypatch, raw) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RANK", raw)
    with pytest.raises(InvalidInput, match=rf"RANK='{raw}'.*whole number >= 0"):
        tracking.start_iteration("x")
    monkeypatch.setenv("MLOPS_ALL_RANKS", "1")  # every process tracks: RANK does not matter
    with tracking.start_iteration("all-ranks") as it:
        pass
    assert tracking.get_iteration(it.id)["status"] == "finished"


def test_a_bad_buffer_bound_is_an_error(active, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLOPS_MAX_BUFFERED_POINTS", "lots")
    with pytest.raises(InvalidInput, match=r"MLOPS_MAX_BUFFERED_POINTS='lots'.*whole number"):
        tracking.start_iteration("x")
    assert tracking.list_iterations() == []  # refused before anything was created


def test_log_dataset_still_raises_for_an_unknown_id(active) -> None:  # type: ignore[no-untyped-def]
    with tracking.start_iteration("ghost") as it, pytest.raises(NotFound, match="ghost"):
        it.log_dataset("ghost")
