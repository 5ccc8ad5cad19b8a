"""A real ``mlops app`` process for the App benchmarks: start, wait, measure memory, stop.

The App runs as ``python -m mlops app --port P --store sqlite:///... [--workers N]`` on a free
loopback port, with ``MLOPS_HOME`` pointed at the benchmark's temporary folder so nothing of
the user's is read or written. Its memory is read from ``/proc``: with several workers, the
resident memory of the whole process tree (the supervisor and its children) is summed.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["AppProcess", "MemorySampler", "free_port"]

START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/<pid>/task/*/children``, else a scan of ``/proc``)."""
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except OSError:
        pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            # the command name (field 2) may contain spaces: the ppid follows its ")"
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += _children(current)
    return tree


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds one process has used (0 when it is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # after the command name: state is field 3, utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 when it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class AppProcess:
    """A real ``mlops app`` process on a loopback port; use as a context manager (or call
    :meth:`stop`)."""

    def __init__(
        self, store_uri: str, home: Path, workers: int = 1, args: Sequence[str] = ()
    ) -> None:
        import httpx

        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["MLOPS_HOME"] = str(home)
        env.pop("MLOPS_TRACKING_URI", None)
        env.pop("MLOPS_MODE", None)
        command = [sys.executable, "-m", "mlops", "app", "--port", str(self.port)]
        command += ["--store", store_uri, "--workers", str(workers), *args]
        # stderr to a file, not a pipe: a pipe nobody reads would block a chatty App
        self.log_path = home / f"app-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
        if not self._wait_healthy(httpx):
            self.stop()
            raise RuntimeError(f"the App did not answer within {START_TIMEOUT:g} s")
        if workers > 1:  # one worker may answer before the others are up: wait for them
            deadline = time.monotonic() + START_TIMEOUT
            while len(process_tree(self.proc.pid)) <= workers and time.monotonic() < deadline:
                time.sleep(0.05)

    def _wait_healthy(self, httpx: Any) -> bool:
        """Poll ``/api/v1/health`` until it answers 200 (False after ``START_TIMEOUT``)."""
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(base_url=self.url, timeout=1) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the App exited ({self.proc.returncode}): {self.log_tail()}"
                    )
                try:
                    if client.get("/api/v1/health").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        return False

    def log_tail(self, size: int = 2000) -> str:
        """The end of what the App wrote to stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def __enter__(self) -> AppProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rss_mib(self) -> float:
        """Resident memory of the App in MiB: the process and, with workers, its children."""
        total = sum(rss_kib(pid) for pid in process_tree(self.proc.pid))
        return total / 1024 if total else math.nan

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the App has used so far, with its workers."""
        return sum(cpu_seconds_of(pid) for pid in process_tree(self.proc.pid))

    def stop(self) -> None:
        """SIGTERM (graceful stop), SIGKILL after 30 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class MemorySampler:
    """Samples :meth:`AppProcess.rss_mib` in a thread every ``interval`` seconds and keeps
    the maximum (use as a context manager around what is measured)."""

    def __init__(self, app: AppProcess, interval: float = 0.05) -> None:
        self.app = app
        self.interval = interval
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            value = self.app.rss_mib()
            if not math.isnan(value):
                self.peak = max(self.peak, value)
                self.samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        value = self.app.rss_mib()  # one last sample, after the measured work
        if not math.isnan(value):
            self.peak = max(self.peak, value)
