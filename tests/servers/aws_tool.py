#!/usr/bin/env python3
"""aws_tool.py — boto3 command-line helper for rowtime's connector tests.

The Rust tests run this as a subprocess against a local server (ministack,
kinesis-local, or faulty_proxy.py in front of one):

    $ROWTIME_SERVERS/ministack/bin/python aws_tool.py --endpoint http://127.0.0.1:PORT CMD ...

Every command prints one JSON document on stdout (except `get-object`, which
writes the raw object bytes). On failure it prints {"error": {...}} on stdout,
a one-line reason on stderr, and exits 1. Fixed test credentials are used
unless the environment already sets others.

Kinesis:  create-stream, put-records, read-stream, list-shards, split-shard,
          merge-shards, update-shard-count
Firehose: create-delivery-stream, put-record-batch
S3:       create-bucket, put-object, list-objects, get-object, get-objects
Lambda:   create-function, invoke
Run `aws_tool.py -h` / `aws_tool.py CMD -h` for the arguments.
"""
import argparse
import base64
import io
import json
import os
import sys
import time
import zipfile

for _k, _v in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
               ("AWS_REGION", "us-east-1"), ("AWS_DEFAULT_REGION", "us-east-1"),
               ("AWS_EC2_METADATA_DISABLED", "true")):
    os.environ.setdefault(_k, _v)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

ACCOUNT = "000000000000"
RETRYABLE_ENTRY_ERRORS = {"ProvisionedThroughputExceededException", "InternalFailure",
                          "ServiceUnavailableException", "KMSThrottlingException"}


class ToolError(Exception):
    pass


def client(args, service):
    cfg = Config(region_name=args.region,
                 # total_max_attempts counts the first call; botocore's "max_attempts" counts RETRIES only
                 retries={"total_max_attempts": args.max_attempts, "mode": "standard"},
                 connect_timeout=args.timeout, read_timeout=args.timeout,
                 s3={"addressing_style": "path"})
    return boto3.client(service, endpoint_url=args.endpoint, config=cfg)


def read_input(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def lines_of(path):
    """Records of FILE: one per line, the trailing newline removed, empty lines skipped."""
    return [ln for ln in read_input(path).split(b"\n") if ln != b""]


def text(data):
    """Record data for JSON output: text when it is UTF-8, plus base64 when it is not."""
    try:
        return {"data": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"data": data.decode("utf-8", "replace"), "data_b64": base64.b64encode(data).decode()}


def ms(ts):
    return None if ts is None else round(ts.timestamp() * 1000)


# ----------------------------------------------------------------- Kinesis --

def wait_stream_active(k, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        s = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if s["StreamStatus"] == "ACTIVE":
            return s
        if time.monotonic() > deadline:
            raise ToolError(f"stream {name} still {s['StreamStatus']} after {timeout}s")
        time.sleep(0.1)


def all_shards(k, name):
    out, kw = [], {"StreamName": name}
    while True:
        r = k.list_shards(**kw)
        out += r["Shards"]
        if not r.get("NextToken"):
            return out
        kw = {"NextToken": r["NextToken"]}


def shard_json(s):
    rng = s.get("SequenceNumberRange", {})
    return {"shard_id": s["ShardId"], "parent_shard_id": s.get("ParentShardId"),
            "adjacent_parent_shard_id": s.get("AdjacentParentShardId"),
            "starting_hash_key": s["HashKeyRange"]["StartingHashKey"],
            "ending_hash_key": s["HashKeyRange"]["EndingHashKey"],
            "starting_sequence_number": rng.get("StartingSequenceNumber"),
            "ending_sequence_number": rng.get("EndingSequenceNumber"),
            "closed": rng.get("EndingSequenceNumber") is not None}


def cmd_create_stream(a):
    k = client(a, "kinesis")
    k.create_stream(StreamName=a.name, ShardCount=a.shards)
    s = wait_stream_active(k, a.name)
    return {"stream": a.name, "arn": s["StreamARN"], "shards": [shard_json(x) for x in all_shards(k, a.name)]}


def cmd_list_shards(a):
    k = client(a, "kinesis")
    return {"stream": a.name, "shards": [shard_json(x) for x in all_shards(k, a.name)]}


def reshard_result(k, name, extra):
    wait_stream_active(k, name)
    return dict(extra, stream=name, shards=[shard_json(x) for x in all_shards(k, name)])


def cmd_split_shard(a):
    k = client(a, "kinesis")
    shard = next((s for s in all_shards(k, a.name) if s["ShardId"] == a.shard_id), None)
    if shard is None:
        raise ToolError(f"no shard {a.shard_id} in {a.name}")
    lo, hi = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    key = a.hash_key or str((lo + hi + 1) // 2)
    k.split_shard(StreamName=a.name, ShardToSplit=a.shard_id, NewStartingHashKey=key)
    return reshard_result(k, a.name, {"new_starting_hash_key": key})


def cmd_merge_shards(a):
    k = client(a, "kinesis")
    k.merge_shards(StreamName=a.name, ShardToMerge=a.shard_a, AdjacentShardToMerge=a.shard_b)
    return reshard_result(k, a.name, {})


def cmd_update_shard_count(a):
    k = client(a, "kinesis")
    r = k.update_shard_count(StreamName=a.name, TargetShardCount=a.count, ScalingType="UNIFORM_SCALING")
    return reshard_result(k, a.name, {"current_shard_count": r.get("CurrentShardCount"),
                                      "target_shard_count": r.get("TargetShardCount")})


def partition_key(a, i, line):
    if a.key is not None:
        return a.key
    if a.key_field is not None:
        try:
            v = json.loads(line)[a.key_field]
        except (ValueError, KeyError, TypeError) as e:
            raise ToolError(f"line {i + 1}: no JSON field {a.key_field!r}: {e}")
        return v if isinstance(v, str) else json.dumps(v)
    return str(i)


def cmd_put_records(a):
    k = client(a, "kinesis")
    lines = lines_of(a.file)
    results = [None] * len(lines)
    attempts = [0] * len(lines)
    entries = [(i, {"Data": ln, "PartitionKey": partition_key(a, i, ln)}) for i, ln in enumerate(lines)]
    calls = 0
    for start in range(0, len(entries), a.batch_size):
        pending = entries[start:start + a.batch_size]
        tries = 0
        while pending:
            calls += 1
            for i, _ in pending:
                attempts[i] += 1
            r = k.put_records(StreamName=a.name, Records=[e for _, e in pending])
            retry = []
            for (i, e), res in zip(pending, r["Records"]):
                if "ErrorCode" in res:
                    if res["ErrorCode"] not in RETRYABLE_ENTRY_ERRORS:
                        raise ToolError(f"line {i + 1}: {res['ErrorCode']}: {res.get('ErrorMessage')}")
                    retry.append((i, e))
                else:
                    results[i] = {"line": i + 1, "shard_id": res["ShardId"],
                                  "sequence_number": res["SequenceNumber"],
                                  "partition_key": e["PartitionKey"], "attempts": attempts[i]}
            pending = retry
            if pending:
                tries += 1
                if tries > a.max_retries:
                    raise ToolError(f"{len(pending)} entries still failing after {a.max_retries} retries")
                time.sleep(min(0.05 * 2 ** tries, 1.0))
    return {"stream": a.name, "put_records_calls": calls, "records": results}


def cmd_read_stream(a):
    """Every record of every shard from TRIM_HORIZON, parents before children.

    A shard is read until GetRecords returns a null NextShardIterator (closed
    shard, end reached; ChildShards are recorded and followed) or, for an open
    shard, until a page is empty and MillisBehindLatest is 0.
    """
    k = client(a, "kinesis")
    listed = {s["ShardId"]: shard_json(s) for s in all_shards(k, a.name)}
    order = []
    seen = set()

    def visit(sid):  # parents first, then by shard id
        if sid in seen or sid not in listed:
            return
        seen.add(sid)
        for p in (listed[sid]["parent_shard_id"], listed[sid]["adjacent_parent_shard_id"]):
            if p:
                visit(p)
        order.append(sid)

    for sid in sorted(listed):
        visit(sid)
    shards, records = [], []
    queue = list(order)
    while queue:
        sid = queue.pop(0)
        info = dict(listed.get(sid, {"shard_id": sid}))
        it = k.get_shard_iterator(StreamName=a.name, ShardId=sid,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        calls, count, end = 0, 0, None
        while True:
            calls += 1
            if calls > a.max_calls:
                raise ToolError(f"shard {sid}: still not at its end after {a.max_calls} GetRecords calls")
            kw = {"ShardIterator": it}
            if a.limit:
                kw["Limit"] = a.limit
            r = k.get_records(**kw)
            for rec in r["Records"]:
                count += 1
                records.append(dict(shard_id=sid, sequence_number=rec["SequenceNumber"],
                                    partition_key=rec["PartitionKey"],
                                    arrival_ms=ms(rec.get("ApproximateArrivalTimestamp")),
                                    **text(rec["Data"])))
            if r.get("NextShardIterator") is None:
                end = "closed"
                children = [c["ShardId"] for c in r.get("ChildShards") or []]
                info["child_shards"] = children
                for c in children:  # a child created after our ListShards
                    if c not in seen:
                        seen.add(c)
                        queue.append(c)
                break
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                end = "open, caught up"
                break
            it = r["NextShardIterator"]
        info.update(records=count, get_records_calls=calls, end=end)
        shards.append(info)
    return {"stream": a.name, "shards": shards, "records": records}


# ---------------------------------------------------------------- Firehose --

def cmd_create_delivery_stream(a):
    f = client(a, "firehose")
    dest = {"RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose", "BucketARN": f"arn:aws:s3:::{a.bucket}",
            "BufferingHints": {"SizeInMBs": a.buffer_mb, "IntervalInSeconds": a.buffer_seconds}}
    if a.prefix is not None:
        dest["Prefix"] = a.prefix
    if a.error_prefix is not None:
        dest["ErrorOutputPrefix"] = a.error_prefix
    r = f.create_delivery_stream(DeliveryStreamName=a.name, DeliveryStreamType="DirectPut",
                                 ExtendedS3DestinationConfiguration=dest)
    deadline = time.monotonic() + 30
    while True:
        d = f.describe_delivery_stream(DeliveryStreamName=a.name)["DeliveryStreamDescription"]
        if d["DeliveryStreamStatus"] == "ACTIVE":
            break
        if time.monotonic() > deadline:
            raise ToolError(f"delivery stream {a.name} still {d['DeliveryStreamStatus']}")
        time.sleep(0.1)
    return {"delivery_stream": a.name, "arn": r["DeliveryStreamARN"], "bucket": a.bucket, "prefix": a.prefix}


def cmd_put_record_batch(a):
    f = client(a, "firehose")
    lines = lines_of(a.file)
    ids, calls = [None] * len(lines), 0
    for start in range(0, len(lines), a.batch_size):
        pending = list(range(start, min(start + a.batch_size, len(lines))))
        tries = 0
        while pending:
            calls += 1
            r = f.put_record_batch(DeliveryStreamName=a.name,
                                   Records=[{"Data": lines[i] + (b"\n" if a.newline else b"")} for i in pending])
            retry = [i for i, res in zip(pending, r["RequestResponses"]) if "ErrorCode" in res]
            for i, res in zip(pending, r["RequestResponses"]):
                if "ErrorCode" not in res:
                    ids[i] = res["RecordId"]
            pending = retry
            if pending:
                tries += 1
                if tries > a.max_retries:
                    raise ToolError(f"{len(pending)} records still failing after {a.max_retries} retries")
                time.sleep(min(0.05 * 2 ** tries, 1.0))
    return {"delivery_stream": a.name, "put_record_batch_calls": calls,
            "records": [{"line": i + 1, "record_id": rid} for i, rid in enumerate(ids)]}


# ---------------------------------------------------------------------- S3 --

def cmd_create_bucket(a):
    client(a, "s3").create_bucket(Bucket=a.bucket)
    return {"bucket": a.bucket}


def cmd_put_object(a):
    kw = {"Bucket": a.bucket, "Key": a.key, "Body": read_input(a.file)}
    if a.if_none_match:
        kw["IfNoneMatch"] = a.if_none_match
    if a.if_match:
        kw["IfMatch"] = a.if_match
    r = client(a, "s3").put_object(**kw)
    return {"bucket": a.bucket, "key": a.key, "etag": r.get("ETag"), "size": len(kw["Body"])}


def cmd_list_objects(a):
    s3 = client(a, "s3")
    out, kw = [], {"Bucket": a.bucket, "Prefix": a.prefix or ""}
    while True:
        r = s3.list_objects_v2(**kw)
        out += [{"key": o["Key"], "size": o["Size"], "etag": o.get("ETag"),
                 "last_modified_ms": ms(o.get("LastModified"))} for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            return {"bucket": a.bucket, "prefix": a.prefix, "objects": out}
        kw["ContinuationToken"] = r["NextContinuationToken"]


def cmd_get_objects(a):
    """Every object under the prefix with its bytes (text, plus base64 when not UTF-8), in one call."""
    s3 = client(a, "s3")
    listed = cmd_list_objects(a)["objects"]
    out = []
    for o in listed:
        body = s3.get_object(Bucket=a.bucket, Key=o["key"])["Body"].read()
        out.append(dict(key=o["key"], size=len(body), **text(body)))
    return {"bucket": a.bucket, "prefix": a.prefix, "objects": out}


def cmd_get_object(a):
    body = client(a, "s3").get_object(Bucket=a.bucket, Key=a.key)["Body"].read()
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return None


# ------------------------------------------------------------------ Lambda --

def cmd_create_function(a):
    lam = client(a, "lambda")
    module = os.path.splitext(os.path.basename(a.handler_file))[0]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(a.handler_file, module + ".py")
    env = {}
    for kv in a.env or []:
        if "=" not in kv:
            raise ToolError(f"--env {kv!r}: expected K=V")
        k, v = kv.split("=", 1)
        env[k] = v
    r = lam.create_function(FunctionName=a.name, Runtime="python3.11", Handler=f"{module}.handler",
                            Role=f"arn:aws:iam::{ACCOUNT}:role/lambda", Code={"ZipFile": buf.getvalue()},
                            Timeout=a.timeout, MemorySize=128, Environment={"Variables": env})
    deadline = time.monotonic() + 30
    while r.get("State") not in (None, "Active"):
        if r.get("State") == "Failed" or time.monotonic() > deadline:
            raise ToolError(f"function {a.name} is {r.get('State')}: {r.get('StateReason')}")
        time.sleep(0.1)
        r = lam.get_function_configuration(FunctionName=a.name)
    return {"function": a.name, "arn": r["FunctionArn"], "handler": r["Handler"], "timeout": r["Timeout"],
            "env": env}


def cmd_invoke(a):
    payload = read_input(a.payload[1:]) if a.payload.startswith("@") else a.payload.encode()
    json.loads(payload)  # fail early on a malformed payload
    r = client(a, "lambda").invoke(FunctionName=a.name, InvocationType="RequestResponse", Payload=payload)
    body = r["Payload"].read()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body.decode("utf-8", "replace")
    return {"function": a.name, "status_code": r["StatusCode"], "function_error": r.get("FunctionError"),
            "payload": parsed}


# -------------------------------------------------------------------- main --

def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                   help="e.g. http://127.0.0.1:4566 (default: $AWS_ENDPOINT_URL)")
    p.add_argument("--region", default=os.environ["AWS_REGION"])
    p.add_argument("--max-attempts", type=int, default=3,
                   help="HTTP attempts per call, the first included (1 = no retry)")
    p.add_argument("--timeout", type=float, default=30, help="connect/read timeout, seconds")
    sub = p.add_subparsers(dest="cmd", required=True)

    def cmd(name, fn, *args):
        sp = sub.add_parser(name)
        sp.set_defaults(fn=fn)
        for a in args:
            sp.add_argument(a)
        return sp

    cmd("create-stream", cmd_create_stream, "name").add_argument("--shards", type=int, default=1)
    sp = cmd("put-records", cmd_put_records, "name", "file")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--key", help="one partition key for every record")
    g.add_argument("--key-field", help="partition key = this field of each JSON line (default: line index)")
    sp.add_argument("--batch-size", type=int, default=500)
    sp.add_argument("--max-retries", type=int, default=10, help="retries of failed entries per batch")
    sp = cmd("read-stream", cmd_read_stream, "name")
    sp.add_argument("--limit", type=int, help="GetRecords Limit")
    sp.add_argument("--max-calls", type=int, default=10000, help="GetRecords calls per shard before giving up")
    cmd("list-shards", cmd_list_shards, "name")
    cmd("split-shard", cmd_split_shard, "name", "shard_id").add_argument(
        "--hash-key", help="NewStartingHashKey (default: middle of the shard's range)")
    cmd("merge-shards", cmd_merge_shards, "name", "shard_a", "shard_b")
    cmd("update-shard-count", cmd_update_shard_count, "name").add_argument("count", type=int)

    sp = cmd("create-delivery-stream", cmd_create_delivery_stream, "name")
    sp.add_argument("--bucket", required=True)
    sp.add_argument("--prefix")
    sp.add_argument("--error-prefix")
    sp.add_argument("--buffer-seconds", type=int, default=60)
    sp.add_argument("--buffer-mb", type=int, default=1)
    sp = cmd("put-record-batch", cmd_put_record_batch, "name", "file")
    sp.add_argument("--batch-size", type=int, default=500)
    sp.add_argument("--max-retries", type=int, default=10)
    sp.add_argument("--newline", action="store_true", help="append \\n to each record")

    cmd("create-bucket", cmd_create_bucket, "bucket")
    sp = cmd("put-object", cmd_put_object, "bucket", "key", "file")
    sp.add_argument("--if-none-match", help="conditional put, e.g. '*'")
    sp.add_argument("--if-match", help="conditional put on this ETag")
    cmd("list-objects", cmd_list_objects, "bucket").add_argument("--prefix")
    cmd("get-object", cmd_get_object, "bucket", "key")
    cmd("get-objects", cmd_get_objects, "bucket").add_argument("--prefix")

    sp = cmd("create-function", cmd_create_function, "name", "handler_file")
    sp.add_argument("--timeout", type=int, default=3, help="function timeout, seconds")
    sp.add_argument("--env", action="append", metavar="K=V")
    cmd("invoke", cmd_invoke, "name", "payload")  # JSON text, or @FILE
    return p


def main():
    a = parser().parse_args()
    if not a.endpoint:
        sys.exit("aws_tool.py: --endpoint (or AWS_ENDPOINT_URL) is required")
    try:
        out = a.fn(a)
    except ClientError as e:
        err = e.response.get("Error", {})
        fail({"code": err.get("Code"), "message": err.get("Message"), "operation": e.operation_name,
              "http_status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")})
    except (BotoCoreError, ToolError, OSError, ValueError) as e:
        fail({"code": type(e).__name__, "message": str(e)})
    if out is not None:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")


def fail(err):
    json.dump({"error": err}, sys.stdout)
    sys.stdout.write("\n")
    print(f"aws_tool.py: {err.get('code')}: {err.get('message')}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
