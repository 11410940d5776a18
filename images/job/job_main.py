"""spark-submit entry file of the job image: runs `wattstream <args>` inside the Spark driver.

The SparkApplication passes `job`, so the driver runs `wattstream job` with the config file named
by $WATTSTREAM_CONFIG; spark-submit has already set the master and the Spark conf.

    spark-submit local:///opt/wattstream/job_main.py job
"""

from __future__ import annotations

import sys

from wattstream.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["job"]))
