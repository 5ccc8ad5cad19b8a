"""Reading MLflow's requests: a JSON body for POST, the query string for GET (repeated keys
for lists), and the checks MLflow's server makes on them (required, text, integers, limits)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from mlops.app.mlflow.errors import invalid
from mlops.app.mlflow.mapping import MlflowView, mapping_of

__all__ = ["JsonBody", "ViewDep", "integer", "query", "required", "text", "view_type"]

#: A POST body as MLflow's client sends it: one JSON object.
JsonBody = Annotated[dict[str, Any], Body()]


async def _view(request: Request) -> MlflowView:
    """The App's MLflow view, with its Default experiment looked up (once per process, on a
    worker thread), so every answer shows that experiment as "0"."""
    view = mapping_of(request)
    if view.known_default() is None:
        await run_in_threadpool(view.default_id, request.app.state.store)
    return view


ViewDep = Annotated[MlflowView, Depends(_view)]


def query(request: Request, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """A GET request's arguments; the keys in ``lists`` keep every repeated value."""
    params = request.query_params
    out: dict[str, Any] = {key: params.get(key) for key in params}
    for key in lists:
        out[key] = params.getlist(key)
    return out


def required(args: Mapping[str, Any], key: str) -> Any:
    """A required argument (MLflow's message when missing or empty)."""
    value = args.get(key)
    if value is None or value == "":
        raise invalid(f"Missing value for required parameter '{key}'.")
    return value


def text(args: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    """An optional text argument."""
    value = args.get(key, default)
    if value is None or isinstance(value, str):
        return value
    raise invalid(
        f"Invalid value {json.dumps(value)} for parameter '{key}' supplied: it must be a string"
    )


def required_text(args: Mapping[str, Any], key: str) -> str:
    """A required text argument."""
    required(args, key)
    value = text(args, key)
    assert value is not None
    return value


def integer(
    args: Mapping[str, Any], key: str, default: int, low: int = 0, high: int = 2**63 - 1
) -> int:
    """An optional integer argument (its text accepted) within [low, high]."""
    value = args.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
        if isinstance(value, float | bool) or (isinstance(value, str) and not value.strip()):
            raise ValueError
    except (TypeError, ValueError):
        raise invalid(
            f"Invalid value {json.dumps(value)} for parameter '{key}' supplied: it must be an "
            "integer"
        ) from None
    if not low <= number <= high:
        raise invalid(
            f"Invalid value {number} for parameter '{key}' supplied: it must be between {low} "
            f"and {high:,}"
        )
    return number


_VIEW_TYPES = {
    "ACTIVE_ONLY": False, "1": False,
    "DELETED_ONLY": True, "2": True,
    "ALL": None, "3": None,
}  # fmt: skip


def view_type(args: Mapping[str, Any], key: str) -> bool | None:
    """MLflow's ViewType as the store's ``deleted`` argument (default ACTIVE_ONLY: False)."""
    value = args.get(key)
    if value is None or value == "":
        return False
    name = str(value).upper()
    if name not in _VIEW_TYPES:
        raise invalid(
            f"Invalid value {json.dumps(value)} for parameter '{key}' supplied: use "
            "ACTIVE_ONLY, DELETED_ONLY or ALL"
        )
    return _VIEW_TYPES[name]


def string_list(args: Mapping[str, Any], key: str) -> list[str]:
    """A list of strings (absent: empty)."""
    value = args.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise invalid(
            f"Invalid value {json.dumps(value)} for parameter '{key}' supplied: it must be a "
            "list of strings"
        )
    return [str(v) for v in value]


def pairs(args: Mapping[str, Any], key: str, limit: int, what: str) -> dict[str, str]:
    """A list of ``{"key", "value"}`` objects (tags, params) as a dict of text values."""
    value = args.get(key) or []
    if not isinstance(value, list):
        raise invalid(f"Invalid value for parameter '{key}' supplied: it must be a list")
    out: dict[str, str] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"Invalid value for parameter '{key}[{index}]': it must be an object")
        name = item.get("key")
        if not isinstance(name, str) or not name:
            raise invalid(f"Missing value for required parameter '{key}[{index}].key'.")
        out[name] = value_text(item.get("value", ""), f"{key}[{index}].value", limit, what)
    return out


def value_text(value: Any, where: str, limit: int, what: str) -> str:
    """A param or tag value: text of at most ``limit`` characters (a number's text accepted)."""
    if value is None:
        value = ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid(
            f"Invalid value {json.dumps(value)} for parameter '{where}' supplied: it must be a "
            "string"
        )
    if len(value) > limit:
        raise invalid(
            f"{what} value '{value[:40]}...' had length {len(value)}, which exceeded length "
            f"limit of {limit}"
        )
    return value
