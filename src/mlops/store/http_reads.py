"""The requests of the HTTP store whose answer the caller needs: projects, experiments,
datasets (catalog reads and writes) and iteration reads. They raise ``Unavailable`` (naming the
App's URL) when the App cannot be reached, and the App's own errors as their classes."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any, cast

from mlops.entities import Dataset, Experiment, Iteration, MetricPoint, Project
from mlops.errors import InvalidInput, MlopsError, NotFound, Unavailable
from mlops.series import SERIES_MEDIA_TYPE, MetricColumns
from mlops.store import rules
from mlops.store.base import IterationTable, Store
from mlops.store.http_client import part
from mlops.store.http_codec import (
    dataset_from,
    experiment_from,
    iteration_from,
    point_from,
    project_from,
    table_from,
)
from mlops.wire import (
    MAX_HISTORY_PAGE,
    MAX_PAGE,
    MAX_SERIES_PER_REQUEST,
    MAX_TABLE_PAGE,
    MAX_TOTAL,
    DatasetCreate,
    ExperimentCreate,
    IterationSearch,
    IterationTableSearch,
    ProjectCreate,
    ProjectUpdate,
    to_body,
)

__all__ = ["AppCalls", "AppReads", "deleted_param"]


def deleted_param(deleted: bool | None) -> str:
    """``deleted=`` of a query string: ``false``, ``true`` or ``any`` (for None)."""
    if deleted is None:
        return "any"
    if not isinstance(deleted, bool):
        raise InvalidInput(f"deleted must be True, False or None, got {deleted!r:.100}")
    return "true" if deleted else "false"


class AppCalls(abc.ABC):
    """What the request mixins of :class:`~mlops.store.http.HttpStore` are built on."""

    @abc.abstractmethod
    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        repeatable: bool = True,
        accept: str | None = None,
        long: bool = False,
    ) -> Any:
        """One request whose answer the caller needs (its bytes when it comes as ``accept``;
        ``long``: the answer may take minutes)."""


class AppReads(AppCalls):
    """Catalog and read methods of :class:`~mlops.store.http.HttpStore`, on top of ``_call``."""

    _datasets: dict[str, Dataset]

    # -- projects, experiments, datasets ---------------------------------------------------
    def create_project(
        self, title: str, description: str | None, status: str, archived: bool
    ) -> Project:
        rules.check_project(title, description, status, archived)
        body = to_body(ProjectCreate(title, description, status, archived))
        return project_from(self._call("POST", "/projects", body, repeatable=False))

    def get_project(self, project_id: str) -> Project:
        return project_from(self._call("GET", f"/projects/{part(project_id)}"))

    def list_projects(
        self, include_archived: bool = True, deleted: bool | None = False
    ) -> list[Project]:
        params = {"include_archived": include_archived, "deleted": deleted_param(deleted)}
        answer = self._call("GET", "/projects", params=params)
        return [project_from(p) for p in answer["projects"]]

    def update_project(
        self,
        project_id: str,
        description: str | None = None,
        status: str | None = None,
        archived: bool | None = None,
    ) -> Project:
        rules.check_project_update(description, status, archived)
        body = to_body(ProjectUpdate(description, status, archived))
        return project_from(self._call("PATCH", f"/projects/{part(project_id)}", body))

    def create_experiment(self, project_id: str, name: str, description: str | None) -> Experiment:
        rules.check_experiment(name, description)
        body = to_body(ExperimentCreate(project_id, name, description))
        return experiment_from(self._call("POST", "/experiments", body, repeatable=False))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return experiment_from(self._call("GET", f"/experiments/{part(experiment_id)}"))

    def find_experiment(self, project_id: str, name: str) -> Experiment | None:
        params = {"project_id": project_id, "name": name}
        found = self._call("GET", "/experiments", params=params)["experiments"]
        return experiment_from(found[0]) if found else None

    def list_experiments(
        self, project_id: str | None = None, deleted: bool | None = False
    ) -> list[Experiment]:
        params = {} if project_id is None else {"project_id": project_id}
        params["deleted"] = deleted_param(deleted)
        answer = self._call("GET", "/experiments", params=params)
        return [experiment_from(e) for e in answer["experiments"]]

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
        body = to_body(
            DatasetCreate(name, path, description, list(tags), version, digest, size_bytes,
                          file_count)
        )  # fmt: skip
        dataset = dataset_from(self._call("POST", "/datasets", body))
        self._datasets[dataset.id] = dataset
        return dataset

    def get_dataset(self, dataset_id: str) -> Dataset:
        # a version's content never changes, but it may be deleted, restored or purged: ask
        # the App, and answer what this process knows only while the App is away
        try:
            known = dataset_from(self._call("GET", f"/datasets/{part(dataset_id)}"))
        except Unavailable:
            if dataset_id in self._datasets:
                return self._datasets[dataset_id]
            raise
        except NotFound:
            self._datasets.pop(dataset_id, None)
            raise
        self._datasets[dataset_id] = known
        return known

    def list_datasets(self, name: str | None = None, deleted: bool | None = False) -> list[Dataset]:
        params = {"deleted": deleted_param(deleted)}
        if name is not None:
            params["name"] = name
        answer = self._call("GET", "/datasets", params=params)
        return [dataset_from(d) for d in answer["datasets"]]

    # -- iterations: reads -------------------------------------------------------------------
    def get_iteration(self, iteration_id: str) -> Iteration:
        return iteration_from(self._call("GET", f"/iterations/{part(iteration_id)}"))

    def _search(
        self,
        experiment_id: str | None,
        project_id: str | None,
        filter: str | None,
        order_by: str | Sequence[str] | None,
        limit: int,
        cursor: str | None,
        parameter_names: Sequence[str] | None = None,
        metric_names: Sequence[str] | None = None,
        deleted: bool | None = False,
        exact_total: bool = False,
        count_total: bool = True,
    ) -> dict[str, Any]:
        order = order_by if order_by is None or isinstance(order_by, str) else list(order_by)
        deleted_param(deleted)
        search = IterationSearch(
            experiment_id, project_id, filter, order, limit, cursor,
            None if parameter_names is None else list(parameter_names),
            None if metric_names is None else list(metric_names), deleted, exact_total,
            count_total,
        )  # fmt: skip
        body = to_body(search)
        answer: dict[str, Any] = self._call("POST", "/iterations/search", body)
        return answer

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
        found = self._found(
            experiment_id, project_id, filter, order_by, limit, offset, parameter_names,
            metric_names, deleted,
        )  # fmt: skip
        return [iteration_from(i) for i in found]

    def list_iteration_dicts(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        deleted: bool | None = False,
    ) -> list[dict[str, Any]]:
        # the App's documents are Iteration.to_dict() already: no entity made and undone
        return self._found(
            experiment_id, project_id, filter, order_by, limit, offset, None, None, deleted
        )

    def _found(
        self,
        experiment_id: str | None,
        project_id: str | None,
        filter: str | None,
        order_by: str | Sequence[str] | None,
        limit: int,
        offset: int,
        parameter_names: Sequence[str] | None,
        metric_names: Sequence[str] | None,
        deleted: bool | None,
    ) -> list[dict[str, Any]]:
        """The documents of a search, page by page by cursor (``offset`` skipped on the way)."""
        rules.check_page(limit, offset)
        found: list[dict[str, Any]] = []
        skip, cursor = offset, None
        while True:
            want = max(1, min(MAX_PAGE, skip + limit - len(found)))
            page = self._search(
                experiment_id, project_id, filter, order_by, want, cursor,
                parameter_names, metric_names, deleted, count_total=False,
            )  # fmt: skip
            items = page["iterations"]
            dropped = min(skip, len(items))
            skip -= dropped
            found += items[dropped:][: limit - len(found)]
            cursor = page.get("next_cursor")
            if len(found) >= limit or not cursor:
                return found

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
        if offset:  # the App's cursors are its own: skip by offset the plain way
            yield from Store.iteration_tables(
                cast(Store, self), experiment_id, project_id, filter, order_by, limit, page_size,
                offset,
            )  # fmt: skip
            return
        order = order_by if order_by is None or isinstance(order_by, str) else list(order_by)
        size = max(1, min(MAX_TABLE_PAGE, page_size or MAX_TABLE_PAGE))
        got, cursor = 0, None
        while limit is None or got < limit:
            want = size if limit is None else min(size, limit - got)
            search = IterationTableSearch(experiment_id, project_id, filter, order, want, cursor)
            try:
                answer = self._call("POST", "/iterations/table", to_body(search))
            except MlopsError as exc:
                if got or not (isinstance(exc, NotFound) or exc.status == 405):
                    raise
                # an App older than the route (404, or 405 from PATCH /iterations/{id}): the
                # iterations' JSON, page by page
                yield from Store.iteration_tables(
                    cast(Store, self), experiment_id, project_id, filter, order_by, limit,
                    min(size, MAX_PAGE), offset,
                )  # fmt: skip
                return
            page = table_from(answer)
            got += len(page.ids)
            if page.ids:
                yield page
            cursor = answer.get("next_cursor")
            if not cursor:
                return

    def count_iterations(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        deleted: bool | None = False,
    ) -> int:
        rules.check_page(0 if limit is None else limit, 0)
        exact = limit is None or limit > MAX_TOTAL  # else the App's capped count is enough
        page = self._search(
            experiment_id, project_id, filter, None, 1, None, deleted=deleted, exact_total=exact
        )
        total = int(page["total"])
        return total if limit is None else min(total, limit)

    def get_metric_history(self, iteration_id: str, metric_name: str) -> list[MetricPoint]:
        return self.get_metric_columns(iteration_id, metric_name).points()

    def get_metric_columns(self, iteration_id: str, metric_name: str) -> MetricColumns:
        params = {"iteration_id": iteration_id, "metric": metric_name}
        try:
            answer = self._call(
                "GET", "/history/columns", params=params, accept=SERIES_MEDIA_TYPE, long=True
            )
        except MlopsError as exc:
            if isinstance(exc, NotFound) or exc.status not in (404, 405):
                raise
            # an App older than the route: the history as points
            path = f"/iterations/{part(iteration_id)}/metrics/{part(metric_name)}"
            points = [point_from(p) for p in self._call("GET", path)["points"]]
            return MetricColumns.of_points(points)
        if isinstance(answer, bytes):
            return MetricColumns.from_bytes(answer)
        return MetricColumns.from_json(answer)

    def get_metric_page(
        self,
        iteration_id: str,
        metric_name: str,
        after_step: int | None = None,
        limit: int = 50_000,
    ) -> list[MetricPoint]:
        rules.check_page(limit, 0)
        params: dict[str, Any] = {
            "iteration_id": iteration_id,
            "metric": metric_name,
            "limit": max(1, min(limit, MAX_HISTORY_PAGE)),
        }
        if after_step is not None:
            params["after_step"] = rules.check_int(after_step, "after_step")
        try:
            answer = self._call("GET", "/history", params=params)
        except NotFound:  # a missing metric, or an App older than the route: the plain read
            # says which (and raises the right error)
            return Store.get_metric_page(
                cast(Store, self), iteration_id, metric_name, after_step, limit
            )
        return [point_from(p) for p in answer["points"]]

    def get_metric_series(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[list[MetricPoint], int]:
        path = f"/iterations/{part(iteration_id)}/metrics/{part(metric_name)}"
        answer = self._call("GET", path, params={"max_points": max_points})
        return [point_from(p) for p in answer["points"]], int(answer["total"])

    def get_metric_series_columns(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[MetricColumns, int]:
        return self.get_metric_series_batch([iteration_id], metric_name, max_points)[iteration_id]

    def get_metric_series_batch(
        self,
        iteration_ids: Sequence[str],
        metric_name: str,
        max_points: int,
        after_step: int | None = None,
    ) -> dict[str, tuple[MetricColumns, int]]:
        ids = rules.check_series_batch(iteration_ids, max_points, after_step)
        params: dict[str, Any] = {"metric": metric_name, "max_points": max_points}
        params["format"] = "columns"  # an App older than it answers points (see below)
        if after_step is not None:
            params["after_step"] = after_step
        found: dict[str, tuple[MetricColumns, int]] = {}
        for start in range(0, len(ids), MAX_SERIES_PER_REQUEST):
            wanted = ids[start : start + MAX_SERIES_PER_REQUEST]
            answer = self._call("GET", "/series", params={**params, "iteration_ids": wanted})
            for iteration_id in wanted:
                series = answer["series"][iteration_id]
                if "steps" in series:
                    columns = MetricColumns.from_json(series)
                else:  # an App older than format=columns answers points
                    columns = MetricColumns.of_points([point_from(p) for p in series["points"]])
                found[iteration_id] = (columns, int(series["total"]))
        return found
