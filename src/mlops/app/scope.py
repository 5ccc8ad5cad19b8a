"""Tokens limited to projects: the one place where the App hides what a token may not see.

A token made with ``mlops tokens create NAME --project P1`` sees only P1. Every route reaches
the store through :func:`store_for` (the ``StoreDep`` dependency of the API and MLflow
routes, ``store_of`` of the pages), which hands a limited token a :class:`ScopedStore`
instead of the App's store. That wrapper applies the rule to *every* store method, by the
names of its arguments and the types of its results, so a method or route added later is
covered without a line of its own:

- an argument ``project_id``, ``experiment_id``, ``iteration_id`` or ``dataset_id`` naming
  something outside the token's projects raises ``NotFound`` (404, the same answer as for an
  id that does not exist: ids do not leak); so does ``name`` of a model method
  (``*model*`` other than MLflow's logged models) for a model without a version from the
  token's projects;
- iteration queries without a project or experiment (``list_iterations``,
  ``count_iterations``, ``iteration_tables``) are limited to the token's projects inside the
  SQL query (so limits, offsets and counts stay right);
- notes name their owner as ``(kind, owner_id)``: checked as that kind's id;
- a result is filtered (methods answering plain ids are listed in ``ID_LISTS``):
  projects, experiments, iterations, lineage references, datasets and
  registered models outside the scope leave lists (and tuples holding one are dropped); a
  single such result raises ``NotFound``;
- methods that would make something belonging to no project the token has
  (``create_project``) are refused with 403, and token management needs an unscoped token.

Datasets and models belong to no project: a limited token sees the datasets its projects'
iterations used and the models with a version registered from its projects' iterations.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from fastapi import Request
from sqlalchemy import select

from mlops.app.auth import TOKEN_KEY
from mlops.entities import (
    ApiToken,
    Dataset,
    Experiment,
    Iteration,
    ModelVersion,
    Project,
    RegisteredModel,
)
from mlops.errors import Forbidden, NotFound
from mlops.store.sql.engine import transaction
from mlops.store.sql.models import (
    EXPERIMENTS,
    ITERATION_DATASETS,
    ITERATIONS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
)

__all__ = ["ScopedStore", "store_for", "token_for"]

#: Methods a limited token may not call: they make or manage what no project holds.
REFUSED = {
    "create_project": "a token limited to projects cannot create projects: ask an admin, or "
    "use a token without --project",
    "create_token": "a token limited to projects cannot manage tokens",
    "list_tokens": "a token limited to projects cannot manage tokens",
    "revoke_token": "a token limited to projects cannot manage tokens",
    "list_audit_events": "a token limited to projects cannot read the audit trail",
}
#: Changes to a dataset that every project using it would feel: a limited token may make them
#: only when no iteration outside its projects uses the dataset.
SHARED_CHANGES = {"delete_dataset", "purge_dataset"}
#: Methods that answer plain ids (not entities), with the kind of thing they name.
ID_LISTS = {"purgeable_iterations": "iteration"}
#: Iteration queries whose project condition goes into the SQL query.
QUERIES = {"list_iterations", "count_iterations", "iteration_tables"}


def token_for(request: Request) -> ApiToken | None:
    """The token a request was let in with (API: the guard's; pages: the session's)."""
    token = request.scope.get(TOKEN_KEY) or getattr(request.state, "token", None)
    return token if isinstance(token, ApiToken) else None


def store_for(request: Request) -> Any:
    """The store a route may use: the App's store, wrapped in a :class:`ScopedStore` for a
    token limited to projects (one wrapper per request, so its lookups are cached once)."""
    store = request.app.state.store
    token = token_for(request) if request.app.state.settings.auth else None
    if token is None or not token.projects:
        return store
    scoped = getattr(request.state, "scoped_store", None)
    if scoped is None:
        scoped = ScopedStore(store, frozenset(token.projects))
        request.state.scoped_store = scoped
    return scoped


def _hidden(what: str, value: Any) -> NotFound:
    return NotFound(f"{what} {value!r} not found")


class ScopedStore:
    """The App's store as a token limited to ``projects`` sees it (see the module doc)."""

    def __init__(self, store: Any, projects: frozenset[str]) -> None:
        self._store = store
        self.projects = projects
        self._owners: dict[tuple[str, str], str | None] = {}
        self._datasets: set[str] | None = None
        self._models: set[str] | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name.startswith("_") or not callable(attr) or inspect.isclass(attr):
            return attr
        try:
            signature: inspect.Signature | None = inspect.signature(attr)
        except (TypeError, ValueError):
            signature = None

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            if name in REFUSED:
                raise Forbidden(REFUSED[name])
            arguments: dict[str, Any] = {}
            if signature is not None:
                bound = signature.bind_partial(*args, **kwargs)
                arguments = dict(bound.arguments)
            self._check_arguments(name, arguments)
            if (
                name in QUERIES
                and signature is not None
                and arguments.get("experiment_id") is None
                and arguments.get("project_id") is None
            ):
                bound = signature.bind_partial(*args, **kwargs)
                bound.arguments["project_id"] = self.projects
                args, kwargs = bound.args, bound.kwargs
            result = attr(*args, **kwargs)
            if name in ID_LISTS:  # plain ids: keep those of the token's projects
                kind = ID_LISTS[name]
                return [i for i in result if self._owner(kind, i) in self.projects]
            return self._filtered(result)

        return call

    # -- what is visible --------------------------------------------------------------------
    def _owner(self, kind: str, object_id: str) -> str | None:
        """The project of an experiment or iteration (None when there is none)."""
        key = (kind, object_id)
        if key not in self._owners:
            table = EXPERIMENTS if kind == "experiment" else ITERATIONS
            engine = getattr(self._store, "_engine", None)
            if engine is not None:
                with transaction(engine, write=False, what=f"find the {kind}'s project") as conn:
                    found = conn.execute(
                        select(table.c.project_id).where(table.c.id == object_id)
                    ).scalar()
            else:  # another kind of store: ask it
                try:
                    getter = getattr(self._store, f"get_{kind}")
                    found = getter(object_id).project_id
                except NotFound:
                    found = None
            self._owners[key] = found
        return self._owners[key]

    def _visible_datasets(self) -> set[str]:
        if self._datasets is None:
            links, its = ITERATION_DATASETS.c, ITERATIONS.c
            query = (
                select(links.dataset_id)
                .distinct()
                .join_from(ITERATION_DATASETS, ITERATIONS, its.id == links.iteration_id)
                .where(its.project_id.in_(sorted(self.projects)))
            )
            with transaction(self._store._engine, write=False, what="visible datasets") as conn:
                self._datasets = {r[0] for r in conn.execute(query)}
        return self._datasets

    def _shared(self, dataset_id: str) -> bool:
        """True when an iteration outside the token's projects uses the dataset."""
        links, its = ITERATION_DATASETS.c, ITERATIONS.c
        query = (
            select(links.iteration_id)
            .join_from(ITERATION_DATASETS, ITERATIONS, its.id == links.iteration_id)
            .where(links.dataset_id == dataset_id, its.project_id.not_in(sorted(self.projects)))
            .limit(1)
        )
        with transaction(self._store._engine, write=False, what="dataset users") as conn:
            return conn.execute(query).first() is not None

    def _visible_models(self) -> set[str]:
        if self._models is None:
            versions, its = MODEL_VERSIONS.c, ITERATIONS.c
            query = (
                select(versions.name)
                .distinct()
                .join_from(MODEL_VERSIONS, ITERATIONS, its.id == versions.iteration_id)
                .where(its.project_id.in_(sorted(self.projects)))
            )
            empty = select(REGISTERED_MODELS.c.name).where(
                ~select(versions.name).where(versions.name == REGISTERED_MODELS.c.name).exists()
            )
            with transaction(self._store._engine, write=False, what="visible models") as conn:
                self._models = {r[0] for r in conn.execute(query)}
                self._models |= {r[0] for r in conn.execute(empty)}
        return self._models

    def _check_arguments(self, method: str, arguments: dict[str, Any]) -> None:
        project = arguments.get("project_id")
        if isinstance(project, str) and project not in self.projects:
            raise _hidden("project", project)
        owner = arguments.get("owner_id")  # notes: (kind, owner_id)
        if isinstance(owner, str) and arguments.get("kind") in (
            "project",
            "experiment",
            "iteration",
        ):
            self._check_arguments(method, {f"{arguments['kind']}_id": owner})
        for kind in ("experiment", "iteration"):
            value = arguments.get(f"{kind}_id")
            if isinstance(value, str) and self._owner(kind, value) not in self.projects:
                raise _hidden(kind, value)
        dataset = arguments.get("dataset_id")
        if isinstance(dataset, str) and dataset not in self._visible_datasets():
            raise _hidden("dataset", dataset)
        if isinstance(dataset, str) and method in SHARED_CHANGES and self._shared(dataset):
            raise Forbidden(
                f"dataset {dataset!r} is also used by iterations of projects this token cannot "
                f"see: {method.replace('_', ' ')} it with a token without --project limits"
            )
        for many, kind in (("iteration_ids", "iteration"), ("dataset_ids", "dataset")):
            values = arguments.get(many)
            if isinstance(values, list | tuple):
                for value in values:
                    self._check_arguments(method, {f"{kind}_id": value})
        if "model" in method and "logged_model" not in method:
            name = arguments.get("name")
            if (
                isinstance(name, str)
                and method not in ("create_model", "register_model")
                and name not in self._visible_models()
            ):
                raise _hidden("registered model", name)

    def _visible(self, item: Any) -> bool:
        """False for a thing outside the token's projects; True for anything else."""
        if isinstance(item, Project):
            return item.id in self.projects
        if isinstance(item, Experiment | Iteration):
            return item.project_id in self.projects
        if isinstance(item, Dataset):
            return item.id in self._visible_datasets()
        if isinstance(item, RegisteredModel):
            return item.name in self._visible_models()
        if isinstance(item, ModelVersion):
            return self._owner("iteration", item.iteration_id) in self.projects
        for part in ("project", "experiment"):  # overviews wrap an entity
            inner = getattr(item, part, None)
            if isinstance(inner, Project | Experiment):
                return self._visible(inner)
        project = getattr(item, "project_id", None)  # references (lineage)
        if isinstance(project, str):
            return project in self.projects
        if isinstance(item, tuple):
            return all(self._visible(part) for part in item)
        return True

    def _filtered(self, result: Any) -> Any:
        if isinstance(result, list):
            return [self._filtered(item) for item in result if self._visible(item)]
        if isinstance(result, tuple):
            return tuple(self._filtered(part) for part in result)
        if not self._visible(result):
            raise NotFound("not found")
        return result
