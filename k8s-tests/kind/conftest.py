"""Fixtures of the kind tests: a deployed wattstream release on a real cluster (`make kind-up
deploy k8s-test`). Without one every test is skipped, saying why.

Environment: KUBECONFIG (else ~/.kube/config), KIND_CLUSTER (required; set by `make k8s-test`),
WATTSTREAM_NAMESPACE (default wattstream), WATTSTREAM_RELEASE (default ws), PROMETHEUS_SERVICE
(default monitoring/kube-prometheus-stack-prometheus:http-web).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cluster import PROMETHEUS


def _kubeconfig() -> Path:
    return Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")


@pytest.fixture(scope="session")
def api_client():
    """An ApiClient for the cluster, or a skip naming what is missing."""
    from kubernetes import client, config

    path = _kubeconfig()
    # Never a user's current context by accident: only `make k8s-test` (which names the kind
    # cluster) runs this suite.
    if not os.environ.get("KIND_CLUSTER"):
        pytest.skip("needs a kind cluster: run `make kind-up deploy k8s-test` on a machine with "
                    "a Docker engine (KIND_CLUSTER is unset; `make test` checks the chart on the "
                    "loopback control plane instead)")
    if not path.is_file():
        pytest.skip(f"no kubeconfig at {path} for KIND_CLUSTER={os.environ['KIND_CLUSTER']}")
    try:
        config.load_kube_config(config_file=str(path))
        api = client.ApiClient()
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable cluster
        pytest.skip(f"cluster in {path} is unreachable: {exc}")
    return api


@pytest.fixture(scope="session")
def core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client):
    from kubernetes import client

    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client):
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def prom(api_client):
    """prom(query) -> result list (or prom(None, "rules") -> rules data), through the API
    server's service proxy: no port-forward needed."""
    ns, _, svc = PROMETHEUS.partition("/")

    def query(promql: str | None, path: str = "query"):
        raw = api_client.call_api(
            f"/api/v1/namespaces/{ns}/services/{svc}/proxy/api/v1/{path}", "GET",
            query_params=[("query", promql)] if promql else [],
            auth_settings=["BearerToken"], _preload_content=False,
            _return_http_data_only=True, _request_timeout=30)
        body = json.loads(raw.data)
        assert body["status"] == "success", body
        return body["data"]["result"] if path == "query" else body["data"]

    return query
