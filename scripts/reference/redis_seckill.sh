#!/usr/bin/env bash
# Copied from ../shared/bench/redis_seckill.sh (the reference the flash-sale benchmark compares siyu with;
# `siyu bench flash-sale` runs this text itself). Keep it equal to the shared copy.
# Flash-sale baseline: the common "Redis + Lua" stock deduction, measured with redis-benchmark on loopback.
# One atomic script per purchase attempt: refuse a second purchase by the same customer, refuse when sold out,
# else decrement the stock and remember the buyer. Prints requests/s and checks that nothing was oversold.
# Needs a Redis server on 127.0.0.1:6379 (the rust-svc machine runs one) and redis-tools (redis-cli, redis-benchmark).
# Usage: redis_seckill.sh [STOCK=1000] [CUSTOMERS=10000] [ATTEMPTS=500000] [CLIENTS=64]
set -euo pipefail
STOCK=${1:-1000} CUSTOMERS=${2:-10000} ATTEMPTS=${3:-500000} CLIENTS=${4:-64}
cli() { redis-cli -h 127.0.0.1 -p 6379 "$@"; }
cli DEL seckill:stock seckill:buyers >/dev/null
cli SET seckill:stock "$STOCK" >/dev/null
SCRIPT='if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 1 then return -2 end
local left = tonumber(redis.call("GET", KEYS[1]))
if left <= 0 then return -1 end
redis.call("DECR", KEYS[1]); redis.call("SADD", KEYS[2], ARGV[1]); return 1'
SHA=$(cli SCRIPT LOAD "$SCRIPT")
# __rand_int__ is replaced by redis-benchmark with a random number below -r: a random customer per attempt.
redis-benchmark -h 127.0.0.1 -p 6379 -n "$ATTEMPTS" -c "$CLIENTS" -r "$CUSTOMERS" -q \
  EVALSHA "$SHA" 2 seckill:stock seckill:buyers customer:__rand_int__ | tr '\r' '\n' | grep -v '^$' | tail -1
left=$(cli GET seckill:stock); buyers=$(cli SCARD seckill:buyers)
sold=$((STOCK - left))
echo "stock $STOCK sold $sold buyers $buyers left $left"
if [ "$sold" -ne "$buyers" ] || [ "$left" -lt 0 ]; then echo "OVERSOLD"; exit 1; fi
