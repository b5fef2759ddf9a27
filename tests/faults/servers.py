"""Private servers the fault tests can break: Redis, PostgreSQL and a flow backend, on 127.0.0.1.

Each runs on its own spare port in its own directory, so stopping or pausing it never touches the
servers other tests (or CI's shared ones) use.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlparse

from bench.common import free_port
from tests.stores.conftest import RedisProcess


class PausableRedis(RedisProcess):
    """A private redis-server that can also hang: SIGSTOP keeps its port accepting connections
    (the kernel completes the handshake) while no command is ever answered, as a wedged Redis does."""

    def pause(self) -> None:
        assert self._proc is not None, "redis-server is not running"
        os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.resume()  # a stopped process would never act on SIGTERM
        super().stop()


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl live: Debian's versioned folder, or the PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parts[-3]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) in a temporary folder, trust auth on loopback.

    PostgreSQL refuses to run as root; as root (CI) the cluster belongs to the `postgres` system
    user the Debian packages create, and its commands run through `runuser`.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="wxbot-faults-pg-"))
        self.data = self.root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "--auth=trust", "--username=postgres",
                  "--encoding=UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        # Unix socket in our own folder (the default /var/run/postgresql may not be writable);
        # fsync off: nothing here needs to survive a power cut.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as when the server is stopped for maintenance."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


Behaviour = Literal["ok", "slow", "error"]


class _Server(ThreadingHTTPServer):
    # The same port again after stop(): the endpoint URL is fixed in the service's settings.
    allow_reuse_address = True
    daemon_threads = True


class FlowBackend:
    """A flow's HTTP backend (the approval system behind 办件进度查询) with a switchable behaviour.

    `ok` answers the record at once; `slow` answers it after `delay_s`; `error` answers HTTP 500.
    `stop()` closes the port (connection refused); `start()` opens the same port again.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.behaviour: Behaviour = "ok"
        self.delay_s = 0.0
        self.calls: list[dict[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def behave(self, behaviour: Behaviour, delay_s: float = 0.0) -> None:
        self.behaviour, self.delay_s = behaviour, delay_s

    @staticmethod
    def record(number: str) -> dict[str, str]:
        """What the backend answers for a record when it answers."""
        return {"item": "居住证办理", "status": "已办结", "detail": f"编号 {number} 的证件可以领取"}

    def reset(self) -> None:
        """Answer at once again and forget the calls (one server serves many tests)."""
        self.behave("ok")
        self.calls = []

    def start(self) -> FlowBackend:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                backend.calls.append(query)
                behaviour, delay = backend.behaviour, backend.delay_s
                if behaviour == "slow":
                    time.sleep(delay)
                if behaviour == "error":
                    self._send(500, b"<html>internal error</html>", "text/html")
                    return
                body = json.dumps(backend.record(query.get("number", "")), ensure_ascii=False).encode()
                self._send(200, body, "application/json")

            def _send(self, status: int, body: bytes, media_type: str) -> None:
                with contextlib.suppress(OSError):  # the caller may have given up already
                    self.send_response(status)
                    self.send_header("Content-Type", media_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
