"""The embedded stack as a whole: bring up, tear down and report Kafka, HDFS, Prometheus and
Alertmanager (with its webhook receiver)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from . import alertmanager, hdfs, kafka, prometheus
from .procs import Service


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    endpoint: str

    @property
    def state(self) -> str:
        if not self.running:
            return "stopped"
        return "healthy" if self.healthy else "unhealthy"


def run_dir(cfg: Config) -> Path:
    return Path(cfg.local.run_dir).resolve()


def _services(cfg: Config) -> list[tuple[Service, str, Callable[[Config], bool]]]:
    rd = run_dir(cfg)
    nn, dn = hdfs.services(rd)
    am, rcv = alertmanager.services(rd)
    return [
        (kafka.service(rd), kafka.bootstrap(cfg), kafka.healthy),
        (nn, hdfs.uri(cfg), hdfs.healthy),
        (dn, f"127.0.0.1:{cfg.local.datanode_port}", hdfs.healthy),
        (rcv, alertmanager.receiver_url(cfg), alertmanager.receiver_healthy),
        (am, alertmanager.url(cfg), alertmanager.healthy),
        (prometheus.service(rd), prometheus.url(cfg), prometheus.healthy),
    ]


def up(cfg: Config, *, with_hdfs: bool | None = None, with_prometheus: bool | None = None,
       with_alertmanager: bool | None = None, rule_files: list[Path] | None = None
       ) -> list[str]:
    """Start what is configured and not yet running; returns the names of services started.
    Safe to call twice: running services are only checked for health."""
    rd = run_dir(cfg)
    before = {s.name for s, _, _ in _services(cfg) if s.running()}
    kafka.start(cfg, rd)
    if cfg.local.hdfs if with_hdfs is None else with_hdfs:
        hdfs.start(cfg, rd)
    if cfg.local.alertmanager if with_alertmanager is None else with_alertmanager:
        alertmanager.start(cfg, rd)
    if cfg.local.prometheus if with_prometheus is None else with_prometheus:
        prometheus.start(cfg, rd, rule_files)
    return [s.name for s, _, _ in _services(cfg) if s.running() and s.name not in before]


def down(cfg: Config, only: set[str] | None = None) -> list[str]:
    """Stop the services `up` started (tracked by pid files), last started first."""
    stopped = []
    for svc, _, _ in reversed(_services(cfg)):
        if only is not None and svc.name not in only:
            continue
        if svc.stop():
            stopped.append(svc.name)
    return stopped


def alive(cfg: Config) -> set[str]:
    """Names of the services whose process is running (as `down(only=...)` takes them)."""
    return {s.name for s, _, _ in _services(cfg) if s.running()}


def running(cfg: Config) -> list[tuple[str, bool]]:
    """(service, process alive) for the services that are configured or running; cheap (pid
    files only), for a display that refreshes every second."""
    rd = run_dir(cfg)
    nn, dn = hdfs.services(rd)
    k, p = kafka.service(rd), prometheus.service(rd)
    am, rcv = alertmanager.services(rd)
    out = [("kafka", k.running())]
    if cfg.local.hdfs or nn.running() or dn.running():
        out.append(("hdfs", nn.running() and dn.running()))
    if cfg.local.alertmanager or am.running():
        out.append(("alertmanager", am.running() and rcv.running()))
    if cfg.local.prometheus or p.running():
        out.append(("prometheus", p.running()))
    return out


def view_links(cfg: Config, logs: str | None = None) -> list[tuple[str, str]]:
    """The live view's links (`view.live.links`) to this stack's services that are up."""
    from ..view.live import links

    prom = prometheus.url(cfg) if dict(running(cfg)).get("prometheus", False) else None
    am = (alertmanager.url(cfg) if cfg.local.alertmanager and not cfg.notify.alertmanager_urls
          else None)
    return links(cfg, prom, am, logs)


def status(cfg: Config) -> list[ServiceStatus]:
    out = []
    for svc, endpoint, check in _services(cfg):
        running = svc.running()
        out.append(ServiceStatus(svc.name, svc.pid if running else None, running,
                                 running and check(cfg), endpoint))
    return out
