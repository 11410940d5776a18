"""The listener's arithmetic (lag, late rows, Kafka data loss) and the per-building cap,
without Spark."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from wattstream.config import Config
from wattstream.job.metrics import JobMetrics, ProgressListener
from wattstream.job.offsets import data_losses, kafka_offsets


def _progress(end: dict, latest: dict) -> dict:
    return {"batchDuration": 1500, "numInputRows": 10, "inputRowsPerSecond": 12.5,
            "processedRowsPerSecond": 20.0,
            "sources": [{"endOffset": end, "latestOffset": latest}]}


def test_lag_is_summed_over_partitions_and_batches_timed_per_query():
    m = JobMetrics(Config())
    listener = ProgressListener(m)
    end = {"t": {"0": 100, "1": 40}}
    latest = {"t": {"0": 130, "1": 45}}
    listener.on_progress("engine", _progress(end, latest))
    listener.on_progress("other", _progress(end, latest))
    assert m.lag.labels("engine")._value.get() == 35
    listener.on_progress("engine", _progress('{"t": {"0": 130, "1": 45}}', latest))
    assert m.lag.labels("engine")._value.get() == 0  # offsets given as JSON text
    assert m.lag.labels("other")._value.get() == 35
    assert m.input_rate.labels("engine")._value.get() == 12.5
    assert m.last_progress.labels("engine")._value.get() > 0
    samples = {s.name: s.value for metric in m.batch.collect() for s in metric.samples
               if s.labels.get("query") == "engine"}
    assert samples["wattstream_batch_duration_seconds_count"] == 2
    assert samples["wattstream_batch_duration_seconds_sum"] == 3.0
    assert m.late._value.get() == 0  # the engine counts late readings, not the listener


def test_per_building_series_are_capped_and_show_the_newest_window():
    m = JobMetrics(Config().replace(metrics={"max_buildings": 2}))
    t1, t2 = datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 5, 9, 5)
    row = {"energy_kwh": 10.0, "avg_kwh": 1.0, "peak_kwh": 2.0, "avg_temperature": 20.0,
           "avg_humidity": None, "avg_occupancy": 3.0}
    for b in ("a", "b", "c"):
        m.set_window({**row, "building_id": b, "window_start": t2})
    m.set_window({**row, "building_id": "a", "window_start": t1, "energy_kwh": 99.0})
    assert m.window["energy_kwh"].labels("a")._value.get() == 10.0  # older window ignored
    names = {s.labels["building"] for metric in m.window["energy_kwh"].collect()
             for s in metric.samples}
    assert names == {"a", "b"}
    assert m.over_cap._value.get() == 1
    m.count_alert("c", "HIGH_CONSUMPTION")
    assert m.alerts.labels("_other", "HIGH_CONSUMPTION")._value.get() == 1


# --- Kafka data loss -------------------------------------------------------------------------

def _tp(**offsets) -> dict:
    """{("t", partition): offset} from p0=..., p1=..."""
    return {("t", k[1:]): v for k, v in offsets.items()}


def _losses(previous, start, end, rows=None):
    return [(x.topic, x.kind, x.records) for x in data_losses(previous, start, end, rows)]


def test_consecutive_batches_that_read_every_offset_lose_nothing():
    assert _losses({}, {}, _tp(p0=10, p1=5), rows=15) == []  # a new query's first batch
    assert _losses(_tp(p0=10, p1=5), _tp(p0=10, p1=5), _tp(p0=30, p1=5), rows=20) == []
    assert _losses(_tp(p0=30), _tp(p0=30), _tp(p0=30), rows=0) == []  # an empty batch


def test_offsets_that_go_backwards_are_a_reset_per_partition():
    # The log was wiped or the topic recreated under a running query: end below start.
    losses = data_losses(_tp(p0=40, p1=7), _tp(p0=40, p1=7), _tp(p0=0, p1=3), rows=0)
    assert [(x.kind, x.records, x.where) for x in losses] == [
        ("reset", 1, "partition 0: offset 40 → 0"), ("reset", 1, "partition 1: offset 7 → 3")]
    # ... or found between two batches: this one starts below where the last one ended.
    assert _losses(_tp(p0=40), _tp(p0=12), _tp(p0=20), rows=8) == [("t", "reset", 1)]
    # A partition that vanished (topic deleted, or recreated with fewer partitions).
    losses = data_losses(_tp(p0=4, p1=9), _tp(p0=4, p1=9), _tp(p0=4), rows=0)
    assert [(x.kind, x.where) for x in losses] == [("reset", "partition 1: gone after offset 9")]


def test_skipped_offsets_are_a_gap_of_that_many_records():
    # A batch starting beyond the last one's end.
    losses = data_losses(_tp(p0=100, p1=50), _tp(p0=130, p1=50), _tp(p0=140, p1=60), rows=20)
    assert [(x.topic, x.kind, x.records, x.where) for x in losses] == [
        ("t", "gap", 30, "partition 0: offset 100 → 130")]
    # Retention deleted records before the batch read them: Spark skipped to the earliest.
    losses = data_losses(_tp(p0=100, p1=50), _tp(p0=100, p1=50), _tp(p0=200, p1=60), rows=70)
    assert [(x.kind, x.records, x.where) for x in losses] == [
        ("gap", 40, "partitions 0 (100 → 200), 1 (50 → 60): 70 of 110 records read")]


def test_rows_of_partitions_new_in_a_batch_never_count_as_lost():
    # Partition 1 appeared (read from its earliest offset): more rows than the known spans.
    assert _losses(_tp(p0=10), _tp(p0=10), _tp(p0=20, p1=5), rows=15) == []
    assert _losses(_tp(p0=10), _tp(p0=10), _tp(p0=20), rows=None) == []  # rows unknown


def test_kafka_offsets_parse_progress_json_and_ignore_other_sources():
    want = {("t", "0"): 12, ("t", "1"): 3}
    assert kafka_offsets('{"t": {"0": 12, "1": 3}}') == want
    assert kafka_offsets({"t": {"0": 12, "1": 3}}) == want
    for other in (None, "", "7", 7, '{"logOffset": 3}', "not json"):
        assert kafka_offsets(other) == {}, other


def _kafka_progress(start, end, rows: int) -> dict:
    return {"batchDuration": 10, "numInputRows": rows, "sources": [
        {"description": "KafkaV2[Subscribe[readings]]", "startOffset": start,
         "endOffset": end, "numInputRows": rows}]}


def test_the_listener_counts_data_loss_per_query_and_logs_where(caplog):
    m = JobMetrics(Config().replace(kafka={"readings_topic": "readings"}))
    listener = ProgressListener(m)

    def count(query, kind):
        return m.data_loss.labels(query, "readings", kind)._value.get()

    # Series exist from the start, so the first loss is an increase for Prometheus.
    names = {(s.labels["query"], s.labels["kind"]) for f in m.data_loss.collect()
             for s in f.samples if s.name == "wattstream_kafka_data_loss_total"}
    assert names == {("engine", k) for k in ("gap", "reset")}

    listener.on_progress("alerts", _kafka_progress(None, '{"readings": {"0": 40, "1": 8}}', 48))
    listener.on_progress("alerts", _kafka_progress('{"readings": {"0": 40, "1": 8}}',
                                                   '{"readings": {"0": 0, "1": 0}}', 0))
    assert count("alerts", "reset") == 2 and count("alerts", "gap") == 0
    assert "topic readings, partition 0: offset 40 → 0" in caplog.text
    assert "wiped or the topic recreated" in caplog.text
    assert all(r.levelname == "WARNING" for r in caplog.records)
    # Back to normal: nothing more; then a batch that read 5 of 12 offsets.
    listener.on_progress("alerts", _kafka_progress('{"readings": {"0": 0, "1": 0}}',
                                                   '{"readings": {"0": 6, "1": 0}}', 6))
    listener.on_progress("alerts", _kafka_progress('{"readings": {"0": 6, "1": 0}}',
                                                   '{"readings": {"0": 18, "1": 0}}', 5))
    assert count("alerts", "reset") == 2 and count("alerts", "gap") == 7
    assert count("other", "reset") == count("other", "gap") == 0


def test_an_idle_query_counts_as_alive_under_its_name():
    """Spark's idle event has an id and no name: the name comes from the start event, and the
    last-progress gauge moves so a quiet topic does not look like a stalled job."""
    m = JobMetrics(Config())
    listener = ProgressListener(m)
    listener.onQueryStarted(SimpleNamespace(id="42", name="alerts"))
    listener.onQueryIdle(SimpleNamespace(id="42"))
    assert m.last_progress.labels("alerts")._value.get() > 0


def test_closed_windows_add_to_the_cost_and_emission_totals_of_buildings_with_series():
    import pandas as pd

    m = JobMetrics(Config().replace(metrics={"max_buildings": 1}))
    closed = pd.DataFrame({"building_id": ["a", "a", "b"], "energy_kwh": [2.0, 3.0, 4.0],
                           "energy_cost": [0.2, 0.3, 0.4], "co2_kg": [0.8, 1.2, 1.6]})
    m.set_closed(closed)
    m.set_closed(closed.iloc[:1])
    assert m.cost_totals["energy_cost"].labels("a")._value.get() == 0.2 + 0.3 + 0.2
    assert m.cost_totals["co2_kg"].labels("a")._value.get() == 0.8 + 1.2 + 0.8
    assert m.closed["energy_cost"].labels("a")._value.get() == 0.2
    names = {s.labels.get("building") for metric in m.cost_totals["co2_kg"].collect()
             for s in metric.samples}
    assert names == {"a"}  # b is over the cap


def test_closed_windows_count_their_readings_with_disagreeing_local_fields():
    import pandas as pd

    m = JobMetrics(Config().replace(metrics={"max_buildings": 1}))
    m.set_closed(pd.DataFrame({"building_id": ["a", "a", "b"], "energy_kwh": [1.0] * 3,
                               "local_time_mismatches": [0, 3, 2]}))
    assert m.local_time.labels("a")._value.get() == 3
    assert m.local_time_fleet._value.get() == 5  # b too, though it has no series
