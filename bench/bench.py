#!/usr/bin/env python3
"""rowtime's benchmark driver: the same workloads through rowtime (replay mode, file sink),
DataFusion batch (one target partition) and Apache Flink SQL (local, parallelism 1).

Run it with `bash bench/run.sh` (which builds the release binaries first). For every workload,
size, format and query it runs each engine REPS times, alternating engines within a repetition,
and reports medians. Every engine's result rows are normalised (bench/peers/canonical.py) and
compared with rowtime's, so a fast wrong answer cannot win. Writes bench/results.json and
bench/results.md.

Standard library only.
"""

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench" / "peers"))
import canonical  # noqa: E402

TOLL_REFERENCES = [
    "--reference", f"BOOTH_THRESHOLDS={ROOT}/reference-data/toll-reference/booth_thresholds.csv",
    "--reference", f"BOOTHS={ROOT}/reference-data/toll-reference/booths.csv",
]

# query: (workload, rowtime application, ROWTIME column)
QUERIES = {
    "billing": ("toll", "sql/toll_billing.sql", "EVENT_TIME"),
    "alerts": ("toll", "sql/toll_booth_alerts.sql", "EVENT_TIME"),
    "passthrough": ("toll", "bench/apps/passthrough.sql", "EVENT_TIME"),
    "enrich": ("toll", "bench/apps/enrich.sql", "EVENT_TIME"),
    "bids_q1": ("bids", "bench/apps/bids_q1.sql", "DATE_TIME"),
    "bids_sliding": ("bids", "bench/apps/bids_sliding.sql", "DATE_TIME"),
}
EXTENSIONS = {"json": "jsonl", "csv": "csv"}


TIME = "/usr/bin/time"


def run_measured(cmd, cwd=ROOT):
    """Runs cmd; returns (wall seconds, CPU seconds, peak RSS MB, stdout, stderr).

    CPU and peak RSS come from GNU time wrapped around the command: the rusage of a child forked
    straight from this (large) Python process would count the pages it shares with it.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as usage_file:
        timed = [TIME, "-f", "%U %S %M", "-o", usage_file.name, *map(str, cmd)]
        started = time.perf_counter()
        proc = subprocess.run(timed, cwd=cwd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        user, system, kb = usage_file.read().split()[-3:]
    return wall, float(user) + float(system), int(kb) / 1024, proc.stdout, proc.stderr


def digest(rows):
    """Row count and a hash of the canonical rows: what is compared between engines."""
    h = hashlib.sha256()
    for row in rows:
        h.update("\x1f".join(row).encode())
        h.update(b"\n")
    return len(rows), h.hexdigest()


def job_seconds(stdout):
    """The `seconds_job` a peer prints on its last JSON line, if any."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line).get("seconds_job")
        except json.JSONDecodeError:
            continue
    return None


def data_file(args, workload, size, fmt):
    path = Path(args.data) / f"{workload}_{size}.{EXTENSIONS[fmt]}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {path}", file=sys.stderr)
        with open(path, "wb") as f:
            subprocess.run(
                [args.rowtime, "generate", workload, "--count", str(size), "--format", fmt],
                stdout=f, check=True,
            )
    return path


def commands(args, engine, query, fmt, data, out_dir):
    workload, app, rowtime_column = QUERIES[query]
    if engine == "rowtime":
        out = out_dir / f"rowtime_{query}.jsonl"
        return out, [
            args.rowtime, "run", app,
            "--input-schema", f"bench/apps/{workload}_{fmt}.json",
            "--input", str(data), "--rowtime-from", rowtime_column,
            *TOLL_REFERENCES,
            "--output", f"DESTINATION_SQL_STREAM={out}",
        ]
    if engine == "datafusion":
        out = out_dir / f"datafusion_{query}.csv"
        return out, [args.datafusion, query, str(data), fmt, str(out),
                     str(ROOT / "reference-data" / "toll-reference")]
    if engine == "flink":
        out = out_dir / f"flink_{query}"
        return out / "result.csv", [
            args.flink_python, str(ROOT / "bench" / "peers" / "flink_sql.py"),
            "--query", query, "--input", str(data), "--format", fmt, "--output", str(out),
        ]
    raise ValueError(engine)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000,2000000",
                   help="comma-separated input sizes in rows (10000000 for the memory check)")
    p.add_argument("--queries", default=",".join(QUERIES))
    p.add_argument("--formats", default="json,csv")
    p.add_argument("--engines", default="rowtime,datafusion,flink")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rowtime", required=True, help="the release rowtime binary")
    p.add_argument("--datafusion", help="the release datafusion_batch example binary")
    p.add_argument("--flink-python", help="python of the venv with apache-flink")
    p.add_argument("--data", default=str(Path.home() / ".cache" / "rowtime-bench" / "data"))
    p.add_argument("--flink-max-size", type=int, default=2_000_000,
                   help="skip Flink above this size (it takes minutes per run)")
    p.add_argument("--flink-queries", default=",".join(QUERIES),
                   help="the queries Flink runs (its start-up makes every run take half a minute)")
    p.add_argument("--merge", action="store_true",
                   help="keep the results already in results.json that this run does not redo")
    p.add_argument("--out", default=str(ROOT / "bench"))
    args = p.parse_args()

    engines = args.engines.split(",")
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for fmt in args.formats.split(","):
            for query in args.queries.split(","):
                workload = QUERIES[query][0]
                data = data_file(args, workload, size, fmt)
                in_bytes = data.stat().st_size
                active = [e for e in engines if not (e == "flink" and (
                    size > args.flink_max_size or query not in args.flink_queries.split(",")))]
                runs = {e: [] for e in active}
                verdict = {}
                with tempfile.TemporaryDirectory(prefix="rowtime-bench-") as tmp:
                    out_dir = Path(tmp)
                    for rep in range(args.reps):
                        # Alternate the order so no engine always runs on a warm page cache.
                        order = active[rep % len(active):] + active[:rep % len(active)]
                        for engine in order:
                            out, cmd = commands(args, engine, query, fmt, data, out_dir)
                            wall, cpu, rss, stdout, _ = run_measured(cmd)
                            runs[engine].append({"wall": wall, "cpu": cpu, "rss": rss,
                                                 "job": job_seconds(stdout)})
                            if rep == 0:
                                verdict[engine] = digest(canonical.canonical_rows(query, engine, str(out)))
                            print(f"{query} {fmt} {size} {engine} rep {rep + 1}: {wall:.2f} s",
                                  file=sys.stderr)
                reference = verdict.get("rowtime")
                for engine in active:
                    r = runs[engine]
                    wall = statistics.median(x["wall"] for x in r)
                    jobs = [x["job"] for x in r if x["job"] is not None]
                    rows_out = verdict[engine][0]
                    same = reference is None or verdict[engine] == reference
                    results.append({
                        "query": query, "format": fmt, "rows_in": size, "bytes_in": in_bytes,
                        "engine": engine, "reps": len(r),
                        "wall_s": round(wall, 4),
                        "job_s": round(statistics.median(jobs), 4) if jobs else None,
                        "rows_per_s": round(size / wall),
                        "mb_per_s": round(in_bytes / wall / 1e6, 1),
                        "cpu_s": round(statistics.median(x["cpu"] for x in r), 3),
                        "peak_rss_mb": round(max(x["rss"] for x in r), 1),
                        "rows_out": rows_out,
                        "same_rows_as_rowtime": same,
                    })
                    if not same:
                        print(f"MISMATCH: {engine} {query} {fmt} {size}: {rows_out} rows vs "
                              f"rowtime's {reference[0]}", file=sys.stderr)
    results_path = Path(args.out, "results.json")
    if args.merge and results_path.exists():
        key = lambda r: (r["query"], r["format"], r["rows_in"], r["engine"])  # noqa: E731
        redone = {key(r) for r in results}
        kept = [r for r in json.loads(results_path.read_text())["results"] if key(r) not in redone]
        results = kept + results
    results.sort(key=lambda r: (list(QUERIES).index(r["query"]), r["format"], r["rows_in"], r["engine"]))
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "reps": args.reps,
    }
    results_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    Path(args.out, "results.md").write_text(markdown(meta, results))
    print(f"wrote {args.out}/results.json and {args.out}/results.md", file=sys.stderr)
    if any(not r["same_rows_as_rowtime"] for r in results):
        sys.exit(1)


def markdown(meta, results):
    lines = [
        "# Benchmark results",
        "",
        f"{meta['date']}; {meta['machine']}. Each figure is the median of *runs* runs per engine,",
        "engines alternating. Wall time is the whole process (start-up included); *job* is the time the",
        "peer reports for the query alone. rows/s and MB/s are input rows and bytes over wall time.",
        "CPU is user + system seconds. *same rows* compares each engine's result rows with",
        "rowtime's after normalisation (`bench/peers/canonical.py`).",
        "",
        "| query | format | rows in | engine | runs | wall s | job s | rows/s | MB/s | CPU s | peak RSS MB | rows out | same rows | rowtime speed-up |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    by_key = {}
    for r in results:
        by_key.setdefault((r["query"], r["format"], r["rows_in"]), {})[r["engine"]] = r
    for r in results:
        base = by_key[(r["query"], r["format"], r["rows_in"])].get("rowtime")
        ratio = f"{r['wall_s'] / base['wall_s']:.2f}×" if base and r["engine"] != "rowtime" else ""
        job = "" if r["job_s"] is None else f"{r['job_s']:.2f}"
        lines.append(
            f"| {r['query']} | {r['format']} | {r['rows_in']:,} | {r['engine']} | {r['reps']} | {r['wall_s']:.2f} | "
            f"{job} | {r['rows_per_s']:,} | {r['mb_per_s']} | "
            f"{r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['rows_out']:,} | "
            f"{'yes' if r['same_rows_as_rowtime'] else '**NO**'} | {ratio} |"
        )
    lines.append("")
    lines.append("*rowtime speed-up*: the peer's wall time over rowtime's (above 1 means rowtime is faster).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
