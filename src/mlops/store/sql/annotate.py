"""Annotating what was tracked: rename projects, describe experiments, move iterations
between experiments of a project, and Markdown notes of projects, experiments and iterations.

A note is one row of ``notes`` keyed by its owner's kind and id; an empty text removes the row,
so "no note" and "an empty note" read the same.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, insert, select, update

from mlops.entities import Experiment, Iteration, Note, Project
from mlops.errors import AlreadyExists, InvalidInput
from mlops.store import rules
from mlops.store.sql.iterations import load_iterations
from mlops.store.sql.lifecycle import LifecycleMethods
from mlops.store.sql.models import ITERATIONS, METRIC_SUMMARIES, NOTES, PROJECTS


class AnnotationMethods(LifecycleMethods):
    """Rename, describe, move and annotate (mixed into SqlStore)."""

    def rename_project(self, project_id: str, title: str) -> Project:
        rules.check_name(title, "project title")
        with self._write(f"rename project to {title!r}") as conn:
            project = self._project(conn, project_id)
            if project.title == title:
                return project
            query = select(PROJECTS.c.id).where(PROJECTS.c.title == title)
            other = conn.execute(query).scalar()
            if other is not None:
                raise AlreadyExists(
                    f"there is already a project titled {title!r} (id {other}): pick another title"
                )
            values = {"title": title, "updated_at": time.time()}
            conn.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**values))
            self._audit(conn, "rename", "project", project_id, {"from": project.title, "to": title})
            return self._project(conn, project_id)

    def update_experiment(self, experiment_id: str, description: str | None) -> Experiment:
        rules.check_optional_text(description, "experiment description")
        with self._write("describe experiment") as conn:
            self._experiment(conn, experiment_id)
            self._set_experiment(conn, experiment_id, description=description or None)
            self._audit(conn, "update", "experiment", experiment_id, {"description": description})
            return self._experiment(conn, experiment_id)

    def move_iteration(self, iteration_id: str, experiment_id: str) -> Iteration:
        with self._write("move iteration") as conn:
            found = load_iterations(conn, [iteration_id], time.time())
            if not found:
                raise self._unknown_iteration(iteration_id)
            target = self._experiment(conn, experiment_id)
            iteration = found[0]
            if target.project_id != iteration.project_id:
                raise InvalidInput(
                    f"experiment {experiment_id!r} ({target.name!r}) belongs to project "
                    f"{target.project_id!r}, iteration {iteration_id!r} to project "
                    f"{iteration.project_id!r}: an iteration moves only between experiments "
                    "of its project"
                )
            if iteration.experiment_id == experiment_id:
                return iteration
            values = {"experiment_id": experiment_id}
            conn.execute(update(ITERATIONS).where(ITERATIONS.c.id == iteration_id).values(values))
            summaries = METRIC_SUMMARIES.c.iteration_id == iteration_id
            conn.execute(update(METRIC_SUMMARIES).where(summaries).values(values))
            move = {"from": iteration.experiment_id, "to": experiment_id}
            self._audit(conn, "move", "iteration", iteration_id, move)
            return load_iterations(conn, [iteration_id], time.time())[0]

    # -- notes ------------------------------------------------------------------------------
    def _note_owner(self, conn: Connection, kind: str, owner_id: str) -> None:
        if kind == "project":
            self._project(conn, owner_id)
        elif kind == "experiment":
            self._experiment(conn, owner_id)
        else:
            known = select(ITERATIONS.c.id).where(ITERATIONS.c.id == owner_id)
            if conn.execute(known).scalar() is None:
                raise self._unknown_iteration(owner_id)

    @staticmethod
    def _read_note(conn: Connection, kind: str, owner_id: str) -> Note:
        query = select(NOTES).where(NOTES.c.kind == kind, NOTES.c.owner_id == owner_id)
        row = conn.execute(query).first()
        if row is None:
            return Note(kind, owner_id, "", None)
        return Note(kind, owner_id, row.text, row.updated_at)

    def set_note(self, kind: str, owner_id: str, text: str) -> Note:
        rules.check_note(kind, text)
        with self._write(f"set the note of {kind} {owner_id!r}") as conn:
            self._note_owner(conn, kind, owner_id)
            key = (NOTES.c.kind == kind) & (NOTES.c.owner_id == owner_id)
            conn.execute(delete(NOTES).where(key))
            if text:
                row = {"kind": kind, "owner_id": owner_id, "text": text, "updated_at": time.time()}
                conn.execute(insert(NOTES).values(**row))
            self._audit(conn, "note", kind, owner_id, {"characters": len(text)})
            return self._read_note(conn, kind, owner_id)

    def get_note(self, kind: str, owner_id: str) -> Note:
        rules.check_note(kind, "")
        with self._read(f"get the note of {kind} {owner_id!r}") as conn:
            self._note_owner(conn, kind, owner_id)
            return self._read_note(conn, kind, owner_id)
