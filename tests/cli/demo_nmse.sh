#!/bin/bash
# airmeta demo (README command (1) until the learner exists): the full chain (Rayleigh multipath,
# timing offsets inside the cp, CFO, truncated inversion, streaming receiver) lands within 1.5 dB
# of the docs/air-interface.md §5 floor at 20 and 30 dB with K = 5 (expected ~10 log10(1 + 1/n) from
# the S1 estimate of G plus sync losses), every burst is found, and the receiver's active-count
# estimate is within 0.5 of the truth.
set -u
fail() { echo "FAIL: $*"; exit 1; }
get() { echo "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p"; } # get LINE KEY
out=$("$AIRMETA" demo --agents 5 --rounds 6 --snr-db 20,30 --payload 2000 --json) || fail "exit $?"
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 2 ] || fail "expected 2 lines"
while read -r line; do
    gap=$(get "$line" gap_db) act=$(get "$line" active_mean) tru=$(get "$line" active_true)
    [ "$(get "$line" bursts)" = "$(get "$line" rounds)" ] || fail "missed bursts: $line"
    awk -v g="$gap" -v a="$act" -v t="$tru" \
        'BEGIN { exit !(g > -0.5 && g < 1.5 && a - t > -0.5 && a - t < 0.5) }' ||
        fail "figures out of bounds: $line"
done <<<"$out"
# a point where nothing is decoded prints null, never nan (JSON stays valid)
line=$("$AIRMETA" demo --agents 1 --rounds 2 --snr-db -20 --payload 100 --json) || fail "exit"
echo "$line"
[ "$(get "$line" nmse_db)" = "null" ] && [ "$(get "$line" bursts)" = "0" ] || fail "no-burst point"
# same seed -> same figures; flags are validated
[ "$("$AIRMETA" demo --agents 2 --rounds 2 --snr-db 10 --payload 100 --json)" = \
  "$("$AIRMETA" demo --agents 2 --rounds 2 --snr-db 10 --payload 100 --json)" ] || fail "not repeatable"
"$AIRMETA" demo --snr-db 10,x 2>/dev/null; [ $? -eq 2 ] || fail "bad --snr-db accepted"
"$AIRMETA" demo --agents 0 2>/dev/null; [ $? -eq 2 ] || fail "--agents 0 accepted"
"$AIRMETA" demo --taps 30 2>/dev/null; [ $? -eq 2 ] || fail "taps beyond the cp accepted"
echo PASS
