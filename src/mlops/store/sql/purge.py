"""Purging: removing deleted iterations and experiments for good, with their parameters,
metric points, tags, artifact records and the stored files (blobs) nothing else refers to.

Work goes in bounded batches (:data:`BATCH` iterations per transaction), so purging 10,000
iterations never holds the database's write lock for long: other writers get in between two
batches. After each batch commits, the digests its iterations referenced are checked again,
and those no artifact record refers to any more are removed from the artifact store (when one
is given). An iteration a registered model version points at is kept (named in ``kept``):
delete the version first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, delete, or_, select

from mlops.entities import Purged
from mlops.errors import InvalidInput, NotFound
from mlops.store import rules
from mlops.store.sql.catalog import CatalogMethods
from mlops.store.sql.models import (
    ARTIFACTS,
    EXPERIMENT_TAGS,
    EXPERIMENTS,
    ITERATION_DATASETS,
    ITERATION_TAGS,
    ITERATIONS,
    METRIC_POINTS,
    METRIC_SUMMARIES,
    MODEL_VERSIONS,
    PARAMETERS,
)

if TYPE_CHECKING:
    from mlops.artifacts import ArtifactStore

#: Iterations removed per transaction.
BATCH = 500


def _chunks(ids: Sequence[str], size: int = BATCH) -> list[list[str]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def _in_trash() -> ColumnElement[bool]:
    """Iterations that are deleted themselves or belong to a deleted experiment."""
    gone = select(EXPERIMENTS.c.id).where(EXPERIMENTS.c.deleted_at.is_not(None))
    return or_(ITERATIONS.c.deleted_at.is_not(None), ITERATIONS.c.experiment_id.in_(gone))


def _remove(conn: Connection, ids: list[str]) -> tuple[Purged, set[str]]:
    """Delete the iterations ``ids`` (and what hangs on them) except those a model version
    uses; returns the counts and the digests the removed artifact records had."""
    used = select(MODEL_VERSIONS.c.iteration_id).where(MODEL_VERSIONS.c.iteration_id.in_(ids))
    kept = set(conn.execute(used.distinct()).scalars())
    doomed = [i for i in ids if i not in kept]
    if not doomed:
        return Purged(kept=tuple(sorted(kept))), set()
    a = ARTIFACTS.c
    digests = set(conn.execute(select(a.sha256).where(a.iteration_id.in_(doomed))).scalars())
    points = conn.execute(delete(METRIC_POINTS).where(METRIC_POINTS.c.iteration_id.in_(doomed)))
    for table in (METRIC_SUMMARIES, PARAMETERS, ITERATION_TAGS, ITERATION_DATASETS):
        conn.execute(delete(table).where(table.c.iteration_id.in_(doomed)))
    records = conn.execute(delete(ARTIFACTS).where(a.iteration_id.in_(doomed)))
    removed = conn.execute(delete(ITERATIONS).where(ITERATIONS.c.id.in_(doomed)))
    counts = Purged(
        iterations=removed.rowcount,
        points=points.rowcount,
        artifacts=records.rowcount,
        kept=tuple(sorted(kept)),
    )
    return counts, digests


class PurgeMethods(CatalogMethods):
    """Purge deleted iterations and experiments (mixed into SqlStore)."""

    def _free(self, digests: set[str], artifacts: ArtifactStore | None) -> tuple[str, ...]:
        """The digests no artifact record refers to any more, removed from ``artifacts``."""
        if not digests:
            return ()
        with self._read("check artifact references") as conn:
            query = select(ARTIFACTS.c.sha256).where(ARTIFACTS.c.sha256.in_(sorted(digests)))
            still = set(conn.execute(query.distinct()).scalars())
        orphans = tuple(sorted(digests - still))
        if artifacts is not None:
            for digest in orphans:
                if artifacts.has(digest):
                    artifacts.delete(digest)
        return orphans

    def _audit_purged(self, conn: Connection, chunk: Sequence[str], counts: Purged) -> None:
        """One audit event per iteration purged in this batch (in its transaction)."""
        kept = set(counts.kept)
        for iteration_id in chunk:
            if iteration_id not in kept:
                self._audit(conn, "purge", "iteration", iteration_id)

    def _check_purgeable(self, ids: Sequence[str], force: bool) -> None:
        for chunk in _chunks(ids, 5000):
            with self._read("check iterations to purge") as conn:
                query = select(ITERATIONS.c.id, _in_trash().label("gone"))
                found = {r[0]: r[1] for r in conn.execute(query.where(ITERATIONS.c.id.in_(chunk)))}
            for iteration_id in chunk:
                if iteration_id not in found:
                    raise NotFound(
                        f"iteration {iteration_id!r} not found: list deleted iterations with "
                        "tracking.list_iterations(deleted=True)"
                    )
                if not force and not found[iteration_id]:
                    raise InvalidInput(
                        f"iteration {iteration_id!r} is not deleted: only deleted iterations "
                        f"are purged; delete it first (tracking.delete_iteration"
                        f"({iteration_id!r})) or pass force=True"
                    )

    def purge_iterations(
        self,
        iteration_ids: Sequence[str],
        force: bool = False,
        artifacts: ArtifactStore | None = None,
    ) -> Purged:
        rules.check_purge(list(iteration_ids))
        ids = list(dict.fromkeys(iteration_ids))
        self._check_purgeable(ids, force)
        total = Purged()
        for chunk in _chunks(ids):
            with self._write("purge iterations") as conn:
                counts, digests = _remove(conn, chunk)
                self._audit_purged(conn, chunk, counts)
            total += Purged(blobs=self._free(digests, artifacts)) + counts
        return total

    def purge_experiment(
        self, experiment_id: str, force: bool = False, artifacts: ArtifactStore | None = None
    ) -> Purged:
        with self._read("get experiment") as conn:
            experiment = self._experiment(conn, experiment_id)
        if experiment.deleted_at is None and not force:
            raise InvalidInput(
                f"experiment {experiment_id!r} ({experiment.name!r}) is not deleted: only "
                f"deleted experiments are purged; delete it first (tracking.delete_experiment"
                f"({experiment_id!r})) or pass force=True"
            )
        total = Purged()
        while True:
            with self._read("list iterations to purge") as conn:
                query = select(ITERATIONS.c.id).where(ITERATIONS.c.experiment_id == experiment_id)
                if total.kept:
                    query = query.where(ITERATIONS.c.id.not_in(list(total.kept)))
                chunk = list(conn.execute(query.order_by(ITERATIONS.c.id).limit(BATCH)).scalars())
            if not chunk:
                break
            with self._write("purge iterations") as conn:
                counts, digests = _remove(conn, chunk)
                self._audit_purged(conn, chunk, counts)
            total += Purged(blobs=self._free(digests, artifacts)) + counts
        if total.kept:
            return total  # the experiment stays while a model version uses one of its runs
        with self._write("purge experiment") as conn:
            conn.execute(
                delete(EXPERIMENT_TAGS).where(EXPERIMENT_TAGS.c.experiment_id == experiment_id)
            )
            removed = conn.execute(delete(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id))
            self._audit(conn, "purge", "experiment", experiment_id, {"name": experiment.name})
        return total + Purged(experiments=removed.rowcount)

    def purgeable_iterations(
        self,
        deleted_before: float,
        status: str | None = None,
        experiment_id: str | None = None,
        include_live: bool = False,
    ) -> list[str]:
        rules.check_purge([], status)
        i = ITERATIONS.c
        gone_before = select(EXPERIMENTS.c.id).where(EXPERIMENTS.c.deleted_at < deleted_before)
        which = or_(i.deleted_at < deleted_before, i.experiment_id.in_(gone_before))
        if include_live:
            which = or_(which, i.started_at < deleted_before)
        query = select(i.id).where(which)
        if status is not None:
            query = query.where(i.status == status)
        with self._read("list iterations to purge") as conn:
            if experiment_id is not None:
                self._experiment(conn, experiment_id)
                query = query.where(i.experiment_id == experiment_id)
            return list(conn.execute(query.order_by(i.started_at, i.id)).scalars())
