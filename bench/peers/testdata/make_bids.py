"""Test-only Nexmark-style bid generator (the real one is `rowtime generate`).

    python make_bids.py --count 20000 --seed 1 [--format json|csv] > bids.jsonl

date_time strictly increasing (1..400 ms apart), auctions 1000..1099, so every auction gets
many bids inside a one-hour window.
"""
import argparse
import csv
import datetime as dt
import json
import random
import sys

CHANNELS = ["Google", "Facebook", "Baidu", "Apple", "channel-5901"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["json", "csv"], default="json")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    t = dt.datetime(2026, 3, 2)
    out = csv.writer(sys.stdout, lineterminator="\n") if a.format == "csv" else None
    for _ in range(a.count):
        t += dt.timedelta(milliseconds=rnd.randint(1, 400))
        auction = 1000 + rnd.randrange(100)
        row = {
            "auction": auction,
            "bidder": 2000 + rnd.randrange(1000),
            "price": rnd.randint(1, 5_000_000),
            "channel": rnd.choice(CHANNELS),
            "url": f"https://www.nexmark.com/item/{auction}",
            "date_time": t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (t.microsecond // 1000),
        }
        if out:
            out.writerow(row.values())
        else:
            sys.stdout.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
