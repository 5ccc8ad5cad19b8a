"""Saved views of experiment pages (the ``saved_views`` table) and the live state of the
iterations a page shows (one query: the iterations joined with their metric summaries)."""

from __future__ import annotations

import functools
import json
import math
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from mlops.entities import effective_status
from mlops.errors import AlreadyExists, NotFound
from mlops.store.sql.audit import actor
from mlops.store.sql.catalog import CatalogMethods, new_id
from mlops.store.sql.engine import DriverCursor
from mlops.store.sql.models import EXPERIMENTS, SAVED_VIEWS
from mlops.views import (
    LiveIteration,
    LiveSeries,
    SavedView,
    check_live_ids,
    check_view_name,
    check_view_state,
)


@functools.lru_cache(maxsize=32)
def _live_sql(count: int) -> str:
    """The live state of ``count`` iterations of an experiment (the ids bound, then the
    experiment's): one row per metric of each (one with NULL metric columns for an iteration
    without any), by iteration and metric name."""
    marks = ", ".join(["{p}"] * count)
    return (
        "SELECT i.id, i.experiment_id, i.project_id, i.name, i.status, i.started_at, "
        "i.ended_at, i.heartbeat_at, s.name, s.last, s.last_step, s.rewrites "
        "FROM iterations AS i LEFT JOIN metric_summaries AS s ON s.iteration_id = i.id "
        f"WHERE i.id IN ({marks}) AND i.experiment_id = {{p}} ORDER BY i.id, s.name"
    )


_ALPHABET = string.ascii_letters + string.digits
_SHORT_LENGTH = 8
_V = SAVED_VIEWS.c


def new_short_id() -> str:
    """A short id for a view's short URL: 8 letters and digits (62**8, about 2e14)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(_SHORT_LENGTH))


def _view(row: Row[Any], project_id: str) -> SavedView:
    return SavedView(
        id=row.id,
        short_id=row.short_id,
        experiment_id=row.experiment_id,
        project_id=project_id,
        name=row.name,
        state=json.loads(row.state),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ViewMethods(CatalogMethods):
    """Saved views and live state (mixed into SqlStore)."""

    def _views_named(self, conn: Connection, experiment_id: str, name: str) -> str | None:
        query = select(_V.id).where(_V.experiment_id == experiment_id, _V.name == name)
        found: str | None = conn.execute(query).scalar()
        return found

    def _taken(self, experiment_id: str, name: str, other: str) -> AlreadyExists:
        return AlreadyExists(
            f"experiment {experiment_id!r} already has a view named {name!r} (id {other}): "
            "update that view or pick another name"
        )

    def _one_view(self, conn: Connection, experiment_id: str, view_id: str) -> SavedView:
        experiment = self._experiment(conn, experiment_id)
        key = (_V.id == view_id) | (_V.short_id == view_id)
        query = select(SAVED_VIEWS).where(_V.experiment_id == experiment_id, key)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                f"view {view_id!r} not found in experiment {experiment_id!r}: list its views "
                f"with GET /api/v1/experiments/{experiment_id}/views"
            )
        return _view(row, experiment.project_id)

    def list_views(self, experiment_id: str) -> list[SavedView]:
        with self._read("list views") as conn:
            experiment = self._experiment(conn, experiment_id)
            query = select(SAVED_VIEWS).where(_V.experiment_id == experiment_id)
            found = conn.execute(query.order_by(_V.name, _V.id)).all()
            return [_view(row, experiment.project_id) for row in found]

    def create_view(self, experiment_id: str, name: str, state: Mapping[str, str]) -> SavedView:
        check_view_name(name)
        kept = check_view_state(state)
        now = time.time()
        with self._write(f"save view {name!r}") as conn:
            self._experiment(conn, experiment_id)
            other = self._views_named(conn, experiment_id, name)
            if other is not None:
                raise self._taken(experiment_id, name, other)
            view_id = new_id()
            values = {
                "id": view_id, "short_id": new_short_id(), "experiment_id": experiment_id,
                "name": name, "state": json.dumps(kept, sort_keys=True),
                "created_by": actor()[:250], "created_at": now, "updated_at": now,
            }  # fmt: skip
            conn.execute(insert(SAVED_VIEWS).values(**values))
            self._audit(conn, "create", "view", view_id, {"name": name})
            return self._one_view(conn, experiment_id, view_id)

    def update_view(
        self,
        experiment_id: str,
        view_id: str,
        name: str | None = None,
        state: Mapping[str, str] | None = None,
    ) -> SavedView:
        if name is not None:
            check_view_name(name)
        kept = None if state is None else check_view_state(state)
        with self._write("update view") as conn:
            view = self._one_view(conn, experiment_id, view_id)
            values: dict[str, Any] = {"updated_at": time.time()}
            if name is not None and name != view.name:
                other = self._views_named(conn, experiment_id, name)
                if other is not None:
                    raise self._taken(experiment_id, name, other)
                values["name"] = name
            if kept is not None:
                values["state"] = json.dumps(kept, sort_keys=True)
            conn.execute(update(SAVED_VIEWS).where(_V.id == view.id).values(**values))
            detail = {"name": name} if name is not None else {}
            if kept is not None:
                detail["state"] = "replaced"
            self._audit(conn, "update", "view", view.id, detail)
            return self._one_view(conn, experiment_id, view.id)

    def delete_view(self, experiment_id: str, view_id: str) -> None:
        with self._write("delete view") as conn:
            view = self._one_view(conn, experiment_id, view_id)
            conn.execute(delete(SAVED_VIEWS).where(_V.id == view.id))
            self._audit(conn, "delete", "view", view.id, {"name": view.name})

    def get_view(self, short_id: str) -> SavedView:
        with self._read("get view") as conn:
            query = (
                select(SAVED_VIEWS, EXPERIMENTS.c.project_id.label("project_id"))
                .join_from(SAVED_VIEWS, EXPERIMENTS, EXPERIMENTS.c.id == _V.experiment_id)
                .where((_V.short_id == short_id) | (_V.id == short_id))
            )
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(
                    f"view {short_id!r} not found: it may have been deleted; the experiment "
                    "page lists the views that exist"
                )
            return _view(row, row.project_id)

    # -- live -------------------------------------------------------------------------------
    def get_live_iterations(
        self, experiment_id: str, iteration_ids: Sequence[str]
    ) -> list[LiveIteration]:
        ids = check_live_ids(iteration_ids)
        now = time.time()
        with self._read("live state") as conn:
            cur = DriverCursor(conn)
            found = cur.rows(_live_sql(len(ids)), [*ids, experiment_id]) if ids else []
            if not found:  # none of them there: is the experiment?
                self._experiment(conn, experiment_id)
                return []
        states: dict[str, LiveIteration] = {}
        for row in found:
            state = states.get(row[0])
            if state is None:
                status = effective_status(row[4], row[7], now)
                state = states[row[0]] = LiveIteration(
                    id=row[0], experiment_id=row[1], project_id=row[2], name=row[3],
                    status=status, started_at=row[5], ended_at=row[6], heartbeat_at=row[7],
                )  # fmt: skip
            if row[8] is not None:  # a metric (an iteration without any has one NULL row)
                last = math.nan if row[9] is None else float(row[9])
                state.metrics[row[8]] = LiveSeries(last, row[10], row[11])
        return [states[i] for i in ids if i in states]
