"""The client process's load clients against a local target, and wrk against the same target.

    python bench/client_process_load.py [--clients 32] [--duration 10]

Starts a target (an aiohttp server answering 200 "ok", in a process of its own), runs
``python -m agent.client_process`` with N clients for D seconds against it and prints the
requests/s from its figures; then, if ``wrk`` is on PATH, ``wrk -t2 -c<N> -d<D>s`` against the
same target, its requests/s and the ratio. wrk shows what the target can take; the ratio is
how close one Python client process comes to it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def serve_target(port: int) -> None:
    from aiohttp import web

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def call(url: str, method: str = "GET") -> dict[str, Any]:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as answer:
        return json.loads(answer.read())


def client_process_rps(target: str, clients: int, duration: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        proc = subprocess.Popen([sys.executable, "-m", "agent.client_process", "--benchmark-id", "1",
                                 "--num-clients", str(clients), "--duration", str(duration), "--server-addr", target,
                                 "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready),
                                 "--log-level", "warning"], cwd=REPO)  # fmt: skip
        try:
            wait_until(ready.exists, 15, "the client process")
            url = f"http://127.0.0.1:{json.loads(ready.read_text())['port']}"
            started = call(f"{url}/run", "POST")
            assert started["status"] == "started", started
            time.sleep(duration)
            status = wait_until(lambda: (s := call(f"{url}/status"))["figures"]["ended_at"] and s, 30, "the run's end")
            return status["figures"]
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def wrk_rps(target: str, clients: int, duration: float) -> float | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{int(duration)}s", target], capture_output=True,
                         text=True, timeout=duration + 30, check=True).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match[1]) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--serve-target", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        serve_target(args.serve_target)
        return

    port = free_port()
    target = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, __file__, "--serve-target", str(port)])
    try:
        wait_until(lambda: answers(target), 15, "the target")
        figures = client_process_rps(target, args.clients, args.duration)
        ours = figures["throughput_rps"]
        print(f"client process: {args.clients} clients, {args.duration:g} s: {figures['requests']} requests, "
              f"{figures['errors']} errors, {ours:.0f} req/s, latency ms {json.dumps(figures['latency_ms'])}")  # fmt: skip
        theirs = wrk_rps(target, args.clients, args.duration)
        if theirs is None:
            print("wrk: not on PATH (or no Requests/sec in its output)")
        else:
            print(f"wrk -t2 -c{args.clients} -d{int(args.duration)}s: {theirs:.0f} req/s; "
                  f"client process / wrk = {ours / theirs:.2f}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
