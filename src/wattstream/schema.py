"""The reading contract shared by the generator, the streaming job, the charts' docs and the tests.

A reading is one meter sample of one building:

    {"timestamp": "2026-01-05T09:00:00Z", "building_id": "b-0001", "energy_kwh": 12.4,
     "temperature": 21.5, "humidity": 40.0, "occupancy": 120, "day_of_week": 0, "hour": 9}

`energy_kwh` is the energy used during the reading's interval (not a meter index). `humidity` and
`occupancy` are nullable because real meter exports often lack them. `day_of_week` (Monday = 0) and
`hour` are the building's local calendar fields as the source reports them; they are range-checked
but not recomputed, since a building's local time need not be UTC.

Field bounds live in `FIELDS` as data so that the Python validator here and the Spark expressions in
the job are built from one definition.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

__all__ = [
    "FIELDS",
    "FIELD_NAMES",
    "IDLE_CLOSE_KEY",
    "Field",
    "InvalidReading",
    "Reason",
    "Reading",
    "WEATHER_FIELDS",
    "Weather",
    "format_timestamp",
    "idle_close_record",
    "parse_payload",
    "parse_weather",
    "parse_timestamp",
    "spark_schema",
    "validate_reading",
]


class Reason:
    """Why a reading was rejected; these strings label the quarantine counters."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"

    ALL = (
        MALFORMED_JSON,
        NOT_AN_OBJECT,
        MISSING_FIELD,
        WRONG_TYPE,
        OUT_OF_RANGE,
        BAD_TIMESTAMP,
        NAIVE_TIMESTAMP,
    )


@dataclass(frozen=True)
class Field:
    """One field of the reading: its JSON type, whether null is allowed, and inclusive bounds."""

    name: str
    kind: str  # "timestamp" | "string" | "double" | "int"
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field("timestamp", "timestamp", False, doc="ISO-8601 event time with a zone (UTC preferred)"),
    Field("building_id", "string", False, doc="stable building identifier, 1-64 characters"),
    Field("energy_kwh", "double", False, 0.0, 100_000.0, "energy used during the interval, kWh"),
    Field("temperature", "double", True, -60.0, 70.0, "outdoor air temperature, degrees Celsius "
          "(meters often send none: weather comes from elsewhere)"),
    Field("humidity", "double", True, 0.0, 100.0, "outdoor relative humidity, percent"),
    Field("occupancy", "int", True, 0, 1_000_000, "people in the building"),
    Field("day_of_week", "int", False, 0, 6, "local day of week, Monday = 0"),
    Field("hour", "int", False, 0, 23, "local hour of day"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
BUILDING_ID_MAX_LENGTH = 64

# The one message on the readings topic that is not a reading: the job writes it after the
# input has been idle for `windows.idle_close_seconds`, and closes the open windows when it reads
# it back (so the close happens inside a replayable micro-batch: exactly once). Its key cannot
# be a building's (a reading's key is its building id, which has no NUL); its value is the
# newest event time the job had seen, µs since the epoch, as ASCII digits.
IDLE_CLOSE_KEY = b"\x00wattstream/idle-close"


def idle_close_record(until_us: int) -> tuple[bytes, bytes]:
    """(key, value) of the control record closing the windows up to event time `until_us`."""
    return IDLE_CLOSE_KEY, str(int(until_us)).encode()

# A weather observation of one site, on its own topic (`kafka.weather_topic`): the job joins it
# to the readings of the buildings at that site (`weather.sites`) that carry no weather.
WEATHER_FIELDS: tuple[Field, ...] = (
    Field("site", "string", False, doc="weather site identifier, 1-64 characters"),
    Field("timestamp", "timestamp", False, doc="ISO-8601 time of the observation, with a zone"),
    Field("temperature", "double", True, -60.0, 70.0, "outdoor air temperature, degrees Celsius"),
    Field("humidity", "double", True, 0.0, 100.0, "outdoor relative humidity, percent"),
)


class InvalidReading(ValueError):
    """A reading that breaks the contract; `reason` is one of `Reason.ALL`."""

    def __init__(self, reason: str, message: str, field: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
class Reading:
    timestamp: datetime
    building_id: str
    energy_kwh: float
    temperature: float | None
    humidity: float | None
    occupancy: int | None
    day_of_week: int
    hour: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": format_timestamp(self.timestamp),
            "building_id": self.building_id,
            "energy_kwh": self.energy_kwh,
            "temperature": self.temperature,
            "humidity": self.humidity,
            "occupancy": self.occupancy,
            "day_of_week": self.day_of_week,
            "hour": self.hour,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def format_timestamp(ts: datetime) -> str:
    """UTC ISO-8601 with millisecond precision and a trailing Z."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_timestamp(value: str, default_tz: tzinfo | None = None) -> datetime:
    """Parse ISO-8601; a value without a zone is rejected unless `default_tz` is given."""
    if not isinstance(value, str):
        raise InvalidReading(Reason.WRONG_TYPE, "timestamp must be an ISO-8601 string", "timestamp")
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidReading(
            Reason.BAD_TIMESTAMP, f"timestamp {value!r} is not ISO-8601", "timestamp"
        ) from None
    if ts.tzinfo is None:
        if default_tz is None:
            raise InvalidReading(
                Reason.NAIVE_TIMESTAMP,
                f"timestamp {value!r} has no zone; add one (e.g. 'Z') or set schema.timezone",
                "timestamp",
            )
        ts = ts.replace(tzinfo=default_tz)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        raise InvalidReading(
            Reason.BAD_TIMESTAMP, f"timestamp {value!r} is outside the representable range",
            "timestamp",
        ) from None


def _check_number(f: Field, value: Any) -> float | int | None:
    if value is None:
        if f.nullable:
            return None
        raise InvalidReading(Reason.MISSING_FIELD, f"{f.name} must not be null", f.name)
    # bool is an int subclass in Python but never a valid measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidReading(
            Reason.WRONG_TYPE, f"{f.name} must be a number, got {type(value).__name__}", f.name
        )
    if f.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise InvalidReading(
                    Reason.WRONG_TYPE, f"{f.name} must be an integer, got {value!r}", f.name
                )
            value = int(value)
    else:
        try:
            value = float(value)
        except OverflowError:
            raise InvalidReading(Reason.OUT_OF_RANGE, f"{f.name} must be finite", f.name) from None
        if not math.isfinite(value):
            raise InvalidReading(Reason.OUT_OF_RANGE, f"{f.name} must be finite", f.name)
    if (f.minimum is not None and value < f.minimum) or (
        f.maximum is not None and value > f.maximum
    ):
        raise InvalidReading(
            Reason.OUT_OF_RANGE,
            f"{f.name}={value!r} is outside [{f.minimum:g}, {f.maximum:g}]",
            f.name,
        )
    return value


def validate_reading(obj: Any, default_tz: tzinfo | None = None) -> Reading:
    """Check a decoded JSON value against the contract; raise `InvalidReading` naming the field.

    Unknown extra fields are ignored so that producers can add fields before consumers use them.
    """
    return Reading(**_validate(FIELDS, "a reading", obj, default_tz))


@dataclass(frozen=True, slots=True)
class Weather:
    site: str
    timestamp: datetime
    temperature: float | None
    humidity: float | None

    def to_json(self) -> bytes:
        return json.dumps({"site": self.site, "timestamp": format_timestamp(self.timestamp),
                           "temperature": self.temperature, "humidity": self.humidity},
                          separators=(",", ":")).encode()


def parse_weather(payload: bytes | str, default_tz: tzinfo | None = None) -> Weather:
    """Decode one weather message (`WEATHER_FIELDS`); raise `InvalidReading` naming the field."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidReading(Reason.MALFORMED_JSON, f"not valid UTF-8 JSON: {exc}") from None
    return Weather(**_validate(WEATHER_FIELDS, "a weather observation", obj, default_tz))


def _validate(fields: tuple[Field, ...], what: str, obj: Any,
              default_tz: tzinfo | None) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise InvalidReading(
            Reason.NOT_AN_OBJECT, f"{what} must be a JSON object, got {type(obj).__name__}"
        )
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in obj:
            if f.nullable:
                values[f.name] = None
                continue
            raise InvalidReading(Reason.MISSING_FIELD, f"missing field {f.name}", f.name)
        raw = obj[f.name]
        if f.kind == "timestamp":
            if raw is None:
                raise InvalidReading(Reason.MISSING_FIELD, "timestamp must not be null", f.name)
            values[f.name] = parse_timestamp(raw, default_tz)
        elif f.kind == "string":
            if raw is None:
                raise InvalidReading(Reason.MISSING_FIELD, f"{f.name} must not be null", f.name)
            if not isinstance(raw, str):
                raise InvalidReading(
                    Reason.WRONG_TYPE,
                    f"{f.name} must be a string, got {type(raw).__name__}",
                    f.name,
                )
            if not raw.strip() or len(raw) > BUILDING_ID_MAX_LENGTH:
                raise InvalidReading(
                    Reason.OUT_OF_RANGE,
                    f"{f.name} must be 1-{BUILDING_ID_MAX_LENGTH} non-blank characters",
                    f.name,
                )
            values[f.name] = raw
        else:
            values[f.name] = _check_number(f, raw)
    return values


def parse_payload(payload: bytes | str, default_tz: tzinfo | None = None) -> Reading:
    """Decode one Kafka message value (UTF-8 JSON) into a valid `Reading`."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidReading(Reason.MALFORMED_JSON, f"not valid UTF-8 JSON: {exc}") from None
    return validate_reading(obj, default_tz)


def spark_schema():
    """The reading as a Spark StructType (timestamp kept as string: the job parses it itself so a
    bad or zone-less value is quarantined rather than turned into null)."""
    from pyspark.sql import types as T

    spark_types = {
        "timestamp": T.StringType(),
        "string": T.StringType(),
        "double": T.DoubleType(),
        "int": T.LongType(),
    }
    return T.StructType([T.StructField(f.name, spark_types[f.kind], True) for f in FIELDS])
