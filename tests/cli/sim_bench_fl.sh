#!/bin/bash
# Smoke run of airmeta bench fl (not a timed test): the JSON lines of the learner part carry a
# positive us (wall and CPU) per meta-iteration and the 70 000-iteration projection consistent
# with the CPU figure.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
out=$("$AIRMETA" bench fl --json --iters 3 --reps 1) || fail "exit $?"
echo "$out"
for l in maml fomaml; do
    echo "$out" | grep -q "\"case\":\"${l}_sinusoid\"" || fail "no $l line"
done
echo "$out" | python3 -c '
import json, sys
n = 0
for l in sys.stdin:
    o = json.loads(l)
    if "case" in o:
        n += 1
        assert o["us_per_iter"] > 0, o
        assert o["cpu_us_per_iter"] > 0 and abs(o["projected_70000_s"] - 0.07 * o["cpu_us_per_iter"]) < 0.01 + 1e-3 * o["projected_70000_s"], o
assert n == 2' || fail "JSON"
# the table's header says how many repetitions each median is of: --reps, kernels included
"$AIRMETA" bench fl --iters 3 --reps 1 >"${TMPDIR:-/tmp}/bfl.$$" || fail "text: exit $?"
grep -q "medians of 1 repetitions" "${TMPDIR:-/tmp}/bfl.$$" ||
    { cat "${TMPDIR:-/tmp}/bfl.$$"; rm -f "${TMPDIR:-/tmp}/bfl.$$"; fail "kernels not timed --reps times"; }
rm -f "${TMPDIR:-/tmp}/bfl.$$"
"$AIRMETA" bench fl --iters 0 2>/dev/null; [ $? -eq 2 ] || fail "--iters 0 accepted"
echo PASS
