"""The grouping methods of the SQL store (the queries live in :mod:`mlops.store.sql.groups` and
:mod:`mlops.store.sql.group_curves`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from mlops.groups import GroupSeries, IterationGroups
from mlops.store.sql.catalog import CatalogMethods
from mlops.store.sql.group_curves import group_series
from mlops.store.sql.groups import group_iterations


class GroupMethods(CatalogMethods):
    """Groups of an experiment's iterations, with mean and spread."""

    def group_iterations(
        self,
        experiment_id: str,
        group_by: str | Sequence[str],
        filter: str | None = None,
        metrics: Sequence[str] = (),
        order: str | None = None,
        limit: int = 20,
        ids_per_group: int = 100,
    ) -> IterationGroups:
        with self._read("group iterations") as conn:
            self._experiment(conn, experiment_id)  # NotFound names it
            return group_iterations(
                conn, experiment_id, group_by, filter, metrics, order, limit, ids_per_group,
                time.time(),
            )  # fmt: skip

    def group_series(
        self,
        experiment_id: str,
        group_by: str | Sequence[str],
        metric: str,
        filter: str | None = None,
        order: str | None = None,
        limit: int = 10,
        max_points: int = 500,
    ) -> GroupSeries:
        with self._read("read group curves") as conn:
            self._experiment(conn, experiment_id)
            return group_series(
                conn, experiment_id, group_by, metric, filter, order, limit, max_points,
                time.time(),
            )  # fmt: skip
