"""``mlops backup DEST`` and ``mlops restore SRC``: a consistent copy of the embedded store.

The database is copied with SQLite's online backup API in one step: it reads one snapshot
(WAL mode: writers go on meanwhile, the App and a training may keep running), so the copy is
what the database held at one instant. The artifact folder is copied after the snapshot:
blobs are content-addressed and never change, and a blob is stored before any row refers to
it, so every file the copied database names is in the copy (a few newer blobs may be too;
``mlops gc`` frees them). Blobs still being written (``tmp/``) are left out.

A PostgreSQL store is backed up with ``pg_dump`` and the artifact bucket with the bucket's own
tools; ``mlops backup`` says so.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import click

from mlops import __version__
from mlops.errors import InvalidInput

__all__ = ["backup", "restore"]

DATABASE = "mlops.db"
ARTIFACTS = "artifacts"
MANIFEST = "backup.json"


def _sqlite_path(uri: str) -> Path:
    if uri.startswith("postgresql"):
        raise InvalidInput(
            "mlops backup copies an embedded (SQLite) store; this store is PostgreSQL: back "
            "it up with `pg_dump --format=custom DBNAME > mlops.dump` (restore with "
            "pg_restore) and copy the artifact bucket (MLOPS_ARTIFACT_STORE, e.g. "
            "`aws s3 sync s3://BUCKET/PREFIX ./artifacts`) with the bucket's own tools"
        )
    if not uri.startswith("sqlite:///"):
        raise InvalidInput(
            f"mlops backup runs beside the database, not through an App ({uri}): run it on the "
            "App's machine with --store sqlite:///path/to/mlops.db"
        )
    path = Path(uri[len("sqlite:///") :]).expanduser().absolute()
    if not path.is_file():
        raise InvalidInput(f"there is no database at {path}: nothing to back up")
    return path


def _check_integrity(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    if verdict != "ok":
        raise InvalidInput(f"the database {path} fails SQLite's integrity check: {verdict}")


def _empty_or_new(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidInput(f"{what} {path} is not empty: pass a new or empty folder")


def _copy_artifacts(source: Path, dest: Path) -> int:
    """Copy the artifact folder (blobs still being written left out); the number of files."""
    if not source.is_dir():
        return 0
    shutil.copytree(source, dest, ignore=lambda d, _: ["tmp"] if Path(d) == source else [])
    return sum(1 for p in dest.rglob("*") if p.is_file())


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup(dest: Path) -> None:
    """Copy the embedded store (its database, consistently, while the App and trainings
    write) and its artifact folder into the new or empty folder DEST."""
    from mlops.artifacts import default_location
    from mlops.config import tracking_uri

    uri = tracking_uri()
    database = _sqlite_path(uri)
    _empty_or_new(dest, "backup folder")
    location = default_location(uri)
    dest.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(database, timeout=60)
    target = sqlite3.connect(dest / DATABASE)
    try:
        taken_at = time.time()
        source.backup(target)  # one step: one snapshot of the database
    finally:
        target.close()
        source.close()
    _check_integrity(dest / DATABASE)
    files, note = 0, ""
    if location is not None and "://" in location and not location.startswith("file://"):
        note = f"; the artifacts at {location} are not copied: copy them with the bucket's tools"
    elif location is not None:
        files = _copy_artifacts(Path(location.removeprefix("file://")), dest / ARTIFACTS)
    manifest = {
        "mlops_version": __version__,
        "database": DATABASE,
        "artifacts": ARTIFACTS if files else None,
        "source": str(database),
        "taken_at": taken_at,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = (dest / DATABASE).stat().st_size
    click.echo(f"backed up {database} ({size} bytes) and {files} artifact file(s) to {dest}{note}")


@click.command()
@click.argument("src", type=click.Path(file_okay=False, exists=True, path_type=Path))
def restore(src: Path) -> None:
    """Put a backup made by `mlops backup` back into an empty MLOPS_HOME (its database and
    artifact folder)."""
    from mlops.config import mlops_home

    if not (src / DATABASE).is_file():
        raise InvalidInput(f"{src} is not a backup made by `mlops backup`: it has no {DATABASE}")
    home = mlops_home()
    if home.exists() and any(home.iterdir()):
        raise InvalidInput(
            f"MLOPS_HOME {home} is not empty: restore into a new folder "
            "(MLOPS_HOME=/path/to/new mlops restore SRC), or move the old one away first"
        )
    _check_integrity(src / DATABASE)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / DATABASE, home / DATABASE)
    files = _copy_artifacts(src / ARTIFACTS, home / ARTIFACTS)
    click.echo(f"restored {src} into {home} ({files} artifact file(s))")
