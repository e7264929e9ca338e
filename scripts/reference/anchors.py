#!/usr/bin/env python3
# Verbatim copy of shared/bench/anchors.py (read-only reference; only this line added). Do not edit: re-copy instead.
"""Reference answers and timings from two independent engines: DuckDB and ClickHouse (in-process, via chDB).

Both engines first load the Parquet file written by gen_events.py into their own best in-memory form
(DuckDB: a native table; ClickHouse: a MergeTree table ordered by (user_id, ts)); loading is timed apart.
Then each query runs several times and the best and median wall times are printed, with a checksum of
the answer so that engines (and siyu) can be compared exactly.

Queries (all times UTC; a week starts on Monday):
  funnel     4 steps Signed Up -> Product Added -> Checkout Started -> Order Completed within 7 days,
             ClickHouse windowFunnel default semantics: per customer, the deepest step reached by any chain
             that starts at a step-1 event and takes each next step at or after the previous one, with the
             last step no more than 7 days after the first. Answer: customers reaching at least step k, k=1..4.
  retention  cohort = Monday-week of a customer's first event (any event); a customer counts in period p if
             they have any event in week cohort+p. Answer: (cohort_week, p, customers) rows.
  rfm        customers with at least one Order Completed; recency_days = whole days from their last order to
             the end of data (max ts over all events), frequency = orders, monetary_cents = sum of round(amount*100).
             Scores 1..5: score = 1 + floor(5 * (rank - 1) / n) with RANK() (ties share the lowest rank), ordered
             by recency_days descending, frequency ascending, monetary ascending. Answer: customers per (r,f,m).

Usage: anchors.py FILE.parquet [--engines duckdb,chdb] [--repeat 3] [--json out.json]
"""
import argparse
import hashlib
import json
import statistics
import time

WINDOW_US = 7 * 86_400 * 1_000_000

DUCK = {
    "load": "CREATE OR REPLACE TABLE events AS SELECT user_id, ts, CAST(event AS VARCHAR) AS event, amount "
            "FROM read_parquet('{path}') ORDER BY user_id, ts",
    # Greedy earliest chain from every step-1 event is optimal for a fixed start; the deepest over all starts
    # equals windowFunnel's answer. ASOF JOIN finds the first step-k event at or after step k-1.
    "funnel": f"""
        WITH s1 AS (SELECT user_id, epoch_us(ts) AS t1 FROM events WHERE event = 'Signed Up'),
             e2 AS (SELECT user_id, epoch_us(ts) AS t FROM events WHERE event = 'Product Added'),
             e3 AS (SELECT user_id, epoch_us(ts) AS t FROM events WHERE event = 'Checkout Started'),
             e4 AS (SELECT user_id, epoch_us(ts) AS t FROM events WHERE event = 'Order Completed'),
             c2 AS (SELECT s1.user_id, s1.t1, e2.t AS t2 FROM s1 ASOF LEFT JOIN e2
                    ON s1.user_id = e2.user_id AND e2.t >= s1.t1),
             c3 AS (SELECT c2.*, e3.t AS t3 FROM c2 ASOF LEFT JOIN e3
                    ON c2.user_id = e3.user_id AND e3.t >= c2.t2),
             c4 AS (SELECT c3.*, e4.t AS t4 FROM c3 ASOF LEFT JOIN e4
                    ON c3.user_id = e4.user_id AND e4.t >= c3.t3),
             lv AS (SELECT user_id, max(CASE WHEN t4 IS NOT NULL AND t4 - t1 <= {WINDOW_US} THEN 4
                                             WHEN t3 IS NOT NULL AND t3 - t1 <= {WINDOW_US} THEN 3
                                             WHEN t2 IS NOT NULL AND t2 - t1 <= {WINDOW_US} THEN 2
                                             ELSE 1 END) AS level
                    FROM c4 GROUP BY user_id)
        SELECT k, count(*) FILTER (WHERE level >= k) FROM lv, range(1, 5) r(k) GROUP BY k ORDER BY k""",
    "retention": """
        WITH w AS (SELECT DISTINCT user_id, CAST(date_trunc('week', ts AT TIME ZONE 'UTC') AS DATE) AS wk FROM events),
             f AS (SELECT user_id, min(wk) AS cohort FROM w GROUP BY user_id)
        SELECT f.cohort, CAST(date_diff('week', f.cohort, w.wk) AS BIGINT) AS p, count(*) AS customers
        FROM w JOIN f USING (user_id) GROUP BY ALL ORDER BY 1, 2""",
    "rfm": """
        WITH e AS (SELECT max(epoch_us(ts)) AS end_us FROM events),
             o AS (SELECT user_id, max(epoch_us(ts)) AS last_us, count(*) AS frequency,
                          sum(CAST(round(amount * 100) AS BIGINT)) AS monetary_cents
                   FROM events WHERE event = 'Order Completed' GROUP BY user_id),
             r AS (SELECT user_id, CAST((end_us - last_us) // 86400000000 AS BIGINT) AS recency_days,
                          frequency, monetary_cents FROM o, e),
             n AS (SELECT count(*) AS n FROM r),
             s AS (SELECT 1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) // n AS rs,
                          1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) // n AS fs,
                          1 + (5 * (rank() OVER (ORDER BY monetary_cents) - 1)) // n AS ms FROM r, n)
        SELECT rs, fs, ms, count(*) FROM s GROUP BY ALL ORDER BY 1, 2, 3""",
}

CH = {
    "load": ["DROP TABLE IF EXISTS events",
             "CREATE TABLE events (user_id UInt64, ts DateTime64(6, 'UTC'), event LowCardinality(String), "
             "amount Float64) ENGINE = MergeTree ORDER BY (user_id, ts)",
             "INSERT INTO events SELECT user_id, ts, toString(event), amount FROM file('{path}', Parquet)",
             "OPTIMIZE TABLE events FINAL"],
    "funnel": f"""
        SELECT k, countIf(level >= k) FROM (
            SELECT user_id, windowFunnel({WINDOW_US})(toUInt64(toUnixTimestamp64Micro(ts)),
                event = 'Signed Up', event = 'Product Added', event = 'Checkout Started',
                event = 'Order Completed') AS level
            FROM events GROUP BY user_id) ARRAY JOIN [1, 2, 3, 4] AS k
        WHERE level >= 1 GROUP BY k ORDER BY k""",
    "retention": """
        WITH w AS (SELECT DISTINCT user_id, toMonday(ts) AS wk FROM events),
             f AS (SELECT user_id, min(wk) AS cohort FROM w GROUP BY user_id)
        SELECT f.cohort, toInt64(dateDiff('week', f.cohort, w.wk)) AS p, count() AS customers
        FROM w INNER JOIN f USING (user_id) GROUP BY f.cohort, p ORDER BY 1, 2""",
    "rfm": """
        WITH (SELECT max(toUnixTimestamp64Micro(ts)) FROM events) AS end_us,
             r AS (SELECT user_id, intDiv(end_us - max(toUnixTimestamp64Micro(ts)), 86400000000) AS recency_days,
                          count() AS frequency, sum(toInt64(round(amount * 100))) AS monetary_cents
                   FROM events WHERE event = 'Order Completed' GROUP BY user_id),
             (SELECT count() FROM r) AS n
        SELECT rs, fs, ms, count() FROM (
            SELECT 1 + intDiv(5 * (rank() OVER (ORDER BY recency_days DESC) - 1), n) AS rs,
                   1 + intDiv(5 * (rank() OVER (ORDER BY frequency) - 1), n) AS fs,
                   1 + intDiv(5 * (rank() OVER (ORDER BY monetary_cents) - 1), n) AS ms FROM r)
        GROUP BY rs, fs, ms ORDER BY 1, 2, 3""",
}


def canon(rows):
    """Rows as plain strings, for an engine-independent checksum."""
    out = []
    for row in rows:
        out.append("|".join(str(v.isoformat() if hasattr(v, "isoformat") else int(v)) for v in row))
    return out


def checksum(rows):
    return hashlib.sha256("\n".join(canon(rows)).encode()).hexdigest()[:16]


def run_duckdb(path, queries, repeat):
    import duckdb
    con = duckdb.connect()
    t = time.perf_counter()
    con.execute(DUCK["load"].format(path=path))
    yield "load", time.perf_counter() - t, None, None
    for q in queries:
        times, rows = [], None
        for _ in range(repeat):
            t = time.perf_counter()
            rows = con.execute(DUCK[q]).fetchall()
            times.append(time.perf_counter() - t)
        yield q, min(times), statistics.median(times), rows


def run_chdb(path, queries, repeat):
    from chdb import session
    s = session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS bench")
    s.query("USE bench")
    t = time.perf_counter()
    for stmt in CH["load"]:
        s.query(stmt.format(path=path))
    yield "load", time.perf_counter() - t, None, None
    for q in queries:
        times, rows = [], None
        for _ in range(repeat):
            t = time.perf_counter()
            res = s.query(CH[q], "JSONCompact")
            times.append(time.perf_counter() - t)
            rows = json.loads(res.bytes())["data"]
        rows = [[(int(v) if isinstance(v, (int, float)) or (isinstance(v, str) and v.lstrip("-").isdigit()) else v)
                 for v in r] for r in rows]
        yield q, min(times), statistics.median(times), [tuple(_date(v) for v in r) for r in rows]


def _date(v):
    import datetime
    if isinstance(v, str):
        return datetime.date.fromisoformat(v[:10])
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--engines", default="duckdb,chdb")
    ap.add_argument("--queries", default="funnel,retention,rfm")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write answers and timings here")
    ap.add_argument("--show", action="store_true", help="print the answers")
    a = ap.parse_args()
    queries = a.queries.split(",")
    report = {}
    for engine in a.engines.split(","):
        runner = {"duckdb": run_duckdb, "chdb": run_chdb}[engine]
        for q, best, median, rows in runner(a.path, queries, a.repeat):
            entry = {"best_s": round(best, 4)}
            if rows is not None:
                entry.update(median_s=round(median, 4), checksum=checksum(rows), rows=canon(rows))
            report.setdefault(engine, {})[q] = entry
            extra = f" median {median:.3f}s checksum {entry['checksum']}" if rows is not None else ""
            print(f"{engine:7s} {q:10s} best {best:.3f}s{extra}", flush=True)
            if a.show and rows is not None:
                for line in canon(rows)[:60]:
                    print("   ", line)
    engines = list(report)
    if len(engines) > 1:
        for q in queries:
            sums = {e: report[e][q]["checksum"] for e in engines}
            print(f"agree   {q:10s} {'yes' if len(set(sums.values())) == 1 else 'NO ' + str(sums)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
