"""Delete, restore and purge of projects and datasets (experiments and iterations: see
:mod:`mlops.store.sql.lifecycle` and :mod:`mlops.store.sql.purge`).

A deleted project hides its experiments and iterations everywhere (the readers' ``live``
conditions read the few deleted projects first); a deleted dataset version leaves dataset
lists and lineage. Titles of projects and ``(name, version)`` of datasets are unique among
live rows only, so a deleted one's name is free at once, and restoring into a taken name is
refused with the rename to ask for.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select, update

from mlops.entities import Dataset, Project, Purged
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store import rules
from mlops.store.sql import audit, rows
from mlops.store.sql.catalog import live_project_titled
from mlops.store.sql.iterations import live
from mlops.store.sql.models import (
    DATASETS,
    EXPERIMENTS,
    ITERATION_DATASETS,
    ITERATIONS,
    NOTES,
    PROJECTS,
)
from mlops.store.sql.purge import PurgeMethods

if TYPE_CHECKING:
    from mlops.artifacts import ArtifactStore


def _dataset(conn: Connection, dataset_id: str) -> Dataset:
    row = conn.execute(select(DATASETS).where(DATASETS.c.id == dataset_id)).first()
    if row is None:
        raise NotFound(
            f"dataset {dataset_id!r} not found: list datasets with "
            "tracking.list_datasets(deleted=None) or `mlops datasets list`"
        )
    return rows.dataset(row)


class TrashMethods(PurgeMethods):
    """Delete, restore and purge projects and datasets (mixed into SqlStore)."""

    # -- projects ---------------------------------------------------------------------------
    def delete_project(self, project_id: str) -> Project:
        with self._write("delete project") as conn:
            if self._project(conn, project_id).deleted_at is None:
                values = {"deleted_at": time.time(), "deleted_by": audit.actor()}
                conn.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**values))
                self._audit(conn, "delete", "project", project_id)
            return self._project(conn, project_id)

    def restore_project(self, project_id: str, name: str | None = None) -> Project:
        if name is not None:
            rules.check_name(name, "project title")
        with self._write("restore project") as conn:
            project = self._project(conn, project_id)
            if project.deleted_at is None:
                if name in (None, project.title):
                    return project
                raise InvalidInput(
                    f"project {project_id!r} ({project.title!r}) is not deleted: rename it "
                    f"with tracking.rename_project({project_id!r}, {name!r})"
                )
            title = project.title if name is None else name
            other = conn.execute(live_project_titled(title)).scalar()
            if other is not None:
                raise AlreadyExists(
                    f"a live project is titled {title!r} (id {other}): restore project "
                    f"{project_id!r} under a new title, e.g. tracking.restore_project("
                    f"{project_id!r}, name={title + '-restored'!r}) "
                    f"(`mlops projects restore {project_id} --name {title}-restored`)"
                )
            values: dict[str, Any] = {"deleted_at": None, "deleted_by": None, "title": title}
            values["updated_at"] = time.time()
            conn.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**values))
            detail = None if name is None else {"from": project.title, "to": title}
            self._audit(conn, "restore", "project", project_id, detail)
            return self._project(conn, project_id)

    def purge_project(
        self, project_id: str, force: bool = False, artifacts: ArtifactStore | None = None
    ) -> Purged:
        with self._read("get project") as conn:
            project = self._project(conn, project_id)
            experiment_ids = list(
                conn.execute(
                    select(EXPERIMENTS.c.id)
                    .where(EXPERIMENTS.c.project_id == project_id)
                    .order_by(EXPERIMENTS.c.id)
                ).scalars()
            )
        if project.deleted_at is None and not force:
            raise InvalidInput(
                f"project {project_id!r} ({project.title!r}) is not deleted: only deleted "
                f"projects are purged; delete it first (tracking.delete_project({project_id!r}))"
                " or pass force=True"
            )
        total = Purged()
        for experiment_id in experiment_ids:
            # batched as an experiment's purge is; the project's deletion stands for theirs
            total += self.purge_experiment(experiment_id, force=True, artifacts=artifacts)
        if total.kept:
            return total  # the project stays while a model version uses one of its runs
        with self._write("purge project") as conn:
            conn.execute(
                delete(NOTES).where(NOTES.c.kind == "project", NOTES.c.owner_id == project_id)
            )
            conn.execute(delete(PROJECTS).where(PROJECTS.c.id == project_id))
            self._audit(conn, "purge", "project", project_id, {"title": project.title})
        return total

    # -- datasets ---------------------------------------------------------------------------
    def delete_dataset(self, dataset_id: str, force: bool = False) -> Dataset:
        with self._write("delete dataset") as conn:
            dataset = _dataset(conn, dataset_id)
            if dataset.deleted_at is not None:
                return dataset
            if not force:
                links = ITERATION_DATASETS.c
                users = list(
                    conn.execute(
                        select(ITERATIONS.c.id)
                        .join(ITERATION_DATASETS, links.iteration_id == ITERATIONS.c.id)
                        .where(links.dataset_id == dataset_id, live(conn))
                        .order_by(ITERATIONS.c.started_at)
                        .limit(6)
                    ).scalars()
                )
                if users:
                    more = ", ..." if len(users) > 5 else ""
                    raise InvalidInput(
                        f"dataset {dataset.name!r} version {dataset.version!r} is used by live "
                        f"iterations ({', '.join(users[:5])}{more}): delete them first, or "
                        f"pass force=True (`mlops datasets delete {dataset_id} --force`)"
                    )
            values = {"deleted_at": time.time(), "deleted_by": audit.actor()}
            conn.execute(update(DATASETS).where(DATASETS.c.id == dataset_id).values(**values))
            self._audit(conn, "delete", "dataset", dataset_id, {"force": force} if force else None)
            return _dataset(conn, dataset_id)

    def restore_dataset(self, dataset_id: str, version: str | None = None) -> Dataset:
        if version is not None:
            rules.check_name(version, "dataset version")
        with self._write("restore dataset") as conn:
            dataset = _dataset(conn, dataset_id)
            if dataset.deleted_at is None:
                if version in (None, dataset.version):
                    return dataset
                raise InvalidInput(
                    f"dataset {dataset_id!r} ({dataset.name!r} {dataset.version!r}) is not "
                    "deleted: only a deleted dataset is restored under a new version"
                )
            wanted = dataset.version if version is None else version
            d = DATASETS.c
            other = conn.execute(
                select(d.id).where(
                    d.name == dataset.name, d.version == wanted, d.deleted_at.is_(None)
                )
            ).scalar()
            if other is not None:
                raise AlreadyExists(
                    f"dataset {dataset.name!r} has a live version {wanted!r} (id {other}): "
                    f"restore {dataset_id!r} under a new version, e.g. tracking.restore_dataset("
                    f"{dataset_id!r}, version={wanted + '-restored'!r}) "
                    f"(`mlops datasets restore {dataset_id} --version {wanted}-restored`)"
                )
            values = {"deleted_at": None, "deleted_by": None, "version": wanted}
            conn.execute(update(DATASETS).where(d.id == dataset_id).values(**values))
            detail = None if version is None else {"from": dataset.version, "to": wanted}
            self._audit(conn, "restore", "dataset", dataset_id, detail)
            return _dataset(conn, dataset_id)

    def purge_dataset(self, dataset_id: str, force: bool = False) -> Dataset:
        with self._write("purge dataset") as conn:
            dataset = _dataset(conn, dataset_id)
            if dataset.deleted_at is None and not force:
                raise InvalidInput(
                    f"dataset {dataset_id!r} ({dataset.name!r} {dataset.version!r}) is not "
                    f"deleted: only deleted datasets are purged; delete it first "
                    f"(tracking.delete_dataset({dataset_id!r})) or pass force=True"
                )
            links = ITERATION_DATASETS.c
            conn.execute(delete(ITERATION_DATASETS).where(links.dataset_id == dataset_id))
            conn.execute(delete(DATASETS).where(DATASETS.c.id == dataset_id))
            detail = {"name": dataset.name, "version": dataset.version}
            self._audit(conn, "purge", "dataset", dataset_id, detail)
            return dataset
