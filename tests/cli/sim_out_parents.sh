#!/bin/bash
# airmeta sim --out A/B/C where neither A nor B exists (the README's `--out runs/main` in a fresh
# checkout): the folder and its parents are made and hold the run; a file in the way is refused
# with exit 4 naming it.
set -u
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d" || fail "cd"
args=(--agg ideal --agents 3 --rounds 2 --eval-every 2 --eval-tasks 5 --seed 1 --quiet --no-plots)
"$AIRMETA" sim "${args[@]}" --out runs/a/b 2>err || { cat err; fail "relative --out runs/a/b: exit $?"; }
[ -d runs/a/b ] || fail "runs/a/b not made"
[ "$(wc -l <runs/a/b/metrics.jsonl)" -eq 2 ] || fail "runs/a/b/metrics.jsonl: expected 2 lines"
[ -s runs/a/b/config.json ] || fail "no config.json"
"$AIRMETA" sim "${args[@]}" --out "$d/x/y/z/" 2>err || { cat err; fail "absolute --out: exit $?"; }
[ -s "$d/x/y/z/metrics.jsonl" ] || fail "x/y/z/metrics.jsonl missing"
# a finished run there is kept (exit 2 naming the folder); --force replaces its files (issue 12)
"$AIRMETA" sim "${args[@]}" --out runs/a/b 2>err && fail "rerun over a finished run: exit 0"
grep -q "runs/a/b holds a finished run" err || fail "rerun: $(cat err)"
"$AIRMETA" sim "${args[@]}" --out runs/a/b --force 2>err || { cat err; fail "--force: exit $?"; }
[ "$(wc -l <runs/a/b/metrics.jsonl)" -eq 2 ] || fail "rerun: expected 2 lines"
# a file where a parent should be
touch f
"$AIRMETA" sim "${args[@]}" --out f/run 2>err
rc=$?
[ "$rc" -eq 4 ] || fail "a file in the way: exit $rc, expected 4"
grep -q -- "--out: .*f/run" err || fail "message does not name --out f/run: $(cat err)"
echo PASS
