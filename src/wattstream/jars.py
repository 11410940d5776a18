"""Where the JVM artifacts of pom.xml are: the jar cache `make jars` fills. At the ground, since
both the local stack (the broker, HDFS) and the job (Spark's Kafka connector) need it."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WattstreamError

PROFILES = ("kafka", "spark-kafka", "hdfs")


def project_root() -> Path:
    """The checkout holding pom.xml: $WATTSTREAM_HOME, else the nearest parent of the cwd or of
    this package that has one."""
    if os.environ.get("WATTSTREAM_HOME"):
        return Path(os.environ["WATTSTREAM_HOME"]).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for d in (start, *start.parents):
            if (d / "pom.xml").is_file():
                return d
    return Path.cwd()


def jar_dir(profile: str) -> Path:
    base = Path(os.environ.get("WATTSTREAM_JARS") or project_root() / ".cache" / "jars")
    return base / profile


def jars(profile: str) -> list[Path]:
    d = jar_dir(profile)
    found = sorted(d.glob("*.jar"))
    if not found:
        raise WattstreamError(
            f"no jars in {d}: run `make jars` (fetches the {profile} artifacts of pom.xml "
            "with Maven once)"
        )
    return found


