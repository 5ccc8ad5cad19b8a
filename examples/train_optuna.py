"""Tune an optimizer with Optuna and track every trial with mlops.

Each trial runs gradient descent with momentum on a badly scaled quadratic bowl, with the
learning rate and the momentum Optuna suggests, and reports its loss every 10 steps; the
median pruner stops trials that fall behind. One line hooks the study up to mlops::

    study.optimize(objective, n_trials=30, callbacks=[MlopsCallback(experiment_id=...)])

Every trial becomes one iteration of the experiment ``quadratic-demo`` in the project
``optuna-demo`` (both made on the first run): its parameters, its final ``value``, the
reported losses as the series ``intermediate/value``, the tag ``optuna.state`` (``COMPLETE``
or ``PRUNED``) and ``optuna.best=true`` on the best trial. Nothing is downloaded; it takes a
second or two. Run it and look at the results with::

    MLOPS_HOME=./.demo-home python examples/train_optuna.py
    MLOPS_HOME=./.demo-home mlops iterations list
    MLOPS_HOME=./.demo-home mlops app
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import optuna

from mlops import tracking
from mlops.integrations.optuna import MlopsCallback

PROJECT = "optuna-demo"
STUDY = "quadratic-demo"
STEPS = 100
SCALES = (1.0, 10.0, 100.0)  # the bowl's curvature along each axis


def descend(lr: float, momentum: float, steps: int, report: optuna.Trial | None = None) -> float:
    """Gradient descent with momentum on sum(scale * x**2) from (1, 1, 1); returns the loss."""
    x = [1.0] * len(SCALES)
    velocity = [0.0] * len(SCALES)
    loss = sum(s * v * v for s, v in zip(SCALES, x, strict=True))
    for step in range(steps):
        for i, scale in enumerate(SCALES):
            velocity[i] = momentum * velocity[i] - lr * 2 * scale * x[i]
            x[i] += velocity[i]
        loss = sum(s * v * v for s, v in zip(SCALES, x, strict=True))
        if loss != loss or loss > 1e12:  # diverged: report a large loss and stop
            loss = 1e12
        if report is not None and step % 10 == 9:
            report.report(loss, step)
            if report.should_prune():
                raise optuna.TrialPruned()
        if loss >= 1e12:
            break
    return loss


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    momentum = trial.suggest_float("momentum", 0.0, 0.99)
    return descend(lr, momentum, STEPS, report=trial)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="trials to run (default: 30)")
    args = parser.parse_args(argv)
    if args.trials < 1:
        raise SystemExit("--trials must be at least 1")
    started = time.perf_counter()

    # exist_ok: a second run adds its trials to the same project and experiment
    project = tracking.create_project(PROJECT, "Optuna studies tracked by mlops", exist_ok=True)
    experiment = tracking.create_experiment(
        STUDY, "momentum SGD on a quadratic bowl", project_id=project["id"], exist_ok=True
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=20),
    )
    callback = MlopsCallback(experiment_id=experiment["id"])
    study.optimize(objective, n_trials=args.trials, callbacks=[callback])

    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    best = study.best_trial
    best_id = callback.iteration_ids[(STUDY, best.number)]
    print(f"{len(study.trials)} trials ({pruned} pruned) in {time.perf_counter() - started:.1f} s")
    print(
        f"best trial {best.number}: loss {best.value:.3g} with lr={best.params['lr']:.2e}, "
        f"momentum={best.params['momentum']:.3f} (iteration {best_id})"
    )
    print("See them with:  mlops iterations list        or in the web app: mlops app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
