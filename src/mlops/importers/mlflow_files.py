"""Read an MLflow ``mlruns/`` folder (MLflow's file store) without MLflow.

The layout, as MLflow writes it::

    mlruns/<experiment id>/meta.yaml          name, lifecycle_stage, creation_time, ...
    mlruns/<experiment id>/tags/<key>         one file per experiment tag
    mlruns/<experiment id>/datasets/<id>/meta.yaml
    mlruns/<experiment id>/<run id>/meta.yaml run_name, status (1..5), start/end_time, ...
        metrics/<key>   one line per value: "<timestamp ms> <value> [<step>]"
        params/<key>    tags/<key>    (a key with "/" is a sub-folder)
        inputs/<id>/meta.yaml         a dataset input: source_id, tags
        artifacts/                    the run's files (when the artifact root is local)
    mlruns/.trash/<experiment id>/    deleted experiments, same layout
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops.errors import InvalidInput, NotFound
from mlops.importers._records import (
    ArtifactsUnreadable,
    MlflowDataset,
    MlflowExperiment,
    MlflowRun,
    RunData,
    local_artifacts,
    local_root,
    mlflow_status,
)

__all__ = ["FileReader", "read_yaml"]

#: Folders of an experiment that are not runs.
_RESERVED = {"tags", "datasets", "traces", "models"}


def read_yaml(path: Path) -> dict[str, Any]:
    """A meta.yaml as a dict (PyYAML when installed, else a reader of what MLflow writes:
    ``key: scalar`` lines and one level of nested mappings)."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        return _plain_yaml(text)
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def _scalar(raw: str) -> Any:
    raw = raw.strip()
    if raw in ("null", "~", ""):
        return None
    if raw in ("[]", "{}"):
        return [] if raw == "[]" else {}
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        import json

        with contextlib.suppress(ValueError):
            return json.loads(raw)
        return raw[1:-1]
    if raw.lstrip("-").isdigit():
        return int(raw)
    return raw


def _plain_yaml(text: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    nested: dict[str, Any] | None = None
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(" "):
            key, sep, value = line.strip().partition(":")
            if nested is not None and sep:
                nested[key.strip()] = _scalar(value)
            elif last is not None and isinstance(result.get(last), str):
                result[last] = f"{result[last]} {line.strip()}"  # a folded long string
            continue
        key, _, value = line.partition(":")
        last = key.strip()
        if value.strip():
            result[last] = _scalar(value)
            nested = None
        else:
            nested = result[last] = {}
    return result


def _files_under(folder: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) for a params/, tags/ or metrics/ folder (``a/b`` keys are sub-folders)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder).as_posix(), path


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class FileReader:
    """An ``mlruns/`` folder (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        given = str(root)
        path = local_root(given) if given.startswith("file:") else Path(given).expanduser()
        if path is None or not path.is_dir():
            raise NotFound(f"MLflow folder {given!r} not found: give the path of an mlruns/ folder")
        self.root = path.absolute()
        self.read_in_thread = False
        self.description = str(self.root)
        self._experiment_dirs: dict[str, Path] = {}
        self._run_dirs: dict[str, Path] = {}
        if not self._candidates():
            raise InvalidInput(
                f"{self.root} holds no MLflow experiment (no <id>/meta.yaml): give the mlruns/ "
                "folder itself"
            )

    def _candidates(self) -> list[Path]:
        found = []
        for parent in (self.root, self.root / ".trash"):
            if parent.is_dir():
                found += [p for p in sorted(parent.iterdir()) if (p / "meta.yaml").is_file()]
        return found

    def experiments(self) -> list[MlflowExperiment]:
        result = []
        for folder in self._candidates():
            meta = read_yaml(folder / "meta.yaml")
            experiment_id = str(meta.get("experiment_id", folder.name))
            tags = {key: _text(path) for key, path in _files_under(folder / "tags")}
            deleted = meta.get("lifecycle_stage") == "deleted" or folder.parent.name == ".trash"
            self._experiment_dirs[experiment_id] = folder
            result.append(
                MlflowExperiment(
                    id=experiment_id,
                    name=str(meta.get("name", experiment_id)),
                    deleted=deleted,
                    tags=tags,
                    created_ms=_int(meta.get("creation_time")),
                    artifact_location=meta.get("artifact_location"),
                )
            )
        return result

    def runs(self, experiment: MlflowExperiment) -> list[MlflowRun]:
        folder = self._experiment_dirs[experiment.id]
        result = []
        for run_dir in sorted(folder.iterdir()):
            if run_dir.name in _RESERVED or not (run_dir / "meta.yaml").is_file():
                continue
            meta = read_yaml(run_dir / "meta.yaml")
            run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
            self._run_dirs[run_id] = run_dir
            result.append(
                MlflowRun(
                    id=run_id,
                    experiment_id=experiment.id,
                    name=meta.get("run_name") or None,
                    status=mlflow_status(meta.get("status")),
                    start_ms=_int(meta.get("start_time")),
                    end_ms=_int(meta.get("end_time")),
                    deleted=meta.get("lifecycle_stage") == "deleted",
                    artifact_uri=meta.get("artifact_uri"),
                )
            )
        return result

    def run_data(self, run: MlflowRun) -> RunData:
        run_dir = self._run_dirs[run.id]
        data = RunData(
            params={key: _text(path) for key, path in _files_under(run_dir / "params")},
            tags={key: _text(path) for key, path in _files_under(run_dir / "tags")},
        )
        for key, path in _files_under(run_dir / "metrics"):
            for number, line in enumerate(_text(path).splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    step = int(parts[2]) if len(parts) >= 3 else 0
                    data.metrics.append((key, step, float(parts[1]), int(parts[0]) / 1000.0))
                except (IndexError, ValueError):
                    data.problems.append(
                        f"metric {key!r}: line {number} of {path} is not "
                        f"'<timestamp> <value> <step>': {line[:80]!r}"
                    )
        data.metrics.sort(key=lambda m: (m[0], m[1], m[3]))  # stable: file order kept
        data.datasets = self._datasets(run_dir)
        return data

    def _datasets(self, run_dir: Path) -> list[MlflowDataset]:
        inputs = run_dir / "inputs"
        if not inputs.is_dir():
            return []
        found = []
        datasets = run_dir.parent / "datasets"
        for input_dir in sorted(inputs.iterdir()):
            if not (input_dir / "meta.yaml").is_file():
                continue
            meta = read_yaml(input_dir / "meta.yaml")
            dataset_meta = datasets / str(meta.get("source_id")) / "meta.yaml"
            if meta.get("source_type") != "DATASET" or not dataset_meta.is_file():
                continue
            ds = read_yaml(dataset_meta)
            found.append(
                MlflowDataset(
                    name=str(ds.get("name")),
                    digest=str(ds.get("digest") or ""),
                    source_type=str(ds.get("source_type") or ""),
                    source=str(ds.get("source") or ""),
                    schema=ds.get("schema"),
                    profile=ds.get("profile"),
                    tags={str(k): str(v) for k, v in (meta.get("tags") or {}).items()},
                )
            )
        return found

    def artifacts(self, run: MlflowRun) -> Iterator[tuple[str, Path]]:
        # The run's own artifacts/ folder first: mlruns folders get moved, and the absolute
        # artifact_uri in meta.yaml still names the old place.
        here = self._run_dirs[run.id] / "artifacts"
        root = here if here.is_dir() else local_root(run.artifact_uri)
        if root is None:
            raise ArtifactsUnreadable(
                f"its artifacts are at {run.artifact_uri}, which is not a local folder: copy "
                "them into the run's artifacts/ folder, or import through the MLflow server"
            )
        if not root.is_dir():
            return iter(())
        return local_artifacts(root)

    def close(self) -> None:
        """Nothing to release."""


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
