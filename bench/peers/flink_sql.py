"""Apache Flink SQL peer for the rowtime benchmarks.

Runs one benchmark query through PyFlink's TableEnvironment (streaming mode, local mini-cluster,
parallelism 1) over an input file and writes the result rows to OUTPUT/result.csv (no header,
Flink's CSV format: TIMESTAMP as `YYYY-MM-DD HH:MM:SS[.fff]` with trailing zeros of the fraction
dropped, DOUBLE as Java's Double.toString). `canonical.py --engine flink` normalises it.

    python flink_sql.py --query billing --input toll.jsonl --format json --output OUTDIR \
        [--reference-dir reference-data/toll-reference]

Prints one JSON line on stdout at the end:
    {"engine": "flink", "query": ..., "rows_out": N, "seconds_job": S, ...}
seconds_job is the job's run time as Flink reports it (JobExecutionResult.getNetRuntime: from the
job's start in the local cluster, task deployment included, to its end); seconds_submit_to_end is
the wall time from submitting the INSERT to the job's end (adds SQL planning and code generation
and the local mini-cluster's start, about 5-10 s); seconds_startup is the JVM + PyFlink start
before that; seconds_merge the time to merge Flink's part files into result.csv afterwards.
End-to-end time is the driver's to measure around the whole process.

Use the venv that setup_flink.sh prints. Needs Java 17 (`java` on PATH or JAVA_HOME).
"""
import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback

T_START = time.perf_counter()

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REFERENCE_DIR = os.path.join(REPO, "reference-data", "toll-reference")

# Source schemas. Columns are named as the JSON keys (Flink's JSON format matches names exactly);
# the CSV variant has the same columns in the same order and no header. Inputs are in event-time
# order: the watermark is Flink's "ascending timestamps" strategy (max seen time - 1 ms), so a row
# whose time equals the latest one is never late, and no row of an ordered input is dropped.
STREAMS = {
    "toll": """
        booth_id      VARCHAR(8),
        account_id    VARCHAR(16),
        vehicle_class VARCHAR(16),
        amount        DECIMAL(8, 2),
        event_time    TIMESTAMP(3),
        WATERMARK FOR event_time AS event_time - INTERVAL '0.001' SECOND""",
    "bids": """
        auction   BIGINT,
        bidder    BIGINT,
        price     BIGINT,
        channel   VARCHAR(16),
        url       VARCHAR(128),
        date_time TIMESTAMP(3),
        WATERMARK FOR date_time AS date_time - INTERVAL '0.001' SECOND""",
}

# Reference tables: CSV files with a header line. Flink's CSV format cannot skip a header, so the
# columns are read as STRING, the header row is filtered out by its first column's name, and the
# other columns are cast in a view.
REFERENCES = {
    "booth_thresholds": (
        "booth_thresholds.csv",
        ["BOOTH_ID", "SLOT", "MIN_VEHICLES"],
        "BOOTH_ID, CAST(SLOT AS INT) AS SLOT, CAST(MIN_VEHICLES AS INT) AS MIN_VEHICLES",
    ),
    "booths": (
        "booths.csv",
        ["BOOTH_ID", "ROAD", "DIRECTION"],
        "BOOTH_ID, ROAD, DIRECTION",
    ),
}

# name: (stream, reference tables, sink columns, query)
QUERIES = {
    "billing": (
        "toll",
        [],
        "ACCOUNT_ID STRING, WINDOW_START TIMESTAMP(3), TRIPS BIGINT, TOTAL_AMOUNT DECIMAL(38, 2)",
        """
        SELECT account_id AS ACCOUNT_ID, window_start AS WINDOW_START,
               COUNT(*) AS TRIPS, SUM(amount) AS TOTAL_AMOUNT
        FROM TABLE(TUMBLE(TABLE toll, DESCRIPTOR(event_time), INTERVAL '10' MINUTES))
        GROUP BY account_id, window_start, window_end""",
    ),
    "alerts": (
        "toll",
        ["booth_thresholds"],
        "BOOTH_ID STRING, WINDOW_START TIMESTAMP(3), VEHICLES BIGINT, MIN_VEHICLES INT",
        """
        SELECT c.BOOTH_ID, c.WINDOW_START, c.VEHICLES, t.MIN_VEHICLES
        FROM (
            SELECT booth_id AS BOOTH_ID, window_start AS WINDOW_START, COUNT(*) AS VEHICLES
            FROM TABLE(TUMBLE(TABLE toll, DESCRIPTOR(event_time), INTERVAL '30' MINUTES))
            GROUP BY booth_id, window_start, window_end
        ) AS c
        JOIN booth_thresholds AS t
          ON c.BOOTH_ID = t.BOOTH_ID
         AND HOUR(c.WINDOW_START) * 2 + MINUTE(c.WINDOW_START) / 30 = t.SLOT
        WHERE c.VEHICLES < t.MIN_VEHICLES""",
    ),
    "passthrough": (
        "toll",
        [],
        "BOOTH_ID STRING, ACCOUNT_ID STRING, VEHICLE_CLASS STRING, AMOUNT DECIMAL(8, 2), "
        "EVENT_TIME TIMESTAMP(3)",
        """
        SELECT booth_id, account_id, vehicle_class, amount, event_time
        FROM toll
        WHERE amount >= 5.00""",
    ),
    # A regular (unbounded-state) join: Flink's filesystem source has no lookup join. A rowtime
    # attribute may not enter a regular join, hence the CAST of event_time.
    "enrich": (
        "toll",
        ["booths"],
        "BOOTH_ID STRING, ACCOUNT_ID STRING, AMOUNT DECIMAL(8, 2), EVENT_TIME TIMESTAMP(3), "
        "ROAD STRING",
        """
        SELECT s.booth_id, s.account_id, s.amount, s.event_time, b.ROAD
        FROM (SELECT booth_id, account_id, amount, CAST(event_time AS TIMESTAMP(3)) AS event_time
              FROM toll) AS s
        JOIN booths AS b ON s.booth_id = b.BOOTH_ID""",
    ),
    "bids_q1": (
        "bids",
        [],
        "AUCTION BIGINT, BIDDER BIGINT, EURO_PRICE DOUBLE, DATE_TIME TIMESTAMP(3)",
        """
        SELECT auction, bidder, CAST(price AS DOUBLE) * CAST(0.908 AS DOUBLE), date_time
        FROM bids""",
    ),
    # Flink's RANGE frame on rowtime keeps rows with current - ts <= 1 hour: inclusive lower bound.
    "bids_sliding": (
        "bids",
        [],
        "AUCTION BIGINT, DATE_TIME TIMESTAMP(3), AVG_PRICE DOUBLE",
        """
        SELECT auction, date_time,
               AVG(CAST(price AS DOUBLE)) OVER (
                   PARTITION BY auction ORDER BY date_time
                   RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW)
        FROM bids""",
    ),
}


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def file_uri(path):
    return "file://" + os.path.abspath(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--query", required=True, choices=sorted(QUERIES))
    ap.add_argument("--input", required=True, help="input file (JSON lines or header-less CSV)")
    ap.add_argument("--format", required=True, choices=["json", "csv"])
    ap.add_argument("--output", required=True, help="directory; the result goes to result.csv in it")
    ap.add_argument("--reference-dir", default=DEFAULT_REFERENCE_DIR)
    a = ap.parse_args()

    stream, refs, sink_cols, query = QUERIES[a.query]
    if not os.path.isfile(a.input):
        sys.exit(f"no input file {a.input}")
    for ref in refs:
        path = os.path.join(a.reference_dir, REFERENCES[ref][0])
        if not os.path.isfile(path):
            sys.exit(f"no reference file {path}")
    os.makedirs(a.output, exist_ok=True)
    result_path = os.path.join(a.output, "result.csv")
    sink_dir = os.path.join(a.output, ".flink-sink")
    shutil.rmtree(sink_dir, ignore_errors=True)
    if os.path.exists(result_path):
        os.remove(result_path)

    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    conf = Configuration()
    conf.set_string("execution.runtime-mode", "STREAMING")
    conf.set_string("parallelism.default", "1")
    settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    t_env = TableEnvironment.create(settings)

    if a.format == "json":
        fmt = "'format' = 'json', 'json.fail-on-missing-field' = 'true', " \
              "'json.ignore-parse-errors' = 'false', 'json.timestamp-format.standard' = 'SQL'"
    else:
        fmt = "'format' = 'csv', 'csv.ignore-parse-errors' = 'false'"
    t_env.execute_sql(f"""
        CREATE TABLE {stream} ({STREAMS[stream]}
        ) WITH ('connector' = 'filesystem', 'path' = {sql_str(file_uri(a.input))}, {fmt})""")

    for ref in refs:
        file_name, columns, select = REFERENCES[ref]
        path = os.path.join(a.reference_dir, file_name)
        cols = ", ".join(f"{c} STRING" for c in columns)
        t_env.execute_sql(f"""
            CREATE TABLE {ref}_file ({cols})
            WITH ('connector' = 'filesystem', 'path' = {sql_str(file_uri(path))},
                  'format' = 'csv', 'csv.ignore-parse-errors' = 'false')""")
        t_env.execute_sql(f"""
            CREATE VIEW {ref} AS SELECT {select} FROM {ref}_file
            WHERE {columns[0]} <> {sql_str(columns[0])}""")

    # One part file: roll only past 100 GB or an hour; parallelism 1 gives one writer.
    t_env.execute_sql(f"""
        CREATE TABLE sink ({sink_cols})
        WITH ('connector' = 'filesystem', 'path' = {sql_str(file_uri(sink_dir))},
              'format' = 'csv',
              'sink.rolling-policy.file-size' = '100 gb',
              'sink.rolling-policy.rollover-interval' = '1 h')""")

    t_submit = time.perf_counter()
    result = t_env.execute_sql("INSERT INTO sink " + query)
    result.wait()
    t_done = time.perf_counter()
    net_ms = None
    try:
        client = result.get_job_client()
        if client is not None:
            net_ms = client.get_job_execution_result().result().get_net_runtime()
    except Exception:  # noqa: BLE001  (only an extra figure; the job has finished)
        pass

    parts = merge_parts(sink_dir, result_path)
    t_merged = time.perf_counter()
    rows = count_lines(result_path)
    print(json.dumps({
        "engine": "flink",
        "query": a.query,
        "rows_out": rows,
        "seconds_job": round(net_ms / 1000.0 if net_ms is not None else t_done - t_submit, 3),
        "seconds_submit_to_end": round(t_done - t_submit, 3),
        "seconds_startup": round(t_submit - T_START, 3),
        "seconds_merge": round(t_merged - t_done, 3),
        "part_files": parts,
    }), flush=True)


def stop_jvm():
    """Stop PyFlink's gateway JVM (our child) and wait for it to exit.

    Left alone it shuts down only after this process has exited, busy for seconds more: it would
    escape the driver's end-to-end time and overlap the next engine's run."""
    me = str(os.getpid())
    children = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:  # the field after the state is the parent's pid
                children.append(int(pid))
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 60
    for pid in children:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:  # already reaped
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def merge_parts(sink_dir, result_path):
    """Concatenate Flink's finished part files (name order) into result_path; returns their count.

    Files still `.inprogress` after the job would mean Flink did not commit them: an error."""
    names = sorted(os.listdir(sink_dir)) if os.path.isdir(sink_dir) else []
    pending = [n for n in names if "inprogress" in n]
    if pending:
        sys.exit(f"Flink left uncommitted part files in {sink_dir}: {pending}")
    parts = [os.path.join(sink_dir, n) for n in names
             if not n.startswith(".") and os.path.isfile(os.path.join(sink_dir, n))]
    if len(parts) == 1:
        os.replace(parts[0], result_path)
    else:
        with open(result_path, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
    shutil.rmtree(sink_dir, ignore_errors=True)
    return len(parts)


def count_lines(path):
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            n += block.count(b"\n")
            last = block[-1:]
    return n + (0 if last == b"\n" else 1)


def run():
    code = 0
    try:
        main()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            code = 1
        else:
            code = e.code or 0
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        code = 1
    stop_jvm()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip py4j's finalizers: they would talk to the stopped JVM and log errors


if __name__ == "__main__":
    run()
