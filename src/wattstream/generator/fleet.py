"""Which buildings a replica owns, decided without coordination.

Every replica namespaces its building ids with its own identity: replica `gen-0` simulates
`gen-0-b00000` … `gen-0-b<N-1>`. Distinct identities therefore give disjoint building sets, and the
same identity always gives the same buildings (a restarted StatefulSet pod resumes its own fleet; a
Deployment pod gets a new random name and hence new buildings).

Identity, first found: `--replica-id`, `$POD_NAME`, `$HOSTNAME` inside a Kubernetes pod,
`generator.replica_id` in the config, else `r0`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

from ..errors import WattstreamError

DEFAULT_REPLICA = "r0"
PREFIX_MAX = 40  # leaves room for "-b" and a 5+ digit index within the 64-character id limit
_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")


def replica_identity(explicit: str | None, configured: str,
                     env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if explicit is not None:
        if not explicit.strip():
            raise WattstreamError("--replica-id must not be blank")
        return explicit.strip()
    if env.get("POD_NAME"):
        return env["POD_NAME"]
    if env.get("KUBERNETES_SERVICE_HOST") and env.get("HOSTNAME"):
        return env["HOSTNAME"]
    return configured or DEFAULT_REPLICA


def id_prefix(replica: str) -> str:
    """A building-id prefix for a replica; names that had to be altered or shortened get a hash
    of the original so two different identities never share a prefix."""
    clean = _ALLOWED.sub("-", replica)
    if clean == replica and len(clean) <= PREFIX_MAX:
        return clean
    digest = hashlib.sha1(replica.encode()).hexdigest()[:8]
    return f"{clean[:PREFIX_MAX - 9]}-{digest}"


def building_ids(replica: str, count: int) -> list[str]:
    if count < 1:
        raise WattstreamError(f"--buildings must be >= 1, got {count}")
    prefix = id_prefix(replica)
    return [f"{prefix}-b{i:05d}" for i in range(count)]
