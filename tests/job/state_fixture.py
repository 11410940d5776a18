"""Engine states saved by a release, committed under fixtures/ so that every later release is
tested against them (test_saved_state.py): seeded readings of three buildings over four hours,
late and out of order, with weather, cut in two; the state after the first part is the fixture.

    python tests/job/state_fixture.py   # writes fixtures/engine-state-v<VERSION>.arrow

Run it when `saved_state.VERSION` goes up, and keep the older files: each one stands for a
release whose checkpoints an upgrade must read. The readings are built here and nowhere else,
so the fixture and its test see the same ones.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # jobkit, when run as a script

from jobkit import engine_step, flat_models  # noqa: E402

from wattstream.config import Config  # noqa: E402
from wattstream.job import engine, saved_state  # noqa: E402
from wattstream.schema import Weather  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
T0 = pd.Timestamp("2026-03-02 06:00")  # a Monday
BATCHES, CUT = 48, 30  # 5-minute batches; the fixture holds the state after batch CUT - 1
NOW = pd.Timestamp("2026-03-02 12:00")
CFG = Config().replace(
    windows={"length_seconds": 300, "watermark_seconds": 120},
    alerts={"high_consumption_kwh": 9.0, "peak_demand_kwh": 11.0, "abnormal_consecutive": 1,
            "peak_min_history_hours": 1.0, "peak_lead_minutes": 1.0, "gap_seconds": 900,
            "buildings": {"b-1": {"high_consumption_kwh": 5.0}}},
    weather={"default_site": "s"})
BUILDINGS = ("b-0", "b-1", "b-2")


def fixture(version: int) -> Path:
    return FIXTURES / f"engine-state-v{version}.arrow"


def models():
    return flat_models({"b-0": 6.0, "b-1": 8.0, "b-2": 3.0})


def batches() -> list[tuple[pd.DataFrame, list[bytes]]]:
    """Per micro-batch, the readings (as `jobkit.engine_step` takes them) and the weather
    observations (JSON) that arrived with it."""
    rng = random.Random(20260302)
    out, offset = [], 0
    for b in range(BATCHES):
        rows = []
        for building in BUILDINGS:
            if building == "b-2" and 12 <= b < 20:
                continue  # a silence long enough for METER_GAP
            for _ in range(rng.randrange(4, 7)):
                # Mostly the batch's 5 minutes, some minutes behind (late), some ahead.
                ts = T0 + pd.Timedelta(seconds=b * 300 + rng.randrange(-420, 330))
                base = {"b-0": 1.2, "b-1": 1.6, "b-2": 0.6}[building] * (
                    2.2 if 26 <= b < 32 and building == "b-1" else 1.0)
                energy = 0.6 if building == "b-0" and 34 <= b < 40 else rng.uniform(
                    0.5, 1.5) * base  # b-0 stuck at one value for a while
                rows.append({"building_id": building, "timestamp": ts, "energy_kwh": energy,
                             "temperature": rng.uniform(2, 12),
                             "humidity": None if rng.random() < 0.2 else rng.uniform(30, 90),
                             "occupancy": float(rng.randrange(0, 60)),
                             "partition": rng.randrange(2), "offset": offset})
                offset += 1
        df = pd.DataFrame(rows)
        df["humidity"] = df["humidity"].astype("float64")
        df["ws"] = (df["timestamp"] - pd.Timestamp(0)) // pd.Timedelta(seconds=300) * 300
        at = (T0 + pd.Timedelta(minutes=5 * b)).to_pydatetime().replace(tzinfo=UTC)
        obs = [Weather("s", at, rng.uniform(0, 10), 70.0).to_json()]
        out.append((df, obs))
    return out


def run(e: engine.Engine, part) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alerts and closed windows of `part` (a slice of `batches()`) on engine `e`."""
    alerts, closed = [], []
    for readings, obs in part:
        e.weather.add([(o, 0, i) for i, o in enumerate(obs)])
        step, _ = engine_step(e, readings, NOW)
        e.weather.prune(e.watermark_us())
        alerts.append(step.alerts)
        closed.append(step.closed)
    return (pd.concat([a for a in alerts if len(a)], ignore_index=True),
            pd.concat([c for c in closed if len(c)], ignore_index=True))


def main() -> None:
    e = engine.Engine(CFG, models())
    run(e, batches()[:CUT])
    FIXTURES.mkdir(exist_ok=True)
    path = fixture(saved_state.VERSION)
    path.write_bytes(e.encode())
    print(f"{path}: {len(e.windows)} open windows, {len(e.buildings)} buildings, "
          f"{len(e.peaks)} peak states, {len(e.weather.obs)} weather observations")


if __name__ == "__main__":
    main()
