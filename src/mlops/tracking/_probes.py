"""What the system metrics sampler reads: the process, the machine and NVIDIA GPUs.

Every reading is a probe, a function returning some raw values by name. A probe that raises is
turned off for the rest of the process with one warning, so that a counter psutil cannot read
on some platform (or a GPU that stops answering) never stops the others, nor training.

Raw values, turned into metrics by :mod:`mlops.tracking._system_metrics`:

- ``cpu_seconds``: CPU time (user + system) of this process, all its threads;
- ``memory_rss_mb``: resident memory of this process; ``memory_percent``: the machine's memory
  in use;
- ``disk_read_bytes`` / ``disk_write_bytes``: bytes this process read from and wrote to storage
  (``psutil.Process().io_counters()``, on Linux and Windows; where psutil has no per-process
  counters, as on macOS, the machine's disks instead);
- ``net_sent_bytes`` / ``net_recv_bytes``: bytes sent and received by the whole machine (every
  network interface: operating systems count network traffic per interface, not per process);
- per GPU ``i``: ``gpu{i}/utilization`` (percent), ``gpu{i}/memory_used_mb``,
  ``gpu{i}/temperature_c``, ``gpu{i}/power_w``.

``MB`` here is 2**20 bytes (a mebibyte), as ``nvidia-smi`` and ``top`` count memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["MB", "Probes", "gpu_probes"]

MB = float(2**20)

Reading = dict[str, float]
Probe = tuple[str, Callable[[], Reading]]


class Probes:
    """The probes of this process, read together once per sample.

    ``psutil`` is the module (imported by the caller, so that ``import mlops.tracking`` stays
    light); ``gpus`` are the GPU probes (:func:`gpu_probes`), empty without a GPU.
    """

    def __init__(self, psutil: Any, gpus: list[Probe]) -> None:
        process = psutil.Process()
        self.process_started = float(process.create_time())
        self._process = process
        # Both counter sources are asked once here: a platform without per-process counters
        # falls back to the machine's disks instead of warning at every start.
        disk: Callable[[], Any] = process.io_counters
        try:
            disk()
        except (AttributeError, NotImplementedError, OSError, psutil.Error):
            disk = psutil.disk_io_counters

        def cpu() -> Reading:
            times = process.cpu_times()
            return {"cpu_seconds": float(times.user + times.system)}

        def rss() -> Reading:
            return {"memory_rss_mb": process.memory_info().rss / MB}

        def machine_memory() -> Reading:
            return {"memory_percent": float(psutil.virtual_memory().percent)}

        def disk_io() -> Reading:
            counters = disk()
            return {
                "disk_read_bytes": float(counters.read_bytes),
                "disk_write_bytes": float(counters.write_bytes),
            }

        def net_io() -> Reading:
            counters = psutil.net_io_counters()
            return {
                "net_sent_bytes": float(counters.bytes_sent),
                "net_recv_bytes": float(counters.bytes_recv),
            }

        self._probes: list[Probe] = [
            ("cpu", cpu),
            ("memory", rss),
            ("machine memory", machine_memory),
            ("disk", disk_io),
            ("network", net_io),
            *gpus,
        ]
        self._oneshot = process.oneshot

    @property
    def names(self) -> list[str]:
        """The probes still on, by name (``cpu``, ``disk``, ``gpu0/power_w``, ...)."""
        return [name for name, _read in self._probes]

    def read(self) -> Reading:
        """Every probe's values; a probe that raises is turned off with one warning."""
        values: Reading = {}
        with self._oneshot():  # psutil reads /proc/self/stat once for cpu and memory
            for probe in list(self._probes):
                name, read = probe
                try:
                    values.update(read())
                except Exception as exc:
                    self._probes.remove(probe)
                    warnings.warn(
                        f"mlops: reading the system metric {name!r} failed "
                        f"({type(exc).__name__}: {exc}); it is no longer recorded in this "
                        "process (the other system metrics and training go on)",
                        RuntimeWarning,
                        stacklevel=1,
                    )
        return values


def gpu_probes(nvml: Any = None) -> list[Probe]:
    """One probe per reading of each NVIDIA GPU, through NVML, or none at all (no error, no
    warning) when ``nvidia-ml-py`` is not installed, there is no driver or there is no GPU.

    ``nvml`` is the ``pynvml`` module of ``nvidia-ml-py``, imported when not given; the tests
    pass a stand-in object with the same functions (``nvmlInit``, ``nvmlDeviceGetCount``,
    ``nvmlDeviceGetHandleByIndex``, ``nvmlDeviceGetUtilizationRates``,
    ``nvmlDeviceGetMemoryInfo``, ``nvmlDeviceGetTemperature``, ``nvmlDeviceGetPowerUsage``), since
    no GPU is available where they run. Each reading is its own probe: a GPU that cannot report
    its power still reports its utilization.
    """
    if nvml is None:
        try:
            import pynvml
        except Exception:  # not installed (or broken): no GPU metrics
            return []
        nvml = pynvml
    try:
        nvml.nvmlInit()
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception:  # NVMLError without a driver or a GPU: nothing, quietly
        return []
    sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    readings: dict[str, Callable[[Any], float]] = {
        "utilization": lambda h: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu),
        "memory_used_mb": lambda h: nvml.nvmlDeviceGetMemoryInfo(h).used / MB,
        "temperature_c": lambda h: float(nvml.nvmlDeviceGetTemperature(h, sensor)),
        "power_w": lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0,  # NVML gives milliwatts
    }
    return [
        (f"gpu{i}/{metric}", _gpu_reading(f"gpu{i}/{metric}", read, handle))
        for i, handle in enumerate(handles)
        for metric, read in readings.items()
    ]


def _gpu_reading(name: str, read: Callable[[Any], float], handle: Any) -> Callable[[], Reading]:
    def probe() -> Reading:
        return {name: float(read(handle))}

    return probe
