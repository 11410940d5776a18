"""Command-line options resolve against the config and fail with clear messages."""

import pytest

from wattstream.cli import build_parser
from wattstream.config import Config
from wattstream.errors import WattstreamError
from wattstream.generator.anomalies import KINDS
from wattstream.generator.commands import options, parse_duration


def opts(*argv, cfg=None):
    args = build_parser().parse_args(["generate", *argv])
    return options(args, cfg or Config())


def test_parse_duration():
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration("1.5d") == 1.5 * 86400
    assert parse_duration("1w") == 7 * 86400
    for bad in ("", "0", "-3h", "2 hours", "h"):
        with pytest.raises(WattstreamError, match="--duration"):
            parse_duration(bad)


def test_defaults_come_from_the_config(monkeypatch):
    monkeypatch.delenv("POD_NAME", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cfg = Config().replace(generator={"buildings": 7, "interval_seconds": 2.5, "seed": 3,
                                      "replica_id": "gen-x", "anomaly_kinds": "stuck_meter",
                                      "labels_path": "/tmp/l.jsonl"})
    o = opts(cfg=cfg)
    assert (o.mode, o.buildings, o.interval_s, o.seed, o.replica) == \
        ("realtime", 7, 2.5, 3, "gen-x")
    assert o.kinds == ("stuck_meter",) and o.labels == "/tmp/l.jsonl"
    assert opts("--anomalies", "all").kinds == KINDS


def test_pod_name_is_the_replica_identity(monkeypatch):
    monkeypatch.setenv("POD_NAME", "wattstream-generator-2")
    assert opts().replica == "wattstream-generator-2"
    assert opts("--replica-id", "mine").replica == "mine"


def test_realtime_rate_sets_the_interval():
    assert opts("--buildings", "20", "--rate", "10").interval_s == 2.0
    assert opts("backfill", "--rate", "10", "--count", "5").interval_s == 5.0
    with pytest.raises(WattstreamError, match="--interval or --rate"):
        opts("--rate", "10", "--interval", "1")


@pytest.mark.parametrize("argv, message", [
    (["--rate", "0"], "--rate must be > 0"),
    (["--count", "0"], "--count must be >= 1"),
    (["--speedup", "-1"], "--speedup must be >= 0"),
    (["--interval", "0"], "--interval must be > 0"),
    (["--anomaly-rate", "-1"], "--anomaly-rate must be >= 0"),
    (["--start", "yesterday"], "--start"),
    (["--start", "2026-01-01T00:00:00"], "no zone"),
])
def test_bad_values(argv, message):
    with pytest.raises(WattstreamError, match=message):
        opts(*argv)
