#!/usr/bin/env python3
"""Scores rows with AWS's Random Cut Forest (PyPI krcf, the Python binding of the Rust library of
aws/random-cut-forest-by-aws) the way KDA's RANDOM_CUT_FOREST does: each row scored against the
forest as it stood before it, then learnt; 0 until output_after points (subSampleSize / 4); every
point kept while a sample is not full (initial_accept_fraction 1); lambda = 1 / timeDecay.

    krcf_scores.py --input ROWS.jsonl --columns a,b [--seed N] [--trees 100] [--sample-size 256]
                   [--time-decay 100000] [--attribution] > SCORES.jsonl

Writes one JSON line per row: {"score": s} and with --attribution also "attribution": the high
plus low attribution of each column.
"""
import argparse
import json
import sys

from krcf import RandomCutForest


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--input", required=True)
    p.add_argument("--columns", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--sample-size", type=int, default=256)
    p.add_argument("--time-decay", type=int, default=100000)
    p.add_argument("--attribution", action="store_true")
    a = p.parse_args()
    columns = a.columns.split(",")
    forest = RandomCutForest(
        {
            "dimensions": len(columns),
            "shingle_size": 1,
            "num_trees": a.trees,
            "sample_size": a.sample_size,
            "output_after": a.sample_size // 4,
            "lambda": 1.0 / a.time_decay,
            "initial_accept_fraction": 1.0,
            "random_seed": a.seed,
            "internal_shingling": True,
            "parallel_execution_enabled": False,
        }
    )
    out = sys.stdout
    with open(a.input) as rows:
        for line in rows:
            row = json.loads(line)
            point = [float(row[c]) for c in columns]
            result = {"score": forest.score(point)}
            if a.attribution:
                d = forest.attribution(point)
                result["attribution"] = [h + l for h, l in zip(d["high"], d["low"])]
            forest.update(point)
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
