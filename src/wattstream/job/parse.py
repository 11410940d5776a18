"""Kafka value bytes → validated readings, or quarantined rows saying why.

Validation is built from `schema.FIELDS` as Spark column expressions (no per-row Python), and
mirrors `schema.validate_reading`: the first failing field in `FIELDS` order decides the
reason. Two routes, one result:

- fast: `from_json` with a typed schema and cheap checks (one flat object of valid UTF-8
  without escapes, every field of its JSON type and in bounds, a plain ISO timestamp with a
  zone). Valid readings as producers ordinarily write them take only this route.
- exact: every other message. JSON is parsed into a VARIANT so a value's JSON type is known
  exactly (a string "12" is a wrong type for a number, not a number), and the timestamp follows
  the full ISO grammar; it gives the reason, field and message. Spark evaluates it only for the
  messages the fast route refused, outside generated code (see `_staged`).

The fast route takes only messages the exact one finds valid and gives the same values, so the
result does not depend on the route (tests/job/test_parse.py checks the routes against each
other and against Python).

    parsed = decode(kafka_df, default_tz="")

Known narrowing against Python: ISO week dates, fractional offsets and a space before the zone
are `bad_timestamp` (`datetime.fromisoformat` takes them), a lone UTF-16 surrogate escape
("\\ud800") is `malformed_json` (`json.loads` takes it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..schema import BUILDING_ID_MAX_LENGTH, FIELDS, Field, Reason

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
# Python's datetime range in UTC: a time outside it (year 0, or pushed past 0001/9999 by its
# offset) is a bad timestamp there, as `astimezone` overflows.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)

# Fast route: integers are read as doubles so 120.0 is 120, as in Python. Spark's JSON reader is
# laxer than Python's where these options say; a message it cannot read whole, or with a value
# of another type, lands in `_corrupt`.
_FAST_SCHEMA = T.StructType(
    [T.StructField(f.name, T.DoubleType() if f.kind in ("double", "int") else T.StringType())
     for f in FIELDS] + [T.StructField("_corrupt", T.StringType())])
_FAST_OPTIONS = {
    "mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt",
    "allowSingleQuotes": "false", "allowNonNumericNumbers": "false",
    "allowNumericLeadingZeros": "false", "allowComments": "false",
    "allowUnquotedFieldNames": "false", "allowUnquotedControlChars": "false",
}
# The one timestamp shape the fast route reads (with a cast, as Python reads it).
_TS_FAST = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$"
# A VARIANT keeps the sign of a zero only when written so (a DOUBLE there, not a DECIMAL).
_SIGNED_ZERO = r"-0(?:\.0*)?[eE]|-0\.0{30}"


def decode(raw: DataFrame, default_tz: str = "") -> DataFrame:
    """Kafka rows (`value` binary, plus `topic`, `partition`, `offset`, and `key` if there is
    one) → one row per message with the reading columns and an `error` struct (reason, field,
    message; null when valid), and the `key`."""
    return _routes(raw, default_tz).drop("_fast")


def _routes(raw: DataFrame, default_tz: str, fast_route: bool = True,
            without: frozenset[str] = frozenset()) -> DataFrame:
    """`decode` plus `_fast` (the message took the fast route); without `fast_route` every
    message takes the exact one (for tests). `without`: fast-route checks left out (names of
    `FAST_CHECKS`, and "exact" for no exact route), to measure what each costs
    (bench/parse.py); such a parse is not the contract's."""
    kept = ["topic", "partition", "offset", *(["key"] if "key" in raw.columns else [])]
    df = raw.select(F.col("value").alias("payload"), *kept)
    payload = F.col("payload")
    # One projection, in which Spark computes `j`, `ts` and `fast` once each (common
    # subexpressions) and the exact route only for the rows the fast one refused.
    j = F.from_json(payload.cast("string"), _FAST_SCHEMA, _FAST_OPTIONS)
    ts = j["timestamp"].try_cast("timestamp")
    if "timestamp_shape" not in without:
        ts = F.when(j["timestamp"].rlike(_TS_FAST), ts)
    fast = _fast_ok(payload, j, ts, without) if fast_route else F.lit(False)
    # Without the exact route: a branch never taken, which the optimizer folds to a null.
    exact = _exact(payload, default_tz)
    exact = exact if "exact" not in without else F.when(F.lit(False), exact)
    df = df.select("payload", *kept, fast.alias("_fast"),
                   *[_fast_value(f, j, ts).alias(f"_f_{f.name}") for f in FIELDS],
                   F.when(~fast, exact).alias("_x"))
    return df.select(
        "payload", *kept,
        *[F.when(F.col("_fast"), _c(f"_f_{f.name}")).otherwise(F.col("_x")[f.name]).alias(f.name)
          for f in FIELDS],
        F.col("_x.error").alias("error"), "_fast")


# The fast route's checks by name (`_fast_checks`); bench/parse.py times the parse without each.
FAST_CHECKS = ("json", "utf8", "one_object", "no_escapes", "timestamp_range",
               "timestamp_shape", "building_id", "ranges", "signed_zero")


def _fast_ok(payload: Column, j: Column, ts: Column,
             without: frozenset[str] = frozenset()) -> Column:
    """True when the message is valid and the fast route's values are the exact route's (a
    null, from a missing value, counts as false)."""
    conds = [c for name, group in _fast_checks(payload, j, ts).items() if name not in without
             for c in group]
    return F.coalesce(reduce(Column.__and__, conds), F.lit(False)) if conds else F.lit(True)


def _fast_checks(payload: Column, j: Column, ts: Column) -> dict[str, list[Column]]:
    """The fast route's conditions, grouped by what they guard (`FAST_CHECKS`; the timestamp's
    shape is checked in `ts` itself). The first is the JSON reader's verdict, evaluated on
    every row (Spark computes `j` once only from an always-evaluated position)."""
    text = payload.cast("string")
    checks: dict[str, list[Column]] = {
        "json": [j["_corrupt"].isNull()],
        "utf8": [F.is_valid_utf8(text)],
        # One object and nothing after it (Spark's reader stops after the first value, Python's
        # rejects more): text opens with '{' and its only '}' is its last byte.
        "one_object": [
            text.startswith("{"), text.endswith("}"),
            ~F.substring(payload, 1, F.octet_length(payload) - 1).cast("string").contains("}")],
        # No escapes: a string is its bytes, the same to both readers (lone surrogates are not).
        "no_escapes": [~text.contains("\\")],
        "timestamp_range": [F.unix_micros(ts).between(_MIN_US, _MAX_US)],
        "building_id": [], "ranges": [],
    }
    zero = F.lit(False)
    for f in FIELDS:
        v = j[f.name]
        if f.kind == "string":
            # Any JSON value reads as a string here (7 → '7', 1e400 → '"Infinity"', true →
            # 'true'); a text that could have been another value takes the exact route.
            first = F.substring(v, 1, 1)
            number = (first.between("0", "9") | (first == "-")) & (
                F.translate(v, "0123456789.eE+-", "") == "")
            checks["building_id"] += [F.char_length(v) <= BUILDING_ID_MAX_LENGTH,
                                      first.between("!", "~"), ~first.isin('"', "["),
                                      ~v.isin("true", "false"), ~number]
        elif f.kind != "timestamp":
            ok = v.between(f.minimum, f.maximum)
            if f.kind == "int":
                ok = ok & (F.rint(v) == v)
            else:
                zero = zero | (v == 0)
            checks["ranges"].append(v.isNull() | ok if f.nullable else ok)
    checks["signed_zero"] = [~(zero & text.rlike(_SIGNED_ZERO))]
    return checks


def _fast_value(f: Field, j: Column, ts: Column) -> Column:
    if f.kind == "timestamp":
        return ts
    v = j[f.name]
    if f.kind == "int":
        return v.try_cast("bigint")  # computed for every row, in range or not
    if f.kind == "double":
        return F.when(v == 0, F.lit(0.0)).otherwise(v)  # -0.0 as the exact route reads it
    return v


_Env = dict[str, Column]
_Stage = Callable[[_Env], _Env]


def _staged(stages: list[_Stage], result: Callable[[_Env], Column]) -> Column:
    """`result` of the values the stages compute in turn, each stage from the values before it.
    A stage's values are bound to a lambda variable (the start value of an `aggregate` over an
    empty array, handed to its `finish`), so each is computed once, only where the whole
    expression is evaluated, and outside generated code: the exact route costs the messages of
    the fast one nothing."""
    def run(env: _Env, i: int) -> Column:
        if i == len(stages):
            return result(env)
        new = stages[i](env)
        bound = F.struct(*[v.alias(k) for k, v in new.items()])
        return F.aggregate(F.array(), bound, lambda acc, _: acc, lambda x: run(
            {**env, **{k: x[k] for k in new}}, i + 1))
    return run({}, 0)


def _exact(payload: Column, default_tz: str) -> Column:
    """The reading columns and `error` as a struct, by the VARIANT of the payload."""
    text = payload.cast("string")

    def typed(x: _Env) -> _Env:
        out = {}
        for f in FIELDS:
            raw_f = x[f"_raw_{f.name}"]
            out[f"_ty_{f.name}"] = F.schema_of_variant(raw_f)
            if f.kind in ("timestamp", "string"):
                name = "_ts_text" if f.kind == "timestamp" else f.name
                out[name] = F.try_variant_get(raw_f, "$", "string")
            else:
                out[f"_d_{f.name}"] = F.try_variant_get(raw_f, "$", "double")
        return out

    def values(x: _Env) -> _Env:
        out = {}
        for f in FIELDS:
            if f.kind == "int":
                out[f.name] = F.when(x[f"_ty_{f.name}"].isin(*_INT_TYPES), F.try_variant_get(
                    x[f"_raw_{f.name}"], "$", "bigint")).otherwise(
                    x[f"_d_{f.name}"].try_cast("bigint"))
            elif f.kind == "double":
                out[f.name] = x[f"_d_{f.name}"]
        return out

    def result(x: _Env) -> Column:
        v, ty = x["_v"], x["_ty"]
        top = (
            F.when(v.isNull(), _err(Reason.MALFORMED_JSON, None, "not valid UTF-8 JSON"))
            .when(~ty.startswith("OBJECT"), _err(
                Reason.NOT_AN_OBJECT, None,
                F.concat(F.lit("a reading must be a JSON object, got "), ty)))
        )
        error = F.coalesce(top, *[_field_error(x, f) for f in FIELDS])
        return F.struct(*[x[f.name].alias(f.name) for f in FIELDS], error.alias("error"))

    return _staged([
        lambda x: {"_text": F.regexp_replace(text, "^\ufeff", ""),
                   "_utf8": F.is_valid_utf8(text)},
        *_parse_stages("_text", "_v0"),
        lambda x: {"_text2": F.when(x["_v0"].isNull(), F.regexp_replace(
            x["_text"], _NON_FINITE, "$1$21e400"))},
        *_parse_stages("_text2", "_v1"),
        lambda x: {"_v": F.when(x["_utf8"], F.coalesce(x["_v0"], x["_v1"]))},
        lambda x: {"_ty": F.schema_of_variant(x["_v"]), **{
            f"_raw_{f.name}": F.try_variant_get(x["_v"], f"$.{f.name}", "variant")
            for f in FIELDS}},
        typed, values, *_timestamp_stages(default_tz),
    ], result)


def _err(reason: str, name: str | None, message: Column | str) -> Column:
    msg = message if isinstance(message, Column) else F.lit(message)
    return F.struct(F.lit(reason).alias("reason"), F.lit(name).cast("string").alias("field"),
                    msg.alias("message"))


def _c(name: str) -> Column:
    return F.col(f"`{name}`")


def _num(c: Column) -> Column:
    return F.when(c == "", F.lit(0)).otherwise(c.cast("int"))


def _timestamp_stages(default_tz: str) -> list[_Stage]:
    """`timestamp` (UTC) and `_ts_check` from the JSON string `_ts_text`, one stage per step
    so the regex runs once per row."""
    def parts(x: _Env) -> _Env:
        p = [x["_ts_p"][i] for i in range(8)]  # y, mo, d, h, mi, s, fraction, zone
        frac = F.when(p[6] == "", F.lit(0)).otherwise(
            F.concat(F.lit("0."), F.substring(p[6], 1, 6)).cast("decimal(8,6)"))
        naive = p[7] == ""
        zone = F.when(naive, F.lit(default_tz)) if default_tz else F.lit(None)
        local = F.try_make_timestamp(_num(p[0]), _num(p[1]), _num(p[2]), _num(p[3]), _num(p[4]),
                                     (_num(p[5]) + frac).cast("decimal(8,6)"),
                                     F.coalesce(zone, F.lit("UTC")))
        # An offset counts as Python counts it (±HH[:MM[:SS]], any field values, under a day),
        # not as a Spark zone (those stop at ±18:00).
        hms = F.replace(p[7], F.lit(":"), F.lit(""))  # "", Z, ±HH, ±HHMM or ±HHMMSS
        offset = sum(_num(F.substring(hms, 2 * i + 2, 2)) * k for i, k in enumerate((3600, 60, 1)))
        offset = F.when(hms.startswith("-"), -offset).otherwise(offset)
        # Only a matched text has these parts (a cast of anything else would fail).
        # make_timestamp turns second 60 into the next minute; Python rejects it.
        ok = x["_ts_ok"]
        return {"_ts_local": F.when(ok & (_num(p[5]) < 60), local),
                "_ts_offset": F.when(ok, offset), "_ts_naive": ok & naive}

    def utc(x: _Env) -> _Env:
        offset = x["_ts_offset"]
        ts = F.timestamp_micros(F.unix_micros(x["_ts_local"]) - offset.cast("bigint") * 1_000_000)
        ts = F.when(F.abs(offset) < 86_400, ts)
        return {"timestamp": F.when(F.unix_micros(ts).between(_MIN_US, _MAX_US), ts)}

    def check(x: _Env) -> _Env:
        bad = _err(Reason.BAD_TIMESTAMP, "timestamp",
                   F.format_string("timestamp '%s' is not ISO-8601", x["_ts_s"]))
        return {"_ts_check": (
            F.when(~x["_ts_ok"], bad)
            .when(x["_ts_naive"] & F.lit(not default_tz), _err(
                Reason.NAIVE_TIMESTAMP, "timestamp",
                F.format_string("timestamp '%s' has no zone; add one (e.g. 'Z') or set "
                                "schema.timezone", x["_ts_s"])))
            .when(x["timestamp"].isNull(), bad)
        )}

    return [
        lambda x: {"_ts_s": F.regexp_replace(x["_ts_text"], r"(?U)^\s+|\s+$", "")},
        lambda x: {
            # Year 0 fits the grammar, not Python's calendar.
            "_ts_ok": x["_ts_s"].rlike(_TS) & ~x["_ts_s"].startswith("0000"),
            "_ts_p": F.split(F.regexp_replace(x["_ts_s"], _TS, "$1|$3|$4|$5|$7|$8|$9|$10"),
                             r"\|"),
        },
        parts, utc, check,
    ]


def _field_error(x: _Env, f: Field) -> Column:
    """Error struct (or null) of one field from its staged `_raw_`, `_ty_`, `_d_` fields."""
    raw, ty = x[f"_raw_{f.name}"], x[f"_ty_{f.name}"]
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
        return F.when(absent, null_err).when(ty != "STRING", wrong).otherwise(x["_ts_check"])
    if f.kind == "string":
        text = x[f.name]
        blank = F.regexp_replace(text, r"(?U)\s", "") == ""
        err = F.when(blank | (F.char_length(text) > BUILDING_ID_MAX_LENGTH), _err(
            Reason.OUT_OF_RANGE, f.name,
            f"{f.name} must be 1-{BUILDING_ID_MAX_LENGTH} non-blank characters"))
        return F.when(absent, null_err).when(ty != "STRING", wrong).otherwise(err)
    is_num = ty.isin(*_INT_TYPES, "DOUBLE", "FLOAT") | ty.startswith("DECIMAL")
    d = x[f"_d_{f.name}"]
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


def _parse_stages(text: str, out: str) -> list[_Stage]:
    """`out` = the JSON value of `text`, or null unless it is exactly one value: Spark's
    parser stops after the first value and ignores what follows, Python's rejects that."""
    def wrapped(x: _Env) -> _Env:
        t = x[text]
        return {f"{out}_1": F.try_parse_json(F.concat(F.lit("["), t, F.lit("]"))),
                # A ']' in the text may close the wrapper early; doubling the text exposes that.
                f"{out}_2": F.when(t.contains("]"), F.try_parse_json(
                    F.concat(F.lit("["), t, F.lit(","), t, F.lit("]"))))}

    def one(x: _Env) -> _Env:
        def el(c: str, i: int) -> Column:
            return F.try_variant_get(x[c], f"$[{i}]", "variant")

        only_one = el(f"{out}_1", 0).isNotNull() & el(f"{out}_1", 1).isNull()
        doubled_ok = ~x[text].contains("]") | (el(f"{out}_2", 1).isNotNull()
                                               & el(f"{out}_2", 2).isNull())
        return {out: F.when(only_one & doubled_ok, el(f"{out}_1", 0))}

    return [wrapped, one]


def dead_letter(parsed: DataFrame) -> DataFrame:
    """Kafka rows for the dead-letter topic from `decode` rows (`payload`, `topic`,
    `partition`, `offset`, `error`): the malformed ones only, their original payload (text and
    base64, since it may not be UTF-8) and why they were rejected, as a JSON value; key =
    reason."""
    body = F.struct(
        F.col("error.reason").alias("reason"), F.col("error.field").alias("field"),
        F.col("error.message").alias("message"),
        F.col("payload").cast("string").alias("payload"),
        F.base64("payload").alias("payload_base64"),
        F.col("topic"), F.col("partition"), F.col("offset"),
    )
    return parsed.where(F.col("error").isNotNull()).select(
        F.col("error.reason").cast("binary").alias("key"), F.to_json(body).alias("value"))
