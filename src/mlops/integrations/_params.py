"""Framework settings as parameters the store keeps without a warning per odd value.

Shared by the Lightning and Hugging Face integrations, whose configs hold objects (dtypes,
enums, callables), long lists and, in training arguments, secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mlops.values import MAX_NAME

__all__ = ["MAX_TEXT", "is_secret", "plain_parameters"]

#: The longest parameter value kept as it is (as JSON); longer ones are cut text.
MAX_TEXT = 1_000

# Names whose values must never be recorded: tokens, passwords, secrets, keys for an API.
_SECRET = re.compile(r"(^|[._])(token|password|passwd|secret|api_key|apikey|credentials?)$", re.I)


def is_secret(name: str) -> bool:
    """Whether a setting's name says it holds a secret (``hub_token``, ``api_key``, ...)."""
    return bool(_SECRET.search(name))


def plain_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (flat) as parameters: JSON values up to :data:`MAX_TEXT` characters keep
    their type, anything else becomes its text (cut to that length); secret-looking names and
    names the store would refuse are left out."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            continue
        if "\x00" in name or is_secret(name):
            continue
        out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _cut(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        try:
            got = item()
        except Exception:
            got = None
        if isinstance(got, bool | int | float):
            return got
    if isinstance(value, list | tuple | dict):
        try:
            text = json.dumps(value, allow_nan=True)
        except (TypeError, ValueError, RecursionError):
            pass
        else:
            return json.loads(text) if len(text) <= MAX_TEXT else _cut(text)
    try:
        return _cut(str(value))
    except Exception:  # a broken __str__
        return f"<{type(value).__name__} object>"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."
