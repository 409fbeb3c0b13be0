#!/usr/bin/env bash
# Benchmark (not a test): rows per second through KDA's machine-learning functions, next to a
# pass-through of the same rows, so that the functions' share of a pipeline shows. Writes
# bench/ml-results.md with seconds, rows/s and peak RSS per query.
#
#   bash bench/ml.sh                           # release build (the first one takes about 25 minutes)
#   ROWS=20000 PROFILE=dev bash bench/ml.sh    # a quick run on the debug build
#
# The rows come from the Developer Guide's generators (heart rates, blood pressures, hotspot
# points), made here with a fixed seed; each query writes a JSON-lines file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-200000}"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
    export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$HOME/.cache/rowtime-release-ml}"
else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rowtime-target}"
fi
cargo build --profile "$PROFILE" --bin rowtime
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
bin="$CARGO_TARGET_DIR/$dir/rowtime"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$ROWS" "$work" <<'PY'
import json, random, sys
n, work = int(sys.argv[1]), sys.argv[2]
r = random.Random(7)
with open(f"{work}/heart.jsonl", "w") as f:
    for i in range(n):
        high = r.random() < 0.01
        rate = r.randint(150, 200) if high else r.randint(60, 100)
        f.write(json.dumps({"t": i, "heartRate": rate, "rateType": "HIGH" if high else "NORMAL"}) + "\n")
with open(f"{work}/pressure.jsonl", "w") as f:
    for i in range(n):
        u = r.random()
        if u < 0.005:
            s, d, l = r.randint(50, 80), r.randint(30, 50), "LOW"
        elif u < 0.01:
            s, d, l = r.randint(130, 200), r.randint(90, 150), "HIGH"
        else:
            s, d, l = r.randint(90, 120), r.randint(60, 80), "NORMAL"
        f.write(json.dumps({"t": i, "Systolic": s, "Diastolic": d, "BloodPressureLevel": l}) + "\n")
with open(f"{work}/points.jsonl", "w") as f:
    for i in range(n):
        if i % 1000 == 0:
            sx, sy = r.random() * 9, r.random() * 9
        hot = r.random() < 0.2
        x, y = (sx + r.random(), sy + r.random()) if hot else (r.random() * 10, r.random() * 10)
        f.write(json.dumps({"t": i, "x": x, "y": y, "is_hot": "Y" if hot else "N"}) + "\n")
def schema(columns):
    return {"RecordFormat": {"RecordFormatType": "JSON",
                             "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
            "RecordColumns": [{"Name": n, "SqlType": t, "Mapping": f"$.{n}"} for n, t in columns]}

json.dump(schema([("t", "BIGINT"), ("heartRate", "INTEGER"), ("rateType", "VARCHAR(8)")]), open(f"{work}/heart.json", "w"))
json.dump(schema([("t", "BIGINT"), ("Systolic", "INTEGER"), ("Diastolic", "INTEGER"), ("BloodPressureLevel", "VARCHAR(8)")]), open(f"{work}/pressure.json", "w"))
json.dump(schema([("t", "BIGINT"), ("x", "DOUBLE"), ("y", "DOUBLE"), ("is_hot", "VARCHAR(4)")]), open(f"{work}/points.json", "w"))
PY

out=bench/ml-results.md
{
    echo "# Machine-learning functions: rows per second"
    echo
    echo "$ROWS rows of the Developer Guide's generators (seed 7), ROWTIME from the arrival,"
    echo "output to a JSON-lines file; wall time of the whole run (start-up and JSON included)."
    echo "Profile: $PROFILE. $(date -u +%Y-%m-%d), $(nproc) cores."
    echo
    echo "| query | input | seconds | rows/s | peak RSS (MB) |"
    echo "|---|---|---:|---:|---:|"
} > "$out"

run() { # NAME INPUT SELECT-LIST FROM
    local name="$1" input="$2" select="$3" from="$4"
    cat > "$work/app.sql" <<SQL
CREATE STREAM "DESTINATION_SQL_STREAM" ($select);
CREATE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM * FROM $from;
SQL
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" run "$work/app.sql" --input-schema "$work/$input.json" \
        --input "$work/$input.jsonl" --output DESTINATION_SQL_STREAM="$work/out.jsonl" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r seconds kb < "$work/time"
    rate=$(awk -v n="$ROWS" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    echo "| $name | $input | $seconds | $rate | $((kb / 1024)) |" >> "$out"
}

S='"SOURCE_SQL_STREAM_001"'
run "pass-through (baseline)" heart \
    't BIGINT, "heartRate" INTEGER, "rateType" VARCHAR(8)' "$S"
run "RANDOM_CUT_FOREST, KDA's defaults (100 trees of 256), 1 column" heart \
    '"heartRate" INTEGER, "rateType" VARCHAR(8), ANOMALY_SCORE DOUBLE' \
    "TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM \"heartRate\", \"rateType\" FROM $S)))"
run "RANDOM_CUT_FOREST, 100 trees, 2 columns" pressure \
    '"Systolic" INTEGER, "Diastolic" INTEGER, ANOMALY_SCORE DOUBLE' \
    "TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM \"Systolic\", \"Diastolic\" FROM $S)))"
run "RANDOM_CUT_FOREST, 100 trees, shingle 4 (4 dimensions)" heart \
    '"heartRate" INTEGER, ANOMALY_SCORE DOUBLE' \
    "TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM \"heartRate\" FROM $S), 100, 256, 100000, 4))"
run "RANDOM_CUT_FOREST_WITH_EXPLANATION, 100 trees, 2 columns" pressure \
    '"Systolic" INTEGER, "Diastolic" INTEGER, ANOMALY_SCORE DOUBLE, ANOMALY_EXPLANATION VARCHAR(512)' \
    "TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM \"Systolic\", \"Diastolic\" FROM $S), 100, 256, 100000, 1, true))"
run "HOTSPOTS (1000, 0.2, 17), 2 columns" points \
    '"x" DOUBLE, "y" DOUBLE, HOTSPOTS_RESULT VARCHAR(10000)' \
    "TABLE(HOTSPOTS(CURSOR(SELECT STREAM \"x\", \"y\" FROM $S), 1000, 0.2, 17))"
cat "$out"
