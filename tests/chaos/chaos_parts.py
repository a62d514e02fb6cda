"""Parts of the chaos suite: a ledger the tasks write, a farm of real processes, a load, the figures.

Every task the suite runs is a script that appends its task id, attempt and pid to
a ledger file the test made, when it starts and when it ends. "Ran twice" and
"lost" are then counted from what really ran, not inferred from what the
controller says.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aifarm.v1 import (
    dataset_service_pb2_grpc,
    node_pb2,
    node_service_pb2,
    node_service_pb2_grpc,
    system_service_pb2_grpc,
    task_pb2,
    task_service_pb2,
    task_service_pb2_grpc,
)
from farm_processes import (
    API_KEY,
    AgentProcess,
    Client,
    ControllerProcess,
    free_port,
    script_task,
    wait_for,
)

T = task_pb2
#: The farm's node TTL and heartbeat interval (tests/farm_processes.py starts every controller with them).
NODE_TTL, HEARTBEAT = 2.5, 0.3
#: A lost node is declared between these many seconds after its fault: no sooner than its TTL counted
#: from its last heartbeat, no later than the TTL plus the controller's check and a loaded machine's slack.
DETECT_RANGE = (NODE_TTL - HEARTBEAT - 0.1, NODE_TTL + 3.0)
#: Seconds a held attempt waits for its release before it gives up (so nothing outlives a broken test).
HOLD_LIMIT_SECONDS = 90

_SCRIPT = """\
import json, os, subprocess, sys, time
LEDGER, HOLD, HOLD_ATTEMPTS, SECONDS, TICK, PRINTS, CHILD, LIMIT = {params}
task, attempt = os.environ["AIFARM_TASK_ID"], int(os.environ["AIFARM_ATTEMPT"])
def mark(event, pid=None):
    line = json.dumps({{"task": task, "attempt": attempt, "event": event, "pid": pid or os.getpid(),
                       "time": time.time()}}) + "\\n"
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
mark("start")
held = HOLD and attempt <= HOLD_ATTEMPTS
if CHILD and held:
    wait = "import os, time\\nwhile not os.path.exists(%r): time.sleep(0.1)" % HOLD
    child = subprocess.Popen([sys.executable, "-c", wait])
    mark("child", child.pid)
begun, i = time.monotonic(), 0
while time.monotonic() - begun < SECONDS or (held and not os.path.exists(HOLD)):
    if time.monotonic() - begun > LIMIT:
        mark("gave-up")
        sys.exit(3)
    if PRINTS:
        print(i, flush=True)
    i += 1
    time.sleep(TICK)
mark("end")
"""


def ledger_task(ledger: Path, *, hold: Path | None = None, hold_attempts: int = 1, seconds: float = 0.0,
                tick: float = 0.1, prints: bool = False, child: bool = False, cpu_cores: float = 0.0,
                name: str = "") -> task_pb2.Task:  # fmt: skip
    """A script task that marks the ledger when it starts and ends.

    It runs at least `seconds`; attempts up to `hold_attempts` also wait until the
    file `hold` exists (silently unless `prints`: a held attempt whose agent died
    must not die of a broken stdout pipe, or "no orphan" would pass by accident).
    With `child`, a held attempt also starts a child process that waits for `hold`
    (an orphan's own children). `prints` prints a counter every `tick` seconds, so
    its log shows whether it was restarted.
    """
    params = (str(ledger), str(hold or ""), hold_attempts, seconds, tick, prints, child, HOLD_LIMIT_SECONDS)
    task = script_task(_SCRIPT.format(params=repr(params)), name=name)
    if cpu_cores:
        task.resources.CopyFrom(node_pb2.Resources(cpu_cores=cpu_cores))
    return task


@dataclass(frozen=True)
class Mark:
    task: str
    attempt: int
    event: str
    pid: int
    time: float


@dataclass
class Ledger:
    """The file the tasks append to, and what it says."""

    path: Path

    def marks(self) -> list[Mark]:
        if not self.path.exists():
            return []
        text = self.path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line still being appended is read next time
        return [Mark(**json.loads(line)) for line in complete.splitlines() if line.strip()]

    def of(self, task_id: str, event: str = "start", attempt: int | None = None) -> list[Mark]:
        return [m for m in self.marks() if m.task == task_id and m.event == event
                and (attempt is None or m.attempt == attempt)]  # fmt: skip

    def starts(self) -> dict[str, int]:
        """How many times each task started, over all its attempts."""
        counts: dict[str, int] = {}
        for m in self.marks():
            if m.event == "start":
                counts[m.task] = counts.get(m.task, 0) + 1
        return counts

    def ended_twice(self) -> list[str]:
        """Tasks that ran to their end more than once (over all attempts)."""
        ends: dict[str, int] = {}
        for m in self.marks():
            if m.event == "end":
                ends[m.task] = ends.get(m.task, 0) + 1
        return [t for t, n in ends.items() if n > 1]

    def wait_mark(self, task_id: str, event: str = "start", attempt: int | None = None,
                  timeout: float = 30.0) -> Mark:  # fmt: skip
        found = wait_for(lambda: self.of(task_id, event, attempt), timeout=timeout, interval=0.02,
                         what=f"{event} of {task_id} attempt {attempt or 'any'} in the ledger")  # fmt: skip
        return found[0]


def task_id(name: str) -> str:
    return name.removeprefix("tasks/")


# --- processes -------------------------------------------------------------------------


def process_alive(pid: int, under: Path) -> bool:
    """True when `pid` runs (not a zombie) in a directory below `under` (so a reused pid does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (OSError, IndexError):
        return False
    return state != "Z" and cwd.startswith(str(under))


def end_leftovers(ledger: Ledger, under: Path) -> list[int]:
    """SIGKILL whatever the ledger's tasks left running below `under` (the test's own processes); their pids."""
    ended = []
    for m in ledger.marks():
        if m.event in ("start", "child") and process_alive(m.pid, under):
            try:
                os.kill(m.pid, signal.SIGKILL)
                ended.append(m.pid)
            except ProcessLookupError:
                pass
    return ended


def bind_flags(host: str) -> list[str]:
    """The controller flags to listen on `host`: plaintext off loopback needs `--insecure`."""
    return ["--host", host, "--insecure"]


@dataclass
class HostController(ControllerProcess):
    """A controller that listens on `host` rather than 127.0.0.1."""

    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class FastClient(Client):
    """A Client whose channel redials within half a second, for a controller that is killed and restarted."""

    OPTIONS = (("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
               ("grpc.max_reconnect_backoff_ms", 500))  # fmt: skip

    def __init__(self, address: str, key: str = API_KEY) -> None:
        super().__init__(address, key)
        self.channel.close()
        self.channel = grpc.insecure_channel(address, options=self.OPTIONS)
        self.tasks = task_service_pb2_grpc.TaskServiceStub(self.channel)
        self.nodes = node_service_pb2_grpc.NodeServiceStub(self.channel)
        self.datasets = dataset_service_pb2_grpc.DatasetServiceStub(self.channel)
        self.system = system_service_pb2_grpc.SystemServiceStub(self.channel)

    def node_state(self, node_id: str) -> int:
        node = self.nodes.GetNode(node_service_pb2.GetNodeRequest(name=f"nodes/{node_id}"), metadata=self.metadata,
                                  timeout=10)  # fmt: skip
        return node.state

    def all_tasks(self) -> dict[str, task_pb2.Task]:
        tasks: dict[str, task_pb2.Task] = {}
        token = ""
        while True:
            page = self.tasks.ListTasks(task_service_pb2.ListTasksRequest(page_size=1000, page_token=token),
                                        metadata=self.metadata, timeout=10)  # fmt: skip
            tasks.update((t.name, t) for t in page.tasks)
            if not (token := page.next_page_token):
                return tasks

    def stdout(self, name: str) -> list[str]:
        return [ln.text for ln in self.logs(name) if ln.stream == T.LOG_STREAM_STDOUT]


def answered(predicate: Callable[[], object]) -> Callable[[], object]:
    """`predicate`, False while the controller does not answer (it is being restarted)."""

    def check() -> object:
        try:
            return predicate()
        except grpc.RpcError:
            return False

    return check


def seconds_until(predicate: Callable[[], object], since: float, timeout: float, what: str) -> float:
    """Poll `predicate` every 20 ms (an unanswered call counts as False); the seconds from `since`
    (a monotonic time) until it held."""
    wait_for(answered(predicate), timeout=timeout, interval=0.02, what=what)
    return time.monotonic() - since


@dataclass
class Farm:
    """One controller, its agents, a ledger and a client, all below `root`; `close()` ends them all."""

    root: Path
    controller: ControllerProcess
    agents: list[AgentProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.root / "ledger.jsonl")
        self.client = FastClient(self.controller.address)

    @classmethod
    def start(cls, root: Path, *controller_flags: str) -> Farm:
        root.mkdir(parents=True, exist_ok=True)
        return cls(root, ControllerProcess(root / "controller", free_port(), list(controller_flags)).start())

    def agent(self, name: str, *extra: str, controller: str | None = None) -> AgentProcess:
        """Start an agent and wait until the controller lists it online."""
        agent = AgentProcess(controller or self.controller.address, self.root / name, list(extra)).start()
        self.agents.append(agent)
        self.wait_online(agent)
        return agent

    def wait_online(self, agent: AgentProcess, timeout: float = 30.0) -> None:
        node_id = agent.node_id
        online = answered(lambda: any(n.name == f"nodes/{node_id}" for n in self.client.online_nodes()))
        try:
            wait_for(online, timeout=timeout, interval=0.05, what=f"agent {agent.data_dir.name} online")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; the agent's log ends:\n{agent.log[-3000:]}") from None

    def hold(self, name: str = "hold") -> Path:
        """A path that held attempts wait for; `release(path)` lets them end."""
        return self.root / name

    @staticmethod
    def release(hold: Path) -> None:
        hold.touch()

    def running_on(self, name: str, timeout: float = 30.0) -> tuple[task_pb2.Task, str]:
        """Wait until the task runs and its attempt marked the ledger; the task and its node's id."""
        task = self.client.wait_state(name, T.TASK_STATE_RUNNING, timeout=timeout)
        self.ledger.wait_mark(task_id(name), "start", task.attempt, timeout=timeout)
        return task, task.node.removeprefix("nodes/")

    def late_report_refused(self, agent: AgentProcess, tid: str) -> bool:
        """The controller ignored attempt 1's report, or told the agent at its hello that attempt 1 was superseded."""
        ignored = any("ignoring report from a superseded attempt" in line and f"task_id={tid}" in line
                      and "attempt=1 " in line for line in self.controller.log.splitlines())  # fmt: skip
        return ignored or "superseded=1" in agent.log

    def close(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.controller.kill()
        for hold in self.root.glob("hold*"):
            hold.touch()
        end_leftovers(self.ledger, self.root)
        self.client.close()


@dataclass
class Ack:
    request_id: str
    name: str


class Submitter(threading.Thread):
    """Submits tasks one after another at `interval`, each with a request id, retried until acknowledged.

    A create that failed (the controller was down) is sent again with the same
    request id, so a create that was committed but whose answer was lost must
    not make a second task. `acked` is what the controller acknowledged.
    """

    def __init__(self, address: str, make: Callable[[int], task_pb2.Task], *, interval: float, prefix: str) -> None:
        super().__init__(daemon=True, name=f"submitter {prefix}")
        self.client = FastClient(address)
        self.make, self.interval, self.prefix = make, interval, prefix
        self.acked: list[Ack] = []
        self.retries = 0
        self.abandoned: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        i = 0
        while not self._done.is_set():
            request_id = f"{self.prefix}-{i}"
            task = self.make(i)
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.acked.append(Ack(request_id, self.client.create(task, request_id=request_id).name))
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        self.abandoned.append(request_id)
                        break
                    self.retries += 1
                    time.sleep(0.05)
            i += 1
            self._done.wait(self.interval)

    def finish(self) -> list[Ack]:
        self._done.set()
        self.join(timeout=40)
        self.client.close()
        return self.acked


# --- figures ---------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the suite's table. Times in seconds; None where it does not apply."""

    scenario: str
    detect: float | None = None
    back: float | None = None
    tasks: int = 0
    lost: int = 0
    twice: int = 0
    note: str = ""


@dataclass
class Figures:
    rows: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.rows.append(figure)
        print(f"chaos figure: {figure}")
        return figure

    def table(self) -> Iterator[str]:
        def s(v: float | None) -> str:
            return "–" if v is None else f"{v:.2f}"

        yield "| scenario | time to detect (s) | time back (s) | tasks | lost | ran twice | notes |"
        yield "|---|---:|---:|---:|---:|---:|---|"
        for r in self.rows:
            yield f"| {r.scenario} | {s(r.detect)} | {s(r.back)} | {r.tasks} | {r.lost} | {r.twice} | {r.note} |"
