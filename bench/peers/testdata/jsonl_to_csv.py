"""Test-only: JSON lines -> header-less CSV, columns in key order, values as written in the JSON
(so amount 2.00 stays "2.00").   python jsonl_to_csv.py < in.jsonl > out.csv"""
import csv
import decimal
import json
import sys

w = csv.writer(sys.stdout, lineterminator="\n")
for line in sys.stdin:
    if line.strip():
        w.writerow(json.loads(line, parse_float=decimal.Decimal).values())
