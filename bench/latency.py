#!/usr/bin/env python3
"""Live-mode latency of rowtime: rows are fed through a pipe at a fixed rate and the output is
read as it comes.

- pass-through (bench/apps/latency_pass.sql): each row carries the time it was sent; latency is
  the time from sending to reading its output row.
- tumbling (bench/apps/latency_tumbling.sql): one-second windows on the live ROWTIME (arrival
  time); latency is the time from a window's end to reading its row.

Prints p50/p99/max per query and writes them to bench/latency.json. Standard library only.
"""
import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def run(rowtime, app, rate, seconds, on_line):
    proc = subprocess.Popen(
        [rowtime, "run", app, "--input-schema", "bench/apps/bids_json.json", "--input", "-",
         "--output", "DESTINATION_SQL_STREAM=-"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    results = []

    def read():
        for line in proc.stdout:
            results.append(on_line(json.loads(line), time.time_ns() // 1000))

    reader = threading.Thread(target=read)
    reader.start()
    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        if due > sent:
            now_us = time.time_ns() // 1000
            chunk = "".join(
                f'{{"auction":{i},"bidder":0,"price":{now_us},"channel":"c","url":"u",'
                f'"date_time":"2026-03-02 00:00:00.000"}}\n'
                for i in range(sent, due)
            )
            proc.stdin.write(chunk.encode())
            proc.stdin.flush()
            sent = due
        else:
            time.sleep(0.0002)
    proc.stdin.close()
    reader.join()
    proc.wait()
    return results


def summary(name, values_ms, extra):
    return {
        "query": name, **extra, "samples": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 3),
        "p99_ms": round(percentile(values_ms, 99), 3),
        "max_ms": round(max(values_ms), 3),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rowtime", required=True)
    p.add_argument("--rate", type=int, default=50_000, help="rows per second")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--out", default=str(ROOT / "bench" / "latency.json"))
    args = p.parse_args()
    extra = {"rate_rows_per_s": args.rate, "seconds": args.seconds}

    # Pass-through: skip the first second (process start-up).
    lat = run(args.rowtime, "bench/apps/latency_pass.sql", args.rate, args.seconds,
              lambda row, now_us: (row["AUCTION"], (now_us - row["PRICE"]) / 1000))
    warm = [ms for seq, ms in lat if seq >= args.rate]
    passthrough = summary("pass-through: row sent → row read", warm, extra)

    def window_latency(row, now_us):
        start = dt.datetime.strptime(row["WINDOW_START"], "%Y-%m-%d %H:%M:%S.%f")
        end_us = int(start.replace(tzinfo=dt.timezone.utc).timestamp() * 1e6) + 1_000_000
        return (now_us - end_us) / 1000

    lat = run(args.rowtime, "bench/apps/latency_tumbling.sql", args.rate, args.seconds, window_latency)
    # The first window started before the feed and the last is flushed at the end of input.
    tumbling = summary("tumbling 1 s: window end → row read", lat[1:-1], extra)
    out = [passthrough, tumbling]
    Path(args.out).write_text(json.dumps(out, indent=1))
    for r in out:
        print(f"{r['query']}: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms "
              f"({r['samples']} samples at {args.rate} rows/s)")


if __name__ == "__main__":
    main()
