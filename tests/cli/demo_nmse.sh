#!/bin/bash
# airmeta demo (README command (1) until the learner exists): the full chain (Rayleigh multipath,
# timing offsets inside the cp, CFO, truncated inversion, streaming receiver) lands within 1.5 dB
# of the AIR_INTERFACE §5 floor at 20 and 30 dB, every burst is found, and the receiver's
# active-count estimate is within 0.5 of the truth.
set -u
fail() { echo "FAIL: $*"; exit 1; }
out=$("$AIRMETA" demo --agents 5 --rounds 6 --snr-db 20,30 --payload 2000 --json) || fail "exit $?"
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 2 ] || fail "expected 2 lines"
echo "$out" | awk '
{
    for (i = 1; i <= NF; i++) { gsub(/[{},"]/, "", $i) }
    for (i = 1; i < NF; i++) v[$i] = $(i + 1)
    if (v["gap_db:"] + 0 > 1.5 || v["gap_db:"] + 0 < -0.5) { print "gap " v["gap_db:"]; bad = 1 }
    if (v["bursts:"] != v["rounds:"]) { print "bursts " v["bursts:"]; bad = 1 }
    d = v["active_mean:"] - v["active_true:"]; if (d < -0.5 || d > 0.5) { print "active"; bad = 1 }
}
END { exit bad }' || fail "figures out of bounds"
# same seed -> same figures; flags are validated
[ "$("$AIRMETA" demo --agents 2 --rounds 2 --snr-db 10 --payload 100 --json)" = \
  "$("$AIRMETA" demo --agents 2 --rounds 2 --snr-db 10 --payload 100 --json)" ] || fail "not repeatable"
"$AIRMETA" demo --snr-db 10,x 2>/dev/null; [ $? -eq 2 ] || fail "bad --snr-db accepted"
"$AIRMETA" demo --agents 0 2>/dev/null; [ $? -eq 2 ] || fail "--agents 0 accepted"
"$AIRMETA" demo --taps 30 2>/dev/null; [ $? -eq 2 ] || fail "taps beyond the cp accepted"
echo PASS
