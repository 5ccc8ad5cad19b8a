"""REST routes for Markdown notes of projects, experiments and iterations, and for moving an
iteration to another experiment of its project. The text is stored as given; pages render it
(raw HTML escaped), the API hands it back verbatim; ``POST /notes/preview`` renders a text
the way the pages will show it once saved (the notes editor's preview)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, IterationOut, NoteOut, ok
from mlops.app.ui.markdown import render_note
from mlops.wire import IterationMove, NoteText

router = APIRouter(route_class=PlainRoute, responses=ERRORS)


class NotePreviewOut(BaseModel):
    """A note's Markdown rendered exactly as the pages show it once saved: raw HTML escaped,
    unsafe links dropped, every link ``rel="noopener nofollow"``."""

    model_config = ConfigDict(extra="forbid")

    html: str


@router.post("/notes/preview", dependencies=[CanRead], tags=["notes"], responses=ok(NotePreviewOut))
def preview_note(body: NoteText) -> Any:
    """Render a note's Markdown without saving it (what the notes editor's Preview shows);
    nothing is stored, so a read token is enough."""
    return {"html": str(render_note(body.text))}


@router.post(
    "/iterations/{iteration_id}/move",
    dependencies=[CanWrite],
    tags=["iterations"],
    responses=ok(IterationOut),
)
def move_iteration(iteration_id: str, body: IterationMove, store: StoreDep) -> Any:
    """Move an iteration, with all it logged, to another experiment of the same project
    (400 naming both projects for another project's experiment)."""
    return store.move_iteration(iteration_id, body.experiment_id).to_dict()


def _add_note_routes(plural: str, kind: str) -> None:
    path = f"/{plural}/{{owner_id}}/note"

    def get_note(owner_id: str, store: StoreDep) -> Any:
        return store.get_note(kind, owner_id).to_dict()

    def set_note(owner_id: str, body: NoteText, store: StoreDep) -> Any:
        return store.set_note(kind, owner_id, body.text).to_dict()

    get_note.__doc__ = f'The Markdown note of a {kind} (text "" when it has none).'
    set_note.__doc__ = f'Replace the Markdown note of a {kind} ("" removes it).'
    router.add_api_route(
        path, get_note, methods=["GET"], dependencies=[CanRead], tags=[plural],
        responses=ok(NoteOut), name=f"get_{kind}_note", operation_id=f"get_{kind}_note",
    )  # fmt: skip
    router.add_api_route(
        path, set_note, methods=["PUT"], dependencies=[CanWrite], tags=[plural],
        responses=ok(NoteOut), name=f"set_{kind}_note", operation_id=f"set_{kind}_note",
    )  # fmt: skip


for _plural, _kind in (
    ("projects", "project"),
    ("experiments", "experiment"),
    ("iterations", "iteration"),
):
    _add_note_routes(_plural, _kind)
