"""A TCP proxy between an agent and its controller that can hold back what the agent sends.

`hold()` keeps every byte the agent sends from then on in the proxy (the controller never
sees it) while the controller's side still flows; `cut()` closes every connection and drops
what was held. Together they stand for the worst moment to crash: the agent has written its
report, and the report has not left the machine.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable


class HoldingProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._connections: list[tuple[socket.socket, socket.socket]] = []
        self._held = threading.Event()
        #: Bytes the agent sent while held (never forwarded).
        self.held_bytes = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="proxy accept").start()

    def hold(self) -> None:
        self._held.set()

    def cut(self) -> None:
        """Close every connection (dropping what was held) and forward again for new ones."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._held.clear()
        for pair in connections:
            for s in pair:
                _close(s)

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._connections.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, self._held.is_set), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, lambda: False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, holding: Callable[[], bool]) -> None:
        try:
            while data := source.recv(65536):
                if holding():
                    self.held_bytes += len(data)
                    continue
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(target)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
