#!/bin/bash
# sim --agg iq --cal auto|on|off (docs/air-interface.md §8, §5.6): with b210-shared-ref radios
# calibration is on by default and every round's metrics list the agents heard; --cal off and
# ideal radios write no "heard" key (the same bytes as before the flag: ideal runs are
# unchanged, and --cal auto is left out of the config CRC); a bad value exits 2. With calibration
# the agents are probed twice before round 1 (§8.5): round 1's metrics, and only its, say so
# ("probe", the server's keys, every agent heard), also with --cal on and ideal radios; a probed
# b210-free run writes the same bytes with --threads 1 and 3. With the probe count from what the
# probes measure (--probes 4 --probe-excess 3, §8.5 step 5) a b210-free run (seed 4: 3 probes, the
# rule stopped before 4; the same run's excess per probe is printed) writes the same bytes with
# --threads 1 and 2, config.json records the two flags (and, at their defaults, not: a run's
# config.json keeps the bytes of a run before them); bad values exit 2 in one line.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--agg iq --agents 4 --rounds 4 --snr-db 20 --g-th 0 --quiet --no-plots --seed 3)
"$AIRMETA" sim "${common[@]}" --impair b210-shared-ref --out "$tmp/on" || fail "sim cal auto"
"$AIRMETA" sim "${common[@]}" --impair b210-shared-ref --cal off --out "$tmp/off" ||
    fail "sim cal off"
"$AIRMETA" sim "${common[@]}" --out "$tmp/ideal" || fail "sim ideal"
"$AIRMETA" sim "${common[@]}" --cal off --out "$tmp/ideal_off" || fail "sim ideal cal off"
"$AIRMETA" sim "${common[@]}" --cal on --out "$tmp/ideal_on" || fail "sim ideal cal on"
for t in 1 3; do
    "$AIRMETA" sim "${common[@]}" --impair b210-free --threads $t --out "$tmp/free$t" ||
        fail "sim b210-free --threads $t"
done
cmp "$tmp/free1/metrics.jsonl" "$tmp/free3/metrics.jsonl" || fail "probed run: --threads 1 and 3 differ"
rule=(--agg iq --agents 4 --rounds 3 --snr-db 20 --g-th 0 --no-plots --seed 4 --impair b210-free
      --probes 4 --probe-excess 3)
for t in 1 2; do
    "$AIRMETA" sim "${rule[@]}" --threads $t --out "$tmp/rule$t" >"$tmp/rule$t.out" ||
        fail "sim --probe-excess --threads $t"
done
cmp "$tmp/rule1/metrics.jsonl" "$tmp/rule2/metrics.jsonl" || fail "the rule: --threads 1 and 2 differ"
grep -q '"iq":{.*"probe":{"agents":\[0,1,2,3\],"probes":3,"heard":\[0,1,2,3\]}' \
    "$tmp/rule1/metrics.jsonl" || fail "the rule: not 3 probes: $(head -c 400 "$tmp/rule1/metrics.jsonl")"
# measured: excess 920.84 3.76 2.66 (probe 2 over 3, probe 3 under it: no more)
grep -q "round      1  3 calibration probes before it (at most 4): 4 of 4 agents heard in the last; excess [0-9.]* [0-9.]* [0-9.]*$" \
    "$tmp/rule1.out" || fail "the rule: $(grep probes "$tmp/rule1.out")"
grep -q '"probes":	4,' "$tmp/rule1/config.json" && grep -q '"probe-excess":	3$' "$tmp/rule1/config.json" ||
    fail "config.json without the rule's flags"
! grep -q '"probe' "$tmp/free1/config.json" || fail "config.json lists the probe flags at their defaults"
for bad in "--probe-excess nan" "--probe-excess -1" "--probe-excess inf" "--probes 17" \
    "--probes 1 --probe-excess 3"; do
    # shellcheck disable=SC2086
    "$AIRMETA" sim "${common[@]}" --impair b210-free $bad --out "$tmp/bad" 2>"$tmp/err"
    [ $? -eq 2 ] || fail "$bad: exit code"
    [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "--probe" "$tmp/err" || fail "$bad: $(cat "$tmp/err")"
done
"$AIRMETA" sim "${common[@]}" --probe-excess 3 --out "$tmp/bad" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "need calibration" "$tmp/err" || fail "the rule without calibration: $(cat "$tmp/err")"
python3 - "$tmp" <<'PY' || fail "metrics"
import json, sys
d = sys.argv[1]
def rows(n):
    return [json.loads(l) for l in open(f"{d}/{n}/metrics.jsonl")]
on = rows("on")
assert len(on) == 4 and all(r["iq"]["heard"] == [0, 1, 2, 3] for r in on), on
for n in ("off", "ideal", "ideal_off"):
    assert all("heard" not in r["iq"] and "probe" not in r["iq"] for r in rows(n)), n
for n in ("on", "ideal_on", "free1"):
    p = rows(n)
    assert p[0]["iq"]["probe"] == {"agents": [0, 1, 2, 3], "probes": 2, "heard": [0, 1, 2, 3]}, n
    assert all("probe" not in r["iq"] for r in p[1:]), f"{n}: a probe after round 1"
PY
cmp "$tmp/ideal/metrics.jsonl" "$tmp/ideal_off/metrics.jsonl" || fail "ideal: --cal off differs"
"$AIRMETA" sim "${common[@]}" --cal maybe --out "$tmp/bad" 2>"$tmp/err"
[ $? -eq 2 ] || fail "--cal maybe: exit code"
grep -q -- "--cal" "$tmp/err" || fail "message: $(cat "$tmp/err")"
echo ok
