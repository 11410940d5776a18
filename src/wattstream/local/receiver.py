"""The local stack's notification receiver: Alertmanager's webhook target on loopback. Each
notification it gets is one JSON line in `<run_dir>/alertmanager/notifications.jsonl`
(`received_at`, the receiver path, Alertmanager's payload), which the live view shows.

    python -m wattstream.local.receiver --port 9096 --out .run/alertmanager/notifications.jsonl

In a real deployment the receivers are e-mail, chat and paging services
(`charts/wattstream/examples/alertmanager.yaml`); this one stands in for them on one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .procs import LOOPBACK

MAX_BODY = 8 * 1024 * 1024


def serve(port: int, out: Path, host: str = LOOPBACK) -> ThreadingHTTPServer:
    """A started server (in a thread) appending every POST to `out`; `shutdown()` stops it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server hook's name
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self.send_error(413)
                return
            try:
                body = json.loads(self.rfile.read(n) or b"null")
            except ValueError:
                self.send_error(400, "not JSON")
                return
            line = json.dumps({"received_at": time.time(), "path": self.path, "body": body})
            with lock, open(out, "a") as fh:
                fh.write(line + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # noqa: N802 - readiness
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            """Quiet: the file is the record."""

    class Server(ThreadingHTTPServer):
        # Alertmanager opens a connection per group it flushes: a flood of groups overflows
        # the default listen backlog of 5 (refused, then retried by Alertmanager with backoff).
        request_queue_size = 1024

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def read(path: Path) -> list[dict]:
    """The notifications received so far, oldest first (a half-written last line is skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class Tail:
    """The notifications appended to `path` since the last call (the live view's source)."""

    def __init__(self, path: Path):
        self.path, self.offset = Path(path), 0

    def __call__(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next call
        self.offset += end
        out = []
        for line in data[:end].splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    server = serve(args.port, args.out)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
