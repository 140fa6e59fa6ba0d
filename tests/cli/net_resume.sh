#!/bin/bash
# Issue 12 item 3: a durable server. The same seeded networked run (server, chan, 2 agents, CURVE
# keys, 12 rounds, a checkpoint every 3) is made three times:
#  ref   uninterrupted;
#  kill  the server is killed (-9) after a random round K (not a multiple of 3, so the resumed
#        server repeats rounds the agents have begun) and `airmeta server --resume DIR` continues
#        it; the chan and the agents, still running, reconnect and the agents restore their state
#        of the repeated rounds: metrics.jsonl is ref's byte for byte except "wall_s" (each
#        round's wall time, a measurement) and theta.f32 is ref's byte for byte;
#  term  the server is stopped by SIGTERM after a random round: it checkpoints and says BYE (the
#        chan and agents exit); it is resumed, a new chan and the agents are started again with
#        the same --state files (their kept states on disk): again ref's bytes except wall_s, and
#        ref's theta.f32. Without --state (fresh agents: new error memories, task streams from
#        round 1) the rounds after the stop differ (checked too, so that the comparison can see
#        a difference).
# Then --resume is refused for a folder without a server run and for a conflicting flag.
set -u
. "$(dirname "$0")/lib/net.sh"
. "$(dirname "$0")/lib/need.sh"
need python3

make_keys 2
R=12
common=(--agents 2 --rounds $R --round-timeout 5 --burst-timeout 1 --join-timeout 60
    --round-period 0.2 --tasks-per-agent 1 --seed 8 --checkpoint-every 3)

# chan and agents for the server at $ep, logs $out/$1-*.log, agent states $out/$2-agentK.state
# (none without $2); their pids in ppids
start_peers() {
    local st
    ppids=()
    "$AIRMETA" chan "${chan_sec[@]}" --server "$ep" --agents 2 --timeout 60 >"$out/$1-chan.log" 2>&1 &
    ppids+=($!)
    pids+=($!)
    for k in 0 1; do
        st=()
        [ -n "${2:-}" ] && st=(--state "$out/$2-agent$k.state")
        "$AIRMETA" agent $(agent_sec $k) --id $k --server "$ep" --timeout 60 \
            --beacon-timeout 2 "${st[@]}" >"$out/$1-agent$k.log" 2>&1 &
        ppids+=($!)
        pids+=($!)
    done
}
wait_peers() {
    local p
    for p in "${ppids[@]}"; do wait_for "$p" 60 || fail "$1: a peer exit $?"; done
}
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
start_server 41 4481 "${srv_sec[@]}" "${common[@]}" --out "$out/ref"
start_peers ref ref
wait_for $spid 120 || fail "ref: server exit $?"
wait_peers ref

# kill: -9 after round K in {2,4,5,7,8,10}
K=$((2 + RANDOM % 9))
[ $((K % 3)) -eq 0 ] && K=$((K + 1))
start_server 43 4483 "${srv_sec[@]}" "${common[@]}" --out "$out/kill"
start_peers kill kill
lines "$out/kill/metrics.jsonl" $K || fail "kill: round $K not reached"
kill -9 "$spid"
wait "$spid" 2>/dev/null
have=$(wc -l <"$out/kill/metrics.jsonl")
echo "kill: server killed (-9) with $have rounds in metrics.jsonl (K = $K)"
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
start_server 47 4487 "${srv_sec[@]}" "${common[@]}" --out "$out/term"
start_peers term term
lines "$out/term/metrics.jsonl" $T || fail "term: round $T not reached"
kill -TERM "$spid"
wait_for "$spid" 30
rc=$?
[ "$rc" -eq 6 ] || fail "term: exit $rc after SIGTERM"
stopped=$(wc -l <"$out/term/metrics.jsonl")
grep -q "continue with airmeta server --resume $out/term" "$out/server.log" ||
    fail "term: no resume hint"
wait_peers term
echo "term: stopped after $stopped rounds"
cp -r "$out/term" "$out/fresh"
rm "$out/fresh/.airmeta-run"
start_peers term2 term
resume "$out/term" term-resumed || fail "term: resumed server exit $?"
wait_peers term2
grep -q "kept states read from" "$out/term2-agent0.log" || fail "term: agent 0 read no states"
start_peers fresh
resume "$out/fresh" fresh-resumed || fail "fresh: resumed server exit $?"
wait_peers fresh

python3 - "$out" "$stopped" <<'PY' || fail "metrics"
import json, math, re, struct, sys
out, stopped = sys.argv[1], int(sys.argv[2])
def rows(run):
    # every byte of every line except the wall time's value
    return [re.sub(r'"wall_s":[^,}]*', '"wall_s":0', l) for l in open(f"{out}/{run}/metrics.jsonl")]
def theta(run):
    return open(f"{out}/{run}/theta.f32", "rb").read()
ref, kill, term, fresh = rows("ref"), rows("kill"), rows("term"), rows("fresh")
assert [len(x) for x in (ref, kill, term, fresh)] == [12] * 4, [len(x) for x in (ref, kill, term)]
assert all(json.loads(l)["decoded"] for l in ref), "ref: a round not decoded"
diff = [i + 1 for i in range(12) if ref[i] != kill[i]]
assert not diff, f"kill: rounds {diff} differ from the uninterrupted run"
assert theta("kill") == theta("ref"), "kill: theta.f32 differs"
print(f"kill: 12 of 12 metrics lines and theta.f32 ({len(theta('ref'))} bytes) identical to ref")
diff = [i + 1 for i in range(12) if ref[i] != term[i]]
assert not diff, f"term: rounds {diff} differ from the uninterrupted run"
assert theta("term") == theta("ref"), "term: theta.f32 differs"
print(f"term: 12 of 12 metrics lines and theta.f32 identical to ref")
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
# the same value again is no conflict: the finished run resumes to its end at once
cp "$out/ref/theta.f32" "$out/theta.ref"
"$AIRMETA" server --resume "$out/ref" --seed 8 --round-timeout 3 >"$out/again.log" 2>&1 ||
    fail "resume of the finished run with agreeing flags: $(tail -1 "$out/again.log")"
cmp -s "$out/theta.ref" "$out/ref/theta.f32" || fail "the finished run's theta changed"
[ "$(wc -l <"$out/ref/metrics.jsonl")" -eq 12 ] || fail "the finished run's metrics changed"
echo PASS
