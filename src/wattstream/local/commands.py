"""`wattstream local up|down|status|run` and `wattstream watch`: the single-machine stack from
the command line."""

from __future__ import annotations

import contextlib
import importlib.util
import sys

from ..config import Config
from . import stack
from .stack import view_links


def register(sub) -> None:
    local = sub.add_parser("local", help="the single-machine stack (Kafka, HDFS, Prometheus, "
                                         "Alertmanager)")
    lsub = local.add_subparsers(dest="local_command", metavar="ACTION", required=True)

    up = lsub.add_parser("up", help="start Kafka (KRaft), HDFS, Prometheus and Alertmanager "
                                     "on loopback")
    _service_flags(up)
    up.set_defaults(func=_up)

    down = lsub.add_parser("down", help="stop what `local up` started")
    down.set_defaults(func=_down)

    st = lsub.add_parser("status", help="show each local service (exit 1 if one is unhealthy)")
    st.set_defaults(func=_status)

    run = lsub.add_parser("run", help="stack + generator + streaming job in the foreground; "
                                      "Ctrl-C stops all")
    _service_flags(run)
    run.add_argument("--keep-up", action="store_true",
                     help="leave the stack running after Ctrl-C")
    run.add_argument("--plain", action="store_true",
                     help="the services' output lines instead of the live view (the default "
                          "without a terminal)")
    run.add_argument("--no-demo", dest="demo", action="store_false", default=None,
                     help="the generator without its demo mode (local.demo)")
    run.set_defaults(func=_run)
    _register_watch(sub)


def _service_flags(p) -> None:
    p.add_argument("--no-hdfs", dest="hdfs", action="store_false", default=None,
                   help="skip HDFS (local.hdfs)")
    p.add_argument("--no-prometheus", dest="prometheus", action="store_false", default=None,
                   help="skip Prometheus (local.prometheus)")
    p.add_argument("--no-alertmanager", dest="alertmanager", action="store_false",
                   default=None, help="skip Alertmanager and its receiver (local.alertmanager)")


def _up(args, cfg: Config) -> int:
    started = stack.up(cfg, with_hdfs=args.hdfs, with_prometheus=args.prometheus,
                       with_alertmanager=args.alertmanager)
    print(f"started: {', '.join(started) or 'nothing (already running)'}")
    return _status(args, cfg)


def _down(args, cfg: Config) -> int:
    stopped = stack.down(cfg)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _register_watch(subparsers) -> None:
    p = subparsers.add_parser(
        "watch", help="live view of a running pipeline: fleet, alerts, throughput (Ctrl-C quits)",
        description="Reads the job's and the generator's /metrics (metrics.job_port, "
                    "metrics.generator_port) and kafka.alerts_topic. Without a terminal (or "
                    "with --plain) it prints alert lines and a status line instead.")
    p.add_argument("--plain", action="store_true", help="plain lines, no full-screen view")
    p.add_argument("--since", type=float, default=10.0, metavar="MINUTES",
                   help="show alerts of the last MINUTES (default 10)")
    p.set_defaults(func=_watch)


def _watch(args, cfg) -> int:
    import time

    from ..view.collect import Collector
    from ..view.live import interactive, show
    from ..view.plain import watch

    collector = Collector(cfg, time.time() - args.since * 60,
                          services=lambda: stack.running(cfg), links=view_links(cfg))
    # Ctrl-C is how a watch ends: quietly, with the collector closed.
    with contextlib.suppress(KeyboardInterrupt):
        try:
            if args.plain or not interactive():
                watch(collector)
            else:
                show(collector)
        finally:
            collector.close()
    return 0


def _status(args, cfg: Config) -> int:
    rows = stack.status(cfg)
    print(f"{'service':15} {'state':10} {'pid':>8}  endpoint")
    for r in rows:
        print(f"{r.name:15} {r.state:10} {r.pid or '-':>8}  {r.endpoint}")
    return 0 if all(r.healthy for r in rows if r.running) else 1


def _run(args, cfg: Config) -> int:
    from ..view.live import interactive
    from .foreground import run_pipeline

    missing = [w for w in ("generator", "job")
               if importlib.util.find_spec(f"wattstream.{w}.commands") is None]
    # The effective choices, so the view shows the services that were asked for.
    cfg = cfg.replace(local={k: v for k, v in (("hdfs", args.hdfs),
                                               ("prometheus", args.prometheus),
                                               ("alertmanager", args.alertmanager))
                             if v is not None})
    before = stack.alive(cfg)
    # Only what the generator and the job need comes up before them; the rest starts while
    # they do, so the first readings (and alerts) are not kept waiting.
    first_hdfs = cfg.local.hdfs and _on_hdfs(cfg)
    wanted = ", ".join(n for n, on in (("Kafka", True), ("HDFS", first_hdfs)) if on)
    print(f"starting {wanted} (logs in {stack.run_dir(cfg) / 'logs'}) …", flush=True)
    try:
        stack.up(cfg, with_hdfs=first_hdfs, with_prometheus=False, with_alertmanager=False)
        if missing:
            print(f"stack is up; not yet part of wattstream: {', '.join(missing)} — nothing to "
                  "run. `make down` stops the stack.", file=sys.stderr)
            return 1
        demo = args.demo if args.demo is not None else (True if cfg.local.demo else None)
        return run_pipeline(cfg, config_file=getattr(args, "config", None),
                            plain=args.plain or not interactive(), demo=demo,
                            more=lambda: stack.up(cfg))
    finally:
        started = stack.alive(cfg) - before
        if not args.keep_up and started:
            stopped = stack.down(cfg, only=started)
            print(f"stopped: {', '.join(stopped)}")


def _on_hdfs(cfg: Config) -> bool:
    return any(u.startswith("hdfs://") for u in (cfg.storage.uri, cfg.storage.checkpoint_uri,
                                                 cfg.baseline.uri))
