"""What `wattstream baseline` prints per building (`fit.buildings`, `building_table`)."""

from __future__ import annotations

import pandas as pd
import pytest
from modelkit import flat_table

from wattstream.baseline import fit, models
from wattstream.errors import WattstreamError


def _table() -> pd.DataFrame:
    t = pd.concat([flat_table({"b-1": 5.0}), flat_table({"b-2": 7.0}, passes=False),
                   flat_table({"b-3": 1.0}, passes=False)], ignore_index=True)
    short = t["building_id"] == "b-3"
    t.loc[short, ["cv_rmse", "nmbe", "holdout_hours", "train_days"]] = [None, None, 0, 3]
    t.loc[short, "reason"] = "too little history: 3 days before the held-back ones, needs 14"
    return t


def test_every_building_with_its_status_figures_and_why_not():
    got = fit.buildings(_table())
    assert [(r["building_id"], r["status"]) for r in got] == [
        ("b-1", "passes"), ("b-2", "fails_g14"), ("b-3", "too_little_history")]
    assert got[0]["cv_rmse"] == 0.1 and got[0]["train_start"] == "2026-01-01T00:00:00Z"
    assert got[2]["cv_rmse"] is None and got[2]["holdout_hours"] == 0
    assert list(got[0]) == list(fit.BUILDING_FIELDS)

    lines = fit.building_table(got).splitlines()
    assert lines[0].split()[:2] == ["building", "status"] and len(lines) == 4
    assert "10.0%" in lines[1] and "+0.0%" in lines[1] and "2026-01-01 … 2026-02-01" in lines[1]
    assert lines[2].endswith("CV(RMSE) 50.0% > 30%")
    assert "—" in lines[3] and lines[3].endswith("needs 14")
    # Columns line up: each line's status starts where the header's does.
    col = lines[0].index("status")
    assert all(line[col:].split()[0] in models.STATUSES for line in lines[1:])


def test_filtered_by_building_and_an_unknown_one_named():
    assert [r["building_id"] for r in fit.buildings(_table(), ["b-3", "b-1"])] == [
        "b-1", "b-3"]
    with pytest.raises(WattstreamError, match="--building.*b-9"):
        fit.buildings(_table(), ["b-9", "b-1"])
