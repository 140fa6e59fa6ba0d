#!/bin/bash
# Issue 12 finding 6: one run per run folder. A second sim into the folder of a running one is
# refused (exit 4, naming the folder) and the first's metrics.jsonl is byte-identical to a run that
# had the folder to itself; a finished run is kept unless --force (--resume still continues it);
# sweep and server hold the same lock. The first sim is paused (SIGSTOP) while the second tries,
# so nothing depends on timing; every command runs under `timeout`.
set -u
d=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
T=60
args=(--quiet --no-plots --agg ideal --agents 3 --seed 7 --eval-every 100 --eval-tasks 5)
R=1000 # rounds: ~1 s here, long enough to pause it once it holds the folder

timeout $T "$AIRMETA" sim "${args[@]}" --rounds $R --out "$d/ref" || fail "reference run"
"$AIRMETA" sim "${args[@]}" --rounds $R --out "$d/a" & # killed on exit if it hangs
pid=$!
for _ in $(seq 1000); do # until it writes rounds (it holds the folder by then)
    [ -s "$d/a/metrics.jsonl" ] && break
    sleep 0.01
done
kill -STOP $pid 2>/dev/null || fail "the first run ended before it could be paused"
grep -q "^running airmeta sim pid $pid" "$d/a/.airmeta-run" ||
    fail "the first run's mark: $(cat "$d/a/.airmeta-run" 2>&1)"
timeout $T "$AIRMETA" sim "${args[@]}" --rounds 3 --out "$d/a" >/dev/null 2>"$d/err"
rc=$?
kill -CONT $pid
[ $rc -eq 4 ] || fail "second sim into a busy folder: exit $rc, expected 4 ($(cat "$d/err"))"
grep -qF "$d/a: in use by another run (running airmeta sim pid $pid)" "$d/err" ||
    fail "message: $(cat "$d/err")"
echo "ok: second sim refused: $(cat "$d/err")"
# the same for --resume and for a sweep into that folder
kill -STOP $pid
timeout $T "$AIRMETA" sim --quiet --resume "$d/a" >/dev/null 2>"$d/err"
rc=$?
timeout $T "$AIRMETA" sweep --out "$d/a" --agg ideal --rounds 2 --seeds 1 --agents 2 \
    --no-plots >/dev/null 2>"$d/err2"
rc2=$?
kill -CONT $pid
[ $rc -eq 4 ] && grep -q "in use by another run" "$d/err" || fail "--resume: exit $rc: $(cat "$d/err")"
[ $rc2 -eq 4 ] && grep -q "in use by another run" "$d/err2" || fail "sweep: exit $rc2: $(cat "$d/err2")"
wait $pid || fail "the first run failed (exit $?)"
pid=
cmp "$d/ref/metrics.jsonl" "$d/a/metrics.jsonl" || fail "the first run's metrics.jsonl changed"
echo "ok: the first run's metrics.jsonl is intact ($(wc -l <"$d/a/metrics.jsonl") lines)"

# a finished run: refused without --force, files untouched; --resume continues it (nothing to do)
grep -q "^finished airmeta sim" "$d/a/.airmeta-run" || fail "mark: $(cat "$d/a/.airmeta-run")"
timeout $T "$AIRMETA" sim "${args[@]}" --rounds 3 --out "$d/a" >/dev/null 2>"$d/err"
rc=$?
[ $rc -eq 2 ] || fail "re-run over a finished run: exit $rc, expected 2"
grep -qF "$d/a holds a finished run (airmeta sim): give --force to replace it" "$d/err" ||
    fail "message: $(cat "$d/err")"
cmp -s "$d/ref/metrics.jsonl" "$d/a/metrics.jsonl" || fail "refused run touched metrics.jsonl"
echo "ok: $(cat "$d/err")"
timeout $T "$AIRMETA" sim --quiet --resume "$d/a" || fail "--resume of a finished run"
cmp -s "$d/ref/metrics.jsonl" "$d/a/metrics.jsonl" || fail "--resume of a finished run changed it"
timeout $T "$AIRMETA" sim "${args[@]}" --rounds 3 --out "$d/a" --force || fail "--force"
[ "$(wc -l <"$d/a/metrics.jsonl")" -eq 3 ] || fail "--force did not replace the run"
echo "ok: --resume continues, --force replaces"
# a run that died (kill -9 by the --stop-after hook) is not finished: a new run may start there
("$AIRMETA" sim "${args[@]}" --rounds 5 --out "$d/k" --stop-after 2) 2>/dev/null
[ $? -eq 137 ] || fail "--stop-after"
timeout $T "$AIRMETA" sim "${args[@]}" --rounds 5 --out "$d/k" || fail "run over a dead one"

# server: a held lock refuses it before it binds anything (flock(1) holds the folder's mark)
mkdir -p "$d/s"
exec 9>"$d/s/.airmeta-run"
flock -n 9 || fail "flock"
timeout $T "$AIRMETA" server --insecure --bind 'tcp://127.0.0.1:*' --agents 1 --rounds 1 --out "$d/s" \
    >/dev/null 2>"$d/err"
rc=$?
exec 9>&-
[ $rc -eq 4 ] && grep -qF "$d/s: in use by another run" "$d/err" ||
    fail "server into a locked folder: exit $rc: $(cat "$d/err")"
echo "ok: server: $(cat "$d/err")"
echo PASS
