"""Write charts/wattstream/files/alert-types.yaml from the one registry of alert types
(`wattstream.alert_types`), which the chart's PrometheusRule ranges over.

    python charts/wattstream/gen_alert_types.py          # rewrite the file
    python charts/wattstream/gen_alert_types.py --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from wattstream.alert_types import chart_table

OUT = Path(__file__).resolve().parent / "files" / "alert-types.yaml"
HEADER = ("# Generated from src/wattstream/alert_types.py by `make chart-docs`; do not edit.\n"
          "# The energy alerts of the PrometheusRule (templates/monitoring/prometheusrule.yaml).\n")


def render() -> str:
    return HEADER + yaml.safe_dump({"types": chart_table()}, sort_keys=False, width=200,
                                   allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    wanted = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != wanted:
            print(f"{OUT} is stale: run `make chart-docs`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
