"""What an MLflow reader hands the importer: plain records, the same for every kind of source.

A reader (:mod:`~mlops.importers.mlflow_files`, :mod:`~mlops.importers.mlflow_db`,
:mod:`~mlops.importers.mlflow_rest`) turns MLflow's own layout into these records and nothing
else; :mod:`mlops.importers.mlflow` decides what becomes of them in mlops. Times stay in
MLflow's epoch milliseconds here.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlops.errors import MlopsError

#: Runs a reader that waits on the network reads ahead of the writer.
READ_AHEAD = 16

__all__ = [
    "ArtifactsUnreadable",
    "MlflowDataset",
    "MlflowExperiment",
    "MlflowReader",
    "MlflowRun",
    "RunData",
    "mlflow_status",
    "read_ahead",
]

#: MLflow's run statuses by the numbers its file store writes in meta.yaml.
STATUS_BY_NUMBER = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
#: MLflow's SQL stores keep +/-Inf as the largest double (SQL has no Inf); read back as Inf.
DOUBLE_MAX = 1.7976931348623157e308


def mlflow_status(value: object) -> str:
    """An MLflow status as its name (``FINISHED``), from the name or the file store's number."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return STATUS_BY_NUMBER.get(int(value), "RUNNING")
    return str(value or "RUNNING").upper()


def metric_value(value: float, is_nan: bool = False) -> float:
    """A value as MLflow's SQL store kept it, with NaN and +/-Inf restored; ``ValueError``
    for one that is not a number (text in a hand-made or damaged database)."""
    if is_nan:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"value {value!r:.80} is not a number")
    if value >= DOUBLE_MAX:
        return float("inf")
    if value <= -DOUBLE_MAX:
        return float("-inf")
    return float(value)


class ArtifactsUnreadable(MlopsError):
    """A run's artifacts cannot be read from this source (a remote artifact root, a folder
    that is gone); the importer lists the run and goes on."""


@dataclass(frozen=True)
class MlflowExperiment:
    """An MLflow experiment as stored."""

    id: str
    name: str
    deleted: bool
    tags: dict[str, str]
    created_ms: int | None = None
    artifact_location: str | None = None


@dataclass(frozen=True)
class MlflowRun:
    """The run's info (what MLflow's ``RunInfo`` holds)."""

    id: str
    experiment_id: str
    name: str | None
    status: str
    start_ms: int | None
    end_ms: int | None
    deleted: bool
    artifact_uri: str | None = None


@dataclass(frozen=True)
class MlflowDataset:
    """A dataset a run logged as an input (``mlflow.log_input``)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    #: The input's tags (``mlflow.data.context``: training, eval, ...).
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunData:
    """Everything a run logged but its files: params and tags as text, every metric value."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: (key, step, value, epoch seconds), every value MLflow kept, ordered by key and step
    #: (the values of one step in the order they were logged, when the source knows it, else
    #: by time): the rows ``log_batch`` takes.
    metrics: list[tuple[str, int, float, float]] = field(default_factory=list)
    datasets: list[MlflowDataset] = field(default_factory=list)
    #: What the reader could not read of this run (a malformed metric line ...).
    problems: list[str] = field(default_factory=list)


class MlflowReader(Protocol):
    """Reads one MLflow source: an ``mlruns/`` folder, a database, or a server."""

    #: The source as shown to the user (a password is never in it).
    description: str
    #: Whether runs are best read in a thread ahead of the writer: yes for a server (the
    #: wait is the network's); no for a local database or folder, whose reads hold Python's
    #: GIL as much as the writer does (measured: a thread made the import slower).
    read_in_thread: bool

    def experiments(self) -> list[MlflowExperiment]:
        """Every experiment, deleted ones too."""

    def runs(self, experiment: MlflowExperiment) -> list[MlflowRun]:
        """Every run of an experiment, deleted ones too."""

    def run_data(self, run: MlflowRun) -> RunData:
        """A run's params, tags, full metric histories and dataset inputs."""

    def artifacts(self, run: MlflowRun) -> Iterator[tuple[str, Path]]:
        """The run's files as (relative name, a local file to read them from). A file
        downloaded for the purpose is removed once the next one is asked for. Raises
        :class:`ArtifactsUnreadable` when the run's artifact root cannot be read here."""

    def close(self) -> None:
        """Release connections."""


def local_artifacts(root: Path) -> Iterator[tuple[str, Path]]:
    """The files under a local artifact folder, by relative ``/``-separated name."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root).as_posix(), path


def local_root(uri: str | None) -> Path | None:
    """The folder of a local artifact URI (``file:///x`` or a plain path); None for a remote
    one (``s3://``, ``mlflow-artifacts:/``, ...)."""
    if not uri:
        return None
    if uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path))
    if "://" in uri or uri.startswith("mlflow-artifacts:"):
        return None
    with contextlib.suppress(OSError, ValueError):
        return Path(uri).expanduser().absolute()
    return None


def read_ahead(
    reader: MlflowReader, runs: list[MlflowRun], wanted: Callable[[MlflowRun], bool]
) -> Iterator[tuple[MlflowRun, RunData | Exception | None]]:
    """The runs with their data (None for a run not wanted, the exception when it could not
    be read). A reader that waits on the network is read a few runs ahead in a thread;
    others in turn with the writer."""
    if not reader.read_in_thread:
        for run in runs:
            if not wanted(run):
                yield run, None
                continue
            try:
                data = reader.run_data(run)
            except Exception as exc:  # handed to the caller, which names the run
                yield run, exc
            else:
                yield run, data
        return
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="mlops-import-read") as pool:
        window: deque[tuple[MlflowRun, Future[RunData] | None]] = deque()
        ahead = iter(runs)

        def fill() -> None:
            while len(window) < READ_AHEAD:
                run = next(ahead, None)
                if run is None:
                    return
                window.append((run, pool.submit(reader.run_data, run) if wanted(run) else None))

        fill()
        while window:
            run, future = window.popleft()
            fill()
            if future is None:
                yield run, None
                continue
            try:
                yield run, future.result()
            except Exception as exc:  # handed to the caller, which names the run
                yield run, exc
