"""How many AI Farm WebSocket workers one gateway process holds at one heartbeat a second.

    python bench/websocket_workers.py [--workers 200,1000] [--seconds 20] [--client-procs 2]
                                      [--max-p99-ms 50]

For each worker count: a real controller and one `aifarm gateway --websocket-port` process
(the door under test) on 127.0.0.1 with free ports, then that many workers spread over
``--client-procs`` load processes (their own event loops, so the load does not share the
door's). Each worker connects with Client-ID and the agent token (so it is registered and
holds a node session on the controller), then sends the document's `heartbeat` with a
`system_info` once a second, at a random phase. Handling time is the round trip of a
heartbeat to its `heartbeat_ack`, which the door sends once it has handled the heartbeat: its
usage taken, and a Heartbeat written on the worker's AgentService stream when one is due (once
per controller heartbeat interval, 2 s by default). Measured over ``--seconds`` after every worker
is connected and has had one ack; reported per count as one JSON line: connected workers,
heartbeats/s, p50/p99/max in ms, the gateway's and the controller's CPU, and whether p99 stayed
under ``--max-p99-ms``. The largest count that did is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from farm_spawn import AGENT_TOKEN, API_KEY, free_port, spawn

SYSTEM_INFO = {"cpu_usage": 45.2, "ram_usage": 60.5, "gpu_usage": 0.0}


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on {port}")


# ---- the load: one process runs a share of the workers --------------------------------------------


async def _worker(url: str, client_id: str, ready: asyncio.Event, counter: list[int], start: float,
                  stop_at: float, samples: list[float], errors: list[str]) -> None:  # fmt: skip
    headers = {"Client-ID": client_id, "Authorization": f"Bearer {AGENT_TOKEN}"}
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers, heartbeat=None) as ws:
            await ws.send_json({"type": "heartbeat", "client_id": client_id, "system_info": SYSTEM_INFO})
            await _ack(ws)
            counter[0] += 1
            if counter[0] == counter[1]:
                ready.set()
            await asyncio.sleep(random.random())  # a random phase: beats spread over the second
            next_beat = time.monotonic()
            while time.monotonic() < stop_at:
                sent = time.monotonic()
                await ws.send_json({"type": "heartbeat", "client_id": client_id, "system_info": SYSTEM_INFO})
                await _ack(ws)
                if sent >= start:
                    samples.append((time.monotonic() - sent) * 1000)
                next_beat += 1.0
                await asyncio.sleep(max(0.0, next_beat - time.monotonic()))
    except Exception as exc:  # noqa: BLE001 - counted and shown, never hidden
        errors.append(f"{client_id}: {type(exc).__name__}: {exc}")


async def _ack(ws: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        msg = await ws.receive(timeout=30)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"closed: {msg.type.name} {msg.extra}")
        if json.loads(msg.data).get("type") == "heartbeat_ack":
            return


async def _load(url: str, ids: list[str], warm_deadline: float, seconds: float, out: multiprocessing.Queue) -> None:
    ready = asyncio.Event()
    counter = [0, len(ids)]
    samples: list[float] = []
    errors: list[str] = []
    # Connections open at a bounded pace, as a farm's workers come up; samples count from the
    # window's start (BOX, set by _share), when every worker should be in.
    jobs = []
    for client_id in ids:
        jobs.append(asyncio.create_task(_worker(url, client_id, ready, counter, BOX["start"], BOX["stop"], samples,
                                                errors)))  # fmt: skip
        await asyncio.sleep(0.002)
    try:
        await asyncio.wait_for(ready.wait(), timeout=max(1.0, warm_deadline - time.time()))
    except asyncio.TimeoutError:
        pass
    out.put({"connected": counter[0]})
    await asyncio.gather(*jobs)
    out.put({"samples": samples, "errors": errors[:5], "error_count": len(errors)})


#: The measuring window of this load process, in its monotonic clock.
BOX: dict[str, float] = {}


def _share(url: str, ids: list[str], start_wall: float, seconds: float, warm_deadline: float,
           out: multiprocessing.Queue) -> None:  # fmt: skip
    """A load process: its workers beat from now until the window's end; samples inside it count."""
    offset = time.monotonic() - time.time()
    BOX["start"] = start_wall + offset
    BOX["stop"] = start_wall + seconds + offset
    asyncio.run(_load(url, ids, warm_deadline, seconds, out))


# ---- one measured count --------------------------------------------------------------------------


def _percentile(ordered: list[float], p: float) -> float:
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 2) if ordered else 0.0


def measure(workers: int, seconds: float, procs: int, root: Path) -> dict[str, object]:
    grpc_port, http_port, ws_port = free_port(), free_port(), free_port()
    data = root / f"farm-{workers}"
    data.mkdir(parents=True)
    controller = spawn(["controller", "--data-dir", str(data), "--grpc-port", str(grpc_port), "--profiler-grpc-port", "0",
                         "--api-keys", API_KEY,
                         "--agent-token", AGENT_TOKEN, "--log-level", "warning"], root / f"controller-{workers}.log")  # fmt: skip
    gateway = None
    try:
        _wait_port(grpc_port, controller, "the controller")
        gateway = spawn(["gateway", "--controller", f"127.0.0.1:{grpc_port}", "--http-port", f"main={http_port}",
                          "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0",
                          "--websocket-port", str(ws_port), "--log-level", "warning"], root / f"gateway-{workers}.log")  # fmt: skip
        _wait_port(ws_port, gateway, "the gateway's WebSocket door")
        url = f"ws://127.0.0.1:{ws_port}"
        connect_seconds = 10 + workers / 100  # connections and registrations at a bounded pace
        start_wall = time.time() + connect_seconds
        queue: multiprocessing.Queue = multiprocessing.Queue()
        ids = [f"bench-{workers}-{i}" for i in range(workers)]
        shares = [ids[i::procs] for i in range(procs)]
        loaders = [multiprocessing.Process(target=_share, args=(url, share, start_wall, seconds, start_wall, queue))
                   for share in shares if share]  # fmt: skip
        for loader in loaders:
            loader.start()
        connected = sum(queue.get(timeout=connect_seconds + 120)["connected"] for _ in loaders)
        cpu = {name: psutil.Process(p.pid) for name, p in (("gateway", gateway), ("controller", controller))}
        before = {name: p.cpu_times() for name, p in cpu.items()}
        t0 = time.time()
        results = [queue.get(timeout=seconds + connect_seconds + 120) for _ in loaders]
        elapsed = time.time() - t0
        after = {name: p.cpu_times() for name, p in cpu.items()}
        for loader in loaders:
            loader.join(timeout=30)
    finally:
        for proc in (gateway, controller):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    samples = sorted(s for r in results for s in r["samples"])
    busy = {name: round(100 * ((after[name].user + after[name].system) - (before[name].user + before[name].system))
                        / max(elapsed, 1e-9), 1) for name in cpu}  # fmt: skip
    return {
        "workers": workers, "connected": connected, "seconds": seconds, "heartbeats": len(samples),
        "heartbeats_per_s": round(len(samples) / seconds, 1), "p50_ms": _percentile(samples, 50),
        "p99_ms": _percentile(samples, 99), "max_ms": round(samples[-1], 2) if samples else 0.0,
        "cpu_percent": busy, "errors": sum(r["error_count"] for r in results),
        "first_errors": [e for r in results for e in r["errors"]][:3],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="200,1000", help="Comma-separated worker counts, measured in turn.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Measuring window per count.")
    parser.add_argument("--client-procs", type=int, default=2, help="Load processes the workers are spread over.")
    parser.add_argument("--max-p99-ms", type=float, default=50.0)
    args = parser.parse_args()
    held = 0
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        for count in (int(c) for c in args.workers.split(",")):
            row = measure(count, args.seconds, args.client_procs, Path(tmp))
            row["p99_under_limit"] = bool(row["p99_ms"] < args.max_p99_ms and row["connected"] == count
                                          and not row["errors"])  # fmt: skip
            if row["p99_under_limit"]:
                held = max(held, count)
            print(json.dumps(row), flush=True)
    print(json.dumps({"held_with_p99_under_ms": args.max_p99_ms, "workers": held}), flush=True)


if __name__ == "__main__":
    main()
