#!/bin/bash
# Smoke run of airmeta bench phy (not a timed test): --quick --reps 1 --json prints one line per
# measurement: tx airmeta/liquid/fftw-bound x 256/1024, rx airmeta x the three impairment
# profiles x 256/1024 and rx liquid where it finds its frames (always on the ideal stream), each
# JSON with a positive Msps; the rx lines name their stream's profile.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
out=$("$AIRMETA" bench phy --quick --reps 1 --json) || fail "exit $?"
echo "$out"
pos() { awk -v x="$1" 'BEGIN { exit !(x + 0 > 0) }'; }
for m in 256 1024; do
    for impl in airmeta liquid fftw-bound; do
        line=$(echo "$out" | grep -F "\"chain\": \"tx\", \"impl\": \"$impl\", \"nfft\": $m,")
        [ "$(echo "$line" | grep -c .)" -eq 1 ] || fail "tx $impl $m: '$line'"
        pos "$(echo "$line" | sed -n 's/.*"msps": \([0-9.eE+-]*\)}$/\1/p')" || fail "tx $impl $m: $line"
    done
    for p in ideal b210-shared-ref b210-free; do
        for impl in airmeta liquid; do
            line=$(echo "$out" |
                grep -F "\"chain\": \"rx\", \"impl\": \"$impl\", \"nfft\": $m, \"impair\": \"$p\",")
            n=$(echo "$line" | grep -c .)
            if [ "$impl" = airmeta ] || [ "$p" = ideal ]; then
                [ "$n" -eq 1 ] || fail "rx $impl $m $p: '$line'"
            fi
            [ "$n" -le 1 ] || fail "rx $impl $m $p: $n lines"
            [ "$n" -eq 0 ] || pos "$(echo "$line" | sed -n 's/.*"msps": \([0-9.eE+-]*\)}$/\1/p')" ||
                fail "rx $impl $m $p: $line"
        done
    done
done
[ "$(echo "$out" | grep -c .)" -le 18 ] || fail "more than 18 lines"
echo "$out" | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    keys = {"chain", "impl", "nfft", "msps"} | ({"impair"} if o["chain"] == "rx" else set())
    assert set(o) == keys and o["msps"] > 0, o' || fail "JSON"
# the text table names the ceiling and its ratio to liquid
txt=$("$AIRMETA" bench phy --quick --reps 1 --nfft 64) || fail "text: exit $?"
echo "$txt" | grep -q "fftw-bound  *bound/liquid" || fail "text: no fftw-bound column"
echo "$txt" | grep -qE "^tx +64 +[0-9.]+ +[0-9.]+ +[0-9.]+x +[0-9.]+ +[0-9.]+x$" || fail "text: tx row"
echo "$txt" | grep -qE "^rx ideal +64 +[0-9.]+ +[0-9.]+ +[0-9.]+x +- +-$" || fail "text: rx ideal row"
echo "$txt" | grep -qE "^rx b210-free +64 +[0-9.]+ " || fail "text: rx b210-free row"
echo "$txt" | grep -q "one thread, CPU time" || fail "text: clock not named"
one=$("$AIRMETA" bench phy --quick --reps 1 --nfft 64 --impair b210-free --wall) || fail "--impair: exit $?"
echo "$one" | grep -q "one thread, wall time" || fail "--wall: clock not named"
[ "$(echo "$one" | grep -c "^rx ")" -eq 1 ] || fail "--impair b210-free: not one rx row"
# an impaired stream airmeta does not decode is a row saying so, not a failed bench (b210-free's
# offsets at M = 4096); the ideal row is measured
big=$("$AIRMETA" bench phy --quick --reps 1 --nfft 4096 2>/dev/null) || fail "--nfft 4096: exit $?"
echo "$big" | grep -qE "^rx ideal +4096 +[0-9.]+ " || fail "--nfft 4096: rx ideal row"
echo "$big" | grep -qE "^rx b210-free +4096 +([0-9.]+|not decoded) " || fail "--nfft 4096: b210-free row"
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
assert set(s) == {"weights", "map", "ifft", "copy", "other", "total", "unprecoded",
                  "new-precoder", "drift"}, s
assert min(s.values()) >= 0 and s["ifft"] > 0 and s["total"] > 0, s' || fail "--stages JSON"
"$AIRMETA" bench phy --quick --reps 1 --stages --nfft 64 | grep -qE "^  ifft +[0-9.]+ +[0-9.]+%$" ||
    fail "--stages text"
"$AIRMETA" bench phy --reps 0 2>/dev/null; [ $? -eq 2 ] || fail "--reps 0 accepted"
echo PASS
