#!/bin/bash
# airmeta sweep --baseline-beta and finite pools (issue 13): a tiny grid (one SNR + ideal, two
# --baseline-beta controls, 2 seeds, sim --pool 2, SGD + clipping, 4 evaluations). Checked against
# the children's metrics.jsonl read independently with python3's json module:
# - each control is an ideal run whose config.json holds the control's beta (sim got it last);
#   its run folder is named ..._beta<B>_seed<S>;
# - results.csv: beta column; own_loss_after and gap_paper = new - own, gap_loss = new - fresh;
#   the controls' new_loss_after_vs_ideal = their new-agent loss minus the ideal run's at the
#   runs' own beta with the same seed (the same reference as the noisy rows);
# - evals.csv: one row per configuration and evaluation round, mean and s.e. over seeds of new
#   agents' and own-data loss after fine-tuning; evals.png is a PNG;
# - sweep.json records the controls; --collect rebuilds identical tables;
# - a bad --baseline-beta is refused (exit 2) naming the flag.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3

"$AIRMETA" sweep --snr-db 0 --seeds 2 --rounds 20 --agg stat,ideal --baseline-beta 0.05,0.02 \
    --jobs 2 --out "$d/sw" -- --pool 2 --optimizer sgd --beta 0.1 --clip 1 --eval-every 5 \
    --eval-tasks 20 --new-agents 4 >"$d/log" 2>&1 || { cat "$d/log"; fail "sweep failed"; }
cat "$d/log"
[ "$(ls -d "$d/sw/runs"/*/ | wc -l)" -eq 8 ] || fail "expected 8 runs: $(ls "$d/sw/runs")"
for b in 0.05 0.02; do
    for s in 1 2; do
        [ -s "$d/sw/runs/ideal_sp1_K5_beta${b}_seed$s/metrics.jsonl" ] || fail "control $b seed $s"
    done
done
grep -q '"baseline_beta"' "$d/sw/sweep.json" || fail "sweep.json lacks baseline_beta"
grep -q "new agents' loss after fine-tuning at each evaluation round" "$d/log" ||
    fail "no per-round table printed"

python3 - "$d/sw" <<'PY' || fail "tables do not match the runs"
import csv, json, math, os, struct, sys
d = sys.argv[1]
def lines(name):
    return [json.loads(l) for l in open(os.path.join(d, 'runs', name, 'metrics.jsonl'))]
def cfg(name):
    return json.load(open(os.path.join(d, 'runs', name, 'config.json')))['flags']
rows = {r['name']: r for r in csv.DictReader(open(os.path.join(d, 'results.csv')))}
assert len(rows) == 8, sorted(rows)
for name, r in rows.items():
    ev = lines(name)[-1]['eval']
    close = lambda a, b: abs(float(a) - b) <= 1e-9 * max(1, abs(b))
    assert close(r['own_loss_after'], ev['own']['loss_after']), name
    assert close(r['gap_paper'], ev['new']['loss_after'] - ev['own']['loss_after']), name
    assert close(r['gap_loss'], ev['new']['loss_after'] - ev['train']['loss_after']), name
    assert ev['own']['tasks'] == 10, ev['own']  # 5 agents x pool 2: the whole pools
    b = cfg(name)['beta']
    if '_beta' in name:
        assert r['agg'] == 'ideal' and float(r['beta']) == b, (name, r['beta'], b)
        ref = 'ideal_sp1_K5_seed' + r['seed']
        want = ev['new']['loss_after'] - lines(ref)[-1]['eval']['new']['loss_after']
        assert close(r['new_loss_after_vs_ideal'], want), (name, r['new_loss_after_vs_ideal'], want)
    else:
        assert r['beta'] == '' and b == 0.1, (name, r['beta'], b)
# evals.csv against the runs: mean and s.e. over the two seeds at each evaluation round
ev_rows = list(csv.DictReader(open(os.path.join(d, 'evals.csv'))))
assert len(ev_rows) == 4 * 4, len(ev_rows)  # 4 configurations x 4 evaluations
for e in ev_rows:
    if e['beta']:
        stem = 'ideal_sp1_K5_beta%s_seed' % e['beta']
    elif e['agg'] == 'ideal':
        stem = 'ideal_sp1_K5_seed'
    else:
        stem = 'stat_snr0_sp1_K5_gth0.1_seed'
    rd = int(e['round'])
    for key, col in (('new', 'new_loss_after'), ('own', 'own_loss_after')):
        v = [lines(stem + s)[rd - 1]['eval'][key]['loss_after'] for s in '12']
        m = sum(v) / 2
        se = math.sqrt(sum((x - m) ** 2 for x in v) / 1 / 2)
        assert abs(float(e[col + '_mean']) - m) < 1e-9 and abs(float(e[col + '_se']) - se) < 1e-9, (e, v)
png = open(os.path.join(d, 'evals.png'), 'rb').read(24)
assert png[:8] == b'\x89PNG\r\n\x1a\n', 'evals.png is not a PNG'
print('controls, gap_paper and per-round tables match the runs')
PY

cp "$d/sw/summary.csv" "$d/summary.before"
cp "$d/sw/evals.csv" "$d/evals.before"
"$AIRMETA" sweep --collect "$d/sw" --no-plots >"$d/collect.log" 2>&1 || { cat "$d/collect.log"; fail "--collect"; }
cmp "$d/summary.before" "$d/sw/summary.csv" || fail "--collect changed summary.csv"
cmp "$d/evals.before" "$d/sw/evals.csv" || fail "--collect changed evals.csv"

"$AIRMETA" sweep --out "$d/bad" --baseline-beta 0.1,x 2>"$d/e1"
[ $? -eq 2 ] || fail "bad --baseline-beta: exit code"
grep -q -- "--baseline-beta" "$d/e1" || fail "message: $(cat "$d/e1")"
"$AIRMETA" sweep --out "$d/bad" --baseline-beta 0 2>"$d/e2"
[ $? -eq 2 ] || fail "--baseline-beta 0: exit code"
echo PASS
