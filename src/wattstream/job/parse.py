"""Kafka value bytes → validated readings, or quarantined rows saying why.

Validation is built from `schema.FIELDS` as Spark column expressions (no per-row Python), and
mirrors `schema.validate_reading`: the first failing field in `FIELDS` order decides the
reason. JSON is parsed into a VARIANT so a value's JSON type is known exactly (a string "12" is a
wrong type for a number, not a number).

    parsed = decode(kafka_df, default_tz="")
    readings = valid(parsed)          # reading columns, `timestamp` as TimestampType
    bad = quarantined(parsed)         # payload, reason, field, message, topic/partition/offset

Known narrowing against Python's `datetime.fromisoformat`: ISO week dates, fractional offsets
and a space before the zone are rejected here as `bad_timestamp`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..schema import BUILDING_ID_MAX_LENGTH, FIELDS, Field, Reason

READING_COLUMNS = tuple(f.name for f in FIELDS)
_INT_TYPES = ("BIGINT", "INT", "SMALLINT", "TINYINT")
# Python's json accepts these tokens; a document using them is re-read with them as ±1e400,
# which becomes ±inf exactly like Python's float('nan'/'inf') fails "must be finite".
_NON_FINITE = r"([:\[,]\s*)(-?)(?:Infinity|NaN)(?=\s*[,}\]])"
# ISO-8601 as Python 3.11 `fromisoformat` reads it (extended or basic date; any one character
# before the time; HH, HH:MM, HH:MM:SS or basic forms; any fraction digits; Z or ±HH[[:]MM[[:]SS]]).
_TS = (
    r"(?s)^(\d{4})(-?)(\d{2})\2(\d{2})"
    r"(?:.(\d{2})(?:(:?)(\d{2})(?:\6(\d{2})(?:[.,](\d+))?)?)?)?"
    r"(Z|[+-]\d{2}(?:(:?)\d{2}(?:\11\d{2})?)?)?$"
)


def _err(reason: str, name: str | None, message: Column | str) -> Column:
    msg = message if isinstance(message, Column) else F.lit(message)
    return F.struct(F.lit(reason).alias("reason"), F.lit(name).cast("string").alias("field"),
                    msg.alias("message"))


def _timestamp(s: Column, default_tz: str) -> tuple[Column, Column]:
    """(parsed UTC timestamp or null, error struct or null) for a JSON string value."""
    s = F.regexp_replace(s, r"(?U)^\s+|\s+$", "")
    g = [F.regexp_extract(s, _TS, i) for i in range(12)]
    matched = s.rlike(_TS)

    def num(c: Column, default: int = 0) -> Column:
        return F.when(c == "", F.lit(default)).otherwise(c.cast("int"))

    frac = F.when(g[9] == "", F.lit(0)).otherwise(
        F.concat(F.lit("0."), F.substring(g[9], 1, 6)).cast("decimal(8,6)"))
    sec = (num(g[8]) + frac).cast("decimal(8,6)")
    zone = F.regexp_replace(g[10], r"^([+-]\d{2})(\d{2})", "$1:$2")
    zone = F.regexp_replace(zone, r"^([+-]\d{2}:\d{2})(\d{2})$", "$1:$2")
    zone = F.when(zone.rlike(r"^[+-]\d{2}$"), F.concat(zone, F.lit(":00"))).otherwise(zone)
    naive = g[10] == ""
    if default_tz:
        zone = F.when(naive, F.lit(default_tz)).otherwise(zone)
    ts = F.try_make_timestamp(num(g[1]), num(g[3]), num(g[4]), num(g[5]), num(g[7]),
                              sec, zone)
    # make_timestamp turns second 60 into the next minute; Python rejects it.
    ts = F.when(num(g[8]) < 60, ts)
    bad = _err(Reason.BAD_TIMESTAMP, "timestamp",
               F.format_string("timestamp '%s' is not ISO-8601", s))
    err = (
        F.when(~matched, bad)
        .when(naive & F.lit(not default_tz), _err(
            Reason.NAIVE_TIMESTAMP, "timestamp",
            F.format_string("timestamp '%s' has no zone; add one (e.g. 'Z') or set "
                            "schema.timezone", s)))
        .when(ts.isNull(), bad)
    )
    return ts, err


def _field(v: Column, f: Field, default_tz: str) -> tuple[Column, Column]:
    """(typed value, error struct or null) of one field of the parsed object `v`."""
    raw = F.try_variant_get(v, f"$.{f.name}", "variant")
    ty = F.schema_of_variant(raw)
    absent = raw.isNull() | (ty == "VOID")
    if f.nullable:
        null_err = F.lit(None)
    else:
        null_err = F.when(raw.isNull(), _err(Reason.MISSING_FIELD, f.name,
                                             f"missing field {f.name}")).otherwise(
            _err(Reason.MISSING_FIELD, f.name, f"{f.name} must not be null"))
    is_str = ty == "STRING"
    wrong = _err(Reason.WRONG_TYPE, f.name,
                 F.concat(F.lit(f"{f.name} has the wrong JSON type "), ty))
    if f.kind in ("timestamp", "string"):
        text = F.try_variant_get(raw, "$", "string")
        if f.kind == "timestamp":
            value, err = _timestamp(text, default_tz)
        else:
            value = text
            blank = F.regexp_replace(text, r"(?U)\s", "") == ""
            err = F.when(blank | (F.char_length(text) > BUILDING_ID_MAX_LENGTH), _err(
                Reason.OUT_OF_RANGE, f.name,
                f"{f.name} must be 1-{BUILDING_ID_MAX_LENGTH} non-blank characters"))
        return value, F.when(absent, null_err).when(~is_str, wrong).otherwise(err)

    is_num = ty.isin(*_INT_TYPES, "DOUBLE", "FLOAT") | ty.startswith("DECIMAL")
    d = F.try_variant_get(raw, "$", "double")
    finite = d.isNotNull() & (F.abs(d) != F.lit(float("inf"))) & ~F.isnan(d)
    out_of_range = (d < F.lit(f.minimum)) | (d > F.lit(f.maximum))
    range_err = _err(Reason.OUT_OF_RANGE, f.name, F.format_string(
        f"{f.name}=%s is outside [{f.minimum:g}, {f.maximum:g}]", d.cast("string")))
    if f.kind == "int":
        integral = finite & (F.rint(d) == d)
        value = F.when(ty.isin(*_INT_TYPES), F.try_variant_get(raw, "$", "bigint")).otherwise(
            d.try_cast("bigint"))
        err = (F.when(~integral, _err(Reason.WRONG_TYPE, f.name,
                                      f"{f.name} must be an integer"))
               .when(out_of_range, range_err))
    else:
        value = d
        err = (F.when(~finite, _err(Reason.OUT_OF_RANGE, f.name, f"{f.name} must be finite"))
               .when(out_of_range, range_err))
    return value, F.when(absent, null_err).when(~is_num, wrong).otherwise(err)


def _parse_one(text: Column) -> Column:
    """The JSON value of `text`, or null unless `text` is exactly one value: Spark's parser
    stops after the first value and ignores what follows, Python's rejects trailing data."""
    def element(doc: Column, i: int) -> Column:
        return F.try_variant_get(F.try_parse_json(doc), f"$[{i}]", "variant")

    one = F.concat(F.lit("["), text, F.lit("]"))
    # A ']' in the text may close the wrapper early; doubling the text exposes that.
    two = F.concat(F.lit("["), text, F.lit(","), text, F.lit("]"))
    only_one = element(one, 0).isNotNull() & element(one, 1).isNull()
    doubled_ok = ~text.contains("]") | (element(two, 1).isNotNull() & element(two, 2).isNull())
    return F.when(only_one & doubled_ok, element(one, 0))


def decode(raw: DataFrame, default_tz: str = "") -> DataFrame:
    """Kafka rows (`value` binary, plus `topic`, `partition`, `offset`) → one row per message
    with the reading columns and an `error` struct (reason, field, message; null when valid)."""
    text = F.regexp_replace(F.col("value").cast("string"), "^\ufeff", "")
    parsed = F.coalesce(
        _parse_one(text), _parse_one(F.regexp_replace(text, _NON_FINITE, "$1$21e400"))
    )
    df = raw.select(
        F.col("value").alias("payload"), "topic", "partition", "offset",
        F.when(F.is_valid_utf8(F.col("value").cast("string")), parsed).alias("_v"),
    )
    v = F.col("_v")
    values, errors = [], []
    for f in FIELDS:
        value, err = _field(v, f, default_tz)
        values.append(value.alias(f.name))
        errors.append(err)
    top = (
        F.when(v.isNull(), _err(Reason.MALFORMED_JSON, None, "not valid UTF-8 JSON"))
        .when(~F.schema_of_variant(v).startswith("OBJECT"), _err(
            Reason.NOT_AN_OBJECT, None,
            F.concat(F.lit("a reading must be a JSON object, got "), F.schema_of_variant(v))))
    )
    return df.select("payload", "topic", "partition", "offset", *values,
                     F.coalesce(top, *errors).alias("error"))


def valid(parsed: DataFrame, keep_source: bool = False) -> DataFrame:
    """The valid readings with their contract types (plus Kafka `partition` and `offset` when
    `keep_source`, to order readings deterministically)."""
    casts = {"day_of_week": "int", "hour": "int"}
    source = ["partition", "offset"] if keep_source else []
    return parsed.where(F.col("error").isNull()).select(
        *[F.col(c).cast(casts[c]).alias(c) if c in casts else F.col(c) for c in READING_COLUMNS],
        *source,
    )


def quarantined(parsed: DataFrame) -> DataFrame:
    """Rejected messages: original payload, reason, field, message and where they came from."""
    return parsed.where(F.col("error").isNotNull()).select(
        "payload", "topic", "partition", "offset",
        F.col("error.reason").alias("reason"), F.col("error.field").alias("field"),
        F.col("error.message").alias("message"),
    )


def dead_letter(bad: DataFrame) -> DataFrame:
    """Rows for the dead-letter topic: the original payload (text and base64, since it may not
    be UTF-8) and why it was rejected, as a JSON value."""
    body = F.struct(
        F.col("reason"), F.col("field"), F.col("message"),
        F.col("payload").cast("string").alias("payload"),
        F.base64("payload").alias("payload_base64"),
        F.col("topic"), F.col("partition"), F.col("offset"),
    )
    return bad.select(F.col("reason").cast("binary").alias("key"),
                      F.to_json(body).alias("value"))
