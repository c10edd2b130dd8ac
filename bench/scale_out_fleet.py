"""bench/scale_out.py's processes: each in its own process group with its log, Locust runs, CPU measured."""

from __future__ import annotations

import csv
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Fleet:
    """The processes this run started, each in its own process group, each logging to a file."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, grace: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_ready(fleet: Fleet, name: str, url: str, path: str = "/healthz", timeout: float = 90) -> None:
    """Until GET path answers 200; fails with the log's tail when the server died or never answered."""
    host, port = url.split("//", 1)[1].split(":")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fleet.procs[name].poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{name} did not start:\n" + fleet.log(name)[-3000:])


class CpuMeter:
    """CPU used meanwhile by process trees (the servers), by PostgreSQL's backends of this run's database,
    and by the whole machine (so what other processes took shows too)."""

    def __init__(self, pids: list[int], database: str) -> None:
        import psutil

        self.psutil = psutil
        self.pids = pids
        self.database = database
        self.backends: dict[int, float] = {}
        self.start = self._sample()

    def _seconds(self, procs) -> float:
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except self.psutil.Error:
                pass
        return total

    def _tree(self, pid: int) -> float:
        try:
            proc = self.psutil.Process(pid)
            return self._seconds([proc, *proc.children(recursive=True)])
        except self.psutil.Error:
            return 0.0

    def _postgres(self) -> float:
        """Backends of this database (their titles name it); one that ended keeps its last figure."""
        for p in self.psutil.process_iter(["cmdline"]):
            title = " ".join(p.info.get("cmdline") or [])
            if title.startswith("postgres:") and f" {self.database} " in title:
                self.backends[p.pid] = self._seconds([p]) or self.backends.get(p.pid, 0.0)
        return sum(self.backends.values())

    def _sample(self) -> dict:
        machine = self.psutil.cpu_times()
        return {
            "servers": sum(self._tree(pid) for pid in self.pids),
            "postgres": self._postgres(),
            "busy": sum(machine) - machine.idle - getattr(machine, "iowait", 0),
            "wall": time.time(),
        }

    def stop(self, locust_seconds: float) -> dict:
        """Each as a share of all cores over the time measured."""
        end = self._sample()
        wall = end["wall"] - self.start["wall"]
        cores = self.psutil.cpu_count() or 1
        shares = {k: (end[k] - self.start[k]) / wall / cores for k in ("servers", "postgres", "busy")}
        shares["server_seconds"] = end["servers"] - self.start["servers"]
        shares["postgres_seconds"] = end["postgres"] - self.start["postgres"]
        shares["locust"] = locust_seconds / wall / cores
        # What else ran meanwhile (other people's tests on a shared machine): figures then mean less.
        shares["others"] = max(0.0, shares["busy"] - shares["servers"] - shares["postgres"] - shares["locust"])
        return shares


def run_locust(
    fleet: Fleet,
    classes: dict[str, int],
    seconds: float,
    hosts: list[str],
    plan_path: Path,
    prefix: Path,
    server_pids: list[int],
    database: str,
    timed: str = "",
    spawn_rate: float = 0,
) -> tuple[list[dict], dict, dict]:
    """Run Locust headless with these user classes; (stats rows, what the locustfile counted, CPU shares)."""
    out = prefix.with_suffix(".json")
    env = {
        **os.environ,
        "SP_BENCH_PLAN": str(plan_path),
        "SP_BENCH_HOSTS": ",".join(hosts),
        "SP_BENCH_OUT": str(out),
        "SP_BENCH_COUNTS": json.dumps(classes),
        "SP_BENCH_TIMED": timed,
        "PYTHONWARNINGS": "ignore",
    }
    users = sum(classes.values())
    args = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(spawn_rate or users),
        "-t",
        f"{int(seconds)}s",
        "--stop-timeout",
        "15",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        *classes,
    ]
    meter = CpuMeter(server_pids, database)
    proc = fleet.start(prefix.name, args, env)
    # Bounded: a Locust that does not stop by itself is stopped.
    timer = threading.Timer(seconds + 120, fleet.stop, args=(prefix.name,))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time, not every child's
    except ChildProcessError:  # already stopped and reaped by the timer
        status, usage = 0, None
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    fleet.procs.pop(prefix.name, None)
    cpu = meter.stop(usage.ru_utime + usage.ru_stime if usage else 0.0)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"locust exited with {proc.returncode}:\n" + fleet.log(prefix.name)[-3000:])
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    results = json.loads(out.read_text()) if out.exists() else {}
    return rows, results, cpu
