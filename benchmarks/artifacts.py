"""Artifact benchmarks: prints figures beside their targets, asserts nothing.

- **big**: one file (1 GiB by default, ``--size-mib``) through a real App on loopback, from
  ``log_artifact`` until ``end_iteration()`` returned (the file is durable and recorded), in
  MB/s, beside writing the same bytes to the same disk with an fsync at the end (the limit);
  the App's peak resident memory meanwhile. Targets: at least 50% of the limit, under 150 MiB.
- **small**: 10,000 files of 4 KiB in one iteration, embedded and through the App, in files
  per second. Target: at least 1,000/s.
- **call**: what ``log_artifact`` of a 100 MiB file costs the training loop (the hashing and
  sending happen in the background). Target: under 5 ms.

Run: ``.venv/bin/python benchmarks/artifacts.py [--size-mib 1024] [--files 10000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_server import AppProcess, MemorySampler

MiB = 1 << 20


def _fresh_home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir()
    os.environ["MLOPS_HOME"] = str(home)
    os.environ.pop("MLOPS_TRACKING_URI", None)
    return home


def _use(uri: str | None) -> None:
    from mlops.store import close_stores

    close_stores()
    if uri is None:
        os.environ.pop("MLOPS_TRACKING_URI", None)
    else:
        os.environ["MLOPS_TRACKING_URI"] = uri


def _iteration(title: str) -> object:
    from mlops import tracking

    project = tracking.create_project(title, exist_ok=True)
    tracking.set_active_project(project["id"])
    return tracking.start_iteration(title)


def write_limit(path: Path, source: Path) -> float:
    """MB/s of copying ``source`` to ``path`` on the same disk, fsync at the end."""
    started = time.perf_counter()
    with open(source, "rb") as src, open(path, "wb") as dst:
        while chunk := src.read(4 * MiB):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    seconds = time.perf_counter() - started
    path.unlink()
    return source.stat().st_size / seconds / 1e6


def big_file(root: Path, size_mib: int) -> None:
    source = root / "big.bin"
    with open(source, "wb") as fh:
        block = os.urandom(4 * MiB)
        for _ in range(size_mib // 4):
            fh.write(block[:-1] + os.urandom(1))  # not one repeated block: no dedupe shortcut
    limit = write_limit(root / "copy.bin", source)
    home = _fresh_home(root, "big-home")
    with AppProcess(f"sqlite:///{home / 'app.db'}", home) as app:
        _use(app.url)
        it = _iteration("big")
        with MemorySampler(app) as memory:
            started = time.perf_counter()
            it.log_artifact(source)  # type: ignore[attr-defined]
            it.end_iteration()  # type: ignore[attr-defined]
            seconds = time.perf_counter() - started
        _use(None)
    rate = source.stat().st_size / seconds / 1e6
    print(f"big file through the App: {size_mib} MiB in {seconds:.1f} s = {rate:.0f} MB/s; "
          f"write+fsync limit {limit:.0f} MB/s -> {rate / limit:.0%} (target >= 50%)")  # fmt: skip
    print(f"  App peak RSS {memory.peak:.0f} MiB (target < 150 MiB)")
    source.unlink()


def small_files(root: Path, count: int) -> None:
    folder = root / "small"
    folder.mkdir()
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
    home = _fresh_home(root, "small-home")
    for label, make_app in (("embedded", False), ("through the App", True)):
        app = AppProcess(f"sqlite:///{home / 'app.db'}", home) if make_app else None
        try:
            _use(app.url if app else None)
            it = _iteration(f"small-{label}")
            started = time.perf_counter()
            it.log_artifact(folder)  # type: ignore[attr-defined]
            it.end_iteration()  # type: ignore[attr-defined]
            seconds = time.perf_counter() - started
        finally:
            _use(None)
            if app:
                app.stop()
        print(f"{count:,} files of 4 KiB, {label}: {count / seconds:,.0f} files/s "
              "(target >= 1,000/s)")  # fmt: skip
    shutil.rmtree(folder)


def call_cost(root: Path) -> None:
    source = root / "hundred.bin"
    source.write_bytes(os.urandom(100 * MiB))
    _fresh_home(root, "call-home")
    _use(None)
    it = _iteration("call")
    costs = []
    for name in ("first.bin", "second.bin", "third.bin"):
        started = time.perf_counter()
        it.log_artifact(source, name)  # type: ignore[attr-defined]
        costs.append(time.perf_counter() - started)
    it.end_iteration()  # type: ignore[attr-defined]
    first, then = costs[0] * 1000, min(costs[1:]) * 1000
    print(f"log_artifact of a 100 MiB file costs the loop {first:.2f} ms the first time (the "
          f"uploader starts), then {then:.2f} ms (target < 5 ms)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-artifacts-", dir=Path.cwd()) as tmp:
        root = Path(tmp)
        call_cost(root)
        small_files(root, args.files)
        big_file(root, args.size_mib)


if __name__ == "__main__":
    main()
