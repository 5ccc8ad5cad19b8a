"""Track a Hugging Face ``transformers`` training with one line::

    from mlops.integrations.transformers import MlopsCallback

    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir="out", report_to="none"),
        train_dataset=train,
        eval_dataset=val,
        callbacks=[MlopsCallback()],
    )
    trainer.train()

Pass the callback in ``callbacks=[...]``: transformers' ``report_to`` accepts only the
trackers it ships, so ``report_to="mlops"`` does not exist; ``report_to="none"`` keeps the
other trackers that happen to be installed (TensorBoard, W&B, MLflow...) quiet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from mlops.errors import InvalidInput
from mlops.integrations._common import flatten, keep_copy, number, numbers, warn_once
from mlops.integrations._params import plain_parameters
from mlops.integrations._training import STOPPED, Trainings
from mlops.tracking import Iteration

__all__ = ["MlopsCallback"]

#: Where checkpoints go among the iteration's artifacts.
CHECKPOINTS = "checkpoints"
#: The error recorded for a training that raised where no callback could see the error.
NOT_FINISHED = STOPPED.format(framework="transformers")


class MlopsCallback(TrainerCallback):
    """A ``transformers.TrainerCallback`` that records a training as an mlops iteration:
    ``Trainer(..., callbacks=[MlopsCallback()])`` (add ``report_to="none"`` to the
    ``TrainingArguments`` to keep other installed trackers quiet).

    What it records:

    - when training begins, the training arguments (``args.to_dict()``, nested values
      flattened; tokens, passwords and other secret-looking settings such as ``hub_token``
      are never recorded; values longer than 1,000 characters are cut) and the model's config
      under ``model.`` (``model.hidden_size``, ...) as parameters;
    - every number the Trainer logs, at ``state.global_step``: training values under
      ``train/`` (``train/loss``, ``train/learning_rate``, ``train/grad_norm``,
      ``train/epoch``, and at the end ``train/train_runtime``,
      ``train/train_samples_per_second``, ``train/train_loss``, ...), evaluation values
      under ``eval/`` (``eval_loss`` becomes ``eval/loss``) and ``test_`` ones under
      ``test/``;
    - with ``log_checkpoints=True``, each checkpoint folder
      ``<output_dir>/checkpoint-<step>`` as the artifact folder ``checkpoints/checkpoint-<step>``,
      copied when it is saved (``save_total_limit`` deletes old ones later);
    - at the end of training, the best checkpoint (``state.best_model_checkpoint``, known
      when ``metric_for_best_model`` is set) as the tags ``best_checkpoint_path`` (its
      folder), ``best_checkpoint_score``, ``best_checkpoint_monitor`` and, when it was kept,
      ``best_checkpoint`` (its artifact folder); then the status ``finished``.

    A training that raises: transformers calls no callback on an error. An uncaught error
    ends the iteration ``failed`` with that error when the process exits. A caught one
    (``try: trainer.train() except ...``) ends it ``failed`` at the next ``train()`` with the
    same callback, or when the process exits, with a message saying training stopped early.
    To record the error itself, own the iteration::

        with tracking.start_iteration("bert-small") as it:
            Trainer(..., callbacks=[MlopsCallback(iteration=it)]).train()

    Args:
        iteration: log to this iteration and leave it running for its owner; by default the
            callback starts one when training begins and ends it when training ends (each
            ``train()`` is a new iteration).
        name: the name of the iteration it starts (default: ``transformers`` and the time).
        project_id, experiment_id: where to start it (default: the active ones).
        log_checkpoints: keep the checkpoint folders as artifacts (off by default: big).
        system_metrics: as :func:`mlops.tracking.start_iteration` takes it (``False``: none).

    Only the main process (``state.is_world_process_zero``, and the library's ``RANK`` rule)
    records anything. ``trainer.evaluate()`` after ``train()`` adds its ``eval/`` values to
    the same iteration (reopened, then ended again).
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
        if not isinstance(log_checkpoints, bool):
            raise InvalidInput(f"log_checkpoints must be True or False, got {log_checkpoints!r}")
        self._trainings = Trainings(
            "transformers", iteration, name, project_id, experiment_id, system_metrics
        )
        self._run = self._trainings.run
        self._log_checkpoints = log_checkpoints
        self._warned: set[str] = set()

    @property
    def iteration(self) -> Iteration:
        """The iteration this callback records to (started now when there is none yet)."""
        return self._run.iteration

    # -- the Trainer's events -----------------------------------------------------------------
    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """Start the iteration (ending a previous one whose training raised) and record the
        training arguments and the model config."""
        if not state.is_world_process_zero:
            return
        it = self._trainings.begin()
        params = {k: v for k, v in args.to_dict().items() if not k.endswith("_token")}
        flat = plain_parameters(flatten(params))
        config = getattr(model, "config", None)
        to_dict = getattr(config, "to_dict", None)
        if callable(to_dict):
            flat.update(plain_parameters(flatten(to_dict(), prefix="model")))
        try:
            it.log_parameters(flat)
        except InvalidInput as exc:
            warn_once(self._warned, "parameters", f"mlops: parameters not recorded: {exc}")

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record the logged numbers under ``train/``, ``eval/`` or ``test/`` at the global
        step."""
        if not state.is_world_process_zero or not logs:
            return
        values = {_metric_name(k): v for k, v in numbers(logs).items()}
        if not values:
            return
        run = self._run
        outside = not self._trainings.training and run.owned and run.started
        outside = outside and run.iteration._ended
        it = run.reopen() if outside else run.iteration
        try:
            it.log_metrics(values, step=state.global_step)
        except InvalidInput as exc:
            warn_once(self._warned, f"metrics:{exc}", f"mlops: metrics not recorded: {exc}")
        if outside:
            self._run.end("finished")

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """With ``log_checkpoints=True``: copy the checkpoint folder just saved."""
        training = self._trainings.training
        if not self._log_checkpoints or not state.is_world_process_zero or not training:
            return
        name = f"checkpoint-{state.global_step}"
        folder = Path(args.output_dir or ".") / name
        if not folder.is_dir():
            warn_once(
                self._warned, f"missing:{folder}", f"mlops: no checkpoint folder {folder} to keep"
            )
            return
        try:
            keep_copy(self._run.iteration, folder, f"{CHECKPOINTS}/{name}")
        except InvalidInput as exc:  # no place for files (a PostgreSQL store without one)
            warn_once(self._warned, "checkpoints", f"mlops: checkpoints not kept: {exc}")
            return
        self._mark_best(args, state)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Mark the best checkpoint and end the iteration ``finished``."""
        if not state.is_world_process_zero or not self._trainings.training:
            return
        self._mark_best(args, state)
        self._trainings.end("finished")

    # -- the work -----------------------------------------------------------------------------
    def _mark_best(self, args: TrainingArguments, state: TrainerState) -> None:
        best = state.best_model_checkpoint
        if not best:
            return
        tags = {"best_checkpoint_path": str(best)}
        if self._log_checkpoints:
            tags["best_checkpoint"] = f"{CHECKPOINTS}/{Path(best).name}"
        score = number(state.best_metric)
        if score is not None:
            tags["best_checkpoint_score"] = repr(score)
        if args.metric_for_best_model:
            tags["best_checkpoint_monitor"] = str(args.metric_for_best_model)
        self._run.iteration.set_tags(tags)


def _metric_name(key: str) -> str:
    """The name of a Trainer log entry, as W&B and the App's chart groups show them."""
    for prefix in ("eval", "test"):
        if key.startswith(f"{prefix}_"):
            return f"{prefix}/{key[len(prefix) + 1 :]}"
    return f"train/{key}"
