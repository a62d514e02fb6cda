"""gswarm's node-to-node model copy against `cp`, and what the queue costs per operation.

    python bench/model_copy.py [--mib 256] [--runs 3] [--tasks 100]

A real controller, its gateway (gswarm's host API) and two agents on 127.0.0.1 with free ports,
their data directories on the disk of --dir (default: a temporary directory). A file of random
bytes is registered as a model (file:// source, its sha256 in the metadata) and downloaded onto
node 1's disk. Then, side by side in one run, each ``--runs`` times:

- ``cp`` of node 1's copy to another file of the same disk (the floor: one read, one write);
- the client API's copy ``node1:disk`` -> ``node2:disk`` (the bytes go agent to agent over gRPC,
  hashed on arrival and checked against the source's sha256), timed from the request to the task's
  completion in the queue, and by the agent itself (its "done: N bytes in S s" log line).

The ratio copy/cp is the figure. Queue overhead: ``--tasks`` downloads of a 1 KiB model, one after
another (each waits for the previous one's completion), timed from the request to completion:
with nothing to move, that is what the queue, the scheduler, the stream and the reports cost each
operation. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from farm_spawn import AGENT_TOKEN, API_KEY, free_port, spawn

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def _wait(predicate, what: str, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except (requests.RequestException, OSError, KeyError, ValueError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


class Farm:
    def __init__(self, root: Path) -> None:
        self.root = root
        grpc_port, self.host_port = free_port(), free_port()
        self.procs = [spawn(["controller", "--data-dir", str(root / "controller"), "--grpc-port", str(grpc_port),
                              "--profiler-grpc-port", "0",
                              "--api-keys", API_KEY, "--agent-token", AGENT_TOKEN, "--rate-limit-per-minute", "0",
                              "--log-level", "warning"], root / "controller.log")]  # fmt: skip
        address = f"127.0.0.1:{grpc_port}"
        self.procs.append(spawn(["gateway", "--controller", address, "--http-port", "main=0", "--http-port",
                                  f"gswarm_host={self.host_port}", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--log-level", "warning"], root / "gateway.log"))
        self.agents = [root / f"agent{i}" for i in (1, 2)]
        for data in self.agents:
            self.procs.append(spawn(["agent", "--controller", address, "--data-dir", str(data), "--cpu-slots", "4",
                                      "--gswarm-client-port", "0", "--listen-host", "127.0.0.1",
                                      "--log-level", "warning"], root / f"{data.name}.log"))  # fmt: skip
        self.urls = [_wait(lambda d=d: json.loads((d / "endpoints.json").read_text())["http"]["gswarm_client"],
                           f"{d.name}'s client API") for d in self.agents]  # fmt: skip
        self.node_ids = [(d / "node_id").read_text().strip() for d in self.agents]
        _wait(lambda: len(self.host("GET", "/api/v1/nodes").json()["nodes"]) == 2, "both agents online")

    def host(self, method: str, path: str, **kw) -> requests.Response:  # type: ignore[no-untyped-def]
        return requests.request(method, f"http://127.0.0.1:{self.host_port}{path}", headers=HEADERS, timeout=60, **kw)

    def node(self, i: int, method: str, path: str, **kw) -> requests.Response:  # type: ignore[no-untyped-def]
        return requests.request(method, self.urls[i] + path, headers=HEADERS, timeout=60, **kw)

    def register(self, name: str, path: Path) -> None:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        reply = self.host("POST", "/api/v1/models", json={"model_name": name, "model_size": path.stat().st_size,
                                                          "source_url": path.as_uri(), "metadata": {"sha256": sha}})
        reply.raise_for_status()

    def run(self, i: int, op: str, name: str, body: dict) -> tuple[float, dict]:
        """Seconds from the request to the task's completion, and the task."""
        start = time.perf_counter()
        reply = self.node(i, "POST", f"/api/v1/models/{name}/{op}", json=body)
        reply.raise_for_status()
        task_id = reply.json()["task_id"]
        task = _wait(lambda: (t := self.host("GET", f"/api/v1/queue/tasks/{task_id}").json())["status"]
                     in ("completed", "failed", "cancelled") and t, f"{op} {name}")  # fmt: skip
        elapsed = time.perf_counter() - start
        if task["status"] != "completed":
            raise RuntimeError(f"{op} of {name} ended {task['status']}: {task['error']}")
        return elapsed, task

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the farm's directory (logs) afterwards.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aifarm-copy-", dir=args.dir))
    farm = Farm(root)
    try:
        blob = root / "blob.bin"
        with blob.open("wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(1 << 20))
        farm.register("bench-blob", blob)
        download, _ = farm.run(0, "download", "bench-blob", {"verify_checksum": True})
        source = farm.agents[0] / "local-models" / "disk" / "bench-blob"
        size = source.stat().st_size
        cp_s, copy_s = [], []
        for run in range(args.runs):
            target = root / f"cp-{run}.bin"
            start = time.perf_counter()
            subprocess.run(["cp", str(source), str(target)], check=True)
            cp_s.append(time.perf_counter() - start)
            target.unlink()
            if run:
                farm.node(1, "DELETE", "/api/v1/models/bench-blob", params={"device": "disk"}).raise_for_status()
            elapsed, _ = farm.run(0, "copy", "bench-blob", {"source_device": f"{farm.node_ids[0]}:disk",
                                                            "target_device": f"{farm.node_ids[1]}:disk"})  # fmt: skip
            print(f"copy {run}: {elapsed:.3f} s", file=sys.stderr)
            copy_s.append(elapsed)
        tiny = root / "tiny.bin"
        tiny.write_bytes(os.urandom(1024))
        farm.register("bench-tiny", tiny)
        latencies = [farm.run(0, "download", "bench-tiny", {})[0] for _ in range(args.tasks)]
        cp, copy = statistics.median(cp_s), statistics.median(copy_s)
        print(json.dumps({
            "bytes": size,
            "download_file_url_mb_s": round(size / download / 1e6, 1),
            "cp_s": round(cp, 3), "cp_mb_s": round(size / cp / 1e6, 1),
            "copy_s": round(copy, 3), "copy_mb_s": round(size / copy / 1e6, 1),
            "copy_over_cp": round(copy / cp, 2),
            "copy_runs_s": [round(s, 3) for s in copy_s], "cp_runs_s": [round(s, 3) for s in cp_s],
            "queue_tasks": args.tasks,
            "queue_latency_ms": {"p50": round(statistics.median(latencies) * 1000, 1),
                                 "mean": round(statistics.mean(latencies) * 1000, 1),
                                 "max": round(max(latencies) * 1000, 1)},
        }, indent=2))  # fmt: skip
    finally:
        farm.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
