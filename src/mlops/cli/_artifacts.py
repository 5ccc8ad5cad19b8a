"""``mlops artifacts``, ``mlops models`` and ``mlops gc``: the files iterations kept, the model
registry, and removing blobs nothing refers to any more."""

from __future__ import annotations

import time

import click

from mlops.cli._format import Column, console, fmt_bytes, fmt_time, print_json, print_table
from mlops.cli._ids import resolve_iteration
from mlops.cli._main import WideHelpGroup

__all__ = ["artifacts", "gc", "models"]

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON to stdout (for scripts) instead of a table."
)


@click.group(cls=WideHelpGroup)
def artifacts() -> None:
    """Files an iteration kept: list, download and delete them."""


@artifacts.command("list")
@click.argument("iteration")
@json_option
def artifacts_list(iteration: str, as_json: bool) -> None:
    """List the files of an iteration (any unique prefix of its id)."""
    from mlops import tracking

    rows = tracking.list_artifacts(resolve_iteration(iteration))
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no files: log one with it.log_artifact(path)", style="dim")
        return
    print_table(
        console(),
        [
            Column("name", [r["name"] for r in rows], always=True),
            Column("step", ["" if r["step"] is None else str(r["step"]) for r in rows], priority=2),
            Column("size", [fmt_bytes(r["size_bytes"]) for r in rows], justify="right"),
            Column("sha256", [r["sha256"][:12] for r in rows], style="cyan", priority=1),
            Column("type", [r["media_type"] for r in rows], priority=3),
            Column("logged", [fmt_time(r["created_at"]) for r in rows], priority=2),
        ],
        "files",
    )


@artifacts.command("download")
@click.argument("iteration")
@click.argument("name", required=False)
@click.option("-o", "--output", "dst", default=".", show_default=True, help="Folder to write to.")
def artifacts_download(iteration: str, name: str | None, dst: str) -> None:
    """Download an iteration's files (or the file or folder NAME) into a folder, keeping their
    layout."""
    from mlops import tracking

    where = tracking.download_artifacts(resolve_iteration(iteration), name, dst)
    click.echo(where)


@artifacts.command("delete")
@click.argument("iteration")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Delete without asking first.")
def artifacts_delete(iteration: str, name: str, yes: bool) -> None:
    """Delete an iteration's file NAME (every image of a series of that name) or every file in
    the folder NAME. The bytes stay stored until `mlops gc --yes` finds nothing uses them."""
    from mlops import tracking
    from mlops.errors import NotFound

    iteration_id = resolve_iteration(iteration)
    found = tracking.list_artifacts(iteration_id, prefix=name)
    if not found:
        raise NotFound(
            f"iteration {iteration_id!r} has no file or folder {name!r}: see "
            f"`mlops artifacts list {iteration_id[:8]}`"
        )
    if any(a["name"] == name for a in found):
        what = f"the file {name!r}" + (f" ({len(found)} steps)" if len(found) > 1 else "")
    else:
        what = f"{len(found)} file(s) in the folder {name!r}"
    if not yes and not click.confirm(f"Delete {what} of iteration {iteration_id[:8]}?"):
        click.echo("nothing deleted", err=True)
        raise SystemExit(1)
    deleted = tracking.delete_artifacts(iteration_id, name)
    click.echo(
        f"deleted {deleted} file(s) of iteration {iteration_id[:8]} (mlops gc frees the bytes)"
    )


@click.group(cls=WideHelpGroup)
def models() -> None:
    """The model registry: named models, their versions and aliases."""


@models.command("list")
@json_option
def models_list(as_json: bool) -> None:
    """List the registered models with their latest version and aliases."""
    from mlops.config import tracking_uri
    from mlops.store import open_store

    rows = [m.to_dict() for m in open_store(tracking_uri()).list_models()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print(
            "no models: register one with tracking.register_model(name, id)", style="dim"
        )
        return
    aliases = [", ".join(f"{a}→v{v}" for a, v in sorted(r["aliases"].items())) for r in rows]
    latest = [f"v{r['latest_version']}" if r["latest_version"] else "—" for r in rows]
    print_table(
        console(),
        [
            Column("name", [r["name"] for r in rows], always=True),
            Column("latest", latest, justify="right"),
            Column("aliases", aliases),
            Column("tags", [_tags(r["tags"]) for r in rows], priority=1),
            Column("registered", [fmt_time(r["created_at"]) for r in rows], priority=1),
        ],
        "models",
    )


@models.command("show")
@click.argument("name")
@json_option
def models_show(name: str, as_json: bool) -> None:
    """Show a model's versions: the iteration each came from and the aliases on it."""
    from mlops.config import tracking_uri
    from mlops.store import open_store

    store = open_store(tracking_uri())
    model = store.get_model(name)
    versions = [v.to_dict() for v in store.list_model_versions(name)]
    if as_json:
        print_json({**model.to_dict(), "versions": versions})
        return
    if model.description or model.tags:
        console().print(" ".join(filter(None, [model.description, _tags(model.tags)])))
    if not versions:
        console().print(
            f"no versions: register one with tracking.register_model({name!r}, id)", style="dim"
        )
        return
    print_table(
        console(),
        [
            Column("version", [f"v{v['version']}" for v in versions], always=True),
            Column("aliases", [", ".join(a["alias"] for a in v["aliases"]) for v in versions]),
            Column("iteration", [v["iteration_id"][:8] for v in versions], style="cyan"),
            Column("artifact", [v["artifact"] for v in versions], priority=1),
            Column("tags", [_tags(v["tags"]) for v in versions], priority=1),
            Column("by", [v["created_by"] for v in versions], priority=2),
            Column("registered", [fmt_time(v["created_at"]) for v in versions], priority=1),
        ],
        "versions",
    )


def _tags(tags: dict[str, str]) -> str:
    """Tags as ``key=value`` pairs for a table cell."""
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


@click.command()
@click.option("--yes", is_flag=True, help="Delete them (without it, only say what would go).")
@click.option(
    "--min-age", default=3600.0, show_default=True, type=float,
    help="Seconds a blob must be stored before it may go (uploads in flight are not recorded yet).",
)  # fmt: skip
@click.option(
    "--artifacts", "location", metavar="PATH|s3://BUCKET/PREFIX",
    help="The artifact storage (default: the store's, as the App and the library find it).",
)  # fmt: skip
def gc(yes: bool, min_age: float, location: str | None) -> None:
    """Remove stored files (blobs) that no iteration or model refers to any more. A dry run
    unless --yes."""
    from mlops.artifacts import default_location, open_artifact_store
    from mlops.config import tracking_uri
    from mlops.errors import InvalidInput
    from mlops.store.sql.store import SqlStore

    uri = tracking_uri()
    if not uri.startswith(("sqlite:", "postgresql")):
        raise InvalidInput(
            "mlops gc runs on the App's database: pass --store sqlite:///... or "
            f"postgresql://..., not {uri}"
        )
    where = location or default_location(uri)
    if where is None:
        raise InvalidInput("pass --artifacts (or set MLOPS_ARTIFACT_STORE) for a PostgreSQL store")
    store, files = SqlStore(uri), open_artifact_store(where)
    try:
        referenced = store.artifact_digests()
        cutoff = time.time() - min_age
        doomed = [d for d in files.digests() if d not in referenced and files.stored_at(d) < cutoff]
        size = sum(files.size(d) for d in doomed)
        for digest in doomed if yes else []:
            files.delete(digest)
    finally:
        store.close()
        files.close()
    verb = "removed" if yes else "would remove"
    click.echo(f"{verb} {len(doomed)} unreferenced file(s), {fmt_bytes(size)}, from {where}")
    if doomed and not yes:
        click.echo("run again with --yes to delete them", err=True)
