#!/bin/bash
# airmeta sweep --plan DIR --slurm on a real Slurm (issue 14): a private one-node cluster
# (tests/slurm/cluster.sh: slurmctld + slurmd + munged of its own) runs the generated array script
# with `sbatch --wait` (bounded by timeout); every array task ran its line; `sweep --collect`
# gives the tables of the local `sweep --jobs 2` byte for byte; a run folder deleted and the array
# submitted again: the finished tasks are no-ops (their folders' bytes unchanged) and the grid is
# whole again. The cluster is stopped at the end (its daemons gone).
# Without Slurm, munge or root (or passwordless sudo) this test is SKIPPED (exit 77), except in CI
# (CI=true), where it must run: there a cluster that cannot start is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
skip() {
    [ "${CI:-}" = true ] && fail "$* (CI=true: Slurm must run here)"
    echo "SKIPPED: $*"
    exit 77
}
PATH=$PATH:/usr/sbin:/sbin # slurmctld, slurmd, munged for a user whose PATH lacks them
. "$here/../cli/lib/need.sh"
need slurmctld slurmd munged sbatch sinfo python3
if [ "$(id -u)" -ne 0 ]; then # the daemons need root: through passwordless sudo, if any
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n env PATH="$PATH" AIRMETA="$AIRMETA" CI="${CI:-}" OPENBLAS_NUM_THREADS=1 \
            ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" bash "$0"
    fi
    skip "not root, no passwordless sudo (slurmd starts jobs as their users)"
fi

# one private cluster at a time on this machine (parallel test runs share it)
exec 9>/tmp/airmeta-slurm-test.lock
flock -w 900 9 || fail "another Slurm test held /tmp/airmeta-slurm-test.lock for 900 s"

d=$(mktemp -d)
cleanup() {
    bash "$here/cluster.sh" stop "$d/cluster"
    rm -rf "$d"
}
trap cleanup EXIT
grid=(--snr-db 0,20 --seeds 2 --rounds 12 --agg stat,ideal --agents 10)
sim=(-- --eval-tasks 20 --new-agents 4)
tables="results.csv results.json summary.csv summary.json"

"$AIRMETA" sweep "${grid[@]}" --jobs 2 --out "$d/local" --no-plots "${sim[@]}" >"$d/local.log" 2>&1 ||
    { cat "$d/local.log"; fail "local sweep"; }
"$AIRMETA" sweep "${grid[@]}" --plan "$d/plan" --slurm "${sim[@]}" >"$d/plan.log" 2>&1 ||
    { cat "$d/plan.log"; fail "--plan --slurm"; }
p="$d/plan"

bash "$here/cluster.sh" start "$d/cluster" 2>"$d/cluster.err" || {
    cat "$d/cluster.err"
    skip "a one-node Slurm cluster could not start here"
}
export SLURM_CONF="$d/cluster/slurm.conf"

# submit, wait (bounded), every task ran its line
submit() {
    timeout 600 sbatch --wait "$p/sweep.sbatch" >"$d/sbatch.out" 2>&1
    local rc=$?
    cat "$d/sbatch.out"
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$p"/slurm/*.out "$d/cluster/log/slurmctld.log" "$d/cluster/log/slurmd.log" 2>/dev/null
        fail "sbatch --wait: exit $rc (124: not done in 600 s)"
    fi
    sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' "$d/sbatch.out"
}
job=$(submit | tail -n 1)
[ -n "$job" ] || fail "no job id"
for i in 1 2 3 4 5 6; do
    [ -e "$p/slurm/${job}_$i.out" ] || fail "array task $i left no output: $(ls "$p/slurm")"
done
[ "$(ls "$p/runs" | wc -l)" -eq 6 ] || fail "expected 6 run folders: $(ls "$p/runs")"

"$AIRMETA" sweep --collect "$p" --no-plots >"$d/c1.log" 2>&1 || { cat "$d/c1.log"; fail "collect"; }
cat "$d/c1.log"
for f in $tables; do
    cmp "$d/local/$f" "$p/$f" || fail "$f: the Slurm sweep's differs from the local one's"
done

# one point deleted, the whole array again: the others untouched, the grid whole and the same
rm -rf "$p/runs/stat_snr0_sp1_K10_gth0.1_seed2"
(cd "$p/runs" && find . -type f | sort | xargs md5sum) >"$d/sum1"
job2=$(submit | tail -n 1)
[ "$job2" != "$job" ] || fail "the second submission got the same job id"
(cd "$p/runs" && find . -type f | sort | xargs md5sum) >"$d/sum2"
grep -v '^[0-9a-f]*  \./stat_snr0_sp1_K10_gth0.1_seed2/' "$d/sum2" | cmp - "$d/sum1" ||
    fail "the finished tasks changed their run folders"
"$AIRMETA" sweep --collect "$p" --no-plots >"$d/c2.log" 2>&1 || { cat "$d/c2.log"; fail "collect 2"; }
for f in $tables; do
    cmp "$d/local/$f" "$p/$f" || fail "$f differs after the second array"
done

# stop: the daemons are gone
pids="$(cat "$d/cluster/slurmd.daemon" "$d/cluster/slurmctld.daemon" "$d/cluster/munge/munged.pid")"
bash "$here/cluster.sh" stop "$d/cluster"
for pid in $pids; do
    kill -0 "$pid" 2>/dev/null && fail "daemon $pid still runs after stop"
done
echo PASS
