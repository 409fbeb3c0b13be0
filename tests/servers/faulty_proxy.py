#!/usr/bin/env python3
"""faulty_proxy.py — fault-injecting HTTP proxy in front of a real local server (ministack, kinesis-local).

    python3 faulty_proxy.py --port 4600 --upstream http://127.0.0.1:4566 --plan plan.json --log calls.jsonl

Listens on 127.0.0.1:PORT only and forwards every request to UPSTREAM unless a rule of the fault plan
fires. Standard library only. The plan is a JSON list of rules (or {"rules": [...]}), from --plan FILE
(re-read whenever the file changes: counters and time windows restart) or --plan-json TEXT, or replaced
at run time with `PUT /__proxy/plan` (body = the plan). `GET /__proxy/health` answers {"ok": true}.

A rule:  {"match": {...}, <selection>, "fault": NAME, <parameters>}
  match      "target": exact X-Amz-Target (e.g. "Kinesis_20131202.PutRecords", "Firehose_20150804.PutRecordBatch")
             "path": regex searched in the path (e.g. "^/2015-03-31/functions/[^/]+/invocations$"), "method": "POST"
             (all given fields must hold; no "match" = every request)
  selection  which of the requests matching THIS rule fire (counted 1, 2, ... per rule, every matching
             request counts): "first": K | "from": N, "to": M (inclusive, "to" optional) | "calls": [..];
             none = all. "after_s"/"for_s": only within that window, seconds after the plan was loaded.
  faults     "throttle"         HTTP 400 ProvisionedThroughputExceededException (awsJson), 429 TooManyRequestsException
                                (Lambda), 503 SlowDown (S3); not forwarded. Override with "error", "status", "message".
             "http_500"         HTTP 500 InternalFailure / ServiceException / InternalError; not forwarded.
             "expire_iterator"  HTTP 400 ExpiredIteratorException (use on Kinesis_20131202.GetRecords).
             "error"            any error: "error": CODE, "status": N, "message": TEXT.
             "fail_entries"     PutRecords / PutRecordBatch: entries whose index is in "indices" or whose data
                                contains "marker" fail with "error_code" (default ProvisionedThroughputExceededException
                                for Kinesis, ServiceUnavailableException for Firehose); only the other entries are
                                forwarded, and the answer merges both in the original order with the right
                                FailedRecordCount / FailedPutCount.
             "delay"            sleep "seconds", then forward ("forward": false answers http_500 instead; "when":
                                "after" forwards first and sleeps before answering — the write is applied).
             "down"             read the request, forward nothing, reset the connection (TCP RST, no answer).
                                {"fault": "down", "for_s": 3} = the whole server is down for 3 s (admin paths
                                /__proxy/* always answer)
             "hide_shard_end"   Kinesis_20131202.GetRecords as moto answers it: a null NextShardIterator (the end of
                                a closed shard) is replaced by an iterator of the proxy's own and ChildShards removed;
                                GetRecords on such an iterator is answered by the proxy with no records, the same
                                iterator and MillisBehindLatest 0, forever (logged with "past_end": true).
Every request is logged to --log as a JSON line: {"n","t","method","path","target","bytes" (of the request body),"entries",
"forwarded_entries","fault","rule","status","records_out"} (+ "data": entry texts with --log-data; + "shard_id",
"iterator_type", "starting_sequence_number" for GetShardIterator; + "hid_end" / "past_end" for hide_shard_end).
"""
import argparse
import base64
import http.client
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
       "expect", "content-length"}
PUT_OPS = {"Kinesis_20131202.PutRecords": ("FailedRecordCount", "Records", "ProvisionedThroughputExceededException"),
           "Firehose_20150804.PutRecordBatch": ("FailedPutCount", "RequestResponses", "ServiceUnavailableException")}
ENDLESS = "proxy-past-shard-end-"  # iterators of hide_shard_end
ENTRY_MESSAGES = {"ProvisionedThroughputExceededException": "Rate exceeded for shard in stream under account.",
                  "ServiceUnavailableException": "Slow down.", "InternalFailure": "Internal service failure."}


class Plan:
    """The fault rules plus their per-rule call counters; thread-safe."""

    def __init__(self, rules):
        if isinstance(rules, dict):
            rules = rules.get("rules", [])
        if not isinstance(rules, list):
            raise ValueError("a plan is a list of rules or {\"rules\": [...]}")
        self.rules, self.counts, self.loaded = rules, [0] * len(rules), time.monotonic()
        self.lock = threading.Lock()

    def in_window(self, r):
        t = time.monotonic() - self.loaded
        start = r.get("after_s", 0)
        return t >= start and ("for_s" not in r or t < start + r["for_s"])

    def pick(self, method, path, target):
        """Count this request against every matching rule; return (index, rule) of the first that fires."""
        fired = None
        with self.lock:
            for i, r in enumerate(self.rules):
                m = r.get("match", {})
                if ("target" in m and m["target"] != target) or ("method" in m and m["method"] != method) or \
                        ("path" in m and not re.search(m["path"], path)):
                    continue
                self.counts[i] += 1
                n = self.counts[i]
                sel = ("first" not in r or n <= r["first"]) and ("from" not in r or n >= r["from"]) and \
                      ("to" not in r or n <= r["to"]) and ("calls" not in r or n in r["calls"])
                if fired is None and sel and self.in_window(r):
                    fired = (i, r)
        return fired or (None, None)


class Proxy(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port, upstream, plan_file, plan, log_path, log_data):
        super().__init__(("127.0.0.1", port), Handler)
        u = urlsplit(upstream)
        self.up_host, self.up_port = u.hostname, u.port or 80
        self.plan_file, self.plan_text, self.plan, self.plan_lock = plan_file, None, plan, threading.Lock()
        self.log_fh = open(log_path, "a") if log_path else None
        self.log_data, self.log_lock, self.seq, self.t0 = log_data, threading.Lock(), 0, time.monotonic()
        self.reload()

    def reload(self):
        """Re-read --plan FILE; a changed content is a new plan (counters and windows restart).
        A file that does not parse (being written) keeps the current plan: write it atomically (rename)."""
        if not self.plan_file:
            return
        try:
            with open(self.plan_file) as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        with self.plan_lock:
            if text == self.plan_text:
                return
            try:
                self.plan = Plan(json.loads(text) if text.strip() else [])
                self.plan_text = text
            except ValueError as e:
                print(f"faulty_proxy: ignoring unparsable plan {self.plan_file}: {e}", file=sys.stderr, flush=True)

    def log(self, rec):
        with self.log_lock:
            self.seq += 1
            rec = dict(n=self.seq, t=round(time.monotonic() - self.t0, 3), **rec)
            if self.log_fh:
                self.log_fh.write(json.dumps(rec) + "\n")
                self.log_fh.flush()


def reset(sock):
    """Close with a TCP RST so the client sees 'connection reset', not a clean EOF."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def protocol(target, path):
    return "json" if target else ("rest-json" if path.startswith("/2015-03-31/functions") else "s3")


def error_reply(kind, target, path, rule):
    """(status, headers, body) of an AWS error in the protocol of the request."""
    proto = protocol(target, path)
    defaults = {  # (code, status, message) per fault and protocol
        "throttle": {"json": ("ProvisionedThroughputExceededException", 400, "Rate exceeded"),
                     "rest-json": ("TooManyRequestsException", 429, "Rate Exceeded."),
                     "s3": ("SlowDown", 503, "Please reduce your request rate.")},
        "http_500": {"json": ("InternalFailure", 500, "Internal service failure."),
                     "rest-json": ("ServiceException", 500, "Internal service failure."),
                     "s3": ("InternalError", 500, "We encountered an internal error. Please try again.")},
        "expire_iterator": {p: ("ExpiredIteratorException", 400, "Iterator expired") for p in ("json", "rest-json", "s3")},
        "error": {p: ("InternalFailure", 400, "Injected error") for p in ("json", "rest-json", "s3")},
    }[kind][proto]
    code, status, msg = rule.get("error", defaults[0]), rule.get("status", defaults[1]), rule.get("message", defaults[2])
    rid = str(uuid.uuid4())
    if proto == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>'
                f"<RequestId>{rid}</RequestId></Error>").encode()
        return status, {"Content-Type": "application/xml", "x-amz-request-id": rid}, body
    ctype = "application/x-amz-json-1.1" if proto == "json" else "application/json"
    body = json.dumps({"__type": code, "message": msg}).encode()
    return status, {"Content-Type": ctype, "x-amzn-errortype": code, "x-amzn-RequestId": rid}, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the JSON-lines log is the record
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self, body):
        conn = getattr(self, "_up", None)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):  # one reconnect if a kept-alive upstream connection went stale
            if conn is None:
                conn = http.client.HTTPConnection(self.server.up_host, self.server.up_port, timeout=300)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self._up = conn
                keep = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
                if self.command == "HEAD":  # HEAD keeps the upstream Content-Length (S3 HeadObject size)
                    keep += [(k, v) for k, v in resp.getheaders() if k.lower() == "content-length"]
                return resp.status, keep, data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                conn = None
                if attempt == 2:
                    raise

    def reply(self, status, headers, body):
        self.send_response(status)
        items = list(headers.items()) if isinstance(headers, dict) else headers
        for k, v in items:
            self.send_header(k, v)
        if self.command != "HEAD" or not any(k.lower() == "content-length" for k, _ in items):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        target = self.headers.get("X-Amz-Target")
        srv = self.server
        if path.startswith("/__proxy/"):
            return self.admin(path, body)
        srv.reload()
        idx, rule = srv.plan.pick(self.command, path, target)
        fault = rule.get("fault") if rule else None
        req = parse_json(body) if target or path.endswith("/invocations") else None
        entries = req.get("Records", req.get("records")) if isinstance(req, dict) else None
        log = {"method": self.command, "path": path, "target": target,
               "bytes": len(body), "entries": len(entries) if isinstance(entries, list) else None,
               "forwarded_entries": None,
               "fault": fault, "rule": idx}
        if srv.log_data and target in PUT_OPS and isinstance(entries, list):
            log["data"] = [entry_text(e) for e in entries]
        if target == "Kinesis_20131202.GetShardIterator" and isinstance(req, dict):
            log.update(shard_id=req.get("ShardId"), iterator_type=req.get("ShardIteratorType"),
                       starting_sequence_number=req.get("StartingSequenceNumber"))
        try:
            status, headers, out = self.apply(fault, rule or {}, body, req, target, path, log)
        except (ConnectionError, http.client.HTTPException, OSError) as e:  # upstream unreachable: a gateway error
            status, headers, out = 502, {"Content-Type": "text/plain"}, f"upstream error: {e}".encode()
            log["error"] = str(e)
        if status is None:  # "down"
            log["status"] = None
            srv.log(log)
            self.close_connection = True
            reset(self.connection)
            return
        if target == "Kinesis_20131202.GetRecords" and status == 200:
            log["records_out"] = len((parse_json(out) or {}).get("Records", []))
        log["status"] = status
        srv.log(log)
        self.reply(status, headers, out)

    def apply(self, fault, rule, body, req, target, path, log):
        if fault == "down":
            return None, None, None
        if fault in ("throttle", "http_500", "expire_iterator", "error"):
            return error_reply(fault, target, path, rule)
        if fault == "delay":
            when = rule.get("when", "before")
            if when == "before":
                time.sleep(rule.get("seconds", 5))
            if not rule.get("forward", True):
                return error_reply("http_500", target, path, rule)
            res = self.forward(body)
            if when == "after":
                time.sleep(rule.get("seconds", 5))
            return res
        if fault == "fail_entries" and target in PUT_OPS and isinstance(req, dict):
            return self.fail_entries(rule, req, target, log)
        if fault == "hide_shard_end" and target == "Kinesis_20131202.GetRecords" and isinstance(req, dict):
            return self.hide_shard_end(req, body, log)
        if isinstance(log.get("entries"), int) and target in PUT_OPS:
            log["forwarded_entries"] = log["entries"]
        return self.forward(body)

    def fail_entries(self, rule, req, target, log):
        count_key, list_key, default_code = PUT_OPS[target]
        records = req.get("Records", [])
        idx = set(rule.get("indices", []))
        marker = rule.get("marker")
        failed = {i for i, e in enumerate(records) if i in idx or (marker and marker in entry_text(e))}
        keep = [e for i, e in enumerate(records) if i not in failed]
        log["forwarded_entries"] = len(keep)
        code = rule.get("error_code", default_code)
        synth = {"ErrorCode": code, "ErrorMessage": rule.get("message", ENTRY_MESSAGES.get(code, "Injected failure."))}
        if keep:
            status, headers, data = self.forward(json.dumps(dict(req, Records=keep)).encode())
            if status != 200:
                return status, headers, data
            up = json.loads(data)
        else:
            status, headers = 200, [("Content-Type", "application/x-amz-json-1.1"),
                                    ("x-amzn-RequestId", str(uuid.uuid4()))]
            up = {count_key: 0, list_key: []}
            up["EncryptionType" if target.startswith("Kinesis") else "Encrypted"] = \
                "NONE" if target.startswith("Kinesis") else False
        results = iter(up.get(list_key, []))
        merged = [dict(synth) if i in failed else next(results) for i in range(len(records))]
        up[list_key], up[count_key] = merged, up.get(count_key, 0) + len(failed)
        return status, headers, json.dumps(up).encode()

    def hide_shard_end(self, req, body, log):
        """A closed shard read past its end, as moto serves it: never a null NextShardIterator."""
        it = req.get("ShardIterator") or ""
        if it.startswith(ENDLESS):
            log["past_end"] = True
            out = {"Records": [], "NextShardIterator": it, "MillisBehindLatest": 0}
            return 200, [("Content-Type", "application/x-amz-json-1.1"),
                         ("x-amzn-RequestId", str(uuid.uuid4()))], json.dumps(out).encode()
        status, headers, data = self.forward(body)
        page = parse_json(data) if status == 200 else None
        if isinstance(page, dict) and page.get("NextShardIterator") is None:
            page["NextShardIterator"] = ENDLESS + str(uuid.uuid4())
            page.pop("ChildShards", None)
            log["hid_end"] = True
            data = json.dumps(page).encode()
        return status, headers, data

    def admin(self, path, body):
        if path == "/__proxy/plan" and self.command == "PUT":
            try:
                self.server.plan = Plan(json.loads(body or b"[]"))
                self.server.plan_file = None  # an explicit plan wins over the file from now on
            except ValueError as e:
                return self.reply(400, {"Content-Type": "application/json"}, json.dumps({"error": str(e)}).encode())
        elif path != "/__proxy/health":
            return self.reply(404, {"Content-Type": "application/json"}, b'{"error": "unknown admin path"}')
        self.reply(200, {"Content-Type": "application/json"}, b'{"ok": true}')

    def do_any(self):
        try:
            self.handle_one()
        except OSError:  # the client went away (e.g. it timed out during a "delay"): nothing to answer
            self.close_connection = True

    def finish(self):
        super().finish()
        if getattr(self, "_up", None):
            self._up.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_any


def parse_json(body):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def entry_text(e):
    try:
        return base64.b64decode(e.get("Data", "")).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return ""


def main():
    p = argparse.ArgumentParser(description="fault-injecting HTTP proxy (see the module docstring)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:4566")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--plan", help="plan file (JSON), re-read when it changes")
    g.add_argument("--plan-json", help="plan as JSON text")
    p.add_argument("--log", help="JSON-lines request log")
    p.add_argument("--log-data", action="store_true", help="log the text of every PutRecords/PutRecordBatch entry")
    a = p.parse_args()
    plan = Plan(json.loads(a.plan_json) if a.plan_json else [])
    srv = Proxy(a.port, a.upstream, a.plan, plan, a.log, a.log_data)
    print(f"faulty_proxy listening on 127.0.0.1:{a.port} -> {a.upstream}", file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
