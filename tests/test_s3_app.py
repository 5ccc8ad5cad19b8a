"""The App keeping files on S3, used through the library: real ``mlops app --artifacts
s3://BUCKET/prefix`` processes against the moto S3 server of ``s3_support`` (boto3 in the App
finds it through ``AWS_ENDPOINT_URL`` and the credentials, which the App processes inherit).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops import tracking
from mlops.store import close_stores
from s3_support import s3_bucket, s3_endpoint  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(120)

BIG = 20 << 20  # over the 16 MiB part size: the library sends it in parts
PREFIX = "team/artifacts"


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _use(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the library at the App at ``url`` (the stores opened so far are closed first)."""
    close_stores()
    monkeypatch.setenv("MLOPS_TRACKING_URI", url)


def test_files_and_models_through_apps_on_s3(
    mlops_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_bucket: str,  # noqa: F811 - fixture
    start_app: Callable[..., Any],
) -> None:
    import boto3

    from mlops.store.http_artifacts import PART

    assert BIG > PART  # so the big file goes in parts
    assert os.environ["AWS_ENDPOINT_URL"]  # set by s3_bucket, inherited by the App processes
    database = f"sqlite:///{tmp_path / 'team.db'}"
    location = f"s3://{s3_bucket}/{PREFIX}"
    with ThreadPoolExecutor(2) as pool:  # both start at once: each takes seconds to import
        first, second = pool.map(lambda _: start_app(database, "--artifacts", location), "ab")

    source = tmp_path / "source"
    (source / "plots").mkdir(parents=True)
    (source / "small.txt").write_bytes(b"a small file\n")
    big = os.urandom(BIG)
    (source / "big.bin").write_bytes(big)
    (source / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
    (source / "plots" / "deep").mkdir()
    (source / "plots" / "deep" / "note.md").write_text("# deep\n")
    (source / "model").mkdir()
    (source / "model" / "weights.bin").write_bytes(os.urandom(4096))

    _use(first.url, monkeypatch)
    project = tracking.create_project("s3-team")
    tracking.set_active_project(project["id"])
    with tracking.start_iteration("on-s3") as it:
        it.log_artifact(source / "small.txt")
        it.log_artifact(source / "big.bin")
        it.log_artifact(source / "plots")
        it.log_path_to_model(source / "model")
    listed = {a["name"]: a["size_bytes"] for a in tracking.list_artifacts(it.id)}
    assert listed == {
        "small.txt": 13,
        "big.bin": BIG,
        "plots/roc.csv": 16,
        "plots/deep/note.md": 7,
        "model/weights.bin": 4096,
    }
    version = tracking.register_model("s3-model", it.id)
    assert version["version"] == 1

    # the bytes are in the bucket under the prefix, not beside the database
    objects = boto3.client("s3").list_objects_v2(Bucket=s3_bucket, Prefix=PREFIX + "/")
    stored = sum(o["Size"] for o in objects.get("Contents", []))
    assert stored >= BIG + 4096 + 13
    assert not (tmp_path / "artifacts").exists()

    expected = {
        "small.txt": b"a small file\n",
        "big.bin": big,
        **{f"plots/{k}": v for k, v in _files(source / "plots").items()},
        "model/weights.bin": (source / "model" / "weights.bin").read_bytes(),
    }
    for app, where in ((first, "first"), (second, "second")):
        _use(app.url, monkeypatch)
        everything = tmp_path / f"all-{where}"
        tracking.download_artifacts(it.id, dst=everything)
        assert _files(everything) == expected, where
        folder = tracking.download_artifacts(it.id, "plots", tmp_path / f"plots-{where}")
        assert Path(folder).name == "plots"
        assert _files(Path(folder)) == _files(source / "plots"), where
        model = tracking.download_model("s3-model", 1, tmp_path / f"model-{where}")
        assert _files(Path(model)) == _files(source / "model"), where
        answer = httpx.get(
            f"{app.url}/api/v1/iterations/{it.id}/artifacts/content",
            params={"name": "big.bin"},
            headers={"range": "bytes=16777200-16777299"},  # across the parts' seam
        )
        assert answer.status_code == 206 and answer.content == big[16777200:16777300], where
