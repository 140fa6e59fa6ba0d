#!/bin/bash
# Issue 12 finding 3 (partly): the server kept its model only in memory, so kill -9 or Ctrl-C lost
# the whole run. Now theta.f32 is rewritten atomically every --save-every rounds (it exists after
# round 3 here, before any stop) and SIGTERM ends the run after the round in progress: the agents
# and the chan get BYE, theta.f32 holds the model after the last completed round (finite, the
# model's size), metrics.jsonl has that many lines, and the exit code is 6 with a line saying so.
set -u
. "$(dirname "$0")/lib/net.sh"

start_server 29 4391 --insecure --agents 2 --rounds 200 --out "$out/run" --round-period 0.2 \
    --save-every 3 --tasks-per-agent 1 --join-timeout 60
"$AIRMETA" chan --insecure --server "$ep" --agents 2 --timeout 30 >"$out/chan.log" 2>&1 &
cpid=$!
pids+=($cpid)
apids=()
for k in 0 1; do
    "$AIRMETA" agent --insecure --id $k --server "$ep" --timeout 30 >"$out/agent$k.log" 2>&1 &
    apids+=($!)
    pids+=($!)
done
m="$out/run/metrics.jsonl"
for i in $(seq 1 600); do
    [ -f "$m" ] && [ "$(wc -l <"$m")" -ge 4 ] && break
    sleep 0.1
done
[ -f "$out/run/theta.f32" ] || fail "no theta.f32 after round 3 (--save-every 3)"
kill -TERM "$spid"
wait_for "$spid" 30
rc=$?
[ "$rc" -eq 6 ] || fail "server exit $rc after SIGTERM"
n=$(wc -l <"$m")
grep -q "stopped by a signal after $n of 200 rounds; theta.f32 holds the model after round $n" \
    "$out/server.log" || fail "stop message (metrics has $n rounds)"
for k in 0 1; do wait_for "${apids[$k]}" 20 || fail "agent $k exit $? (no BYE?)"; done
wait_for "$cpid" 20 || fail "chan exit $?"
python3 - "$out/run" <<'PY' || fail "theta"
import json, math, os, struct, sys
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "config.json")))
raw = open(os.path.join(d, "theta.f32"), "rb").read()
assert len(raw) == 4 * cfg["params"], f"{len(raw)} bytes"
assert all(math.isfinite(x) for x in struct.unpack(f"{len(raw) // 4}f", raw))
print("theta.f32 ok")
PY
echo "stopped after $n rounds"
echo PASS
