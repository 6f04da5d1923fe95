#!/usr/bin/env bash
# Start a local Dask cluster, drizzle a mosaic on it, print the store's summary, stop the cluster.
#
#   deploy/local/run-mosaic.sh                         demo exposures (made if absent) -> mosaic
#   deploy/local/run-mosaic.sh /data/*.fits --kernel lanczos3 --tile 2048
#
# Arguments, when given, are the input files and options of `tiledrizzle mosaic`
# (`--out` and `--scheduler` are set here). The cluster is stopped however this
# script ends: success, a failed mosaic, Ctrl-C or TERM.
#
# Settings (environment), besides those of cluster.sh (WORKERS, THREADS, MEMORY, PORT, ...):
#   TILEDRIZZLE_RUN_DIR  run directory (./tiledrizzle-cluster)
#   STORE                the Zarr store to create or add to ($TILEDRIZZLE_RUN_DIR/mosaic.zarr)
#   EXPOSURES            demo exposures to make when no arguments are given (4)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "${TILEDRIZZLE_RUN_DIR:-./tiledrizzle-cluster}"
TILEDRIZZLE_RUN_DIR=$(cd "${TILEDRIZZLE_RUN_DIR:-./tiledrizzle-cluster}" && pwd)
export TILEDRIZZLE_RUN_DIR
STORE=${STORE:-$TILEDRIZZLE_RUN_DIR/mosaic.zarr}
case "$STORE" in
    /* | *://*) ;;
    *) STORE="$PWD/$STORE" ;;  # workers resolve paths in their own working directory
esac
EXPOSURES=${EXPOSURES:-4}
PYTHON=${PYTHON:-python}

"$here/cluster.sh" start
trap '"$here/cluster.sh" stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ $# -eq 0 ]; then
    inputs="$TILEDRIZZLE_RUN_DIR/inputs"
    "$PYTHON" "$here/../prepare.py" --demo-inputs "$inputs" --exposures "$EXPOSURES"
    set -- "$inputs"/*.fits --tile 256
fi

"$here/cluster.sh" mosaic "$@" --out "$STORE" --no-progress
tiledrizzle info "$STORE"
