"""The alert types, by name: the `type` of every alert on Kafka, in Parquet and in metrics.

The job raises them (`job.alerts`, `job.detect`); the scorer and the report read them.
"""

HIGH = "HIGH_CONSUMPTION"  # a window's energy passed alerts.high_consumption_kwh
PEAK = "PEAK_DEMAND"  # … passed alerts.peak_demand_kwh
ABNORMAL = "ABNORMAL_USAGE"  # closed windows far from the building's baseline model
STUCK = "STUCK_METER"  # the meter repeats one value (data quality)
GAP = "METER_GAP"  # the meter sent nothing (data quality)
PEAK_AT_RISK = "PEAK_AT_RISK"  # an open billing interval is projected past the month's peak
TYPES = (HIGH, PEAK, ABNORMAL, STUCK, GAP, PEAK_AT_RISK)
# What `value` and `threshold` measure, where not kWh.
UNITS = {STUCK: "min", GAP: "s", PEAK_AT_RISK: "kW"}
