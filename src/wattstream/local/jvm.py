"""Java itself and class paths of the jar cache filled by `make jars` from pom.xml (`jars`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..jars import PROFILES, jar_dir, jars, project_root  # noqa: F401 - re-exported
from .procs import StackError


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
