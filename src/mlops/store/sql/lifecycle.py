"""Managing experiments and iterations after the fact: delete, restore, rename, tags.

Deletion is soft: ``deleted_at`` is set and readers hide the row (see
:func:`mlops.store.sql.iterations.visible`); nothing is removed, so a restore brings back
everything. Experiment names are unique among live experiments only (a partial unique index),
so a deleted experiment's name is free at once and restoring it into a taken name is refused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from mlops.entities import Experiment, Iteration
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store import rules
from mlops.store.sql import audit
from mlops.store.sql.catalog import live_experiment_named
from mlops.store.sql.iterations import load_iterations
from mlops.store.sql.models import EXPERIMENT_TAGS, EXPERIMENTS, ITERATION_TAGS, ITERATIONS
from mlops.store.sql.runs import IterationMethods


def _taken(experiment: Experiment, other: str, name: str) -> AlreadyExists:
    return AlreadyExists(
        f"project {experiment.project_id!r} already has a live experiment named {name!r} "
        f"(id {other}): restore it under a new name (or rename the other first), e.g. "
        f"tracking.restore_experiment({experiment.id!r}, name={name + '-restored'!r}) "
        f"(`mlops experiments restore {experiment.id} --name {name}-restored`)"
    )


def _retag(
    conn: Connection,
    table: Table,
    owner: str,
    owner_id: str,
    tags: Mapping[str, str] | None,
    remove: Sequence[str],
) -> None:
    """Set ``tags`` and remove the keys in ``remove`` of one experiment or iteration."""
    keys = [*(tags or {}), *remove]
    if keys:
        column = table.c[owner]
        conn.execute(delete(table).where(column == owner_id, table.c.key.in_(keys)))
    if tags:
        rows = [{owner: owner_id, "key": k, "value": v} for k, v in tags.items()]
        conn.execute(insert(table), rows)


class LifecycleMethods(IterationMethods):
    """Delete, restore, rename and tag experiments and iterations (mixed into SqlStore)."""

    # -- experiments ------------------------------------------------------------------------
    def _set_experiment(self, conn: Connection, experiment_id: str, **values: Any) -> None:
        conn.execute(update(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id).values(**values))

    def delete_experiment(self, experiment_id: str) -> Experiment:
        with self._write("delete experiment") as conn:
            if self._experiment(conn, experiment_id).deleted_at is None:
                self._set_experiment(
                    conn, experiment_id, deleted_at=time.time(), deleted_by=audit.actor()
                )
                self._audit(conn, "delete", "experiment", experiment_id)
            return self._experiment(conn, experiment_id)

    def restore_experiment(self, experiment_id: str, name: str | None = None) -> Experiment:
        if name is not None:
            rules.check_name(name, "experiment name")
        with self._write("restore experiment") as conn:
            experiment = self._experiment(conn, experiment_id)
            if experiment.deleted_at is None and name in (None, experiment.name):
                return experiment
            if experiment.deleted_at is None:
                raise InvalidInput(
                    f"experiment {experiment_id!r} ({experiment.name!r}) is not deleted: "
                    f"rename it with tracking.rename_experiment({experiment_id!r}, {name!r})"
                )
            wanted = experiment.name if name is None else name
            other = conn.execute(live_experiment_named(experiment.project_id, wanted)).scalar()
            if other is not None:
                raise _taken(experiment, other, wanted)
            self._set_experiment(conn, experiment_id, deleted_at=None, deleted_by=None, name=wanted)
            detail = None if name is None else {"from": experiment.name, "to": name}
            self._audit(conn, "restore", "experiment", experiment_id, detail)
            return self._experiment(conn, experiment_id)

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        rules.check_name(name, "experiment name")
        with self._write(f"rename experiment to {name!r}") as conn:
            experiment = self._experiment(conn, experiment_id)
            if experiment.name == name:
                return experiment
            other = conn.execute(live_experiment_named(experiment.project_id, name)).scalar()
            if other is not None:
                raise AlreadyExists(
                    f"project {experiment.project_id!r} already has an experiment named "
                    f"{name!r} (id {other}): pick another name"
                )
            self._set_experiment(conn, experiment_id, name=name)
            self._audit(
                conn, "rename", "experiment", experiment_id, {"from": experiment.name, "to": name}
            )
            return self._experiment(conn, experiment_id)

    def set_experiment_tags(
        self,
        experiment_id: str,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Experiment:
        rules.check_tag_change(tags, delete)
        with self._write("tag experiment") as conn:
            self._experiment(conn, experiment_id)
            _retag(conn, EXPERIMENT_TAGS, "experiment_id", experiment_id, tags, delete)
            self._audit(conn, "tag", "experiment", experiment_id, {"set": tags, "delete": delete})
            return self._experiment(conn, experiment_id)

    # -- iterations -------------------------------------------------------------------------
    def _change_iteration(self, iteration_id: str, what: str, **values: Any) -> Iteration:
        """Apply ``values`` (those that differ) to an iteration; returns it as it is now."""
        with self._write(what) as conn:
            found = load_iterations(conn, [iteration_id], time.time())
            if not found:
                raise self._unknown_iteration(iteration_id)
            if (
                "deleted_at" in values
                and (found[0].deleted_at is None) == (values["deleted_at"] is None)
                and values.get("name", found[0].name) == found[0].name
            ):
                return found[0]  # deleting a deleted one (or restoring a live one): no change
            if (
                "deleted_at" in values
                and values["deleted_at"] is None
                and found[0].deleted_at is None
            ):
                raise InvalidInput(
                    f"iteration {iteration_id!r} is not deleted: rename it with "
                    f"tracking.rename_iteration({iteration_id!r}, {values.get('name')!r})"
                )
            if "deleted_at" in values:
                values["deleted_by"] = None if values["deleted_at"] is None else audit.actor()
            query = update(ITERATIONS).where(ITERATIONS.c.id == iteration_id)
            conn.execute(query.values(**values))
            detail = {k: v for k, v in values.items() if k != "deleted_by"}
            self._audit(conn, what.split()[0], "iteration", iteration_id, detail)
            return load_iterations(conn, [iteration_id], time.time())[0]

    @staticmethod
    def _unknown_iteration(iteration_id: str) -> NotFound:
        return NotFound(
            f"iteration {iteration_id!r} not found: list iterations with "
            "tracking.list_iterations() or `mlops iterations list`"
        )

    def delete_iteration(self, iteration_id: str) -> Iteration:
        return self._change_iteration(iteration_id, "delete iteration", deleted_at=time.time())

    def restore_iteration(self, iteration_id: str, name: str | None = None) -> Iteration:
        if name is None:
            return self._change_iteration(iteration_id, "restore iteration", deleted_at=None)
        rules.check_name(name, "iteration name")
        return self._change_iteration(iteration_id, "restore iteration", deleted_at=None, name=name)

    def set_iteration_description(self, iteration_id: str, description: str | None) -> Iteration:
        rules.check_optional_text(description, "iteration description")
        text = description or None
        return self._change_iteration(iteration_id, "describe iteration", description=text)

    def rename_iteration(self, iteration_id: str, name: str) -> Iteration:
        rules.check_name(name, "iteration name")
        return self._change_iteration(iteration_id, f"rename iteration to {name!r}", name=name)

    def set_iteration_tags(
        self,
        iteration_id: str,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Iteration:
        rules.check_tag_change(tags, delete)
        with self._write("tag iteration") as conn:
            known = select(ITERATIONS.c.id).where(ITERATIONS.c.id == iteration_id)
            if conn.execute(known).scalar() is None:
                raise self._unknown_iteration(iteration_id)
            _retag(conn, ITERATION_TAGS, "iteration_id", iteration_id, tags, delete)
            self._audit(conn, "tag", "iteration", iteration_id, {"set": tags, "delete": delete})
            return load_iterations(conn, [iteration_id], time.time())[0]
