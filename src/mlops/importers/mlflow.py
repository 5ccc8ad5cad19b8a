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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.entities import Artifact, Experiment
from mlops.errors import AlreadyExists, InvalidInput, MlopsError, NotFound
from mlops.importers._records import (
    ArtifactsUnreadable,
    MlflowDataset,
    MlflowExperiment,
    MlflowReader,
    MlflowRun,
    RunData,
)
from mlops.store.base import MetricRow, Store
from mlops.values import MAX_NAME, MAX_STEP, MAX_TIMESTAMP, check_name, check_parameter

__all__ = ["ImportReport", "import_mlflow", "open_mlflow_source"]

#: Points sent in one ``log_batch`` at most (a run with millions of points goes in parts).
POINTS_PER_BATCH = 50_000
#: Artifact rows recorded in one call at most.
ARTIFACTS_PER_CALL = 1000
#: What MLflow's ended statuses become; RUNNING and SCHEDULED stay running.
ENDED = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did: counts, and what it could not copy (each with the reason)."""

    source: str
    experiments: int = 0
    runs_copied: int = 0
    #: Runs already in mlops from an earlier import (only missing files were copied).
    runs_present: int = 0
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

    def problem(self, message: str) -> None:
        self.report.problems.append(message)

    def run(self, wanted: Sequence[str] | None, progress: Progress | None) -> ImportReport:
        chosen = _choose(self.reader.experiments(), wanted)
        work = [(e, self.reader.runs(e)) for e in chosen]
        # MLflow's Default experiment always exists: an empty one is not worth a copy
        work = [(e, runs) for e, runs in work if runs or e.tags or not _default(e, wanted)]
        if self.skip_deleted:
            work = [(e, runs) for e, runs in work if not e.deleted]
        total, done = sum(len(runs) for _, runs in work), 0
        if progress is not None:
            progress(0, total)
        for experiment, runs in work:
            target = self.experiment(experiment)
            for run in runs:
                self.copy_run(run, target)
                done += 1
                if progress is not None:
                    progress(done, total)
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
        name = source.name if len(source.name) <= MAX_NAME else source.name[:MAX_NAME]
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
        tags = self.valid_tags(source.tags, f"experiment {source.name!r}")
        if tags:
            found = self.store.set_experiment_tags(found.id, tags)
        return found

    # -- runs -------------------------------------------------------------------------------
    def copy_run(self, run: MlflowRun, experiment: Experiment) -> None:
        what = f"run {run.id}" + (f" ({run.name})" if run.name else "")
        try:
            existing = self.store.get_iteration(run.id)
        except NotFound:
            existing = None
        except InvalidInput as exc:
            self.problem(f"{what}: its id cannot be an iteration id: {exc}")
            return
        if existing is None and run.deleted and self.skip_deleted:
            self.report.runs_skipped += 1
            return
        try:
            if existing is not None and existing.ended_at is not None:
                self.report.runs_present += 1
                if self.files is not None:
                    present = {a.name for a in self.store.list_artifacts(run.id)}
                    self.copy_artifacts(run, what, present)
            else:
                self.copy_new(run, experiment, what, existing is None)
                self.report.runs_copied += 1
            if run.deleted and (existing is None or existing.deleted_at is None):
                self.store.delete_iteration(run.id)
        except MlopsError as exc:
            if type(exc).__name__ == "Unavailable":
                raise
            self.problem(f"{what}: not copied: {exc}")

    def copy_new(self, run: MlflowRun, experiment: Experiment, what: str, create: bool) -> None:
        data = self.reader.run_data(run)
        self.report.problems += [f"{what}: {p}" for p in data.problems]
        rows = self.metric_rows(data, what)
        times = [row[3] for row in rows]
        started = _seconds(run.start_ms) or (min(times) if times else time.time())
        if create:
            name = run.name or data.tags.get("mlflow.runName") or run.id
            system = {"imported_from": "mlflow", "mlflow_experiment_id": run.experiment_id}
            self.store.create_iteration(
                run.id, name[:MAX_NAME], experiment.id, None, started, system
            )
        params = self.valid_params(data.params, what)
        tags = self.valid_tags(data.tags, what)
        dataset_ids = [d for d in (self.dataset(ds, what) for ds in data.datasets) if d]
        first = True
        for start in range(0, max(len(rows), 1), POINTS_PER_BATCH):
            chunk = rows[start : start + POINTS_PER_BATCH]
            if first or chunk:
                self.store.log_batch(
                    run.id, params if first else None, chunk, dataset_ids if first else None,
                    tags=tags if first else None, every_value=True,
                )  # fmt: skip
            first = False
        self.report.points += len(rows)
        if self.files is not None:
            self.copy_artifacts(run, what, set())
        status = ENDED.get(run.status)
        if status is not None:
            ended = _seconds(run.end_ms) or max([started, *times])
            self.store.end_iteration(run.id, status, max(ended, started))

    def metric_rows(self, data: RunData, what: str) -> list[MetricRow]:
        """MLflow's (key, step, value, ms) as mlops rows; points mlops cannot keep are
        counted per metric and listed."""
        rows: list[MetricRow] = []
        bad: dict[str, int] = {}
        names: dict[str, bool] = {}
        for key, step, value, ms in data.metrics:
            ok = names.get(key)
            if ok is None:
                ok = names[key] = _valid_name(key)
            seconds = ms / 1000.0
            if ok and 0 <= step <= MAX_STEP and 0.0 <= seconds <= MAX_TIMESTAMP:
                rows.append((key, step, value, seconds))
            else:
                bad[key] = bad.get(key, 0) + 1
        for key, count in bad.items():
            why = (
                "a name mlops cannot keep (empty, NUL or over 250 characters)"
                if not names[key]
                else "a negative step or a timestamp before 1970"
            )
            self.problem(f"{what}: metric {key!r}: {count} value(s) not copied: {why}")
        # MLflow's order of the values at one step: by time, then as read
        rows.sort(key=lambda r: (r[0], r[1], r[3]))
        return rows

    def valid_params(self, params: dict[str, str], what: str) -> dict[str, str]:
        kept = {}
        for key, value in params.items():
            try:
                check_name(key, "parameter name")
                kept[key] = check_parameter(key, value)
            except InvalidInput as exc:
                self.problem(f"{what}: parameter {key[:80]!r} not copied: {exc}")
        return kept

    def valid_tags(self, tags: dict[str, str], what: str) -> dict[str, str]:
        kept = {}
        for key, value in tags.items():
            if _valid_name(key) and "\x00" not in value:
                kept[key] = value
            else:
                self.problem(
                    f"{what}: tag {key[:80]!r} not copied (a name over 250 characters or a NUL)"
                )
        return kept

    def dataset(self, source: MlflowDataset, what: str) -> str | None:
        """The id of the mlops dataset of an MLflow dataset input (registered once)."""
        key = (source.name, source.digest, source.source)
        if key not in self._datasets:
            context = source.tags.get("mlflow.data.context")
            try:
                created = self.store.create_dataset(
                    source.name, _dataset_path(source),
                    f"MLflow dataset ({source.source_type or 'unknown source'})",
                    [context] if context and _valid_name(context) else [], None,
                    f"mlflow:{source.digest}" if source.digest else None, None, None,
                )  # fmt: skip
            except InvalidInput as exc:
                self.problem(f"{what}: dataset {source.name[:80]!r} not linked: {exc}")
                return None
            self._datasets[key] = created.id
        return self._datasets[key]

    def copy_artifacts(self, run: MlflowRun, what: str, present: set[str]) -> None:
        """Copy the run's files the iteration does not have yet."""
        from mlops.artifacts.names import check_name as check_artifact_name
        from mlops.tracking._files import media_type

        rows: list[Artifact] = []
        try:
            with self.files.batch():
                for name, path in self.reader.artifacts(run):
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
        except ArtifactsUnreadable as exc:
            self.problem(f"{what}: artifacts not copied: {exc}")
        except OSError as exc:
            self.problem(f"{what}: artifacts not copied: {exc}")
        for start in range(0, len(rows), ARTIFACTS_PER_CALL):
            self.store.log_artifacts(run.id, rows[start : start + ARTIFACTS_PER_CALL])
        self.report.artifacts += len(rows)


def _choose(found: list[MlflowExperiment], wanted: Sequence[str] | None) -> list[MlflowExperiment]:
    if not wanted:
        return found
    chosen = []
    for given in wanted:
        match = next((e for e in found if given in (e.id, e.name)), None)
        if match is None:
            names = ", ".join(repr(e.name) for e in found[:20]) or "none"
            raise InvalidInput(
                f"the MLflow source has no experiment named or numbered {given!r} (it has {names})"
            )
        if match not in chosen:
            chosen.append(match)
    return chosen


def _default(experiment: MlflowExperiment, wanted: Sequence[str] | None) -> bool:
    """MLflow's own Default experiment, not asked for by name."""
    return experiment.id == "0" and experiment.name == "Default" and not wanted


def _dataset_path(source: MlflowDataset) -> str:
    """Where the data is, from MLflow's dataset source JSON (``{"uri": ...}``)."""
    import json

    try:
        parsed = json.loads(source.source)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("uri", "url", "path", "table_name", "location"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return str(parsed[key])
    return source.source or f"mlflow:{source.source_type or 'dataset'}:{source.name}"


def _valid_name(name: str) -> bool:
    return bool(name.strip()) and len(name) <= MAX_NAME and "\x00" not in name


def _seconds(ms: int | None) -> float | None:
    return None if ms is None or ms <= 0 else ms / 1000.0
