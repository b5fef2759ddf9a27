"""Shared benchmark plumbing: start a service on 127.0.0.1, drive it with wrk, read memory.

Every benchmark compares against a baseline started in the same run, because this machine is
shared and noisy (identical servers measured back to back differ by ±10%).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEV_TOKEN = "wxbotdev"


def citizen_phrasings() -> list[str]:
    """Questions as citizens write them: the regression cases and the entries' similar questions."""
    import yaml

    lines: list[str] = []
    tests = ROOT / "knowledge" / "tests.yaml"
    if tests.exists():
        lines += [str(c["q"]) for c in yaml.safe_load(tests.read_text(encoding="utf-8")) or [] if c.get("q")]
    for path in sorted((ROOT / "knowledge" / "faq").glob("*.yaml")):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("entries", []):
            lines += [str(s) for s in entry.get("similar", [])]
    return [line.replace("\n", " ") for line in lines if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed_query(token: str = DEV_TOKEN) -> str:
    from app.wechat.crypto import sign

    ts, nonce = str(int(time.time())), "20261126"
    return f"signature={sign(token, ts, nonce)}&timestamp={ts}&nonce={nonce}"


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The uvicorn process itself with one worker, or its spawned worker processes with several."""
        workers = [k for k in _children(self.process.pid) if "spawn_main" in _cmdline(k)]
        return workers or [self.process.pid]

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker process itself."""
        return [rss_mb(pid) for pid in self.worker_pids()]

    def writer_rss_mb(self) -> list[float]:
        """Resident memory of the turn-log writer helper each worker starts (TURNLOG_WRITER=process)."""
        return [
            sum(rss_mb(k) for k in _children(pid) if "app.turnlog.child" in _cmdline(k))
            for pid in self.worker_pids()
        ]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def metric_total(svc: Service, name: str) -> float:
    """The sum of one metric's samples on the service's /metrics, over labels and workers (0 when absent)."""
    return sum_samples(httpx.get(f"{svc.base}/metrics", timeout=10).text, name)


def sum_samples(exposition: str, name: str) -> float:
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.M)
    return sum(float(value) for value in pattern.findall(exposition))


def median_interval(values: list[float], *, level: float = 0.95, resamples: int = 4000) -> tuple[float, float]:
    """A bootstrap confidence interval for the median of `values` (seeded: reruns on the same
    numbers print the same interval)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - level) / 2
    return medians[int(tail * resamples)], medians[min(int((1 - tail) * resamples), resamples - 1)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def service(
    app: str = "app.main:create_app",
    *,
    factory: bool = True,
    workers: int = 1,
    env: dict[str, str] | None = None,
    migrate: bool = True,
) -> Iterator[Service]:
    """Run `app` under uvicorn on a free loopback port with its own temporary data folder."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wxbot-bench-"))
    full_env = {
        **os.environ,
        "APP_ENV": "dev",
        "DATABASE_URL": f"sqlite:///{workdir}/wxbot.db",
        "KNOWLEDGE_DIR": str(ROOT / "knowledge"),
        "FLOWS_DIR": str(ROOT / "flows"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    if migrate:
        subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=full_env, cwd=ROOT,
                       check=True, capture_output=True)
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    if factory:
        cmd.append("--factory")
    log_path = workdir / "service.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, env=full_env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    svc = Service(process, port, log_path)
    try:
        _wait_ready(svc)
        yield svc
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(svc: Service, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if svc.process.poll() is not None:
            raise RuntimeError(f"service exited early:\n{svc.log_path.read_text()[-3000:]}")
        try:
            # Any HTTP answer means the server is up (the floor app has no /healthz).
            httpx.get(svc.base + "/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("service did not start in time")


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    number, unit = float(m.group(1)), m.group(2)
    return number / 1000 if unit == "us" else number * 1000 if unit == "s" else number


# Requests a wrk thread may send in a second, at most: each needs its own signed query.
MAX_RPS_PER_THREAD = 6000


def signed_queries_file(count: int, token: str = DEV_TOKEN) -> Path:
    """`count` signed query strings, each with its own nonce, one per line.

    The service refuses to process the same signed parameters twice inside the timestamp
    window (a replay, issue 15), as WeChat never sends two messages with one nonce; so every
    request the benchmarks send carries its own, as WeChat's would."""
    from app.wechat.crypto import sign

    ts = str(int(time.time()))
    run = os.urandom(4).hex()
    lines = []
    for n in range(count):
        nonce = f"{run}{n:08d}"
        lines.append(f"signature={sign(token, ts, nonce)}&timestamp={ts}&nonce={nonce}")
    path = Path(tempfile.mkstemp(prefix="wxbot-queries-", suffix=".txt")[1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wrk(url: str, *, connections: int, seconds: int, script: Path, env: dict[str, str]) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    threads = 1 if connections == 1 else 2
    per_thread = min(MAX_RPS_PER_THREAD * (seconds + 2), 200_000)
    queries = signed_queries_file(per_thread * threads)
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            env={**os.environ, **env, "QUERIES_FILE": str(queries), "QUERIES_PER_THREAD": str(per_thread)},
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        ).stdout
    finally:
        queries.unlink(missing_ok=True)
    result = parse_wrk(out)
    if result.errors and os.environ.get("BENCH_VERBOSE"):
        print(out)
    return result


def parse_wrk(out: str) -> WrkResult:
    """The figures from wrk's --latency report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored to the start of a line: the thread-stats table has "+/- Stdev" columns such as
    # "95.50%" that an unanchored "50%" would match.
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return WrkResult(rps, p50, p99, total, errors)
