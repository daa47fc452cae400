#!/bin/sh
# Every container's entry point in deploy/k8s: empties PROMETHEUS_MULTIPROC_DIR (the samples of
# the processes of an earlier start of this container: prometheus-client's multiprocess mode
# needs a clean directory per start), then execs the command, which becomes the main process.
set -eu
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi
exec "$@"
