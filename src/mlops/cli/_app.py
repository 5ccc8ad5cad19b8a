"""``mlops app`` and ``mlops tokens``: run the App and manage its access tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlops.cli._format import console, fmt_time, print_json
from mlops.cli._main import WideHelpGroup

if TYPE_CHECKING:
    from mlops.store.sql.store import SqlStore


def _store_uri(store: str | None) -> str:
    from mlops.config import tracking_uri

    uri = tracking_uri(store)
    if not uri.startswith(("sqlite:", "postgresql")):
        raise click.UsageError(
            f"the App keeps its data in a database: pass --store sqlite:///path or "
            f"postgresql://..., not {uri}"
        )
    return uri


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--store",
    "store",
    metavar="URI",
    help="Database: sqlite:///path or postgresql://... (default: the embedded one in MLOPS_HOME).",
)
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option(
    "--statement-timeout", "statement_timeout", default=30.0, show_default=True, type=float,
    envvar="MLOPS_STATEMENT_TIMEOUT", metavar="SECONDS",
    help="Stop a PostgreSQL query running longer (0: no limit); env MLOPS_STATEMENT_TIMEOUT.",
)  # fmt: skip
@click.option("--auth", is_flag=True, help="Require a token on every API call.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without --auth.")
@click.option(
    "--allowed-hosts", "allowed_hosts", multiple=True, metavar="HOST",
    help="Extra Host header names to answer (e.g. the load balancer's name). Repeatable.",
)  # fmt: skip
@click.option(
    "--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
    help="A web origin allowed to call the API from a browser. Repeatable.",
)  # fmt: skip
@click.option(
    "--artifacts", "artifacts", metavar="PATH|s3://BUCKET/PREFIX",
    help="Where logged files are kept (default: the 'artifacts' folder beside an SQLite "
    "database, else MLOPS_HOME/artifacts). s3:// needs boto3; AWS_ENDPOINT_URL picks MinIO etc.",
)  # fmt: skip
@click.option(
    "--max-artifact-size", "max_artifact_size", default="20GiB", show_default=True,
    metavar="SIZE", help="The largest file one upload may carry (e.g. 500MiB, 20GiB).",
)  # fmt: skip
@click.option(
    "--forwarded-allow-ips", "forwarded_allow_ips", multiple=True, metavar="ADDRESS",
    help="A proxy or load balancer whose X-Forwarded-For names the client (an address, a "
    "network, or '*'). Repeatable.",
)  # fmt: skip
@click.option(
    "--max-in-flight", default=64, show_default=True, type=int,
    help="Requests in flight per process; beyond it: 503 with Retry-After.",
)  # fmt: skip
@click.option(
    "--max-in-flight-per-client", default=None, type=int,
    help="One client's share of them (a token with --auth, else an address) [default: a "
    "quarter].",
)  # fmt: skip
@click.option(
    "--body-timeout", default=30.0, show_default=True, type=float,
    help="Seconds a request body may take to arrive (then 408).",
)  # fmt: skip
@click.option(
    "--max-writes", default=2, show_default=True, type=int,
    help="Batches of points written at once per process.",
)  # fmt: skip
@click.option(
    "--write-wait", default=0.5, show_default=True, type=float,
    help="Seconds a write may wait for its turn (then 503 with Retry-After).",
)  # fmt: skip
@click.option(
    "--mlflow-project", "mlflow_project", default="mlflow", show_default=True, metavar="NAME",
    help="The project MLflow clients log into (made when missing); an experiment tag "
    "mlops.project picks another one.",
)  # fmt: skip
def app(
    host: str,
    port: int,
    store: str | None,
    workers: int,
    statement_timeout: float,
    auth: bool,
    insecure: bool,
    allowed_hosts: tuple[str, ...],
    cors_origins: tuple[str, ...],
    artifacts: str | None,
    max_artifact_size: str,
    forwarded_allow_ips: tuple[str, ...],
    max_in_flight: int,
    max_in_flight_per_client: int | None,
    body_timeout: float,
    max_writes: int,
    write_wait: float,
    mlflow_project: str,
) -> None:
    """Start the MLOps App (REST API and web pages) and print its URL."""
    from mlops.app.server import serve
    from mlops.app.settings import AppSettings, parse_size

    settings = AppSettings(
        store_uri=_store_uri(store), host=host, port=port, workers=workers, auth=auth,
        insecure=insecure, allowed_hosts=allowed_hosts, cors_origins=cors_origins,
        artifacts=artifacts, max_artifact_bytes=parse_size(max_artifact_size),
        statement_timeout=statement_timeout,
        forwarded_allow_ips=forwarded_allow_ips, max_in_flight=max_in_flight,
        max_in_flight_per_client=max_in_flight_per_client, body_timeout=body_timeout,
        max_writes=max_writes, write_wait=write_wait, mlflow_project=mlflow_project,
    )  # fmt: skip
    serve(settings)


@click.group(cls=WideHelpGroup)
def tokens() -> None:
    """Access tokens of the App (for `mlops app --auth`)."""


def _token_store(store: str | None) -> SqlStore:
    from mlops.store.sql.store import SqlStore

    return SqlStore(_store_uri(store))


_store_option = click.option("--store", "store", metavar="URI", help="The App's database.")


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope", type=click.Choice(["read", "write", "admin"]), default="write", show_default=True
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="P",
    help="Limit the token to this project (title or id); repeat for several. Default: all.",
)
@click.option(
    "--expires", metavar="WHEN", help="When it stops working: 30m, 12h, 90d, 2w or a date."
)
@_store_option
def tokens_create(
    name: str, scope: str, projects: tuple[str, ...], expires: str | None, store: str | None
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    from mlops.store.sql.tokens import expiry_time

    expires_at = None if expires is None else expiry_time(expires)
    secret, token = _token_store(store).create_token(name, scope, projects, expires_at)
    click.echo(secret)
    limits = f", projects {', '.join(token.projects)}" if token.projects else ""
    if token.expires_at is not None:
        limits += f", expires {fmt_time(token.to_dict()['expires_at'])}"
    click.echo(
        f"token {token.name!r} ({token.scope}{limits}) created: it is shown only now. Give it "
        "to the client as MLOPS_API_TOKEN.",
        err=True,
    )


@tokens.command("list")
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tokens_list(store: str | None, as_json: bool) -> None:
    """List tokens (names, scopes, dates; never the secrets)."""
    found = _token_store(store).list_tokens()
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    from rich.table import Table

    table = Table("name", "id", "scope", "projects", "created", "expires", "last used", "revoked")
    for t in (x.to_dict() for x in found):
        table.add_row(
            t["name"], t["id"], t["scope"], ", ".join(t["projects"]) or "all",
            fmt_time(t["created_at"]), fmt_time(t["expires_at"]) if t["expires_at"] else "never",
            fmt_time(t["last_used_at"]), fmt_time(t["revoked_at"]),
        )  # fmt: skip
    console().print(table)


@tokens.command("revoke")
@click.argument("name_or_id")
@_store_option
def tokens_revoke(name_or_id: str, store: str | None) -> None:
    """Revoke a token: it is refused from the next request on."""
    token = _token_store(store).revoke_token(name_or_id)
    click.echo(f"token {token.name!r} revoked")


@click.command("audit")
@click.option("--since", metavar="WHEN", help="Only changes since: 30m, 12h, 7d, 2w or a date.")
@click.option("--who", metavar="NAME", help="Only changes by this token (or local:USER).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(since: str | None, who: str | None, limit: int, store: str | None, as_json: bool) -> None:
    """Who changed what, on which object, when (newest first)."""
    import time

    from mlops.store.sql.tokens import expiry_time

    start = None
    if since is not None:
        now = time.time()
        start = 2 * now - expiry_time(since, now, "--since") if since[-1:].isalpha() else None
        if start is None:
            import datetime as dt

            try:
                when = dt.datetime.fromisoformat(since)
            except ValueError:
                raise click.BadParameter(
                    f"{since!r} is not a duration or a date: use 30m, 12h, 7d or 2027-03-01",
                    param_hint="--since",
                ) from None
            start = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
    found = _token_store(store).list_audit_events(start, who, limit)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    from rich.table import Table

    table = Table("when", "who", "action", "kind", "object")
    for e in (x.to_dict() for x in found):
        table.add_row(fmt_time(e["at"]), e["actor"], e["action"], e["kind"], e["object_id"] or "")
    console().print(table)
