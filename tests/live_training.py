"""A training process for the live browser tests: one iteration logging ``loss`` every
~0.2 s (steps 0, 1, 2, ...) until ``STOP`` exists; when ``REWRITE`` appears it logs step 0
again once (an earlier step replaced). Run as ``python live_training.py DIR EXPERIMENT_ID``
with ``MLOPS_TRACKING_URI`` set; it writes ``DIR/started`` once its iteration exists."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mlops import tracking


def main() -> None:
    folder, experiment_id = Path(sys.argv[1]), sys.argv[2]
    iteration = tracking.start_iteration("live-run", experiment_id=experiment_id)
    (folder / "started").write_text("yes")
    step, rewritten = 0, False
    while not (folder / "STOP").exists():
        iteration.log_metric("loss", 1.0 / (step + 1), step=step)
        step += 1
        if not rewritten and (folder / "REWRITE").exists():
            iteration.log_metric("loss", 42.0, step=0)
            rewritten = True
        time.sleep(0.2)  # the pace of a training loop, not a wait in a test
    iteration.end_iteration()


if __name__ == "__main__":
    main()
