"""The keeper: ends an agent's task sessions the moment the agent dies.

    python -m agent.runners.keeper RECORDS_DIR AGENT_PID AGENT_MARK   (stdin: a pipe only the agent writes to)

Started by the agent (ChildRegistry.start_keeper) in a session of its own. It reads its stdin
until end of file, which comes when the agent's end of the pipe closes: when the agent exits
or is killed, however. It then sweeps the records that agent left (agent.runners.child_registry),
so that what its tasks started dies with it too, not only the tasks' own processes (those
have a parent-death signal), and exits. Signals meant for the agent (Ctrl-C in its terminal,
SIGTERM to its group) do not end it early: it has work to do once the agent is gone.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from agent.runners.child_registry import ChildRegistry


def main(argv: list[str]) -> int:
    # The agent gives its mark: computed here, it would be empty when the agent died while this
    # process was still starting (a loaded machine takes a second or more to import Python).
    records, agent, mark = Path(argv[0]), int(argv[1]), argv[2]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while os.read(0, 4096):
        pass
    for left in ChildRegistry(records).sweep(agent=agent, mark=mark):
        print(f"aifarm keeper: agent {agent} is gone; ended process {left.pid} of task {left.task_id or '-'} "
              f"attempt {left.attempt}: {left.command}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
