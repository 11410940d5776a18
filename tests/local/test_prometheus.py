"""The local Prometheus, for real: it scrapes a live test target and answers queries about it."""

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from wattstream.local import prometheus
from wattstream.local.procs import free_port
from wattstream.waiting import wait_until

pytestmark = pytest.mark.integration


def test_scrapes_a_registered_target(local_cfg, stack_dir, prometheus_service):
    registry = CollectorRegistry()
    counter = Counter("wattstream_test_events", "events seen by the test", registry=registry)
    counter.inc(41)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus.register_target(stack_dir, "wattstream-test", f"127.0.0.1:{port}")

        def scraped() -> bool:
            res = prometheus.query(local_cfg, 'wattstream_test_events_total{job="wattstream-test"}')
            return bool(res) and float(res[0]["value"][1]) == 41.0

        wait_until(scraped, 60, "prometheus scrape of the test target")
        up = prometheus.query(local_cfg, 'up{job="wattstream-test"}')
        assert [float(r["value"][1]) for r in up] == [1.0]
    finally:
        server.shutdown()
