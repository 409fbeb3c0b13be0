#!/usr/bin/env python3
"""bench/kinesis_stream.py: the benchmark's producer and checker for a Kinesis stream (boto3).

    python kinesis_stream.py --endpoint URL produce STREAM FILE   # one record per line, PutRecords of 500
    python kinesis_stream.py --endpoint URL totals STREAM [--billing]  # every record from TRIM_HORIZON

`produce` prints {"records", "seconds"}; `totals` prints {"records", "trips", "cents", "seconds"}, with
`--billing` the trips and cents summed over the billing rows the stream holds (JSON objects, one
per record or several back to back), so a run's output can be checked against the file run's.
"""
import argparse
import json
import os
import sys
import time

for k, v in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
             ("AWS_REGION", "us-east-1"), ("AWS_DEFAULT_REGION", "us-east-1"),
             ("AWS_EC2_METADATA_DISABLED", "true")):
    os.environ.setdefault(k, v)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402


def client(endpoint):
    return boto3.client("kinesis", endpoint_url=endpoint,
                        config=Config(retries={"total_max_attempts": 10, "mode": "standard"}))


def produce(a):
    k = client(a.endpoint)
    with open(a.file, "rb") as f:
        lines = [ln.rstrip(b"\n") for ln in f if ln.strip()]
    batches = [lines[i:i + 500] for i in range(0, len(lines), 500)]

    t = time.monotonic()
    # One call at a time, so that each shard holds its records in the file's order (one shard
    # then replays exactly as the file does).
    for n, batch in enumerate(batches):
        entries = [{"Data": d, "PartitionKey": str(n * 500 + i)} for i, d in enumerate(batch)]
        while entries:
            r = k.put_records(StreamName=a.stream, Records=entries)
            entries = [e for e, res in zip(entries, r["Records"]) if "ErrorCode" in res]
            if entries:
                time.sleep(0.1)
    return {"records": len(lines), "seconds": round(time.monotonic() - t, 2)}


def documents(data):
    dec, text, i = json.JSONDecoder(), data.decode(), 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return
        obj, i = dec.raw_decode(text, i)
        yield obj


def totals(a):
    k = client(a.endpoint)
    shards, token = [], None
    while True:
        r = k.list_shards(**({"NextToken": token} if token else {"StreamName": a.stream}))
        shards += r["Shards"]
        token = r.get("NextToken")
        if not token:
            break
    t = time.monotonic()
    out = {"records": 0, "trips": 0, "cents": 0}
    for s in shards:
        it = k.get_shard_iterator(StreamName=a.stream, ShardId=s["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            r = k.get_records(ShardIterator=it, Limit=10000)
            for rec in r["Records"]:
                out["records"] += 1
                for row in documents(rec["Data"]) if a.billing else ():
                    out["trips"] += row["TRIPS"]
                    out["cents"] += round(row["TOTAL_AMOUNT"] * 100)
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r.get("NextShardIterator")
    out["seconds"] = round(time.monotonic() - t, 2)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("produce")
    sp.add_argument("stream")
    sp.add_argument("file")
    sp = sub.add_parser("totals")
    sp.add_argument("stream")
    sp.add_argument("--billing", action="store_true", help="sum the billing rows' TRIPS and TOTAL_AMOUNT")
    a = p.parse_args()
    json.dump(produce(a) if a.cmd == "produce" else totals(a), sys.stdout)
    print()


if __name__ == "__main__":
    main()
