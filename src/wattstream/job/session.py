"""The SparkSession of the job: local mode with the Kafka connector from the jar cache, or
whatever spark-submit configured."""

from __future__ import annotations

import os
import sys

from ..config import Config


def under_spark_submit() -> bool:
    # spark-submit starts the Python driver with the gateway port of its JVM.
    return "PYSPARK_GATEWAY_PORT" in os.environ


# Fair-scheduler pools, one per query (see sinks._writer): alerts get the larger share so a
# crossing reading is not queued behind window and ingest batches.
_POOLS = """<?xml version="1.0"?>
<allocations>
  <pool name="alerts">
    <schedulingMode>FIFO</schedulingMode><weight>4</weight><minShare>1</minShare>
  </pool>
  <pool name="ingest"><schedulingMode>FIFO</schedulingMode><weight>1</weight></pool>
  <pool name="windows"><schedulingMode>FIFO</schedulingMode><weight>1</weight></pool>
  <pool name="live"><schedulingMode>FIFO</schedulingMode><weight>1</weight></pool>
</allocations>
"""


def _pools_file() -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="wattstream-pools-", suffix=".xml")
    with os.fdopen(fd, "w") as fh:
        fh.write(_POOLS)
    return path


def build(cfg: Config, app_name: str = "wattstream-job", ui: bool = True,
          extra: dict | None = None):
    """Get or create the session. Locally: master from `job.master`, the Kafka connector jars,
    Python workers on this interpreter (so they find pyarrow)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if not under_spark_submit():
        from ..local import jvm

        builder = (
            builder.master(cfg.job.master)
            .config("spark.jars", ",".join(str(p) for p in jvm.jars("spark-kafka")))
            .config("spark.ui.enabled", str(ui).lower())
            .config("spark.driver.memory", "2g")
        )
    conf = {
        "spark.sql.shuffle.partitions": str(cfg.job.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": _pools_file(),
        # Python's json keeps the last of duplicate keys; do the same.
        "spark.sql.variant.allowDuplicateKeys": "true",
        **(extra or {}),
    }
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
