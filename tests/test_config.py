"""The typed configuration: defaults, file + environment overrides, errors that name the key."""

import pytest

from wattstream.config import (
    Config,
    ConfigError,
    describe,
    from_dict,
    load_config,
    resolve_uri,
    to_dict,
)


def test_defaults_match_the_product():
    cfg = load_config(env={})
    assert cfg.windows.length_seconds == 300
    assert cfg.alerts.high_consumption_kwh == 150.0
    assert cfg.alerts.peak_demand_kwh == 180.0
    assert cfg.kafka.readings_topic == "energy_data"
    assert cfg.kafka.alerts_topic == "energy_alerts"


def test_file_then_environment_override(tmp_path):
    f = tmp_path / "ws.yaml"
    f.write_text("kafka: {bootstrap_servers: 'a:1', partitions: 3}\n"
                 "windows: {watermark_seconds: 60}\n")
    cfg = load_config(f, env={"WATTSTREAM_KAFKA__PARTITIONS": "12", "WATTSTREAM_OTHER": "x"})
    assert cfg.kafka.bootstrap_servers == "a:1"
    assert cfg.kafka.partitions == 12
    assert cfg.windows.watermark_seconds == 60


def test_config_file_from_environment(tmp_path):
    f = tmp_path / "ws.yaml"
    f.write_text("metrics:\n  job_port: 9999\n")
    assert load_config(env={"WATTSTREAM_CONFIG": str(f)}).metrics.job_port == 9999


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"kafka": {"partitons": 3}}, "kafka.partitons: unknown key"),
        ({"kafka": {"partitions": 0}}, "kafka.partitions: must be >= 1"),
        ({"kafka": {"partitions": "many"}}, "kafka.partitions: must be an integer"),
        ({"kafka": {"partitions": True}}, "kafka.partitions: must be an integer"),
        ({"kafka": {"readings_topic": "bad topic!"}}, "kafka.readings_topic"),
        ({"kafak": {}}, "kafak: unknown section"),
        ({"job": {"starting_offsets": "now"}}, "job.starting_offsets: must be one of"),
        ({"alerts": {"peak_demand_kwh": 100}}, "alerts.peak_demand_kwh: must be >="),
        ({"alerts": {"buildings": {"b1": {"peak_kwh": 3}}}}, "alerts.buildings.b1.peak_kwh"),
        ({"alerts": {"buildings": {"b1": {"high_consumption_kwh": 50, "peak_demand_kwh": 40}}}},
         "alerts.buildings.b1.peak_demand_kwh"),
        ({"schema": {"timezone": "Mars/Olympus"}}, "schema.timezone: unknown zone"),
        ({"local": {"hdfs": "yes"}}, "local.hdfs: must be true or false"),
        ({"windows": []}, "windows: must be a mapping"),
        ({"windows": {"length_seconds": 3600}}, "alerts.gap_seconds: 600 is shorter than a "
                                                 "window"),
        ({"recommend": {"night_hours": "0-25"}}, "recommend.night_hours: '25'"),
        ({"report": {"driver_memory": "lots"}}, "report.driver_memory"),
    ],
)
def test_bad_values_name_the_key(data, key):
    with pytest.raises(ConfigError) as err:
        from_dict(data)
    assert str(err.value).startswith(key)


def test_bad_environment_value_names_the_key():
    with pytest.raises(ConfigError, match=r"^metrics.job_port: must be <= 65535"):
        load_config(env={"WATTSTREAM_METRICS__JOB_PORT": "70000"})
    with pytest.raises(ConfigError, match=r"^metrics.nope: unknown key"):
        load_config(env={"WATTSTREAM_METRICS__NOPE": "1"})


def test_unreadable_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="config file .*missing.yaml"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(scalar, env={})


def test_per_building_thresholds_fall_back_to_the_fleet_defaults():
    cfg = from_dict({"alerts": {"buildings": {"small": {"high_consumption_kwh": 20,
                                                        "peak_demand_kwh": 25},
                                              "half": {"peak_demand_kwh": 200}}}})
    assert cfg.alerts.thresholds("small") == (20.0, 25.0)
    assert cfg.alerts.thresholds("half") == (150.0, 200.0)
    assert cfg.alerts.thresholds("other") == (150.0, 180.0)


def test_round_trip_and_replace():
    cfg = from_dict({"alerts": {"buildings": {"b": {"peak_demand_kwh": 190}}}})
    assert from_dict(to_dict(cfg)) == cfg
    changed = cfg.replace(kafka={"partitions": 2})
    assert changed.kafka.partitions == 2 and cfg.kafka.partitions == 6
    with pytest.raises(ConfigError, match="kafka.partitions"):
        cfg.replace(kafka={"partitions": -1})


def test_resolve_uri(tmp_path):
    assert resolve_uri("hdfs://nn:9000/x") == "hdfs://nn:9000/x"
    assert resolve_uri("data", base=tmp_path) == (tmp_path / "data").as_uri()


def test_reference_documents_every_key():
    rows = describe()
    keys = {r[0] for r in rows}
    assert {"kafka.bootstrap_servers", "storage.uri", "alerts.peak_demand_kwh"} <= keys
    assert all(doc for _, _, _, doc in rows), [r[0] for r in rows if not r[3]]
    assert Config() == from_dict({})


def test_wattstream_config_prints_the_config_then_where_the_local_services_answer(capsys):
    import yaml

    from wattstream import cli
    from wattstream.config import to_dict

    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out) == to_dict(Config())  # the endpoints are comments
    assert "#   alertmanager  http://127.0.0.1:9095" in out
    assert "#   notifies      http://127.0.0.1:9095 under `wattstream local run`" in out
