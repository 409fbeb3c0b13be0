#!/usr/bin/env bash
# Benchmark (not a test): the per-row cost of a sliding-window AVG as the window grows from one
# minute to one day. Writes bench/sliding-results.md with rows/s, seconds and peak RSS per window.
#
#   bash bench/sliding.sh            # release build (the first one takes about 30 minutes)
#   ROWS=200000 PROFILE=dev bash bench/sliding.sh   # a quick run on the debug build
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-1000000}"
PROFILE="${PROFILE:-release}"
# The release build shares bench/run.sh's target directory; the debug build the tests'.
if [ "$PROFILE" = release ]; then
    export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$HOME/.cache/rowtime-release}"
else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rowtime-target}"
fi
cargo build --profile "$PROFILE" --bin rowtime
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
bin="$CARGO_TARGET_DIR/$dir/rowtime"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate toll --count "$ROWS" --seed 7 > "$work/in.jsonl"
out=bench/sliding-results.md
{
    echo "# Sliding-window AVG: cost per row as the window grows"
    echo
    echo "\`AVG(AMOUNT) OVER (PARTITION BY ACCOUNT_ID RANGE INTERVAL … PRECEDING)\` over $ROWS toll"
    echo "transactions (\`rowtime generate toll --seed 7\`, about 17,000 a day over 5,000 accounts),"
    echo "replay mode, output to a JSON-lines file. Profile: $PROFILE. $(date -u +%Y-%m-%d), $(nproc) cores."
    echo
    echo "| window | seconds | rows/s | peak RSS (MB) |"
    echo "|---|---:|---:|---:|"
} > "$out"
for window in "'1' MINUTE" "'10' MINUTE" "'1' HOUR" "'6' HOUR" "'1' DAY"; do
    cat > "$work/app.sql" <<SQL
CREATE STREAM "DESTINATION_SQL_STREAM" (ACCOUNT_ID VARCHAR(16), AMOUNT DECIMAL(8,2), AVG_AMOUNT DOUBLE);
CREATE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM ACCOUNT_ID, AMOUNT,
       AVG(AMOUNT) OVER (PARTITION BY ACCOUNT_ID RANGE INTERVAL $window PRECEDING)
FROM "SOURCE_SQL_STREAM_001";
SQL
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" run "$work/app.sql" --input-schema sql/toll_input_schema.json \
        --input "$work/in.jsonl" --rowtime-from EVENT_TIME --output DESTINATION_SQL_STREAM="$work/out.jsonl" 2>/dev/null
    read -r seconds kb < "$work/time"
    rate=$(awk -v n="$ROWS" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    echo "| INTERVAL $window | $seconds | $rate | $((kb / 1024)) |" >> "$out"
done
cat "$out"
