#!/bin/bash
# airmeta demo --capture writes a SigMF recording; airmeta replay decodes every burst of it: one
# JSON line per burst at the annotated start, payloads of payload_len float32 each, exit 0.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$AIRMETA" demo --agents 3 --rounds 3 --snr-db 15,25 --payload 600 --seed 5 --json \
    --capture "$d/cap" >"$d/demo" 2>&1 || { cat "$d/demo"; fail "demo --capture"; }
[ -s "$d/cap.sigmf-meta" ] && [ -s "$d/cap.sigmf-data" ] || fail "capture files missing"
ls "$d" | grep -q 'XXXXXX\|\.sigmf-.*\.' && fail "temporary files left: $(ls "$d")"

"$AIRMETA" replay "$d/cap.sigmf-meta" --out "$d/v.f32" --json >"$d/json" 2>"$d/err" ||
    { cat "$d/err"; fail "replay exit $?"; }
cat "$d/json"
[ "$(wc -l <"$d/json")" -eq 6 ] || fail "expected 6 JSON lines"
[ "$(stat -c %s "$d/v.f32")" -eq $((6 * 600 * 4)) ] || fail "payload file size"
grep -c '"payload_len":600' "$d/json" | grep -q '^6$' || fail "payload_len in JSON"

# the detected starts are the annotated ones (timing offsets stay inside the cp of 32)
starts=$(grep -o '"start":[0-9]*' "$d/json" | cut -d: -f2 | tr '\n' ' ')
ann=$(grep '"core:sample_start"' "$d/cap.sigmf-meta" | tail -n 6 | grep -o '[0-9]*' | tr '\n' ' ')
set -- $ann
for s in $starts; do
    a=$1; shift
    [ "$s" -ge "$a" ] && [ "$s" -le $((a + 32)) ] || fail "burst at $s, annotated at $a"
done

# the same capture given as .sigmf-data or base name, and chunking, give identical payloads
"$AIRMETA" replay "$d/cap.sigmf-data" --out "$d/w.f32" --chunk 999 --quiet || fail "replay .sigmf-data"
cmp "$d/v.f32" "$d/w.f32" || fail "payloads depend on the path form or chunking"
"$AIRMETA" replay "$d/cap" --quiet || fail "replay base name"

# text mode: one line per burst and a summary
"$AIRMETA" replay "$d/cap.sigmf-meta" >"$d/text" || fail "text mode"
grep -q "^6 burst(s) in " "$d/text" || fail "summary line"
[ "$(grep -c '^burst ' "$d/text")" -eq 6 ] || fail "per-burst lines"
"$AIRMETA" replay --help | grep -q "exit status" || fail "--help documents the exit status"
echo PASS
