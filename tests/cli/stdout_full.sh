#!/bin/bash
# What a command prints reaches its standard output or the command fails saying so: with stdout
# on /dev/full (every write: ENOSPC) replay --json, demo --json, sweep --collect's table, radio
# backends and --version exit 4 with one line naming the standard output; they exited 0 and the
# lines were lost. The same commands with stdout on /dev/null exit 0.
set -u
fail() { echo "FAIL: $*"; exit 1; }
[ -c /dev/full ] || { echo "SKIPPED: no /dev/full (the checks did not run)"; exit 77; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cap="$AM_SOURCE_DIR/captures/one_clean.sigmf-meta"
"$AIRMETA" sweep --plan "$d/p" --snr-db 10 --seeds 1 --rounds 2 --agg stat -- --eval-tasks 5 \
    >/dev/null || fail "sweep --plan"
bash "$d/p/jobs.txt" >/dev/null 2>&1 || fail "the plan's run"
cases=("replay $cap --json" "demo --rounds 2 --snr-db 10 --json" "sweep --collect $d/p --no-plots"
       "radio backends" "--version")
for c in "${cases[@]}"; do
    # shellcheck disable=SC2086
    "$AIRMETA" $c >/dev/null 2>"$d/err" || fail "$c: exit $? with stdout on /dev/null: $(cat "$d/err")"
    # shellcheck disable=SC2086
    "$AIRMETA" $c >/dev/full 2>"$d/err"
    rc=$?
    [ $rc -eq 4 ] || fail "$c: exit $rc with stdout on /dev/full, expected 4 ($(cat "$d/err"))"
    [ "$(grep -c "writing the standard output failed" "$d/err")" -eq 1 ] ||
        fail "$c: message: $(cat "$d/err")"
    echo "ok: $c >/dev/full -> $rc: $(grep "standard output" "$d/err")"
done
echo PASS
