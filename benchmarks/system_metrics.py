"""What the system metrics sampler costs the training process.

Two figures, on the embedded store (SQLite) in a fresh ``MLOPS_HOME``:

1. The sampler's own work per sample (read every probe, turn the readings into metrics, log
   them to the iteration): CPU time of the calling thread over ``--samples`` samples.
2. End to end: the process's CPU time (every thread: the sampler, the background writer that
   writes the points, the heartbeats) while an iteration runs for ``--seconds`` seconds with
   the sampler at a 1 s interval, minus the same with system metrics off; the main thread only
   waits. At 1 s the writer writes one small batch per sample, as it does at the default 10 s,
   so this per-sample cost holds at 10 s too.
3. A short iteration: ``start_iteration`` + ``end_iteration`` with system metrics off and on
   (the first and the last sample, and their 14 points in 7 series, written at the end).

Printed: CPU seconds per sample, and the % of one core at the default 10 s and at 1 s. The
target is under 0.5% of one core at 10 s. No GPU here: on a machine with NVIDIA GPUs each
sample also makes four NVML calls per GPU.

Run::

    .venv/bin/python benchmarks/system_metrics.py
    .venv/bin/python benchmarks/system_metrics.py --seconds 60 --samples 5000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time


def _setup(home: str) -> None:
    os.environ["MLOPS_HOME"] = home
    os.environ.pop("MLOPS_TRACKING_URI", None)
    from mlops import tracking

    project = tracking.create_project("bench-system-metrics")
    tracking.set_active_project(project["id"])
    tracking.set_active_experiment(tracking.create_experiment("sampler")["id"])


def sampler_work(samples: int) -> float:
    """CPU seconds of one sample's work in the calling thread (probes, metrics, log)."""
    from mlops import tracking
    from mlops.tracking._system_metrics import SAMPLER, _Tracked

    it = tracking.start_iteration("direct", system_metrics=False)
    probes = SAMPLER._ready_probes()
    assert probes is not None, "psutil is needed"
    tracked = _Tracked(it, 1.0, {})
    start = time.thread_time()
    for step in range(samples):
        metrics = tracked.metrics(probes.read(), time.time(), probes.process_started)
        it.log_metrics(metrics, step)
    spent = time.thread_time() - start
    it.end_iteration()
    return spent / samples


def process_cpu(seconds: float, interval: float | None) -> tuple[float, int]:
    """Process CPU seconds while one iteration runs ``seconds`` (sampled every ``interval``
    seconds, or not at all), and the samples taken."""
    from mlops import tracking
    from mlops.tracking._system_metrics import SAMPLER

    if interval is None:
        os.environ["MLOPS_SYSTEM_METRICS_INTERVAL"] = "0"
    else:
        os.environ["MLOPS_SYSTEM_METRICS_INTERVAL"] = repr(interval)
    before_samples = SAMPLER.samples
    start = time.process_time()
    it = tracking.start_iteration("sampled" if interval else "quiet")
    threading.Event().wait(seconds)
    it.end_iteration()
    return time.process_time() - start, SAMPLER.samples - before_samples


def per_iteration(iterations: int) -> tuple[float, float]:
    """Mean wall seconds of ``start_iteration`` + ``end_iteration`` of an empty iteration with
    system metrics off and on (its first and last samples, 14 points and 7 series written),
    interleaved so that both see the same load."""
    from mlops import tracking

    os.environ["MLOPS_SYSTEM_METRICS_INTERVAL"] = "10"
    spent = {False: 0.0, True: 0.0}
    for i in range(2 * iterations):
        on = i % 2 == 1
        start = time.perf_counter()
        tracking.start_iteration("short", system_metrics=on).end_iteration()
        spent[on] += time.perf_counter() - start
    return spent[False] / iterations, spent[True] / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="direct samples (figure 1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="each end-to-end run")
    parser.add_argument("--iterations", type=int, default=200, help="short iterations (3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-sysmetrics-") as home:
        _setup(home)
        per_sample = sampler_work(args.samples)
        print(f"sampler work:     {per_sample * 1e3:.3f} ms CPU per sample ({args.samples} taken)")
        print(
            f"                  {per_sample / 10 * 100:.4f}% of one core at 10 s, "
            f"{per_sample / 1 * 100:.3f}% at 1 s"
        )
        quiet, _ = process_cpu(args.seconds, None)
        sampled, samples = process_cpu(args.seconds, 1.0)
        extra = max(sampled - quiet, 0.0)
        each = extra / max(samples, 1)
        print(
            f"end to end:       process CPU {sampled:.3f} s sampled at 1 s vs {quiet:.3f} s "
            f"off, over {args.seconds:g} s each; {samples} samples"
        )
        print(f"                  {each * 1e3:.3f} ms CPU per sample (sampler + writer)")
        print(
            f"                  {each / 10 * 100:.4f}% of one core at 10 s (target < 0.5%), "
            f"{each / 1 * 100:.3f}% at 1 s"
        )
        off, on = per_iteration(args.iterations)
        print(
            f"short iteration:  start + end {off * 1e3:.2f} ms off, {on * 1e3:.2f} ms with system "
            f"metrics (+{(on - off) * 1e3:.2f} ms: the first and last samples, written)"
        )


if __name__ == "__main__":
    main()
