"""Canonical form of a benchmark query's result, so results of different engines compare equal.

    python canonical.py --query NAME --engine rowtime|flink|datafusion IN OUT

Reads IN as that engine writes it:
  rowtime     JSON lines, one object per row, keys = the column names (upper case);
  flink       CSV without header, columns in the query's order (flink_sql.py's result.csv);
  datafusion  CSV with a header naming the columns (matched case-insensitively, any order).
Writes OUT (or '-' for stdout): CSV without header, the query's columns in order, rows sorted
lexicographically by their canonical text; TIMESTAMP as `YYYY-MM-DD HH:MM:SS.fff`, DECIMAL with
exactly 2 decimals, DOUBLE as `%.6f`, integers as integers, NULL as an empty field.

As a module: canonical_rows(query, engine, path) -> sorted list of tuples of those strings.
Standard library only.
"""
import argparse
import csv
import datetime as dt
import decimal
import json
import sys

# Column kinds: s = string, t = timestamp, i = integer, d = decimal (2 places), f = double.
QUERIES = {
    "billing": [("ACCOUNT_ID", "s"), ("WINDOW_START", "t"), ("TRIPS", "i"), ("TOTAL_AMOUNT", "d")],
    "alerts": [("BOOTH_ID", "s"), ("WINDOW_START", "t"), ("VEHICLES", "i"), ("MIN_VEHICLES", "i")],
    "passthrough": [("BOOTH_ID", "s"), ("ACCOUNT_ID", "s"), ("VEHICLE_CLASS", "s"),
                    ("AMOUNT", "d"), ("EVENT_TIME", "t")],
    "enrich": [("BOOTH_ID", "s"), ("ACCOUNT_ID", "s"), ("AMOUNT", "d"), ("EVENT_TIME", "t"),
               ("ROAD", "s")],
    "bids_q1": [("AUCTION", "i"), ("BIDDER", "i"), ("EURO_PRICE", "f"), ("DATE_TIME", "t")],
    "bids_sliding": [("AUCTION", "i"), ("DATE_TIME", "t"), ("AVG_PRICE", "f")],
}
ENGINES = ("rowtime", "flink", "datafusion")

_CENT = decimal.Decimal("0.01")


def _null(v):
    return v is None or v == ""


def fmt_string(v):
    return "" if v is None else str(v)


def fmt_int(v):
    if _null(v):
        return ""
    if isinstance(v, int):
        return str(v)
    try:
        return str(int(v))
    except ValueError:
        return str(int(decimal.Decimal(v)))


def fmt_decimal(v):
    if _null(v):
        return ""
    if isinstance(v, str):  # fast path: plain "12", "6.2", "2.50"
        whole, dot, frac = v.partition(".")
        if whole.isdigit() and len(frac) <= 2 and (frac.isdigit() or not frac):
            return whole.lstrip("0").rjust(1, "0") + "." + frac.ljust(2, "0")
    d = v if isinstance(v, decimal.Decimal) else decimal.Decimal(str(v))
    out = str(d.quantize(_CENT, rounding=decimal.ROUND_HALF_UP))
    return "0.00" if out == "-0.00" else out


def fmt_double(v):
    if _null(v):
        return ""
    out = "%.6f" % float(v)
    return out[1:] if out.startswith("-") and out.strip("-0.") == "" else out


def fmt_timestamp(v):
    """Any of `YYYY-MM-DD HH:MM:SS[.f…]`, the same with a T, with Z or an offset (converted to
    UTC) -> `YYYY-MM-DD HH:MM:SS.fff` (fraction truncated to milliseconds)."""
    if _null(v):
        return ""
    s = str(v).strip()
    n = len(s)
    if n == 23 and s[10] == " " and s[19] == ".":
        return s  # already canonical
    if n >= 19 and s[10] in " T" and s[4] == "-" and s[13] == ":" and s[16] == ":":
        if n == 19:
            return s[:10] + " " + s[11:] + ".000"
        frac = s[20:]
        if s[19] == "." and frac.isdigit():  # no zone: Flink drops the fraction's trailing zeros
            return s[:10] + " " + s[11:19] + "." + (frac + "00")[:3]
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t.strftime("%Y-%m-%d %H:%M:%S") + ".%03d" % (t.microsecond // 1000)


FORMATTERS = {"s": fmt_string, "t": fmt_timestamp, "i": fmt_int, "d": fmt_decimal, "f": fmt_double}


def _read_rowtime(path, names):
    # parse_float=str keeps a JSON number's own text ("2.00"): no binary rounding on the way.
    decode = json.JSONDecoder(parse_float=str).decode
    keys = names
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = decode(line)
            try:
                yield [obj[k] for k in keys]
            except KeyError:
                by_upper = {k.upper(): k for k in obj}
                missing = [n for n in names if n not in by_upper]
                if missing:
                    raise ValueError(f"{path}: row has no column {missing}: {line.strip()}")
                keys = [by_upper[n] for n in names]
                yield [obj[k] for k in keys]


def _read_csv(path, names, header):
    with open(path, newline="", encoding="utf-8") as f:
        records = [rec for rec in csv.reader(f) if rec]
    if header:
        if not records:
            return []
        head = records.pop(0)
        pos = {h.strip().upper(): i for i, h in enumerate(head)}
        missing = [n for n in names if n not in pos]
        if missing:
            raise ValueError(f"{path}: header {head} has no column {missing}")
        order = [pos[n] for n in names]
        if order != list(range(len(head))):
            records = [[rec[i] for i in order] for rec in records]
    bad = next((rec for rec in records if len(rec) != len(names)), None)
    if bad is not None:
        raise ValueError(f"{path}: expected {len(names)} fields, got {len(bad)}: {bad}")
    return records


def _format_column(fmt, values):
    """fmt over a column, each distinct value formatted once (amounts, window starts repeat)."""
    if fmt is fmt_string:
        return [v if isinstance(v, str) else fmt_string(v) for v in values]
    done = {v: fmt(v) for v in set(values)}
    return [done[v] for v in values]


def canonical_rows(query, engine, path):
    """The result of `engine` for `query` in file `path`: sorted list of tuples of strings."""
    if query not in QUERIES:
        raise ValueError(f"unknown query {query!r}; one of {sorted(QUERIES)}")
    columns = QUERIES[query]
    names = [n for n, _ in columns]
    fmts = [FORMATTERS[k] for _, k in columns]
    if engine == "rowtime":
        records = _read_rowtime(path, names)
    elif engine == "flink":
        records = _read_csv(path, names, header=False)
    elif engine == "datafusion":
        records = _read_csv(path, names, header=True)
    else:
        raise ValueError(f"unknown engine {engine!r}; one of {ENGINES}")
    columns_in = list(zip(*records)) or [()] * len(names)
    rows = list(zip(*[_format_column(f, col) for f, col in zip(fmts, columns_in)]))
    rows.sort()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--query", required=True, choices=sorted(QUERIES))
    ap.add_argument("--engine", required=True, choices=ENGINES)
    ap.add_argument("input")
    ap.add_argument("output", help="canonical CSV to write, or - for stdout")
    a = ap.parse_args()
    rows = canonical_rows(a.query, a.engine, a.input)
    out = sys.stdout if a.output == "-" else open(a.output, "w", newline="", encoding="utf-8")
    try:
        csv.writer(out, lineterminator="\n").writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    main()
