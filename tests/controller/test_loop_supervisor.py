"""The controller's loops are watched: one that fails is started again (issue 9, item 6)."""

from __future__ import annotations

import asyncio

from controller.loops import LoopSupervisor


async def test_a_loop_that_fails_is_started_again_and_stop_is_idempotent() -> None:
    runs: list[int] = []
    steady = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError("a bug in a pass")
        steady.set()
        await asyncio.Event().wait()

    supervisor = LoopSupervisor({"dispatcher": flaky}, restart_delay_seconds=0)
    supervisor.start()
    await asyncio.wait_for(steady.wait(), 5)
    assert supervisor.restarts["dispatcher"] == 2 and len(runs) == 3
    await supervisor.stop()
    await supervisor.stop()
