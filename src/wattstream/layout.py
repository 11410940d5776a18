"""Where the job's data lives, defined once for the writers (the job's sinks) and the readers
(the batch side, the baseline fit): `<storage.uri>/<name>` for windows, alerts, baselines and
reports, `<storage.checkpoint_uri>/<name>` for the queries' checkpoints and engine state."""

from __future__ import annotations

from .config import Config, resolve_uri


def data(cfg: Config, name: str) -> str:
    """The folder of `name` (windows, alerts, baseline, reports) under `storage.uri`."""
    return resolve_uri(cfg.storage.uri).rstrip("/") + "/" + name


def checkpoint(cfg: Config, name: str) -> str:
    """The folder of `name` under `storage.checkpoint_uri` ('' for the root)."""
    return resolve_uri(cfg.storage.checkpoint_uri).rstrip("/") + "/" + name
