"""Saved views of an experiment page and the live state of its running iterations.

A saved view is the page's address parameters (``filter``, ``order_by``, ``metrics``,
``params``, ``group_by``, ``charts``, ``x``, ``smooth``, ``log``, ... : any key, so parameters
added later are kept) stored under a name, shared by everyone who can see the project, with a
short id for its short URL (``/v/{short_id}``).

The live state of an iteration is what a page showing it needs to stay current without reading
whole histories: its status (as shown, ``crashed`` included), its times, and per metric the last
value, the last step and a change marker (``rewrites``) that grows when a write replaced a step
at or before the last one (the page then refetches that series).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.entities import iso
from mlops.errors import InvalidInput
from mlops.values import check_name

__all__ = [
    "LiveIteration",
    "LiveSeries",
    "SavedView",
    "ViewCreate",
    "ViewUpdate",
    "check_view_state",
]

#: The most keys a view's state may hold, and the most characters of its JSON.
MAX_VIEW_KEYS = 64
MAX_VIEW_CHARS = 16_384
#: Address parameters that say where on the page one is, not what the page shows: not saved.
TRANSIENT_KEYS = ("page", "view")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
#: At most this many iterations are asked about in one live request.
MAX_LIVE_IDS = 200


@dataclass(frozen=True, slots=True)
class SavedView:
    """A named view of an experiment page (``state``: its address parameters)."""

    id: str
    short_id: str
    experiment_id: str
    project_id: str
    name: str
    state: dict[str, str]
    created_by: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "short_id": self.short_id,
            "experiment_id": self.experiment_id,
            "project_id": self.project_id,
            "name": self.name,
            "state": dict(self.state),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class LiveSeries:
    """Where one metric series of an iteration stands (see the module doc)."""

    last: float
    last_step: int
    rewrites: int

    def to_dict(self) -> dict[str, Any]:
        return {"last": self.last, "last_step": self.last_step, "rewrites": self.rewrites}


@dataclass(frozen=True, slots=True)
class LiveIteration:
    """The live state of one iteration: status as shown, times (epoch seconds), series."""

    id: str
    experiment_id: str
    project_id: str
    name: str
    status: str
    started_at: float
    ended_at: float | None
    heartbeat_at: float | None
    metrics: dict[str, LiveSeries] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment_id": self.experiment_id,
            "project_id": self.project_id,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "heartbeat_at": self.heartbeat_at,
            "metrics": {name: s.to_dict() for name, s in self.metrics.items()},
        }


def check_view_name(name: object) -> str:
    """A view's name: 1 to 250 characters."""
    return check_name(name, "view name")


def check_view_state(state: object) -> dict[str, str]:
    """A view's state: address parameters as text (``{"filter": "metrics.acc > 0.9"}``), at
    most :data:`MAX_VIEW_KEYS` of them; ``page`` and ``view`` are left out (they say where one
    is, not what is shown). Returns the state to store."""
    if not isinstance(state, Mapping):
        raise InvalidInput(
            f"a view's state is an object of address parameters such as "
            f'{{"filter": "metrics.acc > 0.9", "metrics": "acc,loss"}}, got {type(state).__name__}'
        )
    if len(state) > MAX_VIEW_KEYS:
        raise InvalidInput(
            f"a view's state holds at most {MAX_VIEW_KEYS} parameters, got {len(state)}"
        )
    kept: dict[str, str] = {}
    for key, value in state.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise InvalidInput(
                f"view parameter name {key!r} is not an address parameter name: use letters, "
                "digits, '_', '.', '-' (at most 64, starting with a letter)"
            )
        if not isinstance(value, str):
            raise InvalidInput(
                f"view parameter {key!r} must be text as in the page's address, got "
                f"{type(value).__name__} {value!r}"
            )
        if "\x00" in value:
            raise InvalidInput(f"view parameter {key!r} contains a NUL character: remove it")
        if key not in TRANSIENT_KEYS:
            kept[key] = value
    size = len(json.dumps(kept))
    if size > MAX_VIEW_CHARS:
        raise InvalidInput(
            f"the view's state is {size} characters of JSON: the limit is {MAX_VIEW_CHARS}; "
            "shorten the filter or choose fewer columns"
        )
    return kept


def check_live_ids(iteration_ids: object) -> list[str]:
    """The iterations of one live request: 1 to :data:`MAX_LIVE_IDS` ids (duplicates dropped)."""
    if not isinstance(iteration_ids, list | tuple) or not all(
        isinstance(i, str) and i for i in iteration_ids
    ):
        raise InvalidInput(f"iteration ids must be a list of id strings, got {iteration_ids!r}")
    ids = list(dict.fromkeys(iteration_ids))
    if len(ids) > MAX_LIVE_IDS:
        raise InvalidInput(
            f"a live request asks about at most {MAX_LIVE_IDS} iterations, got {len(ids)}: "
            "ask about the rows the page shows"
        )
    return ids


@dataclass
class ViewCreate:
    """Body of ``POST /experiments/{id}/views``: the view's name and its address parameters."""

    name: str
    state: dict[str, str] = field(default_factory=dict)


@dataclass
class ViewUpdate:
    """Body of ``PATCH /experiments/{id}/views/{view_id}``: a new name and/or a new state
    (what is null stays)."""

    name: str | None = None
    state: dict[str, str] | None = None
