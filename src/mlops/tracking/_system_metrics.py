"""System metrics: CPU, memory, disk, network and GPUs sampled while an iteration runs.

While an iteration runs, one daemon thread per process (``mlops-system-metrics``, serving every
running iteration of the process) samples, every ``MLOPS_SYSTEM_METRICS_INTERVAL`` seconds
(default 10, fractions allowed, ``0`` turns it off), and logs to each iteration, through its
normal ``log_metrics``, at steps 0, 1, 2, ... (one step per sample; the points' timestamps are
wall time):

=============================  ==============================================================
``system/cpu_percent``         CPU use of this process since the previous sample, in percent
                               of one core (above 100 with several busy threads); the first
                               point is the average since the process started
``system/memory_rss_mb``       resident memory of this process
``system/memory_percent``      memory in use on the machine
``system/disk_read_mb``        read from storage by this process (by the machine where psutil
                               has no per-process counters, as on macOS), since the start
``system/disk_write_mb``       written to storage, likewise
``system/net_sent_mb``         sent over the network by the whole machine since the start
                               (network traffic is counted per interface, not per process)
``system/net_recv_mb``         received by the whole machine since the start
``system/gpu{i}/...``          per NVIDIA GPU (through ``nvidia-ml-py`` when a driver is
                               present; nothing when not): ``utilization`` (percent),
                               ``memory_used_mb``, ``temperature_c``, ``power_w``
=============================  ==============================================================

MB are 2**20 bytes. The first sample is taken at once when the iteration starts (the baselines
of the cumulative counters: they start at 0) and the last one when it ends, so even a short run
has points. ``start_iteration(..., system_metrics=False)`` turns sampling off for one iteration,
``system_metrics=True`` turns it on even when the variable is ``0`` (at the default interval). A
resumed iteration samples again, its steps and cumulative counters going on from where they
were. A non-zero ``RANK`` of a distributed job samples nothing; a forked child does not sample
its parent's iterations.

The sampler never breaks training: a reading that fails is turned off with one warning, and a
sample that cannot be logged is dropped. Its cost is measured by ``benchmarks/system_metrics.py``.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from mlops.entities import SYSTEM_METRIC_PREFIX
from mlops.errors import InvalidInput, IterationEnded
from mlops.tracking._probes import MB, Probes, Reading, gpu_probes

if TYPE_CHECKING:
    from mlops.tracking._iteration import Iteration

__all__ = ["DEFAULT_INTERVAL", "ENV", "PREFIX", "SAMPLER", "Sampler", "sampling_interval"]

ENV = "MLOPS_SYSTEM_METRICS_INTERVAL"
DEFAULT_INTERVAL = 10.0
PREFIX = SYSTEM_METRIC_PREFIX

#: Raw cumulative counters (bytes) -> the metric that counts them since the start, in MB.
_COUNTERS = {
    "disk_read_bytes": "disk_read_mb",
    "disk_write_bytes": "disk_write_mb",
    "net_sent_bytes": "net_sent_mb",
    "net_recv_bytes": "net_recv_mb",
}

#: Seconds ``end_iteration`` waits for the sampler before it ends without a last sample.
_STOP_WAIT = 2.0


def sampling_interval(system_metrics: bool | None = None) -> float:
    """Seconds between system metric samples for a new iteration; 0 when off.

    ``system_metrics`` is ``start_iteration``'s argument: False is off, True is on (at the
    variable's interval, or the default when the variable is ``0``), None follows
    ``MLOPS_SYSTEM_METRICS_INTERVAL``. Raises ``InvalidInput`` for a variable that is not a
    number of seconds >= 0, whatever the argument (a typo should not hide)."""
    raw = os.environ.get(ENV, "").strip()
    interval = DEFAULT_INTERVAL
    if raw:
        try:
            interval = float(raw)
        except ValueError:
            interval = -1.0
        if not (math.isfinite(interval) and interval >= 0):
            raise InvalidInput(
                f"{ENV}={raw!r} is not a number of seconds: set it to the seconds between "
                f"system metric samples (e.g. 10, the default, or 0.5), or to 0 to turn system "
                "metrics off"
            )
    if system_metrics is False:
        return 0.0
    if system_metrics is True and interval == 0:
        return DEFAULT_INTERVAL
    return interval


class _Tracked:
    """One iteration the sampler logs to: its schedule, its step and its baselines."""

    def __init__(self, iteration: Iteration, interval: float, resumed: dict[str, Any]) -> None:
        self.iteration = iteration
        self.interval = interval
        self.due = 0.0  # time.monotonic() of the next sample
        ours = {n: s for n, s in resumed.items() if n.startswith(PREFIX)}
        self.step = max((s.get("last_step", -1) for s in ours.values()), default=-1) + 1
        # A resumed iteration's counters go on from their last value.
        self.offset = {
            raw: float(ours[PREFIX + name]["last"])
            for raw, name in _COUNTERS.items()
            if PREFIX + name in ours and math.isfinite(ours[PREFIX + name]["last"])
        }
        self.base: dict[str, float] = {}
        self.shown: dict[str, float] = {}
        self.cpu: tuple[float, float] | None = None  # (wall time, cpu seconds) of the last sample

    def metrics(self, values: Reading, wall: float, process_started: float) -> dict[str, float]:
        """The metrics of one sample, from the raw values (baselines taken at the first)."""
        out: dict[str, float] = {}
        for raw, value in values.items():
            if raw == "cpu_seconds":
                since, before = self.cpu or (process_started, 0.0)
                if wall > since:
                    out["cpu_percent"] = max(value - before, 0.0) / (wall - since) * 100.0
                self.cpu = (wall, value)
            elif raw in _COUNTERS:
                base = self.base.setdefault(raw, value)
                total = self.offset.get(raw, 0.0) + max(value - base, 0.0) / MB
                # Never backwards (an interface that goes away takes its counts with it).
                total = self.shown[raw] = max(total, self.shown.get(raw, 0.0))
                out[_COUNTERS[raw]] = total
            else:
                out[raw] = value
        return {PREFIX + name: v for name, v in out.items()}


class Sampler:
    """The system metrics sampler of this process: one thread for every running iteration."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):  # POSIX only (not on Windows)
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also a forked child's start: it samples none of its parent's iterations, and its
        # probes (psutil's process, NVML) are its own.
        self._tracked: dict[str, _Tracked] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._probes: Probes | None = None
        self._unavailable = False
        self.samples = 0  # taken by this process, for the benchmark and the tests

    # -- the iterations ---------------------------------------------------------------------
    def start(self, iteration: Iteration, interval: float, resumed: dict[str, Any]) -> None:
        """Sample ``iteration`` every ``interval`` seconds from now on (the first sample now);
        ``resumed`` is its stored ``metric_summaries`` when it was resumed."""
        if interval <= 0:
            return
        probes = self._ready_probes()
        if probes is None:
            return
        with self._lock:
            tracked = _Tracked(iteration, interval, resumed)
            self._tracked[iteration.id] = tracked
            self._sample([tracked], probes)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="mlops-system-metrics", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, iteration: Iteration) -> None:
        """Take the last sample of ``iteration`` and sample it no more (it is ending)."""
        if iteration.id not in self._tracked:
            return
        # Bounded: an end at exit or on SIGTERM must not wait for a sampler stuck in a probe.
        locked = self._lock.acquire(timeout=_STOP_WAIT)
        try:
            tracked = self._tracked.pop(iteration.id, None)
            if locked and tracked is not None and self._probes is not None:
                self._sample([tracked], self._probes)
        finally:
            if locked:
                self._lock.release()

    def sampling(self, iteration_id: str) -> bool:
        """Whether the iteration with this id is sampled by this process."""
        return iteration_id in self._tracked

    # -- sampling ---------------------------------------------------------------------------
    def _ready_probes(self) -> Probes | None:
        if self._probes is None and not self._unavailable:
            try:
                import psutil
            except ImportError:
                self._unavailable = True
                warnings.warn(
                    "mlops: system metrics are off: psutil is not installed "
                    f"(pip install psutil, or set {ENV}=0 to silence this)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return None
            try:
                self._probes = Probes(psutil, gpu_probes())
            except Exception as exc:  # psutil cannot see this process: no system metrics
                self._unavailable = True
                warnings.warn(
                    f"mlops: system metrics are off in this process: psutil cannot read it "
                    f"({type(exc).__name__}: {exc})",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return self._probes

    def _sample(self, due: list[_Tracked], probes: Probes) -> None:
        """One reading, logged to each iteration in ``due`` (under the lock)."""
        values = probes.read()
        wall, now = time.time(), time.monotonic()
        self.samples += 1
        for tracked in due:
            tracked.due = now + tracked.interval
            iteration = tracked.iteration
            try:
                metrics = tracked.metrics(values, wall, probes.process_started)
                if metrics:
                    iteration.log_metrics(metrics, tracked.step)
                tracked.step += 1
            except IterationEnded:
                self._tracked.pop(iteration.id, None)
            except Exception as exc:  # never the training run's problem
                self._tracked.pop(iteration.id, None)
                sys.stderr.write(
                    f"mlops: system metrics of iteration {iteration.id} stopped: could not log "
                    f"them ({type(exc).__name__}: {exc})\n"
                )

    def _run(self) -> None:
        while True:
            try:
                self._tick()
            except Exception as exc:  # the thread must outlive any one failure
                sys.stderr.write(f"mlops: the system metrics sampler failed: {exc!r}\n")
                time.sleep(1.0)

    def _tick(self) -> None:
        """Wait for the next iteration due, then sample it (and those nearly due)."""
        with self._lock:
            dues = [t.due for t in self._tracked.values()]
        timeout = max(min(dues) - time.monotonic(), 0.0) if dues else None
        self._wake.wait(timeout)
        self._wake.clear()
        with self._lock:
            probes, now = self._probes, time.monotonic()
            tracked = list(self._tracked.values())
            if probes is None or not any(t.due <= now for t in tracked):
                return
            # Those due within half their interval come along: iterations started at
            # different times soon share the same samples.
            self._sample([t for t in tracked if t.due - t.interval / 2 <= now], probes)


SAMPLER = Sampler()
