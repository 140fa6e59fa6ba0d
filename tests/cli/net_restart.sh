#!/bin/bash
# Issue 12 findings 4 and 12: peers that come back are taken back. (1) The chan on the default
# --bind tcp://127.0.0.1:* is killed (-9) after a random round (2..5) and started again (new ports): the server
# passes the new endpoints on and the agents follow them (before: agents accepted the data setup
# once, and no later round decoded). (2) The server is killed (-9) mid-run and a new one started on
# the same port: the agents and the chan, still running, reconnect, say HELLO again and the new
# run completes with both agents (before: they waited silently until their --timeout). CURVE keys
# throughout. Only 127.0.0.1; every process bounded.
set -u
. "$(dirname "$0")/lib/net.sh"

make_keys 2
common=(--agents 2 --round-timeout 3 --burst-timeout 1 --join-timeout 60 --round-period 0.4
    --tasks-per-agent 1 --seed 8)
start_server 23 4111 "${srv_sec[@]}" "${common[@]}" --rounds 60 --out "$out/run1"
"$AIRMETA" chan "${chan_sec[@]}" --server "$ep" --agents 2 --timeout 30 >"$out/chan1.log" 2>&1 &
c1=$!
pids+=($c1)
apids=()
for k in 0 1; do
    "$AIRMETA" agent $(agent_sec $k) --id $k --server "$ep" --timeout 30 >"$out/agent$k.log" 2>&1 &
    apids+=($!)
    pids+=($!)
done
# waits until metrics.jsonl $1 has $2 lines
lines() {
    local i
    for i in $(seq 1 900); do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        kill -0 "$spid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
m="$out/run1/metrics.jsonl"
K=$((2 + RANDOM % 4))
echo "the chan is killed after round $K"
lines "$m" $K || fail "round $K not reached"
kill -9 $c1
wait $c1 2>/dev/null
sleep 0.5
"$AIRMETA" chan "${chan_sec[@]}" --server "$ep" --agents 2 --timeout 30 >"$out/chan2.log" 2>&1 &
pids+=($!)
lines "$m" $((K + 9)) || fail "run 1: round $((K + 9)) not reached"
python3 - "$m" $((K + 9)) <<'PY' || fail "run 1 metrics"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][:int(sys.argv[2])]
for r in rows:
    print(f"round {r['round']}: agents {r['agents']} decoded {r['decoded']} {r.get('why', '')}")
assert all(r["decoded"] and r["agents"] == [0, 1] for r in rows[-5:]), "not back after the restart"
PY
grep -q "agent 0: the chan moved" "$out/agent0.log" || fail "agent 0 did not follow the chan"

# (2) the server is killed mid-run; a new one on the same port takes everyone back
kill -9 "$spid"
wait "$spid" 2>/dev/null
"$AIRMETA" server --bind "$ep" "${srv_sec[@]}" "${common[@]}" --rounds 4 --out "$out/run2" \
    >"$out/server2.log" 2>&1 &
spid=$!
pids+=($spid)
wait_for $spid 90
rc=$?
[ "$rc" -eq 0 ] || fail "server 2 exit $rc"
python3 - "$out/run2/metrics.jsonl" <<'PY' || fail "run 2 metrics"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 4
for r in rows:
    print(f"run 2 round {r['round']}: agents {r['agents']} decoded {r['decoded']} {r.get('why', '')}")
    assert r["decoded"] and r["agents"] == [0, 1], "not taken back"
PY
for k in 0 1; do wait_for "${apids[$k]}" 20 || fail "agent $k exit $?"; done
echo PASS
