#!/bin/bash
# airmeta sim: same seed -> byte-identical JSONL, whatever the number of threads (per-agent RNG
# streams, agent-ordered reductions); another seed -> other numbers. Also checks the JSONL shape:
# a config line, then one line per round with the eval block at the eval rounds.
set -u
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(--agg stat --snr-db 10 --g-th 0.3 --sparsity 0.2 --sparsify randk --agents 5 --rounds 60
      --tasks-per-agent 2 --eval-every 30 --eval-tasks 40 --quiet)
"$AIRMETA" sim "${args[@]}" --seed 7 --threads 1 --out "$dir/a.jsonl" || fail "run 1 exit $?"
"$AIRMETA" sim "${args[@]}" --seed 7 --threads 3 --out "$dir/b.jsonl" || fail "run 2 exit $?"
"$AIRMETA" sim "${args[@]}" --seed 8 --threads 2 --out "$dir/c.jsonl" || fail "run 3 exit $?"
cmp "$dir/a.jsonl" "$dir/b.jsonl" || fail "same seed, 1 vs 3 threads: JSONL differs"
cmp -s "$dir/a.jsonl" "$dir/c.jsonl" && fail "seeds 7 and 8 gave identical JSONL"
[ "$(wc -l < "$dir/a.jsonl")" -eq 61 ] || fail "expected 61 lines (config + 60 rounds)"
[ "$(grep -c '"eval"' "$dir/a.jsonl")" -eq 2 ] || fail "expected 2 eval rounds (30, 60)"
head -1 "$dir/a.jsonl" | grep -q '"config":{"agg":"stat"' || fail "config line"
if command -v python3 >/dev/null; then
    python3 - "$dir/a.jsonl" <<'PY' || fail "JSONL content"
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
cfg = lines[0]["config"]
assert cfg["agents"] == 5 and cfg["entries_sent"] == math.ceil(0.2 * cfg["params"]), cfg
for i, o in enumerate(lines[1:], 1):
    assert o["round"] == i
    assert math.isfinite(o["train_loss"]) and o["agg_nmse"] > 0
    assert 0 < o["mean_active"] <= 5 and o["eta"] > 0
ev = lines[60]["eval"]
assert ev["new"]["tasks"] == 40 and ev["new"]["acc_after"] is None
assert abs(ev["gap_loss"] - (ev["new"]["loss_after"] - ev["train"]["loss_after"])) < 1e-9
print("rounds ok; final eval new-agent loss %.3f -> %.3f, gap %.3f"
      % (ev["new"]["loss_before"], ev["new"]["loss_after"], ev["gap_loss"]))
PY
fi
echo PASS
