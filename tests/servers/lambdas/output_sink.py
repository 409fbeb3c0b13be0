"""output_sink.py — KDA Lambda-output (destination) fixture (python3.11, handler output_sink.handler).

Request:  {"invocationId","applicationArn","records":[{"recordId","lambdaDeliveryRecordMetadata":{"retryHint":N},
           "data"(base64)}]}
Response: {"records":[{"recordId","result":"Ok"|"DeliveryFailed"}]}

Every received record is appended to $STATE_DIR/received.jsonl as
  {"call": n, "invocationId", "recordId", "retryHint", "data": <decoded text>, "result": "Ok"|"DeliveryFailed"|null,
   "fault": null|"raise"|"omit"|"sleep"}
(result null = not answered: the call raised / slept / omitted this recordId). Records with result "Ok" are
the ones the sink accepted: tests count those to prove exactly-once or at-least-once delivery.
Every request body is appended to $STATE_DIR/requests.jsonl as {"call", "fault", "event"} (the event as received).

Fault plan, from the function's environment variables:
  FAIL_MARKER=M     records whose text contains M get "DeliveryFailed" on their first delivery only
                    (first = this data text was never failed before; tracked in $STATE_DIR/failed_once.jsonl)
  RAISE_FIRST=K     raise on the first K calls
  OMIT_FIRST=K      leave the last recordId out of the response on the first K calls
  SLEEP_FIRST=K     sleep SLEEP_SECONDS (default 30) on the first K calls — set it past the function timeout
Calls are counted in $STATE_DIR/calls (STATE_DIR default /tmp/rowtime-lambda-state).
"""
import base64
import fcntl
import json
import os
import time

STATE_DIR = os.environ.get("STATE_DIR") or "/tmp/rowtime-lambda-state"


def env_int(name):
    return int(os.environ.get(name) or 0)


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


def append(name, lines):
    with open(os.path.join(STATE_DIR, name), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.writelines(json.dumps(x) + "\n" for x in lines)


def failed_before(text):
    try:
        with open(os.path.join(STATE_DIR, "failed_once.jsonl")) as f:
            return any(json.loads(ln) == text for ln in f)
    except FileNotFoundError:
        return False


def handler(event, context):
    n = next_call()
    fault = None
    if n <= env_int("RAISE_FIRST"):
        fault = "raise"
    elif n <= env_int("SLEEP_FIRST"):
        fault = "sleep"
    elif n <= env_int("OMIT_FIRST"):
        fault = "omit"
    fail_marker = os.environ.get("FAIL_MARKER", "")
    records = event.get("records", [])
    answers, log, newly_failed = [], [], []
    for i, rec in enumerate(records):
        text = base64.b64decode(rec["data"]).decode("utf-8", "replace")
        answered = fault is None or (fault == "omit" and i != len(records) - 1)
        result = "Ok"
        if fail_marker and fail_marker in text and not failed_before(text) and text not in newly_failed:
            result = "DeliveryFailed"
            if answered:
                newly_failed.append(text)
        if answered:
            answers.append({"recordId": rec["recordId"], "result": result})
        log.append({"call": n, "invocationId": event.get("invocationId"), "recordId": rec["recordId"],
                    "retryHint": (rec.get("lambdaDeliveryRecordMetadata") or {}).get("retryHint"),
                    "data": text, "result": result if answered else None, "fault": fault})
    append("received.jsonl", log)
    append("requests.jsonl", [{"call": n, "fault": fault, "event": event}])
    if newly_failed:  # only answered failures count: an unanswered delivery is not "the first"
        append("failed_once.jsonl", newly_failed)
    if fault == "raise":
        raise RuntimeError(f"injected failure on call {n}")
    if fault == "sleep":
        time.sleep(float(os.environ.get("SLEEP_SECONDS") or 30))
    return {"records": answers}
