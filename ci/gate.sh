#!/usr/bin/env bash
# The upgrade gate on this machine: what ci/upgrade-gate.yml does on GitHub Actions, step for step (the
# workflow's jobs call this script's steps, so both run the same commands).
#
#   ci/gate.sh FRAMEWORK OLD NEW           every step below, in order, shards one after the other
#   ci/gate.sh envs FRAMEWORK OLD NEW      a worker environment per version (convt-oracle env)
#   ci/gate.sh shard K                     shard K of $SHARDS of both runs (after envs)
#   ci/gate.sh merge                       each run's shards into one report (convt-oracle merge)
#   ci/gate.sh gate                        the gate: baseline OLD, candidate NEW (convt-oracle gate)
#
# FRAMEWORK is a framework convt-oracle env knows (torch, onnxruntime, jax, tensorflow, keras); the runs use
# the adapter named by $ADAPTER, by default the first that `convt-oracle env` prints (for keras, the one of
# $BACKEND). Settings, from the environment:
#   GATE_DIR      where environments, shards and reports go (default: gate-out)
#   SUITE         the suite of both runs (default: default); DTYPES (default: float32); SHARDS (default: 2);
#                 GRAD=1 checks the vector-Jacobian products too
#   BACKEND       Keras's backend in its environments (default: convt-oracle env's)
#   OLD_PYTHON, NEW_PYTHON   existing interpreters to gate instead of new environments (envs then only
#                 records them)
#   CONVT_ORACLE  the convt-oracle command (default: convt-oracle)
# Exit status: the gate's (0 no regression, 1 regressions, 2 usage, 3 unreadable or incompatible reports),
# or the status of the step that failed.
set -euo pipefail

GATE_DIR=${GATE_DIR:-gate-out}
SUITE=${SUITE:-default}
DTYPES=${DTYPES:-float32}
SHARDS=${SHARDS:-2}
GRAD=${GRAD:-}
BACKEND=${BACKEND:-}
read -r -a CONVT_ORACLE <<< "${CONVT_ORACLE:-convt-oracle}"

usage() {
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# envs FRAMEWORK OLD NEW: $GATE_DIR/{old,new}.target hold the target (NAME@PYTHON) of each version.
envs() {
    [ $# -eq 3 ] || usage
    local framework=$1 old=$2 new=$3 side version python found backend
    mkdir -p "$GATE_DIR"
    for side in old new; do
        version=$old; python=${OLD_PYTHON:-}
        if [ "$side" = new ]; then version=$new; python=${NEW_PYTHON:-}; fi
        if [ -n "$python" ]; then
            found="${ADAPTER:-$framework}@$python"
        else
            backend=()
            if [ "$framework" = keras ] && [ -n "$BACKEND" ]; then backend=(--backend "$BACKEND"); fi
            "${CONVT_ORACLE[@]}" env "$GATE_DIR/env-$side" "$framework==$version" "${backend[@]}" \
                | tee "$GATE_DIR/env-$side.txt"
            found=$(grep -E "^${ADAPTER:-[a-z_-]+}@" "$GATE_DIR/env-$side.txt" | head -n 1)
            [ -n "$found" ] || { echo "ci/gate.sh: convt-oracle env printed no target ${ADAPTER:+for $ADAPTER}" >&2; exit 3; }
        fi
        echo "$found" > "$GATE_DIR/$side.target"
        echo "$side: $found"
    done
}

# shard K: both runs' shard K of $SHARDS. A run that finds discrepancies (1) or compares nothing (5) has
# still written its report: the gate judges it.
shard() {
    [ $# -eq 1 ] || usage
    local side status
    mkdir -p "$GATE_DIR/parts"
    for side in old new; do
        status=0
        "${CONVT_ORACLE[@]}" run --suite "$SUITE" --dtypes "$DTYPES" --targets "$(cat "$GATE_DIR/$side.target")" \
            ${GRAD:+--grad} --shard "$1/$SHARDS" --json "$GATE_DIR/parts/$side-$1.json" || status=$?
        case $status in 0|1|5) ;; *) exit "$status" ;; esac
    done
}

# merge: each run's report from its shards; like a run, a merge that finds discrepancies (1) or compares
# nothing (5) has written its report.
merge() {
    local side status
    for side in old new; do
        status=0
        "${CONVT_ORACLE[@]}" merge "$GATE_DIR"/parts/"$side"-*.json -o "$GATE_DIR/$side.json" || status=$?
        case $status in 0|1|5) ;; *) exit "$status" ;; esac
    done
}

gate() {
    "${CONVT_ORACLE[@]}" gate "$GATE_DIR/old.json" "$GATE_DIR/new.json" --json "$GATE_DIR/gate.json" \
        --junit "$GATE_DIR/gate.xml" --markdown "$GATE_DIR/gate.md" --html "$GATE_DIR/gate.html"
}

case ${1:-} in
    envs) shift; envs "$@" ;;
    shard) shift; shard "$@" ;;
    merge) shift; [ $# -eq 0 ] || usage; merge ;;
    gate) shift; [ $# -eq 0 ] || usage; gate ;;
    ""|-h|--help) usage ;;
    *)
        [ $# -eq 3 ] || usage
        envs "$@"
        for k in $(seq 1 "$SHARDS"); do shard "$k"; done
        merge
        gate
        ;;
esac
