"""Copy TensorBoard logs into mlops: each run folder becomes an iteration.

``import_tensorboard(logdir, store)`` finds every folder under ``logdir`` holding event files
(``events.out.tfevents.*``); each becomes an iteration named by its path relative to
``logdir`` (``.`` is the logdir's own name) in one experiment (default: the logdir's folder
name) of one project (default ``tensorboard``). Its scalars become metric series with their
steps and wall times, every value kept (a step written twice, after a restart, keeps both);
scalars written as tensors (TF2's ``tf.summary.scalar``) too. The hyperparameters of the
HParams plugin become parameters; the sub-folder that ``torch.utils.tensorboard``'s
``add_hparams`` writes (a timestamp-named folder with the hparams and their metrics) is merged
into the run folder above it. The iteration's id is derived from the experiment and the
folder, so importing again copies nothing twice.

Event files are read with the ``tensorboard`` package (``pip install
"mlops-library[tensorboard]"``). Images, histograms, audio and graphs are not copied; the
report counts what was left out.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.entities import Experiment
from mlops.errors import InvalidInput, MlopsError, NotFound
from mlops.importers.mlflow import POINTS_PER_BATCH, ImportReport
from mlops.store.base import MetricRow, Store
from mlops.values import MAX_NAME, MAX_STEP, MAX_TIMESTAMP, check_name

__all__ = ["import_tensorboard", "run_folders"]

_EVENTS = "events.out.tfevents."
_NOT_COPIED = ("images", "audio", "histograms", "distributions")


@dataclass
class _Run:
    """What one run folder (with its merged hparams folder) holds."""

    name: str
    scalars: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)


def _accumulator() -> Any:
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise InvalidInput(
            "reading TensorBoard logs needs the tensorboard package: "
            'pip install "mlops-library[tensorboard]"'
        ) from None
    return event_accumulator


def run_folders(logdir: Path) -> list[Path]:
    """The folders under ``logdir`` (itself included) that hold event files, sorted."""
    found = {p.parent for p in logdir.rglob(f"{_EVENTS}*") if p.is_file()}
    return sorted(found)


def _is_hparams_folder(folder: Path, runs: set[Path], read: _Run) -> bool:
    """A folder torch's ``add_hparams`` wrote: hparams inside, named by a timestamp, right
    under another run folder."""
    try:
        float(folder.name)
    except ValueError:
        return False
    return bool(read.hparams) and folder.parent in runs


def _hparam(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    plain: Any = getattr(value, kind) if kind else None
    if kind == "number_value" and math.isfinite(plain) and plain == int(plain):
        return int(plain)
    if kind == "list_value":
        return str(plain)
    return plain


def _read(folder: Path, name: str) -> _Run:
    event_accumulator = _accumulator()
    guidance = {kind: 0 for kind in ("scalars", "tensors")}
    acc = event_accumulator.EventAccumulator(
        str(folder), size_guidance=guidance, purge_orphaned_data=False
    )
    acc.Reload()
    tags = acc.Tags()
    run = _Run(name)
    for tag in tags.get("scalars", ()):
        run.scalars[tag] = [(e.step, float(e.value), float(e.wall_time)) for e in acc.Scalars(tag)]
    for tag in tags.get("tensors", ()):
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            run.left_out["tensors"] = run.left_out.get("tensors", 0) + 1
            continue
        from tensorboard.util import tensor_util

        run.scalars[tag] = [
            (e.step, float(tensor_util.make_ndarray(e.tensor_proto).item()), float(e.wall_time))
            for e in acc.Tensors(tag)
        ]
    for kind in _NOT_COPIED:
        if tags.get(kind):
            run.left_out[kind] = len(tags[kind])
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        content = {}
    if content:
        from tensorboard.plugins.hparams import plugin_data_pb2

        for raw in content.values():
            data = plugin_data_pb2.HParamsPluginData.FromString(raw)
            if data.WhichOneof("data") == "session_start_info":
                for key, value in data.session_start_info.hparams.items():
                    run.hparams[key] = _hparam(value)
    return run


def import_tensorboard(
    logdir: str | Path,
    store: Store,
    *,
    project: str = "tensorboard",
    experiment: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Copy the runs of a TensorBoard logdir into ``store`` (see the module docstring)."""
    root = Path(logdir).expanduser().absolute()
    if not root.is_dir():
        raise NotFound(f"TensorBoard logdir {str(logdir)!r} not found: give the folder of the logs")
    _accumulator()
    folders = run_folders(root)
    if not folders:
        raise InvalidInput(f"{root} holds no TensorBoard event files ({_EVENTS}*)")
    check_name(project, "project")
    name = check_name(experiment or root.name, "experiment name")
    report = ImportReport(str(root))
    target = _experiment(store, project, name)
    report.experiments = 1
    runs: dict[Path, _Run] = {}
    known = set(folders)
    if progress is not None:
        progress(0, len(folders))
    for done, folder in enumerate(folders, 1):
        relative = folder.relative_to(root).as_posix()
        read = _read(folder, root.name if relative == "." else relative)
        if _is_hparams_folder(folder, known, read) and folder.parent in runs:
            parent = runs[folder.parent]
            parent.hparams.update(read.hparams)
            for tag, points in read.scalars.items():
                parent.scalars.setdefault(tag, []).extend(points)
        else:
            runs[folder] = read
        if progress is not None:
            progress(done, len(folders))
    for run in runs.values():
        try:
            _write(store, target, run, report)
        except MlopsError as exc:
            if type(exc).__name__ == "Unavailable":
                raise
            report.problems.append(f"run {run.name!r}: not copied: {exc}")
    return report


def _experiment(store: Store, title: str, name: str) -> Experiment:
    project = next((p for p in store.list_projects() if p.title == title), None)
    if project is None:
        project = store.create_project(title, "Imported from TensorBoard", "active", False)
    found = store.find_experiment(project.id, name)
    return found or store.create_experiment(project.id, name, "Imported from TensorBoard")


def _write(store: Store, experiment: Experiment, run: _Run, report: ImportReport) -> None:
    iteration_id = uuid.uuid5(uuid.NAMESPACE_URL, f"tensorboard:{experiment.id}:{run.name}").hex
    try:
        existing = store.get_iteration(iteration_id)
    except NotFound:
        existing = None
    if existing is not None and existing.ended_at is not None:
        report.runs_present += 1
        return
    rows: list[MetricRow] = []
    for tag, points in run.scalars.items():
        if not tag.strip() or len(tag) > MAX_NAME:
            report.problems.append(
                f"run {run.name!r}: scalar {tag[:80]!r}: its name is over {MAX_NAME} characters"
            )
            continue
        kept = [
            (tag, s, v, t) for s, v, t in points if 0 <= s <= MAX_STEP and 0 <= t <= MAX_TIMESTAMP
        ]
        if len(kept) < len(points):
            report.problems.append(
                f"run {run.name!r}: scalar {tag!r}: {len(points) - len(kept)} value(s) at a "
                "negative step or time not copied"
            )
        rows += kept
    times = [r[3] for r in rows]
    started = min(times) if times else time.time()
    if existing is None:
        system = {"imported_from": "tensorboard"}
        store.create_iteration(
            iteration_id, run.name[:MAX_NAME], experiment.id, None, started, system
        )
    params = {k: v for k, v in run.hparams.items() if k.strip() and len(k) <= MAX_NAME}
    for start in range(0, max(len(rows), 1), POINTS_PER_BATCH):
        store.log_batch(
            iteration_id, params if start == 0 else None, rows[start : start + POINTS_PER_BATCH],
            every_value=True,
        )  # fmt: skip
    store.end_iteration(iteration_id, "finished", max(times) if times else started)
    if existing is None:
        report.runs_copied += 1
        report.points += len(rows)
    else:  # left running by an interrupted import: topped up (values there are retries)
        report.runs_present += 1
        report.runs_running += 1
    for kind, count in run.left_out.items():
        report.problems.append(
            f"run {run.name!r}: {count} {kind} tag(s) not copied (only scalars and hparams are)"
        )
