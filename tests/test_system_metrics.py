"""System metrics: sampled in the background while an iteration runs, shown apart, left out of
tables. The suite turns them off (conftest); these tests turn them on with a short interval and
wait for the samples as events (the sampler's count, the iteration's live summaries)."""

from __future__ import annotations

import csv
import io
import os
import threading
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mlops import tracking
from mlops.app import AppSettings, create_app
from mlops.cli import main
from mlops.config import tracking_uri as current_uri
from mlops.errors import InvalidInput
from mlops.tracking._probes import MB, Probes, gpu_probes
from mlops.tracking._system_metrics import ENV, SAMPLER, sampling_interval

INTERVAL = "0.05"
BASE = [
    "system/cpu_percent", "system/memory_rss_mb", "system/memory_percent",
    "system/disk_read_mb", "system/disk_write_mb", "system/net_sent_mb", "system/net_recv_mb",
]  # fmt: skip
COUNTERS = [n for n in BASE if n.endswith(("_read_mb", "_write_mb", "_sent_mb", "_recv_mb"))]
GPU = ["utilization", "memory_used_mb", "temperature_c", "power_w"]


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, INTERVAL)


def wait_until(done: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def samples_of(it: tracking.Iteration) -> int:
    """How many samples the running iteration has (its live summaries)."""
    summary = it["metric_summaries"].get("system/memory_rss_mb")
    return 0 if summary is None else summary["last_step"] + 1


def wait_for_samples(it: tracking.Iteration, n: int) -> None:
    wait_until(lambda: samples_of(it) >= n, f"{n} samples of {it.name}")


def wait_for_sampler(n: int) -> None:
    """Until the process's sampler has taken ``n`` more samples."""
    target = SAMPLER.samples + n
    wait_until(lambda: SAMPLER.samples >= target, f"{n} more samples")


def system_names(it_id: str) -> set[str]:
    return {n for n in tracking.get_iteration(it_id)["metrics"] if n.startswith("system/")}


def busy(tmp: Path) -> None:
    """A little CPU and disk work."""
    total = 0
    end = time.process_time() + 0.05
    while time.process_time() < end:
        total += sum(range(1000))
    with open(tmp / "blob.bin", "wb") as f:
        f.write(os.urandom(2 * 2**20))
        f.flush()
        os.fsync(f.fileno())


def test_an_iteration_records_every_system_metric_on_every_backend(
    tracking_uri: str, active: dict[str, str], sampled: None, tmp_path: Path
) -> None:
    it = tracking.start_iteration("sampled")
    assert samples_of(it) == 1  # the first sample is taken at once
    it.log_metric("loss", 0.5)
    busy(tmp_path)
    wait_for_samples(it, 4)
    final = it.end_iteration()
    assert set(final["metrics"]) == {"loss", *BASE}
    steps = None
    for name in BASE:
        history = tracking.get_metric_history(it.id, name)
        got = [p["step"] for p in history]
        assert got == list(range(len(got))) and len(got) >= 5, (name, got)  # + the last one
        steps = steps or got
        assert got == steps  # one sample, one step of every metric
        values = [p["value"] for p in history]
        if name in COUNTERS:
            assert values[0] == 0.0 and values == sorted(values), (name, values)
        assert all(v >= 0 for v in values), (name, values)
        assert history[-1]["timestamp"] <= final["ended_at"]
    assert final["metrics"]["system/memory_rss_mb"] > 10
    assert 0 < final["metrics"]["system/memory_percent"] <= 100
    assert final["metric_summaries"]["system/cpu_percent"]["max"] > 0
    assert final["metrics"]["system/disk_write_mb"] >= 1.9  # the 2 MiB written, synced

    # Nothing after the end, while the sampler goes on for another iteration.
    other = tracking.start_iteration("other")
    wait_for_sampler(3)
    assert not SAMPLER.sampling(it.id)
    assert len(tracking.get_metric_history(it.id, "system/cpu_percent")) == len(steps)
    other.end_iteration()


def test_off_per_iteration_and_by_the_variable(
    active: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, INTERVAL)
    on = tracking.start_iteration("on")
    off = tracking.start_iteration("off", system_metrics=False)
    monkeypatch.setenv(ENV, "0")
    zero = tracking.start_iteration("zero")
    forced = tracking.start_iteration("forced", system_metrics=True)  # on at the default 10 s
    wait_for_samples(on, 3)
    assert samples_of(forced) == 1
    for it in (off, zero):
        it.log_metric("loss", 1.0)
        assert set(it.end_iteration()["metrics"]) == {"loss"}
    on.end_iteration()
    assert system_names(forced.end_iteration()["id"]) == set(BASE)
    history = tracking.get_metric_history(forced.id, "system/cpu_percent")
    assert [p["step"] for p in history] == [0, 1]  # at the start and at the end


@pytest.mark.parametrize("raw", ["ten", "-1", "nan", "inf", "1e999", "10s"])
def test_a_bad_interval_is_a_clear_error(
    active: dict[str, str], monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(ENV, raw)
    with pytest.raises(InvalidInput, match=f"{ENV}='{raw}' is not a number of seconds: set it"):
        tracking.start_iteration("bad")
    assert tracking.list_iterations() == []  # nothing was created
    with pytest.raises(InvalidInput, match="system_metrics must be True, False or None"):
        tracking.start_iteration("bad", system_metrics="yes")  # type: ignore[arg-type]


def test_intervals() -> None:
    env = {ENV: " 2.5 "}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert sampling_interval() == 2.5 and sampling_interval(False) == 0
        mp.delenv(ENV)
        assert sampling_interval() == 10.0 and sampling_interval(True) == 10.0


def test_one_thread_serves_every_iteration_and_shares_samples(
    active: dict[str, str], sampled: None
) -> None:
    first = tracking.start_iteration("first")
    second = tracking.start_iteration("second")
    wait_for_samples(second, 4)
    threads = [t for t in threading.enumerate() if t.name == "mlops-system-metrics"]
    assert len(threads) == 1 and threads[0].daemon

    def counts() -> tuple[int, int, int]:
        with SAMPLER._lock:  # the sampler's count and both steps at the same moment
            steps = [SAMPLER._tracked[i.id].step for i in (first, second)]
            return SAMPLER.samples, steps[0], steps[1]

    before = counts()
    wait_for_sampler(4)
    after = counts()
    # Both are logged from the same readings: each sample is one more step of each.
    taken = after[0] - before[0]
    assert taken >= 4 and after[1] - before[1] == after[2] - before[2] == taken
    first.end_iteration()
    second.end_iteration()


def test_a_resumed_iteration_samples_again_and_goes_on(
    active: dict[str, str], sampled: None
) -> None:
    it = tracking.start_iteration("resumable")
    wait_for_samples(it, 2)
    ended = it.end_iteration()
    written = ended["metrics"]["system/disk_write_mb"]
    again = tracking.resume_iteration(it.id)
    assert SAMPLER.sampling(it.id)
    wait_for_samples(again, ended["metric_summaries"]["system/cpu_percent"]["last_step"] + 3)
    again.end_iteration()
    for name in BASE:
        steps = [p["step"] for p in tracking.get_metric_history(it.id, name)]
        assert steps == list(range(len(steps))), name  # no step written twice
    counter = [p["value"] for p in tracking.get_metric_history(it.id, "system/disk_write_mb")]
    assert counter == sorted(counter) and counter[-1] >= written


def test_other_ranks_and_forked_children_sample_nothing(
    active: dict[str, str], sampled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    disabled = tracking.start_iteration("rank-1")
    assert disabled["metrics"] == {} and not SAMPLER.sampling(disabled.id)
    monkeypatch.delenv("RANK")
    it = tracking.start_iteration("parent")
    pid = os.fork()
    if pid == 0:  # the child: none of its parent's iterations, no sampler thread
        os._exit(0 if not SAMPLER.sampling(it.id) and SAMPLER._thread is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert SAMPLER.sampling(it.id)
    it.end_iteration()
    disabled.end_iteration()


# -- probes ----------------------------------------------------------------------------------
class FakeNvml:
    """A stand-in for ``pynvml`` (nvidia-ml-py) with two GPUs: no GPU where the tests run."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, power_fails: bool = False) -> None:
        self.power_fails = power_fails
        self.power_calls = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:
        return f"gpu-{i}"

    def nvmlDeviceGetUtilizationRates(self, h: str) -> Any:
        return types.SimpleNamespace(gpu=40 + int(h[-1]), memory=10)

    def nvmlDeviceGetMemoryInfo(self, h: str) -> Any:
        return types.SimpleNamespace(used=(1 + int(h[-1])) * 2**30, total=16 * 2**30)

    def nvmlDeviceGetTemperature(self, h: str, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 61

    def nvmlDeviceGetPowerUsage(self, h: str) -> int:
        self.power_calls += 1
        if self.power_fails and h == "gpu-1":
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 123_456  # milliwatts


def test_gpu_metrics_through_a_stand_in_for_nvml(
    active: dict[str, str], sampled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SAMPLER, "_probes", Probes(psutil, gpu_probes(FakeNvml())))
    it = tracking.start_iteration("gpu")
    wait_for_samples(it, 2)
    metrics = it.end_iteration()["metrics"]
    assert set(metrics) == {*BASE, *(f"system/gpu{i}/{m}" for i in (0, 1) for m in GPU)}
    assert metrics["system/gpu0/utilization"] == 40 and metrics["system/gpu1/utilization"] == 41
    assert metrics["system/gpu0/memory_used_mb"] == 1024 and metrics["system/gpu1/memory_used_mb"]
    assert metrics["system/gpu0/temperature_c"] == 61
    assert metrics["system/gpu0/power_w"] == pytest.approx(123.456)


def test_a_failing_probe_is_turned_off_with_one_warning() -> None:
    nvml = FakeNvml(power_fails=True)
    probes = Probes(psutil, gpu_probes(nvml))
    with pytest.warns(RuntimeWarning, match="'gpu1/power_w' failed .*NOT_SUPPORTED.* no longer"):
        first = probes.read()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = probes.read()
    assert "gpu1/power_w" not in first and "gpu1/power_w" not in second
    assert "gpu0/power_w" in second and "gpu1/utilization" in second
    assert nvml.power_calls == 3  # gpu0 twice, the failing gpu1 once
    assert "gpu1/power_w" not in probes.names and "gpu0/power_w" in probes.names

    def broken() -> None:
        raise OSError("no /proc/net/dev")

    fake_psutil = types.SimpleNamespace(**{n: getattr(psutil, n) for n in dir(psutil)})
    fake_psutil.net_io_counters = broken
    probes = Probes(fake_psutil, [])
    with pytest.warns(RuntimeWarning, match="'network' failed"):
        values = probes.read()
    assert "net_sent_bytes" not in values and values["memory_rss_mb"] > 0
    assert values["cpu_seconds"] > 0 and values["disk_write_bytes"] >= 0


def test_no_nvidia_driver_means_no_gpu_metrics_and_no_warning() -> None:
    import pynvml  # the real nvidia-ml-py

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        driver = False
    else:
        driver = True
        pynvml.nvmlShutdown()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probes = gpu_probes()
    assert bool(probes) == (driver and pynvml.nvmlDeviceGetCount() > 0)


def test_counters_are_mebibytes() -> None:
    assert MB == 1024 * 1024


# -- where they are shown and where not ------------------------------------------------------
@pytest.fixture
def with_system(active: dict[str, str], sampled: None) -> dict[str, Any]:
    """Two finished iterations with a training metric and system metrics."""
    ids = []
    for i in range(2):
        it = tracking.start_iteration(f"run-{i}")
        it.log_metric("loss", 1.0 / (i + 1))
        it.log_parameter("lr", 0.1 * (i + 1))
        wait_for_samples(it, 2)
        ids.append(it.end_iteration()["id"])
    return {**active, "ids": ids}


def test_the_iteration_page_shows_a_system_group(with_system: dict[str, Any]) -> None:
    app = create_app(AppSettings(store_uri=current_uri()))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get(f"/iterations/{with_system['ids'][0]}")
        assert page.status_code == 200
        html = page.text
        training, system = html.split('data-testid="system-metrics"', 1)
        assert 'data-testid="chart-loss"' in training and "system/" not in training
        assert '<h2 id="system-metrics-title">System</h2>' in system
        for name in BASE:
            assert f'data-testid="chart-{name}" data-metric="{name}"' in system
        assert 'data-testid="chart-loss"' not in system

        experiment = client.get(f"/experiments/{with_system['experiment_id']}.json").json()
        columns = [c["key"] for c in experiment["columns"]]
        assert "metrics.loss" in columns and not any("system/" in c for c in columns)
        assert set(BASE) <= set(experiment["available"]["metrics"])  # the chooser offers them
        assert experiment["available"]["metrics"][0] == "loss"  # after the training metrics
        asked = client.get(
            f"/experiments/{with_system['experiment_id']}.json",
            params={"metrics": "loss,system/cpu_percent"},
        ).json()
        assert "metrics.system/cpu_percent" in [c["key"] for c in asked["columns"]]

        # The REST JSON is data: complete.
        rest = client.get(f"/api/v1/iterations/{with_system['ids'][0]}").json()
        assert set(BASE) <= set(rest["metrics"])


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_tables_and_exports_leave_system_metrics_out(with_system: dict[str, Any]) -> None:
    experiment = with_system["experiment_id"]
    table = cli("iterations", "list", "--experiment", experiment)
    assert "loss" in table and "system/" not in table
    asked = cli("iterations", "list", "--experiment", experiment, "--system-metrics")
    assert "system/cpu_percent" in asked.splitlines()[0]
    sorted_on = cli("iterations", "list", "--experiment", experiment, "--sort", BASE[0])
    assert "system/cpu_percent" in sorted_on and "system/net_sent_mb" not in sorted_on

    header = next(csv.reader(io.StringIO(cli("export", "--experiment", experiment))))
    assert "metrics.loss" in header and not any("system/" in h for h in header)
    header = next(
        csv.reader(io.StringIO(cli("export", "--experiment", experiment, "--system-metrics")))
    )
    assert {f"metrics.{n}" for n in BASE} <= set(header)

    shown = cli("iterations", "show", with_system["ids"][0])
    assert "Metrics (1)" in shown and "System metrics (7)" in shown
    assert shown.index("loss") < shown.index("System metrics") < shown.index("system/cpu_percent")


def test_a_process_psutil_cannot_read_trains_without_system_metrics(
    active: dict[str, str], sampled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlops.tracking._system_metrics as sampler_module

    def refuse(*args: Any) -> None:
        raise psutil.AccessDenied(os.getpid())

    monkeypatch.setattr(SAMPLER, "_probes", None)
    monkeypatch.setattr(SAMPLER, "_unavailable", False)
    monkeypatch.setattr(sampler_module, "Probes", refuse)
    with pytest.warns(RuntimeWarning, match="system metrics are off in this process"):
        it = tracking.start_iteration("unreadable")
    it.log_metric("loss", 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        tracking.start_iteration("again").end_iteration()
    assert set(it.end_iteration()["metrics"]) == {"loss"}
