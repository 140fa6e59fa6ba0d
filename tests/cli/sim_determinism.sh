#!/bin/bash
# airmeta sim: same seed -> byte-identical metrics.jsonl, whatever the number of threads (per-agent
# RNG streams, agent-ordered reductions); another seed -> other numbers. Also checks the run
# folder's shape: config.json, then one metrics line per round with the eval block at the eval
# rounds, and one wall-time line per round in wall.jsonl.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(--agg stat --snr-db 10 --g-th 0.3 --sparsity 0.2 --sparsify randk --agents 5 --rounds 60
      --tasks-per-agent 2 --eval-every 30 --eval-tasks 40 --quiet --no-plots)
"$AIRMETA" sim "${args[@]}" --seed 7 --threads 1 --out "$dir/a" || fail "run 1 exit $?"
"$AIRMETA" sim "${args[@]}" --seed 7 --threads 3 --out "$dir/b" || fail "run 2 exit $?"
"$AIRMETA" sim "${args[@]}" --seed 8 --threads 2 --out "$dir/c" || fail "run 3 exit $?"
cmp "$dir/a/metrics.jsonl" "$dir/b/metrics.jsonl" || fail "same seed, 1 vs 3 threads: JSONL differs"
cmp -s "$dir/a/metrics.jsonl" "$dir/c/metrics.jsonl" && fail "seeds 7 and 8 gave identical JSONL"
[ "$(wc -l < "$dir/a/metrics.jsonl")" -eq 60 ] || fail "expected 60 lines (60 rounds)"
[ "$(wc -l < "$dir/a/wall.jsonl")" -eq 60 ] || fail "expected 60 wall-time lines"
[ "$(grep -c '"eval"' "$dir/a/metrics.jsonl")" -eq 2 ] || fail "expected 2 eval rounds (30, 60)"
python3 - "$dir/a" <<'PY' || fail "JSONL content"
import json, math, sys
cfg = json.load(open(sys.argv[1] + "/config.json"))
lines = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
f = cfg["flags"]
assert f["agg"] == "stat" and f["agents"] == 5 and f["seed"] == 7, f
assert cfg["entries_sent"] == math.ceil(0.2 * cfg["params"]), cfg
for i, o in enumerate(lines, 1):
    assert o["round"] == i
    assert math.isfinite(o["train_loss"]) and o["agg_nmse"] > 0
    assert 0 < o["mean_active"] <= 5 and o["eta"] > 0
ev = lines[59]["eval"]
assert ev["new"]["tasks"] == 40 and ev["new"]["acc_after"] is None
assert abs(ev["gap_loss"] - (ev["new"]["loss_after"] - ev["train"]["loss_after"])) < 1e-9
print("rounds ok; final eval new-agent loss %.3f -> %.3f, gap %.3f"
      % (ev["new"]["loss_before"], ev["new"]["loss_after"], ev["gap_loss"]))
PY
echo PASS
