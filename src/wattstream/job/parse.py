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


def _c(name: str) -> Column:
    return F.col(f"`{name}`")


def _num(c: Column) -> Column:
    return F.when(c == "", F.lit(0)).otherwise(c.cast("int"))


def _timestamp_stages(df: DataFrame, default_tz: str) -> DataFrame:
    """Add `timestamp` (UTC) and `_ts_err` from the JSON string `_ts_text`, one stage per step
    so the regex runs once per row."""
    df = df.withColumn("_ts_s", F.regexp_replace("_ts_text", r"(?U)^\s+|\s+$", ""))
    df = df.withColumn("_ts_ok", F.col("_ts_s").rlike(_TS)).withColumn(
        "_ts_p", F.split(F.regexp_replace("_ts_s", _TS, "$1|$3|$4|$5|$7|$8|$9|$10"), r"\|"))
    p = [F.col("_ts_p")[i] for i in range(8)]  # y, mo, d, h, mi, s, fraction, zone
    frac = F.when(p[6] == "", F.lit(0)).otherwise(
        F.concat(F.lit("0."), F.substring(p[6], 1, 6)).cast("decimal(8,6)"))
    zone = F.regexp_replace(p[7], r"^([+-]\d{2})(\d{2})", "$1:$2")
    zone = F.regexp_replace(zone, r"^([+-]\d{2}:\d{2})(\d{2})$", "$1:$2")
    zone = F.when(zone.rlike(r"^[+-]\d{2}$"), F.concat(zone, F.lit(":00"))).otherwise(zone)
    naive = p[7] == ""
    if default_tz:
        zone = F.when(naive, F.lit(default_tz)).otherwise(zone)
    ts = F.try_make_timestamp(_num(p[0]), _num(p[1]), _num(p[2]), _num(p[3]), _num(p[4]),
                              (_num(p[5]) + frac).cast("decimal(8,6)"), zone)
    # make_timestamp turns second 60 into the next minute; Python rejects it.
    df = df.withColumn("timestamp", F.when(F.col("_ts_ok") & (_num(p[5]) < 60), ts)) \
        .withColumn("_ts_naive", F.col("_ts_ok") & naive)
    bad = _err(Reason.BAD_TIMESTAMP, "timestamp",
               F.format_string("timestamp '%s' is not ISO-8601", "_ts_s"))
    err = (
        F.when(~F.col("_ts_ok"), bad)
        .when(F.col("_ts_naive") & F.lit(not default_tz), _err(
            Reason.NAIVE_TIMESTAMP, "timestamp",
            F.format_string("timestamp '%s' has no zone; add one (e.g. 'Z') or set "
                            "schema.timezone", "_ts_s")))
        .when(F.col("timestamp").isNull(), bad)
    )
    return df.withColumn("_ts_check", err)


def _field_error(f: Field) -> Column:
    """Error struct (or null) of one field from its staged `_raw_`, `_ty_`, `_d_` columns."""
    raw, ty = _c(f"_raw_{f.name}"), _c(f"_ty_{f.name}")
    absent = raw.isNull() | (ty == "VOID")
    if f.nullable:
        null_err = F.lit(None)
    else:
        null_err = F.when(raw.isNull(), _err(Reason.MISSING_FIELD, f.name,
                                             f"missing field {f.name}")).otherwise(
            _err(Reason.MISSING_FIELD, f.name, f"{f.name} must not be null"))
    wrong = _err(Reason.WRONG_TYPE, f.name,
                 F.concat(F.lit(f"{f.name} has the wrong JSON type "), ty))
    if f.kind == "timestamp":
        return F.when(absent, null_err).when(ty != "STRING", wrong).otherwise(_c("_ts_check"))
    if f.kind == "string":
        text = _c(f.name)
        blank = F.regexp_replace(text, r"(?U)\s", "") == ""
        err = F.when(blank | (F.char_length(text) > BUILDING_ID_MAX_LENGTH), _err(
            Reason.OUT_OF_RANGE, f.name,
            f"{f.name} must be 1-{BUILDING_ID_MAX_LENGTH} non-blank characters"))
        return F.when(absent, null_err).when(ty != "STRING", wrong).otherwise(err)
    is_num = ty.isin(*_INT_TYPES, "DOUBLE", "FLOAT") | ty.startswith("DECIMAL")
    d = _c(f"_d_{f.name}")
    finite = d.isNotNull() & (F.abs(d) != F.lit(float("inf"))) & ~F.isnan(d)
    out_of_range = (d < F.lit(f.minimum)) | (d > F.lit(f.maximum))
    range_err = _err(Reason.OUT_OF_RANGE, f.name, F.format_string(
        f"{f.name}=%s is outside [{f.minimum:g}, {f.maximum:g}]", d.cast("string")))
    if f.kind == "int":
        err = (F.when(~(finite & (F.rint(d) == d)),
                      _err(Reason.WRONG_TYPE, f.name, f"{f.name} must be an integer"))
               .when(out_of_range, range_err))
    else:
        err = (F.when(~finite, _err(Reason.OUT_OF_RANGE, f.name, f"{f.name} must be finite"))
               .when(out_of_range, range_err))
    return F.when(absent, null_err).when(~is_num, wrong).otherwise(err)


def _parse_stages(df: DataFrame, text: str, out: str) -> DataFrame:
    """`out` = the JSON value of column `text`, or null unless it is exactly one value: Spark's
    parser stops after the first value and ignores what follows, Python's rejects that."""
    t = F.col(text)
    df = df.withColumn(f"{out}_1", F.try_parse_json(F.concat(F.lit("["), t, F.lit("]"))))
    # A ']' in the text may close the wrapper early; doubling the text exposes that.
    df = df.withColumn(f"{out}_2", F.when(t.contains("]"), F.try_parse_json(
        F.concat(F.lit("["), t, F.lit(","), t, F.lit("]")))))

    def el(c: str, i: int) -> Column:
        return F.try_variant_get(F.col(c), f"$[{i}]", "variant")

    only_one = el(f"{out}_1", 0).isNotNull() & el(f"{out}_1", 1).isNull()
    doubled_ok = ~t.contains("]") | (el(f"{out}_2", 1).isNotNull()
                                     & el(f"{out}_2", 2).isNull())
    return df.withColumn(out, F.when(only_one & doubled_ok, el(f"{out}_1", 0))).drop(
        f"{out}_1", f"{out}_2")


def decode(raw: DataFrame, default_tz: str = "") -> DataFrame:
    """Kafka rows (`value` binary, plus `topic`, `partition`, `offset`) → one row per message
    with the reading columns and an `error` struct (reason, field, message; null when valid).

    Built as a chain of projections, each computing a value once, so the plan stays small."""
    df = raw.select(F.col("value").alias("payload"), "topic", "partition", "offset")
    df = df.withColumn("_text", F.regexp_replace(F.col("payload").cast("string"), "^\ufeff", ""))
    df = df.withColumn("_utf8", F.is_valid_utf8(F.col("payload").cast("string")))
    df = _parse_stages(df, "_text", "_v0")
    df = df.withColumn("_text2", F.when(F.col("_v0").isNull(), F.regexp_replace(
        "_text", _NON_FINITE, "$1$21e400")))
    df = _parse_stages(df, "_text2", "_v1")
    df = df.withColumn("_v", F.when(F.col("_utf8"), F.coalesce("_v0", "_v1")))
    df = df.withColumn("_ty", F.schema_of_variant("_v"))
    df = df.select("*", *[F.try_variant_get("_v", f"$.{f.name}", "variant").alias(
        f"_raw_{f.name}") for f in FIELDS])
    typed = []
    for f in FIELDS:
        raw_f = _c(f"_raw_{f.name}")
        typed.append(F.schema_of_variant(raw_f).alias(f"_ty_{f.name}"))
        if f.kind in ("timestamp", "string"):
            typed.append(F.try_variant_get(raw_f, "$", "string").alias(
                "_ts_text" if f.kind == "timestamp" else f.name))
        else:
            typed.append(F.try_variant_get(raw_f, "$", "double").alias(f"_d_{f.name}"))
    df = df.select("*", *typed)
    values = []
    for f in FIELDS:
        if f.kind == "int":
            values.append(F.when(_c(f"_ty_{f.name}").isin(*_INT_TYPES), F.try_variant_get(
                _c(f"_raw_{f.name}"), "$", "bigint")).otherwise(
                _c(f"_d_{f.name}").try_cast("bigint")).alias(f.name))
        elif f.kind == "double":
            values.append(_c(f"_d_{f.name}").alias(f.name))
    df = df.select("*", *values)
    df = _timestamp_stages(df, default_tz)
    v = F.col("_v")
    top = (
        F.when(v.isNull(), _err(Reason.MALFORMED_JSON, None, "not valid UTF-8 JSON"))
        .when(~F.col("_ty").startswith("OBJECT"), _err(
            Reason.NOT_AN_OBJECT, None,
            F.concat(F.lit("a reading must be a JSON object, got "), F.col("_ty"))))
    )
    return df.select("payload", "topic", "partition", "offset", *READING_COLUMNS,
                     F.coalesce(top, *[_field_error(f) for f in FIELDS]).alias("error"))


def valid_event_time(parsed: DataFrame) -> DataFrame:
    """`timestamp` kept only on valid readings: a rejected message must not move the
    watermark (the one place event time is read before the valid rows are split off)."""
    return parsed.withColumn("timestamp", F.when(F.col("error").isNull(), F.col("timestamp")))


def valid(parsed: DataFrame) -> DataFrame:
    """The valid readings with their contract types."""
    casts = {"day_of_week": "int", "hour": "int"}
    return parsed.where(F.col("error").isNull()).select(
        *[F.col(c).cast(casts[c]).alias(c) if c in casts else F.col(c) for c in READING_COLUMNS])


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
