#!/bin/bash
# Issue 12 item 3: an agent killed (-9) at a random round of a running server and started again
# on its --state file is taken back: it reads its state (the rounds it kept, and the round in
# flight), says HELLO, and the later rounds have both agents again; the rounds it missed list it
# as absent, and the run (30 rounds, 0.2 s apart: ample time to come back) completes (exit 0)
# with every round decoded. CURVE keys; only 127.0.0.1.
set -u
. "$(dirname "$0")/lib/net.sh"
. "$(dirname "$0")/lib/need.sh"
need python3

make_keys 2
R=30
start_server 53 4519 "${srv_sec[@]}" --agents 2 --rounds $R --round-timeout 10 --burst-timeout 5 \
    --join-timeout 60 --round-period 0.2 --tasks-per-agent 1 --seed 8 --out "$out/run"
"$AIRMETA" chan "${chan_sec[@]}" --server "$ep" --agents 2 --timeout 60 >"$out/chan.log" 2>&1 &
cpid=$!
pids+=($cpid)
agent() {
    "$AIRMETA" agent $(agent_sec $1) --id $1 --server "$ep" --timeout 60 --beacon-timeout 5 \
        --state "$out/agent$1.state" >>"$out/agent$1.log" 2>&1 &
    apid[$1]=$!
    pids+=($!)
}
apid=()
agent 0
agent 1
m="$out/run/metrics.jsonl"
J=$((2 + RANDOM % 6))
for i in $(seq 1 1200); do
    [ -f "$m" ] && [ "$(wc -l <"$m")" -ge $J ] && break
    sleep 0.05
done
[ "$(wc -l <"$m")" -ge $J ] || fail "round $J not reached"
kill -9 "${apid[1]}"
wait "${apid[1]}" 2>/dev/null
killed=$(wc -l <"$m")
sleep 1 # the server goes on without it meanwhile
agent 1
wait_for $spid 120 || fail "server exit $?"
for k in 0 1; do wait_for "${apid[$k]}" 30 || fail "agent $k exit $?"; done
wait_for $cpid 30 || fail "chan exit $?"
grep -q "agent 1: state read from .*kept rounds" "$out/agent1.log" || fail "agent 1 read no state"
grep -q "server: agent 1 rejoined" "$out/server.log" || fail "agent 1 not taken back"
python3 - "$m" "$killed" <<'PY' || fail "metrics"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
killed = int(sys.argv[2])
assert len(rows) == 30 and all(r["decoded"] for r in rows), "a round missing or not decoded"
assert all(r["agents"] == [0, 1] for r in rows[:killed]), "both agents before the kill"
out = [r["round"] for r in rows if 1 in r["absent"]]
back = [r["round"] for r in rows[killed:] if r["agents"] == [0, 1]]
assert out and all(o > killed for o in out), f"agent 1 absent in rounds {out}"
assert back and rows[-1]["agents"] == [0, 1], "agent 1 not back by the last round"
assert all(o < back[0] for o in out), "absent again after it was back"
print(f"agent 1 killed after round {killed}, absent in rounds {out}, back from round {back[0]} "
      f"of 30 (the server went on without it)")
PY
echo PASS
