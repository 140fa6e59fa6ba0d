#!/bin/bash
# airmeta replay on bad captures: each case exits with its documented non-zero code and a message
# naming the key or file; never a crash (the ASan build runs this too). Exit codes: 1 no burst,
# 2 usage, 3 malformed, 4 missing file / I/O, 7 unsupported.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$AIRMETA" demo --agents 2 --rounds 2 --snr-db 20 --payload 300 --json --capture "$d/good" \
    >/dev/null 2>"$d/err" || { cat "$d/err"; fail "demo --capture"; }
"$AIRMETA" replay "$d/good.sigmf-meta" --quiet || fail "good capture refused"
n=$(stat -c %s "$d/good.sigmf-data")

# mk NAME: a copy of the good capture
mk() { cp "$d/good.sigmf-meta" "$d/$1.sigmf-meta"; cp "$d/good.sigmf-data" "$d/$1.sigmf-data"; }
# expect NAME CODE WORDS...: replay exits CODE and stderr holds every word
expect() {
    local name=$1 code=$2
    shift 2
    "$AIRMETA" replay "$d/$name.sigmf-meta" --out "$d/$name.f32" >"$d/out" 2>"$d/err"
    local rc=$?
    echo "$name: exit $rc: $(cat "$d/err")"
    [ "$rc" -eq "$code" ] || fail "$name: exit $rc, expected $code"
    for w in "$@"; do grep -qF -- "$w" "$d/err" || fail "$name: message lacks '$w'"; done
    [ -e "$d/$name.f32" ] && fail "$name: output written"
    return 0
}
# metaset NAME SED-EXPR: edit the copy's JSON text (cJSON writes one key per line)
metaset() { mk "$1"; sed -i "$2" "$d/$1.sigmf-meta"; }
# poke NAME OFFSET BYTES: overwrite bytes of the copy's data file
poke() { printf "$3" | dd of="$d/$1.sigmf-data" bs=1 seek="$2" conv=notrunc status=none; }

metaset nodtype '/"core:datatype"/d';          expect nodtype 3 "missing key core:datatype"
metaset nolen '/"airmeta:payload_len"/d';      expect nolen 3 "missing key airmeta:payload_len"
metaset noscale '/"airmeta:scale"/d';          expect noscale 3 "airmeta:scale"
metaset noext '/"core:extensions"/,/}]/d';     expect noext 3 "core:extensions"
metaset ri16 's/"cf32_le"/"ri16_le"/';         expect ri16 7 "core:datatype" "ri16_le"
metaset chans 's/"core:num_channels":.*/"core:num_channels": 2,/'
expect chans 7 "core:num_channels is 2"
metaset strlen 's/"airmeta:payload_len":.*/"airmeta:payload_len": "300",/'
expect strlen 3 "airmeta:payload_len is a string"
metaset bigfft 's/"airmeta:fft_size":.*/"airmeta:fft_size": 8192,/'
expect bigfft 3 "airmeta:fft_size" "8192"
metaset hugelen 's/"airmeta:payload_len":.*/"airmeta:payload_len": 1e15,/'
expect hugelen 3 "airmeta:payload_len"
metaset tinyscale 's/"airmeta:scale":.*/"airmeta:scale": 1e-300,/' # was '0 is not positive'
expect tinyscale 3 "airmeta:scale: 1e-300 is out of float range"
metaset rate0 's/"core:sample_rate":.*/"core:sample_rate": 0,/'
expect rate0 3 "core:sample_rate"
metaset ver3 's/"airmeta:version":.*/"airmeta:version": 3,/'
expect ver3 7 "airmeta:version 3" "versions 1..2"
# docs/air-interface.md §7.2: version 2 (same bytes without version-2 keys) replays identically
metaset ver2 's/"airmeta:version":.*/"airmeta:version": 2,/'
"$AIRMETA" replay "$d/good.sigmf-meta" --json --out "$d/good.f32" >"$d/good.jsonl" ||
    fail "good capture: replay exit $?"
"$AIRMETA" replay "$d/ver2.sigmf-meta" --json --out "$d/ver2.f32" >"$d/ver2.jsonl" ||
    fail "version-2 capture refused: exit $?"
cmp "$d/good.f32" "$d/ver2.f32" || fail "version 2 decoded differently from version 1"
[ "$(grep -c start "$d/ver2.jsonl")" -ge 2 ] || fail "version 2: $(cat "$d/ver2.jsonl")"
echo "ver2: same payloads as version 1"
# version-2 keys: a device tick changes nothing; cal_slots makes every burst Nc blocks longer
metaset tick 's/"airmeta:version":.*/"airmeta:version": 2,/;s/"core:sample_start":\t0$/"core:sample_start": 0, "airmeta:device_tick": 77/'
grep -q '"airmeta:device_tick": 77' "$d/tick.sigmf-meta" || fail "tick: edit did not apply"
"$AIRMETA" replay "$d/tick.sigmf-meta" --json --out "$d/tick.f32" >/dev/null ||
    fail "capture with airmeta:device_tick refused: exit $?"
cmp "$d/good.f32" "$d/tick.f32" || fail "airmeta:device_tick changed the decode"
# a capture without calibration blocks relabelled with 3 slots: its bursts are a block short of
# what the receiver now decodes (tests/host/agg_iq_cal.c: calibrated captures replay bit for bit)
metaset cal 's/"airmeta:version":.*/"airmeta:version": 2, "airmeta:cal_slots": 3,/'
expect cal 3 "core:sample_count 1152 is shorter than a burst"
metaset cp0 's/"airmeta:cp_len":.*/"airmeta:cp_len": 0,/'
expect cp0 3 "airmeta:cp_len"
# payload_len too large for the annotated bursts (issue 12 finding 11): noise was decoded before
metaset plen 's/"airmeta:payload_len":.*/"airmeta:payload_len": 3000,/'
expect plen 3 "annotations[0]: core:sample_count 1152 is shorter than a burst of airmeta:payload_len 3000 reals (3456 samples"
metaset count '0,/"core:sample_count":[[:space:]]*1152/s//"core:sample_count": 1151/' # 4 x 288
expect count 3 "annotations[0]: core:sample_count 1151 is shorter than a burst of airmeta:payload_len 300 reals (1152 samples"

mk notjson; echo "this is not { json" >"$d/notjson.sigmf-meta"; expect notjson 3 "not JSON"
mk emptymeta; : >"$d/emptymeta.sigmf-meta"; expect emptymeta 3 "not JSON"

mk short; truncate -s $((n / 2)) "$d/short.sigmf-data"
expect short 3 "shorter than declared" "short.sigmf-meta"
mk odd; truncate -s $((n - 3)) "$d/odd.sigmf-data"; expect odd 3 "whole number of" "odd.sigmf-data"
mk nan; poke nan $((100 * 8)) '\x00\x00\xc0\x7f'; expect nan 3 "sample 100 is not finite"
mk inf; poke inf $((7 * 8 + 4)) '\x00\x00\x80\xff'; expect inf 3 "sample 7 is not finite"
# finite samples near the float32 range (2 samples of 3e38 in S0a, 2 in S0b of a loopback burst):
# the receiver's sums overflow; the NaN payloads were written to --out (4096 and 3916 of 4096)
"$AIRMETA" loopback --out "$d/lb" --bursts 1 --seed 1 >/dev/null || fail "loopback"
for off in 100 436; do
    cp "$d/lb.sigmf-meta" "$d/big$off.sigmf-meta"; cp "$d/lb.sigmf-data" "$d/big$off.sigmf-data"
    poke "big$off" $(((864 + off) * 8)) '\xe6\xb1\x61\x7f\xe6\xb1\x61\x7f\xe6\xb1\x61\x7f\xe6\xb1\x61\x7f'
    expect "big$off" 3 "payload reals decode to NaN/Inf" "capture refused"
done
mk nodata; rm "$d/nodata.sigmf-data"; expect nodata 4 "nodata.sigmf-data" "cannot open"
mk huge; truncate -s 80G "$d/huge.sigmf-data" 2>/dev/null && expect huge 3 "cap"
rm -f "$d/huge.sigmf-data"
expect absent 4 "absent.sigmf-meta"

# zeros instead of samples: a valid capture without a burst -> exit 1, no output
mk zeros; head -c "$n" /dev/zero >"$d/zeros.sigmf-data"; expect zeros 1 "no burst found"

# the official SigMF example (ri16_le, 2 channels): refused naming the property
cp "$AM_SOURCE_DIR/tests/data/sigmf/sigmf_logo.sigmf-meta" "$d/logo.sigmf-meta"
expect logo 7 "ri16_le"

# usage errors: exit 2
"$AIRMETA" replay 2>/dev/null; [ $? -eq 2 ] || fail "no argument"
"$AIRMETA" replay "$d/good.sigmf-meta" --threshold 2 2>"$d/err"; [ $? -eq 2 ] || fail "--threshold 2"
grep -q -- "--threshold" "$d/err" || fail "threshold message"
"$AIRMETA" replay "$d/good.sigmf-meta" --colour 2>/dev/null; [ $? -eq 2 ] || fail "unknown flag"
"$AIRMETA" replay a b 2>/dev/null; [ $? -eq 2 ] || fail "two captures"
# --out one of the capture's own files (by its name, a link, a hard link): refused before a byte
# is written (the payloads replaced the samples, exit 0, the recording lost)
mk self
ln -s "$d/self.sigmf-data" "$d/link.f32"
ln "$d/self.sigmf-meta" "$d/hard.f32"
for o in "$d/self.sigmf-data" "$d/link.f32" "$d/self.sigmf-meta" "$d/hard.f32"; do
    w=data
    case $o in *meta | *hard.f32) w=meta ;; esac
    "$AIRMETA" replay "$d/self" --out "$o" --quiet 2>"$d/err"
    rc=$?
    [ $rc -eq 2 ] || fail "--out $o: exit $rc, expected 2"
    grep -qF -- "--out $o is the capture's own $d/self.sigmf-$w: the payloads would replace it" \
        "$d/err" || fail "--out $o: message $(cat "$d/err")"
    cmp -s "$d/self.sigmf-data" "$d/good.sigmf-data" && cmp -s "$d/self.sigmf-meta" \
        "$d/good.sigmf-meta" || fail "--out $o: the capture was changed"
    echo "ok: --out $o -> 2: $(cat "$d/err")"
done
echo PASS
