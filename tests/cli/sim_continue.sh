#!/bin/bash
# sim --out DIR --continue (the idempotent lines of `sweep --plan`, issue 14): a new folder gets a
# new run; the same command over the finished run is a no-op (exit 0, every file's bytes as they
# were); a run killed mid-way (SIGKILL after its checkpoint at round 10) is continued to the bytes
# of the uninterrupted run; a run killed before its first checkpoint starts again from round 0;
# another configuration in DIR is refused (exit 2, naming the flag); --continue without --out is
# refused.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
f=(sim --quiet --rounds 20 --agg stat --snr-db 10 --seed 3 --eval-tasks 5 --new-agents 3 --no-plots)

"$AIRMETA" "${f[@]}" --out "$d/a" --continue || fail "new run"
[ "$(wc -l <"$d/a/metrics.jsonl")" -eq 20 ] || fail "the new run is not 20 rounds"
(cd "$d/a" && md5sum *) >"$d/sum1"
"$AIRMETA" "${f[@]}" --out "$d/a" --continue || fail "finished run: exit $?"
(cd "$d/a" && md5sum *) | cmp - "$d/sum1" || fail "the finished run's files changed"

# killed after round 12 with a checkpoint at round 10, continued: the uninterrupted bytes
"$AIRMETA" "${f[@]}" --out "$d/b" --checkpoint-every 5 --stop-after 12 2>/dev/null && fail "not killed"
"$AIRMETA" "${f[@]}" --out "$d/b" --continue || fail "continue after a kill"
cmp "$d/a/metrics.jsonl" "$d/b/metrics.jsonl" || fail "continued run differs from the uninterrupted one"
# killed before its first checkpoint: from the start
"$AIRMETA" "${f[@]}" --out "$d/c" --checkpoint-every 20 --stop-after 4 2>/dev/null && fail "not killed"
"$AIRMETA" "${f[@]}" --out "$d/c" --continue || fail "continue without a checkpoint"
cmp "$d/a/metrics.jsonl" "$d/c/metrics.jsonl" || fail "restarted run differs"

expect_cmd=("${f[@]}")
. "$(dirname "$0")/lib/expect.sh"
expect 2 "--seed 4 conflicts with the run's 3" --out "$d/a" --continue --seed 4
expect 2 "--continue goes with --out DIR" --continue
expect 2 "--continue goes with --out DIR (and without --resume)" --out "$d/a" --resume "$d/a" --continue
(cd "$d/a" && md5sum *) | cmp - "$d/sum1" || fail "a refused command changed the run"
echo PASS
