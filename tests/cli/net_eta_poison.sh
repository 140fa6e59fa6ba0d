#!/bin/bash
# Issue 12 finding 2 (plausibility): agent 2 of 3 lies in every STATUS (peak = 1e30, agent
# --test-peak) to set eta for everyone. With SGD that made the model 4.8e26 in one round (the
# decoded payload is eta times the noise) and with Adam the run stalled, while metrics said
# "decoded". Now eta is at most --eta-cap (100) times the upper median of the reported peaks (an honest one with
# 2 of 3 honest), the liar clips its own burst, and a payload beyond --norm-bound is not applied:
# every round's eta stays within the cap, the model stays finite and small, the server exits 0.
set -u
. "$(dirname "$0")/lib/net.sh"

for opt in sgd adam; do
    start_server 19 3001 --insecure --agents 3 --rounds 6 --out "$out/$opt" --optimizer $opt \
        --round-timeout 5 --join-timeout 60 --tasks-per-agent 1 --seed 5
    "$AIRMETA" chan --insecure --server "$ep" --agents 3 --snr-db 25 --timeout 30 \
        >"$out/chan.log" 2>&1 &
    pids+=($!)
    for k in 0 1 2; do
        extra=()
        [ $k -eq 2 ] && extra=(--test-peak 1e30)
        "$AIRMETA" agent --insecure --id $k --server "$ep" --timeout 30 "${extra[@]}" \
            >"$out/agent$k.log" 2>&1 &
        pids+=($!)
    done
    wait_for "$spid" 90
    rc=$?
    [ "$rc" -eq 0 ] || fail "$opt: server exit $rc"
    python3 - "$out/$opt" $opt <<'PY' || fail "$opt: metrics"
import json, math, struct, sys, os
d, opt = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
assert len(rows) == 6, f"{len(rows)} rounds"
for r in rows:
    print(f"{opt} round {r['round']}: eta {r['eta']:.4g} max reported {r['eta_max_reported']:.3g} "
          f"median {r['eta_median_reported']:.4g} decoded {r['decoded']} {r.get('why', '')}")
    assert r["eta_max_reported"] > 1e29, "the lie was reported"
    assert r["eta"] <= 100 * r["eta_median_reported"] * (1 + 1e-6), "eta above the cap"
    assert r["eta"] < 1e3, f"eta {r['eta']}"
raw = open(os.path.join(d, "theta.f32"), "rb").read()
th = struct.unpack(f"{len(raw) // 4}f", raw)
big = max(abs(x) for x in th)
print(f"{opt}: max |theta| = {big:.4g}")
assert all(math.isfinite(x) for x in th), "theta not finite"
assert big < 10, f"max |theta| {big}"  # measured: below 1 with the fix; 4.8e26 (SGD) without
PY
    pids=()
    sleep 0.5
done
echo PASS
