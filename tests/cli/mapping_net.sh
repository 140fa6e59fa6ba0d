#!/bin/bash
# airmeta server --mapping real (docs/air-interface.md §3.3, §9.4) with 2 agents and the chan as
# separate processes over ZeroMQ on 127.0.0.1: GO announces the real mapping, the agents remake
# their transmitter for it (a burst of 3 + ceil(D / M_data) blocks, the length config.json's
# burst_len gives), the chan carries it, and every round decodes within -1..+1.2 dB of the §5.4
# floor (the same floor as complex, §3.3; measured -0.27..+0.13 dB with the beacon's 16 training
# blocks, the server's default, -0.62..+0.31 with none). config.json records the
# mapping and `server --resume` with another --mapping is refused (exit 2 naming the flag). CURVE
# keys as the other net tests; every process bounded.
set -u
. "$(dirname "$0")/lib/net.sh"
. "$(dirname "$0")/lib/need.sh"
need python3

make_keys 2
start_server 11 1877 "${srv_sec[@]}" --agents 2 --rounds 3 --out "$out/run" --round-timeout 5 \
    --burst-timeout 3 --join-timeout 60 --report-x --g-th 0 --tasks-per-agent 2 --seed 4 \
    --mapping real
"$AIRMETA" chan "${chan_sec[@]}" --server "$ep" --bind "tcp://127.0.0.1:*" --agents 2 --snr-db 25 \
    --taps 4 --seed 9 --timeout 60 >"$out/chan.log" 2>&1 &
cpid=$!
pids+=("$cpid")
apids=()
for k in 0 1; do
    "$AIRMETA" agent $(agent_sec $k) --id "$k" --server "$ep" --timeout 60 >"$out/agent$k.log" 2>&1 &
    apids+=($!)
    pids+=($!)
done
wait_for "$spid" 120
rc=$?
[ "$rc" -eq 0 ] || fail "server exit $rc (124: still running after 120 s)"
for k in 0 1; do
    wait_for "${apids[$k]}" 20 || fail "agent $k exit $?"
done
wait_for "$cpid" 20 || fail "chan exit $?"
python3 - "$out/run" "$out/agent0.log" <<'EOF' || fail "metrics"
import json, os, re, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
cfg = json.load(open(os.path.join(d, "config.json")))
assert cfg["mapping"] == "real" and cfg["flags"]["mapping"] == "real", cfg
D, blen = cfg["params"], cfg["burst_len"]
assert blen == (3 + -(-D // 178)) * 288, (D, blen)  # M 256: 178 data bins, blocks of 288
sent = [int(m) for m in re.findall(r"burst of (\d+) samples", open(sys.argv[2]).read())]
assert len(sent) == 3 and all(n == blen for n in sent), (sent, blen)
assert len(rows) == 3, len(rows)
for r in rows:
    gap = r["agg_nmse_db"] - r["agg_floor_db"]
    print(f"round {r['round']}: decoded {r['decoded']} nmse {r['agg_nmse_db']:.2f} dB, "
          f"floor {r['agg_floor_db']:.2f} dB ({gap:+.2f})")
    assert r["decoded"] and r["agents"] == [0, 1], r
    assert -1.0 < gap < 1.2, f"NMSE {gap:.2f} dB from the floor"
EOF
timeout 30 "$AIRMETA" server "${srv_sec[@]}" --resume "$out/run" --mapping complex \
    >"$out/resume.log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--resume with --mapping complex: exit $rc"
grep -q -- "--mapping" "$out/resume.log" || fail "resume message"
echo PASS
