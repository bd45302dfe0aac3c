"""A TCP proxy in front of the real server that can lose answers and cut connections: the
failures a client meets in production, made to happen on cue.

- `drop_answers = n`: the next n answers reach the proxy (the server did the work) and are
  thrown away with their connection, as when a network drops a reply.
  `on_drop`, if set, runs before the connection is cut (to kill the server right then).
- `sever()`: every open connection is cut now (a long-lived event stream among them).
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Optional


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.drop_answers = 0
        self.n_dropped = 0
        self.on_drop: Optional[Callable[[], None]] = None
        self.dropped = threading.Event()
        self.n_connections = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.n_connections += 1
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, is_answer: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if is_answer and self._take_drop():
                    if self.on_drop is not None:
                        self.on_drop()
                    self.dropped.set()
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._cut(source)
            self._cut(sink)

    def _take_drop(self) -> bool:
        with self._lock:
            if self.drop_answers <= 0:
                return False
            self.drop_answers -= 1
            self.n_dropped += 1
            return True

    def _cut(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        with self._lock:
            if sock in self._open:
                self._open.remove(sock)

    def sever(self) -> int:
        """Cuts every open connection; answers how many sockets were open."""
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            self._cut(sock)
        return len(sockets)

    def close(self, _: Optional[object] = None) -> None:
        self._closed = True
        self.listener.close()
        self.sever()
