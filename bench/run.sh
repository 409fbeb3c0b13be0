#!/usr/bin/env bash
# rowtime's benchmark suite: one command.
#
#   bash bench/run.sh                       # 100 K, 1 M and 2 M rows; rowtime, DataFusion, Flink
#   SIZES=100000 ENGINES=rowtime,datafusion bash bench/run.sh      # a quick run without Flink
#   SIZES=1000000,10000000 ENGINES=rowtime QUERIES=billing FORMATS=json MERGE=1 bash bench/run.sh
#
# MERGE=1 keeps the results of earlier runs that this one does not redo; FLINK_QUERIES limits the
# queries Flink runs (each Flink run takes half a minute or more, mostly JVM and cluster start).
#
# Builds the release binaries (rowtime and the DataFusion batch peer), installs Apache Flink
# into a virtual environment (bench/peers/setup_flink.sh) when ENGINES includes flink, generates
# the workloads with `rowtime generate` (cached under ~/.cache/rowtime-bench/data), runs every
# query through every engine REPS times and writes bench/results.json and bench/results.md;
# then measures live latency (bench/latency.py → bench/latency.json) unless LATENCY=0.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$HOME/.cache/rowtime-release}"
SIZES="${SIZES:-100000,1000000,2000000}"
ENGINES="${ENGINES:-rowtime,datafusion,flink}"
QUERIES="${QUERIES:-billing,alerts,passthrough,enrich,bids_q1,bids_sliding}"
FORMATS="${FORMATS:-json,csv}"
REPS="${REPS:-3}"
FLINK_QUERIES="${FLINK_QUERIES:-$QUERIES}"

cargo build --release --bin rowtime --example datafusion_batch
ROWTIME="$CARGO_TARGET_DIR/release/rowtime"
DATAFUSION="$CARGO_TARGET_DIR/release/examples/datafusion_batch"

FLINK_ARGS=()
if [[ ",$ENGINES," == *",flink,"* ]]; then
    FLINK_PYTHON="$(bash bench/peers/setup_flink.sh | tail -n 1)"
    FLINK_ARGS=(--flink-python "$FLINK_PYTHON")
fi

python3 bench/bench.py --rowtime "$ROWTIME" --datafusion "$DATAFUSION" "${FLINK_ARGS[@]}" \
    --sizes "$SIZES" --engines "$ENGINES" --queries "$QUERIES" --formats "$FORMATS" --reps "$REPS" \
    --flink-queries "$FLINK_QUERIES" ${MERGE:+--merge}

if [[ "${LATENCY:-1}" != 0 ]]; then
    python3 bench/latency.py --rowtime "$ROWTIME"
fi
