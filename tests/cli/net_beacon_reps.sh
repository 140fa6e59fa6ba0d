#!/bin/bash
# airmeta server --beacon-reps R, the beacon's training blocks (docs/air-interface.md §6.1, GO's
# u32 at 36, §9.4): the default is 16 (as sim --agg iq; it was 0), and config.json records R in
# every run (its flags' "beacon-reps" and "beacon_reps"); before, R = 0 was left out of it, so a
# run folder whose config.json does not record R ran with 0 and resumes with 0, whatever the
# default. Server, chan and 2 agents over ZeroMQ on 127.0.0.1 (--insecure), 6 seeded rounds, a
# checkpoint every round:
#  d16  the default: config.json records 16, the server's beacon is (3 + 16)(M + cp) = 5472
#       samples at M 256 (its "listening on" line), every round decoded;
#  d0   --beacon-reps 0: config.json records 0, the beacon is 3 (M + cp) = 864 samples; its rounds
#       differ from d16's (agg_nmse in every round: the test can see which R a run used);
#  old  d0's run stopped by SIGTERM after round 2 or so, config.json made as before the change
#       (no "beacon-reps" flag, no "beacon_reps"), resumed with no --beacon-reps: a beacon of 864
#       samples again and metrics.jsonl d0's byte for byte but wall_s and the network-event
#       counters (tests/cli/net_resume.sh), theta.f32 d0's: the resumed rounds used R = 0.
# Refused with exit 2 and a one-line message naming the flag: --beacon-reps 16 on a resume of the
# old folder (it ran with 0), --beacon-reps 0 on a resume of d16; agreeing with the folder
# (--beacon-reps 0 on old) is no conflict.
set -u
. "$(dirname "$0")/lib/net.sh"
. "$(dirname "$0")/lib/need.sh"
need python3

common=(--insecure --agents 2 --rounds 6 --round-timeout 30 --burst-timeout 5 --join-timeout 60
    --round-period 0.2 --tasks-per-agent 1 --seed 8 --checkpoint-every 1 --report-x --g-th 0)
bind=(--bind 'tcp://127.0.0.1:*')

# the beacon's length the server's log $1 states: "SAMPLES BLOCKS"
beacon() {
    sed -n 's/.*, beacon \([0-9]*\) samples (\([0-9]*\) training blocks)$/\1 \2/p' "$1"
}

serve d16-server "${bind[@]}" "${common[@]}" --out "$out/d16"
start_peers d16 d16
wait_for "$spid" 120 || fail "d16: server exit $?"
wait_peers d16
[ "$(beacon "$out/d16-server.log")" = "5472 16" ] ||
    fail "d16: beacon '$(beacon "$out/d16-server.log")', not 5472 samples, 16 blocks"

serve d0-server "${bind[@]}" "${common[@]}" --out "$out/d0" --beacon-reps 0
start_peers d0 d0
wait_for "$spid" 120 || fail "d0: server exit $?"
wait_peers d0
[ "$(beacon "$out/d0-server.log")" = "864 0" ] || fail "d0: beacon '$(beacon "$out/d0-server.log")'"

# old: d0's run, stopped after round 2 (or 3), its config.json as before the change, resumed
serve old-server "${bind[@]}" "${common[@]}" --out "$out/old" --beacon-reps 0
start_peers old old
for i in $(seq 1 1200); do
    [ -f "$out/old/metrics.jsonl" ] && [ "$(wc -l <"$out/old/metrics.jsonl")" -ge 2 ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
done
kill -TERM "$spid"
wait_for "$spid" 30
rc=$?
[ "$rc" -eq 6 ] || fail "old: exit $rc after SIGTERM"
wait_peers old
stopped=$(wc -l <"$out/old/metrics.jsonl")
[ "$stopped" -ge 2 ] && [ "$stopped" -lt 6 ] || fail "old: stopped after $stopped rounds"
python3 - "$out/old/config.json" <<'PY' || fail "config.json edit"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["flags"]["beacon-reps"] == 0 and c["beacon_reps"] == 0, c
del c["flags"]["beacon-reps"], c["beacon_reps"]
json.dump(c, open(sys.argv[1], "w"), indent="\t")
PY
start_peers old2 old
"$AIRMETA" server --resume "$out/old" >"$out/old-resumed.log" 2>&1 &
spid=$!
pids+=($spid)
wait_for "$spid" 120 || fail "old: resumed server exit $?"
wait_peers old2
echo "old: stopped after $stopped rounds, resumed: $(grep "resuming" "$out/old-resumed.log")"
[ "$(beacon "$out/old-resumed.log")" = "864 0" ] ||
    fail "old resumed: beacon '$(beacon "$out/old-resumed.log")', not 864 samples, 0 blocks"

python3 - "$out" <<'PY' || fail "metrics"
import json, re, sys
out = sys.argv[1]
EVENTS = ("wall_s", "ctrl_rejected", "late_status", "peer_drops")
def lines(run):
    return [re.sub(r'"(%s)":[^,}]*' % "|".join(EVENTS), r'"\1":0', l)
            for l in open(f"{out}/{run}/metrics.jsonl")]
def rows(run):
    return [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl")]
for run, R in (("d16", 16), ("d0", 0)):
    c = json.load(open(f"{out}/{run}/config.json"))
    assert c["flags"]["beacon-reps"] == R and c["beacon_reps"] == R, (run, c["flags"])
    rs = rows(run)
    assert len(rs) == 6 and all(r["decoded"] and r["agents"] == [0, 1] for r in rs), (run, rs)
    print(f"{run}: agg_nmse - floor, dB:",
          " ".join(f"{r['agg_nmse_db'] - r['agg_floor_db']:+.2f}" for r in rs))
same = [i + 1 for i, (a, b) in enumerate(zip(rows("d16"), rows("d0")))
        if a["agg_nmse"] == b["agg_nmse"]]
assert not same, f"rounds {same}: R = 16 and R = 0 gave the same agg_nmse"
d0, old = lines("d0"), lines("old")
assert len(old) == 6, len(old)
diff = [i + 1 for i in range(6) if d0[i] != old[i]]
assert not diff, f"old (resumed without the key): rounds {diff} differ from d0 (R = 0)"
assert open(f"{out}/old/theta.f32", "rb").read() == open(f"{out}/d0/theta.f32", "rb").read()
print("old: 6 of 6 metrics lines and theta.f32 identical to d0's (R = 0)")
PY

# a --beacon-reps given on a resume must agree with the folder: conflict DIR GIVEN RECORDED
conflict() {
    "$AIRMETA" server --resume "$out/$1" --beacon-reps "$2" 2>"$out/err"
    local rc=$?
    [ "$rc" -eq 2 ] || fail "resume of $1 with --beacon-reps $2: exit $rc"
    [ "$(wc -l <"$out/err")" -eq 1 ] && grep -q -- "--beacon-reps $2 conflicts with the run's $3" \
        "$out/err" || fail "message: $(cat "$out/err")"
    echo "refused: $(cat "$out/err")"
}
conflict old 16 0
conflict d16 0 16
"$AIRMETA" server --resume "$out/old" --beacon-reps 0 --bind 'tcp://127.0.0.1:*' \
    >"$out/again.log" 2>&1 || fail "resume of the finished old run with --beacon-reps 0"
[ "$(wc -l <"$out/old/metrics.jsonl")" -eq 6 ] || fail "the finished run's metrics changed"
echo PASS
