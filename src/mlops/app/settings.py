"""Settings of the MLOps App, checked before it starts: unsafe combinations are refused."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, field

from mlops.artifacts import default_location
from mlops.config import mlops_home
from mlops.errors import InvalidInput

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ENV_SETTINGS = "MLOPS_APP_SETTINGS"


@dataclass(frozen=True)
class AppSettings:
    """How one App process runs. ``store_uri`` is a ``sqlite:///`` or ``postgresql://`` URI."""

    store_uri: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    auth: bool = False
    insecure: bool = False
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    #: Requests in flight in one process; beyond it the App answers 503 with Retry-After.
    max_in_flight: int = 64
    #: Where files are kept: a folder or ``s3://bucket/prefix`` (see ``artifacts_location``).
    artifacts: str | None = None
    max_artifact_bytes: int = 20 * 1024**3
    #: Seconds a PostgreSQL statement may run before it is stopped (0: no limit).
    statement_timeout: float = 30.0
    #: One client's share of them (a token with --auth, else a peer address); None: a quarter.
    max_in_flight_per_client: int | None = None
    #: Seconds a request body may take to arrive whole (then 408).
    body_timeout: float = 30.0
    #: Writes that run at once in one process, and the seconds a write may wait for its turn.
    max_writes: int = 2
    write_wait: float = 0.5
    #: Addresses of proxies whose X-Forwarded-For names the client ("*" for any).
    forwarded_allow_ips: tuple[str, ...] = ()
    #: The project MLflow clients log into (``--mlflow-project``), made on first use.
    mlflow_project: str = "mlflow"
    extra: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse a configuration that would expose data: a public address without tokens."""
        if self.workers < 1:
            raise InvalidInput(f"--workers must be 1 or more, got {self.workers}")
        if not self.statement_timeout >= 0:  # also refuses NaN
            raise InvalidInput(
                f"--statement-timeout must be 0 (no limit) or more seconds, got "
                f"{self.statement_timeout}"
            )
        if not 0 < self.port < 65536:
            raise InvalidInput(f"--port must be between 1 and 65535, got {self.port}")
        for option, value in (
            ("--max-in-flight", self.max_in_flight),
            ("--max-in-flight-per-client", self.per_client_share()),
            ("--body-timeout", self.body_timeout),
            ("--max-writes", self.max_writes),
            ("--write-wait", self.write_wait),
        ):
            if not value > 0:
                raise InvalidInput(f"{option} must be more than 0, got {value}")
        if not self.mlflow_project.strip() or len(self.mlflow_project) > 250:
            raise InvalidInput(
                f"--mlflow-project must be a project title of 1 to 250 characters, got "
                f"{self.mlflow_project!r}"
            )
        if not is_loopback(self.host) and not self.auth and not self.insecure:
            raise InvalidInput(
                f"refusing to listen on {self.host} without access control: anyone who can "
                "reach it could read and change every experiment. Start it with --auth (and "
                "create tokens with `mlops tokens create NAME --scope write`), or pass "
                "--insecure if the network is private and you accept the risk"
            )

    def artifacts_location(self) -> str:
        """``--artifacts``, else ``MLOPS_ARTIFACT_STORE``, else the ``artifacts`` folder beside
        an SQLite database (where the embedded library keeps them), else
        ``$MLOPS_HOME/artifacts``."""
        if self.artifacts:
            return self.artifacts
        return default_location(self.store_uri) or str(mlops_home() / "artifacts")

    def served_hosts(self) -> set[str]:
        """Host header values the App answers (DNS-rebinding protection)."""
        hosts = {"127.0.0.1", "localhost", "::1", "[::1]", *self.allowed_hosts}
        if self.host not in ("0.0.0.0", "::"):
            hosts.add(self.host)
        return {h.lower() for h in hosts}

    def per_client_share(self) -> int:
        """How many requests one client may have in flight in one process."""
        if self.max_in_flight_per_client is not None:
            return min(self.max_in_flight_per_client, self.max_in_flight)
        return max(1, self.max_in_flight // 4)

    def to_env(self) -> str:
        """The settings as JSON for worker processes (see :func:`from_env`)."""
        return json.dumps(asdict(self))


def from_env() -> AppSettings:
    """Settings handed to a worker process through ``MLOPS_APP_SETTINGS``."""
    raw = json.loads(os.environ[ENV_SETTINGS])
    raw["allowed_hosts"] = tuple(raw.get("allowed_hosts", ()))
    raw["cors_origins"] = tuple(raw.get("cors_origins", ()))
    raw["forwarded_allow_ips"] = tuple(raw.get("forwarded_allow_ips", ()))
    return AppSettings(**raw)


_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}  # fmt: skip


def parse_size(text: str) -> int:
    """A size such as ``500MiB``, ``20GiB``, ``1.5GB`` or ``1048576`` in bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidInput(f"{text!r} is not a size: write e.g. 500MiB, 20GiB or 1048576")
    return int(float(match.group(1)) * _UNITS[unit])


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
