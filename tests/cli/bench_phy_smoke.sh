#!/bin/bash
# Smoke run of airmeta bench phy (not a timed test): --quick --reps 1 --json prints one line per
# measurement (tx/rx x airmeta/liquid x 256/1024), each JSON with a positive Msps.
set -u
fail() { echo "FAIL: $*"; exit 1; }
out=$("$AIRMETA" bench phy --quick --reps 1 --json) || fail "exit $?"
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 8 ] || fail "expected 8 lines"
for chain in tx rx; do for impl in airmeta liquid; do for m in 256 1024; do
    line=$(echo "$out" | grep -F "\"chain\": \"$chain\", \"impl\": \"$impl\", \"nfft\": $m,") ||
        fail "no line for $chain $impl $m"
    msps=$(echo "$line" | sed -n 's/.*"msps": \([0-9.eE+-]*\)}$/\1/p')
    awk -v x="$msps" 'BEGIN { exit !(x + 0 > 0) }' || fail "$chain $impl $m: msps '$msps'"
done; done; done
if command -v python3 >/dev/null; then
    echo "$out" | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    assert set(o) == {"chain", "impl", "nfft", "msps"} and o["msps"] > 0, o' || fail "JSON"
fi
"$AIRMETA" bench phy --reps 0 2>/dev/null; [ $? -eq 2 ] || fail "--reps 0 accepted"
echo PASS
