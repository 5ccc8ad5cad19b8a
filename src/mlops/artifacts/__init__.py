"""Where the files an iteration produced are kept: content-addressed blobs behind one contract.

:func:`open_artifact_store` picks the backend from a location: a folder path (or ``file://``) for
:class:`~mlops.artifacts.local.LocalArtifacts`, ``s3://bucket/prefix`` for
:class:`~mlops.artifacts.s3.S3Artifacts` (boto3, an optional extra).
"""

from __future__ import annotations

import os
from pathlib import Path

from mlops.artifacts.base import ArtifactStore, Blob, DigestMismatch
from mlops.artifacts.names import check_name

__all__ = [
    "ArtifactStore",
    "Blob",
    "DigestMismatch",
    "check_name",
    "default_location",
    "open_artifact_store",
]


def default_location(store_uri: str) -> str | None:
    """Where the files of an SQL store live when nothing else is said: ``MLOPS_ARTIFACT_STORE``,
    else the ``artifacts`` folder beside an SQLite database (``$MLOPS_HOME/artifacts`` for the
    default one); None for a PostgreSQL store without ``MLOPS_ARTIFACT_STORE``."""
    configured = os.environ.get("MLOPS_ARTIFACT_STORE")
    if configured:
        return configured
    if store_uri.startswith("sqlite:///"):
        database = Path(store_uri[len("sqlite:///") :]).expanduser().absolute()
        return str(database.parent / "artifacts")
    return None


def open_artifact_store(location: str | Path) -> ArtifactStore:
    """The artifact store at ``location``: a folder, ``file:///folder`` or ``s3://bucket/prefix``."""
    text = str(location)
    if text.startswith("s3://"):
        from mlops.artifacts.s3 import S3Artifacts

        return S3Artifacts(text)
    from mlops.artifacts.local import LocalArtifacts

    return LocalArtifacts(Path(text.removeprefix("file://")))
