"""The controller link's reconnect timing, with time driven by hand: a controller that is not
there (a port nothing listens on) fails every stream at once, and the link's sleeps between
tries are read off the clock instead of waited out."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

import grpc

from agent.backoff import Backoff
from agent.capabilities import HostProbe
from agent.connection import ControllerLink
from agent.outbox import Outbox
from agent.supervisor import TaskSupervisor
from manual_clock import ManualClock


async def _unused(name: str) -> Path:
    raise AssertionError("no task runs here")


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _link(channel: grpc.aio.Channel, tmp_path: Path, clock: ManualClock, seed: int) -> ControllerLink:
    outbox = Outbox()
    supervisor = TaskSupervisor(tmp_path / "work", outbox, _unused, lambda *a: _unused(""), clock=clock)
    return ControllerLink(channel, (), "n1", {}, HostProbe(clock=clock), outbox, supervisor,
                          backoff=Backoff(0.5, 4.0, random.Random(seed)), clock=clock)  # fmt: skip


async def test_each_failed_stream_waits_a_jittered_doubling_delay(tmp_path: Path) -> None:
    clock, same = ManualClock(), random.Random(3)
    async with grpc.aio.insecure_channel(_dead_address()) as channel:
        link = _link(channel, tmp_path, clock, seed=3)
        job = asyncio.create_task(link.run())
        try:
            for tries in range(1, 7):
                delay = await clock.next_sleep(after=tries - 1)
                assert delay == same.uniform(0, min(4.0, 0.5 * 2**tries))
                assert not link.connected.is_set()
                await clock.advance(delay)
        finally:
            link.stop()
            await asyncio.wait_for(job, 5)


async def test_stop_ends_the_wait_between_tries_at_once(tmp_path: Path) -> None:
    clock = ManualClock()
    async with grpc.aio.insecure_channel(_dead_address()) as channel:
        link = _link(channel, tmp_path, clock, seed=1)
        job = asyncio.create_task(link.run())
        await clock.next_sleep(after=0)
        link.stop()  # the clock never moves again: only stop() can end the wait
        await asyncio.wait_for(job, 5)
    assert len(clock.sleeps) == 1, "no try after stop()"
