#!/usr/bin/env bash
# The toll-road architecture of the KDA documentation on a laptop: toll transactions in a Kinesis
# data stream, billing totals out through a Firehose delivery stream into S3, booth alerts out to
# a Lambda function, booth thresholds in S3 — all served by ministack, a local AWS-compatible
# server, on 127.0.0.1. rowtime runs the two shipped KDA definitions, sql/toll_billing_cloud.json
# and sql/toll_booth_alerts_cloud.json, unmodified.
#
#   examples/toll-architecture.sh
#
# What it does: installs ministack (a Python venv under ~/.cache/rowtime-servers, once) and
# starts it; creates the stream toll-transactions, the buckets toll-billing, toll-errors and
# toll-reference, the delivery streams toll-billing (and two for error_stream), the Lambda
# function toll-booth-alerts (examples/toll_alert_handler.py); uploads the thresholds; puts the
# 2,000 sample transactions (sql/data/toll_transactions.jsonl) with boto3; runs both applications
# with --connect --start-position TRIM_HORIZON --until-latest --rowtime-from EVENT_TIME; shows
# what arrived in S3 and what the Lambda received; stops the server, also on failure or Ctrl-C.
#
# Settings (environment):
#   ROWTIME  the rowtime binary (default: build it with `cargo build --release`)
#   PORT     ministack's port on 127.0.0.1 (default 4566)
#   WORK     a folder for the run's files (default: a new temporary folder)
# Needs: bash and python3 (3.9 or later); cargo only when ROWTIME is not given.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVERS="$ROOT/tests/servers"
PORT="${PORT:-4566}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rowtime-toll.XXXXXX")}"
mkdir -p "$WORK"
INSTALL="${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}"
PY="$INSTALL/ministack/bin/python"

say() { printf '\n== %s\n' "$*"; }

if [ -z "${ROWTIME:-}" ]; then
    say "building rowtime (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet --bin rowtime)
    ROWTIME="${CARGO_TARGET_DIR:-$ROOT/target}/release/rowtime"
fi

say "installing and starting ministack on 127.0.0.1:$PORT"
bash "$SERVERS/install.sh"
PID="$(bash "$SERVERS/start.sh" ministack "$PORT")"
stop() { bash "$SERVERS/stop.sh" "$PID"; echo "ministack (pid $PID) stopped"; }
trap stop EXIT
echo "ministack started (pid $PID)"

# The AWS SDK's standard configuration: every service at the local server, test credentials,
# no probing of the EC2 metadata address. Nothing rowtime-specific.
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
aws() { "$PY" "$SERVERS/aws_tool.py" --endpoint "$AWS_ENDPOINT_URL" "$@" >/dev/null; }
ALERTS="$WORK/alerts-received.jsonl"
: >"$ALERTS"

say "creating the resources"
aws create-stream toll-transactions --shards 1
echo "Kinesis stream   toll-transactions (1 shard)"
for bucket in toll-billing toll-errors toll-reference; do aws create-bucket "$bucket"; done
echo "S3 buckets       toll-billing, toll-errors, toll-reference"
aws create-delivery-stream toll-billing --bucket toll-billing --prefix billing/
aws create-delivery-stream toll-billing-errors --bucket toll-errors --prefix billing/
aws create-delivery-stream toll-booth-alerts-errors --bucket toll-errors --prefix alerts/
echo "Firehose         toll-billing -> s3://toll-billing/billing/ (and error_stream -> s3://toll-errors/)"
aws create-function toll-booth-alerts "$ROOT/examples/toll_alert_handler.py" --env "ALERTS_FILE=$ALERTS"
echo "Lambda           toll-booth-alerts (examples/toll_alert_handler.py)"
aws put-object toll-reference booth_thresholds.csv "$ROOT/reference-data/toll-reference/booth_thresholds.csv"
echo "thresholds       s3://toll-reference/booth_thresholds.csv"

say "producing the sample transactions with boto3"
aws put-records toll-transactions "$ROOT/sql/data/toll_transactions.jsonl"
echo "$(grep -c . "$ROOT/sql/data/toll_transactions.jsonl") records put into toll-transactions"

for app in toll_billing_cloud toll_booth_alerts_cloud; do
    say "rowtime run --app sql/$app.json --connect --start-position TRIM_HORIZON --until-latest --rowtime-from EVENT_TIME"
    (cd "$ROOT" && "$ROWTIME" run --app "sql/$app.json" --connect \
        --start-position TRIM_HORIZON --until-latest --rowtime-from EVENT_TIME)
done

say "what arrived"
# ministack's Firehose writes one object per record, just after each call returns.
"$PY" - "$AWS_ENDPOINT_URL" "$ALERTS" <<'EOF'
import json, sys, time
import boto3
endpoint, alerts_file = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint)

def objects(bucket, prefix):
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return keys

def settled(bucket, prefix):
    last = None
    while True:
        keys = objects(bucket, prefix)
        if keys == last:
            return keys
        last = keys
        time.sleep(0.5)

billing = settled("toll-billing", "billing/")
rows = [json.loads(s3.get_object(Bucket="toll-billing", Key=k)["Body"].read()) for k in billing]
print(f"s3://toll-billing/billing/: {len(billing)} objects, one billing row each "
      f"({sum(r['TRIPS'] for r in rows)} trips, {sum(r['TOTAL_AMOUNT'] for r in rows):.2f} in tolls), e.g.")
for key, row in list(zip(billing, rows))[:3]:
    print(f"  {key}: {json.dumps(row)}")
for prefix, app in (("billing/", "toll-billing"), ("alerts/", "toll-booth-alerts")):
    print(f"s3://toll-errors/{prefix}: {len(settled('toll-errors', prefix))} error_stream rows of {app}")
with open(alerts_file) as f:
    alerts = [json.loads(line) for line in f if line.strip()]
print(f"Lambda toll-booth-alerts received {len(alerts)} alerts:")
for a in alerts:
    print(f"  booth {a['BOOTH_ID']}: {a['VEHICLES']} vehicles from {a['WINDOW_START']}, "
          f"threshold {a['MIN_VEHICLES']}")
EOF
say "done (files in $WORK)"
