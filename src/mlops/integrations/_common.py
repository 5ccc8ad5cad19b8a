"""What every framework integration shares: the iteration it logs to, flat parameters,
numbers out of framework values, and files handed to the uploader.

Nothing here imports a framework; each integration module imports its own.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import tracking
from mlops.artifacts.names import check_name
from mlops.errors import InvalidInput
from mlops.tracking import Iteration
from mlops.tracking._files import media_type, spool_folder

__all__ = ["Run", "finite", "flatten", "keep_copy", "number", "numbers", "spool_dir", "warn_once"]


class Run:
    """The iteration an integration logs to.

    Given an ``iteration``, it logs there and never ends it (its owner does). Otherwise it
    starts one, when first needed, named ``name`` (default: the framework and the time) in
    ``project_id`` / ``experiment_id`` (default: the active ones), with ``system_metrics``
    as :func:`mlops.tracking.start_iteration` takes it, and ends it in :meth:`end`. A non-zero
    ``RANK`` gets the library's disabled iteration, which checks every call and records
    nothing.
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
        if iteration is not None and not isinstance(iteration, Iteration):
            raise InvalidInput(
                f"iteration= takes the Iteration that tracking.start_iteration returned, got "
                f"{type(iteration).__name__}"
            )
        if iteration is not None and (project_id is not None or experiment_id is not None):
            raise InvalidInput(
                "pass either iteration= (an iteration already started) or project_id= / "
                "experiment_id= (where to start one), not both"
            )
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInput(f"name= must be a non-empty string, got {name!r}")
        self.framework = framework
        self._given = iteration
        self._name = name
        self._project_id = project_id
        self._experiment_id = experiment_id
        self._system_metrics = system_metrics
        self._started: Iteration | None = None
        self._lock = threading.Lock()
        self._ipython_hook: Any = None

    @property
    def owned(self) -> bool:
        """Whether this integration started the iteration (and so ends it)."""
        return self._given is None

    @property
    def started(self) -> bool:
        """Whether there is an iteration yet (one was given, or one was started)."""
        return self._given is not None or self._started is not None

    @property
    def iteration(self) -> Iteration:
        """The iteration, started at the first use when none was given."""
        if self._given is not None:
            return self._given
        with self._lock:
            if self._started is None:
                name = self._name or f"{self.framework} {time.strftime('%Y-%m-%d %H:%M:%S')}"
                self._started = tracking.start_iteration(
                    name,
                    project_id=self._project_id,
                    experiment_id=self._experiment_id,
                    system_metrics=self._system_metrics,
                )
                self._watch_notebook_errors()
            return self._started

    def restart(self) -> None:
        """Forget an owned iteration that has ended, so that the next use starts a new one (a
        second ``fit`` with the same callback is a second iteration)."""
        if self._started is not None and self._started._ended:
            self._started = None

    def reopen(self) -> Iteration:
        """The iteration, reopened when it is owned and has ended (a framework that logs
        after its training ended: Lightning's ``test`` after ``fit``, ``trainer.evaluate()``
        after ``train()``); a given iteration as it is."""
        started = self._started
        if self._given is not None or started is None or not started._ended:
            return self.iteration
        if started.id is None:  # a disabled iteration (non-zero rank): a new one checks calls
            self.restart()
            return self.iteration
        self._started = tracking.resume_iteration(started.id)
        return self._started

    def end(self, status: str = "finished", error: BaseException | str | None = None) -> None:
        """End an owned iteration as ``status``; ``failed`` without an ``error`` takes the
        exception being handled, if any. A given iteration is left to its owner."""
        started = self._started
        if started is None or started._ended:
            return
        if status != "finished" and error is None:
            error = sys.exc_info()[1]
        self._unwatch_notebook_errors()
        started.end_iteration(status, error)

    # -- notebooks ---------------------------------------------------------------------------
    # A cell that raises does not end the process, so the library's end-of-process hook does
    # not see the error: end an owned iteration as failed after such a cell.
    def _watch_notebook_errors(self) -> None:
        shell = _ipython()
        if shell is None:
            return

        def post_run_cell(result: Any) -> None:
            error = getattr(result, "error_in_exec", None)
            if error is not None and self._started is not None and not self._started._ended:
                self.end("failed", error)

        shell.events.register("post_run_cell", post_run_cell)
        self._ipython_hook = (shell, post_run_cell)

    def _unwatch_notebook_errors(self) -> None:
        hook, self._ipython_hook = self._ipython_hook, None
        if hook is not None:
            shell, callback = hook
            with contextlib.suppress(ValueError):  # already gone
                shell.events.unregister("post_run_cell", callback)


def _ipython() -> Any:
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except Exception:
        return None


def flatten(values: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts as one level of ``outer.inner`` names (as MLflow and W&B show nested
    configs); lists and scalars stay values."""
    flat: dict[str, Any] = {}
    stack: list[tuple[str, Mapping[str, Any]]] = [(prefix, values)]
    while stack:
        head, mapping = stack.pop()
        for key, value in mapping.items():
            name = f"{head}{sep}{key}" if head else str(key)
            if isinstance(value, Mapping) and value:
                stack.append((name, value))
            else:
                flat[name] = value
    return dict(sorted(flat.items()))


def number(value: Any) -> float | None:
    """A framework value as a float: Python and numpy numbers, one-element tensors and arrays;
    None for anything else (strings, lists, None, booleans)."""
    if isinstance(value, bool | str | bytes) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    size = getattr(value, "size", None)
    numel = getattr(value, "numel", None)
    try:
        if callable(numel):
            if numel() != 1:
                return None
        elif isinstance(size, int) and size != 1:
            return None
        item = getattr(value, "item", None)
        plain = item() if callable(item) else value
        if isinstance(plain, bool):
            return None
        return float(plain)
    except (TypeError, ValueError, RuntimeError):
        return None


def numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric entries of ``values`` as floats, named ``prefix + name``; the rest is left
    out (frameworks put strings and lists among their logs)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        got = number(value)
        if got is not None:
            out[f"{prefix}{key}"] = got
    return out


def finite(value: float | None) -> bool:
    """Whether a score is a real number (not None, NaN or infinite)."""
    return value is not None and not math.isnan(value) and not math.isinf(value)


def spool_dir() -> Path:
    """A new folder under the spool for files an integration writes (a saved model) before it
    hands them to the uploader with :func:`keep_copy`."""
    folder = spool_folder() / f"integration-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    return folder


def keep_copy(iteration: Iteration, path: str | os.PathLike[str], name: str) -> None:
    """Keep the file or folder at ``path`` as the artifact ``name`` of ``iteration``, as it is
    now: the bytes are copied to the spool at once (a checkpoint the framework deletes or
    overwrites later is still kept) and the uploader sends and removes the copy."""
    iteration._check_open()
    source = Path(os.fspath(path))
    if not source.exists():
        raise InvalidInput(f"{str(source)!r} does not exist: nothing to keep as {name!r}")
    files: list[tuple[Path, str]]
    if source.is_dir():
        files = [
            (p, f"{name}/{p.relative_to(source).as_posix()}")
            for p in sorted(source.rglob("*"))
            if p.is_file()
        ]
    else:
        files = [(source, name)]
    for _, artifact in files:
        check_name(artifact)
    for file, artifact in files:
        # A copy, not a hard link: torch.save rewrites a checkpoint's file in place.
        copy = spool_folder() / uuid.uuid4().hex
        shutil.copyfile(file, copy)
        iteration._queue(copy, artifact, media_type(artifact), spooled=True)


def warn_once(seen: set[str], key: str, message: str) -> None:
    """Warn ``message`` the first time ``key`` is seen in ``seen``."""
    if key not in seen:
        seen.add(key)
        warnings.warn(message, stacklevel=3)
