"""Successive trainings through one callback object, and trainings that stop without telling
their callback.

Keras, XGBoost, LightGBM and transformers call no callback when training raises: the callback sees a
beginning and never the end. :class:`Trainings` keeps such a training's iteration from staying
``running`` (or being ended ``finished`` by the library at exit):

- an error that is not caught ends the process, and the library's exit hook ends the iteration
  of the training begun last ``failed`` with that error (earlier ones stopped before it);
- in a notebook, the cell that raised ends it ``failed`` with its error (:class:`Run` watches
  IPython cells);
- an error caught by the script (``try``/``except``): the next training through the same
  callback ends the previous iteration ``failed`` before it starts its own, and so does the
  exit of the process if none comes.

Nothing here imports a framework.
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import shutil
import struct
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.integrations._common import Run, keep_copy, spool_dir
from mlops.tracking import Iteration

__all__ = ["Trainings", "plain", "save_model", "short_float", "to_float32"]

#: The message of an iteration whose training stopped before its end with an error that the
#: script caught (the error itself never reached a callback).
STOPPED = "{framework} training stopped before its end (it raised, and the error was caught)"

_in_flight: set[Trainings] = set()
_order = itertools.count(1)
_lock = threading.Lock()
_hook_installed = False


class Trainings:
    """The iteration of each training run through one callback: given (shared by every
    training, never ended here) or started at each training's beginning and ended at its end.
    """

    def __init__(
        self,
        framework: str,
        iteration: Iteration | None = None,
        name: str | None = None,
        project_id: str | None = None,
        experiment_id: str | None = None,
        system_metrics: bool | None = None,
    ) -> None:
        self.framework = framework
        self.config: dict[str, Any] = {
            "iteration": iteration,
            "name": name,
            "project_id": project_id,
            "experiment_id": experiment_id,
            "system_metrics": system_metrics,
        }
        self.run = Run(framework, **self.config)
        self.training = False
        self.began = 0  # the order in which trainings began, for the exit hook

    def copy(self) -> Trainings:
        """A fresh one with the same arguments (a given iteration is shared, not copied)."""
        return Trainings(self.framework, **self.config)

    @property
    def iteration(self) -> Iteration:
        """The iteration of the current (or last) training; started now if there is none."""
        return self.run.iteration

    def begin(self) -> Iteration:
        """A training begins: end one that never reached its end, and start its iteration."""
        if self.training:
            self.end("failed", STOPPED.format(framework=self.framework))
        self.run.restart()
        iteration = self.run.iteration
        self.training = True
        with _lock:
            self.began = next(_order)
            _in_flight.add(self)
        _install_exit_hook()  # after the iteration started: runs before the library's own
        return iteration

    def end(self, status: str = "finished", error: BaseException | str | None = None) -> None:
        """The training is over: end an owned iteration as ``status``."""
        self.training = False
        with _lock:
            _in_flight.discard(self)
        self.run.end(status, error)


def _install_exit_hook() -> None:
    global _hook_installed
    with _lock:
        if _hook_installed:
            return
        _hook_installed = True
    # atexit runs its hooks last registered first: this one runs before the library's, which
    # would end a training that was never told to stop as ``finished``.
    atexit.register(_end_in_flight)


def _end_in_flight() -> None:
    from mlops.tracking._writer import WRITER

    with _lock:
        stopped = sorted(_in_flight, key=lambda t: t.began)
    if WRITER._uncaught is not None and stopped:
        # The process dies of an error: the training begun last raised it, and the library's
        # own hook ends that one with it. Those begun before stopped earlier (caught).
        stopped = stopped[:-1]
    for trainings in stopped:
        try:
            trainings.end("failed", STOPPED.format(framework=trainings.framework))
        except Exception as exc:  # the process is exiting: say it, never raise
            sys.stderr.write(f"mlops: could not end a {trainings.framework} iteration: {exc}\n")


def save_model(
    iteration: Iteration, file_name: str, save: Callable[[Path], object], framework: str
) -> None:
    """Save a model with ``save(path)`` into a fresh spool folder and keep it as the artifact
    ``model/<file_name>``. A model that cannot be saved warns: the training is over and its
    metrics are kept."""
    folder = spool_dir()
    try:
        path = folder / file_name
        save(path)
        keep_copy(iteration, path, f"model/{file_name}")
    except Exception as exc:
        warnings.warn(
            f"mlops: could not keep the {framework} model as model/{file_name}: "
            f"{type(exc).__name__}: {exc}",
            stacklevel=3,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def plain(value: Any) -> Any:
    """A parameter value as JSON: numpy scalars as numbers (a float32 value as its shortest
    text: ``0.01``, not ``0.009999999776482582``), tuples as lists, other objects as their
    text."""
    if isinstance(value, float):
        return short_float(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "size", 1) == 1:
        try:
            return plain(item())
        except (TypeError, ValueError):
            pass
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def short_float(value: float) -> float:
    """A float that is exactly a float32 (as frameworks keep learning rates) as the shortest
    decimal that is the same float32; any other float as it is."""
    if not math.isfinite(value) or to_float32(value) != value:
        return value
    for digits in range(1, 10):
        shorter = float(f"{value:.{digits}g}")
        if to_float32(shorter) == value:
            return shorter
    return value


def to_float32(value: float) -> float:
    """The float32 nearest to ``value`` (NaN when it is out of float32's range)."""
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.nan
