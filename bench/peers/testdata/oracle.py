"""Test-only: an independent plain-Python evaluation of the benchmark queries, compared with an
engine's result through canonical.py.

    python oracle.py --query NAME --input FILE --engine flink RESULT [--reference-dir DIR]

Prints the row counts and the first differences; exits 1 when the results differ.
DOUBLE averages are computed exactly (integer sums) and divided once.
"""
import argparse
import collections
import csv
import datetime as dt
import decimal
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import canonical  # noqa: E402

TOLL = ["booth_id", "account_id", "vehicle_class", "amount", "event_time"]
BIDS = ["auction", "bidder", "price", "channel", "url", "date_time"]


def read(path, cols):
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            for rec in csv.reader(f):
                yield dict(zip(cols, rec))
    else:
        with open(path) as f:
            for line in f:
                yield json.loads(line, parse_float=decimal.Decimal)


def ts(s):
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f")


def tstr(t):
    return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (t.microsecond // 1000)


def window_start(t, minutes):
    epoch = dt.datetime(1970, 1, 1)
    ms = int((t - epoch).total_seconds() * 1000)
    size = minutes * 60_000
    return epoch + dt.timedelta(milliseconds=ms - ms % size)


def evaluate(query, path, ref_dir):
    if query in ("billing", "alerts", "passthrough", "enrich"):
        rows = list(read(path, TOLL))
    else:
        rows = list(read(path, BIDS))
    out = []
    if query == "billing":
        agg = collections.defaultdict(lambda: [0, decimal.Decimal(0)])
        for r in rows:
            a = agg[(r["account_id"], window_start(ts(r["event_time"]), 10))]
            a[0] += 1
            a[1] += decimal.Decimal(str(r["amount"]))
        out = [(k[0], tstr(k[1]), v[0], v[1]) for k, v in agg.items()]
    elif query == "alerts":
        with open(os.path.join(ref_dir, "booth_thresholds.csv"), newline="") as f:
            th = {(d["BOOTH_ID"], int(d["SLOT"])): int(d["MIN_VEHICLES"]) for d in csv.DictReader(f)}
        agg = collections.Counter((r["booth_id"], window_start(ts(r["event_time"]), 30)) for r in rows)
        for (b, w), n in agg.items():
            m = th.get((b, w.hour * 2 + w.minute // 30))
            if m is not None and n < m:
                out.append((b, tstr(w), n, m))
    elif query == "passthrough":
        out = [tuple(r[c] for c in TOLL) for r in rows if decimal.Decimal(str(r["amount"])) >= 5]
    elif query == "enrich":
        with open(os.path.join(ref_dir, "booths.csv"), newline="") as f:
            road = {d["BOOTH_ID"]: d["ROAD"] for d in csv.DictReader(f)}
        out = [(r["booth_id"], r["account_id"], r["amount"], r["event_time"], road[r["booth_id"]])
               for r in rows if r["booth_id"] in road]
    elif query == "bids_q1":
        out = [(r["auction"], r["bidder"], float(r["price"]) * 0.908, r["date_time"]) for r in rows]
    elif query == "bids_sliding":
        hist = collections.defaultdict(collections.deque)  # auction -> (time, price)
        sums = collections.Counter()
        for r in rows:
            a, t, p = int(r["auction"]), ts(r["date_time"]), int(r["price"])
            q = hist[a]
            q.append((t, p))
            sums[a] += p
            while q[0][0] < t - dt.timedelta(hours=1):  # inclusive lower bound
                sums[a] -= q.popleft()[1]
            out.append((a, r["date_time"], sums[a] / len(q)))
    fmts = [canonical.FORMATTERS[k] for _, k in canonical.QUERIES[query]]
    return sorted(tuple(f(v) for f, v in zip(fmts, row)) for row in out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--query", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--engine", default="flink")
    ap.add_argument("--reference-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "reference-data", "toll-reference"))
    ap.add_argument("result")
    a = ap.parse_args()
    want = evaluate(a.query, a.input, a.reference_dir)
    got = canonical.canonical_rows(a.query, a.engine, a.result)
    print(f"{a.query}: oracle {len(want)} rows, {a.engine} {len(got)} rows")
    if want == got:
        print("SAME")
        return
    w, g = set(want), set(got)
    print("only in oracle:", sorted(w - g)[:5], len(w - g))
    print(f"only in {a.engine}:", sorted(g - w)[:5], len(g - w))
    sys.exit(1)


if __name__ == "__main__":
    main()
