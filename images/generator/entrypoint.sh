#!/bin/sh
# Entrypoint of the generator image: `wattstream <args>` (default `generate`) as PID 1's child
# replaced by exec, so SIGTERM from Kubernetes reaches the producer and it flushes cleanly.
# The config file comes from $WATTSTREAM_CONFIG (the chart mounts it); the replica identity from
# $WATTSTREAM_GENERATOR__REPLICA_ID (the pod name).
set -eu

if [ "$#" -eq 0 ]; then
  set -- generate
fi
if [ -n "${WATTSTREAM_CONFIG:-}" ] && [ ! -r "$WATTSTREAM_CONFIG" ]; then
  echo "entrypoint: WATTSTREAM_CONFIG=$WATTSTREAM_CONFIG is not a readable file" >&2
  exit 2
fi
exec "${WATTSTREAM_BIN:-wattstream}" "$@"
