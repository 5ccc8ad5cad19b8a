"""What the Keras, XGBoost and LightGBM callback tests share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops import tracking


@pytest.fixture
def backend(tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each backend in turn, able to keep files: PostgreSQL keeps them in the folder named by
    MLOPS_ARTIFACT_STORE (the App's --artifacts for a team). Request it before ``active``."""
    if tracking_uri.startswith("postgresql"):
        monkeypatch.setenv("MLOPS_ARTIFACT_STORE", str(tmp_path / "shared-artifacts"))
    return tracking_uri


def steps(iteration_id: str, metric: str) -> list[int]:
    """The steps of a metric's stored series."""
    return [p["step"] for p in tracking.get_metric_history(iteration_id, metric)]


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_script(
    script: Path, home: Path, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a Python script in its own process (in ``home``'s parent folder), storing into the
    MLOPS_HOME ``home``, with the tests folder importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    env["MLOPS_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                      env.get("PYTHONPATH")]))  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env, cwd=home.parent, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def run_example(name: str, home: Path) -> tuple[str, list[dict[str, object]]]:
    """Run ``examples/<name>`` with a fresh MLOPS_HOME ``home``; its output and the
    iterations it left (newest first)."""
    assert not home.exists(), "the example gets a fresh MLOPS_HOME"
    done = run_script(EXAMPLES / name, home)
    return done.stdout, tracking.list_iterations()
