"""The same MLflow client script against the mlops App and against ``mlflow server``.

Both servers on SQLite, on the loopback interface, one worker process each, in a fresh
temporary folder. The client is the real ``mlflow`` package, in a child process of its own
for each server (``MLFLOW_TRACKING_URI`` set to the server's URL):

- W1: ``--runs`` (1,000) runs of ``mlflow.start_run`` + ``log_params`` (10) + ``log_metrics``
  (10) + ``end_run``; figure: runs per second;
- W2: ``--points`` (100,000) metric points through ``MlflowClient.log_batch`` in batches of
  1,000 (MLflow's limit) into one run; figure: points per second;
- the MLflow client's own CPU time in W1 and W2: it is the same against both servers, so
  MLflow's time divided by it is the highest ratio any server could reach (printed);
- the same two with a thin client (``requests``, the JSON bodies made beforehand): the
  servers' own cost, without the MLflow client's (context tags, protobuf to JSON), which is
  the same on both sides and bounds the ratio of the first two figures.

Printed: both figures for both servers and the ratio mlops / MLflow (target: at least 5x).

Run::

    .venv/bin/python benchmarks/mlflow_compat.py
    .venv/bin/python benchmarks/mlflow_compat.py --runs 200 --points 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app_server import AppProcess, free_port

CLIENT = r"""
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

runs, points = int(sys.argv[1]), int(sys.argv[2])
mlflow.set_experiment("bench")
params = {f"p{i}": i for i in range(10)}
metrics = {f"m{i}": i / 10 for i in range(10)}
with mlflow.start_run():  # warm-up: connections, the experiment
    pass
started, cpu = time.perf_counter(), time.process_time()
for _ in range(runs):
    mlflow.start_run()
    mlflow.log_params(params)
    mlflow.log_metrics(metrics)
    mlflow.end_run()
w1, w1_cpu = time.perf_counter() - started, time.process_time() - cpu

client = MlflowClient()
run = client.create_run(mlflow.get_experiment_by_name("bench").experiment_id)
now = int(time.time() * 1000)
started, cpu = time.perf_counter(), time.process_time()
for first in range(0, points, 1000):
    steps = range(first, min(first + 1000, points))
    batch = [Metric("loss", i / points, now + i, i) for i in steps]
    client.log_batch(run.info.run_id, metrics=batch, synchronous=True)
w2, w2_cpu = time.perf_counter() - started, time.process_time() - cpu
client.set_terminated(run.info.run_id)
stored = len(client.get_metric_history(run.info.run_id, "loss"))

# The same requests with their JSON made beforehand (a thin client: what the server costs)
import requests
api = mlflow.get_tracking_uri().rstrip("/") + "/api/2.0/mlflow"
session = requests.Session()
experiment_id = mlflow.get_experiment_by_name("bench").experiment_id
create = json.dumps({"experiment_id": experiment_id, "start_time": now, "tags": [
    {"key": "mlflow.user", "value": "bench"}, {"key": "mlflow.source.name", "value": "bench"},
    {"key": "mlflow.source.type", "value": "LOCAL"}]})
params_body = [{"key": k, "value": str(v)} for k, v in params.items()]
metrics_body = [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in metrics.items()]
headers = {"Content-Type": "application/json"}
def post(path, body):
    answer = session.post(api + path, data=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()
started = time.perf_counter()
for _ in range(runs):
    run_id = post("/runs/create", create)["run"]["info"]["run_id"]
    post("/runs/log-batch", json.dumps({"run_id": run_id, "params": params_body}))
    post("/runs/log-batch", json.dumps({"run_id": run_id, "metrics": metrics_body}))
    assert session.get(api + "/runs/get", params={"run_id": run_id}).status_code == 200
    post("/runs/update", json.dumps({"run_id": run_id, "status": "FINISHED", "end_time": now}))
w1_wire = time.perf_counter() - started
run_id = post("/runs/create", create)["run"]["info"]["run_id"]
bodies = [json.dumps({"run_id": run_id, "metrics": [
    {"key": "loss", "value": i / points, "timestamp": now + i, "step": i}
    for i in range(first, min(first + 1000, points))]}) for first in range(0, points, 1000)]
started = time.perf_counter()
for body in bodies:
    post("/runs/log-batch", body)
w2_wire = time.perf_counter() - started
print(json.dumps({"w1": w1, "w2": w2, "stored": stored, "w1_wire": w1_wire, "w2_wire": w2_wire,
                  "w1_cpu": w1_cpu, "w2_cpu": w2_cpu}))
"""


class MlflowServer:
    """``mlflow server`` on SQLite on a loopback port (one uvicorn worker)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "mlartifacts"),
        ]  # fmt: skip
        self.log = (folder / "mlflow-server.log").open("wb")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=self.log, cwd=folder)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: see {folder / 'mlflow-server.log'}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("mlflow server did not answer within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def measure(url: str, runs: int, points: int) -> dict[str, float]:
    """The client script's timings against the server at ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
    env |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(runs), str(points)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the client failed against {url}:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["stored"] != points:
        raise RuntimeError(f"{url} kept {result['stored']} of {points} points")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlflow-compat-") as tmp:
        folder = Path(tmp)
        (folder / "mlops").mkdir()
        (folder / "mlflow").mkdir()
        app = AppProcess(f"sqlite:///{folder / 'mlops' / 'mlops.db'}", folder / "mlops")
        try:
            ours = measure(app.url, args.runs, args.points)
        finally:
            app.stop()
        server = MlflowServer(folder / "mlflow")
        try:
            theirs = measure(server.url, args.runs, args.points)
        finally:
            server.stop()
    print(f"MLflow client script, {args.runs:,} runs (W1) and {args.points:,} points (W2)")
    print(f"{'':28}{'mlops App':>14}{'mlflow server':>16}{'ratio':>9}")
    for key, label, count in (
        ("w1", "W1 runs/s", args.runs),
        ("w2", "W2 points/s", args.points),
        ("w1_wire", "W1 runs/s, thin client", args.runs),
        ("w2_wire", "W2 points/s, thin client", args.points),
    ):
        mine, other = count / ours[key], count / theirs[key]
        print(f"{label:28}{mine:>14,.0f}{other:>16,.0f}{mine / other:>8.1f}x")
        print(f"{'  seconds':28}{ours[key]:>14.2f}{theirs[key]:>16.2f}")
    print("target: at least 5x on both. The thin client sends the same requests with their JSON")
    print("made beforehand: the MLflow client's own work (context tags, protobufs) left out.")
    print("The MLflow client's own CPU in the same run (the same work against both servers) sets")
    print("the highest ratio any server could reach: MLflow's seconds / the client's CPU seconds.")
    for key, label in (("w1", "W1"), ("w2", "W2")):
        cpu, their_cpu = ours[f"{key}_cpu"], theirs[f"{key}_cpu"]
        print(
            f"  {label}: client CPU {cpu:.2f} s against the App ({their_cpu:.2f} s against MLflow):"
            f" ceiling {theirs[key] / cpu:.1f}x, reached {theirs[key] / ours[key]:.1f}x"
        )


if __name__ == "__main__":
    main()
