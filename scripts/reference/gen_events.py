#!/usr/bin/env python3
# Verbatim copy of shared/bench/gen_events.py (read-only reference; only this line added). Do not edit: re-copy instead.
"""Deterministic synthetic behavioural events for a private-domain brand, written as Parquet.

Columns (one row per event, sorted by ts):
  user_id  uint64          customer id, 1..users
  ts       timestamp[us]   UTC instant; strictly increasing within each customer (no ties)
  event    string          Segment-spec names: Signed Up, Product Viewed, Product Added, Checkout Started,
                           Order Completed, Message Opened, Coupon Applied, Invite Sent
  amount   float64         order revenue in CNY with 2 decimals on Order Completed, else 0

Shape: each customer has a first-seen instant, an activity weight (lognormal, so a few are very active) and an
active span that ends early for many (churn), so retention decays and RFM classes differ. Shopping sessions run
Product Viewed -> Product Added -> Checkout Started -> Order Completed with drop-off and minutes between steps;
messages, coupons and invites are sprinkled in. The same arguments always give the same file.

Usage: gen_events.py --users 1000000 --events 10000000 --seed 7 --out events-10m.parquet
"""
import argparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENTS = ["Signed Up", "Product Viewed", "Product Added", "Checkout Started", "Order Completed",
          "Message Opened", "Coupon Applied", "Invite Sent"]
SIGNED_UP, VIEWED, ADDED, CHECKOUT, ORDER, OPENED, COUPON, INVITE = range(len(EVENTS))
US = 1_000_000
DAY = 86_400 * US


def generate(users: int, events: int, seed: int, days: int, start_us: int):
    rng = np.random.default_rng(seed)
    span = days * DAY
    first_seen = start_us + (rng.beta(1.2, 1.8, users) * span).astype(np.int64)
    active_for = np.minimum(rng.exponential(45 * DAY, users).astype(np.int64) + DAY,
                            start_us + span - first_seen)
    weight = rng.lognormal(0.0, 1.1, users)
    signed_up = rng.random(users) < 0.85

    # Budget: sign-ups first, then ~80% of the rest in sessions, ~20% as loose events.
    n_signup = int(signed_up.sum())
    rest = max(events - n_signup, 0)
    p_add, p_checkout, p_order = 0.35, 0.55, 0.70
    mean_session = 1 + p_add + p_add * p_checkout + p_add * p_checkout * p_order
    n_sessions = int(rest * 0.8 / mean_session)
    session_user = rng.choice(users, n_sessions, p=weight / weight.sum())
    session_start = first_seen[session_user] + (rng.random(n_sessions) * active_for[session_user]).astype(np.int64)
    depth = 1 + (rng.random(n_sessions) < p_add)
    depth += (depth == 2) & (rng.random(n_sessions) < p_checkout)
    depth += (depth == 3) & (rng.random(n_sessions) < p_order)

    idx = np.repeat(np.arange(n_sessions), depth)
    step = np.arange(idx.size) - np.repeat(np.cumsum(depth) - depth, depth)
    gap = (rng.exponential(6 * 60, idx.size) * US).astype(np.int64) + US  # >= 1 s between steps
    gap[step == 0] = 0
    # cumulative gap within each session
    csum = np.cumsum(gap)
    csum -= np.repeat(csum[np.cumsum(depth) - depth], depth)
    s_user = session_user[idx]
    s_ts = session_start[idx] + csum
    s_ev = (VIEWED + step).astype(np.int8)

    n_loose = max(rest - idx.size, 0)
    l_user = rng.choice(users, n_loose, p=weight / weight.sum())
    l_ts = first_seen[l_user] + (rng.random(n_loose) * active_for[l_user]).astype(np.int64)
    l_ev = rng.choice(np.array([OPENED, COUPON, INVITE, VIEWED], dtype=np.int8), n_loose, p=[0.55, 0.15, 0.1, 0.2])

    u_user = np.nonzero(signed_up)[0]
    user = np.concatenate([u_user, s_user, l_user]).astype(np.uint64) + 1
    ts = np.concatenate([first_seen[u_user], s_ts, l_ts])
    ev = np.concatenate([np.full(u_user.size, SIGNED_UP, np.int8), s_ev, l_ev])
    # a sign-up is its customer's first event
    ts[: u_user.size] -= US

    # strictly increasing ts within a customer: sort by (user, ts) and nudge ties forward by 1 us
    order = np.lexsort((ts, user))
    user, ts, ev = user[order], ts[order], ev[order]
    while True:
        tie = np.nonzero((user[1:] == user[:-1]) & (ts[1:] <= ts[:-1]))[0] + 1
        if tie.size == 0:
            break
        ts[tie] = ts[tie - 1] + 1

    amount = np.zeros(user.size)
    is_order = ev == ORDER
    amount[is_order] = np.round(rng.lognormal(4.3, 0.7, int(is_order.sum())), 2)

    by_time = np.argsort(ts, kind="stable")
    return user[by_time], ts[by_time], ev[by_time], amount[by_time]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--start", default="2026-01-05", help="first day, UTC (a Monday keeps weeks aligned)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    start_us = int(np.datetime64(a.start, "us").astype(np.int64))
    user, ts, ev, amount = generate(a.users, a.events, a.seed, a.days, start_us)
    table = pa.table({
        "user_id": pa.array(user, pa.uint64()),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "event": pa.DictionaryArray.from_arrays(pa.array(ev, pa.int8()), pa.array(EVENTS)),
        "amount": pa.array(amount, pa.float64()),
    })
    pq.write_table(table, a.out, row_group_size=1 << 20, compression="zstd")
    print(f"wrote {table.num_rows} events for {a.users} customers to {a.out}")


if __name__ == "__main__":
    main()
