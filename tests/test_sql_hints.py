"""Tables read through a named index: INDEXED BY on SQLite only, and never mistaken in the
statement cache for the plain alias or another index's."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from mlops.store.sql.hints import indexed_alias
from mlops.store.sql.models import METRIC_SUMMARIES


def test_the_index_is_named_on_sqlite_only() -> None:
    alias = indexed_alias(METRIC_SUMMARIES, "ix_metric_summaries_iteration_last", "m")
    query = select(alias.c.last).where(alias.c.name == "loss")
    on_sqlite = str(query.compile(dialect=sqlite.dialect()))
    assert "FROM metric_summaries AS m INDEXED BY ix_metric_summaries_iteration_last" in on_sqlite
    assert "INDEXED BY" not in str(query.compile(dialect=postgresql.dialect()))


def test_each_index_has_its_own_cache_key() -> None:
    def key(index: str | None) -> object:
        alias = (
            METRIC_SUMMARIES.alias("m")
            if index is None
            else indexed_alias(METRIC_SUMMARIES, index, "m")
        )
        return select(alias.c.last)._generate_cache_key()

    keys = [key(None), key("ix_metric_summaries_iteration_last"),
            key("ix_metric_summaries_experiment_last")]  # fmt: skip
    assert len(set(map(repr, keys))) == 3


def test_an_unknown_index_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="metric_summaries has no index 'ix_nope'"):
        indexed_alias(METRIC_SUMMARIES, "ix_nope", "m")
