#!/usr/bin/env bash
# A Dask cluster on this machine: one `dask scheduler` and N `dask worker` processes.
#
#   deploy/local/cluster.sh start            start them, wait until every worker has joined
#   deploy/local/cluster.sh status           which of them run
#   deploy/local/cluster.sh address          the scheduler's address (tcp://HOST:PORT)
#   deploy/local/cluster.sh mosaic ARGS...   tiledrizzle mosaic ARGS... --scheduler ADDRESS
#   deploy/local/cluster.sh demo ARGS...     tiledrizzle demo ARGS... --scheduler ADDRESS
#   deploy/local/cluster.sh stop             stop the workers, then the scheduler
#
# Settings (environment):
#   TILEDRIZZLE_RUN_DIR  run directory: pid files, scheduler file, logs (./tiledrizzle-cluster)
#   WORKERS              worker processes (2)
#   THREADS              threads per worker (1)
#   MEMORY               memory limit per worker, e.g. 4GiB (auto: RAM x threads / cores)
#   HOST                 address to listen on (127.0.0.1)
#   PORT                 scheduler port (8786; 0: any free port)
#   DASHBOARD            dashboard port (8787; 0: any free port)
#   START_TIMEOUT        seconds to wait for the scheduler and the workers (60)
#
# Workers read the input files and write the store by the paths the job gives:
# give absolute paths (`run-mosaic.sh` does).
set -euo pipefail

RUN_DIR=${TILEDRIZZLE_RUN_DIR:-./tiledrizzle-cluster}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-1}
MEMORY=${MEMORY:-auto}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8786}
DASHBOARD=${DASHBOARD:-8787}
START_TIMEOUT=${START_TIMEOUT:-60}
PYTHON=${PYTHON:-python}

die() { echo "cluster.sh: error: $*" >&2; exit 1; }

# A pid recorded in the run directory that still runs a dask process (a reused pid is not ours).
is_ours() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" 2>/dev/null | grep -q dask
}

# The pid and every descendant of it (a worker's nanny starts the worker process).
with_descendants() {
    local pid=$1 child
    echo "$pid"
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do
        with_descendants "$child"
    done
}

pid_files() {
    # workers first: they are stopped before the scheduler
    ls "$RUN_DIR"/worker-*.pid 2>/dev/null || true
    [ -e "$RUN_DIR/scheduler.pid" ] && echo "$RUN_DIR/scheduler.pid"
    return 0
}

address() {
    [ -s "$RUN_DIR/scheduler.json" ] || die "no scheduler file in $RUN_DIR (not started?)"
    "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' \
        "$RUN_DIR/scheduler.json"
}

dashboard() {
    "$PYTHON" -c '
import json, sys
info = json.load(open(sys.argv[1]))
port = info.get("services", {}).get("dashboard")
print(f"http://{sys.argv[2]}:{port}/status" if port else "none")' "$RUN_DIR/scheduler.json" "$HOST"
}

# Send TERM to the processes of some pid files, wait, then KILL what is left.
stop_pids() {
    local grace=$1; shift
    local f pid pids="" deadline left
    for f in "$@"; do
        pid=$(cat "$f" 2>/dev/null || true)
        is_ours "$pid" || continue
        pids="$pids $(with_descendants "$pid" | tr '\n' ' ')"
        kill -TERM "$pid" 2>/dev/null || true
    done
    [ -n "${pids// /}" ] || return 0
    deadline=$((SECONDS + grace))
    while [ "$SECONDS" -lt "$deadline" ]; do
        left=""
        for pid in $pids; do
            kill -0 "$pid" 2>/dev/null && left="$left $pid"
        done
        [ -z "$left" ] && return 0
        sleep 0.2
    done
    for pid in $left; do
        echo "cluster.sh: process $pid did not stop in ${grace} s: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    done
}

stop() {
    [ -d "$RUN_DIR" ] || return 0
    local workers
    workers=$(ls "$RUN_DIR"/worker-*.pid 2>/dev/null || true)
    # shellcheck disable=SC2086  # one pid file per word
    [ -z "$workers" ] || stop_pids 30 $workers
    [ ! -e "$RUN_DIR/scheduler.pid" ] || stop_pids 15 "$RUN_DIR/scheduler.pid"
    rm -f "$RUN_DIR/scheduler.json"
    echo "cluster.sh: stopped (logs in $RUN_DIR/logs)"
}

status() {
    local f pid n=0
    for f in $(pid_files); do
        pid=$(cat "$f")
        if is_ours "$pid"; then
            echo "$(basename "$f" .pid): running, pid $pid"
            n=$((n + 1))
        else
            echo "$(basename "$f" .pid): not running"
        fi
    done
    [ "$n" -gt 0 ] && echo "scheduler: $(address), dashboard: $(dashboard)"
    [ "$n" -gt 0 ]
}

start_failed() {
    echo "cluster.sh: start failed; stopping what was started (logs in $RUN_DIR/logs)" >&2
    tail -n 5 "$RUN_DIR"/logs/*.log >&2 2>/dev/null || true
    stop >/dev/null
}

start() {
    local f addr k
    for f in $(pid_files); do
        is_ours "$(cat "$f")" && die "a cluster of $RUN_DIR runs already (stop it first)"
    done
    mkdir -p "$RUN_DIR/logs"
    rm -f "$RUN_DIR"/*.pid "$RUN_DIR/scheduler.json" "$RUN_DIR/pids"
    trap start_failed EXIT

    nohup dask scheduler --host "$HOST" --port "$PORT" \
        --dashboard-address "$HOST:$DASHBOARD" \
        --scheduler-file "$RUN_DIR/scheduler.json" \
        >"$RUN_DIR/logs/scheduler.log" 2>&1 &
    echo $! >"$RUN_DIR/scheduler.pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until [ -s "$RUN_DIR/scheduler.json" ]; do
        is_ours "$(cat "$RUN_DIR/scheduler.pid")" || die "the scheduler exited"
        [ "$SECONDS" -lt "$deadline" ] || die "the scheduler did not start in $START_TIMEOUT s"
        sleep 0.2
    done
    addr=$(address)

    for k in $(seq 1 "$WORKERS"); do
        mkdir -p "$RUN_DIR/workers/worker-$k"
        nohup dask worker "$addr" --name "local-worker-$k" --host "$HOST" \
            --nthreads "$THREADS" --memory-limit "$MEMORY" --no-dashboard \
            --local-directory "$RUN_DIR/workers/worker-$k" \
            >"$RUN_DIR/logs/worker-$k.log" 2>&1 &
        echo $! >"$RUN_DIR/worker-$k.pid"
    done
    "$PYTHON" "$(dirname "$0")/../prepare.py" --scheduler "$addr" --workers "$WORKERS" \
        --timeout "$START_TIMEOUT" >/dev/null || die "the workers did not all join"

    # Every process of this cluster (for checks that none is left after stop).
    for f in $(pid_files); do
        with_descendants "$(cat "$f")"
    done >"$RUN_DIR/pids"
    trap - EXIT
    echo "cluster.sh: scheduler $addr, $WORKERS workers, dashboard $(dashboard)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    address) address ;;
    mosaic) exec tiledrizzle mosaic "$@" --scheduler "$(address)" ;;
    demo) exec tiledrizzle demo "$@" --scheduler "$(address)" ;;
    *)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
        exit 2
        ;;
esac
