"""The catalog methods of the SQL store: projects, experiments and datasets."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    insert,
    not_,
    select,
    update,
)

from mlops.entities import Dataset, Experiment, Project
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store import rules
from mlops.store.sql import audit, rows
from mlops.store.sql.engine import transaction
from mlops.store.sql.models import DATASETS, EXPERIMENT_TAGS, EXPERIMENTS, PROJECTS


def new_id() -> str:
    """A new random id (32 hex digits)."""
    return uuid.uuid4().hex


def live_experiment_named(project_id: str, name: str) -> Select[Any]:
    """The id of the live experiment of that name in the project (names are unique among
    live experiments only)."""
    return select(EXPERIMENTS.c.id).where(
        EXPERIMENTS.c.project_id == project_id,
        EXPERIMENTS.c.name == name,
        EXPERIMENTS.c.deleted_at.is_(None),
    )


def live_project_titled(title: str) -> Select[Any]:
    """The id of the live project with that title (titles are unique among live projects)."""
    return select(PROJECTS.c.id).where(PROJECTS.c.title == title, PROJECTS.c.deleted_at.is_(None))


def live_experiments(conn: Connection) -> ColumnElement[bool]:
    """The experiments that are not deleted, nor in a deleted project (deleted projects are
    few: read first, so the condition stays on the experiments' own columns)."""
    own = EXPERIMENTS.c.deleted_at.is_(None)
    gone = select(PROJECTS.c.id).where(PROJECTS.c.deleted_at.is_not(None))
    ids = list(conn.execute(gone).scalars())
    return and_(own, EXPERIMENTS.c.project_id.not_in(ids)) if ids else own


def experiments_with_tags(conn: Connection, found: Sequence[Any]) -> list[Experiment]:
    """Experiment rows as entities, with their tags (one query for all of them)."""
    if not found:
        return []
    tags: dict[str, list[Any]] = defaultdict(list)
    t = EXPERIMENT_TAGS.c
    ids = [r.id for r in found]
    query = select(EXPERIMENT_TAGS).order_by(t.key)
    # a project rarely has thousands of experiments: past that, read all tags at once
    query = query.where(t.experiment_id.in_(ids)) if len(ids) <= 5000 else query
    for row in conn.execute(query):
        tags[row.experiment_id].append(row)
    return [rows.experiment(r, tags[r.id]) for r in found]


def _check_deleted(deleted: object) -> None:
    if deleted is not None and not isinstance(deleted, bool):
        raise InvalidInput(f"deleted must be True, False or None, got {deleted!r:.100}")


def _deleted_or_not(query: Select[Any], column: Any, deleted: bool | None) -> Select[Any]:
    """``query`` limited to live rows (``False``), deleted ones (``True``) or not (``None``)."""
    _check_deleted(deleted)
    if deleted is None:
        return query
    return query.where(column.is_not(None) if deleted else column.is_(None))


class CatalogMethods:
    """Projects, experiments and datasets; ``_engine`` is set by :class:`SqlStore`."""

    _engine: Engine

    def _read(self, what: str) -> Any:
        return transaction(self._engine, write=False, what=what)

    def _snapshot(self, what: str) -> Any:
        """A read transaction whose statements all see one state of the database."""
        return transaction(self._engine, write=False, what=what, snapshot=True)

    def _write(self, what: str) -> Any:
        return transaction(self._engine, write=True, what=what)

    def _audit(
        self, conn: Connection, action: str, kind: str, object_id: str | None, detail: Any = None
    ) -> None:
        """Record a change in the audit trail, in the change's transaction (see
        :mod:`mlops.store.sql.audit`)."""
        audit.record(conn, action, kind, object_id, detail)

    # -- projects ---------------------------------------------------------------------------
    def create_project(
        self, title: str, description: str | None, status: str, archived: bool
    ) -> Project:
        rules.check_project(title, description, status, archived)
        now = time.time()
        with self._write(f"create project {title!r}") as conn:
            existing = conn.execute(live_project_titled(title)).scalar()
            if existing is not None:
                raise AlreadyExists(
                    f"a project titled {title!r} already exists (id {existing}): "
                    f"use tracking.get_project({existing!r}) or pick another title"
                )
            values: dict[str, Any] = dict(
                id=new_id(),
                title=title,
                description=description,
                status=status,
                archived=archived,
                created_at=now,
                updated_at=now,
            )
            conn.execute(insert(PROJECTS).values(**values))
            self._audit(conn, "create", "project", values["id"], {"title": title})
        return Project(**values)

    def get_project(self, project_id: str) -> Project:
        with self._read("get project") as conn:
            return self._project(conn, project_id)

    @staticmethod
    def _project(conn: Connection, project_id: str) -> Project:
        row = conn.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).first()
        if row is None:
            raise NotFound(
                f"project {project_id!r} not found: list projects with tracking.list_projects() "
                "or `mlops projects list`"
            )
        return rows.project(row)

    def list_projects(
        self, include_archived: bool = True, deleted: bool | None = False
    ) -> list[Project]:
        query = select(PROJECTS).order_by(PROJECTS.c.created_at.desc(), PROJECTS.c.id)
        query = _deleted_or_not(query, PROJECTS.c.deleted_at, deleted)
        if not include_archived:
            query = query.where(PROJECTS.c.archived.is_(False))
        with self._read("list projects") as conn:
            return [rows.project(r) for r in conn.execute(query)]

    def update_project(
        self,
        project_id: str,
        description: str | None = None,
        status: str | None = None,
        archived: bool | None = None,
    ) -> Project:
        rules.check_project_update(description, status, archived)
        changes: dict[str, Any] = {
            k: v
            for k, v in (("description", description), ("status", status), ("archived", archived))
            if v is not None
        }
        with self._write("update project") as conn:
            self._project(conn, project_id)
            if changes:
                changes["updated_at"] = time.time()
                conn.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**changes))
                self._audit(conn, "update", "project", project_id, changes)
            return self._project(conn, project_id)

    # -- experiments ------------------------------------------------------------------------
    def create_experiment(self, project_id: str, name: str, description: str | None) -> Experiment:
        rules.check_experiment(name, description)
        with self._write(f"create experiment {name!r}") as conn:
            self._project(conn, project_id)
            existing = conn.execute(live_experiment_named(project_id, name)).scalar()
            if existing is not None:
                raise AlreadyExists(
                    f"project {project_id!r} already has an experiment named {name!r} "
                    f"(id {existing}): use tracking.get_experiment({existing!r}) or another name"
                )
            values: dict[str, Any] = dict(
                id=new_id(),
                project_id=project_id,
                name=name,
                description=description,
                created_at=time.time(),
            )
            conn.execute(insert(EXPERIMENTS).values(**values))
            self._audit(conn, "create", "experiment", values["id"], {"name": name})
        return Experiment(**values)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read("get experiment") as conn:
            return self._experiment(conn, experiment_id)

    @staticmethod
    def _experiment(conn: Connection, experiment_id: str) -> Experiment:
        row = conn.execute(select(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id)).first()
        if row is None:
            raise NotFound(
                f"experiment {experiment_id!r} not found: list experiments with "
                "tracking.list_experiments() or `mlops experiments list`"
            )
        return experiments_with_tags(conn, [row])[0]

    def find_experiment(self, project_id: str, name: str) -> Experiment | None:
        with self._read("find experiment") as conn:
            row = conn.execute(
                select(EXPERIMENTS).where(
                    EXPERIMENTS.c.project_id == project_id,
                    EXPERIMENTS.c.name == name,
                    EXPERIMENTS.c.deleted_at.is_(None),
                )
            ).first()
            return None if row is None else experiments_with_tags(conn, [row])[0]

    def list_experiments(
        self, project_id: str | None = None, deleted: bool | None = False
    ) -> list[Experiment]:
        query = select(EXPERIMENTS).order_by(EXPERIMENTS.c.created_at.desc(), EXPERIMENTS.c.id)
        _check_deleted(deleted)
        with self._read("list experiments") as conn:
            if deleted is not None:
                shown = live_experiments(conn)
                query = query.where(not_(shown) if deleted else shown)
            if project_id is not None:
                self._project(conn, project_id)
                query = query.where(EXPERIMENTS.c.project_id == project_id)
            return experiments_with_tags(conn, conn.execute(query).all())

    # -- datasets ---------------------------------------------------------------------------
    def create_dataset(
        self,
        name: str,
        path: str,
        description: str | None,
        tags: Sequence[str],
        version: str | None,
        digest: str | None,
        size_bytes: int | None,
        file_count: int | None,
    ) -> Dataset:
        rules.check_dataset(
            name, path, description, tags, version, digest, size_bytes, file_count
        )  # fmt: skip

        def same_content(row: Any) -> bool:
            return row.digest == digest if digest is not None else row.path == path

        with self._write(f"create dataset {name!r}") as conn:
            every = conn.execute(
                select(DATASETS)
                .where(DATASETS.c.name == name)
                .order_by(DATASETS.c.created_at.desc())
            ).all()
            versions = [r for r in every if r.deleted_at is None]
            if version is None:
                for row in versions:
                    if same_content(row):
                        return rows.dataset(row)
                # a deleted version keeps its number, so restoring it finds it free
                taken = {r.version for r in every}
                n = len(versions) + 1
                while f"v{n}" in taken:
                    n += 1
                version = f"v{n}"
            else:
                for row in versions:
                    if row.version != version:
                        continue
                    if same_content(row):
                        return rows.dataset(row)
                    what = (
                        f"digest {row.digest} but the data now has digest {digest}"
                        if digest is not None and row.digest is not None
                        else f"path {row.path!r}, not {path!r}"
                    )
                    raise AlreadyExists(
                        f"dataset {name!r} version {version!r} already exists (id {row.id}) with "
                        f"{what}: the content changed, so register it under a new version"
                    )
            values: dict[str, Any] = dict(
                id=new_id(),
                name=name,
                version=version,
                path=path,
                description=description,
                tags=list(tags),
                digest=digest,
                size_bytes=size_bytes,
                file_count=file_count,
                created_at=time.time(),
            )
            conn.execute(insert(DATASETS).values(**values))
            self._audit(conn, "create", "dataset", values["id"], {"name": name, "version": version})
        return Dataset(**{**values, "tags": tuple(tags)})

    def get_dataset(self, dataset_id: str) -> Dataset:
        with self._read("get dataset") as conn:
            row = conn.execute(select(DATASETS).where(DATASETS.c.id == dataset_id)).first()
        if row is None:
            raise NotFound(
                f"dataset {dataset_id!r} not found: list datasets with tracking.list_datasets() "
                "or `mlops datasets list`"
            )
        return rows.dataset(row)

    def list_datasets(self, name: str | None = None, deleted: bool | None = False) -> list[Dataset]:
        query = select(DATASETS).order_by(DATASETS.c.name, DATASETS.c.created_at.desc())
        query = _deleted_or_not(query, DATASETS.c.deleted_at, deleted)
        if name is not None:
            query = query.where(DATASETS.c.name == name)
        with self._read("list datasets") as conn:
            return [rows.dataset(r) for r in conn.execute(query)]
