"""The chart's AlertmanagerConfig on a real API server: stored as rendered, checked against
prometheus-operator 0.93's CRD (schema and CEL rules), and the job's NetworkPolicy admitting
the driver to Alertmanager and nowhere else on its port."""

from __future__ import annotations

import copy
import json

import pytest
from loopback import StackError
from netpol import Endpoint, admitted

PROFILE = "ci/alertmanager-values.yaml"
ALERTMANAGER = Endpoint("monitoring", {"app.kubernetes.io/name": "alertmanager"}, "am-0")
ELSEWHERE = Endpoint("monitoring", {"app.kubernetes.io/name": "grafana"}, "grafana-0")


@pytest.fixture(scope="module")
def release(cluster):
    rel = cluster.install(PROFILE, namespace="p-alertmanager")
    try:
        yield rel
    finally:
        cluster.remove(rel)


def test_the_api_server_stores_the_routing_and_its_receivers(release):
    (amc,) = release.get("alertmanagerconfigs")
    spec = amc["spec"]
    assert [r["name"] for r in spec["receivers"]] == [
        "facilities", "facilities-critical", "data-quality", "platform"]
    assert spec["route"]["groupBy"] == ["site", "building"]
    assert spec["muteTimeIntervals"][0]["name"] == "out-of-hours"
    critical = next(r for r in spec["receivers"] if r["name"] == "facilities-critical")
    assert critical["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "wattstream-notify", "key": "pagerduty-routing-key"}
    cm = next(c for c in release.get("configmaps") if c["metadata"]["name"].endswith("-config"))
    assert "namespace: p-alertmanager" in cm["data"]["wattstream.yaml"]


def test_the_crd_refuses_a_broken_routing(release, cluster):
    """The check above could fail: the same object with a quiet hour the CRD's pattern refuses
    is rejected by the API server."""
    (amc,) = release.get("alertmanagerconfigs")
    broken = copy.deepcopy(amc)
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        broken["metadata"].pop(k, None)
    broken["metadata"]["name"] = "broken"
    broken["spec"]["muteTimeIntervals"][0]["timeIntervals"] = [
        {"times": [{"startTime": "7am", "endTime": "19:00"}]}]
    with pytest.raises(StackError, match="startTime"):
        cluster.cp.kubectl("create", "-f", "-", input=json.dumps(broken))


def test_the_driver_reaches_alertmanager_and_only_it(release):
    policies = release.get("networkpolicies")
    namespaces = {"monitoring": {"kubernetes.io/metadata.name": "monitoring"},
                  release.namespace: {"kubernetes.io/metadata.name": release.namespace}}
    driver = Endpoint.of(release.driver_pod())
    assert admitted(policies, namespaces, driver, ALERTMANAGER, 9093, "TCP")
    assert not admitted(policies, namespaces, driver, ALERTMANAGER, 9094, "TCP")
    assert not admitted(policies, namespaces, driver, ELSEWHERE, 9093, "TCP")
