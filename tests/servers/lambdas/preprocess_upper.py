"""preprocess_upper.py — KDA input-preprocessing Lambda fixture (python3.11, handler preprocess_upper.handler).

Request:  {"invocationId","applicationArn","streamArn","records":[{"recordId","data"(base64),
           "kinesisStreamRecordMetadata":{"shardId","partitionKey","sequenceNumber","approximateArrivalTimestamp"}}]}
Response: {"records":[{"recordId","result":"Ok"|"Dropped"|"ProcessingFailed","data"(base64)}]}

Behaviour, from the function's environment variables (markers are matched on the ORIGINAL text;
an empty value disables a rule):
  UPPER=1                 upper-case the data of Ok records (UPPER=0: pass through unchanged)
  DROP_MARKER=DROP        records containing it -> "Dropped"
  FAIL_MARKER=FAIL        records containing it -> "ProcessingFailed"
  SPLIT_MARKER=SPLIT3     records containing it -> one Ok record whose data is 3 newline-separated
                          JSON documents (the record's JSON object plus "part": 1..3, or {"text":..,"part":n})
Faults on the first K calls (K counted in $STATE_DIR/calls, shared by every worker):
  RAISE_FIRST=K           raise an exception (the invoke returns FunctionError "Unhandled")
  OMIT_FIRST=K            leave the last recordId out of the response
  SLEEP_FIRST=K           sleep SLEEP_SECONDS (default 30) — set it past the function timeout
State in STATE_DIR (default /tmp/rowtime-lambda-state): calls (counter), requests.jsonl (one line per
call: {"call": n, "fault": ..., "event": <request body>}) so tests can assert the request shape.
"""
import base64
import fcntl
import json
import os
import time

STATE_DIR = os.environ.get("STATE_DIR") or "/tmp/rowtime-lambda-state"


def env_int(name):
    return int(os.environ.get(name) or 0)


def marker(name, default):
    return os.environ.get(name, default)


def next_call():
    """Increment and return the call counter (1-based), safely across concurrent workers."""
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(os.path.join(STATE_DIR, "calls"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        n = int(f.read().strip() or 0) + 1
        f.seek(0)
        f.truncate()
        f.write(str(n))
        f.flush()
        return n


def log(name, obj):
    with open(os.path.join(STATE_DIR, name), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(obj) + "\n")


def split3(text):
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        obj = {"text": text}
    return "\n".join(json.dumps(dict(obj, part=i)) for i in (1, 2, 3))


def transform(rec):
    original = base64.b64decode(rec["data"]).decode("utf-8", "replace")
    out = original.upper() if os.environ.get("UPPER", "1") == "1" else original
    for name, default, result in (("DROP_MARKER", "DROP", "Dropped"), ("FAIL_MARKER", "FAIL", "ProcessingFailed")):
        m = marker(name, default)
        if m and m in original:
            return {"recordId": rec["recordId"], "result": result, "data": rec["data"]}
    m = marker("SPLIT_MARKER", "SPLIT3")
    if m and m in original:
        out = split3(out)
    return {"recordId": rec["recordId"], "result": "Ok", "data": base64.b64encode(out.encode()).decode()}


def handler(event, context):
    n = next_call()
    fault = None
    if n <= env_int("RAISE_FIRST"):
        fault = "raise"
    elif n <= env_int("SLEEP_FIRST"):
        fault = "sleep"
    elif n <= env_int("OMIT_FIRST"):
        fault = "omit"
    log("requests.jsonl", {"call": n, "fault": fault, "event": event})
    if fault == "raise":
        raise RuntimeError(f"injected failure on call {n}")
    if fault == "sleep":
        time.sleep(float(os.environ.get("SLEEP_SECONDS") or 30))
    records = [transform(r) for r in event.get("records", [])]
    if fault == "omit" and records:
        records.pop()
    return {"records": records}
