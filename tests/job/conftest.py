"""One SparkSession for the whole job test session (Spark start-up costs ~10 s on 2 cores)."""

from __future__ import annotations

import pytest

from wattstream import spark as session
from wattstream.config import Config


@pytest.fixture(scope="session")
def spark():
    cfg = Config().replace(job={"shuffle_partitions": 2})
    s = session.build(cfg, app_name="wattstream-tests", ui=False,
                      extra={"spark.sql.streaming.minBatchesToRetain": "5",
                             "spark.default.parallelism": "2"})
    yield s
    s.stop()


@pytest.fixture
def job_cfg(unique_topics, tmp_path):
    """Fresh topics and fresh storage/checkpoints for one test; small windows."""
    return unique_topics.replace(
        storage={"uri": (tmp_path / "warehouse").as_uri(),
                 "checkpoint_uri": (tmp_path / "checkpoints").as_uri()},
        windows={"length_seconds": 300, "watermark_seconds": 120},
        kafka={"partitions": 2},
    )
