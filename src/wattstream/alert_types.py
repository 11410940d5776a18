"""The alert types, by name: the `type` of every alert on Kafka, in Parquet and in metrics.

The job raises them (`job.alerts`, `job.detect`); the scorer and the report read them.
"""

HIGH = "HIGH_CONSUMPTION"  # a window's energy passed alerts.high_consumption_kwh
PEAK = "PEAK_DEMAND"  # … passed alerts.peak_demand_kwh
ABNORMAL = "ABNORMAL_USAGE"  # closed windows far from the building's baseline model
STUCK = "STUCK_METER"  # the meter repeats one value (data quality)
GAP = "METER_GAP"  # the meter sent nothing (data quality)
TYPES = (HIGH, PEAK, ABNORMAL, STUCK, GAP)
# What `value` and `threshold` measure, where not kWh.
UNITS = {STUCK: "min", GAP: "s"}
