#!/usr/bin/env bash
# Benchmark (not a test): rows/s from a Kinesis-compatible server through the toll billing
# application to a Kinesis output, beside the same run from and to files, on the release build.
# Writes bench/kinesis-results.md.
#
#   bash bench/kinesis.sh                                # 500 K rows, 1 and 4 shards, ministack
#   ROWS=100000 SHARDS=1 REPS=1 bash bench/kinesis.sh    # a quick run
#   SERVER=kinesis-local bash bench/kinesis.sh           # the Kinesis server of the resharding tests
#   ROWTIME=path/to/rowtime bash bench/kinesis.sh        # skip the build
#
# For each shard count: a fresh server on 127.0.0.1, the input stream filled with
# `rowtime generate toll --count ROWS --seed 7` by boto3 (PutRecords of 500, one call at a time),
# then REPS rounds of four runs of `sql/toll_billing.json` in replay mode
# (`--rowtime-from EVENT_TIME`; Kinesis input with `--start-position TRIM_HORIZON --until-latest`):
#   file        file → JSON-lines file                 (the engine alone)
#   source      Kinesis → file                         (the Kinesis source)
#   sink        file → Kinesis (PutRecords)            (the Kinesis destination)
#   kinesis     Kinesis → Kinesis                      (the figure asked for)
# Every Kinesis output is read back by boto3 and must hold the file run's row count, trips and
# amounts (with several shards, its trips and amounts), so a fast wrong answer cannot win. The server's own rates (boto3 writing the input,
# boto3 reading it back) are measured too: they bound what any client gets from that server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-500000}"
SHARDS="${SHARDS:-1,4}"
REPS="${REPS:-3}"
SERVER="${SERVER:-ministack}"
if [ -z "${ROWTIME:-}" ]; then
    export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$HOME/.cache/rowtime-release}"
    cargo build --release --bin rowtime
    ROWTIME="$CARGO_TARGET_DIR/release/rowtime"
fi
bash tests/servers/install.sh
PY="${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}/ministack/bin/python"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
work=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && bash tests/servers/stop.sh "$PID"; rm -rf "$work"; }
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$ROWTIME" generate toll --count "$ROWS" --seed 7 > "$work/in.jsonl"
BYTES=$(stat -c %s "$work/in.jsonl")
results="$work/results.tsv"
: > "$results"

# run NAME SHARDS REP ARGS...: one timed run of the billing application; a line of results.
run() {
    local name=$1 shards=$2 rep=$3
    shift 3
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
        "$ROWTIME" run --app sql/toll_billing.json --rowtime-from EVENT_TIME "$@" 2> "$work/stderr" \
        || { cat "$work/stderr" >&2; exit 1; }
    local rows_out
    rows_out=$(grep -o 'rows out [0-9]*' "$work/stderr" | grep -o '[0-9]*$')
    read -r wall user sys rss < <(tail -n 1 "$work/time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$shards" "$name" "$rep" "$wall" "$user" "$sys" "$rss" "$rows_out" >> "$results"
    echo "$shards shard(s), $name, round $rep: ${wall}s, $rows_out rows out" >&2
}

# check STREAM [sums]: the stream holds what the file run wrote: its rows, trips and amounts, or
# (with several shards, whose interleaving changes the windows) its trips and amounts.
check() {
    "$PY" bench/kinesis_stream.py --endpoint "$AWS_ENDPOINT_URL" totals "$1" --billing > "$work/got.json"
    "$PY" - "$work/got.json" "$work/expected.json" "${2:-all}" <<'EOF'
import json, sys
got, expected = (json.load(open(p)) for p in sys.argv[1:3])
keys = ["trips", "cents"] + (["records"] if sys.argv[3] == "all" else [])
if any(got[k] != expected[k] for k in keys):
    sys.exit(f"the Kinesis output differs from the file run: {got} != {expected}")
EOF
}

IFS=',' read -ra shard_counts <<< "$SHARDS"
for shards in "${shard_counts[@]}"; do
    port=$(free_port)
    PID=$(bash tests/servers/start.sh "$SERVER" "$port")
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    tool() { "$PY" tests/servers/aws_tool.py --endpoint "$AWS_ENDPOINT_URL" "$@" > /dev/null; }
    tool create-stream in --shards "$shards"
    "$PY" bench/kinesis_stream.py --endpoint "$AWS_ENDPOINT_URL" produce in "$work/in.jsonl" > "$work/put.json"
    put_s=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$work/put.json")
    read_s=$("$PY" bench/kinesis_stream.py --endpoint "$AWS_ENDPOINT_URL" totals in |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    printf '%s\tserver-write\t0\t%s\t0\t0\t0\t0\n%s\tserver-read\t0\t%s\t0\t0\t0\t0\n' "$shards" "$put_s" "$shards" "$read_s" >> "$results"
    for rep in $(seq 1 "$REPS"); do
        run file "$shards" "$rep" --input "$work/in.jsonl" --output "DESTINATION_SQL_STREAM=$work/out.jsonl"
        "$PY" - "$work/out.jsonl" "$work/expected.json" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump({"records": len(rows), "trips": sum(r["TRIPS"] for r in rows),
           "cents": sum(round(r["TOTAL_AMOUNT"] * 100) for r in rows)}, open(sys.argv[2], "w"))
EOF
        kinesis_in=(--input kinesis://in --start-position TRIM_HORIZON --until-latest)
        run source "$shards" "$rep" "${kinesis_in[@]}" --output "DESTINATION_SQL_STREAM=$work/source.jsonl"
        tool create-stream "sink-$rep" --shards "$shards"
        run sink "$shards" "$rep" --input "$work/in.jsonl" --output "DESTINATION_SQL_STREAM=kinesis://sink-$rep"
        check "sink-$rep"
        tool create-stream "out-$rep" --shards "$shards"
        run kinesis "$shards" "$rep" "${kinesis_in[@]}" --output "DESTINATION_SQL_STREAM=kinesis://out-$rep"
        # One shard replays exactly as the file does; several change the windows, not the sums.
        check "out-$rep" "$([ "$shards" = 1 ] && echo all || echo sums)"
    done
    bash tests/servers/stop.sh "$PID"
    PID=
done

"$PY" - "$results" "$ROWS" "$BYTES" "$SERVER" "$REPS" "$("$ROWTIME" --version)" > bench/kinesis-results.md <<'EOF'
import statistics, sys, datetime, os, collections
path, rows, size, server, reps, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
runs = collections.defaultdict(list)
for line in open(path):
    shards, name, _, wall, user, sys_, rss, out = line.rstrip("\n").split("\t")
    runs[(int(shards), name)].append((float(wall), float(user) + float(sys_), int(rss) // 1024, int(out)))
labels = {"file": "file → file", "source": "Kinesis → file", "sink": "file → Kinesis",
          "kinesis": "Kinesis → Kinesis", "server-write": "boto3 PutRecords (producer)",
          "server-read": "boto3 GetRecords (reader)"}
print("# Kinesis benchmark: toll billing from and to a Kinesis-compatible server\n")
print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs; `bash bench/kinesis.sh` "
      f"(ROWS={rows}, REPS={reps}, SERVER={server}). `sql/toll_billing.json` in replay mode over {rows:,} "
      f"records of `rowtime generate toll --seed 7` ({size / rows:.0f} bytes each, {size / 1e6:.1f} MB), "
      f"{version}. Each rowtime figure is the median of the rounds; rows/s are input rows over "
      "wall time, start-up included. Every Kinesis output was read back and held the file run's rows, "
      "trips and amounts (with several shards the windows differ, so the Kinesis → Kinesis output is checked for its trips and amounts). "
      "The boto3 lines are the server's rates for one Python client, for scale.\n")
print("| shards | path | wall s | rows/s | CPU s | peak RSS MB | rows out |")
print("|---:|---|---:|---:|---:|---:|---:|")
for (shards, name) in sorted(runs, key=lambda k: (k[0], list(labels).index(k[1]))):
    r = runs[(shards, name)]
    wall = statistics.median(x[0] for x in r)
    cpu = statistics.median(x[1] for x in r)
    rss = statistics.median(x[2] for x in r)
    out = r[0][3]
    if name.startswith("server"):
        print(f"| {shards} | {labels[name]} | {wall:.2f} | {rows / wall:,.0f} | | | |")
    else:
        print(f"| {shards} | {labels[name]} | {wall:.2f} | {rows / wall:,.0f} | {cpu:.2f} | {rss:.0f} | {out:,} |")
EOF
echo "wrote bench/kinesis-results.md" >&2
