#!/usr/bin/env bash
# install.sh — install AWS's Random Cut Forest for rowtime's reference test (tests/rcf_reference.rs).
#
#   tests/reference/install.sh      # idempotent: a second run does nothing and prints nothing
#
# Into ${ROWTIME_KRCF:-$HOME/.cache/rowtime-krcf}: a Python venv with PyPI krcf (the Python binding of
# aws/random-cut-forest-by-aws's Rust library, Apache-2.0), pinned; `.stamp` is written last and names
# the pin. On failure: prints the failed step and the tail of its log, exits non-zero.
# Needs: python3 >= 3.10 (or $PYTHON) with venv, and the PyPI registry.
set -euo pipefail

ROOT="${ROWTIME_KRCF:-$HOME/.cache/rowtime-krcf}"
PY="${PYTHON:-$(command -v python3)}"
KRCF_PIN="krcf==0.4.0"
WANT="$KRCF_PIN python=$("$PY" -c 'import sys; print(sys.version.split()[0])')"

ready() {
  [ "$(cat "$ROOT/.stamp" 2>/dev/null)" = "$WANT" ] && [ -x "$ROOT/venv/bin/python" ]
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
rm -rf "$ROOT/venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
step "create venv ($PY)" "$PY" -m venv "$ROOT/venv"
step "pip install $KRCF_PIN" "$ROOT/venv/bin/pip" install -q "$KRCF_PIN"
step "check krcf import" "$ROOT/venv/bin/python" -c 'from krcf import RandomCutForest; RandomCutForest({"dimensions": 1, "shingle_size": 1})'
echo "$WANT" >"$ROOT/.stamp"
