"""spark-submit entry file of the job image: runs `wattstream <args>` inside the Spark driver.

The SparkApplication passes `job`, so the driver runs `wattstream job` with the config file named
by $WATTSTREAM_CONFIG; spark-submit has already set the master and the Spark conf.

    spark-submit local:///opt/wattstream/job_main.py job

In a cluster the built-in defaults (a broker on localhost, a local warehouse) are always wrong:
a pod without the chart's config file (e.g. a pod template or mount that did not apply) stops
here with the reason instead of running against them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from wattstream.cli import main


def config_error() -> str | None:
    """Why the mounted config cannot be used, or None."""
    path = os.environ.get("WATTSTREAM_CONFIG")
    if not path:
        return ("WATTSTREAM_CONFIG is not set: the driver pod did not get the chart's pod "
                "template (env and config mount)")
    if not Path(path).is_file():
        return f"WATTSTREAM_CONFIG={path} does not exist: the chart's config map is not mounted"
    return None


if __name__ == "__main__":
    problem = config_error()
    if problem:
        print(f"wattstream job: {problem}; refusing to run on built-in defaults", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:] or ["job"]))
