"""The iteration methods of the SQL store: start, log, end, read."""

from __future__ import annotations

import functools
import json
import time
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import case, insert, select, update

from mlops.charts import IterationValues, check_value_request
from mlops.entities import Iteration, ModelFile
from mlops.errors import InvalidInput, NotFound
from mlops.store import rules
from mlops.store.base import IterationTable, MetricRow
from mlops.store.sql import audit
from mlops.store.sql.batch import write_batch
from mlops.store.sql.catalog import CatalogMethods, live_experiment_named, new_id
from mlops.store.sql.engine import DriverCursor
from mlops.store.sql.iterations import (
    count_iterations,
    list_iterations,
    load_iterations,
    load_one,
)
from mlops.store.sql.models import (
    DATASETS,
    EXPERIMENTS,
    ITERATIONS,
)
from mlops.store.sql.table import iteration_table, iteration_values

DEFAULT_EXPERIMENT = "default"

# The statements of every iteration's start, batches and end, as driver SQL (DriverCursor):
# running them through SQLAlchemy's execution layer cost more than the database's work (see
# benchmarks/w1.py).
_EXPERIMENT_OF = "SELECT id, project_id, name, deleted_at FROM experiments WHERE id = {p}"
_ITERATION_EXISTS = "SELECT 1 FROM iterations WHERE id = {p}"
_INSERT_ITERATION = (
    "INSERT INTO iterations (id, project_id, experiment_id, name, status, started_at, "
    "ended_at, heartbeat_at, system) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
_STORED = "SELECT experiment_id, status, ended_at FROM iterations WHERE id = {p}"


@functools.lru_cache(maxsize=64)
def _update_of(columns: tuple[str, ...]) -> str:
    """The driver SQL that sets these columns of one iteration (the id bound last)."""
    return (
        "UPDATE iterations SET "
        + ", ".join(f"{column} = {{p}}" for column in columns)
        + " WHERE id = {p}"
    )


_Stored = namedtuple("_Stored", "experiment_id status ended_at")
_Experiment = namedtuple("_Experiment", "id project_id name deleted_at")


def not_found(iteration_id: str) -> NotFound:
    """The error for an unknown iteration, with where to find the known ones."""
    return NotFound(
        f"iteration {iteration_id!r} not found: list iterations with "
        "tracking.list_iterations() or `mlops iterations list`"
    )


class IterationMethods(CatalogMethods):
    """Iterations on top of the catalog (projects, experiments, datasets)."""

    def _target_experiment(
        self, cur: DriverCursor, experiment_id: str | None, project_id: str | None
    ) -> tuple[str, str]:
        """(experiment id, project id) an iteration goes to."""
        conn = cur.conn
        if experiment_id is not None:
            # only the columns the checks read (no tags): this runs for every new iteration
            rows_ = cur.rows(_EXPERIMENT_OF, (experiment_id,))
            if not rows_:
                self._experiment(conn, experiment_id)  # raises NotFound
            experiment: Any = _Experiment._make(rows_[0])
            if experiment.deleted_at is not None:
                raise InvalidInput(
                    f"experiment {experiment_id!r} ({experiment.name!r}) is deleted: restore it "
                    f"with tracking.restore_experiment({experiment_id!r}) or start the "
                    "iteration in another experiment"
                )
            if project_id is not None and experiment.project_id != project_id:
                raise InvalidInput(
                    f"experiment {experiment_id!r} belongs to project {experiment.project_id!r}, "
                    f"not to project {project_id!r}: pass matching ids or only experiment_id"
                )
            return experiment.id, experiment.project_id
        if project_id is None:
            raise InvalidInput("an iteration needs an experiment_id or a project_id")
        self._project(conn, project_id)
        found = conn.execute(live_experiment_named(project_id, DEFAULT_EXPERIMENT)).scalar()
        if found is None:
            found = new_id()
            conn.execute(
                insert(EXPERIMENTS).values(
                    id=found,
                    project_id=project_id,
                    name=DEFAULT_EXPERIMENT,
                    description="Iterations started without an experiment",
                    created_at=time.time(),
                )
            )
        return found, project_id

    def create_iteration(
        self,
        iteration_id: str,
        name: str,
        experiment_id: str | None,
        project_id: str | None,
        started_at: float,
        system: Mapping[str, Any],
        heartbeat: bool = True,
        new: bool = False,
    ) -> Iteration:
        rules.check_iteration(iteration_id, name, started_at, system)
        with self._write(f"start iteration {name!r}") as conn:
            cur = DriverCursor(conn)
            if cur.rows(_ITERATION_EXISTS, (iteration_id,)):  # a retry of a create that got in
                return _loaded(cur, iteration_id)
            experiment, project = self._target_experiment(cur, experiment_id, project_id)
            values: dict[str, Any] = dict(
                id=iteration_id, project_id=project, experiment_id=experiment, name=name,
                status="running", started_at=started_at, ended_at=None,
                heartbeat_at=started_at if heartbeat else None, system=dict(system),
            )  # fmt: skip
            row = list(values.values())
            row[-1] = json.dumps(row[-1])  # the JSON column, as SQLAlchemy writes it
            cur.run(_INSERT_ITERATION, row)
            audit.record_driver(cur, "create", "iteration", iteration_id, {"name": name})
        return Iteration(**values)

    @staticmethod
    def _stored(cur: DriverCursor, iteration_id: str) -> Any:
        """(experiment_id, status, ended_at) of the iteration, locked for this transaction."""
        # two writers must not both see it running (SQLite: BEGIN IMMEDIATE already locks)
        stored = cur.rows(_STORED + (" FOR UPDATE" if cur.postgresql else ""), (iteration_id,))
        if not stored:
            raise not_found(iteration_id)
        return _Stored._make(stored[0])

    def _write_batch(
        self,
        cur: DriverCursor,
        iteration_id: str,
        experiment_id: str,
        parameters: Mapping[str, Any] | None,
        metrics: Sequence[MetricRow] | None,
        dataset_ids: Sequence[str] | None,
        tags: Mapping[str, str] | None,
        changes: Mapping[str, Any],
        every_value: bool = False,
    ) -> None:
        """The batch and the iteration's own changes on an open transaction."""
        if changes:
            cur.run(_update_of(tuple(changes)), (*changes.values(), iteration_id))
        if dataset_ids:
            query = select(DATASETS.c.id).where(DATASETS.c.id.in_(list(dataset_ids)))
            known = set(cur.conn.execute(query).scalars())
            missing = [d for d in dataset_ids if d not in known]
            if missing:
                raise NotFound(f"dataset {missing[0]!r} not found: register it first")
        write_batch(
            cur, iteration_id, experiment_id, parameters, metrics, dataset_ids, tags, every_value
        )

    def log_batch(
        self,
        iteration_id: str,
        parameters: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricRow] | None = None,
        dataset_ids: Sequence[str] | None = None,
        heartbeat_at: float | None = None,
        tags: Mapping[str, str] | None = None,
        every_value: bool = False,
    ) -> None:
        rules.check_batch(parameters, metrics, dataset_ids, heartbeat_at, tags)
        if not isinstance(every_value, bool):
            raise InvalidInput(f"every_value must be True or False, got {every_value!r:.100}")
        has_data = bool(parameters or metrics or dataset_ids or tags)
        changes = {} if heartbeat_at is None else {"heartbeat_at": heartbeat_at}
        with self._write("log to iteration") as conn:
            cur = DriverCursor(conn)
            stored = self._stored(cur, iteration_id)
            if rules.check_batch_of(iteration_id, stored.status, stored.ended_at, has_data):
                self._write_batch(
                    cur, iteration_id, stored.experiment_id, parameters, metrics, dataset_ids,
                    tags, changes, every_value,
                )  # fmt: skip

    def update_iteration(
        self,
        iteration_id: str,
        status: str | None = None,
        ended_at: float | None = None,
        error: Mapping[str, str] | None = None,
        model: ModelFile | None = None,
        heartbeat_at: float | None = None,
    ) -> Iteration:
        rules.check_update(status, ended_at, error, model, heartbeat_at)
        changes = _changes(status, ended_at, error, model, heartbeat_at)
        with self._write("update iteration") as conn:
            cur = DriverCursor(conn)
            stored = self._stored(cur, iteration_id)
            rules.check_update_of(
                iteration_id, stored.status, stored.ended_at, status, ended_at, heartbeat_at
            )
            self._write_batch(
                cur, iteration_id, stored.experiment_id, None, None, None, None, changes
            )
            if status is not None and status != stored.status:  # not heartbeats
                self._audit(conn, "update", "iteration", iteration_id, {"status": status})
            return _loaded(cur, iteration_id)

    def end_iteration(
        self,
        iteration_id: str,
        status: str,
        ended_at: float,
        error: Mapping[str, str] | None = None,
        model: ModelFile | None = None,
        parameters: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricRow] | None = None,
        dataset_ids: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Iteration:
        rules.check_end(status, ended_at, error, model)
        rules.check_batch(parameters, metrics, dataset_ids, None, tags)
        has_batch = bool(parameters or metrics or dataset_ids or tags)
        changes = _changes(status, ended_at, error, model, None)
        with self._write("end iteration") as conn:
            # one transaction: the last batch, the end state, its audit event and the re-read
            # of the ended iteration that end_iteration returns (the store's summaries)
            cur = DriverCursor(conn)
            stored = self._stored(cur, iteration_id)
            if rules.check_end_of(
                iteration_id, stored.status, stored.ended_at, status, ended_at, has_batch
            ):
                self._write_batch(
                    cur, iteration_id, stored.experiment_id, parameters, metrics, dataset_ids,
                    tags, changes,
                )  # fmt: skip
                audit.record_driver(cur, "end", "iteration", iteration_id, {"status": status})
            return _loaded(cur, iteration_id)

    def resume(self, iteration_id: str) -> Iteration:
        with self._write("resume iteration") as conn:
            stored = self._stored(DriverCursor(conn), iteration_id)
            if stored.status != rules.RUNNING:
                # an iteration without heartbeats (an MLflow client's) stays without
                beat = case((ITERATIONS.c.heartbeat_at.is_(None), None), else_=time.time())
                reopened = dict(
                    status=rules.RUNNING, ended_at=None, heartbeat_at=beat,
                    error_type=None, error_message=None,
                )  # fmt: skip
                conn.execute(
                    update(ITERATIONS).where(ITERATIONS.c.id == iteration_id).values(**reopened)
                )
                self._audit(conn, "resume", "iteration", iteration_id)
            return load_iterations(conn, [iteration_id], time.time())[0]

    def get_iteration(self, iteration_id: str) -> Iteration:
        with self._read("get iteration") as conn:
            found = load_iterations(conn, [iteration_id], time.time())
        if not found:
            raise not_found(iteration_id)
        return found[0]

    def list_iterations(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        parameter_names: Sequence[str] | None = None,
        metric_names: Sequence[str] | None = None,
        deleted: bool | None = False,
    ) -> list[Iteration]:
        rules.check_page(limit, offset)
        with self._read("list iterations") as conn:
            return list_iterations(
                conn, experiment_id, project_id, filter, order_by, limit, offset, time.time(),
                parameter_names, metric_names, deleted,
            )  # fmt: skip

    def iteration_tables(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        page_size: int | None = None,
        offset: int = 0,
    ) -> Iterator[IterationTable]:
        rules.check_page(0 if limit is None else limit, offset)
        size = max(1, min(5000, page_size or 5000))  # the ids are bound parameters of a query
        got = 0
        while limit is None or got < limit:
            want = size if limit is None else min(size, limit - got)
            with self._read("read iterations as a table") as conn:
                page = iteration_table(
                    conn, experiment_id, project_id, filter, order_by, want, offset + got,
                    time.time(),
                )  # fmt: skip
            if page.ids:
                yield page
            if len(page.ids) < want:
                return
            got += want

    def get_iteration_values(
        self,
        experiment_id: str,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 10_000,
        parameter_names: Sequence[str] = (),
        metric_names: Sequence[str] = (),
    ) -> IterationValues:
        parameters, metrics = check_value_request(limit, parameter_names, metric_names)
        self.get_experiment(experiment_id)  # NotFound names an unknown experiment
        with self._read("read the values of iterations") as conn:
            return iteration_values(
                conn, experiment_id, filter, order_by, limit, parameters, metrics, time.time()
            )

    def count_iterations(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        deleted: bool | None = False,
    ) -> int:
        rules.check_page(0 if limit is None else limit, 0)
        with self._read("count iterations") as conn:
            return count_iterations(
                conn, experiment_id, project_id, filter, time.time(), limit, deleted
            )


def _loaded(cur: DriverCursor, iteration_id: str) -> Iteration:
    """The iteration just written in ``cur``'s transaction, as stored."""
    found = load_one(cur, iteration_id, time.time())
    if found is None:
        raise not_found(iteration_id)
    return found


def _changes(
    status: str | None,
    ended_at: float | None,
    error: Mapping[str, str] | None,
    model: ModelFile | None,
    heartbeat_at: float | None,
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if status is not None:
        changes["status"] = status
    if ended_at is not None:
        changes["ended_at"] = ended_at
    if heartbeat_at is not None:
        changes["heartbeat_at"] = heartbeat_at
    if error is not None:
        changes["error_type"] = error.get("type", "Error")
        changes["error_message"] = error.get("message", "")
    if model is not None:
        changes.update(
            model_path=model.path, model_size_bytes=model.size_bytes, model_sha256=model.sha256
        )
    return changes
