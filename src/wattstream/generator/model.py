"""The building model: per-building parameters, shared outdoor weather, one vectorised step.

Each building's parameters (type, floor area, loads, schedule) come from an RNG seeded by
(seed, building id), so a building looks the same whatever fleet or replica simulates it. Power at
one instant is

    P = area * (base + occupancy_load * occ + hvac * (ventilation + heat * HDD + cool * CDD))

with `occ` the occupancy fraction from the type's schedule, `hvac` the fraction of HVAC running
(full when occupied, a setback level otherwise), HDD = max(0, 15.5 - T) and CDD = max(0, T - 18)
the instantaneous degree differences, times a slowly varying (AR(1)) and a white noise factor.
`energy_kwh` is P times the interval, so it scales with the interval.

Weather is one site for the fleet: a seasonal and a diurnal cycle plus AR(1) anomalies whose
persistence is set in hours (so it does not depend on the interval). Event time is UTC; each
building keeps its schedule on its own wall clock (its zone in `localtime.Calendar`), so its
load moves with DST as a real building's does, and its readings' `hour` and `day_of_week` are
its local calendar fields. On its holidays and closure days it keeps Sunday's hours. The
weather's diurnal cycle follows UTC (one site).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..localtime import UTC, Calendar, is_day_off, offset_seconds

HEATING_BASE_C = 15.5
COOLING_BASE_C = 18.0


@dataclass(frozen=True)
class BuildingType:
    name: str
    weight: float  # share of the fleet
    area_median_m2: float
    base_w_m2: float  # always-on load (servers, fridges, standby, lighting at night)
    occupied_w_m2: float  # extra load at full occupancy (lighting, plug loads, kitchens)
    ventilation_w_m2: float  # fans while HVAC runs, regardless of weather
    heat_w_m2_k: float  # electric share of heating per degree below 15.5 C
    cool_w_m2_k: float  # chillers per degree above 18 C
    people_m2: float  # people per m2 at full occupancy
    open_hour: float
    close_hour: float
    saturday: float  # occupancy factor on Saturdays / Sundays relative to weekdays
    sunday: float
    night_floor: float  # occupancy fraction that never leaves (hospital wards, security)
    hvac_setback: float  # HVAC fraction outside occupied hours


TYPES: tuple[BuildingType, ...] = (
    BuildingType("office", 0.35, 5000, 12, 28, 8, 1.2, 3.2, 0.05, 8, 18, 0.10, 0.04, 0.02, 0.3),
    BuildingType("retail", 0.20, 2500, 10, 35, 9, 1.0, 3.5, 0.08, 9, 21, 1.00, 0.70, 0.0, 0.3),
    BuildingType("school", 0.20, 4000, 6, 22, 7, 1.5, 2.0, 0.10, 8, 16, 0.03, 0.02, 0.0, 0.2),
    BuildingType("hospital", 0.10, 9000, 30, 18, 10, 1.5, 3.0, 0.03, 7, 20, 0.90, 0.85, 0.55, 1.0),
    BuildingType("warehouse", 0.15, 6000, 4, 10, 3, 0.8, 0.8, 0.01, 6, 22, 0.40, 0.10, 0.0, 0.2),
)
TYPE_NAMES = tuple(t.name for t in TYPES)
AREA_SIGMA = 1.0
AREA_MIN_M2, AREA_MAX_M2 = 300.0, 40_000.0


def _building_rng(seed: int, building_id: str) -> np.random.Generator:
    digest = hashlib.blake2b(building_id.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


class Buildings:
    """Parameters of a set of buildings as arrays (index i = building_ids[i]).

    `fixed` maps indices to a (type name, floor area) that replaces the seeded draw; such a
    building gets its type's nominal densities and hours (no jitter), so its load is known in
    advance. The demo uses it to guarantee large buildings; the model is the same."""

    def __init__(self, building_ids: list[str], seed: int,
                 fixed: Mapping[int, tuple[str, float]] | None = None,
                 calendar: Calendar | None = None):
        self.ids = list(building_ids)
        n = len(self.ids)
        # Each building's (zone, holidays, closures) as an index into `keys`: one offset and
        # one day-off check per key and step.
        keys = [calendar.key(b) for b in self.ids] if calendar is not None else [(UTC, "", "")] * n
        self.keys = list(dict.fromkeys(keys))
        pos = {k: i for i, k in enumerate(self.keys)}
        self.group = np.array([pos[k] for k in keys], dtype=np.int64)
        self.zone_names = list(dict.fromkeys(k[0] for k in self.keys))
        self.zone = np.array([self.zone_names.index(k[0]) for k in self.keys],
                             dtype=np.int64)[self.group] if n else np.zeros(0, np.int64)
        weights = np.array([t.weight for t in TYPES])
        weights = weights / weights.sum()
        kind = np.empty(n, dtype=np.int64)
        area = np.empty(n)
        jitter = np.empty((n, 6))
        fixed = fixed or {}
        for i, bid in enumerate(self.ids):
            if i in fixed:
                type_name, area[i] = fixed[i]
                kind[i] = TYPE_NAMES.index(type_name)
                jitter[i] = 0.0
                continue
            rng = _building_rng(seed, bid)
            kind[i] = rng.choice(len(TYPES), p=weights)
            t = TYPES[kind[i]]
            area[i] = np.clip(t.area_median_m2 * math.exp(AREA_SIGMA * rng.standard_normal()),
                              AREA_MIN_M2, AREA_MAX_M2)
            jitter[i] = rng.uniform(-1, 1, 6)

        def col(attr: str) -> np.ndarray:
            return np.array([getattr(TYPES[k], attr) for k in kind], dtype=float)

        self.kind = kind
        self.type_names = [TYPES[k].name for k in kind]
        self.area = np.round(area, 1)
        scale = self.area / 1000.0  # W/m2 * 1000 m2 = kW
        # +-15 % per building around the type's densities, fixed for the building's life.
        self.base_kw = col("base_w_m2") * scale * (1 + 0.15 * jitter[:, 0])
        self.occupied_kw = col("occupied_w_m2") * scale * (1 + 0.15 * jitter[:, 1])
        self.ventilation_kw = col("ventilation_w_m2") * scale
        self.heat_kw_k = col("heat_w_m2_k") * scale * (1 + 0.2 * jitter[:, 2])
        self.cool_kw_k = col("cool_w_m2_k") * scale * (1 + 0.2 * jitter[:, 3])
        self.people = col("people_m2") * self.area
        self.open_hour = col("open_hour") + 0.5 * jitter[:, 4]
        self.close_hour = col("close_hour") + 0.5 * jitter[:, 5]
        self.saturday = col("saturday")
        self.sunday = col("sunday")
        self.night_floor = col("night_floor")
        self.hvac_setback = col("hvac_setback")
        self.temp_offset = 0.3 * jitter[:, 0]  # local microclimate of the sensor

    def __len__(self) -> int:
        return len(self.ids)

    def local_time(self, epoch_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Each building's local hour of the day (fractional) and day of the week (Monday =
        0) at an instant."""
        offsets = np.array([offset_seconds(z, epoch_s) for z in self.zone_names])
        local_s = epoch_s + offsets[self.zone]
        # 1970-01-01 was a Thursday (Monday = 0).
        return (local_s / 3600.0) % 24, ((local_s // 86400 + 3) % 7).astype(np.int64)

    def day_off(self, epoch_s: float) -> np.ndarray:
        """Whether each building's local date is one of its holidays or closure days."""
        off = np.array([is_day_off(k, epoch_s) for k in self.keys])
        return off[self.group]

    def occupancy_fraction(self, hour, dow) -> np.ndarray:
        """Scheduled occupancy in [0, 1] at each building's local hour and day of the week
        (scalars or per building): a trapezoid between open and close with one-hour ramps,
        scaled down on weekends, never below the type's night floor."""
        rise = np.clip(hour - self.open_hour + 1.0, 0.0, 1.0)
        fall = np.clip(self.close_hour - hour, 0.0, 1.0)
        day = rise * fall
        dow = np.asarray(dow)
        day = np.where(dow == 5, day * self.saturday, np.where(dow == 6, day * self.sunday, day))
        return np.maximum(day, self.night_floor)


class Weather:
    """One site's outdoor temperature (C) and relative humidity (%), stepped in event time."""

    MEAN_C, SEASON_AMP_C, DAY_AMP_C = 11.0, 8.0, 4.5
    TEMP_SD_C, TEMP_TAU_H = 3.0, 36.0
    HUM_MEAN, HUM_DAY_PER_C, HUM_SD, HUM_TAU_H = 72.0, 2.5, 8.0, 12.0

    def __init__(self, seed: int):
        self.rng = np.random.default_rng([seed, 0x57EA7])
        self.temp_anomaly = self.TEMP_SD_C * self.rng.standard_normal()
        self.hum_anomaly = self.HUM_SD * self.rng.standard_normal()

    def step(self, epoch_s: float, dt_s: float) -> tuple[float, float]:
        phi_t = math.exp(-dt_s / (self.TEMP_TAU_H * 3600))
        phi_h = math.exp(-dt_s / (self.HUM_TAU_H * 3600))
        e1, e2 = self.rng.standard_normal(2)
        self.temp_anomaly = (phi_t * self.temp_anomaly
                             + math.sqrt(1 - phi_t**2) * self.TEMP_SD_C * e1)
        self.hum_anomaly = phi_h * self.hum_anomaly + math.sqrt(1 - phi_h**2) * self.HUM_SD * e2
        day_of_year = (epoch_s / 86400.0) % 365.2425
        hour = (epoch_s / 3600.0) % 24
        season = self.SEASON_AMP_C * math.cos(2 * math.pi * (day_of_year - 200) / 365.2425)
        diurnal = self.DAY_AMP_C * math.cos(2 * math.pi * (hour - 15) / 24)
        temp = self.MEAN_C + season + diurnal + self.temp_anomaly
        hum = self.HUM_MEAN - self.HUM_DAY_PER_C * diurnal + self.hum_anomaly
        return temp, min(100.0, max(15.0, hum))


@dataclass
class StepValues:
    """One time step for every building: what the meter would report without anomalies, plus
    the parts anomalies need to change the load."""

    energy_kwh: np.ndarray
    temperature: np.ndarray
    humidity: np.ndarray
    occupancy: np.ndarray  # int64
    occupancy_fraction: np.ndarray
    hvac_fraction: np.ndarray
    hvac_kw: np.ndarray  # HVAC load at full operation (ventilation + degree response)
    noise: np.ndarray  # multiplicative noise factor applied to power


class Model:
    """Steps a set of buildings through event time. Its random stream is its own, so the same
    seed gives the same values whether or not anomalies are injected."""

    def __init__(self, buildings: Buildings, seed: int, replica_key: str):
        self.b = buildings
        self.weather = Weather(seed)
        self.rng = np.random.default_rng([seed, 0x30DE1, _key_int(replica_key)])
        self.drift = np.zeros(len(buildings))  # AR(1) noise per building, log scale
        self.site_weather: tuple[float, float] = (math.nan, math.nan)  # of the last step

    def step(self, epoch_s: float, dt_s: float) -> StepValues:
        b, n = self.b, len(self.b)
        temp_out, hum_out = self.weather.step(epoch_s, dt_s)
        self.site_weather = (temp_out, hum_out)
        hour, dow = b.local_time(epoch_s)
        occ = b.occupancy_fraction(hour, np.where(b.day_off(epoch_s), 6, dow))  # off: Sunday
        hvac = b.hvac_setback + (1 - b.hvac_setback) * np.minimum(1.0, occ / 0.3)
        temp = temp_out + b.temp_offset
        hdd = np.maximum(0.0, HEATING_BASE_C - temp)
        cdd = np.maximum(0.0, temp - COOLING_BASE_C)
        hvac_kw = b.ventilation_kw + b.heat_kw_k * hdd + b.cool_kw_k * cdd
        power = b.base_kw + b.occupied_kw * occ + hvac * hvac_kw
        phi = math.exp(-dt_s / 3600.0)
        draws = self.rng.standard_normal((3, n))
        self.drift = phi * self.drift + math.sqrt(1 - phi**2) * 0.04 * draws[0]
        noise = np.exp(self.drift + 0.02 * draws[1])
        people = np.maximum(0, np.rint(b.people * occ * (1 + 0.08 * draws[2]))).astype(np.int64)
        return StepValues(
            energy_kwh=power * noise * dt_s / 3600.0,
            temperature=temp,
            humidity=np.full(n, hum_out),
            occupancy=people,
            occupancy_fraction=occ,
            hvac_fraction=hvac,
            hvac_kw=hvac_kw,
            noise=noise,
        )


def _key_int(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
