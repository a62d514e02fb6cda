"""REST clients in a loop against a gateway, until SIGTERM or SIGINT; then a JSON summary.

    python bench/rest_load.py --url http://127.0.0.1:8000 --api-key KEY [--clients 50] [--page-size 0]
                              [--calls list,create]

Each client, one request at a time: list tasks (GET /v1/tasks; --page-size 0 leaves the
server's default page), then create one (POST /v1/tasks) that asks for 64 GPUs, so that no
node ever takes it: it costs the API path and grows the queue, as dashboards and scripts
polling a busy farm do. On stdout: ``ready`` once every client has had an answer of each
kind, then, after the signal, one JSON line with counts, rates and latencies. It runs in a
process of its own so that its event loop is not the one the dispatch benchmark measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import time
from dataclasses import dataclass, field

import aiohttp

#: Never placed: no node has 64 GPUs.
NEW_TASK = {"display_name": "rest-load", "script": {"source": "print(1)"}, "resources": {"gpus": 64}}
#: The status each kind of call answers when it works.
EXPECT = {"list": 200, "create": 201}
#: After a failed request, wait this long, so that a refused connection does not spin.
ERROR_PAUSE_SECONDS = 0.05


@dataclass
class Kind:
    """The answers of one kind of request."""

    expect: int
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self, seconds: float) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1) if ordered else 0.0

        return {"count": len(ordered), "per_s": round(len(ordered) / seconds, 1), "p50_ms": pct(50), "p95_ms": pct(95)}


@dataclass
class Load:
    url: str
    headers: dict[str, str]
    list_path: str
    kinds: dict[str, Kind]
    errors: int = 0
    first_error: str = ""

    async def client(self, session: aiohttp.ClientSession, stop: asyncio.Event, answered: asyncio.Event) -> None:
        body = json.dumps(NEW_TASK).encode()
        calls = {"list": ("GET", self.list_path, None), "create": ("POST", "/v1/tasks", body)}
        seen: set[str] = set()
        while not stop.is_set():
            for kind in self.kinds:
                method, path, data = calls[kind]
                if await self._one(session, kind, method, path, data):
                    seen.add(kind)
            if len(seen) == len(self.kinds):
                answered.set()

    async def _one(self, session: aiohttp.ClientSession, kind: str, method: str, path: str, data: bytes | None) -> bool:
        started = time.perf_counter()
        try:
            async with session.request(method, self.url + path, data=data, headers=self.headers) as reply:
                await reply.read()
                ok = reply.status == self.kinds[kind].expect
                problem = f"{method} {path}: HTTP {reply.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            ok, problem = False, f"{method} {path}: {type(exc).__name__}: {exc}"
        if ok:
            self.kinds[kind].latencies_ms.append((time.perf_counter() - started) * 1000)
            return True
        self.errors += 1
        self.first_error = self.first_error or problem
        await asyncio.sleep(ERROR_PAUSE_SECONDS)
        return False


async def run(args: argparse.Namespace) -> dict[str, object]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    query = f"?page_size={args.page_size}" if args.page_size else ""
    headers = {"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"}
    load = Load(args.url.rstrip("/"), headers, f"/v1/tasks{query}", {kind: Kind(EXPECT[kind]) for kind in args.calls})
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        answered = [asyncio.Event() for _ in range(args.clients)]
        started = time.perf_counter()
        clients = [asyncio.create_task(load.client(session, stop, a)) for a in answered]
        ready = asyncio.create_task(asyncio.wait([asyncio.create_task(a.wait()) for a in answered]))
        await asyncio.wait([ready, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            print("ready", flush=True)
        await stop.wait()
        await asyncio.gather(*clients)
        seconds = time.perf_counter() - started
    return {
        "clients": args.clients,
        "seconds": round(seconds, 2),
        **{name: kind.summary(seconds) for name, kind in load.kinds.items()},
        "errors": load.errors,
        "first_error": load.first_error,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the gateway's base URL")
    parser.add_argument("--api-key", required=True, help="sent as Authorization: Bearer")
    parser.add_argument("--clients", type=int, default=50, help="clients, each one request at a time (default 50)")
    parser.add_argument("--page-size", type=int, default=0, help="page_size of the listing; 0: the server's default")
    parser.add_argument("--calls", type=parse_calls, default=("list", "create"),
                        help="what each client does in its loop, in order: list, create or list,create (default)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    return args


def parse_calls(text: str) -> tuple[str, ...]:
    calls = tuple(c.strip() for c in text.split(",") if c.strip())
    if not calls or set(calls) - set(EXPECT) or len(set(calls)) != len(calls):
        raise argparse.ArgumentTypeError(f"expected list, create or list,create; got {text!r}")
    return calls


def main(argv: list[str] | None = None) -> None:
    summary = asyncio.run(run(parse_args(argv)))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
