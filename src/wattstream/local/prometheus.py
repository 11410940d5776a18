"""Prometheus (Debian package) on loopback, scraping the project's /metrics endpoints.

Targets come from file service discovery: `register_target` drops a JSON file into
`<run_dir>/prometheus/targets/`, so generator replicas and tests can add themselves at run time.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from ..config import Config
from .procs import LOOPBACK, Service, StackError, http_ok, require_free, wait_until

NAME = "prometheus"


def url(cfg: Config) -> str:
    return f"http://{LOOPBACK}:{cfg.local.prometheus_port}"


def binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise StackError("prometheus is not installed: `sudo apt-get install prometheus` "
                         "(or `make prometheus`), or set local.prometheus: false")
    return found


def targets_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "prometheus" / "targets"


def register_target(run_dir: Path, name: str, address: str, labels: dict[str, str] | None = None
                    ) -> Path:
    """Ask Prometheus to scrape `address` (host:port) as job `name`; picked up within seconds."""
    d = targets_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}-{address.replace(':', '_')}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [address], "labels": {"job": name, **(labels or {})}}]))
    tmp.rename(path)  # atomic: Prometheus never reads half a file
    return path


def _config(cfg: Config, run_dir: Path, rule_files: list[Path]) -> dict:
    m = cfg.metrics
    # `component` as the chart's PodMonitors set it, so the chart's rules work here too.
    static = [{"targets": [f"{LOOPBACK}:{m.job_port}"], "labels": {"component": "job"}}]
    if m.generator_port:
        static.append({"targets": [f"{LOOPBACK}:{m.generator_port}"],
                       "labels": {"component": "generator"}})
    out = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": "wattstream", "static_configs": static},
            {"job_name": "wattstream-sd", "file_sd_configs": [
                {"files": [str(targets_dir(run_dir) / "*.json")], "refresh_interval": "1s"}]},
        ],
    }
    if cfg.local.alertmanager:
        # The platform alerts of the rules (job down, stalled, lagging) reach people too.
        out["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [f"{LOOPBACK}:{cfg.local.alertmanager_port}"]}]}]}
    return out


def ready(cfg: Config) -> bool:
    with urllib.request.urlopen(f"{url(cfg)}/-/ready", timeout=3) as resp:
        return resp.status == 200


def healthy(cfg: Config) -> bool:
    return http_ok(f"{url(cfg)}/-/ready")


def query(cfg: Config, promql: str) -> list[dict]:
    """Instant query through the HTTP API; returns the result vector."""
    q = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url(cfg)}/api/v1/query?{q}", timeout=10) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise StackError(f"prometheus query {promql!r} failed: {body}")
    return body["data"]["result"]


def load_rules(cfg: Config, run_dir: Path, rule_files: list[Path]) -> None:
    """Point the running Prometheus at `rule_files` (config rewrite + /-/reload)."""
    conf = Path(run_dir) / "prometheus" / "prometheus.yml"
    conf.write_text(yaml.safe_dump(_config(cfg, run_dir, rule_files), sort_keys=False))
    req = urllib.request.Request(f"{url(cfg)}/-/reload", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        if resp.status != 200:
            raise StackError(f"prometheus reload failed: HTTP {resp.status}")


def rules(cfg: Config) -> list[dict]:
    """Loaded rule groups with each rule's health, from the HTTP API."""
    with urllib.request.urlopen(f"{url(cfg)}/api/v1/rules", timeout=10) as resp:
        return json.load(resp)["data"]["groups"]


def service(run_dir: Path) -> Service:
    return Service(NAME, run_dir)


def start(cfg: Config, run_dir: Path, rule_files: list[Path] | None = None) -> Service:
    svc = service(run_dir)
    if svc.running():
        wait_until(lambda: ready(cfg), cfg.local.start_timeout_seconds, "prometheus")
        return svc
    svc.stop()
    exe = binary()
    require_free({"prometheus": cfg.local.prometheus_port})
    home = Path(run_dir) / "prometheus"
    targets_dir(run_dir).mkdir(parents=True, exist_ok=True)
    conf = home / "prometheus.yml"
    conf.write_text(yaml.safe_dump(_config(cfg, run_dir, rule_files or []), sort_keys=False))
    svc.start([
        exe, f"--config.file={conf}", f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address={LOOPBACK}:{cfg.local.prometheus_port}",
        "--web.enable-lifecycle", "--log.level=warn",
    ])
    try:
        wait_until(lambda: ready(cfg), cfg.local.start_timeout_seconds, "prometheus",
                   alive=svc.running)
    except StackError as exc:
        tail = svc.log_tail()
        svc.stop()
        raise StackError(f"{exc}; end of {svc.log_file}:\n{tail}") from None
    return svc
