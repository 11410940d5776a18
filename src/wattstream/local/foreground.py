"""`make run`: the generator and the streaming job as child processes with prefixed live output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from ..config import Config
from . import kafka


def _pump(prefix: str, stream, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        with lock:
            print(f"{prefix} {line}", flush=True)


def run_pipeline(cfg: Config, config_file: str | None = None) -> int:
    """Run `wattstream generate` and `wattstream job` until Ctrl-C or until one exits."""
    base = [sys.executable, "-m", "wattstream"]
    if config_file:
        base += ["--config", str(config_file)]
    # Children talk to the broker this stack started, whatever the file says.
    env = {**os.environ, "WATTSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap(cfg),
           "PYTHONUNBUFFERED": "1"}
    lock = threading.Lock()
    children: dict[str, subprocess.Popen] = {}
    for name, argv in (("job", base + ["job"]), ("generator", base + ["generate"])):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        children[name] = proc
        threading.Thread(target=_pump, args=(f"[{name:9}]", proc.stdout, lock),
                         daemon=True).start()
    print("wattstream running: generator → Kafka → job; Ctrl-C stops", flush=True)
    code = 0
    try:
        while all(p.poll() is None for p in children.values()):
            time.sleep(0.5)
        for name, p in children.items():
            if p.returncode:
                print(f"{name} exited with {p.returncode}", file=sys.stderr)
                code = 1
    except KeyboardInterrupt:
        print("\nstopping generator and job …", flush=True)
    finally:
        # Generator first so the job can drain what was sent.
        for name in ("generator", "job"):
            p = children[name]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    return code
