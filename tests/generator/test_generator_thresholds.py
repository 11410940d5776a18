"""Per-building thresholds: small buildings get their own, the output is valid config."""

import numpy as np
import yaml

from wattstream.cli import main
from wattstream.config import Config, from_dict, to_dict
from wattstream.generator.fleet import building_ids
from wattstream.generator.thresholds import PERCENTILE, fleet_thresholds, window_energy


def test_small_buildings_get_thresholds_near_their_own_peaks():
    cfg = Config()
    ids = building_ids("r0", 40)
    table = fleet_thresholds(cfg, ids, 42, "r0")
    energy = window_energy(ids, 42, "r0", 300.0)
    p = np.percentile(energy, PERCENTILE, axis=0)
    small = {b for b, q in zip(ids, p, strict=True) if q < cfg.alerts.high_consumption_kwh}
    assert set(table) == small and 0 < len(small) < len(ids)
    for bid, t in table.items():
        q = p[ids.index(bid)]
        assert q < t["high_consumption_kwh"] <= 1.11 * q
        assert t["peak_demand_kwh"] > t["high_consumption_kwh"]
        # normal operation rarely crosses the building's own high threshold
        assert (energy[:, ids.index(bid)] > t["high_consumption_kwh"]).mean() < 0.01


def test_thresholds_command_prints_loadable_config(capsys):
    assert main(["generate", "thresholds", "--buildings", "10", "--replica-id", "gen-3"]) == 0
    out = capsys.readouterr().out
    data = yaml.safe_load(out)
    cfg = from_dict({**to_dict(Config()), **data})
    assert cfg.alerts.buildings
    assert all(b.startswith("gen-3-b") for b in cfg.alerts.buildings)
    bid = next(iter(cfg.alerts.buildings))
    assert cfg.alerts.thresholds(bid)[0] < Config().alerts.high_consumption_kwh
