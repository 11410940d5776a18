"""Weather that arrives apart from the readings: observations of a site on
`kafka.weather_topic`, joined to the readings of its buildings (`weather.sites`,
`weather.default_site`) that carry no temperature or humidity of their own.

The join is as-of in event time: a reading takes the site's newest observation at or before
its timestamp, if that is at most `weather.max_staleness_seconds` old; otherwise it stays
without weather and is counted (`wattstream_weather_missing_total`). Observations are taken
in as they arrive, before the readings of the same micro-batch, so weather should not lag the
readings by more than the staleness allowed. A malformed observation goes to the dead-letter
topic like a malformed reading, and is counted.

The observations a later reading may still need live in the engine's saved state
(`Store.encode`), so a replayed batch joins the same weather.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..config import Config
from ..schema import InvalidReading, parse_weather

COLUMNS = {"site": object, "ts_us": "int64", "temperature": "float64", "humidity": "float64"}


def enabled(cfg: Config) -> bool:
    """Weather joins only when there is a topic and a building has a site."""
    w = cfg.weather
    return bool(cfg.kafka.weather_topic and (w.sites or w.default_site))


def source_topics(cfg: Config) -> list[str]:
    """The topics the job reads: readings, and weather when weather is joined."""
    k = cfg.kafka
    return [k.readings_topic] + ([k.weather_topic] if enabled(cfg) else [])


def sited(cfg: Config, buildings: pd.Series) -> np.ndarray:
    """Which buildings have a weather site."""
    if cfg.weather.default_site:
        return np.ones(len(buildings), dtype=bool)
    return buildings.isin(cfg.weather.sites.keys()).to_numpy()


@dataclass
class Bad:
    """A malformed observation, as the dead-letter topic takes it."""

    reason: str
    field: str | None
    message: str
    payload: bytes
    partition: int
    offset: int


class Store:
    """The observations per site that readings at or after the watermark may still take."""

    def __init__(self, cfg: Config):
        self.staleness_us = cfg.weather.max_staleness_seconds * 1_000_000
        self.obs = _empty()

    def add(self, rows: list[tuple[bytes, int, int]]) -> tuple[pd.Series, list[Bad]]:
        """Take Kafka rows (payload, partition, offset) in; returns (observations taken per
        site, the malformed ones)."""
        good, bad = [], []
        for payload, partition, offset in rows:
            try:
                w = parse_weather(payload)
            except InvalidReading as exc:
                bad.append(Bad(exc.reason, exc.field, str(exc), bytes(payload), partition,
                               offset))
                continue
            good.append((w.site, int(w.timestamp.timestamp() * 1_000_000), w.temperature,
                         w.humidity))
        new = pd.DataFrame(good, columns=list(COLUMNS)).astype(COLUMNS)
        if len(new):
            both = pd.concat([self.obs, new], ignore_index=True)
            # A site's observation sent again replaces the earlier one.
            self.obs = both.drop_duplicates(["site", "ts_us"], keep="last").sort_values(
                ["site", "ts_us"], ignore_index=True)
        return new.groupby("site").size(), bad

    def prune(self, watermark_us: int | None) -> None:
        """Drop what no on-time reading can take any more."""
        if watermark_us is not None and len(self.obs):
            self.obs = self.obs[self.obs["ts_us"] + self.staleness_us > watermark_us].reset_index(
                drop=True)

    def intervals(self) -> pd.DataFrame:
        """Each observation's validity: [its time, the site's next observation or its time +
        the staleness allowed)."""
        o = self.obs
        nxt = o.groupby("site")["ts_us"].shift(-1).to_numpy(dtype="float64")
        until = np.fmin(nxt, (o["ts_us"] + self.staleness_us).to_numpy(dtype="float64"))
        return pd.DataFrame({"w_site": o["site"], "w_from": o["ts_us"],
                             "w_until": until.astype("int64"),
                             "w_temperature": o["temperature"], "w_humidity": o["humidity"]})


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})


def site_of(cfg: Config) -> Column:
    """The weather site of each reading's building (null: none)."""
    w = cfg.weather
    default = F.lit(w.default_site or None).cast("string")
    if not w.sites:
        return default
    pairs = [F.lit(x) for kv in sorted(w.sites.items()) for x in kv]
    return F.coalesce(F.create_map(*pairs)[F.col("building_id")], default)


def enrich(rows: DataFrame, spark, store: Store, cfg: Config) -> DataFrame:
    """`stream.prepare` rows with the site weather filled in where they have none."""
    iv = store.intervals()
    if iv.empty:
        return rows
    obs = spark.createDataFrame(iv, schema="w_site string, w_from long, w_until long, "
                                           "w_temperature double, w_humidity double")
    cond = ((F.col("_site") == F.col("w_site")) & (F.col("ts_us") >= F.col("w_from"))
            & (F.col("ts_us") < F.col("w_until")))
    joined = rows.withColumn("_site", site_of(cfg)).join(F.broadcast(obs), cond, "left")
    filled = {"temperature": F.coalesce(F.col("temperature"), F.col("w_temperature")),
              "humidity": F.coalesce(F.col("humidity"), F.col("w_humidity"))}
    return joined.select(*[filled[c].alias(c) if c in filled else F.col(c)
                           for c in rows.columns])


def dead_letter_json(bad: Bad, topic: str) -> tuple[bytes, bytes]:
    """(key, value) of the dead-letter record of a malformed observation, as
    `parse.dead_letter` writes them for readings."""
    import base64

    body = {"reason": bad.reason, "field": bad.field, "message": bad.message,
            "payload": bad.payload.decode("utf-8", errors="replace"),
            "payload_base64": base64.b64encode(bad.payload).decode(), "topic": topic,
            "partition": bad.partition, "offset": bad.offset}
    return bad.reason.encode(), json.dumps(body).encode()
