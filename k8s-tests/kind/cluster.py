"""Names of the deployed release and a polling helper shared by the cluster tests."""

from __future__ import annotations

import os

import pytest

from wattstream import waiting

NAMESPACE = os.environ.get("WATTSTREAM_NAMESPACE", "wattstream")
RELEASE = os.environ.get("WATTSTREAM_RELEASE", "ws")
FULLNAME = f"{RELEASE}-wattstream" if "wattstream" not in RELEASE else RELEASE
PROMETHEUS = os.environ.get("PROMETHEUS_SERVICE",
                            "monitoring/kube-prometheus-stack-prometheus:http-web")



def wait_until(condition, timeout: float, what: str, interval: float = 5.0):
    """`waiting.wait_until` failing the test, polling every `interval` seconds (a cluster
    is slow)."""
    return waiting.wait_until(condition, timeout, what, interval, error=pytest.fail.Exception)
