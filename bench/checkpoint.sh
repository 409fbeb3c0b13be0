#!/usr/bin/env bash
# What checkpoints cost, on the release build: writes bench/checkpoint-results.md.
#
#   bash bench/checkpoint.sh                 # 10 M rows, 3 alternating runs of each
#   ROWS=2000000 REPS=5 bash bench/checkpoint.sh
#   ROWTIME=~/.cache/rowtime-release/release/rowtime bash bench/checkpoint.sh   # no build
#
# 1. Billing over ROWS generated toll rows (JSON, replay by EVENT_TIME, output to a file) without
#    --state-dir, with --state-dir at a 1 s interval, and at a 100 ms interval: medians of REPS
#    alternating runs.
# 2. A checkpoint of 1 M open groups (a 100-day tumbling window grouped by account and event time
#    over 1 M rows, read with --follow and stopped with SIGTERM): its size, and how long a run
#    takes to read it and restore the state (the "restored in" figure rowtime prints).
# 3. Peak RSS of billing over 10 M offered rows with its output read at 1,000 rows/s for 20 s
#    (backpressure: the reader waits instead of memory growing).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$HOME/.cache/rowtime-release}"
ROWS="${ROWS:-10000000}"
REPS="${REPS:-3}"
# ROWTIME=path/to/rowtime uses that binary instead of building one.
if [[ -z "${ROWTIME:-}" ]]; then
    cargo build --release --bin rowtime
fi
BIN="${ROWTIME:-$CARGO_TARGET_DIR/release/rowtime}"
WORK="$(mktemp -d /tmp/rowtime-bench-checkpoint.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
DATA="$HOME/.cache/rowtime-bench/data"
mkdir -p "$DATA"
INPUT="$DATA/toll-$ROWS.jsonl"
[[ -s "$INPUT" ]] || "$BIN" generate toll --count "$ROWS" --seed 7 > "$INPUT"

billing() { # extra args...
    rm -rf "$WORK/state" "$WORK/out.jsonl"
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN" run --app sql/toll_billing.json --input "$INPUT" --rowtime-from EVENT_TIME \
        --output DESTINATION_SQL_STREAM="$WORK/out.jsonl" "$@" 2>/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$WORK/none"; : > "$WORK/1s"; : > "$WORK/100ms"
for _ in $(seq "$REPS"); do
    billing >> "$WORK/none"
    billing --state-dir "$WORK/state" --checkpoint-interval 1s >> "$WORK/1s"
    billing --state-dir "$WORK/state" --checkpoint-interval 100ms >> "$WORK/100ms"
done
NONE=$(median < "$WORK/none"); S1=$(median < "$WORK/1s"); S100=$(median < "$WORK/100ms")
rate() { printf '%.2f' "$(echo "scale=4; $ROWS / $1 / 1000000" | bc)"; }
pct() { printf '%+.1f' "$(echo "scale=4; ($1 - $NONE) * 100 / $NONE" | bc)"; }
secs() { printf '%.2f' "$1"; }

# 1 M open groups.
GROUPS_INPUT="$DATA/toll-1000000.jsonl"
[[ -s "$GROUPS_INPUT" ]] || "$BIN" generate toll --count 1000000 --seed 7 > "$GROUPS_INPUT"
SIZE=$(stat -c %s "$GROUPS_INPUT")
rm -rf "$WORK/gstate"
groups_run() { # first|resume
    "$BIN" run bench/apps/open_groups.sql --input-schema sql/toll_input_schema.json \
        --input "$GROUPS_INPUT" --follow --rowtime-from EVENT_TIME \
        --output DESTINATION_SQL_STREAM="$WORK/groups.jsonl" --state-dir "$WORK/gstate" \
        --checkpoint-interval 1h 2>"$WORK/groups.err" &
    local pid=$! read=0
    # The first run: wait until the whole file has been read and processed. The resumed one
    # starts at the end of the file: wait until it says it has restored the state.
    while true; do
        sleep 0.2
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench/checkpoint.sh: the open-groups run ended early:" >&2
            cat "$WORK/groups.err" >&2
            exit 1
        fi
        if [[ "$1" == first ]]; then
            read=$(awk '/^rchar/ {print $2}' "/proc/$pid/io")
            (( read >= SIZE )) && break
        else
            grep -q "restored in" "$WORK/groups.err" && break
        fi
    done
    [[ "$1" == first ]] && sleep 2
    local t0 t1
    t0=$(date +%s.%N)
    kill -TERM "$pid"
    wait "$pid"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
STOP=$(groups_run first)
CKPT=$(ls "$WORK"/gstate/checkpoint-* | tail -n 1)
CKPT_MB=$(echo "scale=1; $(stat -c %s "$CKPT") / 1048576" | bc)
groups_run resume > /dev/null
RESTORED=$(grep -o 'restored in [0-9]* ms' "$WORK/groups.err" | grep -o '[0-9]*')

# Backpressure.
"$BIN" generate toll --count 10000000 --seed 11 2>/dev/null \
    | "$BIN" run --app sql/toll_billing.json --input - --rowtime-from EVENT_TIME \
        --output DESTINATION_SQL_STREAM=- 2>/dev/null \
    | python3 -c '
import sys, time
start = time.time(); n = 0
for line in sys.stdin.buffer:
    n += 1
    ahead = n / 1000 - (time.time() - start)
    if ahead > 0: time.sleep(ahead)
    if time.time() - start > 20: break
' &
sleep 1
RUN_PID=$(pgrep -n -f "rowtime run --app sql/toll_billing.json --input -")
PEAK=0
for _ in $(seq 19); do
    sleep 1
    HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$RUN_PID/status" 2>/dev/null || echo 0)
    (( HWM > PEAK )) && PEAK=$HWM
done
wait || true

cat > bench/checkpoint-results.md <<EOF
# Checkpoint cost

\`bash bench/checkpoint.sh\` on $(date -u +%Y-%m-%d), release build, $(nproc) cores (load average $(cut -d' ' -f1 /proc/loadavg) at the end); medians of $REPS alternating runs.

| billing, $ROWS JSON rows | time | rows/s | vs no checkpoints |
|---|---|---|---|
| no --state-dir | $(secs "$NONE") s | $(rate "$NONE") M | |
| --state-dir, 1 s interval | $(secs "$S1") s | $(rate "$S1") M | $(pct "$S1") % |
| --state-dir, 100 ms interval | $(secs "$S100") s | $(rate "$S100") M | $(pct "$S100") % |

| 1 M open groups (bench/apps/open_groups.sql) | |
|---|---|
| checkpoint size | ${CKPT_MB} MB |
| SIGTERM to exit (deliver, last checkpoint) | $(secs "$STOP") s |
| read and restore on start | ${RESTORED} ms |

| backpressure: billing over 10 M offered rows, output read at 1,000 rows/s for 20 s | |
|---|---|
| peak RSS | $((PEAK / 1024)) MB |
EOF
cat bench/checkpoint-results.md
