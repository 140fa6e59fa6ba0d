#!/bin/bash
# airmeta sweep on a tiny grid (2 SNRs x 2 seeds + ideal, few rounds): the per-run CSV/JSON have
# one row per (config, seed) whose values equal the last lines of the children's metrics.jsonl (read
# independently with python3's json module); the summary's mean/s.e. over seeds are recomputed;
# plots are PNGs (signature and IHDR size); a second call resumes (runs nothing); without gnuplot
# the tables are still written and the plots are said to be skipped.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3

"$AIRMETA" sweep --snr-db 0,20 --seeds 2 --rounds 12 --agg stat,ideal --agents 10 --jobs 2 --out "$d/sw" \
    -- --eval-tasks 20 --new-agents 4 >"$d/log" 2>&1 || { cat "$d/log"; fail "sweep failed"; }
cat "$d/log"
for f in results.csv results.json summary.csv summary.json sweep.json convergence.png \
    generalization.png; do
    [ -s "$d/sw/$f" ] || fail "$f missing"
done
[ "$(ls "$d/sw/runs"/*/metrics.jsonl | wc -l)" -eq 6 ] || fail "expected 6 runs: $(ls "$d/sw/runs")"
[ "$(ls "$d/sw/runs"/*.cmd | wc -l)" -eq 6 ] || fail "expected 6 .cmd files: $(ls "$d/sw/runs")"
ls "$d/sw/runs" | grep -q '\.err$' && fail "leftover files: $(ls "$d/sw/runs")"
ls "$d/sw/runs"/*/*.png 2>/dev/null && fail "sim drew its own plots (the sweep passes --no-plots)"

python3 - "$d/sw" <<'EOF' || fail "tables do not match the runs"
import csv, json, math, os, struct, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, 'results.csv'))))
jrows = json.load(open(os.path.join(d, 'results.json')))
assert len(rows) == 6 and len(jrows) == 6, (len(rows), len(jrows))
names = sorted(r['name'] for r in rows)
assert names == sorted(j['name'] for j in jrows)
assert sorted((r['agg'], r['snr_db'], r['seed']) for r in rows) == sorted(
    [('stat', s, k) for s in ('0', '20') for k in ('1', '2')] + [('ideal', '', k) for k in '12'])
def num(x):
    return float('nan') if x in ('', None) else float(x)
def same(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or math.isnan(b)
    return b is not None and not math.isnan(b) and abs(a - b) <= 1e-12 * max(1.0, abs(a))
jmap = {j['name']: j for j in jrows}
for r in rows:
    run = os.path.join(d, 'runs', r['name'])
    lines = [None] + [json.loads(l) for l in open(os.path.join(run, 'metrics.jsonl'))]
    cfg, last = json.load(open(os.path.join(run, 'config.json')))['flags'], lines[-1]
    assert len(lines) == 13 and last['round'] == 12 and 'eval' in last, r['name']
    assert cfg['agg'] == r['agg'] and cfg['seed'] == int(r['seed']) and cfg['rounds'] == 12
    assert cfg['heterogeneity'] == 0 and cfg['new-agents'] == 4 and cfg['eval-tasks'] == 20
    if r['agg'] == 'stat':
        assert cfg['snr-db'] == float(r['snr_db']), (cfg['snr-db'], r['snr_db'])
    ev = last['eval']
    nm = [l['agg_nmse'] for l in lines[1:]]
    want = {
        'final_train_loss': last['train_loss'],
        'train_loss_tail': sum(l['train_loss'] for l in lines[-1:]) / 1,  # rounds/10 = 1
        'new_loss_before': ev['new']['loss_before'],
        'new_loss_after': ev['new']['loss_after'],
        'new_acc_after': ev['new']['acc_after'],
        'train_loss_after': ev['train']['loss_after'],
        'gap_loss': ev['gap_loss'],
        'agg_nmse': sum(nm) / len(nm),
        'mean_active': sum(l['mean_active'] for l in lines[1:]) / 12,
    }
    for k, v in want.items():
        assert same(v, num(r[k])), (r['name'], k, v, r[k])
        j = jmap[r['name']][k]
        assert same(v, float('nan') if j is None else j), (r['name'], k, v, j)
    assert (r['agg'] == 'ideal') == (r['agg_nmse_db'] == ''), r
# paired differences: a stat run minus the ideal run of the same seed
byname = {r['name']: r for r in rows}
for r in rows:
    if r['agg'] != 'stat':
        continue
    ideal = byname['ideal_sp1_K10_seed' + r['seed']]
    for k in ('new_loss_after', 'gap_loss'):
        assert same(num(r[k]) - num(ideal[k]), num(r[k + '_vs_ideal'])), (r['name'], k)
# summary: mean and standard error over the two seeds
summ = list(csv.DictReader(open(os.path.join(d, 'summary.csv'))))
assert len(summ) == 3 and len(json.load(open(os.path.join(d, 'summary.json')))) == 3
for s in summ:
    runs = [r for r in rows if r['agg'] == s['agg'] and r['snr_db'] == s['snr_db']]
    assert int(s['seeds']) == 2 == len(runs)
    for k in ('new_loss_after', 'gap_loss', 'final_train_loss'):
        v = [num(r[k]) for r in runs]
        mu = sum(v) / 2
        se = math.sqrt(sum((x - mu) ** 2 for x in v) / 1 / 2)
        assert same(mu, num(s[k + '_mean'])) and same(se, num(s[k + '_se'])), (s, k)
# plots: PNG signature and a sensible IHDR size
for f in ('convergence.png', 'generalization.png'):
    b = open(os.path.join(d, f), 'rb').read(24)
    assert b[:8] == b'\x89PNG\r\n\x1a\n' and b[12:16] == b'IHDR', f
    w, h = struct.unpack('>II', b[16:24])
    assert 400 <= w <= 2000 and 300 <= h <= 2000, (f, w, h)
print('tables and plots OK')
EOF

# resume: same command, nothing rerun, same tables
cp "$d/sw/results.csv" "$d/before.csv"
"$AIRMETA" sweep --snr-db 0,20 --seeds 2 --rounds 12 --agg stat,ideal --agents 10 --jobs 2 --out "$d/sw" \
    -- --eval-tasks 20 --new-agents 4 >"$d/log2" 2>&1 || { cat "$d/log2"; fail "resume exit"; }
grep -q "6 runs already complete" "$d/log2" || { cat "$d/log2"; fail "resume reran runs"; }
cmp "$d/before.csv" "$d/sw/results.csv" || fail "resumed tables differ"
# an incomplete run (truncated metrics.jsonl) is run again
f=$(ls "$d/sw/runs"/stat_snr20*seed2/metrics.jsonl)
head -n 5 "$f" >"$f.t" && mv "$f.t" "$f"
"$AIRMETA" sweep --snr-db 0,20 --seeds 2 --rounds 12 --agg stat,ideal --agents 10 --jobs 2 --out "$d/sw" \
    -- --eval-tasks 20 --new-agents 4 >"$d/log3" 2>&1 || { cat "$d/log3"; fail "rerun exit"; }
grep -q "5 runs already complete" "$d/log3" || { cat "$d/log3"; fail "truncated run not rerun"; }
cmp "$d/before.csv" "$d/sw/results.csv" || fail "rerun differs (sim is deterministic)"

# no gnuplot: tables written, plots skipped with a note, exit 0
AIRMETA_GNUPLOT=/nonexistent/gnuplot "$AIRMETA" sweep --snr-db 10 --seeds 1 --rounds 4 --agg stat \
    --out "$d/np" -- --eval-tasks 5 >"$d/log4" 2>&1 || { cat "$d/log4"; fail "no-gnuplot exit"; }
grep -q "plots skipped" "$d/log4" || { cat "$d/log4"; fail "no note about skipped plots"; }
[ -s "$d/np/results.csv" ] && [ ! -e "$d/np/convergence.png" ] || fail "no-gnuplot outputs"
echo PASS
