#!/usr/bin/env bash
# start.sh — start one local test server on 127.0.0.1 and print its PID once it answers.
#
#   tests/servers/start.sh ministack PORT
#   tests/servers/start.sh kinesis-local PORT          # TLS listener on $KINESIS_MOCK_TLS_PORT (default PORT+1)
#   tests/servers/start.sh faulty-proxy PORT --upstream http://127.0.0.1:UP [--plan F] [--log F] [--log-data]
#
# The server runs in its own session/process group (PID = PGID), so `kill -- -PID` (or stop.sh PID)
# also ends its children (ministack's Lambda workers). Stdout: the PID only. Log:
# ${ROWTIME_SERVERS_LOGS:-/tmp}/rowtime-NAME-PORT.log (ministack's temp files: rowtime-ministack-PORT.tmp/
# beside it). Waits up to ${START_TIMEOUT:-15}s for the
# server to answer over HTTP; otherwise kills it, prints why and the log tail, exits 1.
# Run install.sh first (servers live in ${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}"
NAME="${1:?usage: start.sh ministack|kinesis-local|faulty-proxy PORT [proxy args]}"
PORT="${2:?usage: start.sh NAME PORT}"
shift 2
LOGS="${ROWTIME_SERVERS_LOGS:-/tmp}"
LOGF="$LOGS/rowtime-$NAME-$PORT.log"
TIMEOUT="${START_TIMEOUT:-15}"
PY="$ROOT/ministack/bin/python"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

die() { echo "start.sh $NAME $PORT: $*" >&2; exit 1; }
[ -x "$PY" ] || die "not installed: run $HERE/install.sh (looked in $ROOT)"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free "$PORT" || die "port $PORT on 127.0.0.1 is already in use"
mkdir -p "$LOGS"

case "$NAME" in
  ministack)
    # IOT_MTLS_ENABLED=0: otherwise ministack also listens on 0.0.0.0:8883 (IoT MQTT).
    # TMPDIR: ministack unpacks every Lambda zip into a temp dir it never removes when killed;
    # keep them in one per-port dir, wiped here at the next start on this port.
    TMP_DIR="$LOGS/rowtime-ministack-$PORT.tmp"
    rm -rf "$TMP_DIR" && mkdir -p "$TMP_DIR"
    URL="http://127.0.0.1:$PORT/_ministack/ready"
    BIND_HOST=127.0.0.1 GATEWAY_PORT="$PORT" IOT_MTLS_ENABLED=0 SFTP_ENABLED=0 TMPDIR="$TMP_DIR" \
      setsid "$ROOT/ministack/bin/ministack" >"$LOGF" 2>&1 </dev/null &
    ;;
  kinesis-local)
    TLS_PORT="${KINESIS_MOCK_TLS_PORT:-$((PORT + 1))}"
    port_free "$TLS_PORT" || die "TLS port $TLS_PORT on 127.0.0.1 is already in use"
    URL="http://127.0.0.1:$PORT/healthcheck"
    # cwd = the package: it reads server.json (its TLS key) from the working directory.
    # loopback.js forces every listen() onto 127.0.0.1 (kinesis-mock itself binds all interfaces).
    (cd "$ROOT/kinesis-local/node_modules/kinesis-local" &&
      KINESIS_MOCK_PLAIN_PORT="$PORT" KINESIS_MOCK_TLS_PORT="$TLS_PORT" CREATE_STREAM_DURATION=0ms \
      DELETE_STREAM_DURATION=0ms SPLIT_SHARD_DURATION=0ms MERGE_SHARDS_DURATION=0ms \
      UPDATE_SHARD_COUNT_DURATION=0ms REGISTER_STREAM_CONSUMER_DURATION=0ms \
      DEREGISTER_STREAM_CONSUMER_DURATION=0ms START_STREAM_ENCRYPTION_DURATION=0ms \
      STOP_STREAM_ENCRYPTION_DURATION=0ms AWS_REGION=us-east-1 \
      exec setsid node -r "$HERE/loopback.js" main.js) >"$LOGF" 2>&1 </dev/null &
    ;;
  faulty-proxy)
    URL="http://127.0.0.1:$PORT/__proxy/health"
    setsid "$PY" "$HERE/faulty_proxy.py" --port "$PORT" "$@" >"$LOGF" 2>&1 </dev/null &
    ;;
  *) die "unknown server '$NAME' (ministack | kinesis-local | faulty-proxy)" ;;
esac
PID=$!

"$PY" - "$URL" "$PID" "$TIMEOUT" <<'EOF' || { kill -- "-$PID" 2>/dev/null || kill "$PID" 2>/dev/null || true
import os, sys, time, urllib.request
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline, last = time.monotonic() + timeout, "no answer"
while time.monotonic() < deadline:
    try:  # gone, or a zombie waiting for the shell to reap it
        with open(f"/proc/{pid}/stat") as f:
            alive = f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        alive = False
    if not alive:
        sys.exit(f"process {pid} exited before answering")
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                sys.exit(0)
            last = f"HTTP {r.status}"
    except Exception as e:  # noqa: BLE001 - any failure means "not yet"
        last = str(e)
    time.sleep(0.1)
sys.exit(f"no HTTP 200 from {url} within {timeout:g}s (last: {last})")
EOF
  echo "--- last lines of $LOGF:" >&2; tail -n 20 "$LOGF" >&2; die "failed to start"; }
echo "$PID"
