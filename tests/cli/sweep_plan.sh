#!/bin/bash
# airmeta sweep --plan / --collect (issue 14): the grid as a job list run by GNU parallel gives
# the same tables (results/summary CSV and JSON, byte for byte) and plots as the local
# `sweep --jobs 2`; every line is self-contained (absolute paths) and idempotent (re-running the
# whole list leaves every finished run folder's bytes as they were); a plan with one run folder
# deleted is collected with that point reported missing (its line of jobs.txt, exit 1, the tables
# hold the other runs), then completed by re-running the plan (one line through the sbatch script,
# which runs line $SLURM_ARRAY_TASK_ID, the rest by `parallel --sshloginfile` over a stand-in for
# ssh to two hosts); flags that do not go together are refused.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need parallel
grid=(--snr-db 0,20 --seeds 2 --rounds 12 --agg stat,ideal --agents 10)
sim=(-- --eval-tasks 20 --new-agents 4)
tables="results.csv results.json summary.csv summary.json"

# the reference: the local sweep
"$AIRMETA" sweep "${grid[@]}" --jobs 2 --out "$d/local" "${sim[@]}" >"$d/local.log" 2>&1 ||
    { cat "$d/local.log"; fail "local sweep"; }

# the plan, from a relative folder name: written with absolute paths
(cd "$d" && "$AIRMETA" sweep "${grid[@]}" --plan plan --slurm "${sim[@]}") >"$d/plan.log" 2>&1 ||
    { cat "$d/plan.log"; fail "--plan"; }
cat "$d/plan.log"
p="$d/plan"
[ "$(wc -l <"$p/jobs.txt")" -eq 6 ] || fail "jobs.txt should have 6 lines: $(cat "$p/jobs.txt")"
[ -z "$(ls -A "$p/runs")" ] || fail "--plan ran something: $(ls "$p/runs")"
self=$(readlink -f "$AIRMETA")
n=0
while read -r line; do
    n=$((n + 1))
    case "$line" in
    "\"\${AIRMETA:-$self}\" sim --quiet "*" --out $p/runs/"*" --continue") ;;
    *) fail "line $n is not a self-contained sim command: $line" ;;
    esac
done <"$p/jobs.txt"
grep -q -- "--seed 2 --out $p/runs/ideal_sp1_K10_seed2 " "$p/jobs.txt" || fail "no ideal seed-2 line"

# run by GNU parallel, from another folder; the tables are the local sweep's
(cd / && parallel --will-cite --jobs 2 --halt now,fail=1 :::: "$p/jobs.txt") ||
    fail "parallel failed"
[ "$(ls "$p/runs" | wc -l)" -eq 6 ] || fail "expected 6 run folders: $(ls "$p/runs")"
"$AIRMETA" sweep --collect "$p" >"$d/c1.log" 2>&1 || { cat "$d/c1.log"; fail "collect"; }
cat "$d/c1.log"
for f in $tables convergence.png generalization.png; do
    cmp "$d/local/$f" "$p/$f" || fail "$f differs from the local sweep's"
done
diff <(grep -A4 '^agg ' "$d/local.log") <(grep -A4 '^agg ' "$d/c1.log") || fail "printed tables differ"

# idempotent: re-running every line leaves every file's bytes as they were
(cd "$p/runs" && find . -type f | sort | xargs md5sum) >"$d/sum1"
parallel --will-cite --jobs 2 --halt now,fail=1 :::: "$p/jobs.txt" || fail "re-run of finished lines"
(cd "$p/runs" && find . -type f | sort | xargs md5sum) >"$d/sum2"
cmp "$d/sum1" "$d/sum2" || fail "re-running finished lines changed run folders"

# a point deleted and one killed at round 5 of 12 (sim's test hook --stop-after: SIGKILL, before
# its only checkpoint):
# reported missing with their lines, exit 1, tables of the other 4
rm -rf "$p/runs/stat_snr20_sp1_K10_gth0.1_seed1"
rm -rf "$p/runs/ideal_sp1_K10_seed2"
bash -c "$(sed -n 6p "$p/jobs.txt") --stop-after 5" 2>/dev/null && fail "--stop-after did not kill"
"$AIRMETA" sweep --collect "$p" --no-plots >"$d/c2.log" 2>&1
rc=$?
cat "$d/c2.log"
[ "$rc" -eq 1 ] || fail "collect of a partial grid exited $rc, expected 1"
grep -q "^missing: stat_snr20_sp1_K10_gth0.1_seed1 (line 3 of jobs.txt): no run folder" "$d/c2.log" ||
    fail "the deleted point is not named with its line"
grep -q "^missing: ideal_sp1_K10_seed2 (line 6 of jobs.txt): .*of 12 rounds (incomplete run)" "$d/c2.log" ||
    fail "the killed run is not reported missing"
grep -q "2 of 6 points missing" "$d/c2.log" || fail "no count of missing points"
[ "$(grep -c '^missing:' "$d/c2.log")" -eq 2 ] || fail "other points reported missing"
[ "$(tail -n +2 "$p/results.csv" | wc -l)" -eq 4 ] || fail "the tables should hold the other 4"

# completed by re-running the plan (the sbatch script's line picking, as a Slurm array task
# would, for line 3; then the whole list): the tables are the local sweep's again
SLURM_ARRAY_TASK_ID=3 bash "$p/sweep.sbatch" || fail "sweep.sbatch, task 3"
[ -s "$p/runs/stat_snr20_sp1_K10_gth0.1_seed1/metrics.jsonl" ] || fail "task 3 ran another line"
SLURM_ARRAY_TASK_ID=7 bash "$p/sweep.sbatch" 2>"$d/err7" && fail "task 7 of 6 succeeded"
grep -q "no line 7 in $p/jobs.txt" "$d/err7" || fail "task 7: $(cat "$d/err7")"
AIRMETA_LINE_OFFSET=5 SLURM_ARRAY_TASK_ID=2 bash "$p/sweep.sbatch" 2>"$d/err7" && fail "offset 5 + 2"
grep -q "no line 7 in $p/jobs.txt" "$d/err7" || fail "\$AIRMETA_LINE_OFFSET: $(cat "$d/err7")"
# the rest over "ssh" to two hosts, as `parallel --sshloginfile` does (a stand-in for ssh that
# runs the command it is given through bash and logs the host)
cat >"$d/ssh" <<END
#!/bin/bash
# sshd starts the session with the user's login shell in \$SHELL, which parallel's remote wrapper
# runs the job with (CI's environment has no SHELL: without it the job silently does nothing)
export SHELL=/bin/bash
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
echo "\$1" >>"$d/ssh.log"
shift
[ "\${1:-}" = "--" ] && shift
exec bash -c "\$*"
END
chmod +x "$d/ssh"
printf '1/nodeA\n1/nodeB\n' >"$d/hosts"
parallel --will-cite --ssh "$d/ssh" --sshloginfile "$d/hosts" --halt now,fail=1 :::: "$p/jobs.txt" ||
    fail "completing the plan over ssh"
[ "$(sort -u "$d/ssh.log" | tr '\n' ' ')" = "nodeA nodeB " ] || fail "hosts used: $(cat "$d/ssh.log")"
[ "$(wc -l <"$d/ssh.log")" -eq 6 ] || fail "6 lines over ssh expected: $(cat "$d/ssh.log")"
"$AIRMETA" sweep --collect "$p" >"$d/c4.log" 2>&1 || { cat "$d/c4.log"; fail "collect after completion"; }
for f in $tables; do
    cmp "$d/local/$f" "$p/$f" || fail "$f differs after completion"
done
grep -q "^#SBATCH --array=1-6$" "$p/sweep.sbatch" || fail "array range"
grep -q "^#SBATCH --output=$p/slurm/%A_%a.out$" "$p/sweep.sbatch" || fail "output path"

# $AIRMETA names the program of every line
AIRMETA=/nonexistent/airmeta bash -c "$(head -n 1 "$p/jobs.txt")" 2>"$d/err" && fail "\$AIRMETA ignored"
grep -q "/nonexistent/airmeta" "$d/err" || fail "\$AIRMETA not used: $(cat "$d/err")"

# --collect reads the folder of a local sweep too
"$AIRMETA" sweep --collect "$d/local" >/dev/null 2>&1 || fail "collect of the local sweep's folder"

# the commands --plan prints take the folder as one shell word: a folder named with a space, a
# quote and $(...) is neither split nor run when they are pasted into a shell
w="$d/a b'\$(touch $d/pwned)"
"$AIRMETA" sweep --plan "$w" --rounds 2 --seeds 1 --snr-db 0 --agg stat >"$d/w.log" 2>&1 ||
    { cat "$d/w.log"; fail "--plan into $w"; }
line=$(grep '^    parallel --jobs N :::: ' "$d/w.log") || fail "no parallel line: $(cat "$d/w.log")"
eval "set -- ${line#*:::: }"
[ $# -eq 1 ] && [ "$1" = "$w/jobs.txt" ] || fail "parallel line's file is not one word, $w/jobs.txt: $line"
line=$(grep '^then: airmeta sweep --collect ' "$d/w.log") || fail "no collect line"
(eval "\"\$AIRMETA\" ${line#then: airmeta }") >"$d/wc.log" 2>&1
rc=$?
[ ! -e "$d/pwned" ] || fail "the printed commands ran the folder's \$(...): $line"
[ $rc -eq 1 ] && grep -q "missing" "$d/wc.log" ||
    fail "the printed --collect did not collect $w (rc $rc): $(cat "$d/wc.log")"

# refusals
expect_cmd=(sweep)
. "$(dirname "$0")/lib/expect.sh"
expect 2 "--plan DIR and --out DIR: one or the other" --plan "$d/x" --out "$d/y"
expect 2 "--slurm goes with --plan DIR" --out "$d/y" --slurm
expect 2 "--collect DIR reads the grid from DIR/sweep.json: --snr-db does not go with it" \
    --collect "$p" --snr-db 10
expect 4 "--collect $d/none: not a sweep folder" --collect "$d/none"
expect 2 "--continue after \`--\`: the sweep sets it" --plan "$d/x" -- --continue
mkdir -p "$d/sp ace"
expect 2 "--slurm: the plan folder $d/sp ace has a character (' ')" --plan "$d/sp ace" --slurm \
    --rounds 2 --seeds 1 --snr-db 0 --agg stat
echo PASS
