#!/usr/bin/env python3
"""selftest.py — prove the harness works: start ministack, kinesis-local and faulty_proxy with start.sh,
drive them with aws_tool.py (as the Rust tests will) and with boto3 (no retries), check the Lambda
fixtures and every proxy fault, then stop everything.

    tests/servers/install.sh && "${ROWTIME_SERVERS:-$HOME/.cache/rowtime-servers}/ministack/bin/python" \
        tests/servers/selftest.py

Prints one line per check and ends with "N passed, M failed" (exit 1 if any failed). Ports are free
ephemeral ones; state goes to a temporary directory that is removed at the end. Checks marked
"quirk:" pin down a documented server behaviour (see README.md) so a version change is noticed.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

for k, v in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1"),
             ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):
    os.environ[k] = v
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError  # noqa

HERE = os.path.dirname(os.path.abspath(__file__))
TMP = tempfile.mkdtemp(prefix="rowtime-selftest-")
os.environ["ROWTIME_SERVERS_LOGS"] = TMP
PASSED, FAILED, PIDS = [], [], []
NO_RETRY = {"total_max_attempts": 1}  # NB: {"max_attempts": 1} would still retry once


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    print(("ok    " if cond else "FAIL  ") + name + ("" if cond or not detail else f"  -- {detail}"), flush=True)
    return cond


def free_port(pair=False):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if not pair or p + 1 > 65535:
            return p
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                pass


def start(name, port, *extra):
    t = time.monotonic()
    r = subprocess.run([f"{HERE}/start.sh", name, str(port), *extra], capture_output=True, text=True)
    took = time.monotonic() - t
    if not check(f"start {name} on 127.0.0.1:{port} ({took:.2f}s)", r.returncode == 0, r.stderr.strip()):
        raise SystemExit(finish())
    PIDS.append(int(r.stdout.strip()))
    return PIDS[-1]


def tool(ep, *args, expect_ok=True):
    r = subprocess.run([sys.executable, f"{HERE}/aws_tool.py", "--endpoint", ep, *args], capture_output=True)
    if args[0] == "get-object" and r.returncode == 0:
        return r.stdout
    out = json.loads(r.stdout) if r.stdout.strip() else {}
    if expect_ok and r.returncode != 0:
        print(f"      aws_tool {' '.join(args)} -> {r.stdout.decode()} {r.stderr.decode()}")
    return out


def client(ep, service, **cfg):
    cfg.setdefault("retries", NO_RETRY)
    return boto3.client(service, endpoint_url=ep, config=Config(**cfg, s3={"addressing_style": "path"}))


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def listening_only_on_loopback(pid):
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    addrs = [ln.split()[3] for ln in out.splitlines() if f"pid={pid}," in ln]
    return addrs and all(a.startswith("127.0.0.1:") for a in addrs), addrs


# ------------------------------------------------------------------------------------------ Kinesis --
def kinesis_checks(ep, label, reshards_like_aws):
    lines = "".join(json.dumps({"id": i, "k": f"key{i % 5}", "v": f"row {i}"}) + "\n" for i in range(20))
    recs = write(f"recs-{label}.jsonl", lines)
    c = tool(ep, "create-stream", "ks", "--shards", "2")
    check(f"{label}: create-stream 2 shards ACTIVE", len(c.get("shards", [])) == 2, c)
    p = tool(ep, "put-records", "ks", recs, "--key-field", "k")
    check(f"{label}: put-records 20 -> shard ids + sequence numbers",
          len(p.get("records", [])) == 20 and all(r["sequence_number"] and r["shard_id"] for r in p["records"]), p)
    r = tool(ep, "read-stream", "ks", "--limit", "3")
    data = sorted(x["data"] for x in r.get("records", []))
    check(f"{label}: read-stream returns the 20 lines as text with arrival_ms",
          data == sorted(lines.splitlines()) and all(isinstance(x["arrival_ms"], int) for x in r["records"]), r)
    seqs_ok = all(int(a["sequence_number"]) < int(b["sequence_number"])
                  for a, b in zip(r["records"], r["records"][1:]) if a["shard_id"] == b["shard_id"])
    check(f"{label}: sequence numbers increase within a shard", seqs_ok)
    first = c["shards"][0]["shard_id"]
    s = tool(ep, "split-shard", "ks", first)
    ids = {x["shard_id"]: x for x in s.get("shards", [])}
    children = [x for x in ids.values() if x["parent_shard_id"] == first]
    check(f"{label}: split-shard makes 2 children of {first}", len(children) == 2, s)
    tool(ep, "put-records", "ks", recs, "--key-field", "k")
    r = tool(ep, "read-stream", "ks")
    if reshards_like_aws:
        parent = next((x for x in r["shards"] if x["shard_id"] == first), {})
        check(f"{label}: closed parent read to its end (null iterator, ChildShards)",
              parent.get("end") == "closed" and sorted(parent.get("child_shards", [])) == sorted(
                  x["shard_id"] for x in children), parent)
        check(f"{label}: all 40 records still readable after split", len(r["records"]) == 40, len(r["records"]))
    else:
        check(f"{label}: quirk: split DELETES the parent shard and its records",
              first not in ids and len(r["records"]) < 40, len(r["records"]))
    a, b = sorted(x["shard_id"] for x in children)
    m = tool(ep, "merge-shards", "ks", a, b)
    merged = [x for x in m.get("shards", []) if x["parent_shard_id"] == a and x["adjacent_parent_shard_id"] == b]
    check(f"{label}: merge-shards {a}+{b} -> one child", len(merged) == 1, m)
    tool(ep, "put-records", "ks", recs, "--key", "one-key")
    u = tool(ep, "update-shard-count", "ks", "4")
    open_shards = [x for x in u.get("shards", []) if not x["closed"]]
    check(f"{label}: update-shard-count 4 -> 4 open shards", len(open_shards) == 4, u)
    r = tool(ep, "read-stream", "ks")
    if reshards_like_aws:
        check(f"{label}: read-stream after merge + update-shard-count still has all 60 records",
              len(r["records"]) == 60 and sum(x["end"] == "closed" for x in r["shards"]) >= 4, len(r["records"]))
    else:
        check(f"{label}: quirk: update-shard-count rebuilds shards 0..N-1, empty, no parents",
              len(r["records"]) == 0 and [x["shard_id"] for x in r["shards"]] ==
              [f"shardId-{i:012d}" for i in range(4)], r["shards"])
    ls = tool(ep, "list-shards", "ks")
    check(f"{label}: list-shards", len(ls.get("shards", [])) >= 4, ls)
    e = tool(ep, "list-shards", "missing", expect_ok=False)
    check(f"{label}: errors come back as JSON", e.get("error", {}).get("code") == "ResourceNotFoundException", e)


# -------------------------------------------------------------------------------- S3, Firehose --
def s3_firehose_checks(ep):
    body = write("obj.txt", "hello\nworld\n")
    tool(ep, "create-bucket", "bkt-one")
    p = tool(ep, "put-object", "bkt-one", "dir/a.txt", body)
    check("s3: put-object", p.get("etag"), p)
    e = tool(ep, "put-object", "bkt-one", "dir/a.txt", body, "--if-none-match", "*", expect_ok=False)
    check("s3: put-object --if-none-match * on an existing key -> 412",
          e.get("error", {}).get("http_status") == 412, e)
    e = tool(ep, "put-object", "bkt-one", "dir/a.txt", body, "--if-match", '"nope"', expect_ok=False)
    check("s3: put-object --if-match wrong ETag -> 412", e.get("error", {}).get("http_status") == 412, e)
    p2 = tool(ep, "put-object", "bkt-one", "dir/a.txt", body, "--if-match", p["etag"])
    check("s3: put-object --if-match right ETag", p2.get("etag") == p["etag"], p2)
    tool(ep, "put-object", "bkt-one", "other.txt", body)
    lo = tool(ep, "list-objects", "bkt-one", "--prefix", "dir/")
    check("s3: list-objects --prefix", [o["key"] for o in lo.get("objects", [])] == ["dir/a.txt"], lo)
    binary = os.path.join(TMP, "bin.dat")
    with open(binary, "wb") as f:
        f.write(bytes(range(256)) * 3)
    tool(ep, "put-object", "bkt-one", "bin.dat", binary)
    check("s3: get-object returns the raw bytes", tool(ep, "get-object", "bkt-one", "bin.dat") ==
          bytes(range(256)) * 3)
    go = tool(ep, "get-objects", "bkt-one", "--prefix", "dir/")
    check("s3: get-objects --prefix gives each object's key and text", [(o["key"], o["data"]) for o in
          go.get("objects", [])] == [("dir/a.txt", open(body).read())], go)

    tool(ep, "create-bucket", "fh-out")
    d = tool(ep, "create-delivery-stream", "fh1", "--bucket", "fh-out", "--prefix", "out/")
    check("firehose: create-delivery-stream (ExtendedS3) ACTIVE", d.get("arn"), d)
    recs = write("fh.jsonl", '{"a":1}\n{"a":2}\n{"a":3}\n')
    pb = tool(ep, "put-record-batch", "fh1", recs, "--newline")
    check("firehose: put-record-batch", len(pb.get("records", [])) == 3, pb)
    objs = []
    for _ in range(50):  # ministack writes the S3 objects asynchronously
        objs = tool(ep, "list-objects", "fh-out", "--prefix", "out/").get("objects", [])
        if len(objs) >= 3:
            break
        time.sleep(0.1)
    got = sorted(tool(ep, "get-object", "fh-out", o["key"]) for o in objs)
    check("firehose: quirk: one S3 object per record, key out/YYYY/MM/DD/HH/fh1-1-...",
          got == [b'{"a":1}\n', b'{"a":2}\n', b'{"a":3}\n'] and all(
              o["key"].startswith("out/2") and "/fh1-1-" in o["key"] for o in objs), objs)


# ------------------------------------------------------------------------------------------ Lambda --
def b64(s):
    return base64.b64encode(s.encode()).decode()


def lambda_checks(ep):
    st = os.path.join(TMP, "pp-state")
    f = tool(ep, "create-function", "pp", f"{HERE}/lambdas/preprocess_upper.py", "--timeout", "2",
             "--env", f"STATE_DIR={st}", "--env", "RAISE_FIRST=1", "--env", "SLEEP_FIRST=2",
             "--env", "SLEEP_SECONDS=5", "--env", "OMIT_FIRST=3")
    check("lambda: create-function preprocess_upper (env vars)", f.get("handler") == "preprocess_upper.handler", f)
    meta = {"shardId": "shardId-000000000000", "partitionKey": "k", "sequenceNumber": "1",
            "approximateArrivalTimestamp": 1700000000000}
    texts = ['{"a":"hello"}', "please DROP me", "FAIL this", '{"x":1,"t":"SPLIT3"}']
    ev = {"invocationId": "inv-1", "applicationArn": "arn:aws:kinesisanalytics:us-east-1:000000000000:application/a",
          "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s",
          "records": [{"recordId": f"r{i}", "data": b64(t), "kinesisStreamRecordMetadata": meta}
                      for i, t in enumerate(texts)]}
    evf = write("pp-event.json", json.dumps(ev))
    r1 = tool(ep, "invoke", "pp", "@" + evf)
    check("lambda pp: call 1 raises (RAISE_FIRST=1)", r1.get("function_error") == "Unhandled", r1)
    t = time.monotonic()
    r2 = tool(ep, "invoke", "pp", "@" + evf)
    took = time.monotonic() - t
    check(f"lambda pp: call 2 sleeps past the 2 s timeout -> Sandbox.Timedout ({took:.1f}s)",
          (r2.get("payload") or {}).get("errorType") == "Sandbox.Timedout", r2)
    r3 = tool(ep, "invoke", "pp", "@" + evf)
    check("lambda pp: call 3 omits the last recordId", [x["recordId"] for x in r3["payload"]["records"]] ==
          ["r0", "r1", "r2"], r3)
    r4 = tool(ep, "invoke", "pp", "@" + evf)["payload"]["records"]
    dec = [base64.b64decode(x["data"]).decode() for x in r4]
    check("lambda pp: Ok upper-cased / Dropped / ProcessingFailed / SPLIT3 -> 3 JSON lines",
          [x["result"] for x in r4] == ["Ok", "Dropped", "ProcessingFailed", "Ok"] and dec[0] == '{"A":"HELLO"}'
          and [json.loads(ln)["part"] for ln in dec[3].split("\n")] == [1, 2, 3], r4)
    with open(os.path.join(st, "requests.jsonl")) as fh:
        logged = [json.loads(ln) for ln in fh]
    check("lambda pp: request bodies logged in STATE_DIR (handler can write files)",
          len(logged) == 4 and logged[0]["event"] == ev and [x["fault"] for x in logged] ==
          ["raise", "sleep", "omit", None], [x["fault"] for x in logged])

    st = os.path.join(TMP, "sink-state")
    tool(ep, "create-function", "sink", f"{HERE}/lambdas/output_sink.py", "--timeout", "1",
         "--env", f"STATE_DIR={st}", "--env", "FAIL_MARKER=BAD", "--env", "OMIT_FIRST=1")
    ev = {"invocationId": "inv-2", "applicationArn": "arn:aws:kinesisanalytics:us-east-1:000000000000:application/a",
          "records": [{"recordId": f"r{i}", "lambdaDeliveryRecordMetadata": {"retryHint": 0}, "data": b64(t)}
                      for i, t in enumerate(["good", "BAD one", "BAD two"])]}
    evf = write("sink-event.json", json.dumps(ev))
    a1 = tool(ep, "invoke", "sink", "@" + evf)["payload"]["records"]
    a2 = tool(ep, "invoke", "sink", "@" + evf)["payload"]["records"]
    a3 = tool(ep, "invoke", "sink", "@" + evf)["payload"]["records"]
    check("lambda sink: omit on call 1; DeliveryFailed only on a marked record's first answered delivery",
          [x["result"] for x in a1] == ["Ok", "DeliveryFailed"] and
          [x["result"] for x in a2] == ["Ok", "Ok", "DeliveryFailed"] and
          [x["result"] for x in a3] == ["Ok", "Ok", "Ok"], (a1, a2, a3))
    with open(os.path.join(st, "received.jsonl")) as fh:
        got = [json.loads(ln) for ln in fh]
    check("lambda sink: every received record logged (data, recordId, retryHint, call)",
          len(got) == 9 and got[0] == {"call": 1, "invocationId": "inv-2", "recordId": "r0", "retryHint": 0,
                                       "data": "good", "result": "Ok", "fault": "omit"}, got[:1])


# ------------------------------------------------------------------------------------------- Proxy --
def plan(px, rules):
    urllib.request.urlopen(urllib.request.Request(px + "/__proxy/plan", data=json.dumps(rules).encode(),
                                                  method="PUT")).read()


def err(fn):
    try:
        fn()
        return None
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, None


def proxy_checks(px, up, log):
    k = client(px, "kinesis")
    k.create_stream(StreamName="pxs", ShardCount=1)
    time.sleep(0.2)
    put = lambda d: k.put_records(StreamName="pxs", Records=[{"Data": d, "PartitionKey": "a"}])  # noqa: E731
    plan(px, [{"match": {"target": "Kinesis_20131202.PutRecords"}, "from": 2, "to": 3, "fault": "throttle"}])
    res = [err(lambda i=i: put(b"t%d" % i)) for i in range(4)]
    check("proxy throttle: calls 2..3 -> 400 ProvisionedThroughputExceededException, 1 and 4 pass",
          res == [None, ("ProvisionedThroughputExceededException", 400),
                  ("ProvisionedThroughputExceededException", 400), None], res)
    plan(px, [{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 2, "fault": "throttle"}])
    r = client(px, "kinesis", retries={"total_max_attempts": 3, "mode": "standard"}).put_records(
        StreamName="pxs", Records=[{"Data": b"retried", "PartitionKey": "a"}])
    check("proxy throttle: botocore treats it as retryable (3rd attempt succeeds)",
          r["ResponseMetadata"]["RetryAttempts"] == 2, r["ResponseMetadata"])

    plan(px, [{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 1, "fault": "fail_entries",
               "indices": [1], "marker": "BAD"}])
    r = k.put_records(StreamName="pxs", Records=[{"Data": d, "PartitionKey": "a"}
                                                  for d in (b"e0", b"e1", b"e2 BAD", b"e3")])
    codes = [x.get("ErrorCode") for x in r["Records"]]
    check("proxy fail_entries: entries 1 + marker fail, merged in order, FailedRecordCount 2",
          r["FailedRecordCount"] == 2 and codes == [None, "ProvisionedThroughputExceededException",
                                                    "ProvisionedThroughputExceededException", None] and
          all("SequenceNumber" in r["Records"][i] for i in (0, 3)), r["Records"])
    plan(px, [{"match": {"target": "Kinesis_20131202.PutRecords"}, "fault": "fail_entries", "indices": [0, 1],
               "error_code": "InternalFailure"}])
    r = k.put_records(StreamName="pxs", Records=[{"Data": d, "PartitionKey": "a"} for d in (b"x0", b"x1")])
    check("proxy fail_entries: all entries failed -> nothing forwarded", r["FailedRecordCount"] == 2 and
          {x["ErrorCode"] for x in r["Records"]} == {"InternalFailure"}, r)
    plan(px, [])
    rs = tool(up, "read-stream", "pxs")
    check("proxy fail_entries: upstream holds exactly the forwarded records, none twice",
          sorted(x["data"] for x in rs["records"]) == sorted(["t0", "t3", "retried", "e0", "e3"]),
          [x["data"] for x in rs["records"]])

    f = client(px, "firehose")
    tool(up, "create-bucket", "px-fh")
    tool(up, "create-delivery-stream", "pxfh", "--bucket", "px-fh", "--prefix", "p/")
    plan(px, [{"match": {"target": "Firehose_20150804.PutRecordBatch"}, "first": 1, "fault": "fail_entries",
               "marker": "BAD"}])
    r = f.put_record_batch(DeliveryStreamName="pxfh", Records=[{"Data": d} for d in (b"ok1", b"BAD", b"ok2")])
    check("proxy fail_entries: PutRecordBatch -> FailedPutCount 1, ServiceUnavailableException in place",
          r["FailedPutCount"] == 1 and [x.get("ErrorCode") for x in r["RequestResponses"]] ==
          [None, "ServiceUnavailableException", None] and "RecordId" in r["RequestResponses"][2], r)

    plan(px, [{"match": {"target": "Kinesis_20131202.ListShards"}, "first": 1, "fault": "delay", "seconds": 2}])
    slow = client(px, "kinesis", read_timeout=1, connect_timeout=1)
    e = err(lambda: slow.list_shards(StreamName="pxs"))
    check("proxy delay: 2 s delay -> client read timeout", e == ("ReadTimeoutError", None), e)
    plan(px, [{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 1, "fault": "delay", "seconds": 2,
               "when": "after"}])
    e = err(lambda: slow.put_records(StreamName="pxs", Records=[{"Data": b"late", "PartitionKey": "a"}]))
    time.sleep(1.2)
    rs = tool(up, "read-stream", "pxs")
    check("proxy delay when=after: client timed out but the write was applied",
          e == ("ReadTimeoutError", None) and "late" in [x["data"] for x in rs["records"]], e)

    plan(px, [{"match": {"target": "Kinesis_20131202.DescribeStreamSummary"}, "first": 1, "fault": "http_500"}])
    e1, e2 = err(lambda: k.describe_stream_summary(StreamName="pxs")), err(
        lambda: k.describe_stream_summary(StreamName="pxs"))
    check("proxy http_500: first call -> 500 InternalFailure, then passes", e1 == ("InternalFailure", 500) and
          e2 is None, (e1, e2))
    it = k.get_shard_iterator(StreamName="pxs", ShardId="shardId-000000000000",
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    plan(px, [{"match": {"target": "Kinesis_20131202.GetRecords"}, "calls": [1], "fault": "expire_iterator"}])
    e1, e2 = err(lambda: k.get_records(ShardIterator=it)), err(lambda: k.get_records(ShardIterator=it))
    check("proxy expire_iterator: GetRecords -> 400 ExpiredIteratorException", e1 ==
          ("ExpiredIteratorException", 400) and e2 is None, (e1, e2))

    plan(px, [{"fault": "down", "after_s": 0, "for_s": 1.5}])
    e0 = err(lambda: client(px, "kinesis").list_shards(StreamName="pxs"))  # a new connection
    e1 = err(lambda: k.list_shards(StreamName="pxs"))  # a kept-alive connection
    time.sleep(1.7)
    e2 = err(lambda: k.list_shards(StreamName="pxs"))
    check("proxy down window: connections reset (new and kept-alive), then back", e0 is not None and
          e0[1] is None and e1 is not None and e1[1] is None and e2 is None, (e0, e1, e2))
    plan(px, [{"match": {"target": "Kinesis_20131202.ListShards"}, "first": 1, "fault": "down"}])
    e1, e2 = err(lambda: k.list_shards(StreamName="pxs")), err(lambda: k.list_shards(StreamName="pxs"))
    check("proxy down on call 1: closed without answer, call 2 passes", e1 is not None and e1[1] is None and
          e2 is None, (e1, e2))

    tool(up, "create-function", "pxfn", f"{HERE}/lambdas/output_sink.py", "--env", f"STATE_DIR={TMP}/pxfn")
    lam = client(px, "lambda")
    plan(px, [{"match": {"method": "POST", "path": "^/2015-03-31/functions/[^/]+/invocations$"}, "first": 1,
               "fault": "throttle"}])
    pay = json.dumps({"invocationId": "i", "records": []})
    e1, e2 = err(lambda: lam.invoke(FunctionName="pxfn", Payload=pay)), err(
        lambda: lam.invoke(FunctionName="pxfn", Payload=pay))
    check("proxy throttle on Lambda Invoke path -> 429 TooManyRequestsException", e1 ==
          ("TooManyRequestsException", 429) and e2 is None, (e1, e2))
    s3 = client(px, "s3")
    plan(px, [{"match": {"method": "PUT", "path": "^/px-fh/"}, "first": 1, "fault": "throttle"}])
    e1, e2 = err(lambda: s3.put_object(Bucket="px-fh", Key="k", Body=b"x")), err(
        lambda: s3.put_object(Bucket="px-fh", Key="k", Body=b"x"))
    check("proxy throttle on S3 PUT -> 503 SlowDown (XML)", e1 == ("SlowDown", 503) and e2 is None, (e1, e2))

    with open(log) as fh:
        entries = [json.loads(ln) for ln in fh]
    faulted = [x for x in entries if x.get("fault")]
    puts = [x for x in entries if x.get("target") == "Kinesis_20131202.PutRecords"]
    check("proxy log: one JSON line per request with target, entries, fault",
          len(faulted) >= 14 and all("entries" in x for x in puts) and
          any(x.get("forwarded_entries") == 2 and x["entries"] == 4 for x in puts),
          [(x.get("target") or x.get("path"), x.get("fault")) for x in entries])


def file_plan_check(up):
    pf = os.path.join(TMP, "plan.json")
    with open(pf, "w") as fh:
        json.dump([], fh)
    port = free_port()
    pid = start("faulty-proxy", port, "--upstream", up, "--plan", pf, "--log", os.path.join(TMP, "p2.jsonl"))
    px = f"http://127.0.0.1:{port}"
    k = client(px, "kinesis")
    e1 = err(lambda: k.list_streams())
    with open(pf, "w") as fh:
        json.dump([{"match": {"target": "Kinesis_20131202.ListStreams"}, "first": 1, "fault": "http_500"}], fh)
    e2, e3 = err(lambda: k.list_streams()), err(lambda: k.list_streams())
    check("proxy --plan FILE is re-read when it changes", e1 is None and e2 == ("InternalFailure", 500) and
          e3 is None, (e1, e2, e3))
    return pid


def kinesis_local_proxy_check(kl):
    port = free_port()
    rules = [{"match": {"target": "Kinesis_20131202.PutRecords"}, "first": 1, "fault": "fail_entries", "indices": [0]}]
    start("faulty-proxy", port, "--upstream", kl, "--plan-json", json.dumps(rules))
    k = client(f"http://127.0.0.1:{port}", "kinesis")
    k.create_stream(StreamName="klpx", ShardCount=1)
    time.sleep(0.3)
    r = k.put_records(StreamName="klpx", Records=[{"Data": d, "PartitionKey": "a"} for d in (b"a", b"b", b"c")])
    rs = tool(kl, "read-stream", "klpx")
    check("proxy in front of kinesis-local: fail_entries merge (FailedRecordCount 1), upstream has b, c",
          r["FailedRecordCount"] == 1 and r["Records"][0].get("ErrorCode") and
          [x["data"] for x in rs["records"]] == ["b", "c"], (r["Records"], rs.get("records")))


def hide_shard_end_check(kl):
    port = free_port()
    log = os.path.join(TMP, "hide-end.jsonl")
    rules = [{"match": {"target": "Kinesis_20131202.GetRecords"}, "fault": "hide_shard_end"}]
    start("faulty-proxy", port, "--upstream", kl, "--plan-json", json.dumps(rules), "--log", log)
    k = client(f"http://127.0.0.1:{port}", "kinesis")
    tool(kl, "create-stream", "klend", "--shards", "1")
    k.put_records(StreamName="klend", Records=[{"Data": d, "PartitionKey": "a"} for d in (b"a", b"b", b"c")])
    tool(kl, "split-shard", "klend", "shardId-000000000000")
    it = k.get_shard_iterator(StreamName="klend", ShardId="shardId-000000000000",
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r1 = k.get_records(ShardIterator=it)
    r2 = k.get_records(ShardIterator=r1["NextShardIterator"])
    lines = [json.loads(ln) for ln in open(log)]
    gsi = [ln for ln in lines if ln["target"] == "Kinesis_20131202.GetShardIterator"]
    check("proxy hide_shard_end: a closed shard's last page has an iterator and no ChildShards; past it, "
          "empty pages forever; GetShardIterator logged with shard and type",
          [x["Data"] for x in r1["Records"]] == [b"a", b"b", b"c"] and r1.get("NextShardIterator") and
          not r1.get("ChildShards") and r2["Records"] == [] and r2["NextShardIterator"] == r1["NextShardIterator"]
          and r2["MillisBehindLatest"] == 0 and
          [(x["shard_id"], x["iterator_type"]) for x in gsi] == [("shardId-000000000000", "TRIM_HORIZON")] and
          [ln.get("hid_end") for ln in lines if ln.get("target", "").endswith("GetRecords")] == [True, None],
          (r1, r2, lines))


def finish():
    if PIDS:
        subprocess.run([f"{HERE}/stop.sh", *map(str, PIDS)])
        time.sleep(0.2)
        alive = [p for p in PIDS if subprocess.run(["ps", "-o", "pid=", "-s", str(p)], capture_output=True,
                                                   text=True).stdout.strip()]
        check("stop.sh: every server and its process group are gone", not alive, alive)
    subprocess.run(["rm", "-rf", TMP])
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


def main():
    try:
        ms_port, kl_port, px_port = free_port(), free_port(pair=True), free_port()
        ms = start("ministack", ms_port)
        kl = start("kinesis-local", kl_port)
        up = f"http://127.0.0.1:{ms_port}"
        log = os.path.join(TMP, "proxy.jsonl")
        px = start("faulty-proxy", px_port, "--upstream", up, "--plan-json", "[]", "--log", log, "--log-data")
        for pid, name in ((ms, "ministack"), (kl, "kinesis-local"), (px, "faulty-proxy")):
            ok, addrs = listening_only_on_loopback(pid)
            check(f"{name} listens on 127.0.0.1 only {addrs}", ok, addrs)
        kinesis_checks(f"http://127.0.0.1:{kl_port}", "kinesis-local", reshards_like_aws=True)
        kinesis_checks(up, "ministack", reshards_like_aws=False)
        s3_firehose_checks(up)
        lambda_checks(up)
        proxy_checks(f"http://127.0.0.1:{px_port}", up, log)
        file_plan_check(up)
        kinesis_local_proxy_check(f"http://127.0.0.1:{kl_port}")
        hide_shard_end_check(f"http://127.0.0.1:{kl_port}")
    except Exception as e:  # noqa: BLE001 - report, then still stop every server
        import traceback
        traceback.print_exc()
        check("selftest ran to the end", False, repr(e))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
