"""Where mlops keeps things: arguments first, then environment variables, then ``settings.json``.

Environment variables:

- ``MLOPS_HOME`` (default ``~/.mlops``): folder with ``settings.json``, the embedded database
  and the journal of training runs not yet sent to an App (``journal/``).
- ``MLOPS_TRACKING_URI``: the store, ``sqlite:///path/file.db`` (default ``MLOPS_HOME/mlops.db``),
  ``postgresql://user@host/db``, or the URL of an mlops App, ``http(s)://host:port``.
- ``MLOPS_API_TOKEN``: the token sent to an App started with ``--auth``
  (``Authorization: Bearer``; made with ``mlops tokens create NAME --scope write``).
- ``MLOPS_MODE`` (default ``online``): ``offline`` never contacts the App: training runs are kept
  in the journal under ``MLOPS_HOME/journal`` and sent later with ``mlops sync``. The tracking
  URI must still be the App's ``http(s)://`` URL, the place they are sent to.
- ``MLOPS_FLUSH_TIMEOUT`` (default 10): seconds a process waits at exit for unsent data (with
  an App, the journal included).
- ``MLOPS_ALL_RANKS`` (default off): track on every rank of a distributed job, not only rank 0.
- ``MLOPS_SYSTEM_METRICS_INTERVAL`` (default 10): seconds between samples of the system metrics
  (CPU, memory, disk, network, GPUs) of a running iteration; ``0`` turns them off (see
  :mod:`mlops.tracking._system_metrics`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mlops.errors import InvalidInput

__all__ = [
    "flush_timeout",
    "mlops_home",
    "offline_mode",
    "read_settings",
    "tracking_uri",
    "write_settings",
]

_SUPPORTED_SCHEMES = (
    "sqlite://",
    "postgresql://",
    "postgresql+psycopg://",
    "http://",
    "https://",
)
_MODES = ("online", "offline")


def mlops_home() -> Path:
    """The folder for settings and the embedded database (``MLOPS_HOME``, default ``~/.mlops``)."""
    return Path(os.environ.get("MLOPS_HOME") or Path.home() / ".mlops").expanduser()


def tracking_uri(uri: str | None = None) -> str:
    """The store URI: the argument, else ``MLOPS_TRACKING_URI``, else the embedded database."""
    uri = uri or os.environ.get("MLOPS_TRACKING_URI") or ""
    if not uri:
        return f"sqlite:///{mlops_home() / 'mlops.db'}"
    if not uri.startswith(_SUPPORTED_SCHEMES):
        raise InvalidInput(
            f"tracking URI {uri!r} is not supported: use sqlite:///path/to/file.db "
            "or postgresql://user@host/db or http://app-host:port (set MLOPS_TRACKING_URI or "
            "pass --store)"
        )
    if uri.startswith(("http://", "https://")):
        _check_app_url(uri)
    return uri


def _check_app_url(uri: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidInput(
            f"tracking URI {redact_uri(uri)!r} is not a valid URL ({exc}): use http://app-host:port"
        ) from None
    if not parts.hostname:
        raise InvalidInput(
            f"tracking URI {redact_uri(uri)!r} is an incomplete URL: it names no host; "
            "use http://app-host:port (set MLOPS_TRACKING_URI or pass --store)"
        )


def offline_mode() -> bool:
    """True when ``MLOPS_MODE=offline``: training runs go to the journal, never to the App."""
    raw = os.environ.get("MLOPS_MODE", "").strip().lower() or "online"
    if raw not in _MODES:
        raise InvalidInput(f"MLOPS_MODE={raw!r} is not a mode: use online (the default) or offline")
    return raw == "offline"


def flush_timeout() -> float:
    """Seconds the final flush at exit may take (``MLOPS_FLUSH_TIMEOUT``, default 10)."""
    raw = os.environ.get("MLOPS_FLUSH_TIMEOUT", "10")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(
            f"MLOPS_FLUSH_TIMEOUT={raw!r} is not a number of seconds: set it to e.g. 10"
        ) from None
    return max(value, 0.0)


def _settings_path() -> Path:
    return mlops_home() / "settings.json"


#: path -> ((inode, mtime, size), text) of the settings file as last read
_SETTINGS_READ: dict[Path, tuple[tuple[int, int, int], str]] = {}


def _settings_text(path: Path) -> str:
    """The settings file's text, read again only when the file changed (every start of an
    iteration reads it: a stat costs less than opening it). A write replaces the file, so
    its inode changes even within one tick of the clock."""
    info = os.stat(path)
    key = (info.st_ino, info.st_mtime_ns, info.st_size)
    known = _SETTINGS_READ.get(path)
    if known is not None and known[0] == key:
        return known[1]
    text = path.read_text(encoding="utf-8")
    _SETTINGS_READ[path] = (key, text)
    return text


def _load_settings(path: Path) -> dict[str, Any]:
    """The whole settings file (``{}`` when there is none); a damaged one is an error, never
    read as empty: the next write would replace it and lose every store's settings."""
    try:
        text = _settings_text(path)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"it cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _damaged(path, f"it is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise _damaged(path, f"it holds a JSON {type(data).__name__}, not an object")
    stores = data.get("stores", {})
    if not isinstance(stores, dict) or not all(isinstance(v, dict) for v in stores.values()):
        raise _damaged(path, '"stores" must map each store URI to an object of settings')
    return data


def _damaged(path: Path, reason: str) -> InvalidInput:
    return InvalidInput(
        f"the settings file {path} is damaged: {reason}; fix or delete it (it only keeps the "
        "active project and experiment of each store: set them again after deleting it)"
    )


def read_settings(uri: str) -> dict[str, Any]:
    """The settings kept for one store (active project and experiment); empty when none.

    Raises ``InvalidInput`` naming the file when ``settings.json`` is damaged."""
    stores = _load_settings(_settings_path()).get("stores", {})
    return dict(stores.get(uri) or {})


def write_settings(uri: str, **values: Any) -> None:
    """Update the settings of one store; the file is replaced atomically, so a reader in another
    process sees either the old or the new settings, never half of them.

    Raises ``InvalidInput`` naming the file, and leaves it as it is, when it is damaged."""
    path = _settings_path()
    data = _load_settings(path)
    stores = data.setdefault("stores", {})
    entry = stores.setdefault(uri, {})
    entry.update(values)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the settings file {str(path)!r} ({exc.strerror or exc}): set "
            "MLOPS_HOME to a folder you can write to, or pass project_id / experiment_id to "
            "each call instead of setting active ones"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def redact_uri(uri: str) -> str:
    """The URI with its password (if any) replaced by ``***``, fit for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:
        return uri.split("@")[-1]
    if password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
