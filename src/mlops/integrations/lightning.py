"""Track a PyTorch Lightning 2.x training with one line::

    from mlops.integrations.lightning import MlopsLogger

    trainer = lightning.pytorch.Trainer(max_epochs=10, logger=MlopsLogger())
    trainer.fit(model, train_loader, val_loader)

It needs the ``lightning`` package (``import lightning.pytorch``, Lightning 2.x); the older
standalone ``pytorch_lightning`` package is not supported (its ``Logger`` is another class).
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.logger import _convert_params, _sanitize_callable_params
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from mlops.errors import InvalidInput, MlopsError
from mlops.integrations._common import Run, flatten, keep_copy, number, numbers, warn_once
from mlops.integrations._params import plain_parameters
from mlops.tracking import Iteration

__all__ = ["MlopsLogger"]

#: Where checkpoints go among the iteration's artifacts.
CHECKPOINTS = "checkpoints"


class MlopsLogger(Logger):
    """A Lightning ``Logger`` that records a training as an mlops iteration:
    ``Trainer(logger=MlopsLogger())``.

    What it records:

    - the hyperparameters (``self.save_hyperparameters()`` in the ``LightningModule``, or
      ``trainer.logger.log_hyperparams(...)``) as parameters, nested dicts flattened to
      ``outer.inner``;
    - every metric logged with ``self.log(...)`` / ``self.log_dict(...)`` at the trainer's
      global step (``train_loss``, ``val_loss``, ``epoch``, ... under the names you gave);
    - with ``log_checkpoints=True``, each checkpoint the ``ModelCheckpoint`` callback saves,
      copied at once (Lightning deletes the older top-k files later) as the artifact
      ``checkpoints/<file name>``, the best one marked with the tag ``best_checkpoint`` (its
      artifact name);
    - the best checkpoint of ``ModelCheckpoint`` as the tags ``best_checkpoint_path`` (the
      file), ``best_checkpoint_score`` and ``best_checkpoint_monitor`` (the last saved one,
      without a score, when nothing is monitored);
    - the end: ``finished`` when ``fit`` returns, ``failed`` with the error's type and message
      when training raises (``killed`` on Ctrl-C).

    Args:
        iteration: log to this iteration (from :func:`mlops.tracking.start_iteration`) and
            leave it running for its owner; by default the logger starts one when training
            starts and ends it when training ends.
        name: the name of the iteration it starts (default: ``lightning`` and the time).
        project_id, experiment_id: where to start it (default: the active ones).
        log_checkpoints: keep the checkpoints as artifacts (off by default: they can be big).
        system_metrics: as :func:`mlops.tracking.start_iteration` takes it (``False``: none).

    Only the process of rank zero records anything (Lightning's ``rank_zero_only``, and the
    library's ``RANK`` rule). ``version`` is the iteration's id and ``experiment`` the
    :class:`~mlops.tracking.Iteration` itself (``trainer.logger.experiment.log_text(...)``).
    A ``trainer.test(...)`` after ``fit`` logs to the same iteration: it is reopened for the
    test metrics and ended again.
    """

    def __init__(
        self,
        iteration: Iteration | None = None,
        name: str | None = None,
        project_id: str | None = None,
        experiment_id: str | None = None,
        log_checkpoints: bool = False,
        system_metrics: bool | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(log_checkpoints, bool):
            raise InvalidInput(f"log_checkpoints must be True or False, got {log_checkpoints!r}")
        self._run = Run("lightning", iteration, name, project_id, experiment_id, system_metrics)
        self._log_checkpoints = log_checkpoints
        self._kept: dict[str, tuple[int, int]] = {}  # checkpoint path -> (mtime, size) copied
        self._warned: set[str] = set()

    # -- what Lightning asks a logger ---------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The id of the iteration's experiment (Lightning uses it in the checkpoint folder:
        ``<default_root_dir>/<name>/<version>/checkpoints``)."""
        if _rank() != 0:
            return None
        it = self._run.iteration
        return it.get("experiment_id") or "mlops"

    @property
    def version(self) -> str | None:
        """The id of the iteration."""
        if _rank() != 0:
            return None
        it = self._run.iteration
        return it.id or "disabled"

    @property
    def save_dir(self) -> str | None:
        """None: the logger keeps nothing in a local folder of its own."""
        return None

    @property
    @rank_zero_experiment
    def experiment(self) -> Iteration:
        """The :class:`~mlops.tracking.Iteration` this logger records to."""
        return self._run.iteration

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Record hyperparameters (a dict or an ``argparse.Namespace``) as parameters."""
        values = {str(k): v for k, v in _convert_params(params).items()}
        flat = plain_parameters(_sanitize_callable_params(flatten(values)))
        if flat:
            self._safely("hyperparameters", lambda: self._open().log_parameters(flat))
        else:
            self._open()  # start the iteration when training starts, even without any

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record ``metrics`` at ``step`` (Lightning passes the global step)."""
        values = numbers(metrics)
        skipped = sorted(set(metrics) - set(values))
        if skipped:
            warn_once(
                self._warned,
                f"metrics:{skipped}",
                f"mlops: left out metric(s) {skipped}: not numbers",
            )
        if values:
            self._safely("metrics", lambda: self._open().log_metrics(values, step))

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Mark the best checkpoint; with ``log_checkpoints=True``, copy those just saved."""
        self._safely("checkpoints", lambda: self._keep_checkpoints(checkpoint_callback))

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the iteration this logger started: ``finished`` on ``"success"``; on
        ``"failed"`` (Lightning calls it while it handles the error) ``failed`` with that
        error, or ``killed`` for Ctrl-C. A given iteration is left running."""
        if status != "failed":
            self._run.end("finished")
            return
        error = sys.exc_info()[1]
        self._run.end("killed" if isinstance(error, KeyboardInterrupt) else "failed", error)

    # -- the work -----------------------------------------------------------------------------
    def _open(self) -> Iteration:
        """The iteration, reopened when Lightning finalized it and goes on logging (``fit``
        then ``test`` with the same trainer)."""
        return self._run.reopen()

    def _keep_checkpoints(self, callback: ModelCheckpoint) -> None:
        it = self._open()
        paths = {callback.best_model_path, callback.last_model_path, *callback.best_k_models}
        # The file just written, even when a coarse clock gives it its old mtime (last.ckpt).
        just_saved = getattr(callback, "_last_checkpoint_saved", None)
        for path in sorted(p for p in paths if p and self._log_checkpoints):
            try:
                stat = os.stat(path)
            except OSError:  # deleted already, or never written
                continue
            seen = (stat.st_mtime_ns, stat.st_size)
            if self._kept.get(path) == seen and path != just_saved:
                continue
            keep_copy(it, path, f"{CHECKPOINTS}/{Path(path).name}")
            self._kept[path] = seen
        best = callback.best_model_path
        if best:
            tags = {"best_checkpoint_path": str(Path(best).absolute())}
            if self._log_checkpoints:
                tags["best_checkpoint"] = f"{CHECKPOINTS}/{Path(best).name}"
            score = number(callback.best_model_score)
            if score is not None:
                tags["best_checkpoint_score"] = repr(score)
            if callback.monitor:
                tags["best_checkpoint_monitor"] = str(callback.monitor)
            it.set_tags(tags)

    def _safely(self, what: str, call: Any) -> None:
        """Run ``call``; a value the store refuses is warned about once, never raised into
        the training loop."""
        try:
            call()
        except MlopsError as exc:
            if not isinstance(exc, InvalidInput):
                raise
            warn_once(self._warned, f"{what}:{exc}", f"mlops: {what} not recorded: {exc}")


def _rank() -> int:
    """This process's rank as Lightning knows it (0 outside a distributed job)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)
