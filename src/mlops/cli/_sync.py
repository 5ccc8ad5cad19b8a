"""``mlops sync``: send what training processes kept in the journal while the App was away."""

from __future__ import annotations

import click

from mlops.errors import Unavailable


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
    harmless. Files of processes still running are left to them.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mlops.config import mlops_home
    from mlops.store.journal import pending
    from mlops.store.journal import sync as sync_journal

    home = mlops_home()
    if store is not None and not store.startswith(("http://", "https://")):
        raise click.UsageError(f"--store must be the App's http(s):// URL, not {store}")
    if not pending(home):
        click.echo(f"nothing to sync in {home / 'journal'}")
        return
    columns = (TextColumn("syncing"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sync", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = sync_journal(store, home, progress)
    click.echo(f"sent {report.sent} records from {len(report.files)} journal file(s)")
    if report.skipped_corrupt:
        click.echo(f"skipped {report.skipped_corrupt} damaged record(s)", err=True)
    if report.busy:
        click.echo(
            f"{len(report.busy)} file(s) belong to a running process, which sends them itself",
            err=True,
        )
    if report.remaining:
        reasons = "; ".join(report.errors) or "the App did not acknowledge them"
        raise Unavailable(f"{report.remaining} record(s) still to send ({reasons}): run again")
