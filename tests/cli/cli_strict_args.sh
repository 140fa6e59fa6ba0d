#!/bin/bash
# Issue 12 findings 8 and 9: integer flags are decimal (010 is 10, 0x10 refused); a usage error
# goes to stderr with exit 2; what is echoed from arguments, paths and captures is one line with
# control bytes escaped (\n, \x1b).
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_cmd=(sim --quiet --rounds 1)
. "$(dirname "$0")/lib/expect.sh"

# --rounds 010 runs 10 rounds (base 0 read it as octal 8)
"$AIRMETA" sim --quiet --rounds 010 --out "$d/r10" >/dev/null || fail "--rounds 010 refused"
n=$(wc -l <"$d/r10/metrics.jsonl")
[ "$n" -eq 10 ] || fail "--rounds 010 ran $n rounds, expected 10"
echo "ok: --rounds 010 -> $n rounds"
expect 2 "--agents: '0x10' is not a whole number (decimal digits only)" --agents 0x10
expect 2 "--rounds: '0x3' is not a whole number" --rounds 0x3
expect 2 "--seed: '0X1F' is not a whole number" --seed 0X1F
expect 2 "--rounds: '+3' is not a whole number" --rounds +3
expect 2 "--snr-db: '0x10' is not a decimal number" --snr-db 0x10
# a number below the double range is a number (strtod's ERANGE on underflow read as "not a finite
# number"): the range check names it; above the range it is not finite
expect 2 "--rho: 1e-400 is outside 1e-06..1e+06" --rho 1e-400
expect 2 "--rho: '1e400' is not a finite number" --rho 1e400
expect 2 "--g-th: 1e-400 is too small to tell from 0" --g-th 1e-400 # not 0 (no truncation)
# the lists of demo and sweep likewise (0x10 was 16 dB, ' 5' 5 dB, demo's '10,' one value)
expect_cmd=(demo --rounds 1)
expect 2 "--snr-db: '0x10' is not a list of numbers" --snr-db 0x10
expect 2 "--snr-db: '10, 5' is not a list of numbers" --snr-db "10, 5"
expect 2 "--snr-db: unexpected ',' in '10,'" --snr-db 10,
expect_cmd=(sweep --plan "$d/plan")
expect 2 "--snr-db: '0,0x10' is not a comma-separated list" --snr-db 0,0x10
expect 2 "--g-th: ' 1' is not a comma-separated list" --g-th " 1"
expect_cmd=(radio probe --radio loop)
expect 2 "ring='0x1000' is not a whole number" --radio-args ring=0x1000
expect 2 "rate='0x1p20' is not a decimal number" --radio-args rate=0x1p20 # was 1048576 S/s
expect 2 "rate=1e-400 is outside 1..1e+09" --radio-args rate=1e-400 # was 'not a finite number'
# the flags' rules (cli_real): a number that is not 0 read as 0 is refused (freq=1e-400 was 0 Hz)
expect 2 "radio 'loop': freq=1e-400 is too small to tell from 0" --radio-args freq=1e-400
# a bound that %g rounds is printed whole (was "16777217 is outside 1..1.67772e+07": 16777217
# looked inside the range, and --help said [1..1.67772e+07])
expect_cmd=(radio probe --radio zmq)
expect 2 "max_samps=67108865 is outside 1..67108864" --radio-args max_samps=67108865
expect_cmd=(demo --rounds 1)
expect 2 "--payload: 16777217 is outside 1..16777216" --payload 16777217
"$AIRMETA" demo --help | grep -qF -- "[1..16777216]" || fail "demo --help: --payload's range"
expect_cmd=(sweep --plan "$d/plan")
expect 2 "--agents: 1234567 is outside 1..10000" --agents 1234567

# usage errors: stderr, exit 2, nothing on stdout
for args in "bench" "" "sim --rounds"; do
    # shellcheck disable=SC2086
    "$AIRMETA" $args >"$d/out" 2>"$d/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "airmeta $args: exit $rc, expected 2"
    [ -s "$d/out" ] && fail "airmeta $args: usage on stdout: $(head -2 "$d/out")"
    grep -q "usage\|needs a value" "$d/err" || fail "airmeta $args: no usage on stderr"
    echo "ok: airmeta $args -> 2, usage on stderr"
done
"$AIRMETA" bench --help >"$d/out" 2>&1 && grep -q "^usage: airmeta bench" "$d/out" ||
    fail "bench --help"

# one_line FILE WANT: FILE is one line, without raw ESC, and holds WANT (fixed string)
one_line() {
    [ "$(wc -l <"$1")" -le 1 ] || fail "$(wc -l <"$1") lines: $(cat -A "$1")"
    grep -q $'\x1b' "$1" && fail "raw ESC: $(cat -A "$1")"
    grep -qF -- "$2" "$1" || fail "'$2' not in: $(cat -A "$1")"
    echo "ok: $(cat "$1")"
}
# a path with a newline and an escape sequence, in an argument
bad=$'x\n\x1b[31my'
"$AIRMETA" replay "$d/$bad.sigmf-meta" >/dev/null 2>"$d/err"
[ $? -eq 4 ] || fail "replay of a missing capture"
one_line "$d/err" 'x\n\x1b[31my.sigmf-meta'
"$AIRMETA" $'no\x1bcmd' 2>&1 >/dev/null | head -1 >"$d/err"
one_line "$d/err" "unknown command 'no\\x1bcmd'"
expect_cmd=(sim --quiet --rounds 1)
"$AIRMETA" sim --agg $'st\x1b[2Jat' 2>"$d/err" >/dev/null
one_line "$d/err" "--agg: 'st\\x1b[2Jat' is not one of"

# strings inside a capture: core:version and an unknown key with a newline and ESC
cp "$AM_SOURCE_DIR/captures/one_clean.sigmf-meta" "$d/v.sigmf-meta"
cp "$AM_SOURCE_DIR/captures/one_clean.sigmf-data" "$d/v.sigmf-data"
sed -i 's/"core:version":[^,]*,/"core:version": "1\\u001b[2J\\n.0",/' "$d/v.sigmf-meta"
"$AIRMETA" replay "$d/v.sigmf-meta" >/dev/null 2>"$d/err"
[ $? -eq 3 ] || fail "bad core:version accepted"
one_line "$d/err" "core:version '1\\x1b[2J\\n.0' is not X.Y.Z"
cp "$AM_SOURCE_DIR/captures/one_clean.sigmf-meta" "$d/k.sigmf-meta"
cp "$AM_SOURCE_DIR/captures/one_clean.sigmf-data" "$d/k.sigmf-data"
sed -i 's/"core:version":/"airmeta:x\\ny\\u001b": 1, "core:version":/' "$d/k.sigmf-meta"
"$AIRMETA" replay "$d/k.sigmf-meta" >/dev/null 2>"$d/err"
[ $? -eq 3 ] || fail "unknown key accepted"
one_line "$d/err" "unknown key airmeta:x\\ny\\x1b"
echo PASS
