"""The plans of the grouping queries: each key's and metric's row (and each point of a curve)
read by its primary key, never a scan of parameters, summaries or points (the checks of
tests/test_query_plans.py, on SQLite and PostgreSQL).

A grouping reads every iteration of an experiment. When the experiment is a fifth of the
iterations table or more, SQLite (after ANALYZE) rightly reads the table itself rather than
the experiment's index and a row lookup per entry (measured: it does so even at 2,000 of
10,000); that one scan is allowed here, and only on ``iterations``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlops.store.sql.bulk import NewIteration, write_iterations
from mlops.store.sql.store import SqlStore
from test_query_plans import N_ITERATIONS, bad_steps, captured, plan, populated  # noqa: F401


def check(store: SqlStore, call: Callable[[], Any]) -> None:
    """Explain every SELECT of a store call; fail on a bad step other than reading the
    iterations table whole."""
    dialect = store._engine.dialect.name
    problems = []
    for statement, parameters in captured(store, call):
        text = plan(store, statement, parameters)
        wrong = [s for s in bad_steps(dialect, text, False) if s.strip() != "SCAN iterations"]
        if wrong:
            problems.append(f"{statement}\n  plan:\n{text}\n  bad: {wrong}")
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def two_experiments(
    populated: tuple[SqlStore, str],  # noqa: F811 (the imported fixture)
) -> Iterator[tuple[SqlStore, str]]:
    """The store of ``populated`` with a second, larger experiment beside it (a grouping
    reads one experiment's iterations, not every one), analyzed again."""
    store, experiment_id = populated
    project = store.create_project("other", None, "active", False)
    other = store.create_experiment(project.id, "other", None)
    items = [
        NewIteration(
            id=uuid.uuid4().hex, name=f"o-{i}", experiment_id=other.id,
            started_at=1_700_000_000.0 + i, system={}, status="finished",
            ended_at=1_700_000_100.0 + i, parameters={"p8": "adam"},
            metrics=[("m0", 0, 0.5, 1_700_000_050.0 + i)],
        )
        for i in range(4 * N_ITERATIONS)
    ]  # fmt: skip
    write_iterations(store, items)
    with store._engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    yield store, experiment_id


def test_grouping_by_a_parameter_reads_indexes(two_experiments: tuple[SqlStore, str]) -> None:
    store, experiment_id = two_experiments
    found: list[Any] = []
    check(
        store,
        lambda: found.append(
            store.group_iterations(experiment_id, "params.p8", metrics=["m0", "m1"])
        ),
    )
    assert found[0].total == N_ITERATIONS and found[0].group_count == 3


def test_grouping_by_two_keys_with_a_filter_reads_indexes(
    two_experiments: tuple[SqlStore, str],
) -> None:
    store, experiment_id = two_experiments
    found: list[Any] = []
    check(
        store,
        lambda: found.append(
            store.group_iterations(
                experiment_id, "params.p8, params.p9", "metrics.m1 < 0.5", ["m0"], limit=5
            )
        ),
    )
    assert found[0].groups[-1].others and 0 < found[0].total < N_ITERATIONS


def test_group_curves_read_indexes(two_experiments: tuple[SqlStore, str]) -> None:
    store, experiment_id = two_experiments
    check(store, lambda: store.group_series(experiment_id, "params.p8", "m0"))


def test_grouping_reads_each_key_from_the_covering_index_on_sqlite(
    two_experiments: tuple[SqlStore, str],
) -> None:
    """A key's value (and number) per iteration comes from ix_parameters_iteration_value alone,
    not from the parameter's row behind the primary key; PostgreSQL has no such index."""
    store, experiment_id = two_experiments
    sent = captured(
        store, lambda: store.group_iterations(experiment_id, "params.p9", metrics=["m0"])
    )
    if store._engine.dialect.name != "sqlite":  # no such index there, and no statement names it
        assert not any("ix_parameters_iteration_value" in statement for statement, _ in sent)
        assert any(s.lstrip().startswith("WITH grouped") for s, _ in sent)
        return
    grouping = [plan(store, s, p) for s, p in sent if s.lstrip().startswith("WITH grouped")]
    assert len(grouping) == 1
    assert "USING COVERING INDEX ix_parameters_iteration_value" in grouping[0]
    assert "sqlite_autoindex_parameters" not in grouping[0]
