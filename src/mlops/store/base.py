"""The store contract: every backend (embedded SQLite, PostgreSQL, the App over HTTP) answers
these methods with the same results and the same errors.

Stores return the frozen entities of :mod:`mlops.entities`, never rows of their own. Every
method raises :class:`~mlops.errors.NotFound` for an unknown id, :class:`~mlops.errors.Unavailable`
when the backend cannot be reached or stays locked, and never a database or network error of its
own.

The rules of the domain live in :mod:`mlops.store.rules`, which every backend runs: names and
values are checked (``InvalidInput`` names the field and the limit: 64-bit integers, timestamps,
parameter values nested at most 32 deep), a status is one of ``running``, ``finished``,
``failed``, ``killed``, and an ended iteration refuses writes (``IterationEnded``) until
:meth:`Store.resume` reopens it.

Projects, experiments, iterations and datasets are deleted softly: ``delete_*`` sets
``deleted_at`` (and ``deleted_by``, who did it) and hides them (and a project's or an
experiment's iterations) from lists, counts and searches until ``restore_*``; ``get_*`` still
returns them. Project titles, experiment names (in a project) and dataset versions (of a name)
are unique among live ones, so a deleted one's name can be reused at once; restoring into a
taken name raises ``AlreadyExists`` and ``restore_*(..., name=)`` restores under a new one.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.entities import (
    ApiToken,
    Artifact,
    Dataset,
    Experiment,
    Iteration,
    MetricPoint,
    ModelFile,
    ModelVersion,
    Note,
    Project,
    Purged,
    RegisteredModel,
)
from mlops.errors import InvalidInput, NotFound
from mlops.store import rules

if TYPE_CHECKING:
    from mlops.artifacts import ArtifactStore
    from mlops.charts import IterationValues
    from mlops.groups import GroupSeries, IterationGroups
    from mlops.series import MetricColumns
    from mlops.store.sql.audit import AuditEvent
    from mlops.views import LiveIteration, SavedView

__all__ = ["IterationTable", "MetricRow", "Store"]

#: One metric point as the write path sends it: (metric name, step, value, epoch timestamp).
MetricRow = tuple[str, int, float, float]


@dataclass(frozen=True, slots=True)
class IterationTable:
    """A page of iterations as columns (what a DataFrame is built from): the k-th entry of
    ``ids``, ``names``, ``statuses`` (as shown: ``crashed`` included), ``experiment_ids``,
    ``started_at`` and ``ended_at`` (epoch seconds, None while running) is the k-th iteration.
    ``parameters``, ``metrics`` (the last value of each) and ``tags`` are three parallel lists
    each: the row of the iteration, the name, the value."""

    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)
    ended_at: list[float | None] = field(default_factory=list)
    parameters: tuple[list[int], list[str], list[Any]] = field(default_factory=lambda: ([], [], []))
    metrics: tuple[list[int], list[str], list[float]] = field(default_factory=lambda: ([], [], []))
    tags: tuple[list[int], list[str], list[str]] = field(default_factory=lambda: ([], [], []))

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON (``POST /iterations/table``): times as epoch seconds."""
        return {
            "ids": self.ids,
            "names": self.names,
            "statuses": self.statuses,
            "experiment_ids": self.experiment_ids,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            **{
                key: {"rows": rows, "names": names, "values": values}
                for key, (rows, names, values) in (
                    ("parameters", self.parameters),
                    ("metrics", self.metrics),
                    ("tags", self.tags),
                )
            },
        }

    @classmethod
    def of(cls, iterations: Sequence[Iteration]) -> IterationTable:
        """The table of these iterations, in their order."""
        table = cls()
        for row, it in enumerate(iterations):
            table.ids.append(it.id)
            table.names.append(it.name)
            table.statuses.append(it.status)
            table.experiment_ids.append(it.experiment_id)
            table.started_at.append(it.started_at)
            table.ended_at.append(it.ended_at)
            triples: list[tuple[tuple[list[int], list[str], list[Any]], Iterable[Any]]] = [
                (table.parameters, it.parameters.items()),
                (table.metrics, ((n, s.last) for n, s in it.metrics.items())),
                (table.tags, it.tags.items()),
            ]
            for (rows, names, values), items in triples:
                for name, value in items:
                    rows.append(row)
                    names.append(name)
                    values.append(value)
        return table


def _unsupported(store: object, method: str) -> InvalidInput:
    return InvalidInput(
        f"{type(store).__name__} cannot {method.replace('_', ' ')}: run it on the App's own "
        "store (`mlops tokens ...` / `mlops audit` on the App's machine, or with "
        "MLOPS_TRACKING_URI set to its database)"
    )


class Store(abc.ABC):
    """What mlops needs from a place that keeps projects, experiments, datasets and iterations."""

    uri: str

    # -- projects ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_project(
        self, title: str, description: str | None, status: str, archived: bool
    ) -> Project:
        """Create a project. Raises ``AlreadyExists`` (naming the existing id) for a taken title."""

    @abc.abstractmethod
    def get_project(self, project_id: str) -> Project:
        """The project with this id."""

    @abc.abstractmethod
    def list_projects(
        self, include_archived: bool = True, deleted: bool | None = False
    ) -> list[Project]:
        """Projects, most recently created first: live ones (``deleted=False``, the default),
        deleted ones (``True``) or both (``None``)."""

    @abc.abstractmethod
    def delete_project(self, project_id: str) -> Project:
        """Delete a project softly: ``deleted_at`` and ``deleted_by`` are set, it, its
        experiments and iterations leave lists, counts, searches and the pages, and its title
        is free at once. Deleting a deleted project returns it unchanged."""

    @abc.abstractmethod
    def restore_project(self, project_id: str, name: str | None = None) -> Project:
        """Bring a deleted project (and so what it holds) back, under the title ``name`` when
        given. Raises ``AlreadyExists`` naming the live project that has the title (restore
        under a new ``name``). Restoring a live project returns it unchanged."""

    @abc.abstractmethod
    def purge_project(
        self, project_id: str, force: bool = False, artifacts: ArtifactStore | None = None
    ) -> Purged:
        """Remove a deleted project for good with its experiments and iterations (as
        :meth:`purge_experiment`, in batches). Raises ``InvalidInput`` for a live project
        unless ``force``; while a model version uses one of its iterations, the project stays
        (that iteration named in ``kept``)."""

    @abc.abstractmethod
    def update_project(
        self,
        project_id: str,
        description: str | None = None,
        status: str | None = None,
        archived: bool | None = None,
    ) -> Project:
        """Change the fields that are not None; returns the project as it is now."""

    @abc.abstractmethod
    def rename_project(self, project_id: str, title: str) -> Project:
        """Give a project a new title. Raises ``AlreadyExists`` naming the project that has
        it, ``InvalidInput`` for a bad title."""

    # -- notes ------------------------------------------------------------------------------
    @abc.abstractmethod
    def set_note(self, kind: str, owner_id: str, text: str) -> Note:
        """Set the Markdown note of a ``project``, ``experiment`` or ``iteration`` (``kind``),
        replacing the one it had; an empty text removes it. Raises ``NotFound`` for an
        unknown owner. Returns the note as stored."""

    @abc.abstractmethod
    def get_note(self, kind: str, owner_id: str) -> Note:
        """The note of an object (text ``""`` and ``updated_at`` None when it has none).
        Raises ``NotFound`` for an unknown owner."""

    # -- experiments ------------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(self, project_id: str, name: str, description: str | None) -> Experiment:
        """Create an experiment. Raises ``AlreadyExists`` when the project has one of that name."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id."""

    @abc.abstractmethod
    def find_experiment(self, project_id: str, name: str) -> Experiment | None:
        """The live (not deleted) experiment of that name in the project, or None."""

    @abc.abstractmethod
    def list_experiments(
        self, project_id: str | None = None, deleted: bool | None = False
    ) -> list[Experiment]:
        """Experiments of one project (or of all when None), most recently created first.
        ``deleted``: False (the default) lists live experiments only, True deleted ones only,
        None both."""

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> Experiment:
        """Delete an experiment softly: ``deleted_at`` is set, it and its iterations leave
        lists, counts and searches, and its name is free for a new experiment. Deleting a
        deleted experiment returns it unchanged. Returns the experiment as it is now."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str, name: str | None = None) -> Experiment:
        """Bring a deleted experiment (and so its iterations) back, named ``name`` when given.
        Raises ``AlreadyExists`` naming the live experiment that took its name meanwhile
        (restore under a new ``name``). Restoring a live experiment returns it unchanged."""

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        """Give an experiment a new name. Raises ``AlreadyExists`` when a live experiment of
        the project has that name, ``InvalidInput`` for a bad name."""

    @abc.abstractmethod
    def set_experiment_tags(
        self,
        experiment_id: str,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Experiment:
        """Set (add or overwrite) the ``tags`` of an experiment and remove the keys in
        ``delete`` (an absent key is no error); returns the experiment with its tags now."""

    @abc.abstractmethod
    def update_experiment(self, experiment_id: str, description: str | None) -> Experiment:
        """Replace the description of an experiment (None clears it); returns it as now."""

    # -- datasets ---------------------------------------------------------------------------
    @abc.abstractmethod
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
        """Register a dataset version.

        ``version=None`` reuses the newest version of that name with the same content (digest,
        or path when there is no digest) or creates the next ``vN``. With a version given, the
        same content returns the existing dataset and different content raises ``AlreadyExists``.
        """

    @abc.abstractmethod
    def get_dataset(self, dataset_id: str) -> Dataset:
        """The dataset with this id."""

    @abc.abstractmethod
    def list_datasets(self, name: str | None = None, deleted: bool | None = False) -> list[Dataset]:
        """All datasets (or the versions of one name), newest first: live ones
        (``deleted=False``, the default), deleted ones (``True``) or both (``None``)."""

    @abc.abstractmethod
    def delete_dataset(self, dataset_id: str, force: bool = False) -> Dataset:
        """Delete a dataset version softly: it leaves dataset lists and lineage, and its
        ``(name, version)`` is free at once. Raises ``InvalidInput`` naming the live
        iterations that use it unless ``force``. Deleting a deleted one returns it unchanged."""

    @abc.abstractmethod
    def restore_dataset(self, dataset_id: str, version: str | None = None) -> Dataset:
        """Bring a deleted dataset version back, as ``version`` when given. Raises
        ``AlreadyExists`` naming the live version of that name (restore under a new
        ``version``)."""

    @abc.abstractmethod
    def purge_dataset(self, dataset_id: str, force: bool = False) -> Dataset:
        """Remove a deleted dataset version for good, with its links to iterations (the
        iterations stay); returns it as it was. Raises ``InvalidInput`` for a live one unless
        ``force``."""

    # -- iterations -------------------------------------------------------------------------
    @abc.abstractmethod
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
        """Create a running iteration with a client-made id in ``experiment_id``, or, when that
        is None, in the ``default`` experiment of ``project_id`` (made when missing).

        Creating the same id twice returns the existing iteration (a retry is harmless). Raises
        ``NotFound`` for an unknown experiment or project, ``InvalidInput`` when both are given
        and the experiment is in another project, or for an id over 36 characters.

        ``heartbeat=False`` is for writers that send no heartbeats (MLflow clients): the
        iteration then never reads as ``crashed``, before or after a :meth:`resume`.
        ``new=True`` says the id was made for this call (``start_iteration``'s, never used
        before), so no existing iteration can be the answer: the HTTP store may then send the
        start with the iteration's first request (:mod:`mlops.store.http_starts`).
        """

    @abc.abstractmethod
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
        """Write parameters, metric points, dataset links and tags of one iteration in one
        transaction.

        Idempotent: a point is keyed by (iteration, metric, step), so sending the same batch twice
        stores it once; a later value for the same step replaces the earlier one.

        ``every_value=True`` keeps every value instead, as MLflow does (several at one step):
        a point whose (step, timestamp, value) is already stored at that step is a retry and
        is skipped, any other point at an occupied step is kept after the earlier ones
        (:meth:`get_metric_history` returns them in the order they were logged). Raises
        ``IterationEnded`` when the iteration has ended; a batch that carries only
        ``heartbeat_at`` is then ignored (a late heartbeat of a writer thread). Raises
        ``InvalidInput`` for a step or a value out of range, a parameter value that is not
        JSON data, nests deeper than 32 levels or is longer than 65,536 characters as JSON.
        """

    @abc.abstractmethod
    def update_iteration(
        self,
        iteration_id: str,
        status: str | None = None,
        ended_at: float | None = None,
        error: Mapping[str, str] | None = None,
        model: ModelFile | None = None,
        heartbeat_at: float | None = None,
    ) -> Iteration:
        """Change the given fields of an iteration (status, end time, error, model file) and
        return the iteration as it is now.

        An ended status (``finished``, ``failed``, ``killed``) ends a running iteration. An
        ended iteration may change only its end state (another ended status, ``ended_at``,
        error, model); ``status="running"`` or a heartbeat raise ``IterationEnded`` (reopen it
        with :meth:`resume`). ``ended_at`` for an iteration that stays running, or an unknown
        status, raise ``InvalidInput``."""

    @abc.abstractmethod
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
        """Write the last batch (as :meth:`log_batch`) and the end state in one transaction;
        returns the ended iteration. ``status`` is ``finished``, ``failed`` or ``killed``.

        Ending an ended iteration again with the same status is a harmless retry (the HTTP
        client retries ``end``): it writes nothing and returns the iteration as stored; a retry
        that carries a batch must carry the same ``ended_at``, else it is new data after the
        end. Another status raises ``IterationEnded``."""

    @abc.abstractmethod
    def resume(self, iteration_id: str) -> Iteration:
        """Reopen an ended iteration to log more to it (what MLflow clients do when they start
        a run again): status back to ``running``, ``ended_at`` and the error cleared, the
        heartbeat set to now; parameters, metrics and the model file stay. Resuming a running
        iteration returns it unchanged. The only way an ended iteration runs again."""

    @abc.abstractmethod
    def get_iteration(self, iteration_id: str) -> Iteration:
        """The iteration with its parameters, metric summaries, datasets and model file
        (a deleted one too, with ``deleted_at`` set)."""

    @abc.abstractmethod
    def delete_iteration(self, iteration_id: str) -> Iteration:
        """Delete an iteration softly: ``deleted_at`` is set and it leaves lists, counts and
        searches; what it logged stays. Deleting a deleted iteration returns it unchanged.
        Allowed on running and ended iterations. Returns the iteration as it is now."""

    @abc.abstractmethod
    def restore_iteration(self, iteration_id: str, name: str | None = None) -> Iteration:
        """Bring a deleted iteration back, renamed ``name`` when given (restoring a live one
        returns it unchanged). An iteration of a deleted experiment or project stays hidden
        until that is restored."""

    @abc.abstractmethod
    def set_iteration_description(self, iteration_id: str, description: str | None) -> Iteration:
        """Replace the description of an iteration (None or ``""`` clears it), running or
        ended; returns the iteration as it is now."""

    # -- purge (removing deleted things for good) -------------------------------------------
    @abc.abstractmethod
    def purge_iterations(
        self,
        iteration_ids: Sequence[str],
        force: bool = False,
        artifacts: ArtifactStore | None = None,
    ) -> Purged:
        """Remove deleted iterations for good: their rows, parameters, metric points, tags and
        artifact records, in batches of 500 per transaction, and from ``artifacts`` every blob
        no other record refers to (the App uses its own artifact store: over HTTP the argument
        is ignored). Raises ``NotFound`` for an unknown id (before anything is removed) and
        ``InvalidInput`` for a live one unless ``force``. Iterations a registered model
        version uses are kept and named in :attr:`Purged.kept`."""

    @abc.abstractmethod
    def purge_experiment(
        self, experiment_id: str, force: bool = False, artifacts: ArtifactStore | None = None
    ) -> Purged:
        """Remove a deleted experiment for good, with all its iterations (as
        :meth:`purge_iterations`). Raises ``InvalidInput`` for a live one unless ``force``;
        while a model version uses one of its iterations, the experiment and that iteration
        stay (named in ``kept``)."""

    @abc.abstractmethod
    def purgeable_iterations(
        self,
        deleted_before: float,
        status: str | None = None,
        experiment_id: str | None = None,
        include_live: bool = False,
    ) -> list[str]:
        """Ids of the iterations deleted before ``deleted_before`` (epoch seconds), themselves
        or with their experiment, oldest first; with ``include_live``, also those started
        before it. ``status`` and ``experiment_id`` narrow the choice."""

    @abc.abstractmethod
    def rename_iteration(self, iteration_id: str, name: str) -> Iteration:
        """Give an iteration a new name (names of iterations need not be unique); allowed on
        ended iterations. Raises ``InvalidInput`` for a bad name."""

    @abc.abstractmethod
    def move_iteration(self, iteration_id: str, experiment_id: str) -> Iteration:
        """Move an iteration (running or ended, with everything it logged) to another
        experiment of the same project. Raises ``InvalidInput`` naming both projects for an
        experiment of another project, ``NotFound`` for an unknown one. Returns the
        iteration as it is now."""

    @abc.abstractmethod
    def set_iteration_tags(
        self,
        iteration_id: str,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Iteration:
        """Set (add or overwrite) the ``tags`` of an iteration and remove the keys in
        ``delete`` (an absent key is no error). Allowed on ended iterations too: tags are
        annotations, not results. Returns the iteration as it is now."""

    @abc.abstractmethod
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
        """Iterations matching the filter (the query language of :mod:`mlops.query`), ordered by
        ``order_by`` (default: newest first), at most ``limit`` of them after skipping ``offset``.
        ``parameter_names`` / ``metric_names`` load only those parameters and metrics of each
        iteration (a table showing a few columns of iterations with hundreds of values).
        ``deleted``: False (the default) finds live iterations only, True deleted ones only
        (deleted themselves or in a deleted experiment), None both.
        Raises ``QuerySyntaxError`` for a filter that does not parse, ``InvalidInput`` for a
        negative (or wider than 64-bit) ``limit`` or ``offset``."""

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
        """:meth:`list_iterations` as the iterations' dicts (``Iteration.to_dict()``, the REST
        contract's shape), for callers that want dicts: the HTTP store hands over the App's
        documents as they came instead of making entities of them first."""
        found = self.list_iterations(
            experiment_id, project_id, filter, order_by, limit, offset, deleted=deleted
        )
        return [iteration.to_dict() for iteration in found]

    def get_iteration_values(
        self,
        experiment_id: str,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 10_000,
        parameter_names: Sequence[str] = (),
        metric_names: Sequence[str] = (),
    ) -> IterationValues:
        """The first ``limit`` (at most 10,000) live iterations of an experiment matching
        ``filter``, in ``order_by`` order, in columns: their ids, names, the named parameters'
        values and the named metrics' last values (:class:`~mlops.charts.IterationValues`;
        what the experiment page's parallel coordinates and scatter draw). Raises ``NotFound``
        for an unknown experiment, ``InvalidInput`` for a bad limit or name or more than 50
        names, ``QuerySyntaxError`` for a filter that does not parse."""
        from mlops.charts import IterationValues, check_value_request

        parameters, metrics = check_value_request(limit, parameter_names, metric_names)
        self.get_experiment(experiment_id)  # NotFound names an unknown experiment
        found = self.list_iterations(
            experiment_id, None, filter, order_by, limit + 1, 0, parameters, metrics
        )
        shown = found[:limit]
        return IterationValues(
            ids=[it.id for it in shown],
            names=[it.name for it in shown],
            parameters={name: [it.parameters.get(name) for it in shown] for name in parameters},
            metrics={
                name: [s.last if (s := it.metrics.get(name)) is not None else None for it in shown]
                for name in metrics
            },
            more=len(found) > limit,
        )

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
        """What :meth:`list_iterations` finds (at most ``limit``, every one when None, after
        skipping ``offset``), as
        successive pages of at most ``page_size`` iterations in columns, one request each, in
        the same order: for reading them all (a DataFrame) without one giant request.

        An iteration created meanwhile may shift a page boundary, so an iteration can come
        twice (the caller drops repeated ids). This default pages :meth:`list_iterations` by
        offset; the SQL store reads the columns in bulk, the HTTP store follows the App's
        cursors."""
        size, got = page_size or 1000, 0
        while limit is None or got < limit:
            want = size if limit is None else min(size, limit - got)
            page = self.list_iterations(
                experiment_id, project_id, filter, order_by, want, offset + got
            )
            if page:
                yield IterationTable.of(page)
            if len(page) < want:
                return
            got += len(page)

    @abc.abstractmethod
    def count_iterations(
        self,
        experiment_id: str | None = None,
        project_id: str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        deleted: bool | None = False,
    ) -> int:
        """How many iterations ``list_iterations`` would find without a limit; with ``limit``,
        counting stops there (a page can show "10,000+" without counting 100,000 rows).
        ``deleted`` as in :meth:`list_iterations`."""

    def get_metric_page(
        self,
        iteration_id: str,
        metric_name: str,
        after_step: int | None = None,
        limit: int = 50_000,
    ) -> list[MetricPoint]:
        """The points of one metric with a step after ``after_step`` (from the first when None),
        by step, ``limit`` of them: a long history read page by page (pass the last step back;
        a page shorter than ``limit`` is the last). A full page ends with every point of its
        last step, so it holds more than ``limit`` points when that step has several values
        (``every_value``). Raises ``NotFound`` like :meth:`get_metric_history` for the first
        page. This default cuts the whole history; the SQL store reads only the page, the HTTP
        store asks the App's ``GET /history``."""
        points = self.get_metric_history(iteration_id, metric_name)
        if after_step is not None:
            points = [p for p in points if p.step > after_step]
        end = limit
        while 0 < end < len(points) and points[end].step == points[end - 1].step:
            end += 1
        return points[:end]

    @abc.abstractmethod
    def get_metric_history(self, iteration_id: str, metric_name: str) -> list[MetricPoint]:
        """Every point of one metric of one iteration, by step (several points at one step,
        logged with ``every_value``, in the order they were logged). Raises ``NotFound`` for
        an iteration without that metric."""

    def get_metric_columns(self, iteration_id: str, metric_name: str) -> MetricColumns:
        """What :meth:`get_metric_history` returns, in columns (:class:`~mlops.series.
        MetricColumns`: packed arrays of steps, values and timestamps): a long series without
        an object per point. Raises ``NotFound`` like :meth:`get_metric_history`. The SQL store
        reads the rows in bulk, the HTTP store asks the App for the binary form."""
        from mlops.series import MetricColumns

        return MetricColumns.of_points(self.get_metric_history(iteration_id, metric_name))

    @abc.abstractmethod
    def get_metric_series(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[list[MetricPoint], int]:
        """A metric's series for a chart: (at most ``max_points`` points, how many the full
        series has). A longer series is cut into buckets of steps of equal width, each giving
        the points where its lowest and its highest value first occur (so spikes stay visible)
        and, when it holds NaN, its first NaN point (a gap); the first and last point of the
        series are always there. Every point is a stored point (its step, its exact value),
        in step order (and logging order within a step). (A series with NaN may give 5 points
        for ``max_points=4``.) Raises
        ``NotFound`` like :meth:`get_metric_history`."""

    def get_metric_series_columns(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[MetricColumns, int]:
        """:meth:`get_metric_series` in columns: (the chart's points, how many the full
        series has). Raises ``NotFound`` like :meth:`get_metric_history`."""
        from mlops.series import MetricColumns

        points, total = self.get_metric_series(iteration_id, metric_name, max_points)
        return MetricColumns.of_points(points), total

    def get_metric_series_batch(
        self,
        iteration_ids: Sequence[str],
        metric_name: str,
        max_points: int,
        after_step: int | None = None,
    ) -> dict[str, tuple[MetricColumns, int]]:
        """One metric of many iterations at once, for a chart of their curves: iteration id
        -> (its series in columns, a count), in the order of ``iteration_ids`` (duplicates
        dropped; at most 1,000 ids, ``InvalidInput`` beyond, or for ``max_points`` under 4).

        Without ``after_step`` each series is what :meth:`get_metric_series_columns` gives
        (downsampled to ``max_points`` when longer) with the count of the full series; it
        raises ``NotFound`` like :meth:`get_metric_history` for the first iteration (in the
        order asked) that has no point of the metric. With ``after_step`` each series is the
        page of :meth:`get_metric_page` after that step, at most ``max_points`` points (a full
        page ends with every value of its last step), never downsampled, and the count is its
        length: a live chart's increment; an iteration with nothing after the step, an unknown
        one too, gets an empty series. This default reads the series one by one; the SQL
        store reads all of them in a fixed number of statements, the HTTP store asks the
        App's ``GET /series`` once per 100 ids."""
        from mlops.series import MetricColumns

        ids = rules.check_series_batch(iteration_ids, max_points, after_step)
        found: dict[str, tuple[MetricColumns, int]] = {}
        if after_step is None:
            for iteration_id in ids:
                points, total = self.get_metric_series(iteration_id, metric_name, max_points)
                found[iteration_id] = (MetricColumns.of_points(points), total)
            return found
        for iteration_id in ids:
            try:
                page = self.get_metric_page(iteration_id, metric_name, after_step, max_points)
            except NotFound:  # the default page reads the history, which says it is missing
                page = []
            found[iteration_id] = (MetricColumns.of_points(page), len(page))
        return found

    # -- saved views and live state of experiment pages (see mlops.views) ------------------
    @abc.abstractmethod
    def list_views(self, experiment_id: str) -> list[SavedView]:
        """The saved views of an experiment, by name. Raises ``NotFound`` for an unknown
        experiment."""

    @abc.abstractmethod
    def create_view(self, experiment_id: str, name: str, state: Mapping[str, str]) -> SavedView:
        """Save a view of an experiment page: ``state`` is its address parameters as text
        (unknown keys kept; ``page`` and ``view`` left out). ``created_by`` is who makes the
        change (as the audit trail names it). Raises ``AlreadyExists`` naming the view that has
        the name in this experiment, ``InvalidInput`` for a bad name or state."""

    @abc.abstractmethod
    def update_view(
        self,
        experiment_id: str,
        view_id: str,
        name: str | None = None,
        state: Mapping[str, str] | None = None,
    ) -> SavedView:
        """Rename a view and/or replace its state (what is None stays); ``view_id`` is its id
        or short id. Raises ``NotFound`` for a view not in that experiment, ``AlreadyExists``
        for a name another view of the experiment has. Returns the view as it is now."""

    @abc.abstractmethod
    def delete_view(self, experiment_id: str, view_id: str) -> None:
        """Delete a view (by id or short id) of an experiment; ``NotFound`` when absent."""

    @abc.abstractmethod
    def get_view(self, short_id: str) -> SavedView:
        """The view with this short id (or id), whatever its experiment: what its short URL
        opens. Raises ``NotFound`` for an unknown one."""

    @abc.abstractmethod
    def get_live_iterations(
        self, experiment_id: str, iteration_ids: Sequence[str]
    ) -> list[LiveIteration]:
        """Where the given iterations of an experiment stand, in the order asked (ids not in
        the experiment are left out): status as shown, times, and per metric its last value,
        last step and change marker (``rewrites``: grows when a write replaced a step at or
        before the last one). One cheap read for a page's live tick; at most 200 ids
        (``InvalidInput`` beyond). Raises ``NotFound`` for an unknown experiment."""

    # -- groups ------------------------------------------------------------------------------
    @abc.abstractmethod
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
        """The live iterations of an experiment matching ``filter`` (the query language of
        :mod:`mlops.query`), grouped by ``group_by``: one or more parameters or tags as one
        comma-separated string or a list (``"params.config, params.lr"``, ``tags.model``; a
        name holding a comma in backticks). Iterations without a key form a group whose key is
        missing. Per group: the key values, the count, for each of ``metrics`` the mean,
        standard deviation (n - 1), min and max of its final values (NaN left out), and the
        first ``ids_per_group`` iteration ids (newest first, 0 to 1,000).

        Groups come in ``order``: ``count desc`` (the default; ties by key, numbers by value),
        ``count asc``, ``mean(metrics.NAME) desc``, ``min(...)``, ``max(...)`` (an ordering
        metric is aggregated too). The first ``limit`` (1 to 1,000) are listed; the rest are
        gathered into one last "others" group (``others=True``, ``groups`` = how many).
        Raises ``NotFound`` for an unknown experiment, ``InvalidInput`` for a bad key, order,
        metric name or limit, ``QuerySyntaxError`` for a filter that does not parse."""

    @abc.abstractmethod
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
        """The mean curve of ``metric`` of each group :meth:`group_iterations` lists (with the
        same ``group_by``, ``filter``, ``order`` and ``limit``; "others" last): at each step
        the mean of the group's iterations' values there, their standard deviation, min, max
        and how many had a value. Over ``max_points`` (2 to 100,000) steps, the steps are cut
        into ``max_points`` buckets of equal width; each gives its last step, the average of
        its steps' means and variances, its min and its max. Groups without a point of the
        metric have no curve. Raises like :meth:`group_iterations`."""

    # -- artifacts (the bytes live in an ArtifactStore; these are the records) ---------------
    @abc.abstractmethod
    def log_artifacts(self, iteration_id: str, artifacts: Sequence[Artifact]) -> None:
        """Record files an iteration produced, keyed by (name, step): recording the same file
        again is harmless, a name logged again points at its new bytes. Allowed after the
        iteration ended (uploads finish after the records). Raises ``InvalidInput`` for a bad
        name, or a name that would be both a file and a folder of files."""

    @abc.abstractmethod
    def list_artifacts(self, iteration_id: str, prefix: str | None = None) -> list[Artifact]:
        """The files of an iteration by name then step; with ``prefix``, the file of that name
        or the files in that folder."""

    @abc.abstractmethod
    def delete_artifacts(self, iteration_id: str, name: str) -> int:
        """Delete the record of the artifact ``name`` of an iteration (every step of an image
        series of that name), or every record under the folder ``name/``; returns how many
        records went. Allowed on ended iterations. The bytes stay in the artifact store (they
        are content-addressed and may be shared): ``mlops gc`` removes a blob once no record
        refers to it. Raises ``NotFound`` for an unknown iteration or when it has nothing of
        that name, ``InvalidInput`` for a bad name or one a registered model version uses."""

    # -- the model registry -----------------------------------------------------------------
    @abc.abstractmethod
    def register_model(
        self,
        name: str,
        iteration_id: str,
        artifact: str,
        description: str | None,
        created_by: str,
    ) -> ModelVersion:
        """Make the next version (1, 2, ...) of model ``name`` from an iteration's artifact (a
        file or a folder). Raises ``NotFound`` when the iteration has no such artifact."""

    @abc.abstractmethod
    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""

    @abc.abstractmethod
    def get_model(self, name: str) -> RegisteredModel:
        """One registered model. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """The versions of a model, newest first."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version_or_alias: str | int) -> ModelVersion:
        """A version by number (``3`` or ``"3"``) or by alias (``"production"``)."""

    @abc.abstractmethod
    def set_model_alias(self, name: str, alias: str, version: int, set_by: str) -> ModelVersion:
        """Point an alias at a version, recording who set it. Raises ``InvalidInput`` for an
        alias that is a number."""

    @abc.abstractmethod
    def create_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        created_by: str = "",
    ) -> RegisteredModel:
        """Register a model with no version yet (its first :meth:`register_model` makes
        version 1). Raises ``AlreadyExists`` for a name already registered."""

    @abc.abstractmethod
    def update_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set (or with ``None`` clear) the description of a model. Raises ``NotFound``."""

    @abc.abstractmethod
    def rename_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a model a new name; its versions, aliases and tags follow. Raises
        ``AlreadyExists`` for a name already registered, ``NotFound`` for an unknown model."""

    @abc.abstractmethod
    def delete_model(self, name: str) -> None:
        """Remove a model with its versions, aliases and tags (as MLflow does). The artifacts
        the versions pointed at stay with their iterations. Raises ``NotFound``."""

    @abc.abstractmethod
    def set_model_tags(
        self, name: str, tags: Mapping[str, str] | None = None, delete: Sequence[str] = ()
    ) -> RegisteredModel:
        """Set text tags of a model and remove the keys in ``delete`` (a key may not be in
        both; removing a key it lacks is harmless). Raises ``NotFound``."""

    @abc.abstractmethod
    def set_model_version_tags(
        self,
        name: str,
        version: int,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> ModelVersion:
        """Set text tags of one version and remove the keys in ``delete``, as
        :meth:`set_model_tags` does. Raises ``NotFound`` for an unknown model or version."""

    @abc.abstractmethod
    def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        """Set (or with ``None`` clear) the description of one version. Raises ``NotFound``."""

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: int) -> None:
        """Remove one version with its aliases and tags; the other versions keep their numbers and
        the number is never given again. The artifacts stay with the
        iteration. Raises ``NotFound``."""

    @abc.abstractmethod
    def delete_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias of a model (its version stays). Raises ``NotFound`` for an unknown
        model or alias."""

    # -- tokens and the audit trail (the App's; managed on its own store) -------------------
    def create_token(
        self,
        name: str,
        scope: str,
        projects: Sequence[str] = (),
        expires_at: float | None = None,
    ) -> tuple[str, ApiToken]:
        """Make an access token of the App named ``name`` with ``scope`` (read, write,
        admin), limited to ``projects`` (titles or ids; empty: every project) and expiring
        at ``expires_at`` (epoch seconds; None: never). Returns the secret (shown once) and
        the token. Raises ``AlreadyExists`` for a taken name."""
        raise _unsupported(self, "create_token")

    def list_tokens(self) -> list[ApiToken]:
        """Every token of the App (never their secrets), newest first."""
        raise _unsupported(self, "list_tokens")

    def revoke_token(self, name_or_id: str) -> ApiToken:
        """Stop a token from working; returns it. Raises ``NotFound`` for an unknown one."""
        raise _unsupported(self, "revoke_token")

    def list_audit_events(
        self, since: float | None = None, who: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        """The audit trail, newest first: changes since ``since`` (epoch seconds), by ``who``
        (a token's name or ``local:<user>``), at most ``limit``."""
        raise _unsupported(self, "list_audit_events")

    def bounded(self, deadline: float) -> contextlib.AbstractContextManager[bool]:
        """A context in which this thread's calls of the store give up by ``deadline`` (a
        ``time.monotonic()`` value) rather than wait longer for the database (a lock another
        process holds): what they could not write raises :class:`~mlops.errors.Unavailable`,
        as a lock held past the store's own wait does. It yields True when the store keeps
        that promise, so a caller bound to the deadline may call it on its own thread; False
        (this default) when a call may block past it."""
        return contextlib.nullcontext(False)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""
