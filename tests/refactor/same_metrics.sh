#!/usr/bin/env bash
# Behaviour kept across a refactoring: builds git revision OLD (default: the commit before the
# host/ rooms) next to the working tree's build, runs the same seeded `airmeta sim` runs with both
# and compares metrics.jsonl and config.json byte for byte; then an interrupted run folder written
# by OLD is resumed by the new binary and must end byte-identical to an uninterrupted run.
# Not part of the suite (it builds a second tree); run by hand:
#   bash tests/refactor/same_metrics.sh [OLD] [NEW_AIRMETA]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=${1:-8e8a956}
new_bin=${2:-$root/build/bin/airmeta}
[ -x "$new_bin" ] || { echo "no $new_bin: build first (cmake --build build)"; exit 2; }
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/src" "$old" >/dev/null 2>&1
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" -j"$(nproc)" --target airmeta >/dev/null
old_bin=$work/build/bin/airmeta
fails=0
check() { # NAME ARGS...: the same run with both binaries
    local name=$1; shift
    "$old_bin" sim "$@" --quiet --no-plots --out "$work/old-$name" >/dev/null
    "$new_bin" sim "$@" --quiet --no-plots --out "$work/new-$name" >/dev/null
    for f in metrics.jsonl config.json; do
        if cmp -s "$work/old-$name/$f" "$work/new-$name/$f"; then
            echo "same: $name $f ($(wc -l <"$work/new-$name/$f") lines)"
        else
            echo "DIFFERENT: $name $f"; fails=$((fails + 1))
        fi
    done
}
check stat --agg stat --rounds 300 --seed 7 --sparsity 0.3 --threads 2
check ideal --agg ideal --rounds 200 --seed 3 --learner fomaml --tasks-per-agent 2
check iq --agg iq --rounds 40 --agents 4 --seed 5 --eval-every 20 --eval-tasks 30
check reptile --agg stat --rounds 100 --seed 2 --learner reptile --optimizer sgd --snr-db 0
# An interrupted run of OLD, resumed by the new binary.
args=(--agg stat --rounds 120 --seed 11 --checkpoint-every 10 --quiet --no-plots)
"$old_bin" sim "${args[@]}" --out "$work/full" >/dev/null
"$old_bin" sim "${args[@]}" --out "$work/cut" --stop-after 55 >/dev/null 2>&1 || true
"$new_bin" sim --resume "$work/cut" --quiet --no-plots >/dev/null
if cmp -s "$work/full/metrics.jsonl" "$work/cut/metrics.jsonl"; then
    echo "same: an old run folder resumed by the new binary"
else
    echo "DIFFERENT: old run folder resumed"; fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "all the same" || { echo "$fails differences"; exit 1; }
