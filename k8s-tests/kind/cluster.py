"""Names of the deployed release and a polling helper shared by the cluster tests."""

from __future__ import annotations

import os
import time

import pytest

NAMESPACE = os.environ.get("WATTSTREAM_NAMESPACE", "wattstream")
RELEASE = os.environ.get("WATTSTREAM_RELEASE", "ws")
FULLNAME = f"{RELEASE}-wattstream" if "wattstream" not in RELEASE else RELEASE
PROMETHEUS = os.environ.get("PROMETHEUS_SERVICE",
                            "monitoring/kube-prometheus-stack-prometheus:http-web")



def wait_until(condition, timeout: float, what: str, interval: float = 5.0):
    """Poll `condition()` until it returns a truthy value; fail naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as exc:  # noqa: BLE001 - transient API errors while things start
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
