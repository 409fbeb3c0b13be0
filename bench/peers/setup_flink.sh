#!/usr/bin/env bash
# Installs the Apache Flink SQL peer (PyFlink) into a Python virtual environment.
#
#   bench/peers/setup_flink.sh            # venv at $HOME/.cache/rowtime-bench/venv
#   ROWTIME_BENCH_VENV=/some/dir bench/peers/setup_flink.sh
#
# Needs python3 (3.9-3.12; 3.11 here) and Java 17 (`java` on PATH, or JAVA_HOME).
# Idempotent: when the pinned PyFlink already imports in the venv, nothing is done.
# The last line printed is the venv's python path.
set -euo pipefail

FLINK_VERSION="2.3.0"   # pinned; Flink 2.x runs on Java 11/17/21 (17 is its default)
VENV="${ROWTIME_BENCH_VENV:-$HOME/.cache/rowtime-bench/venv}"
PY="$VENV/bin/python"

installed_version() {
    "$PY" - <<'PYEOF' 2>/dev/null
from importlib.metadata import version
import pyflink.table  # noqa: F401  (fails when the install is broken)
print(version("apache-flink"))
PYEOF
}

if [ -x "$PY" ] && [ "$(installed_version || true)" = "$FLINK_VERSION" ]; then
    echo "apache-flink==$FLINK_VERSION already installed in $VENV" >&2
else
    if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
        echo "warning: no java on PATH and no JAVA_HOME; PyFlink needs Java 17 at run time" >&2
    fi
    if [ ! -x "$PY" ]; then
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV"
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$PY" -m pip install --quiet --disable-pip-version-check "apache-flink==$FLINK_VERSION" >&2
    installed_version >/dev/null || { echo "PyFlink install in $VENV is not importable" >&2; exit 1; }
fi
echo "$PY"
