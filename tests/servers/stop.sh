#!/usr/bin/env bash
# stop.sh PID... — stop servers started by start.sh: SIGTERM to each one's process group (PID = PGID,
# so ministack's Lambda workers go too), SIGKILL after 5 s if still there. Silent; exit 0.
for pid in "$@"; do
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || continue 2; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
done
exit 0
