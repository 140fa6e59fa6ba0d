#!/bin/bash
# airmeta bench radio runs (small sizes) and prints one JSON line per backend with a positive
# MS/s figure; the benchmark itself compares every burst bit-exact.
set -u
out=$("$AIRMETA" bench radio --json --burst 4096 --bursts 4 --reps 3) || { echo "FAIL: exit $?"; exit 1; }
echo "$out"
for b in loop zmq file; do
    echo "$out" | grep -Eq "\"backend\":\"$b\".*\"msps\":[0-9]*\.[0-9]+" || { echo "FAIL: no $b line"; exit 1; }
    echo "$out" | grep "\"backend\":\"$b\"" | grep -q '"msps":0.00' && { echo "FAIL: $b 0 MS/s"; exit 1; }
done
echo PASS
