"""Profiling at scale: frames the controller ingests per second from many agents, and what the
sampler costs an agent at 1 Hz.

    python bench/profiling.py [--agents 50] [--gpus 8] [--frames 20] [--seconds 15] [--procs 2]
                              [--sampler-seconds 30]

Ingest: a real controller on 127.0.0.1 (free port, its SQLite on disk) and one active session;
``--agents`` simulated agents spread over ``--procs`` load processes, each registered with the join
token and holding its own Connect stream, send ProfilingBatch messages of ``--frames`` frames of
``--gpus`` GPUs each, keeping at most 4 batches unacked (an ack comes once the frames are
committed). Reported: GPU samples acked per second (frames x GPUs), frames per second, and the
controller's CPU.

Sampler: a real agent joins the same controller; its process CPU time is measured over
``--sampler-seconds`` with no session active, then over as long with a session at 1000 ms; the
difference is the sampler's cost (frames, outbox writes, the stream), as percent of one core.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path

import grpc
import psutil

from farm_spawn import AGENT_TOKEN, API_KEY, REPO, free_port, spawn

sys.path[:0] = [str(REPO), str(REPO / "gen" / "python")]

from aifarm.v1 import agent_service_pb2 as pb  # noqa: E402
from aifarm.v1 import agent_service_pb2_grpc, profiling_pb2, profiling_service_pb2, profiling_service_pb2_grpc  # noqa: E402

WINDOW = 4


def _batch(node: str, frames: int, gpus: int) -> pb.ProfilingBatch:
    batch = pb.ProfilingBatch()
    for _ in range(frames):
        frame = batch.frames.add(cpu_percent=37.5, memory_percent=41.0, memory_used_mb=52_000)
        frame.time.GetCurrentTime()
        for i in range(gpus):
            frame.gpus.add(index=i, uuid=f"GPU-{node}-{i}", utilization_percent=88.0, memory_used_mb=30_000,
                           memory_total_mb=81_920, temperature_c=61.0, power_w=412.0, sm_clock_mhz=1980,
                           memory_clock_mhz=2619, pcie_rx_kbps=120_000, pcie_tx_kbps=90_000, nvlink_kib=-1,
                           memory_bandwidth_percent=-1)  # fmt: skip
    return batch


async def _agent(address: str, node: str, frames: int, gpus: int, until: float, counted: list[int]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        registered = await stub.Register(pb.RegisterRequest(node_id=node), metadata=(("authorization", f"Bearer {AGENT_TOKEN}"),))
        call = stub.Connect(metadata=(("authorization", f"Bearer {registered.node_secret}"),))
        await call.write(pb.ConnectRequest(hello=pb.Hello(node_id=node, hostname=node, agent_version="bench",
                                                           samples_profiling=True)))  # fmt: skip
        template = _batch(node, frames, gpus)
        seq, acked, sent = 0, 0, 0
        while (message := await call.read()) is not grpc.aio.EOF and message.WhichOneof("message") != "welcome":
            pass
        start_ack = asyncio.Event()

        async def reader() -> None:
            nonlocal acked
            while (message := await call.read()) is not grpc.aio.EOF:
                if message.WhichOneof("message") == "ack":
                    newly = message.ack.seq - acked
                    if newly > 0 and time.time() < until:
                        counted[0] += newly * frames
                    acked = max(acked, message.ack.seq)
                    start_ack.set()

        task = asyncio.create_task(reader())
        try:
            while time.time() < until:
                while seq - acked >= WINDOW:
                    start_ack.clear()
                    await start_ack.wait()
                seq += 1
                template.seq = seq
                await call.write(pb.ConnectRequest(profiling=template))
                sent += 1
        finally:
            task.cancel()
            call.cancel()


def _load(address: str, nodes: list[str], frames: int, gpus: int, start: float, seconds: float,
          out: multiprocessing.Queue) -> None:  # fmt: skip
    async def main() -> int:
        await asyncio.sleep(max(0.0, start - time.time()))
        counted = [0]
        await asyncio.gather(*(_agent(address, n, frames, gpus, start + seconds, counted) for n in nodes))
        return counted[0]

    out.put(asyncio.run(main()))


def _sessions(address: str) -> profiling_service_pb2_grpc.ProfilingServiceStub:
    return profiling_service_pb2_grpc.ProfilingServiceStub(grpc.insecure_channel(address))


def _start(stub: profiling_service_pb2_grpc.ProfilingServiceStub, name: str, ms: int) -> None:
    stub.CreateProfilingSession(profiling_service_pb2.CreateProfilingSessionRequest(
        profiling_session=profiling_pb2.ProfilingSession(sampling_frequency_ms=ms), profiling_session_id=name),
        metadata=(("authorization", f"Bearer {API_KEY}"),), timeout=60)  # fmt: skip


def _stop(stub: profiling_service_pb2_grpc.ProfilingServiceStub, name: str) -> None:
    stub.StopProfilingSession(profiling_service_pb2.StopProfilingSessionRequest(name=f"profilingSessions/{name}"),
                              metadata=(("authorization", f"Bearer {API_KEY}"),), timeout=60)  # fmt: skip


def ingest(address: str, controller: psutil.Process, args: argparse.Namespace) -> dict[str, float]:
    stub = _sessions(address)
    _start(stub, "bench-ingest", 100)
    nodes = [f"bench-{i}" for i in range(args.agents)]
    start = time.time() + 3 + args.agents / 50
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_load, args=(address, nodes[i::args.procs], args.frames, args.gpus, start,
                                                         args.seconds, queue)) for i in range(args.procs)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(max(0.0, start - time.time()))
    cpu_before, t0 = controller.cpu_times(), time.time()
    frames = sum(queue.get(timeout=args.seconds + 120) for _ in procs)
    elapsed = time.time() - t0
    cpu_after = controller.cpu_times()
    for p in procs:
        p.join(30)
    _stop(stub, "bench-ingest")
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
    return {"agents": args.agents, "gpus_per_frame": args.gpus, "frames_per_batch": args.frames,
            "frames_per_s": round(frames / elapsed), "gpu_samples_per_s": round(frames * args.gpus / elapsed),
            "controller_cpu_percent_of_a_core": round(cpu * 100, 1)}  # fmt: skip


def sampler_cost(address: str, root: Path, seconds: float) -> dict[str, float]:
    agent = spawn(["agent", "--controller", address, "--data-dir", str(root / "agent"), "--gswarm-client-port", "-1",
                    "--log-level", "warning"], root / "agent.log")  # fmt: skip
    proc = psutil.Process(agent.pid)
    try:
        time.sleep(8)  # joined, and settled

        def cpu_over(span: float) -> float:
            before = proc.cpu_times()
            time.sleep(span)
            after = proc.cpu_times()
            return (after.user + after.system - before.user - before.system) / span

        idle = cpu_over(seconds)
        stub = _sessions(address)
        _start(stub, "bench-sampler", 1000)
        time.sleep(2)
        sampling = cpu_over(seconds)
        _stop(stub, "bench-sampler")
    finally:
        agent.terminate()
        agent.wait(30)
    return {"agent_idle_cpu_percent": round(idle * 100, 2), "agent_sampling_1hz_cpu_percent": round(sampling * 100, 2),
            "sampler_cost_percent_of_a_core": round((sampling - idle) * 100, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--sampler-seconds", type=float, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aifarm-profiling-"))
    port = free_port()
    controller = spawn(["controller", "--data-dir", str(root / "controller"), "--grpc-port", str(port), "--api-keys",
                         API_KEY, "--agent-token", AGENT_TOKEN, "--profiler-grpc-port", "-1", "--log-level", "warning"],
                        root / "controller.log")  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or controller.poll() is not None:
                    raise RuntimeError(f"the controller did not start; see {root / 'controller.log'}") from None
                time.sleep(0.1)
        result = ingest(address, psutil.Process(controller.pid), args)
        result.update(sampler_cost(address, root, args.sampler_seconds))
        print(json.dumps(result, indent=2))
    finally:
        controller.terminate()
        controller.wait(30)


if __name__ == "__main__":
    main()
