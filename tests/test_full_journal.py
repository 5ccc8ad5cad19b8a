"""With the App down and the journal's disk full, a training run still ends normally and says
what it could not keep (issue: end_iteration() raised when the journal could not be written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_a_full_journal_disk_does_not_end_the_run(tmp_path: Path) -> None:
    journal = tmp_path / "home" / "journal"
    journal.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(journal)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        script = (
            "from mlops import tracking\n"
            "it = tracking.start_iteration('full', project_id='p', experiment_id='e')\n"
            f"open({str(journal / 'filler')!r}, 'wb').write(b'x' * 250 * 1024)\n"
            "for i in range(20000):\n"
            "    it.log_metric('loss', 1.0 / (i + 1))\n"
            "ended = it.end_iteration()\n"
            "print(ended['status'], it.unwritten['metric_points'])\n"
        )
        env = {
            **os.environ, "MLOPS_HOME": str(tmp_path / "home"), "MLOPS_MODE": "offline",
            "MLOPS_TRACKING_URI": "http://127.0.0.1:1", "MLOPS_FLUSH_TIMEOUT": "2",
        }  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        subprocess.run(["umount", str(journal)], check=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["finished", "20000"]
    assert "No space left on device" in done.stderr and "20,000 metric points" in done.stderr
