#!/bin/bash
# airmeta sim --resume refuses a damaged run folder with a clear message naming the file and a
# non-zero exit, never a crash: truncated checkpoint, a flipped bit in its state (CRC) or header,
# wrong magic, a checkpoint of another run (other K = other dimensions; other SNR = other
# configuration), config.json broken, with an unknown flag, with a value out of range, a
# metrics.jsonl short of the checkpoint's rounds or with a line of more than 1 MiB; and it leaves
# metrics.jsonl alone then. A checkpoint file is never seen half-written: no temporary
# file stays in the folder (host/run/checkpoint.c writes temp + fsync + rename; the concurrency test
# is tests/host/checkpoint.c).
set -u
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
args=(--agg stat --agents 5 --rounds 20 --tasks-per-agent 2 --eval-every 20 --eval-tasks 20
      --seed 3 --checkpoint-every 10 --quiet --no-plots)
"$AIRMETA" sim "${args[@]}" --out "$d/good" --stop-after 15 2>/dev/null
[ $? -eq 137 ] || fail "--stop-after 15"
"$AIRMETA" sim "${args[@]}" --agents 6 --out "$d/k6" --stop-after 10 2>/dev/null
"$AIRMETA" sim "${args[@]}" --snr-db 11 --out "$d/snr11" --stop-after 10 2>/dev/null
ls "$d/good" | grep -q 'tmp' && fail "temporary file left in the run folder: $(ls "$d/good")"
size=$(stat -c %s "$d/good/checkpoint.bin")

# expect NAME CODE PATTERN: make $d/NAME a damaged copy first
expect() {
    local name=$1 code=$2 pat=$3
    cp "$d/$name/metrics.jsonl" "$d/m0"
    "$AIRMETA" sim --resume "$d/$name" --quiet --no-plots 2>"$d/err" >/dev/null
    local rc=$?
    [ $rc -eq "$code" ] || fail "$name: exit $rc, expected $code ($(cat "$d/err"))"
    grep -q -- "$pat" "$d/err" || fail "$name: message '$(cat "$d/err")' lacks '$pat'"
    cmp -s "$d/m0" "$d/$name/metrics.jsonl" || fail "$name: metrics.jsonl was changed"
    echo "ok: $name -> $rc: $(cat "$d/err")"
}
copy() { cp -r "$d/good" "$d/$1"; }
flip() { # flip FILE OFFSET: xor one byte with 0x04
    local b
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 4)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

copy trunc
head -c $((size - 7)) "$d/good/checkpoint.bin" >"$d/trunc/checkpoint.bin"
expect trunc 3 "trunc/checkpoint.bin: truncated"
copy trunc_hdr
head -c 40 "$d/good/checkpoint.bin" >"$d/trunc_hdr/checkpoint.bin"
expect trunc_hdr 3 "trunc_hdr/checkpoint.bin: truncated"
copy flip_state
flip "$d/flip_state/checkpoint.bin" $((size - 100))
expect flip_state 3 "flip_state/checkpoint.bin: state CRC mismatch"
copy flip_hdr
flip "$d/flip_hdr/checkpoint.bin" 20
expect flip_hdr 3 "flip_hdr/checkpoint.bin: header CRC mismatch"
copy magic
printf 'XXXXXXXX' | dd of="$d/magic/checkpoint.bin" bs=1 seek=0 conv=notrunc 2>/dev/null
expect magic 3 "magic/checkpoint.bin: not an airmeta checkpoint"
copy dims
cp "$d/k6/checkpoint.bin" "$d/dims/checkpoint.bin"
expect dims 3 "dims/checkpoint.bin: made for 6 agents"
copy other
cp "$d/snr11/checkpoint.bin" "$d/other/checkpoint.bin"
expect other 3 "other/checkpoint.bin: made by another configuration"
# a state blob 4 bytes short (or long) with both CRCs made right: the size is named, as the
# server's (it was 'checkpoint DIR: sim.c:865: 91928 bytes')
recrc() { # recrc FILE DELTA: the state DELTA bytes longer (negative: cut), CRCs and n rewritten
    python3 - "$1" "$2" <<'PY'
import struct, sys, zlib
p, k = sys.argv[1], int(sys.argv[2])
b = open(p, 'rb').read()
h, st = bytearray(b[:64]), b[64:]
st = st[:len(st) + k] if k < 0 else st + bytes(k)
struct.pack_into('<Q', h, 32, len(st))
struct.pack_into('<I', h, 52, zlib.crc32(st))
struct.pack_into('<I', h, 60, zlib.crc32(bytes(h[:60])))
open(p, 'wb').write(bytes(h) + st)
PY
}
copy short_state
recrc "$d/short_state/checkpoint.bin" -4
expect short_state 3 "short_state/checkpoint.bin: a state of $((size - 68)) bytes, this run's is $((size - 64))"
copy cfg_json
head -c 100 "$d/good/config.json" >"$d/cfg_json/config.json"
expect cfg_json 3 "cfg_json/config.json: not valid JSON"
# a string with the escape \u0000: cJSON ends it there ("stat\u0000x" was read as "stat", the
# run resumed with a value the file does not say)
copy cfg_nul
sed -i 's/"agg":[[:space:]]*"stat"/"agg": "stat\\u0000x"/' "$d/cfg_nul/config.json"
grep -q 'stat\\u0000x' "$d/cfg_nul/config.json" || fail "cfg_nul: sed"
expect cfg_nul 3 'cfg_nul/config.json: a string holds \\u0000 (a NUL) at byte'
copy cfg_flag
sed -i 's/"heterogeneity":/"heterogenity":/' "$d/cfg_flag/config.json"
expect cfg_flag 3 'cfg_flag/config.json: unknown flag "heterogenity"'
copy cfg_range
sed -i 's/"agents":[[:space:]]*5,/"agents": -5,/' "$d/cfg_range/config.json"
expect cfg_range 3 "cfg_range/config.json"
copy cfg_missing
sed -i '/"rho":/d' "$d/cfg_missing/config.json"
expect cfg_missing 3 "cfg_missing/config.json: no value for --rho"
copy metrics_short
head -n 4 "$d/good/metrics.jsonl" >"$d/metrics_short/metrics.jsonl"
expect metrics_short 3 "metrics_short/metrics.jsonl: holds 4 complete rounds, the checkpoint is at round 10"
# a line longer than any a run writes is not read whole (a gigabyte one without a newline was):
# 2 MiB without one after round 4, and with one as round 3's line (FS_JSONL_LINE_MAX: 1 MiB)
copy metrics_long
{ head -n 4 "$d/good/metrics.jsonl"; head -c 2097152 /dev/zero | tr '\0' 7; } \
    >"$d/metrics_long/metrics.jsonl"
expect metrics_long 3 "metrics_long/metrics.jsonl:5: a line of more than 1048576 bytes"
[ "$(wc -l <"$d/err")" -eq 1 ] || fail "metrics_long: not one line: $(cat "$d/err")"
copy metrics_long_nl
{ head -n 2 "$d/good/metrics.jsonl"; head -c 2097152 /dev/zero | tr '\0' ' '; echo;
  sed -n '3,$p' "$d/good/metrics.jsonl"; } >"$d/metrics_long_nl/metrics.jsonl"
expect metrics_long_nl 3 "metrics_long_nl/metrics.jsonl:3: a line of more than 1048576 bytes"

# the undamaged folder still resumes
"$AIRMETA" sim --resume "$d/good" --quiet --no-plots || fail "good folder: exit $?"
[ "$(wc -l <"$d/good/metrics.jsonl")" -eq 20 ] || fail "good folder: rounds"
echo PASS
