"""OpenEEmeter's hourly models on the split `bench/baselines.py` hands over: run inside the
bench's own environment (opendsm is never a dependency of wattstream), by `bench/baselines.py
--references`, not by hand.

    <venv>/bin/python bench/reference_models.py IN.csv OUT.csv

IN.csv: building_id, timestamp (ISO 8601 UTC, hourly), observed (kWh; empty: missing),
temperature (°C), part (train or holdout), zone (IANA). Per building, each model is fitted on
its train hours (opendsm's data classes take local time, °F, a tz-aware index) and predicts its
holdout hours. OUT.csv: building_id, timestamp, model, predicted, error (why a building has no
prediction). The models, at opendsm's defaults:

  openeemeter_hourly  opendsm.eemeter.HourlyModel (the current OpenEEmeter hourly model)
  caltrack_hourly     opendsm.eemeter.HourlyCaltrackModel (CalTRACK 2.0 hourly: occupancy
                      from the load, temperature bins, three-month weighted segments)
"""

from __future__ import annotations

import csv
import sys
import warnings

import pandas as pd


def _frame(rows: pd.DataFrame, zone: str) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime(rows["timestamp"], utc=True)).tz_convert(zone)
    return pd.DataFrame({"observed": rows["observed"].to_numpy(dtype="float64"),
                         "temperature": rows["temperature"].to_numpy(dtype="float64") * 9 / 5
                         + 32}, index=idx)


def main() -> int:
    from opendsm import eemeter

    models = {
        "openeemeter_hourly": (eemeter.HourlyBaselineData, eemeter.HourlyReportingData,
                               lambda: eemeter.HourlyModel()),
        "caltrack_hourly": (eemeter.HourlyCaltrackBaselineData,
                            eemeter.HourlyCaltrackReportingData,
                            lambda: eemeter.HourlyCaltrackModel()),
    }
    data = pd.read_csv(sys.argv[1])
    out = open(sys.argv[2], "w", newline="")
    writer = csv.writer(out)
    writer.writerow(["building_id", "timestamp", "model", "predicted", "error"])
    for bid, rows in data.groupby("building_id", sort=False):
        zone = rows["zone"].iloc[0]
        train = _frame(rows[rows["part"] == "train"], zone)
        hold = _frame(rows[rows["part"] == "holdout"], zone)
        for name, (baseline_cls, reporting_cls, make) in models.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    base = baseline_cls(train, is_electricity_data=True)
                    model = make()
                    if name == "openeemeter_hourly":
                        model.fit(base, ignore_disqualification=True)
                        pred = model.predict(reporting_cls(hold, is_electricity_data=True),
                                             ignore_disqualification=True)
                    else:
                        model.fit(base)
                        pred = model.predict(reporting_cls(hold, is_electricity_data=True))
            except Exception as exc:  # noqa: BLE001 - the building is reported, not the run
                writer.writerow([bid, "", name, "", f"{type(exc).__name__}: {exc}"[:300]])
                continue
            p = pred["predicted"].tz_convert("UTC")
            for ts, v in p.items():
                writer.writerow([bid, ts.strftime("%Y-%m-%dT%H:%M:%SZ"), name, v, ""])
        print(f"{bid}: fitted", flush=True)
    out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
