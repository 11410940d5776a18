"""`wattstream` command line: wires the wings (local stack, generator, job) to one config.

Each wing exposes `register(subparsers)` adding its command(s); every command takes `--config`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .config import ConfigError, load_config
from .errors import WattstreamError

# The wings that add commands.
COMMAND_MODULES = (
    "wattstream.local.commands",
    "wattstream.generator.commands",
    "wattstream.job.commands",
    "wattstream.baseline.commands",
    "wattstream.analytics.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wattstream",
        description="Real-time energy analytics for fleets of buildings.",
    )
    parser.add_argument("--config", "-c", metavar="FILE",
                        help="YAML config file (default: $WATTSTREAM_CONFIG, else built-in "
                             "defaults); WATTSTREAM_<SECTION>__<KEY> variables override it")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    config_cmd = sub.add_parser("config", help="print the effective configuration or its reference")
    config_cmd.add_argument("--reference", action="store_true",
                            help="list every key with its type, default and meaning")
    config_cmd.set_defaults(func=_config_command)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _config_command(args, cfg) -> int:
    import yaml

    from .config import describe, to_dict

    if args.reference:
        for key, tp, default, doc in describe():
            print(f"{key:40} {tp:8} {default!r:24} {doc}")
    else:
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        print(_endpoints(cfg))
    return 0


def _endpoints(cfg) -> str:
    """Where the local stack's services answer, as YAML comments after the configuration."""
    from .local import alertmanager, kafka, prometheus
    from .view.collect import metrics_url

    notify = cfg.notify.alertmanager_urls or (
        f"{alertmanager.url(cfg)} under `wattstream local run`" if cfg.local.alertmanager
        else "none")
    rows = [("kafka", kafka.bootstrap(cfg)), ("prometheus", prometheus.url(cfg))]
    if cfg.local.alertmanager:
        rows += [("alertmanager", alertmanager.url(cfg)),
                 ("receiver", alertmanager.receiver_url(cfg))]
    rows += [("job metrics", metrics_url(cfg, cfg.metrics.job_port)),
             ("notifies", notify)]
    return "# local stack (`wattstream local up`):\n" + "\n".join(
        f"#   {k:<13} {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "DEBUG":
        # kafka-python narrates every connection at INFO.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"wattstream: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args, cfg) or 0)
    except WattstreamError as exc:
        print(f"wattstream {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
