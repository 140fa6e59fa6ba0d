#!/bin/bash
# Issue 12 item 3: a durable server. The same seeded networked run (server, chan, 2 agents, CURVE
# keys, 12 rounds, a checkpoint every 3) is made three times:
#  ref   uninterrupted;
#  kill  the server is killed (-9) after a random round K (not a multiple of 3, so the resumed
#        server repeats rounds the agents have begun) and `airmeta server --resume DIR` continues
#        it; the chan and the agents, still running, reconnect and the agents restore their state
#        of the repeated rounds: metrics.jsonl is ref's byte for byte except "wall_s" (each
#        round's wall time, a measurement) and theta.f32 is ref's byte for byte. Three running
#        counters of network events are compared apart and may differ: a STATUS or REPORT that
#        a peer sent while the killed server was gone is queued by ZeroMQ and reaches the new
#        server before the peer's HELLO, where it is counted (ctrl_rejected, or late_status /
#        peer_drops): a real event of the interrupted run, not a difference in what it computes;
#  term  the server is stopped by SIGTERM after a random round: it checkpoints and says BYE (the
#        chan and agents exit); it is resumed, a new chan and the agents are started again with
#        the same --state files (their kept states on disk): again ref's bytes except wall_s, and
#        ref's theta.f32. Without --state (fresh agents: new error memories, task streams from
#        round 1) the rounds after the stop differ (checked too, so that the comparison can see
#        a difference);
#  all   the server, the chan and both agents are killed (-9) together after a random round and
#        all started again, the agents on their --state files (written before each STATUS and
#        each burst): ref's bytes except wall_s and the event counters, ref's theta.f32.
# Timeouts are generous (a late report or burst would change a round): nothing waits for them when
# every process keeps up.
# Then --resume is refused for a folder without a server run (empty, or a sim run's), a conflicting
# flag, a checkpoint of another configuration and a corrupt one.
set -u
. "$(dirname "$0")/lib/net.sh"
. "$(dirname "$0")/lib/need.sh"
need python3

make_keys 2
R=12
common=(--agents 2 --rounds $R --round-timeout 30 --burst-timeout 5 --join-timeout 60
    --round-period 0.2 --tasks-per-agent 1 --seed 8 --checkpoint-every 3)

# waits until metrics.jsonl $1 has $2 lines (the server $spid alive)
lines() {
    local i
    for i in $(seq 1 1200); do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        kill -0 "$spid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# the server --resume $1 in the background, logging to $out/$2.log; waits for it (exit code in $?)
resume() {
    "$AIRMETA" server --resume "$1" >"$out/$2.log" 2>&1 &
    spid=$!
    pids+=($spid)
    wait_for $spid 120
}

# ref: uninterrupted
bind=(--bind 'tcp://127.0.0.1:*')
serve ref-server "${bind[@]}" "${srv_sec[@]}" "${common[@]}" --out "$out/ref"
start_peers ref ref
wait_for $spid 120 || fail "ref: server exit $?"
wait_peers ref

# kill: -9 after round K in {2,4,5,7,8,10}
K=$((2 + RANDOM % 9))
[ $((K % 3)) -eq 0 ] && K=$((K + 1))
serve kill-server "${bind[@]}" "${srv_sec[@]}" "${common[@]}" --out "$out/kill"
start_peers kill kill
lines "$out/kill/metrics.jsonl" $K || fail "kill: round $K not reached"
kill -9 "$spid"
wait "$spid" 2>/dev/null
have=$(wc -l <"$out/kill/metrics.jsonl")
echo "kill: server killed (-9) with $have rounds in metrics.jsonl (K = $K)"
sleep 2 # the agents and the chan keep reconnecting meanwhile (until their --timeout of 60 s)
resume "$out/kill" kill-resumed || fail "kill: resumed server exit $?"
c=$(sed -n 's/.*after round \([0-9]*\) of.*/\1/p' "$out/kill-resumed.log")
echo "kill: resumed after round $c (checkpoint every 3)"
[ "$c" -eq $((have / 3 * 3)) ] || fail "kill: resumed after round $c, not the last checkpoint"
wait_peers kill
again=$(cat "$out"/kill-agent*.log | grep -c "again (a resumed server): its state restored")
echo "kill: agents restored their state of a repeated round $again times"

# term: SIGTERM after a random round T, then a new chan and the agents again with their --state
# (fresh: the same stop, resumed by agents without --state)
T=$((2 + RANDOM % 8))
serve term-server "${bind[@]}" "${srv_sec[@]}" "${common[@]}" --out "$out/term"
start_peers term term
lines "$out/term/metrics.jsonl" $T || fail "term: round $T not reached"
kill -TERM "$spid"
wait_for "$spid" 30
rc=$?
[ "$rc" -eq 6 ] || fail "term: exit $rc after SIGTERM"
stopped=$(wc -l <"$out/term/metrics.jsonl")
grep -q "continue with airmeta server --resume $out/term" "$out/term-server.log" ||
    fail "term: no resume hint"
wait_peers term
echo "term: stopped after $stopped rounds"
cp -r "$out/term" "$out/fresh"
rm "$out/fresh/.airmeta-run"
start_peers term2 term
resume "$out/term" term-resumed || fail "term: resumed server exit $?"
wait_peers term2
grep -q "state read from" "$out/term2-agent0.log" || fail "term: agent 0 read no states"
start_peers fresh
resume "$out/fresh" fresh-resumed || fail "fresh: resumed server exit $?"
wait_peers fresh

# all: the server, the chan and the agents killed (-9) together after a random round; all started
# again (the agents on their --state files), the server with --resume
A=$((2 + RANDOM % 9))
serve all-server "${bind[@]}" "${srv_sec[@]}" "${common[@]}" --out "$out/all"
start_peers all all
lines "$out/all/metrics.jsonl" $A || fail "all: round $A not reached"
kill -9 "$spid" "${ppids[@]}"
for p in "$spid" "${ppids[@]}"; do wait "$p" 2>/dev/null; done
echo "all: every process killed (-9) with $(wc -l <"$out/all/metrics.jsonl") rounds in metrics.jsonl"
start_peers all2 all
resume "$out/all" all-resumed || fail "all: resumed server exit $?"
wait_peers all2

python3 - "$out" "$stopped" <<'PY' || fail "metrics"
import json, math, re, struct, sys
out, stopped = sys.argv[1], int(sys.argv[2])
EVENTS = ("ctrl_rejected", "late_status", "peer_drops")
def rows(run):
    # every byte of every line except the values of the wall time and the network-event counters
    pat = r'"(wall_s|%s)":[^,}]*' % "|".join(EVENTS)
    return [re.sub(pat, r'"\1":0', l) for l in open(f"{out}/{run}/metrics.jsonl")]
def events(run):
    return [tuple(json.loads(l)[k] for k in EVENTS) for l in open(f"{out}/{run}/metrics.jsonl")]
def theta(run):
    return open(f"{out}/{run}/theta.f32", "rb").read()
ref, kill, term, fresh, al = rows("ref"), rows("kill"), rows("term"), rows("fresh"), rows("all")
assert [len(x) for x in (ref, kill, term, fresh, al)] == [12] * 5, [len(x) for x in (ref, kill)]
assert all(json.loads(l)["decoded"] for l in ref), "ref: a round not decoded"
diff = [i + 1 for i in range(12) if ref[i] != kill[i]]
assert not diff, f"kill: rounds {diff} differ from the uninterrupted run"
assert theta("kill") == theta("ref"), "kill: theta.f32 differs"
print(f"kill: 12 of 12 metrics lines and theta.f32 ({len(theta('ref'))} bytes) identical to ref; "
      f"event counters {'the same' if events('kill') == events('ref') else 'differ'} "
      f"(last round {events('kill')[-1]} vs {events('ref')[-1]})")
diff = [i + 1 for i in range(12) if ref[i] != term[i]]
assert not diff, f"term: rounds {diff} differ from the uninterrupted run"
assert theta("term") == theta("ref"), "term: theta.f32 differs"
print(f"term: 12 of 12 metrics lines and theta.f32 identical to ref")
diff = [i + 1 for i in range(12) if ref[i] != al[i]]
assert not diff, f"all: rounds {diff} differ from the uninterrupted run"
assert theta("all") == theta("ref"), "all: theta.f32 differs"
print(f"all: 12 of 12 metrics lines and theta.f32 identical to ref; event counters "
      f"{'the same' if events('all') == events('ref') else 'differ'}")
assert fresh[:stopped] == ref[:stopped], "fresh: the rounds before the stop differ"
lr = [json.loads(l)["train_loss"] for l in ref]
lf = [json.loads(l)["train_loss"] for l in fresh]
assert lf[stopped:] != lr[stopped:], "fresh agents gave ref's rounds: the comparison sees nothing"
print(f"fresh: rounds 1..{stopped} identical; later train_loss ref vs fresh agents: " +
      ", ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(lr[stopped:], lf[stopped:])))
PY

# refusals: no server run there, a conflicting flag
mkdir -p "$out/empty" "$out/simdir"
echo '{"command": "sim", "flags": {}}' >"$out/simdir/config.json"
"$AIRMETA" server --resume "$out/empty" 2>"$out/err" && fail "resumed an empty folder"
grep -q "not a run folder (no config.json)" "$out/err" || fail "message: $(cat "$out/err")"
echo "refused: $(cat "$out/err")"
"$AIRMETA" server --resume "$out/simdir" 2>"$out/err" && fail "resumed a sim folder"
grep -q "not an \`airmeta server\` run" "$out/err" || fail "message: $(cat "$out/err")"
echo "refused: $(cat "$out/err")"
"$AIRMETA" server --resume "$out/ref" --seed 9 2>"$out/err" && fail "resumed with --seed 9"
grep -q -- "--seed 9 conflicts with the run's 8" "$out/err" || fail "message: $(cat "$out/err")"
echo "refused: $(cat "$out/err")"
"$AIRMETA" server --resume "$out/ref" --agents 3 2>"$out/err" && fail "resumed with --agents 3"
grep -q -- "--agents 3 conflicts with the run's 2" "$out/err" || fail "message: $(cat "$out/err")"
echo "refused: $(cat "$out/err")"
# a checkpoint that is not this configuration's, or corrupt, is refused (nothing is cut)
cp -r "$out/ref" "$out/edited"
sed -i 's/"eta-cap":\t100/"eta-cap":\t50/' "$out/edited/config.json"
grep -q '"eta-cap":.50' "$out/edited/config.json" || fail "config.json not edited"
"$AIRMETA" server --resume "$out/edited" 2>"$out/err" && fail "resumed another configuration"
grep -q "checkpoint.bin: made by another configuration" "$out/err" || fail "message: $(cat "$out/err")"
echo "refused: $(cat "$out/err")"
cp -r "$out/ref" "$out/corrupt"
printf '\377' | dd of="$out/corrupt/checkpoint.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
"$AIRMETA" server --resume "$out/corrupt" 2>"$out/err" && fail "resumed a corrupt checkpoint"
grep -q "state CRC mismatch" "$out/err" || fail "message: $(cat "$out/err")"
echo "refused: $(cat "$out/err")"
[ "$(wc -l <"$out/corrupt/metrics.jsonl")" -eq 12 ] || fail "metrics cut after a refusal"
# the same value again is no conflict: the finished run resumes to its end at once
cp "$out/ref/theta.f32" "$out/theta.ref"
# (on any free port: the run's own may have gone to another process's wildcard bind since)
"$AIRMETA" server --resume "$out/ref" --seed 8 --round-timeout 3 --bind 'tcp://127.0.0.1:*' \
    >"$out/again.log" 2>&1 ||
    fail "resume of the finished run with agreeing flags: $(tail -1 "$out/again.log")"
cmp -s "$out/theta.ref" "$out/ref/theta.f32" || fail "the finished run's theta changed"
[ "$(wc -l <"$out/ref/metrics.jsonl")" -eq 12 ] || fail "the finished run's metrics changed"
echo PASS
