"""Copy MLflow history into mlops: experiments, runs, every metric value, artifacts.

``import_mlflow(source)`` reads an ``mlruns/`` folder, an MLflow database (``sqlite:///...``,
``postgresql://...``) or an MLflow server (``http(s)://...``) itself (MLflow need not be
installed) and writes through the :class:`~mlops.store.Store`:

- an MLflow experiment becomes an experiment of the same name in the project named by its tag
  ``mlops.project``, else in ``project`` (default ``mlflow``); its tags are kept and its
  ``mlflow.note.content`` becomes its description;
- a run becomes an iteration with the run's id as its id (so importing again copies nothing
  twice), its name, start and end times, params as the strings MLflow kept, tags, every value
  of every metric (several at one step too) with its timestamp, its dataset inputs and its
  files. FINISHED, FAILED and KILLED end it as finished, failed and killed. A RUNNING (or
  SCHEDULED) run stays running with its heartbeat at its start: mlops shows it as crashed,
  which is what a run still "running" in an old store almost always is; importing again once
  it has ended tops it up and ends it.
- deleted experiments and runs are copied and deleted in mlops (hidden, restorable), or left
  out with ``skip_deleted=True``.

What could not be copied (a metric at a negative step, a remote artifact root, a name over
mlops' limits) is listed in :attr:`ImportReport.problems`; nothing is dropped silently.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.entities import Artifact, Experiment
from mlops.errors import AlreadyExists, InvalidInput, MlopsError, NotFound, Unavailable
from mlops.importers._convert import (
    ENDED,
    Prepared,
    choose_experiments,
    dataset_path,
    describe,
    first_time,
    is_default,
    seconds,
    valid_name,
    valid_tags,
)
from mlops.importers._records import (
    ArtifactsUnreadable,
    MlflowDataset,
    MlflowExperiment,
    MlflowReader,
    MlflowRun,
    RunData,
    read_ahead,
)
from mlops.store.base import Store
from mlops.values import MAX_NAME, check_name

__all__ = ["ImportReport", "import_mlflow", "open_mlflow_source"]

#: Points sent in one ``log_batch`` at most (a run with millions of points goes in parts).
POINTS_PER_BATCH = 50_000
#: Artifact rows recorded in one call at most.
ARTIFACTS_PER_CALL = 1000
#: Runs (or metric values) written in one transaction at most by the bulk path of SQL stores.
RUNS_PER_WRITE = 200
POINTS_PER_WRITE = 200_000

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did: counts, and what it could not copy (each with the reason)."""

    source: str
    experiments: int = 0
    runs_copied: int = 0
    #: Runs already in mlops from an earlier import (only missing files were copied).
    runs_present: int = 0
    #: Of those, the ones still running, topped up (values already there are not copied again).
    runs_running: int = 0
    #: Deleted runs left out (``skip_deleted``).
    runs_skipped: int = 0
    points: int = 0
    artifacts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything was copied."""
        return not self.problems


def open_mlflow_source(source: str) -> MlflowReader:
    """The reader for a source: a server URL, a database URI or an ``mlruns/`` folder."""
    from mlops.importers.mlflow_db import is_database_uri

    if source.startswith(("http://", "https://")):
        from mlops.importers.mlflow_rest import RestReader

        return RestReader(source)
    if is_database_uri(source):
        from mlops.importers.mlflow_db import DatabaseReader

        return DatabaseReader(source)
    if "://" in source and not source.startswith("file:"):
        raise InvalidInput(
            f"cannot read MLflow data from {source!r}: give an mlruns/ folder, a database URI "
            "(sqlite:///mlflow.db, postgresql://...) or a server URL (http://host:5000)"
        )
    from mlops.importers.mlflow_files import FileReader

    return FileReader(source)


def import_mlflow(
    source: str,
    store: Store,
    *,
    project: str = "mlflow",
    artifacts: bool = True,
    experiments: Sequence[str] | None = None,
    skip_deleted: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Copy an MLflow source into ``store`` (see the module docstring); returns the report.

    ``experiments`` picks experiments by name or id (default: all). Raises ``InvalidInput``
    for an unreadable source or an experiment it does not have, before anything is copied.
    """
    check_name(project, "project")
    reader = open_mlflow_source(source)
    try:
        return _Importer(reader, store, project, artifacts, skip_deleted).run(experiments, progress)
    finally:
        reader.close()


class _Importer:
    def __init__(
        self, reader: MlflowReader, store: Store, project: str, artifacts: bool, skip_deleted: bool
    ) -> None:
        self.reader, self.store, self.project = reader, store, project
        self.skip_deleted = skip_deleted
        self.report = ImportReport(reader.description)
        self.files: Any = None
        if artifacts:
            from mlops.tracking._artifacts import files_for

            self.files = files_for(store)  # raises at once when the store keeps no files
        self._projects: dict[str, str] = {}
        self._datasets: dict[tuple[str, str, str], str] = {}
        self.bulk = _is_sql(store)
        self.done, self.total = 0, 0
        self.progress: Progress | None = None

    def problem(self, message: str) -> None:
        self.report.problems.append(message)

    def wanted(self, run: MlflowRun) -> bool:
        """Whether a run is to be read at all."""
        return not (run.deleted and self.skip_deleted)

    def tick(self, runs: int = 1) -> None:
        self.done += runs
        if self.progress is not None:
            self.progress(self.done, self.total)

    def run(self, wanted: Sequence[str] | None, progress: Progress | None) -> ImportReport:
        chosen = choose_experiments(self.reader.experiments(), wanted)
        work = [(e, self.reader.runs(e)) for e in chosen]
        # MLflow's Default experiment always exists: an empty one is not worth a copy
        work = [(e, runs) for e, runs in work if runs or e.tags or not is_default(e, wanted)]
        if self.skip_deleted:
            work = [(e, runs) for e, runs in work if not e.deleted]
        self.total, self.progress = sum(len(runs) for _, runs in work), progress
        self.tick(0)
        for experiment, runs in work:
            target = self.experiment(experiment)
            if self.bulk:
                self.copy_runs_in_bulk(runs, target)
            else:
                for run, data in read_ahead(self.reader, runs, self.wanted):
                    if isinstance(data, Unavailable):
                        raise data
                    if isinstance(data, Exception):
                        self.problem(f"{describe(run)}: not copied: {data}")
                    else:
                        self.copy_run(run, target, data)
                    self.tick()
            if experiment.deleted and target.deleted_at is None:
                self.store.delete_experiment(target.id)
        return self.report

    # -- experiments ------------------------------------------------------------------------
    def project_id(self, title: str) -> str:
        if title not in self._projects:
            found = next((p for p in self.store.list_projects() if p.title == title), None)
            if found is None:
                found = self.store.create_project(title, "Imported from MLflow", "active", False)
            self._projects[title] = found.id
        return self._projects[title]

    def experiment(self, source: MlflowExperiment) -> Experiment:
        """The mlops experiment of an MLflow one (keyed by name in its project), made when
        missing; its tags set."""
        self.report.experiments += 1
        title = source.tags.get("mlops.project") or self.project
        project_id = self.project_id(title)
        description = source.tags.get("mlflow.note.content")
        name = source.name[:MAX_NAME]
        found: Experiment | None
        if source.deleted:
            deleted = self.store.list_experiments(project_id, deleted=True)
            found = next((e for e in deleted if e.name == name), None)
        else:
            found = self.store.find_experiment(project_id, name)
        if found is None:
            try:
                found = self.store.create_experiment(project_id, name, description)
            except AlreadyExists:  # a deleted MLflow experiment whose name a live one has
                name = f"{name[: MAX_NAME - 40]} (deleted MLflow experiment {source.id})"
                found = self.store.create_experiment(project_id, name, description)
        tags = valid_tags(source.tags, f"experiment {source.name!r}", self.problem)
        if tags:
            found = self.store.set_experiment_tags(found.id, tags)
        return found

    # -- runs, one at a time (any store) ----------------------------------------------------
    def copy_run(
        self,
        run: MlflowRun,
        experiment: Experiment,
        data: RunData | None = None,
        existed: bool | None = None,
    ) -> None:
        """Copy one run, or top up one an earlier import left running or without files.
        ``data`` is the run's data when it was read already, ``existed`` whether the store
        has the iteration, when known."""
        what = describe(run)
        if run.deleted and self.skip_deleted:
            self.report.runs_skipped += 1
            return
        try:
            if existed is None:
                try:
                    self.store.get_iteration(run.id)
                    existed = True
                except NotFound:
                    existed = False
            if data is None and not (run.name and run.start_ms):
                data = self.reader.run_data(run)
            name = run.name or (data and data.tags.get("mlflow.runName")) or run.id
            started = seconds(run.start_ms) or first_time(data) or time.time()
            # Creating an id that exists returns that iteration: one call tells both
            iteration = self.store.create_iteration(
                run.id, name[:MAX_NAME], experiment.id, None, started, _system(run)
            )
            if iteration.ended_at is not None:  # copied by an earlier import
                self.report.runs_present += 1
                if self.files is not None:
                    present = {a.name for a in self.store.list_artifacts(run.id)}
                    self.copy_artifacts(run, present)
            else:  # new, or left running (by MLflow or by an interrupted import): top it up
                data = data or self.reader.run_data(run)
                points = self.copy_data(run, data, started, existed)
                if existed:
                    self.report.runs_present += 1
                    self.report.runs_running += 1
                else:
                    self.report.runs_copied += 1
                    self.report.points += points
            if run.deleted and iteration.deleted_at is None:
                self.store.delete_iteration(run.id)
        except MlopsError as exc:
            if isinstance(exc, Unavailable):
                raise
            self.problem(f"{what}: not copied: {exc}")

    def copy_data(self, run: MlflowRun, data: RunData, started: float, existed: bool) -> int:
        """Everything a running iteration does not have yet (a value sent again is a retry the
        store skips), then its end; returns the number of metric values sent."""
        run_ = Prepared(run, data, started, self.problem)
        rows, first = run_.rows, True
        dataset_ids = self.dataset_ids(run, data)
        if run_.status is not None and not run_.every_value and len(rows) <= POINTS_PER_BATCH:
            # the whole run in the one transaction that ends it
            self.store.end_iteration(
                run.id, run_.status, run_.ended_at, parameters=run_.parameters, metrics=rows,
                dataset_ids=dataset_ids, tags=run_.tags,
            )  # fmt: skip
        else:  # several values at one step need log_batch's every_value
            for start in range(0, max(len(rows), 1), POINTS_PER_BATCH):
                self.store.log_batch(
                    run.id, run_.parameters if first else None,
                    rows[start : start + POINTS_PER_BATCH], dataset_ids if first else None,
                    tags=run_.tags if first else None, every_value=run_.every_value,
                )  # fmt: skip
                first = False
            if run_.status is not None:
                self.store.end_iteration(run.id, run_.status, run_.ended_at)
        if self.files is not None:  # records of files are allowed after the end
            present = {a.name for a in self.store.list_artifacts(run.id)} if existed else set()
            self.copy_artifacts(run, present)
        return len(rows)

    # -- runs, many per transaction (SQL stores) --------------------------------------------
    def copy_runs_in_bulk(self, runs: list[MlflowRun], experiment: Experiment) -> None:
        """New runs are written many per transaction; runs an earlier import left (ended,
        running or without files) go one at a time."""
        from mlops.store.sql.bulk import stored_states

        states = stored_states(self.store, [r.id for r in runs])  # type: ignore[arg-type]
        pending: list[tuple[MlflowRun, Any, list[str]]] = []
        points = 0

        def new(run: MlflowRun) -> bool:
            return run.id not in states and not (run.deleted and self.skip_deleted)

        source = self.sql_source()
        if source is not None:
            runs = self.copy_runs_in_sql(runs, experiment, new, source)
        for run, data in read_ahead(self.reader, runs, new):
            if data is None:
                self.copy_run(run, experiment, existed=run.id in states)
                self.tick()
                continue
            try:
                if isinstance(data, Exception):
                    raise data
                item = self.new_iteration(run, data, experiment)
            except (MlopsError, OSError, ValueError) as exc:
                if isinstance(exc, Unavailable):
                    raise
                self.problem(f"{describe(run)}: not copied: {exc}")
                self.tick()
                continue
            pending.append((run, item, data.problems))
            points += len(item.metrics)
            if len(pending) >= RUNS_PER_WRITE or points >= POINTS_PER_WRITE:
                self.write_pending(pending, experiment)
                pending, points = [], 0
        self.write_pending(pending, experiment)

    def sql_source(self) -> str | None:
        """The MLflow SQLite file when both the source and the store are SQLite: the metric
        values are then copied by SQL from one database into the other."""
        source = getattr(self.reader, "sqlite_file", None)
        engine = getattr(self.store, "_engine", None)
        if source is None or engine is None or engine.dialect.name != "sqlite":
            return None
        return str(source)

    def copy_runs_in_sql(
        self,
        runs: list[MlflowRun],
        experiment: Experiment,
        new: Callable[[MlflowRun], bool],
        source: str,
    ) -> list[MlflowRun]:
        """Copy the new runs whose every metric value mlops keeps as it is (checked in SQL)
        with their values copied by SQL, many per transaction; returns the other runs (stored
        already, or with a value the rules refuse or several values at one step), which go
        the Python way (that names what is wrong, and keeps every value).

        The runs are copied in the order of their ids: the points' key starts with the run id,
        so each transaction appends to the end of the points' b-tree instead of splitting
        pages all over it (a third less CPU per run into a fresh store). A transaction of
        runs that all have a start (and an end when ended) is copied optimistically: the rows
        checked by the copy itself in one pass over the source; should one fail, nothing is
        written and the same runs are checked first (``metric_stats``), then copied."""
        from mlops.store.sql.bulk import NotCopyable

        fresh = sorted((run for run in runs if new(run)), key=lambda run: run.id)
        handled: set[str] = set()
        for start in range(0, len(fresh), RUNS_PER_WRITE):
            chunk = fresh[start : start + RUNS_PER_WRITE]
            data = {run.id: self.read_without_metrics(run) for run in chunk}
            if all(_plain(run) for run in chunk):
                try:
                    handled |= self.write_in_sql(chunk, data, experiment, source, None)
                    continue
                except NotCopyable:  # rare: check the runs, then copy those that pass
                    pass
            stats = self.reader.metric_stats([run.id for run in chunk])  # type: ignore[attr-defined]
            try:
                handled |= self.write_in_sql(chunk, data, experiment, source, stats)
            except NotCopyable:  # several values at one step: those runs go the Python way
                repeated = self.reader.metric_stats(  # type: ignore[attr-defined]
                    [run.id for run in chunk], repeats=True
                )
                stats = {k: (False, *v[1:]) if k in repeated else v for k, v in stats.items()}
                handled |= self.write_in_sql(chunk, data, experiment, source, stats)
        return [run for run in runs if run.id not in handled]

    def read_without_metrics(self, run: MlflowRun) -> RunData | Exception:
        """The run's params, tags and datasets (its metric values are copied by SQL)."""
        try:
            return self.reader.run_data(run, metrics=False)  # type: ignore[call-arg]
        except (MlopsError, OSError, ValueError) as exc:
            if isinstance(exc, Unavailable):
                raise
            return exc

    def write_in_sql(
        self,
        chunk: list[MlflowRun],
        data: dict[str, RunData | Exception],
        experiment: Experiment,
        source: str,
        stats: dict[str, tuple[bool, int, int | None, int | None]] | None,
    ) -> set[str]:
        """Write the runs of one transaction with their values copied by SQL: all of them
        unchecked (``stats`` None: raises ``NotCopyable`` when one fails the copy's checks),
        or those whose ``stats`` say they can be; returns the runs handled (written, or
        listed as not copied)."""
        handled: set[str] = set()
        pending: list[tuple[MlflowRun, Any, list[str]]] = []
        failed: list[str] = []
        for run in chunk:
            in_source: tuple[int, int | None, int | None] = (-1, None, None)
            if stats is not None:
                ok, count, first, last = stats[run.id]
                if not ok:
                    continue
                in_source = (count, first, last)
            handled.add(run.id)
            found = data[run.id]
            try:
                if isinstance(found, Exception):
                    raise found
                item = self.new_iteration(run, found, experiment, in_source)
            except (MlopsError, OSError, ValueError) as exc:
                if isinstance(exc, Unavailable):
                    raise
                failed.append(f"{describe(run)}: not copied: {exc}")
                continue
            pending.append((run, item, found.problems))
        self.write_pending(pending, experiment, source)
        for message in failed:  # told once the write held (a NotCopyable retries the chunk)
            self.problem(message)
            self.tick()
        return handled

    def new_iteration(
        self,
        run: MlflowRun,
        data: RunData,
        experiment: Experiment,
        in_source: tuple[int, int | None, int | None] | None = None,
    ) -> Any:
        """The run as a NewIteration; ``in_source``: its metric values are left in the
        source, (their number, first and last time in ms) told instead."""
        from mlops.store.sql.bulk import NewIteration

        first = in_source[1] / 1000 if in_source and in_source[1] is not None else None
        started = seconds(run.start_ms) or first or first_time(data) or time.time()
        run_ = Prepared(run, data, started, self.problem, check=False)
        if in_source is not None:
            last = in_source[2] / 1000 if in_source[2] is not None else started
            run_.ended_at = max(seconds(run.end_ms) or last, started)
        name = run.name or data.tags.get("mlflow.runName") or run.id
        return NewIteration(
            id=run.id, name=name[:MAX_NAME], experiment_id=experiment.id, started_at=started,
            system=_system(run), status=run_.status or "running",
            ended_at=run_.ended_at if run_.status else None,
            deleted_at=time.time() if run.deleted else None, parameters=run_.parameters,
            metrics=run_.rows, dataset_ids=self.dataset_ids(run, data), tags=run_.tags,
            every_value=run_.every_value,
            points_in_source=in_source[0] if in_source is not None else None,
        )  # fmt: skip

    def write_pending(
        self,
        pending: list[tuple[MlflowRun, Any, list[str]]],
        experiment: Experiment,
        source: str | None = None,
    ) -> None:
        from mlops.store.sql.bulk import write_iterations

        if not pending:
            return
        items = [item for _, item, _ in pending]
        copied: list[int] = []
        try:
            written = set(write_iterations(self.store, items, source, copied))  # type: ignore[arg-type]
        except InvalidInput:  # a run with something mlops refuses: one at a time, to name it
            for run, _, _ in pending:
                self.copy_run(run, experiment, existed=False)
                self.tick()
            return
        for run, item, problems in pending:
            if run.id in written:
                self.report.problems += [f"{describe(run)}: {p}" for p in problems]
                self.report.runs_copied += 1
                self.report.points += len(item.metrics) + max(item.points_in_source or 0, 0)
                if self.files is not None:
                    self.copy_artifacts(run, set())
            else:  # another import wrote it meanwhile
                self.copy_run(run, experiment, existed=True)
        if any(item.points_in_source == -1 for item in items):  # counted by the copy
            self.report.points += sum(copied)
        self.tick(len(pending))

    # -- datasets and files -----------------------------------------------------------------
    def dataset_ids(self, run: MlflowRun, data: RunData) -> list[str]:
        found = (self.dataset(ds, describe(run)) for ds in data.datasets)
        return [d for d in found if d]

    def dataset(self, source: MlflowDataset, what: str) -> str | None:
        """The id of the mlops dataset of an MLflow dataset input (registered once)."""
        key = (source.name, source.digest, source.source)
        if key not in self._datasets:
            context = source.tags.get("mlflow.data.context")
            try:
                created = self.store.create_dataset(
                    source.name, dataset_path(source),
                    f"MLflow dataset ({source.source_type or 'unknown source'})",
                    [context] if context and valid_name(context) else [], None,
                    f"mlflow:{source.digest}" if source.digest else None, None, None,
                )  # fmt: skip
            except InvalidInput as exc:
                self.problem(f"{what}: dataset {source.name[:80]!r} not linked: {exc}")
                return None
            self._datasets[key] = created.id
        return self._datasets[key]

    def copy_artifacts(self, run: MlflowRun, present: set[str]) -> None:
        """Copy the run's files the iteration does not have yet."""
        from mlops.artifacts.names import check_name as check_artifact_name
        from mlops.tracking._files import media_type

        what = describe(run)
        rows: list[Artifact] = []
        try:
            found = self.reader.artifacts(run)
            first = next(found, None)
            if first is None:  # most runs: no batch to open (and no disk sync to pay)
                return
            with self.files.batch():
                for name, path in itertools.chain([first], found):
                    if name in present:
                        continue
                    try:
                        check_artifact_name(name)
                    except InvalidInput as exc:
                        self.problem(f"{what}: artifact not copied: {exc}")
                        continue
                    blob = self.files.put(path)
                    rows.append(
                        Artifact(
                            run.id, name, blob.size, blob.digest, media_type(name), time.time()
                        )
                    )
        except (ArtifactsUnreadable, OSError) as exc:
            self.problem(f"{what}: artifacts not copied: {exc}")
        for start in range(0, len(rows), ARTIFACTS_PER_CALL):
            self.store.log_artifacts(run.id, rows[start : start + ARTIFACTS_PER_CALL])
        self.report.artifacts += len(rows)


def _plain(run: MlflowRun) -> bool:
    """Whether a run's times are its own (a start, and an end when it ended): else the
    first and last metric times stand in, which the checking pass reads."""
    return bool(seconds(run.start_ms)) and (
        ENDED.get(run.status) is None or bool(seconds(run.end_ms))
    )


def _is_sql(store: Store) -> bool:
    from mlops.store.sql.store import SqlStore

    return isinstance(store, SqlStore)


def _system(run: MlflowRun) -> dict[str, str]:
    return {"imported_from": "mlflow", "mlflow_experiment_id": run.experiment_id}
