"""Where the JVM pieces are: Java itself and the jar cache filled by `make jars` from pom.xml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .procs import StackError

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
        raise StackError(
            f"no jars in {d}: run `make jars` (fetches the {profile} artifacts of pom.xml "
            "with Maven once)"
        )
    return found


def classpath(profile: str, *extra: Path) -> str:
    return os.pathsep.join(str(p) for p in (*extra, *jars(profile)))


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    exe = Path(home) / "bin" / "java" if home else None
    if exe and exe.is_file():
        return str(exe)
    found = shutil.which("java")
    if not found:
        raise StackError("Java 17+ is required: install a JDK (e.g. `apt-get install "
                         "openjdk-17-jre-headless`) or set JAVA_HOME")
    return found
