#!/bin/bash
# airmeta sim --resume: a run killed mid-way and resumed from its last checkpoint writes the same
# metrics.jsonl, byte for byte, as the uninterrupted run (wall times live in wall.jsonl), for
# --agg stat (also with a finite --pool and SGD with --clip) and --agg iq (also with b210-free
# radios: the agents' offset trackers are rebuilt), with another thread count after the crash.
# The crash is the hidden
# --stop-after N hook (SIGKILL to itself after round N, nothing flushed) and, once, a real
# `kill -9` from outside at whatever point the run has reached after its round-20 checkpoint.
# Also: a run killed before its first checkpoint resumes from round 0; --resume of a finished run
# changes nothing; flags that conflict with config.json are refused (exit 2), agreeing and
# run-control flags are accepted.
set -u
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$d"' EXIT
ckpt_round() { od -An -tu4 -j16 -N4 "$1/checkpoint.bin" 2>/dev/null | tr -d ' '; }

# resume_case NAME STOP ARGS...: reference run, run dying after round STOP, resume, compare
resume_case() {
    local name=$1 stop=$2
    shift 2
    "$AIRMETA" sim "$@" --threads 1 --out "$d/$name-ref" || fail "$name: reference exit $?"
    "$AIRMETA" sim "$@" --threads 2 --out "$d/$name" --stop-after "$stop" 2>"$d/err"
    local rc=$?
    [ $rc -eq 137 ] || fail "$name: --stop-after $stop exit $rc, expected 137 (SIGKILL)"
    local want=$(((stop / 10) * 10))
    if [ $want -eq 0 ]; then
        [ ! -e "$d/$name/checkpoint.bin" ] || fail "$name: checkpoint before round 10"
    else
        [ "$(ckpt_round "$d/$name")" = $want ] || fail "$name: checkpoint at $(ckpt_round "$d/$name")"
    fi
    [ "$(wc -l <"$d/$name/metrics.jsonl")" -le "$stop" ] || fail "$name: more lines than rounds"
    "$AIRMETA" sim --resume "$d/$name" --threads 1 >"$d/out" || fail "$name: resume exit $?"
    grep -q "resuming $d/$name at round $want of" "$d/out" || fail "$name: $(head -3 "$d/out")"
    cmp "$d/$name-ref/metrics.jsonl" "$d/$name/metrics.jsonl" ||
        fail "$name: resumed metrics differ from the uninterrupted run's"
    # wall.jsonl: one line per round 1..R, no duplicates
    local R
    R=$(wc -l <"$d/$name-ref/metrics.jsonl")
    [ "$(grep -o '^{"round":[0-9]*' "$d/$name/wall.jsonl" | cut -d: -f2 | tr '\n' ' ')" = \
        "$(seq -s ' ' 1 "$R") " ] || fail "$name: wall.jsonl rounds"
    echo "ok: $name: killed after round $stop, resumed at $want: metrics.jsonl identical"
}

stat=(--agg stat --agents 5 --rounds 40 --snr-db 10 --g-th 0.3 --sparsity 0.3 --sparsify randk
      --tasks-per-agent 2 --eval-every 20 --eval-tasks 40 --seed 7 --checkpoint-every 10
      --quiet --no-plots)
resume_case stat 25 "${stat[@]}"
resume_case stat_early 7 "${stat[@]}"
# finite data (--pool): the pool is regenerated from the seed after the crash, the agents' draws
# from it continue from their checkpointed streams; SGD with clipping has no optimiser state
resume_case pool 25 "${stat[@]}" --pool 3 --optimizer sgd --beta 0.05 --clip 1
grep -q '"own":{"tasks":15,' "$d/pool/metrics.jsonl" || fail "pool: no own-data evaluation"
grep -q '"gap_paper":' "$d/pool/metrics.jsonl" || fail "pool: no gap_paper"
! grep -q '"gap_paper":' "$d/stat/metrics.jsonl" || fail "no pool: gap_paper written"
cmp -s "$d/pool/metrics.jsonl" "$d/stat/metrics.jsonl" && fail "--pool 3 changed nothing"
iq=(--agg iq --agents 4 --rounds 30 --snr-db 15 --cfo 0.05 --sparsity 0.5 --tasks-per-agent 2
    --eval-every 15 --eval-tasks 20 --seed 9 --checkpoint-every 10 --quiet --no-plots)
resume_case iq 23 "${iq[@]}"
# the agents track their carrier offset across rounds (the mean of their last 64 beacons'): a
# resumed run rebuilds the trackers by replaying the beacons before its checkpoint, also with the
# radios of b210-free (each its own oscillator)
iq_free=(--agg iq --agents 4 --rounds 30 --snr-db 15 --impair b210-free --sparsity 0.5
         --tasks-per-agent 2 --eval-every 15 --eval-tasks 20 --seed 9 --checkpoint-every 10
         --quiet --no-plots)
resume_case iq_free 23 "${iq_free[@]}"
# the probe count from what the probes measure (--probe-excess, docs/air-interface.md §8.5 step 5):
# here the rule stops at 2 of at most 4 probes, and the resumed run replays those 2 probes'
# beacons into its trackers, not 4 (the count is in its checkpoint; before, the resumed metrics
# differed from round 21 on)
resume_case iq_rule 23 "${iq_free[@]}" --probes 4 --probe-excess 3
grep -q '"probe":{"agents":\[0,1,2,3\],"probes":2,' "$d/iq_rule/metrics.jsonl" ||
    fail "iq_rule: the rule did not stop at 2 of 4 probes: $(head -c 300 "$d/iq_rule/metrics.jsonl")"

# --resume of a finished run: nothing to do, nothing changes
cp "$d/stat/metrics.jsonl" "$d/m0"
"$AIRMETA" sim --resume "$d/stat" --no-plots >"$d/out" || fail "resume of a finished run"
grep -q "at round 40 of 40" "$d/out" || fail "finished run: $(cat "$d/out")"
cmp "$d/m0" "$d/stat/metrics.jsonl" || fail "resume of a finished run changed metrics.jsonl"

# flags against config.json: conflicts exit 2 naming the flag; agreeing ones pass
"$AIRMETA" sim --resume "$d/stat" --snr-db 5 2>"$d/err"
[ $? -eq 2 ] || fail "conflicting --snr-db: exit code"
grep -q -- "--snr-db 5 conflicts with the run's 10" "$d/err" || fail "message: $(cat "$d/err")"
"$AIRMETA" sim --resume "$d/stat" --agg iq 2>"$d/err"
[ $? -eq 2 ] || fail "conflicting --agg: exit code"
"$AIRMETA" sim --resume "$d/stat" --out "$d/elsewhere" 2>"$d/err"
[ $? -eq 2 ] || fail "--out elsewhere with --resume: exit code"
grep -q -- "--resume $d/stat continues in that folder: --out $d/elsewhere conflicts with it" \
    "$d/err" || fail "--out message: $(cat "$d/err")"
"$AIRMETA" sim --resume "$d/stat" --snr-db 10 --agents 5 --seed 7 --threads 3 \
    --checkpoint-every 3 --quiet --no-plots || fail "agreeing flags refused"
cmp "$d/m0" "$d/stat/metrics.jsonl" || fail "agreeing flags changed metrics.jsonl"

# a real kill -9 from outside, at whatever point after the round-20 checkpoint
kill_args=(--agg stat --agents 5 --rounds 150 --snr-db 10 --sparsity 0.5 --tasks-per-agent 30
           --eval-every 50 --eval-tasks 40 --seed 11 --checkpoint-every 10 --quiet --no-plots)
"$AIRMETA" sim "${kill_args[@]}" --threads 1 --out "$d/kill-ref" || fail "kill reference"
"$AIRMETA" sim "${kill_args[@]}" --threads 2 --out "$d/kill" 2>/dev/null &
pid=$!
for _ in $(seq 1 2000); do
    r=$(ckpt_round "$d/kill")
    [ -n "$r" ] && [ "$r" -ge 20 ] && break
    sleep 0.005
done
kill -9 $pid 2>/dev/null || fail "the run ended before the kill (checkpoint at $(ckpt_round "$d/kill"))"
wait $pid 2>/dev/null
pid=
at=$(ckpt_round "$d/kill")
[ "$at" -lt 150 ] || fail "killed run had already finished"
"$AIRMETA" sim --resume "$d/kill" --quiet --no-plots || fail "resume after kill -9: exit $?"
cmp "$d/kill-ref/metrics.jsonl" "$d/kill/metrics.jsonl" ||
    fail "after kill -9 at checkpoint $at: metrics differ"
echo "ok: kill -9 with the checkpoint at round $at: metrics.jsonl identical"
echo PASS
