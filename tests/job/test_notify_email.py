"""The e-mail route of the shipped routing (`charts/wattstream/examples/alertmanager.yaml`): a
real Alertmanager with that file (its SMTP server pointed at a local one, the chat and paging
receivers left out, no quiet hours so the test passes at any hour) sends the job's alerts as
e-mails to the facility and metering teams."""

from __future__ import annotations

import copy
import email
import email.policy
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from wattstream.config import Config
from wattstream.job import notify
from wattstream.local import alertmanager
from wattstream.local.procs import free_ports
from wattstream.waiting import wait_until

aiosmtpd = pytest.importorskip("aiosmtpd.controller")
pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "charts" / "wattstream" / "examples" / \
    "alertmanager.yaml"


class Inbox:
    """aiosmtpd's handler: every message it accepts, parsed."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]


def routing(smtp_port: int) -> dict:
    conf = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    conf["global"].update(smtp_smarthost=f"127.0.0.1:{smtp_port}", smtp_require_tls=False)
    conf["route"]["group_wait"] = "0s"
    for r in conf["route"]["routes"]:
        r.pop("mute_time_intervals", None)
        if "group_wait" in r:
            r["group_wait"] = "0s"
    conf.pop("time_intervals", None)
    for rcv in conf["receivers"]:
        for kind in ("slack_configs", "pagerduty_configs", "msteams_configs"):
            rcv.pop(kind, None)
    return conf


@pytest.fixture
def mail(tmp_path):
    am_port, rcv_port, smtp_port = free_ports(3)
    inbox = Inbox()
    smtp = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    cfg = Config().replace(local={"run_dir": str(tmp_path / "run"),
                                  "alertmanager_port": am_port, "receiver_port": rcv_port})
    try:
        alertmanager.start(cfg, tmp_path / "run", conf=routing(smtp_port))
        yield cfg, inbox
    finally:
        for svc in alertmanager.services(tmp_path / "run"):
            svc.stop()
        smtp.stop()


def _alert(building: str, kind: str, value: float, threshold: float) -> dict:
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    return {"alert_id": f"{building}-{kind}", "building_id": building, "type": kind,
            "value": value, "threshold": threshold, "event_time": iso(now - timedelta(seconds=5)),
            "window_start": iso(start), "window_end": iso(start + timedelta(minutes=5)),
            "raised_at": iso(now)}


def test_warnings_and_data_quality_alerts_arrive_as_emails_to_their_teams(mail):
    cfg, inbox = mail
    sent = [_alert("mail-B1", "HIGH_CONSUMPTION", 163.4, 150.0),
            _alert("mail-B2", "STUCK_METER", 95.0, 60.0)]
    now = datetime.now(UTC)
    notify.post(alertmanager.url(cfg), [notify.payload(a, cfg, now) for a in sent], 10.0)
    wait_until(lambda: inbox.to("facilities@example.com") and inbox.to("metering@example.com"),
               60, "both e-mails")
    (facilities,) = inbox.to("facilities@example.com")
    assert "HIGH_CONSUMPTION" in facilities["Subject"] and "mail-B1" in facilities["Subject"]
    body = facilities.get_body(("html", "plain")).get_content()
    assert "mail-B1 used 163.4 kWh in the window" in body
    assert facilities["From"] == "wattstream@example.com"
    (metering,) = inbox.to("metering@example.com")
    assert "STUCK_METER" in metering["Subject"] and "HIGH_CONSUMPTION" not in metering["Subject"]
