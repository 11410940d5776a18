"""Print wattstream's runtime dependencies from pyproject.toml, one pinned requirement a line,
leaving out the ones an image already has (e.g. pyspark, which the Spark image ships).

    python images/requirements.py --exclude pyspark > requirements.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, exclude: set[str]) -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    name = re.compile(r"^[A-Za-z0-9._-]+")
    return [d for d in deps if name.match(d).group(0).lower() not in exclude]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    print("\n".join(requirements(args.pyproject, {e.lower() for e in args.exclude})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
