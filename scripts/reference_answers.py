#!/usr/bin/env python3
"""Reference answers for siyu's analytics, from two independent engines (DuckDB and ClickHouse via chDB).

Runs the funnel, weekly retention and RFM queries of scripts/reference/anchors.py (a verbatim copy of
shared/bench/anchors.py, which documents the exact query semantics) on one Parquet file written by
gen_events.py, checks that both engines give identical canonical rows, and prints the answers as JSON:

  {"source": "...",
   "funnel": {"steps": [{"step": 1, "event": "Signed Up", "customers": N}, ...]},
   "retention": {"rows": [{"cohort": "YYYY-MM-DD", "period": P, "customers": N}, ...]},
   "rfm": {"cells": [{"r": R, "f": F, "m": M, "customers": N}, ...]}}

Rows keep the engines' order: funnel by step, retention by (cohort, period), rfm by (r, f, m). Exits with
status 1 and a message naming the first differing rows if the engines disagree. Progress and timings go to
stderr; stdout carries only the JSON (or it goes to --out).

Usage: reference_answers.py FILE.parquet [--source TEXT] [--out answers.json]
Run it with the python that scripts/reference-env prints.
"""
import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in scripts/reference
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import anchors  # noqa: E402  (scripts/reference/anchors.py)

QUERIES = ["funnel", "retention", "rfm"]
FUNNEL_STEPS = ["Signed Up", "Product Added", "Checkout Started", "Order Completed"]


def engine_rows(path):
    """{engine: {query: canonical rows}}; anything the engines print natively goes to stderr."""
    out = {}
    saved = os.dup(1)
    os.dup2(2, 1)  # chDB/DuckDB must not write onto our JSON
    try:
        for engine, runner in (("duckdb", anchors.run_duckdb), ("chdb", anchors.run_chdb)):
            for q, best, _median, rows in runner(path, QUERIES, 1):
                print(f"reference: {engine:7s} {q:10s} {best:.3f}s", file=sys.stderr, flush=True)
                if rows is not None:
                    out.setdefault(engine, {})[q] = anchors.canon(rows)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    return out


def check_agree(rows):
    bad = []
    for q in QUERIES:
        d, c = rows["duckdb"][q], rows["chdb"][q]
        if d == c:
            continue
        first = next((i for i, (x, y) in enumerate(zip(d, c)) if x != y), min(len(d), len(c)))
        bad.append(f"  {q}: duckdb {len(d)} rows, chdb {len(c)} rows; first difference at row {first}: "
                   f"duckdb {d[first] if first < len(d) else '(none)'!r} vs chdb {c[first] if first < len(c) else '(none)'!r}")
    if bad:
        sys.exit("reference_answers: the engines DISAGREE, no reference answer:\n" + "\n".join(bad))


def ints(line, n):
    parts = line.split("|")
    if len(parts) != n:
        raise ValueError(f"unexpected canonical row {line!r}")
    return parts


def answers(canon, source):
    funnel = {}
    for line in canon["funnel"]:
        k, n = ints(line, 2)
        funnel[int(k)] = int(n)
    if set(funnel) - set(range(1, 5)):
        raise ValueError(f"unexpected funnel steps {sorted(funnel)}")
    # No "Signed Up" at all leaves the engines with no rows: every step then has 0 customers.
    steps = [{"step": k, "event": FUNNEL_STEPS[k - 1], "customers": funnel.get(k, 0)} for k in range(1, 5)]
    retention = []
    for line in canon["retention"]:
        cohort, p, n = ints(line, 3)
        retention.append({"cohort": cohort, "period": int(p), "customers": int(n)})
    cells = []
    for line in canon["rfm"]:
        r, f, m, n = ints(line, 4)
        cells.append({"r": int(r), "f": int(f), "m": int(m), "customers": int(n)})
    return {"source": source, "funnel": {"steps": steps}, "retention": {"rows": retention},
            "rfm": {"cells": cells}}


def dumps(doc):
    """Valid JSON with one row object per line, so fixtures diff well."""
    def rows(key, items):
        body = ",\n".join("   " + json.dumps(x) for x in items)
        return f"{{\"{key}\": [\n{body}\n  ]}}" if items else f"{{\"{key}\": []}}"
    return ("{\n"
            f" \"source\": {json.dumps(doc['source'])},\n"
            f" \"funnel\": {rows('steps', doc['funnel']['steps'])},\n"
            f" \"retention\": {rows('rows', doc['retention']['rows'])},\n"
            f" \"rfm\": {rows('cells', doc['rfm']['cells'])}\n"
            "}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parquet")
    ap.add_argument("--source", help="text for the answers' source field (default: the file's name)")
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    a = ap.parse_args()
    path = os.path.abspath(a.parquet)
    if not os.path.isfile(path):
        sys.exit(f"reference_answers: no such file {a.parquet}")
    t = time.perf_counter()
    canon = engine_rows(path)
    check_agree(canon)
    doc = answers(canon["duckdb"], a.source if a.source is not None else os.path.basename(a.parquet))
    text = dumps(doc)
    assert json.loads(text) == doc
    print(f"reference: engines agree on {', '.join(QUERIES)} ({time.perf_counter() - t:.1f}s)", file=sys.stderr)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
