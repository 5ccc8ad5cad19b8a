"""Artifact names and storage keys, checked in one place.

A *name* is what a user calls a logged file (``"plots/roc.png"``, ``"model/model.pkl"``): it is
kept as metadata and shown, never used to build a path or a storage key. *Keys* come only from
content digests and upload ids this module checks, so no name a client sends can reach outside
the artifact store (the path-traversal holes of MLflow's artifact proxy came from keys built out
of client paths).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from mlops.errors import InvalidInput

__all__ = [
    "MAX_NAME",
    "blob_key",
    "check_digest",
    "check_name",
    "check_upload_id",
    "upload_key",
]

MAX_NAME = 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def check_name(name: object, what: str = "artifact name") -> str:
    """An artifact name: relative, ``/``-separated, at most 1,024 characters.

    Refused with ``InvalidInput``: an empty name, an absolute one (``/x``, ``C:x``), a ``..`` or
    ``.`` segment or an empty one (``a//b``) before or after percent-decoding, NUL or another
    control character, a backslash. ``#`` and ``?`` are plain characters (``roc#1.png``).
    """
    if not isinstance(name, str):
        raise InvalidInput(f"{what} must be a string, got {type(name).__name__} {name!r}")
    if not name:
        raise InvalidInput(f"{what} must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{what} is {len(name)} characters long; the limit is {MAX_NAME}")
    for form in dict.fromkeys((name, unquote(name))):
        _check_form(name, form, what)
    return name


def _check_form(name: str, form: str, what: str) -> None:
    shown = repr(name[:80])
    if any(ord(c) < 32 or ord(c) == 127 for c in form):
        raise InvalidInput(f"{what} {shown} contains a control character (NUL, newline...)")
    if "\\" in form:
        raise InvalidInput(f"{what} {shown} contains a backslash: separate folders with '/'")
    if form.startswith("/") or re.match(r"^[A-Za-z]:", form):
        raise InvalidInput(
            f"{what} {shown} is absolute: use a relative name such as 'plots/roc.png'"
        )
    for segment in form.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInput(
                f"{what} {shown} has an empty, '.' or '..' part: use a plain relative name "
                "such as 'plots/roc.png'"
            )


def check_digest(digest: object) -> str:
    """A sha256 as 64 lowercase hex digits (a ``sha256:`` prefix is accepted and dropped)."""
    if isinstance(digest, str):
        digest = digest.removeprefix("sha256:")
        if _DIGEST.match(digest):
            return digest
    raise InvalidInput(f"{digest!r} is not a sha256 digest (64 lowercase hex digits)")


def check_upload_id(upload_id: object) -> str:
    """An upload id as the artifact store hands it out (32 lowercase hex digits)."""
    if isinstance(upload_id, str) and _UPLOAD_ID.match(upload_id):
        return upload_id
    raise InvalidInput(f"{upload_id!r} is not an upload id (32 lowercase hex digits)")


def blob_key(digest: str) -> str:
    """Where the blob with this sha256 lives, relative to the store's root."""
    digest = check_digest(digest)
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def upload_key(upload_id: str) -> str:
    """Where the bytes of an unfinished upload are staged, relative to the store's root."""
    return f"uploads/{check_upload_id(upload_id)}"
