"""``mlops sync``: send what training processes kept in the journal while the App was away."""

from __future__ import annotations

import click

from mlops.errors import MlopsError, Unavailable


@click.command()
@click.option(
    "--store",
    "store",
    metavar="URL",
    help="Send to this App instead of the one each record names (e.g. after it moved).",
)
def sync(store: str | None) -> None:
    """Send journaled records (App unreachable, or MLOPS_MODE=offline) to the App.

    Records are marked synced only after the App acknowledged them; sending one twice is
    harmless. Files of processes still running are left to them. Damaged records (a torn or
    altered line) cannot be sent: their files are kept for inspection, named with the damaged
    lines, and the command exits 1 until they are deleted. Files logged while the App was away
    are uploaded too; one journaled by reference that changed or vanished since is named, its
    journal file kept, and the command exits 1 likewise.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mlops.config import mlops_home
    from mlops.store.journal import damaged, describe_damage, pending, refused
    from mlops.store.journal import sync as sync_journal

    home = mlops_home()
    if store is not None and not store.startswith(("http://", "https://")):
        raise click.UsageError(f"--store must be the App's http(s):// URL, not {store}")
    if not pending(home) and not damaged(home) and not refused(home):
        click.echo(f"nothing to sync in {home / 'journal'}")
        return
    columns = (TextColumn("syncing"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sync", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = sync_journal(store, home, progress)
    click.echo(f"sent {report.sent} records from {len(report.files)} journal file(s)")
    if report.busy:
        click.echo(
            f"{len(report.busy)} file(s) belong to a running process, which sends them itself",
            err=True,
        )
    problems = []
    if report.remaining:
        reasons = "; ".join(report.errors) or "the App did not acknowledge them"
        problems.append(f"{report.remaining} record(s) still to send ({reasons}): run again")
    sent_others = not report.remaining
    problems += [describe_damage(path, bad, sent_others) for path, bad in report.damaged]
    problems += [
        f"{len(why)} file(s) of the journal file {path} could not be sent ({'; '.join(why)}); "
        "the journal file is kept for inspection: delete it once looked at (log the file again "
        "to keep it)"
        for path, why in report.refused
    ]
    if problems:
        raise (Unavailable if report.remaining else MlopsError)("; ".join(problems))
