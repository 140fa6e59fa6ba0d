#!/bin/bash
# airmeta bench round (smoke): a small IQ-level round benchmark prints its breakdown and one JSON
# line with the median seconds; bad flags exit 2. The figure itself is not asserted (a benchmark).
set -u
fail() { echo "FAIL: $*"; exit 1; }
out=$("$AIRMETA" bench round --agents 3 --dim 2000 --rounds 3 --json) || fail "exit $?"
echo "$out"
echo "$out" | grep -q '^{"bench":"round","agents":3,"dim":2000,"seconds":[0-9.e-]*,' ||
    fail "JSON line"
echo "$out" | grep -q '"missed":0}' || fail "missed rounds"
echo "$out" | grep -q '"peak_mb":[0-9.]*,' || fail "peak memory in the JSON line"
txt=$("$AIRMETA" bench round --agents 2 --dim 500 --rounds 1) || fail "text exit $?"
for part in beacon+chanest delivered TX+channel RX apply total "peak memory"; do
    echo "$txt" | grep -q "^  $part " || fail "breakdown line $part"
done
"$AIRMETA" bench round --agents 0 2>/dev/null
[ $? -eq 2 ] || fail "--agents 0 accepted"
echo PASS
