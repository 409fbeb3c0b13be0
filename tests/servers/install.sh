#!/usr/bin/env bash
# install.sh — install the local AWS-compatible test servers for rowtime's connector tests.
#
#   tests/servers/install.sh        # idempotent: a second run does nothing and prints nothing
#
# Into ${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}:
#   ministack/      Python venv: PyPI ministack (Kinesis, Firehose->S3, Lambda, S3) + boto3 (same venv:
#                   ministack pins botocore==1.43.106 and boto3 1.43.106 accepts it)
#   kinesis-local/  npm kinesis-local (kinesis-mock: real resharding, ChildShards, null iterator at the
#                   end of a closed shard)
#   .stamp          written last; its content names every pinned version. Same content = nothing to do.
# On failure: prints the failed step and the tail of its log, exits non-zero.
# Needs: python3.11 (or $PYTHON), node >= 18 + npm, and the PyPI / npm registries.
set -euo pipefail

ROOT="${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
MINISTACK_PIN="ministack==1.5.33"
BOTO3_PIN="boto3==1.43.106"
KINESIS_LOCAL_PIN="kinesis-local@0.6.2"
WANT="$MINISTACK_PIN $BOTO3_PIN $KINESIS_LOCAL_PIN python=$("$PY" -c 'import sys; print(sys.version.split()[0])')"

ready() {
  [ "$(cat "$ROOT/.stamp" 2>/dev/null)" = "$WANT" ] &&
    [ -x "$ROOT/ministack/bin/ministack" ] &&
    [ -f "$ROOT/kinesis-local/node_modules/kinesis-local/main.js" ]
}
ready && exit 0

mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9            # a parallel run waits here, then finds the stamp
ready && exit 0

LOG="$ROOT/install.log"
: >"$LOG"
step() {           # step NAME CMD... : run quietly, on failure say what failed
  local name="$1"; shift
  echo "== $name: $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "install.sh: FAILED: $name" >&2
    echo "--- last lines of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}

rm -f "$ROOT/.stamp"
rm -rf "$ROOT/ministack" "$ROOT/kinesis-local"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
step "create venv ministack ($PY)" "$PY" -m venv "$ROOT/ministack"
step "pip install $MINISTACK_PIN $BOTO3_PIN" "$ROOT/ministack/bin/pip" install -q "$MINISTACK_PIN" "$BOTO3_PIN"
step "check boto3 + ministack import" "$ROOT/ministack/bin/python" -c 'import boto3, ministack.app'
command -v node >/dev/null || { echo "install.sh: FAILED: node not found on PATH" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: FAILED: npm not found on PATH" >&2; exit 1; }
mkdir -p "$ROOT/kinesis-local"
step "npm install $KINESIS_LOCAL_PIN" npm install --prefix "$ROOT/kinesis-local" --no-audit --no-fund \
  --loglevel=error "$KINESIS_LOCAL_PIN"
step "check kinesis-local files" test -f "$ROOT/kinesis-local/node_modules/kinesis-local/server.json"
echo "$WANT" >"$ROOT/.stamp"
