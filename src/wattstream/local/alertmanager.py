"""Alertmanager (Debian's `prometheus-alertmanager`) on loopback, and the webhook receiver it
notifies (`receiver`): where the job's alerts (`job.notify`) and Prometheus' platform alerts
reach people on one machine.

The routing is the example's (`charts/wattstream/examples/alertmanager.yaml`; a test routes
every alert type through both and compares) with every receiver a path of the local webhook
receiver: alerts grouped by site and building, PEAK_DEMAND inhibiting HIGH_CONSUMPTION of the
same building, data-quality and platform alerts to receivers of their own. Waits are short and
there are no quiet hours, as a demo at any hour wants; the example's are a facility team's.
Port `local.alertmanager_port` (not Alertmanager's 9093, which the local KRaft controller
holds); no HA gossip.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from pathlib import Path

import yaml

from ..config import Config
from . import receiver
from .procs import LOOPBACK, Service, StackError, http_ok, require_free, wait_until

NAME = "alertmanager"
RECEIVER = "receiver"
RECEIVERS = ("facilities", "facilities-critical", "data-quality", "platform")


def url(cfg: Config) -> str:
    return f"http://{LOOPBACK}:{cfg.local.alertmanager_port}"


def receiver_url(cfg: Config) -> str:
    return f"http://{LOOPBACK}:{cfg.local.receiver_port}"


def home(run_dir: Path) -> Path:
    return Path(run_dir) / "alertmanager"


def notifications_file(run_dir: Path) -> Path:
    return home(run_dir) / "notifications.jsonl"


def binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not found:
        raise StackError("Alertmanager is not installed: `sudo apt-get install "
                         "prometheus-alertmanager` (or `make prometheus`), or set "
                         "local.alertmanager: false")
    return found


def config(cfg: Config) -> dict:
    """The local Alertmanager's configuration."""
    hook = receiver_url(cfg)
    return {
        "route": {
            "receiver": "facilities", "group_by": ["site", "building"],
            "group_wait": "1s", "group_interval": "5s", "repeat_interval": "4h",
            "routes": [
                {"matchers": ['alertname=~"Wattstream.+"', 'category=""'], "receiver": "platform",
                 "group_by": ["alertname", "namespace"]},
                {"matchers": ['category="data_quality"'], "receiver": "data-quality",
                 "group_by": ["site"]},
                {"matchers": ['severity="critical"'], "receiver": "facilities-critical",
                 "group_wait": "0s"},
                # Longer than an alert's age when posted: Alertmanager flushes a new group at
                # once when startsAt + group_wait has passed, and its inhibitor learns of a
                # PEAK_DEMAND posted alongside asynchronously, so a HIGH_CONSUMPTION flushed
                # at once could beat its inhibition.
                {"matchers": ['severity="warning"'], "receiver": "facilities",
                 "group_wait": "10s"},
            ]},
        "inhibit_rules": [
            {"source_matchers": ['alertname="PEAK_DEMAND"'],
             "target_matchers": ['alertname="HIGH_CONSUMPTION"'], "equal": ["building"]},
            {"source_matchers": ['alertname="WattstreamJobDown"'],
             "target_matchers": ['category=~"consumption|demand|baseline"']}],
        "receivers": [{"name": n, "webhook_configs": [
            {"url": f"{hook}/{n}", "send_resolved": False}]} for n in RECEIVERS],
    }


def healthy(cfg: Config) -> bool:
    return http_ok(f"{url(cfg)}/-/ready")


def receiver_healthy(cfg: Config) -> bool:
    return http_ok(receiver_url(cfg))


def alerts(cfg: Config) -> list[dict]:
    """The alerts Alertmanager holds (`GET /api/v2/alerts`)."""
    with urllib.request.urlopen(f"{url(cfg)}/api/v2/alerts", timeout=10) as resp:
        return json.load(resp)


def services(run_dir: Path) -> tuple[Service, Service]:
    return Service(NAME, run_dir), Service(RECEIVER, run_dir)


def start(cfg: Config, run_dir: Path, conf: dict | None = None) -> None:
    """Start the receiver and Alertmanager (with `conf`, else `config(cfg)`) unless running."""
    am, rcv = services(run_dir)
    timeout = cfg.local.start_timeout_seconds
    if not rcv.running():
        rcv.stop()
        require_free({"receiver": cfg.local.receiver_port})
        rcv.start([sys.executable, "-m", "wattstream.local.receiver",
                   "--port", str(cfg.local.receiver_port),
                   "--out", str(notifications_file(run_dir))])
    wait_until(lambda: receiver_healthy(cfg), timeout, "notification receiver",
               alive=rcv.running)
    if am.running():
        wait_until(lambda: healthy(cfg), timeout, "alertmanager")
        return
    am.stop()
    exe = binary()
    require_free({"alertmanager": cfg.local.alertmanager_port})
    h = home(run_dir)
    (h / "data").mkdir(parents=True, exist_ok=True)
    path = h / "alertmanager.yml"
    path.write_text(yaml.safe_dump(conf or config(cfg), sort_keys=False))
    am.start([exe, f"--config.file={path}", f"--storage.path={h / 'data'}",
              f"--web.listen-address={LOOPBACK}:{cfg.local.alertmanager_port}",
              "--cluster.listen-address=", "--log.level=warn"])
    try:
        wait_until(lambda: healthy(cfg), timeout, "alertmanager", alive=am.running)
    except StackError as exc:
        tail = am.log_tail()
        am.stop()
        raise StackError(f"{exc}; end of {am.log_file}:\n{tail}") from None


def received(run_dir: Path) -> list[dict]:
    """The notifications the local receiver got (`receiver.read`)."""
    return receiver.read(notifications_file(run_dir))
