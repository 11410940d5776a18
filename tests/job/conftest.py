"""Fresh topics and storage per job test (the session's SparkSession is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def job_cfg(unique_topics, tmp_path):
    """Fresh topics and fresh storage/checkpoints for one test; small windows."""
    return unique_topics.replace(
        storage={"uri": (tmp_path / "warehouse").as_uri(),
                 "checkpoint_uri": (tmp_path / "checkpoints").as_uri()},
        windows={"length_seconds": 300, "watermark_seconds": 120},
        kafka={"partitions": 2},
    )
