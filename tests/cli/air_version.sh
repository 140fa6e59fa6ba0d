#!/bin/bash
# docs/air-interface.md: `airmeta --version` names air-interface version 2; what version 1 made
# still works with this build: a sim run folder of version 1 resumes to the same metrics.jsonl
# (a version-1 burst is a version-2 burst without calibration blocks), a folder of an unknown
# version is refused naming it. (Version-1 captures replaying: cli.captures_replay.)
set -u
. "$(dirname "$0")/lib/need.sh"
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

out=$("$AIRMETA" --version) || fail "--version exit $?"
case "$out" in "airmeta "*" (air interface version 2)") ;; *) fail "--version printed '$out'" ;; esac
echo "ok: $out"

need python3 # rewrites config.json below
run=(--agg iq --agents 3 --rounds 20 --snr-db 15 --tasks-per-agent 2 --eval-every 10
     --eval-tasks 20 --seed 5 --checkpoint-every 5 --threads 1 --quiet --no-plots)
"$AIRMETA" sim "${run[@]}" --out "$d/ref" || fail "reference run exit $?"
grep -q '"air_interface_version":[[:space:]]*2' "$d/ref/config.json" ||
    fail "config.json does not record version 2: $(head -c 300 "$d/ref/config.json")"
"$AIRMETA" sim "${run[@]}" --out "$d/v1" --stop-after 12 2>/dev/null
[ $? -eq 137 ] || fail "--stop-after 12 did not die"
setver() {
    python3 - "$1" "$2" <<'PY' || fail "cannot rewrite $1"
import json, sys
p, v = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(p))
c["air_interface_version"] = v
json.dump(c, open(p, "w"), indent=1)
PY
}
cp -r "$d/v1" "$d/v3"
setver "$d/v1/config.json" 1
"$AIRMETA" sim --resume "$d/v1" --threads 1 >"$d/out" || fail "version-1 folder: resume exit $?"
cmp "$d/ref/metrics.jsonl" "$d/v1/metrics.jsonl" ||
    fail "version-1 folder resumed to other metrics than the uninterrupted run"
echo "ok: a version-1 run folder resumes to the same metrics.jsonl"

setver "$d/v3/config.json" 3
"$AIRMETA" sim --resume "$d/v3" 2>"$d/err" && fail "version-3 folder resumed"
grep -q "air interface version 3, this build reads 1..2" "$d/err" || fail "message: $(cat "$d/err")"
echo "ok: version 3 refused: $(head -1 "$d/err")"
# out of every integer type's range: refused, ranged as a double before the cast to long long
# (undefined behaviour: build-asan's float-cast-overflow aborted here)
for v in 1e300 -1e300; do
    setver "$d/v3/config.json" "$v"
    "$AIRMETA" sim --resume "$d/v3" 2>"$d/err"
    rc=$?
    [ "$rc" -eq 3 ] || fail "version $v: exit $rc: $(cat "$d/err")"
    [ "$(wc -l <"$d/err")" -eq 1 ] || fail "version $v: not one line: $(cat "$d/err")"
    grep -q "air interface version ${v/e/e+}, this build reads 1..2" "$d/err" ||
        fail "version $v: message: $(cat "$d/err")"
done
echo "ok: version 1e300 refused: $(head -1 "$d/err")"
echo PASS
