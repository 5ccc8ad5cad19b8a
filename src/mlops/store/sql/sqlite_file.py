"""The file of an embedded SQLite store: its folder made or checked, read-only folders served.

Problems with the folder are the user's to fix, so they are told in the user's terms (the folder,
``MLOPS_HOME``), never as a database server that might not be running.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from mlops.errors import InvalidInput

__all__ = ["prepare", "read_only_uri"]


def _home_hint(folder: Path) -> str:
    home = os.environ.get("MLOPS_HOME")
    if home and Path(home).expanduser().absolute() == folder.absolute():
        return f"MLOPS_HOME={home}: set MLOPS_HOME to a folder you can write to"
    return "pick a folder you can write to (MLOPS_HOME, or MLOPS_TRACKING_URI=sqlite:///path)"


def prepare(database: Path) -> bool:
    """Make the database's folder when missing; True when the database can only be read.

    Raises ``InvalidInput`` naming the folder (and ``MLOPS_HOME``) when the folder cannot be
    made, or when the database does not exist and its folder cannot be written.
    """
    folder = database.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(
            f"cannot make the folder {str(folder)!r} for the embedded database "
            f"({exc.strerror or exc}); {_home_hint(folder)}"
        ) from None
    if not folder.is_dir():
        raise InvalidInput(
            f"{str(folder)!r} is not a folder, so the embedded database cannot live in it; "
            f"{_home_hint(folder)}"
        )
    if os.access(folder, os.W_OK) and (not database.exists() or os.access(database, os.W_OK)):
        return False
    if not database.exists():
        raise InvalidInput(
            f"cannot create the embedded database in {str(folder)!r}: the folder is read-only; "
            f"{_home_hint(folder)}"
        )
    if not os.access(database, os.R_OK):
        raise InvalidInput(
            f"cannot read the embedded database {str(database)!r} (permission denied); "
            f"{_home_hint(folder)}"
        )
    return True


def read_only_uri(database: Path) -> str:
    """A ``file:`` URI that opens the database for reading only.

    In a folder that cannot be written SQLite cannot create the WAL's shared-memory file, so
    when no writer has it open (no ``-wal`` file) the database is opened as immutable.
    """
    wal = Path(str(database) + "-wal")
    flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    return f"file:{quote(str(database.absolute()))}?{flags}"


def read_only_message(database: Path) -> str:
    """What a write to a read-only embedded database is told."""
    return (
        f"the embedded database {str(database)!r} can only be read (its folder or file is "
        f"read-only): {_home_hint(database.parent)}"
    )
