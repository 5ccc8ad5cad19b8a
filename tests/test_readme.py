"""The README's quick start runs as printed (twice), and the distribution ships its licence."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_quick_start_runs_as_printed_twice(tmp_path: Path, mlops_home: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(_quick_start(), encoding="utf-8")
    env = {**os.environ, "MLOPS_HOME": str(mlops_home)}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "mlops", "iterations", "list", "--sort", "val_accuracy", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    from mlops import tracking

    [project] = tracking.list_projects()
    [experiment] = tracking.list_experiments(project["id"])
    runs = tracking.list_iterations(experiment["id"])
    assert [r["status"] for r in runs] == ["finished", "finished"]
    assert all(r["metrics"]["val_accuracy"] > 0.8 for r in runs)
    assert {r["datasets"][0]["id"] for r in runs} == {d["id"] for d in tracking.list_datasets()}
    assert runs[0]["model"]["path"] == str(tmp_path / "model.pkl")


def test_the_distribution_is_mlops_library_and_ships_its_licence() -> None:
    dist = importlib.metadata.distribution("mlops-library")
    assert dist.metadata["Name"] == "mlops-library"
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    assert any(str(f).endswith("licenses/LICENSE") for f in dist.files or [])
    assert "Apache License" in (README.parent / "LICENSE").read_text(encoding="utf-8")


def test_every_setting_the_library_reads_is_in_the_readme() -> None:
    source = README.parent / "src" / "mlops"
    names = {
        name
        for path in source.rglob("*.py")
        for name in re.findall(r'"(MLOPS_[A-Z_]+)"', path.read_text(encoding="utf-8"))
    }
    internal = {"MLOPS_APP_SETTINGS"}  # how `mlops app` hands its settings to its workers
    text = README.read_text(encoding="utf-8")
    assert sorted(n for n in names - internal if f"`{n}`" not in text) == []
