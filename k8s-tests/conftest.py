"""Fixtures of the control-plane suite (helpers in harness.py): one loopback control plane for
the session, stopped by pid at the end."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Cluster  # noqa: E402
from loopback import ControlPlane, StackError, binary  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test on the loopback control plane needs its services (etcd, kube-apiserver, the
    operators): an integration test, which `make unit` leaves out."""
    for item in items:
        if {"controlplane", "cluster"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory):
    try:
        binary("kube-apiserver")
    except StackError as exc:
        pytest.fail(str(exc))
    cp = ControlPlane(run_dir=tmp_path_factory.mktemp("controlplane"))
    t0 = time.monotonic()
    try:
        cp.up()
    except StackError as exc:
        pytest.fail(f"the loopback control plane did not start: {exc}")
    print(f"\nloopback control plane up in {time.monotonic() - t0:.1f} s")
    yield cp
    cp.down()


@pytest.fixture(scope="session")
def cluster(controlplane) -> Cluster:
    return Cluster(controlplane)
