"""The SparkSession of the job and of the batch commands (baseline, score, report): local mode
with the Kafka connector from the jar cache, or whatever spark-submit configured."""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from . import jars
from .config import Config


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
  <pool name="windows">
    <schedulingMode>FIFO</schedulingMode><weight>1</weight><minShare>0</minShare>
  </pool>
</allocations>
"""


def _pools_file() -> str:
    import atexit
    import tempfile

    fd, path = tempfile.mkstemp(prefix="wattstream-pools-", suffix=".xml")
    with os.fdopen(fd, "w") as fh:
        fh.write(_POOLS)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return path


def build(cfg: Config, app_name: str = "wattstream-job", ui: bool = True,
          extra: dict | None = None):
    """Get or create the session. Locally: master from `job.master`, the Kafka connector jars,
    Python workers on this interpreter (so they find pyarrow)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if not under_spark_submit():
        # Local mode binds the driver, its block manager and UI to loopback only.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(local_master(cfg.job.master, cfg.job.task_max_failures))
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.jars", ",".join(str(p) for p in jars.jars("spark-kafka")))
            .config("spark.ui.enabled", str(ui).lower())
            .config("spark.driver.memory", "2g")
        )
    conf = {
        "spark.sql.shuffle.partitions": str(cfg.job.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        # Adaptive execution re-optimizes the whole plan (the parse included) after each
        # stage: on micro-batches of a few thousand readings over 2 shuffle partitions it only
        # adds time. Off in every session, so tests and benches run the job's settings.
        "spark.sql.adaptive.enabled": "false",
        "spark.scheduler.mode": "FAIR",
        # Stage progress bars would garble the live console lines.
        "spark.ui.showConsoleProgress": "false",
        "spark.scheduler.allocation.file": _pools_file(),
        # toPandas through Arrow (the alerts query collects its window updates so).
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Python's json keeps the last of duplicate keys; do the same.
        "spark.sql.variant.allowDuplicateKeys": "true",
        # A Kafka or HDFS timeout in one task is retried inside its batch (local mode takes
        # the count from the master, local[N,F]) before the query fails and restarts.
        "spark.task.maxFailures": str(cfg.job.task_max_failures),
        # Hadoop's client retries a refused connection 10 times a second apart and a timed
        # out one 45 times (15 minutes): a NameNode outage would hang a batch, and the
        # supervisor's probe, that long. A few tries, then the supervisor's backoff.
        "spark.hadoop.ipc.client.connect.max.retries": "3",
        "spark.hadoop.ipc.client.connect.max.retries.on.timeouts": "3",
        "spark.hadoop.ipc.client.connect.timeout": "10000",
        **(extra or {}),
    }
    for k, v in conf.items():
        builder = builder.config(k, v)
    with _jvm_output(None if under_spark_submit() else cfg.job.jvm_log):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    quiet(spark, _QUIET_LOGGERS)
    return spark


def local_master(master: str, task_max_failures: int) -> str:
    """`local[N]` (or `local[*]`, `local`) with its task attempts: `local[N,F]`. Local mode
    tries a task once unless told; other masters take spark.task.maxFailures."""
    m = re.fullmatch(r"local(?:\[([0-9]+|\*)\])?", master.strip())
    if not m:
        return master
    return f"local[{m.group(1) or 1},{task_max_failures}]"


@contextmanager
def _jvm_output(path: str | None):
    """Point this process's stdout and stderr at `path` while the JVM is launched, so the JVM
    (and the Python workers it forks) inherit the file and Python keeps its own streams."""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (log, *saved):
            os.close(fd)


# Warnings that repeat every batch or at every start and say nothing a user can act on here.
_QUIET_LOGGERS = (
    "org.apache.spark.sql.execution.streaming.ProcessingTimeExecutor",
    "org.apache.spark.sql.execution.streaming.runtime.ProcessingTimeExecutor",
    "org.apache.spark.sql.execution.streaming.ResolveWriteToStream",
    "org.apache.spark.sql.execution.streaming.runtime.ResolveWriteToStream",
    "org.apache.spark.sql.execution.streaming.MicroBatchExecution",
    "org.apache.spark.sql.execution.streaming.runtime.MicroBatchExecution",
    "org.apache.spark.sql.execution.streaming.FileStreamSink",
    "org.apache.spark.sql.execution.streaming.sinks.FileStreamSink",
    "org.apache.spark.sql.catalyst.util.SparkStringUtils",
    "org.apache.spark.util.SparkStringUtils",
    # A line a second per client while a broker is away; the supervisor reports the outage.
    "org.apache.kafka.clients.NetworkClient",
)


def quiet(spark, loggers) -> None:
    """Raise these JVM loggers to ERROR."""
    jvm = spark.sparkContext._jvm
    level = jvm.org.apache.logging.log4j.Level.ERROR
    for name in loggers:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, level)


def silence(spark) -> None:
    """Turn the JVM's logging off: for a deliberate stop, whose cancellations log as errors."""
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setAllLevels(
        "", jvm.org.apache.logging.log4j.Level.OFF)
