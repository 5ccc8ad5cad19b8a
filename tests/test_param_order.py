"""A big experiment's page ordered by one parameter (``mlops.store.sql.param_order``, SQLite):
the same iterations in the same order as the general query's sort, page after page, for every
kind of value (numbers, booleans, text, lists, null, missing), both directions, with a filter
and a deleted iteration; read from the value index in order, not by sorting the experiment."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

import mlops.store.sql.param_order as param_order
from mlops.store.sql.store import SqlStore
from test_query_plans import captured, plan

pytestmark = pytest.mark.parametrize("sql_store_uri", ["sqlite"], indirect=True)

N = 300
VALUES: list[Any] = [0.5, 1, 1.0, True, False, -3, 2.5e9, "adam", "sgd", "", [1, 2], {"a": 1},
                     None, 0.25]  # fmt: skip


@pytest.fixture
def experiment(sql_store: SqlStore) -> Iterator[tuple[SqlStore, str]]:
    store = sql_store
    project = store.create_project("by-param", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    rng = random.Random(5)
    for n in range(N):
        iteration_id = f"po-{n:04d}-{rng.randrange(10**6)}"
        store.create_iteration(iteration_id, f"r{n}", experiment.id, None, 1000.0 + n, {})
        parameters = {} if n % 7 == 0 else {"lr": rng.choice(VALUES), "seed": n}
        store.log_batch(iteration_id, parameters=parameters,
                        metrics=[("acc", 0, rng.random(), 1000.0)])  # fmt: skip
        store.end_iteration(iteration_id, "finished", 2000.0 + n)
        if n == 11:
            store.delete_iteration(iteration_id)
    yield store, experiment.id


def _pages(store: SqlStore, experiment_id: str, order: str, text: str | None) -> list[str]:
    ids: list[str] = []
    for offset in range(0, N + 40, 37):  # pages that start and end inside each kind of value
        ids += [
            i.id
            for i in store.list_iterations(
                experiment_id, filter=text, order_by=order, limit=37, offset=offset
            )
        ]
    return ids


@pytest.mark.parametrize("order", ["params.lr", "params.lr desc", "-params.seed"])
@pytest.mark.parametrize("text", [None, "metrics.acc > 0.3", 'params.lr != "sgd"'])
def test_the_index_walk_gives_the_general_order(
    experiment: tuple[SqlStore, str], monkeypatch: pytest.MonkeyPatch, order: str, text: str | None
) -> None:
    store, experiment_id = experiment
    monkeypatch.setattr(param_order, "BIG_EXPERIMENT", 10**9)  # the general query's sort
    general = _pages(store, experiment_id, order, text)
    monkeypatch.setattr(param_order, "BIG_EXPERIMENT", 10)  # the index walk
    walked = _pages(store, experiment_id, order, text)
    assert walked == general
    assert len(set(walked)) == len(walked) and len(walked) > 100


def test_a_big_experiment_is_not_sorted_whole(
    experiment: tuple[SqlStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, experiment_id = experiment
    monkeypatch.setattr(param_order, "BIG_EXPERIMENT", 10)
    sent = captured(
        store, lambda: store.list_iterations(experiment_id, order_by="params.lr desc", limit=20)
    )
    plans = [plan(store, statement, parameters) for statement, parameters in sent]
    walks = [p for p in plans if "ix_parameters_name_num" in p]
    assert walks, plans
    assert all("USE TEMP B-TREE FOR ORDER BY" not in p for p in walks), walks
