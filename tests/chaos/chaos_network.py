"""Links the chaos suite can break: a network namespace on a veth pair, and a relay that can hold every byte.

`Netns` makes a namespace and a veth pair with a /30 of its own, and only ever
touches what it made; `cut()` downs the namespace's end of the pair (netem is
not in this kernel), `heal()` brings it back. The host keeps its address, so
the controller stays reachable from the host while the namespace is cut off.

`LinkProxy` relays TCP between an agent and the controller on 127.0.0.1;
`freeze()` holds every byte in both directions, `drop()` closes every
connection and forgets what it held. An agent killed behind a frozen relay has
sent nothing: what it reported after that is only on its own disk.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass

from farm_processes import AGENT_TOKEN, REPO, AgentProcess


class NamespaceUnavailable(Exception):
    """Network namespaces cannot be made here (not root, no `ip`, or the kernel refuses)."""


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=check)


def _used_subnets() -> set[int]:
    """Third octets of the 10.213.x.0/24 addresses already on this host."""
    out = _ip("-4", "-o", "addr", "show").stdout
    return {int(p.split(".")[2]) for p in out.split() if p.startswith("10.213.")}


@dataclass
class Netns:
    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str
    made_netns: bool = False
    made_link: bool = False

    @classmethod
    def create(cls) -> Netns:
        """A namespace with a veth pair to the host; raises NamespaceUnavailable saying why not."""
        if os.geteuid() != 0:
            raise NamespaceUnavailable("network namespaces need root")
        if shutil.which("ip") is None:
            raise NamespaceUnavailable("no `ip` command (iproute2)")
        tag = f"{os.getpid() % 10000:04d}{random.randrange(100):02d}"
        free = [n for n in range(1, 255) if n not in _used_subnets()]
        third = random.choice(free)
        ns = cls(f"aifarm-chaos-{tag}", f"acx{tag}h", f"acx{tag}n", f"10.213.{third}.1", f"10.213.{third}.2")
        try:
            ns._make()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            ns.remove()
            detail = getattr(exc, "stderr", "") or str(exc)
            raise NamespaceUnavailable(f"cannot make a network namespace: {detail.strip()}") from exc
        return ns

    def _make(self) -> None:
        _ip("netns", "add", self.name)
        self.made_netns = True
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        self.made_link = True
        _ip("link", "set", self.ns_if, "netns", self.name)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if, netns=self.name)
        _ip("link", "set", self.ns_if, "up", netns=self.name)
        _ip("link", "set", "lo", "up", netns=self.name)

    def cut(self) -> None:
        _ip("link", "set", self.ns_if, "down", netns=self.name)

    def heal(self) -> None:
        _ip("link", "set", self.ns_if, "up", netns=self.name)

    def remove(self) -> None:
        """Delete the pair and the namespace this made (and nothing else); safe to call twice."""
        if self.made_link:
            _ip("link", "del", self.host_if, check=False)  # deletes both ends, wherever the peer is
            self.made_link = False
        if self.made_netns:
            _ip("netns", "del", self.name, check=False)
            self.made_netns = False


@dataclass
class NamespacedAgent(AgentProcess):
    """An agent run inside a network namespace (`ip netns exec` execs it, so `proc` is the agent itself)."""

    netns: str = ""

    def start(self) -> NamespacedAgent:
        # As AgentProcess starts one: the join token from the environment, never from argv.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AIFARM_AGENT_TOKEN": AGENT_TOKEN}
        env.pop("API_KEYS", None)
        argv = ["ip", "netns", "exec", self.netns, sys.executable, "-m", "cli.main", "agent", "--controller",
                self.controller, "--data-dir", str(self.data_dir), *self.extra]  # fmt: skip
        out = (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)  # fmt: skip
        return self


class LinkProxy:
    """A TCP relay from 127.0.0.1:`port` to `upstream` that can hold or drop everything it carries."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True, name="link proxy").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def drop(self) -> None:
        """Close every connection; bytes held by a freeze are thrown away."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                _close(s)

    def close(self) -> None:
        _close(self._listener)
        self.drop()
        self.thaw()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=5)
                up.settimeout(None)
            except OSError:
                _close(down)
                continue
            pair = (down, up)
            with self._lock:
                self._pairs.append(pair)
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket], src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                self._flowing.wait()
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # a chunk read as the freeze began is held too
                with self._lock:
                    if pair not in self._pairs:
                        return  # dropped while held: it is lost, as on a cut link
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in pair:
                _close(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
