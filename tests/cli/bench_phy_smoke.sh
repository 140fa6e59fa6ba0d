#!/bin/bash
# Smoke run of airmeta bench phy (not a timed test): --quick --reps 1 --json prints one line per
# measurement (tx/rx x airmeta/liquid x 256/1024, and the TX's fftw-bound x 256/1024), each JSON
# with a positive Msps.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
out=$("$AIRMETA" bench phy --quick --reps 1 --json) || fail "exit $?"
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 10 ] || fail "expected 10 lines"
for ci in tx:airmeta tx:liquid rx:airmeta rx:liquid tx:fftw-bound; do for m in 256 1024; do
    chain=${ci%%:*} impl=${ci#*:}
    n=$(echo "$out" | grep -cF "\"chain\": \"$chain\", \"impl\": \"$impl\", \"nfft\": $m,")
    [ "$n" -eq 1 ] || fail "$n lines for $chain $impl $m"
    line=$(echo "$out" | grep -F "\"chain\": \"$chain\", \"impl\": \"$impl\", \"nfft\": $m,")
    msps=$(echo "$line" | sed -n 's/.*"msps": \([0-9.eE+-]*\)}$/\1/p')
    awk -v x="$msps" 'BEGIN { exit !(x + 0 > 0) }' || fail "$chain $impl $m: msps '$msps'"
done; done
echo "$out" | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    assert set(o) == {"chain", "impl", "nfft", "msps"} and o["msps"] > 0, o' || fail "JSON"
# the text table names the ceiling and its ratio to liquid
txt=$("$AIRMETA" bench phy --quick --reps 1 --nfft 64) || fail "text: exit $?"
echo "$txt" | grep -q "fftw-bound  *bound/liquid" || fail "text: no fftw-bound column"
echo "$txt" | grep -qE "^tx +64 +[0-9.]+ +[0-9.]+ +[0-9.]+x +[0-9.]+ +[0-9.]+x$" || fail "text: tx row"
# --stages: the TX's stage lines (us per burst), none negative, beside the table
st=$("$AIRMETA" bench phy --quick --reps 1 --json --stages --nfft 64) || fail "stages: exit $?"
echo "$st" | python3 -c '
import json, sys
s = {}
for l in sys.stdin:
    o = json.loads(l)
    if o["chain"] == "tx-stage":
        assert o["nfft"] == 64 and o["stage"] not in s, o
        s[o["stage"]] = o["us_per_burst"]
assert set(s) == {"weights", "map", "ifft", "copy", "other", "total"}, s
assert min(s.values()) >= 0 and s["ifft"] > 0 and s["total"] > 0, s' || fail "--stages JSON"
"$AIRMETA" bench phy --quick --reps 1 --stages --nfft 64 | grep -qE "^  ifft +[0-9.]+ +[0-9.]+%$" ||
    fail "--stages text"
"$AIRMETA" bench phy --reps 0 2>/dev/null; [ $? -eq 2 ] || fail "--reps 0 accepted"
echo PASS
