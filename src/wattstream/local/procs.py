"""Background processes tracked by pid files, readiness waits and port checks."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .. import waiting
from ..errors import WattstreamError

LOOPBACK = "127.0.0.1"


class StackError(WattstreamError):
    """A local service could not be set up; the message says what to do."""


# The project's wait, failing as a local service that does not come up does.
wait_until = functools.partial(waiting.wait_until, error=StackError)


def http_ok(url: str, timeout: float = 3.0) -> bool:
    """A GET of `url` answers 200 (a readiness endpoint); False when it fails in any way."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001 - not up yet, refused, timed out
        return False


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (all held open while choosing, so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def require_free(ports: dict[str, int]) -> None:
    taken = [f"{name} port {port}" for name, port in ports.items() if port_in_use(port)]
    if taken:
        raise StackError(
            f"{', '.join(taken)} already in use on {LOOPBACK}: stop what holds it "
            f"(`ss -ltnp | grep <port>`) or set another port under `local:` in the config"
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


class Service:
    """One process of the stack with a pid file and a log file in `run_dir`."""

    def __init__(self, name: str, run_dir: Path):
        self.name = name
        self.run_dir = Path(run_dir)
        self.pid_file = self.run_dir / "pids" / f"{name}.pid"
        self.log_file = self.run_dir / "logs" / f"{name}.log"

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            # A session of its own: Ctrl-C in the terminal does not reach the service, and
            # `stop` can signal the whole process group.
            proc = subprocess.Popen(
                list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        self._proc = proc
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL after `timeout`; True if something was stopped."""
        pid = self.pid
        if pid is None:
            return False
        stopped = False
        if pid_alive(pid):
            stopped = True
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.1)
            if pid_alive(pid):
                _signal_group(pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while pid_alive(pid) and time.monotonic() < deadline:
                    self._reap()
                    time.sleep(0.1)
        self._reap()
        self.pid_file.unlink(missing_ok=True)
        return stopped

    def _reap(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None:
            proc.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def run_checked(argv: Sequence[str], what: str, log: Path, env: dict[str, str] | None = None,
                timeout: float = 300) -> None:
    """Run a one-shot command (storage format, …), appending its output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        res = subprocess.run(list(argv), stdout=fh, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                             timeout=timeout)
    if res.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise StackError(f"{what} failed (exit {res.returncode}); end of {log}:\n{tail}")
