#!/bin/bash
# airmeta sweep refuses bad flags (its own, and sim's after `--`, checked once by a probe run)
# with a message naming the flag and exit 2, before any run starts; a run that fails is reported
# with its command line, the others' results are kept and the sweep exits 1.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_cmd=(sweep)
. "$(dirname "$0")/lib/expect.sh"
o="--out $d/x --rounds 2"
expect 2 "--out DIR is required" --snr-db 10
expect 2 "--snr-db: '0,,10' is not a comma-separated list" $o --snr-db 0,,10
expect 2 "--snr-db: 'ten' is not a comma-separated list" $o --snr-db ten
expect 2 "--snr-db: 200 is outside" $o --snr-db 10,200
expect 2 "--snr-db: unexpected ',' in '10,'" $o --snr-db 10,
expect 2 "--snr-db: 10 appears twice" $o --snr-db 10,20,10
expect 2 "--snr-db: 'nan' is not" $o --snr-db nan
expect 2 "--sparsity: 0 is outside" $o --sparsity 0,0.5
expect 2 "--agents: 2.5 is not a whole number" $o --agents 2.5
expect 2 "--g-th: -1 is outside" $o --g-th -1
expect 2 "--agg: 'foo' is not one of ideal|stat|iq" $o --agg stat,foo
expect 2 "--agg: stat appears twice" $o --agg stat,stat
expect 2 "--seeds: '0' is neither a count" $o --seeds 0
expect 2 "--seeds: 3 appears twice" $o --seeds 1,3,3
expect 2 "--seeds: '1,x' is not a list" $o --seeds 1,x
expect 2 "--jobs: 0 is outside" $o --jobs 0
expect 2 "--task: 'mnist' is not one of" $o --task mnist
expect 2 "unknown option '--snr'" $o --snr 10
expect 2 "--seed after \`--\`: the sweep sets it" $o -- --seed 3
expect 2 "--out after \`--\`" $o -- --out=/tmp/y
expect 2 "--resume after \`--\`" $o -- --resume /tmp/y
expect 2 "--help after \`--\`: not a flag of the runs" $o -- --help # sim printed help, exit 0
expect 2 "sim refuses the configuration (exit 2): airmeta sim: .*--alpha: -1 is outside" \
    $o --snr-db 10 -- --alpha -1
expect 2 "unknown option '--bogus'" $o --snr-db 10 -- --bogus
[ -e "$d/x/runs" ] && [ "$(ls "$d/x/runs" | wc -l)" -ne 0 ] && fail "runs started despite errors"
"$AIRMETA" sweep --help | grep -q -- "--seeds" || fail "--help lacks --seeds"

# one run cannot make its run folder (a file sits where it goes): reported with its command
# line; the other 3 runs are in the tables; exit 1
mkdir -p "$d/f/runs" && touch "$d/f/runs/stat_snr20_sp1_K10_gth0.1_seed2"
"$AIRMETA" sweep --snr-db 0,20 --seeds 2 --rounds 3 --agg stat --agents 10 --out "$d/f" --no-plots -- --eval-tasks 5 \
    >"$d/out" 2>"$d/err"
rc=$?
cat "$d/out" "$d/err"
[ "$rc" -eq 1 ] || fail "exit $rc with a failed run, expected 1"
grep -q "run stat_snr20_sp1_K10_gth0.1_seed2 failed (.*exit 4: airmeta sim: .*not a folder" "$d/err" || fail "failure not named"
grep -q "command: .*sim --quiet .*--snr-db 20 .*--seed 2 " "$d/err" || fail "no command line"
grep -q "1 of 4 runs failed" "$d/err" || fail "no failure count"
[ "$(tail -n +2 "$d/f/results.csv" | wc -l)" -eq 3 ] || fail "tables should hold the 3 others"
grep -q "stat_snr20_sp1_K10_gth0.1_seed2" "$d/f/results.csv" && fail "failed run in the table"
# --collect DIR: a sweep.json whose argv is not a --plan or --out sweep's command line is refused
# naming it (exit 3), nothing printed on stdout ('--help' printed sweep's help and failed with an
# empty reason; no folder, or --collect, collected the default grid as 210 missing points)
f="$d/f/sweep.json"
cp "$f" "$d/sweep.json.good"
argv() { # argv JSON-LIST [add]: sweep.json's argv replaced by (add: extended with) JSON-LIST
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); l = json.loads(sys.argv[2]); j["argv"] = j["argv"] + l if sys.argv[3] else l; json.dump(j, open(sys.argv[1], "w"))' "$f" "$1" "${2:-}"
}
expect_cmd=(sweep --collect "$d/f")
collect_bad() { # collect_bad JSON-LIST PATTERN [add]
    argv "$1" "${3:-}"
    expect 3 "$2" --no-plots
    "$AIRMETA" sweep --collect "$d/f" --no-plots >"$d/cout" 2>/dev/null
    [ -s "$d/cout" ] && fail "$1: printed on stdout: $(head -3 "$d/cout")"
    cp "$d/sweep.json.good" "$f"
}
expect_cmd=(sweep)
expect 2 "--collect : not a sweep folder: .*empty folder name" --collect "" # read /sweep.json
expect_cmd=(sweep --collect "$d/f")
collect_bad '["sweep", "--help"]' "$f: argv\[1\] is '--help': not a sweep's description"
collect_bad '["sweep", "--collect", "x"]' "argv\[1\] is '--collect': not a sweep's description"
collect_bad '["sweep", "--rounds", "3"]' "$f: argv has no --plan DIR or --out DIR"
collect_bad '["sim", "--out", "x"]' "$f: argv\[0\] is 'sim', not 'sweep'"
# sim's flags after `--` are checked by sim's own parser at --collect too (they were checked only
# when the sims ran: a sweep.json with --alpha -1 there was collected, exit 1 for the missing run)
collect_bad '["--alpha", "-1"]' "sweep.json: sim's flags after \`--\`: .*--alpha: -1 is outside" add
collect_bad '["--alpha=0x1"]' "sim's flags after \`--\`: .*--alpha: '0x1' is not a decimal number" add
collect_bad '["--bogus"]' "sim's flags after \`--\`: .*unknown option '--bogus'" add
collect_bad '["--capture-dir", "c"]' "sim's flags after \`--\`: .*--capture-dir needs --agg iq" add
collect_bad '["--help"]' "sweep.json: .*--help after \`--\`: not a flag of the runs" add
"$AIRMETA" sweep --collect "$d/f" --no-plots >/dev/null 2>&1
[ $? -eq 1 ] || fail "the sweep.json restored: not collected as before (1 run missing)"
echo "ok: sweep.json restored: collected"
# seeds are compared exactly: one above 2^53 (config.json holds it as a decimal string) is found
# (it was missing for ever: 'its seed differs'), and 1000001's run in 1000000's folder is not taken
# for it (a relative tolerance of 1e-6 did)
q="$d/seeds"
"$AIRMETA" sweep --plan "$q" --seeds 9007199254740993,1000000,1000001 --snr-db 0 --rounds 2 \
    --agg stat -- --eval-tasks 5 >/dev/null || fail "plan with seeds"
bash "$q/jobs.txt" >/dev/null 2>&1 || fail "the seeds plan's runs"
"$AIRMETA" sweep --collect "$q" --no-plots >"$d/out" 2>&1 || fail "collect of 3 seeds: $(cat "$d/out")"
grep -q "3 of 3 runs" "$d/out" || fail "not 3 of 3: $(cat "$d/out")"
echo "ok: seeds 9007199254740993, 1000000, 1000001 collected"
r="$q/runs/stat_snr0_sp1_K5_gth0.1_seed"
mv "${r}1000000" "$d/tmp" && mv "${r}1000001" "${r}1000000" && mv "$d/tmp" "${r}1000001"
"$AIRMETA" sweep --collect "$q" --no-plots >"$d/out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "swapped seeds: exit $rc, expected 1: $(cat "$d/out")"
[ "$(grep -c "seed100000[01]/config.json: a run of another configuration (its seed differs)" "$d/out")" -eq 2 ] ||
    fail "swapped seeds not both refused: $(cat "$d/out")"
echo "ok: runs of seeds 1000000 and 1000001 swapped: both refused"
echo PASS
