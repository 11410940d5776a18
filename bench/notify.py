"""A flood of alerts to Alertmanager: every building of a large fleet alerting once within one
window, taken from the alerts topic by the job's notifier (`job/notify.py`) to a real
Alertmanager (Debian's) and its webhook receiver. Does every alert reach a receiver, and how
fast?

The routing is the shipped example's (`charts/wattstream/examples/alertmanager.yaml`: grouped
by site and building, PEAK_DEMAND inhibiting HIGH_CONSUMPTION, warnings waiting 30 s, critical
alerts 0 s) with each receiver a webhook to the local receiver and no quiet hours (a time-of-day
policy, not a capacity one); `--routing local` takes the local demo's instead
(`local/alertmanager.py`: waits of seconds, for a demo, and no match for a fleet-wide flood,
as the README's alerting section measures).

    .venv/bin/python bench/notify.py                       # 100 000 buildings
    .venv/bin/python bench/notify.py --buildings 10000 --out /tmp/notify.json
    .venv/bin/python bench/notify.py --buildings 10000 --outage-seconds 60 \
        --out bench/results/notify-outage.json      # Alertmanager away for a minute mid-flood

Starts its own broker, Alertmanager and receiver on free ports in a temporary folder. The
alerts (HIGH_CONSUMPTION, PEAK_DEMAND, ABNORMAL_USAGE, STUCK_METER in turn, one per building)
are written to the alerts topic first, as the job writes them; then the notifier starts and
posts them (`notify.batch_max` per POST). Measured: the notifier's time to have every alert
accepted (alerts/s), the time until Alertmanager holds them all (its
`alertmanager_alerts{state="active"}`), and until the receiver has quieted: the buildings that
reached it, by receiver, and those that did not (dropped); Alertmanager's peak RSS (VmHWM).

Prints a table and writes bench/results/notify.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
from memory import status  # noqa: E402

from wattstream import kafka_client  # noqa: E402
from wattstream.config import Config  # noqa: E402
from wattstream.job.metrics import JobMetrics  # noqa: E402
from wattstream.job.notify import Notifier  # noqa: E402
from wattstream.local import alertmanager, kafka, receiver  # noqa: E402
from wattstream.local.procs import free_port, wait_until  # noqa: E402

TYPES = (("HIGH_CONSUMPTION", 150.0), ("PEAK_DEMAND", 180.0), ("ABNORMAL_USAGE", 120.0),
         ("STUCK_METER", 60.0))


def alerts(n: int, now: datetime) -> list[dict]:
    # The window holding the event time starts with it (not on the 5-minute grid), so the
    # alerts stay active (endsAt: the window's end) for the whole measurement.
    start = (now - timedelta(seconds=3)).replace(microsecond=0)
    iso = lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    out = []
    for i in range(n):
        kind, threshold = TYPES[i % len(TYPES)]
        out.append({"alert_id": f"flood-{i}", "building_id": f"f{i:07d}", "type": kind,
                    "value": threshold * 1.1, "threshold": threshold,
                    "event_time": iso(now - timedelta(seconds=3)), "window_start": iso(start),
                    "window_end": iso(start + timedelta(minutes=5)), "raised_at": iso(now)})
    return out


def produce(cfg: Config, items: list[dict]) -> float:
    from kafka import KafkaProducer

    t = time.time()
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, linger_ms=20,
                      batch_size=1 << 18, **kafka_client.python_kwargs(cfg.kafka))
    for a in items:
        p.send(cfg.kafka.alerts_topic, key=a["building_id"].encode(),
               value=json.dumps(a).encode())
    p.flush(120)
    p.close()
    return time.time() - t


def active(cfg: Config) -> int:
    """Alertmanager's count of the alerts it holds as active."""
    with urllib.request.urlopen(f"{alertmanager.url(cfg)}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('alertmanager_alerts{state="active"}'):
                return int(float(line.split()[-1]))
    return 0


EXAMPLE = ROOT / "charts" / "wattstream" / "examples" / "alertmanager.yaml"


def example_routing(cfg: Config) -> dict:
    """The shipped routing with every receiver a webhook to the local receiver
    (`<receiver>/<name>`, as the local routing's) and its quiet hours left out."""
    import yaml

    conf = yaml.safe_load(EXAMPLE.read_text())
    conf["global"] = {"resolve_timeout": conf["global"]["resolve_timeout"]}
    for r in conf["route"]["routes"]:
        r.pop("mute_time_intervals", None)
    conf.pop("time_intervals", None)
    hook = alertmanager.receiver_url(cfg)
    conf["receivers"] = [{"name": r["name"], "webhook_configs": [
        {"url": f"{hook}/{r['name']}", "send_resolved": False}]} for r in conf["receivers"]]
    return conf


def run(n: int, batch_max: int, outage: float = 0.0, routing: str = "example") -> dict:
    work = Path(tempfile.mkdtemp(prefix="wattstream-notify-"))
    cfg = Config().replace(
        local={"run_dir": str(work), "kafka_port": free_port(),
               "kafka_controller_port": free_port(), "alertmanager_port": free_port(),
               "receiver_port": free_port()},
        kafka={"alerts_topic": "bench.flood.alerts"},
        # A site per 100 buildings (the site-grouped data-quality route gets groups of 25).
        weather={"sites": {f"f{i:07d}": f"site-{i // 100:04d}" for i in range(n)}})
    broker = kafka.start(cfg, work)
    cfg = cfg.replace(kafka={"bootstrap_servers": kafka.bootstrap(cfg)},
                      notify={"batch_max": batch_max, "retry_initial_seconds": 0.2,
                              "timeout_seconds": 30.0})
    try:
        kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
        conf = example_routing(cfg) if routing == "example" else alertmanager.config(cfg)
        alertmanager.start(cfg, work, conf)
        am_pid = int((work / "pids" / "alertmanager.pid").read_text())
        cfg = cfg.replace(notify={"alertmanager_urls": alertmanager.url(cfg)})
        now = datetime.now(UTC)
        items = alerts(n, now)
        produce_s = produce(cfg, items)
        t0 = time.time()
        metrics = JobMetrics(cfg)
        notifier = Notifier(cfg, metrics, started_ms=int(t0 * 1000) - 600_000).start()
        try:
            if outage:
                # Alertmanager stopped half-way through the flood, holding what it accepted
                # and had not yet notified, and started again after `outage` seconds.
                wait_until(lambda: notifier.delivered >= n // 2, 1800, "half the alerts "
                           "accepted", interval=0.05)
                alertmanager.services(work)[0].stop()
                stopped_at, held_when_stopped = time.time() - t0, notifier.delivered
                time.sleep(outage)  # the outage under test
                alertmanager.start(cfg, work, conf)
                am_pid = int((work / "pids" / "alertmanager.pid").read_text())
            wait_until(lambda: notifier.delivered >= n, 1800, "every alert accepted",
                       interval=0.2)
            posted_s = time.time() - t0
            wait_until(lambda: active(cfg) >= n, 600, "Alertmanager holding every alert",
                       interval=0.5)
            held_s = time.time() - t0
        finally:
            notifier.stop()
        path = alertmanager.notifications_file(work)
        last, seen, quiet_since = 0.0, -1, time.time()
        # Quiet for a minute: a webhook Alertmanager failed to deliver is retried with backoff.
        while time.time() - quiet_since < 60 and time.time() - t0 < 1800:
            size = path.stat().st_size if path.exists() else 0
            if size != seen:
                seen, quiet_since = size, time.time()
            time.sleep(1.0)
        peak = (status(am_pid) or {}).get("hwm", float("nan")) / (1 << 20)  # VmHWM: its peak
        got = receiver.read(path)
        buildings, by_receiver = set(), {}
        for rec in got:
            last = max(last, rec["received_at"])
            rcv = rec["body"]["receiver"]
            for a in rec["body"]["alerts"]:
                buildings.add(a["labels"]["building"])
                by_receiver[rcv] = by_receiver.get(rcv, 0) + 1
        want = {a["building_id"] for a in items}
        return {"buildings": n, "batch_max": batch_max, "produce_s": produce_s,
                "notifier_s": posted_s, "alerts_per_s": n / posted_s,
                "alertmanager_holds_all_s": held_s, "receiver_last_s": last - t0,
                "notifications": len(got), "buildings_notified": len(buildings & want),
                "dropped": len(want - buildings), "by_receiver": by_receiver,
                "alertmanager_peak_rss_mib": peak, "outage_s": outage,
                **({"outage_at_s": stopped_at, "accepted_before_outage": held_when_stopped,
                    "resent": metrics.notify_resent._value.get()} if outage else {})}
    finally:
        for svc in alertmanager.services(work):
            svc.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def table(res: dict) -> str:
    r = res["flood"]
    return "\n".join([
        f"alert flood to Alertmanager ({r.get('routing', 'example')} routing), "
        f"{common.describe(res['machine'])}:", "",
        "| buildings | POST batch | notifier s | alerts/s | AM holds all s | receiver done s "
        "| notifications | notified | dropped | AM RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['buildings']:,} | {r['batch_max']} | {r['notifier_s']:.1f} | "
        f"{r['alerts_per_s']:,.0f} | {r['alertmanager_holds_all_s']:.1f} | "
        f"{r['receiver_last_s']:.1f} | {r['notifications']:,} | {r['buildings_notified']:,} | "
        f"{r['dropped']:,} | {r['alertmanager_peak_rss_mib']:,.0f} |", "",
        *([f"Alertmanager stopped at {r['outage_at_s']:.1f} s with "
           f"{r['accepted_before_outage']:,} alerts accepted, started {r['outage_s']:.0f} s "
           f"later; active alerts posted again: {r['resent']:,.0f}", ""]
          if r.get("outage_s") else []),
        "by receiver: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["by_receiver"].items())),
        f"load average {res['load_average_start']} → {res['load_average_end']}"])


def main(argv=None) -> int:
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=100_000)
    ap.add_argument("--batch-max", type=int, default=Config().notify.batch_max)
    ap.add_argument("--outage-seconds", type=float, default=0.0,
                    help="stop Alertmanager half-way through the flood for this long")
    ap.add_argument("--routing", choices=("example", "local"), default="example")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "notify.json"))
    args = ap.parse_args(argv)
    res = {"machine": common.machine(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
           "load_average_start": os.getloadavg()}
    res["flood"] = run(args.buildings, args.batch_max, args.outage_seconds, args.routing)
    res["flood"]["routing"] = args.routing
    return common.finish(res, args.out, table)


if __name__ == "__main__":
    sys.exit(main())
