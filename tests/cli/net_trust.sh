#!/bin/bash
# Issue 12 finding 2 (authentication): a run with CURVE keys (server --key/--allow, chan and agents
# --key/--server-key) on 127.0.0.1, and hostile peers while it runs: agent 1's key claiming agent
# id 0 (hijack), agent 1's key claiming to be the chan (rogue emulator), an unknown key, and no
# key at all. Each is refused (the first two by the server with a reason, exit 2; the others fail
# the CURVE handshake and give up at their --timeout, exit 6), counted in metrics.jsonl
# (hello_refused, auth_refused), and the run goes on: every round decoded with agents 0 and 1.
set -u
. "$(dirname "$0")/lib/net.sh"

make_keys 2
"$AIRMETA" keygen --out "$out/keys/rogue" >/dev/null || fail "keygen rogue"
start_server 17 2903 "${srv_sec[@]}" --agents 2 --rounds 8 --out "$out/run" --round-timeout 5 \
    --join-timeout 60 --round-period 0.5 --tasks-per-agent 1 --seed 3
"$AIRMETA" chan "${chan_sec[@]}" --server "$ep" --agents 2 --timeout 30 >"$out/chan.log" 2>&1 &
pids+=($!)
apids=()
for k in 0 1; do
    "$AIRMETA" agent $(agent_sec $k) --id $k --server "$ep" --timeout 30 >"$out/agent$k.log" 2>&1 &
    apids+=($!)
    pids+=($!)
done
m="$out/run/metrics.jsonl"
for i in $(seq 1 600); do
    [ -f "$m" ] && [ "$(wc -l <"$m")" -ge 1 ] && break
    sleep 0.1
done
[ -f "$m" ] || fail "round 1 not reached"

k="$out/keys"
# hijack: agent 1's key, agent 0's id
timeout 20 "$AIRMETA" agent --id 0 --server "$ep" --key "$k/agent1.key" --server-key "$k/server.pub" \
    --timeout 10 >"$out/hijack.log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "hijack: exit $rc"
grep -q "refused: agent id 0 claimed under the key of 'agent:1'" "$out/hijack.log" || fail "hijack msg"
# rogue emulator under an agent's key
timeout 20 "$AIRMETA" chan --server "$ep" --agents 2 --key "$k/agent1.key" \
    --server-key "$k/server.pub" --allow "$k/allow" --timeout 10 >"$out/rogue_chan.log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "rogue chan: exit $rc"
grep -q "refused: a chan HELLO under the key of 'agent:1'" "$out/rogue_chan.log" || fail "rogue msg"
# an unknown key; no key at all: the handshake fails, they hear nothing and give up
timeout 20 "$AIRMETA" agent --id 0 --server "$ep" --key "$k/rogue.key" --server-key "$k/server.pub" \
    --timeout 2 >"$out/unknown.log" 2>&1
rc=$?
[ "$rc" -eq 6 ] || fail "unknown key: exit $rc"
timeout 20 "$AIRMETA" agent --id 1 --server "$ep" --insecure --timeout 2 >"$out/nokey.log" 2>&1
rc=$?
[ "$rc" -eq 6 ] || fail "no key: exit $rc"

wait_for "$spid" 90
rc=$?
[ "$rc" -eq 0 ] || fail "server exit $rc"
for k in 0 1; do wait_for "${apids[$k]}" 20 || fail "agent $k exit $?"; done
cat "$out/server.log"
python3 - "$m" <<'PY' || fail "metrics"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 8, f"{len(rows)} rounds"
for r in rows:
    assert r["decoded"] and r["agents"] == [0, 1], f"round {r['round']}: {r['agents']} {r.get('why')}"
last = rows[-1]
print("hello_refused", last["hello_refused"], "auth_refused", last["auth_refused"])
assert last["hello_refused"] == 2, "hijack + rogue chan refused"
assert last["auth_refused"] >= 2, "unknown key and no key: failed handshakes"
PY
grep -q "agent 0: done: 8 rounds, 8 applied" "$out/agent0.log" || fail "agent 0 was cut off"
echo PASS
