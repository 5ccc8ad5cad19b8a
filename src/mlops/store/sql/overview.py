"""Read models for the App's pages: counts, last activity, best values, lineage.

Each is one or two aggregate queries over indexed columns, so the pages stay fast at 100,000
iterations. They belong to the SQL store only: the App always reads its own database, and the
tracking library never needs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from mlops.entities import Dataset, Experiment, Project, effective_status, iso
from mlops.errors import InvalidInput
from mlops.store.sql import rows
from mlops.store.sql.catalog import experiments_with_tags
from mlops.store.sql.engine import transaction
from mlops.store.sql.iterations import live
from mlops.store.sql.models import (
    DATASETS,
    EXPERIMENTS,
    ITERATION_DATASETS,
    ITERATIONS,
    METRIC_SUMMARIES,
    PARAMETERS,
    PROJECTS,
)


@dataclass(frozen=True)
class ProjectOverview:
    """A project with its experiment and iteration counts and its last activity."""

    project: Project
    experiment_count: int
    iteration_count: int
    last_activity: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.project.to_dict(),
            "experiment_count": self.experiment_count,
            "iteration_count": self.iteration_count,
            "last_activity": iso(self.last_activity),
        }


@dataclass(frozen=True)
class ExperimentOverview:
    """An experiment with its iteration count, last activity and best value of one metric."""

    experiment: Experiment
    iteration_count: int
    last_activity: float | None
    best: float | None
    #: The iteration that reached ``best`` (id, name), None without a best value.
    best_iteration: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        by = self.best_iteration
        return {
            **self.experiment.to_dict(),
            "iteration_count": self.iteration_count,
            "last_activity": iso(self.last_activity),
            "best": self.best,
            "best_iteration": None if by is None else {"id": by[0], "name": by[1]},
        }


@dataclass(frozen=True)
class IterationRef:
    """Enough of an iteration to link to it from a dataset's lineage."""

    id: str
    name: str
    status: str
    started_at: float
    experiment_id: str
    experiment_name: str
    project_id: str
    project_title: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "started_at": iso(self.started_at)}


#: Above this many users, lineage walks iterations newest first instead of sorting the users.
_POPULAR = 5000
_LAST = func.max(func.coalesce(ITERATIONS.c.heartbeat_at, ITERATIONS.c.started_at))
#: Pages show live projects, experiments, iterations and datasets only (deleted ones wait in
#: the trash): the conditions on iterations and experiments are ``live(conn)`` and
#: ``live_experiments(conn)``, read in each method's transaction.
_LIVE_EXPERIMENT = EXPERIMENTS.c.deleted_at.is_(None)
_LIVE_PROJECT = PROJECTS.c.deleted_at.is_(None)
#: Per-experiment figures need only the iteration's own condition: they are joined to the
#: live experiments of the page, so those of deleted experiments are never shown (and a
#: ``NOT IN`` on the experiment would turn the project's index search into a scan).
_OWN_LIVE = ITERATIONS.c.deleted_at.is_(None)
_LIVE_DATASET = DATASETS.c.deleted_at.is_(None)


class OverviewMethods:
    """Aggregates for the App's pages (mixed into :class:`SqlStore`)."""

    _engine: Engine

    def project_overviews(
        self, include_archived: bool = False, search: str | None = None
    ) -> list[ProjectOverview]:
        """Projects (newest first) with counts; ``search`` matches titles, any case."""
        with transaction(self._engine, write=False, what="list projects") as conn:
            return self._project_overviews(conn, include_archived, search)

    @staticmethod
    def _project_overviews(
        conn: Connection, include_archived: bool, search: str | None
    ) -> list[ProjectOverview]:
        iterations = (
            select(ITERATIONS.c.project_id, func.count().label("n"), _LAST.label("last"))
            .where(live(conn))
            .group_by(ITERATIONS.c.project_id)
            .subquery()
        )
        experiments = (
            select(EXPERIMENTS.c.project_id, func.count().label("n"))
            .where(_LIVE_EXPERIMENT)
            .group_by(EXPERIMENTS.c.project_id)
            .subquery()
        )
        query = (
            select(PROJECTS, iterations.c.n, iterations.c.last, experiments.c.n.label("e"))
            .outerjoin(iterations, iterations.c.project_id == PROJECTS.c.id)
            .outerjoin(experiments, experiments.c.project_id == PROJECTS.c.id)
            .where(_LIVE_PROJECT)
            .order_by(PROJECTS.c.created_at.desc())
        )
        if not include_archived:
            query = query.where(PROJECTS.c.archived.is_(False))
        if search:
            query = query.where(PROJECTS.c.title.ilike(f"%{_escape(search)}%", escape="\\"))
        return [
            ProjectOverview(rows.project(r), r.e or 0, r.n or 0, r.last)
            for r in conn.execute(query)
        ]

    def experiment_overviews(
        self, project_id: str, metric: str | None = None, goal: str = "max"
    ) -> list[ExperimentOverview]:
        """A project's experiments with counts and the best value of ``metric`` any of their
        iterations reached (the highest maximum for ``goal="max"``, the lowest minimum for
        ``"min"``), with the iteration that reached it."""
        if goal not in ("max", "min"):
            raise InvalidInput(f"goal must be 'max' or 'min', not {goal!r}")
        best: dict[str, tuple[float, tuple[str, str]]] = {}
        with transaction(self._engine, write=False, what="list experiments") as conn:
            counts = (
                select(ITERATIONS.c.experiment_id, func.count().label("n"), _LAST.label("last"))
                .where(ITERATIONS.c.project_id == project_id, _OWN_LIVE)
                .group_by(ITERATIONS.c.experiment_id)
                .subquery()
            )
            query = (
                select(EXPERIMENTS, counts.c.n, counts.c.last)
                .outerjoin(counts, counts.c.experiment_id == EXPERIMENTS.c.id)
                .where(EXPERIMENTS.c.project_id == project_id, _LIVE_EXPERIMENT)
                .order_by(EXPERIMENTS.c.created_at.desc())
            )
            found = conn.execute(query).all()
            if metric:
                best = _best_per_experiment(conn, project_id, metric, goal)
            experiments = experiments_with_tags(conn, found)
        overviews = []
        for r, experiment in zip(found, experiments, strict=True):
            value, by = best.get(r.id, (None, None))
            overviews.append(ExperimentOverview(experiment, r.n or 0, r.last, value, by))
        return overviews

    def project_datasets(self, project_id: str) -> list[Dataset]:
        """The dataset versions the project's iterations used."""
        links = ITERATION_DATASETS.c
        with transaction(self._engine, write=False, what="list datasets") as conn:
            # Per dataset (there are few), stop at the first link into the project: cheaper
            # than collecting the links of every iteration of a large project.
            used_here = (
                select(links.iteration_id)
                .join(ITERATIONS, ITERATIONS.c.id == links.iteration_id)
                .where(
                    links.dataset_id == DATASETS.c.id,
                    ITERATIONS.c.project_id == project_id,
                    live(conn, project_id=project_id),
                )
                .exists()
            )
            query = select(DATASETS).where(used_here, _LIVE_DATASET)
            query = query.order_by(DATASETS.c.name, DATASETS.c.version)
            return [rows.dataset(r) for r in conn.execute(query)]

    def dataset_lineage(
        self, dataset_name: str, per_version: int = 500
    ) -> list[tuple[Dataset, list[IterationRef]]]:
        """Every version of a dataset with the newest iterations (and their experiments and
        projects) that used it, at most ``per_version`` each."""
        now = time.time()
        with transaction(self._engine, write=False, what="dataset lineage") as conn:
            versions = conn.execute(
                select(DATASETS)
                .where(DATASETS.c.name == dataset_name, _LIVE_DATASET)
                .order_by(DATASETS.c.created_at.desc())
            ).all()
            return [(rows.dataset(v), self._users(conn, v.id, per_version, now)) for v in versions]

    @staticmethod
    def _users(conn: Connection, dataset_id: str, limit: int, now: float) -> list[IterationRef]:
        links = ITERATION_DATASETS.c
        used = select(links.iteration_id).where(links.dataset_id == dataset_id)
        count = conn.execute(select(func.count()).select_from(used.limit(_POPULAR).subquery()))
        if count.scalar() == _POPULAR:
            # Used by many: walk iterations newest first and keep those that used it.
            link = select(links.iteration_id).where(
                links.iteration_id == ITERATIONS.c.id, links.dataset_id == dataset_id
            )
            newest = select(ITERATIONS.c.id).where(link.exists(), live(conn))
        else:  # used by few: take them all and sort
            newest = select(ITERATIONS.c.id).where(ITERATIONS.c.id.in_(used), live(conn))
        ids = newest.order_by(ITERATIONS.c.started_at.desc()).limit(limit).scalar_subquery()
        query = (
            select(
                ITERATIONS.c.id,
                ITERATIONS.c.name,
                ITERATIONS.c.status,
                ITERATIONS.c.heartbeat_at,
                ITERATIONS.c.started_at,
                ITERATIONS.c.experiment_id,
                EXPERIMENTS.c.name.label("experiment_name"),
                ITERATIONS.c.project_id,
                PROJECTS.c.title,
            )
            .join(EXPERIMENTS, EXPERIMENTS.c.id == ITERATIONS.c.experiment_id)
            .join(PROJECTS, PROJECTS.c.id == ITERATIONS.c.project_id)
            .where(ITERATIONS.c.id.in_(ids))
            .order_by(ITERATIONS.c.started_at.desc())
        )
        return [
            IterationRef(
                r.id,
                r.name,
                effective_status(r.status, r.heartbeat_at, now),
                r.started_at,
                r.experiment_id,
                r.experiment_name,
                r.project_id,
                r.title,
            )
            for r in conn.execute(query)
        ]

    def iteration_columns(
        self, experiment_id: str, sample: int = 1000
    ) -> tuple[list[str], list[str]]:
        """(metric names, parameter names) seen in the newest ``sample`` iterations of an
        experiment: the columns a table can offer."""
        with transaction(self._engine, write=False, what="list columns") as conn:
            newest = (
                select(ITERATIONS.c.id)
                .where(ITERATIONS.c.experiment_id == experiment_id, live(conn, experiment_id))
                .order_by(ITERATIONS.c.started_at.desc())
                .limit(sample)
                .scalar_subquery()
            )
            metrics = conn.execute(
                select(METRIC_SUMMARIES.c.name)
                .where(METRIC_SUMMARIES.c.iteration_id.in_(newest))
                .distinct()
            ).scalars()
            params = conn.execute(
                select(PARAMETERS.c.name).where(PARAMETERS.c.iteration_id.in_(newest)).distinct()
            ).scalars()
            return sorted(metrics), sorted(params)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _best_per_experiment(
    conn: Connection, project_id: str, metric: str, goal: str
) -> dict[str, tuple[float, tuple[str, str]]]:
    """Per experiment: the best value of ``metric`` reached and (id, name) of its iteration."""
    summary = METRIC_SUMMARIES.c
    value = summary.max if goal == "max" else summary.min
    rank = (
        func.row_number()
        .over(
            partition_by=ITERATIONS.c.experiment_id,
            order_by=(value.desc() if goal == "max" else value.asc(), ITERATIONS.c.id),
        )
        .label("rank")
    )
    iteration = ITERATIONS.c
    ranked = (
        select(iteration.experiment_id, iteration.id, iteration.name, value.label("v"), rank)
        .join(METRIC_SUMMARIES, summary.iteration_id == ITERATIONS.c.id)
        .where(
            ITERATIONS.c.project_id == project_id,
            summary.name == metric,
            value.is_not(None),
            _OWN_LIVE,
        )
        .subquery()
    )
    query = select(ranked.c.experiment_id, ranked.c.v, ranked.c.id, ranked.c.name).where(
        ranked.c.rank == 1
    )
    return {r[0]: (r[1], (r[2], r[3])) for r in conn.execute(query)}
