"""Injected anomalies: labels describe exactly the readings that differ from a clean run."""

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wattstream.errors import WattstreamError
from wattstream.generator.anomalies import KINDS, parse_kinds
from wattstream.generator.fleet import building_ids
from wattstream.generator.simulate import Simulator
from wattstream.schema import parse_timestamp

START = datetime(2026, 6, 5, tzinfo=UTC)  # a Friday: the run crosses a weekend
DT = 300.0
STEPS = 4 * 288


def run(kinds, rate, sink=None):
    ids = building_ids("r0", 30)
    sim = Simulator(ids, 3, "r0", kinds, rate, sink)
    out = {}
    for k in range(STEPS):
        ts = START + timedelta(seconds=k * DT)
        b = sim.step(k, ts, DT)
        for i, e in zip(b.index.tolist(), b.energy_kwh.tolist(), strict=True):
            out[(ids[i], ts)] = e
    sim.finish()
    return sim, out


@pytest.fixture(scope="module")
def runs():
    sink = io.StringIO()
    noisy, with_anomalies = run(KINDS, 2.0, sink)
    _, clean = run((), 0.0)
    labels = [json.loads(line) for line in sink.getvalue().splitlines()]
    return noisy, with_anomalies, clean, labels


def test_every_kind_is_injected_and_labelled(runs):
    sim, _, _, labels = runs
    assert {lab["kind"] for lab in labels} == set(KINDS)
    assert len(labels) == sum(sim.injector.started.values())
    for lab in labels:
        assert set(lab) == {"building", "start", "end", "kind"}
        assert parse_timestamp(lab["start"]) < parse_timestamp(lab["end"])


def test_readings_outside_labels_equal_the_clean_run(runs):
    _, noisy, clean, labels = runs
    inside = set()
    for lab in labels:
        t = parse_timestamp(lab["start"])
        end = parse_timestamp(lab["end"])
        while t < end:
            inside.add((lab["building"], t))
            t += timedelta(seconds=DT)
    outside = [key for key in clean if key not in inside]
    assert len(outside) > 0.5 * len(clean)
    assert all(noisy[key] == clean[key] for key in outside)
    assert all(key in noisy for key in outside)


def test_readings_inside_labels_show_their_kind(runs):
    _, noisy, clean, labels = runs
    night_hours = set()
    for lab in labels:
        t, end = parse_timestamp(lab["start"]), parse_timestamp(lab["end"])
        keys = []
        while t < end:
            keys.append((lab["building"], t))
            t += timedelta(seconds=DT)
        assert keys
        kind = lab["kind"]
        if kind == "sensor_dropout":
            assert not any(k in noisy for k in keys)
        elif kind == "stuck_meter":
            assert len({noisy[k] for k in keys}) == 1
        elif kind == "equipment_spike":
            ratios = np.array([noisy[k] / clean[k] for k in keys])
            assert (ratios > 1.9).all() and (ratios < 3.6).all()
        elif kind == "hvac_overnight":
            assert all(noisy[k] > clean[k] for k in keys)
            night_hours |= {k[1].hour for k in keys}
    assert night_hours & {0, 1, 2, 3, 4}  # left-on HVAC runs through nights


def test_parse_kinds():
    assert parse_kinds("all") == KINDS
    assert parse_kinds("none") == ()
    assert parse_kinds("stuck_meter, sensor_dropout") == ("stuck_meter", "sensor_dropout")
    with pytest.raises(WattstreamError, match="unknown anomaly kind 'meteor'"):
        parse_kinds("stuck_meter,meteor")
