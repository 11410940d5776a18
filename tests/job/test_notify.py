"""Alerts reach people: the job's notifier (`job/notify.py`) takes the alerts topic to a real
Alertmanager (Debian's), which routes them to the local webhook receiver. Real Kafka, real
Alertmanager; each test uses its own topics, consumer group and buildings."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from wattstream.job import alerts as job_alerts
from wattstream.job import notify
from wattstream.job.metrics import JobMetrics
from wattstream.job.sinks import alert_json
from wattstream.local import alertmanager
from wattstream.local.procs import free_port
from wattstream.waiting import wait_until

pytestmark = pytest.mark.integration
WAIT = 60


@pytest.fixture(scope="module")
def own_alertmanager(local_cfg, tmp_path_factory):
    """An Alertmanager and receiver of this module's own (the local stack's configuration):
    the stack's also takes the local Prometheus's platform alerts, and a WattstreamJobDown
    left by an earlier test's job inhibits every demand alert. Yields (config, its folder)."""
    folder = tmp_path_factory.mktemp("notify-alertmanager")
    cfg = local_cfg.replace(local={"alertmanager_port": free_port(),
                                   "receiver_port": free_port()})
    alertmanager.start(cfg, folder)
    yield cfg, folder
    for svc in alertmanager.services(folder):
        svc.stop()


@pytest.fixture
def am_dir(own_alertmanager):
    """The folder of this module's Alertmanager and receiver (not the session's stack)."""
    return own_alertmanager[1]


@pytest.fixture
def notify_cfg(unique_topics, own_alertmanager, request):
    """Fresh topics, its own consumer group, this module's live Alertmanager; fast retries."""
    am_cfg = own_alertmanager[0]
    return unique_topics.replace(
        local={"alertmanager_port": am_cfg.local.alertmanager_port,
               "receiver_port": am_cfg.local.receiver_port},
        notify={"alertmanager_urls": alertmanager.url(am_cfg),
                "consumer_group": f"notify-{unique_topics.kafka.alerts_topic}"[:200],
                "retry_initial_seconds": 0.2, "retry_max_seconds": 1.0,
                "timeout_seconds": 2.0},
        weather={"sites": {f"{request.node.name[:20]}-A": "north"}})


def alert(building: str, kind: str, *, value: float = 190.0, threshold: float = 180.0,
          age: timedelta = timedelta(seconds=2)) -> dict:
    """An alert as the job writes it to Kafka, its event `age` before it was raised (now)."""
    now = pd.Timestamp.now(tz=UTC).tz_localize(None).floor("ms")
    event = now - pd.Timedelta(age)
    start = event.floor("5min")
    row = job_alerts.frame([building], [start], [start + pd.Timedelta(minutes=5)], kind,
                           [value], threshold, [event], now).iloc[0].to_dict()
    return alert_json(row)


def send(cfg, *items: dict) -> None:
    from kafka import KafkaProducer

    from wattstream import kafka_client

    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers,
                      **kafka_client.python_kwargs(cfg.kafka))
    for a in items:
        p.send(cfg.kafka.alerts_topic, key=a["building_id"].encode(),
               value=json.dumps(a).encode())
    p.flush(30)
    p.close()


def notified(am_dir, building: str) -> list[tuple[str, dict]]:
    """(receiver path, Alertmanager alert) of every notification about `building`."""
    return [(n["path"], a) for n in alertmanager.received(am_dir)
            for a in n["body"]["alerts"] if a["labels"].get("building") == building]


def held(cfg, building: str) -> list[dict]:
    return [a for a in alertmanager.alerts(cfg) if a["labels"].get("building") == building]


@pytest.fixture
def notifier(notify_cfg):
    started = []

    def make(cfg=notify_cfg, **kw):
        n = notify.Notifier(cfg, JobMetrics(cfg), **kw).start()
        started.append(n)
        assert n.ready.wait(WAIT), "the notifier never fixed its start offsets"
        return n

    yield make
    for n in started:
        n.stop()


def value(metric, **labels) -> float:
    return (metric.labels(**labels) if labels else metric)._value.get()


def test_an_alert_reaches_the_receiver_with_its_labels_and_text(notify_cfg, notifier, am_dir,
                                                                 request):
    b = f"{request.node.name[:20]}-A"
    n = notifier()
    send(notify_cfg, alert(b, job_alerts.PEAK, value=191.5))
    wait_until(lambda: notified(am_dir, b), WAIT, f"a notification about {b}")
    [(path, got)] = notified(am_dir, b)
    assert path == "/facilities-critical"  # severity critical has its own route
    assert got["labels"] == {"alertname": "PEAK_DEMAND", "building": b, "site": "north",
                             "severity": "critical", "category": "demand"}
    assert b in got["annotations"]["summary"]
    assert "191.5" in got["annotations"]["description"]
    assert got["annotations"]["threshold"] == "180"
    assert value(n.metrics.notify_sent) == 1
    wait_until(lambda: value(n.metrics.notify_pending) == 0, WAIT, "nothing pending")


def test_peak_demand_inhibits_high_consumption_of_the_same_building(notify_cfg, notifier,
                                                                    am_dir, request):
    both, high_only = (f"{request.node.name[:20]}-{s}" for s in "BC")
    notifier()
    send(notify_cfg, alert(both, job_alerts.PEAK), alert(both, job_alerts.HIGH, value=190,
                                                          threshold=150),
         alert(high_only, job_alerts.HIGH, value=160, threshold=150))

    def inhibited() -> bool:
        return any(a["labels"]["alertname"] == "HIGH_CONSUMPTION" and a["status"]["inhibitedBy"]
                   for a in held(notify_cfg, both))

    wait_until(inhibited, WAIT, f"HIGH_CONSUMPTION of {both} inhibited")
    wait_until(lambda: notified(am_dir, high_only), WAIT, f"the notification of {high_only}")
    wait_until(lambda: notified(am_dir, both), WAIT, f"the notification of {both}")
    assert [a["labels"]["alertname"] for _, a in notified(am_dir, both)] == ["PEAK_DEMAND"]
    assert [(p, a["labels"]["alertname"]) for p, a in notified(am_dir, high_only)] == [
        ("/facilities", "HIGH_CONSUMPTION")]


def test_a_silence_keeps_a_building_quiet(notify_cfg, notifier, am_dir, request):
    quiet, loud = (f"{request.node.name[:20]}-{s}" for s in "DE")
    now = datetime.now(UTC)
    body = {"matchers": [{"name": "building", "value": quiet, "isRegex": False}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test", "comment": "maintenance"}
    req = urllib.request.Request(f"{alertmanager.url(notify_cfg)}/api/v2/silences",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    notifier()
    send(notify_cfg, alert(quiet, job_alerts.PEAK), alert(loud, job_alerts.PEAK))

    def silenced() -> bool:
        return any(a["status"]["silencedBy"] for a in held(notify_cfg, quiet))

    wait_until(silenced, WAIT, f"the alert of {quiet} silenced")
    wait_until(lambda: notified(am_dir, loud), WAIT, f"the notification of {loud}")
    assert notified(am_dir, quiet) == []


def test_an_alertmanager_outage_delays_notifications_and_loses_none(notify_cfg, notifier,
                                                                    am_dir, request):
    names = [f"{request.node.name[:20]}-{i}" for i in range(3)]
    n = notifier()
    am, _ = alertmanager.services(am_dir)
    assert am.stop()
    try:
        send(notify_cfg, *(alert(b, job_alerts.PEAK) for b in names))
        url = alertmanager.url(notify_cfg)
        wait_until(lambda: value(n.metrics.notify_failed, url=url) >= 3, WAIT,
                   "failed posts while Alertmanager is down")
        wait_until(lambda: value(n.metrics.notify_pending) == 3, WAIT,
                   "all three alerts pending")
        assert value(n.metrics.notify_sent) == 0
    finally:
        alertmanager.start(notify_cfg, am_dir)
    wait_until(lambda: all(notified(am_dir, b) for b in names), WAIT,
               "every alert notified after Alertmanager came back")
    assert value(n.metrics.notify_sent) == 3
    assert [len(notified(am_dir, b)) for b in names] == [1, 1, 1]
    wait_until(lambda: value(n.metrics.notify_pending) == 0, WAIT, "nothing pending")


def test_alerts_an_alertmanager_held_when_it_stopped_for_60_s_are_notified_after(
        notify_cfg, notifier, tmp_path, request):
    """Alertmanager keeps alerts in memory only: one accepted and still waiting out its group's
    wait when Alertmanager stops is gone when it starts again, unless posted again."""
    held_one, during = (f"{request.node.name[:20]}-{s}" for s in "KL")
    cfg = notify_cfg.replace(local={"alertmanager_port": free_port(),
                                    "receiver_port": free_port()})
    cfg = cfg.replace(notify={"alertmanager_urls": alertmanager.url(cfg), "resend_seconds": 1})
    slow = alertmanager.config(cfg)
    slow["route"]["routes"] = []  # every alert to facilities, after a 20 s group wait
    slow["route"]["group_wait"] = "20s"
    alertmanager.start(cfg, tmp_path, slow)
    am, rcv = alertmanager.services(tmp_path)
    try:
        n = notifier(cfg)
        send(cfg, alert(held_one, job_alerts.HIGH, value=160.0, threshold=150.0))
        wait_until(lambda: held(cfg, held_one), WAIT, "Alertmanager holding the first alert")
        assert value(n.metrics.notify_sent) == 1
        stopped = time.monotonic()
        assert am.stop()
        # Raised while Alertmanager is down:
        send(cfg, alert(during, job_alerts.HIGH, value=160.0, threshold=150.0))
        wait_until(lambda: value(n.metrics.notify_failed, url=alertmanager.url(cfg)) >= 1,
                   WAIT, "a failed post while Alertmanager is down")
        assert alertmanager.received(tmp_path) == []  # the first one was still waiting
        outage = 60 - (time.monotonic() - stopped)
        if outage > 0:
            time.sleep(outage)  # the outage under test, not a wait for a condition
        alertmanager.start(cfg, tmp_path, slow)
        both = lambda: {a["labels"]["building"] for n in alertmanager.received(tmp_path)  # noqa: E731
                        for a in n["body"]["alerts"]}
        wait_until(lambda: {held_one, during} <= both(), WAIT + 20,
                   "both alerts notified after Alertmanager came back")
        assert value(n.metrics.notify_resent) >= 1
        assert value(n.metrics.notify_sent) == 2
    finally:
        am.stop()
        rcv.stop()


def test_a_restarted_notifier_resumes_where_alertmanager_last_accepted(notify_cfg, notifier,
                                                                       am_dir, request):
    before, first, during = (f"{request.node.name[:20]}-{s}" for s in "FGH")
    send(notify_cfg, alert(before, job_alerts.PEAK))  # history: before the job started
    one = notifier()
    send(notify_cfg, alert(first, job_alerts.PEAK))
    wait_until(lambda: one.delivered == 1, WAIT, "the first alert delivered")
    one.stop()
    send(notify_cfg, alert(during, job_alerts.PEAK))  # raised while the notifier was down
    # A later start time: the committed offsets, not the start time, say where to go on.
    two = notifier(started_ms=int((datetime.now(UTC) + timedelta(hours=1)).timestamp() * 1000))
    wait_until(lambda: notified(am_dir, during), WAIT, "the alert raised while it was down")
    assert two.delivered == 1
    assert notified(am_dir, before) == []
    assert len(notified(am_dir, first)) == 1


def test_a_replay_of_history_is_counted_not_notified(notify_cfg, notifier, am_dir, request):
    old, new = (f"{request.node.name[:20]}-{s}" for s in "IJ")
    n = notifier()
    send(notify_cfg, alert(old, job_alerts.PEAK, age=timedelta(hours=3)),
         alert(new, job_alerts.PEAK))
    wait_until(lambda: notified(am_dir, new), WAIT, "the fresh alert notified")
    assert value(n.metrics.notify_skipped) == 1
    assert value(n.metrics.notify_sent) == 1
    assert held(notify_cfg, old) == []
