"""A TCP proxy the tests can cut: 'the database went away' without stopping a shared server.

It keeps its port while down (refusing by resetting every new connection and cutting the open
ones), so nothing else can take the port before the database "comes back".
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._up = False
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def start(self) -> None:
        with self._lock:
            self._up = True

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a crashed server would."""
        with self._lock:
            self._up = False
            conns, self._conns = self._conns, []
        for conn in conns:
            _reset(conn)

    def close(self) -> None:
        self.stop()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
            if not up:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=3)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _reset(sock: socket.socket) -> None:
    """Close with an RST, as a refused or crashed server looks to the client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
