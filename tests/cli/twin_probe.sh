#!/bin/bash
# airmeta-twin (host/radio/uhd.c unchanged, linked against the B210 twin, fpga-notes/uhd-twin.md):
# `radio probe --radio uhd` opens a B210 twin and prints what a B210 reports; with a shared
# reference and PPS (sync=pps) the device time is this host's UTC second, set at a PPS edge and
# checked at the next; the faults a real radio shows come back as uhd.c's one-line errors with
# exit 5: a PPS that never comes, a reference that never locks, a time a whole second off, a
# device type that is not there; gains missing is exit 2.
set -u
. "$AM_SOURCE_DIR/tests/cli/lib/need.sh"
if [ -z "${AM_TWIN_PROG:-}" ]; then
    [ "${CI:-}" = true ] && { echo "FAIL: airmeta-twin not built (libuhd-dev missing?)"; exit 1; }
    echo "SKIPPED: airmeta-twin not built (no <uhd.h>)"; exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
crash() {
    if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Aborted" "$1"; then
        cat "$1"; echo "FAIL: crash or sanitizer report"; exit 1
    fi
}

AIRMETA_TWIN=profile=b210-shared-ref "$AM_TWIN_PROG" radio probe --radio uhd \
    --radio-args "rate=1e6,freq=915e6,tx_gain=60,rx_gain=40" >"$out/o1" 2>"$out/e1"
rc=$?
cat "$out/o1" "$out/e1"; crash "$out/e1"
[ "$rc" -eq 0 ] || { echo "FAIL: probe exit $rc"; exit 1; }
for l in "backend: uhd" "device: USRP B210 (args 'type=b200,master_clock_rate=32000000', channel 0)" \
    "rate: 1000000 S/s" \
    "tx_freq: 915000000 Hz" "tx_gain: 60 dB" "rx_gain: 40 dB" "master_clock: 32000000 Hz"; do
    grep -qF "$l" "$out/o1" || { echo "FAIL: no '$l'"; exit 1; }
done

# shared 10 MHz and PPS: this host's UTC second set at a PPS edge (the twin's external PPS falls on
# the host's seconds while nothing streams), checked at the next edge: the device time printed is
# the host's time within half a second (a wrong second would be 1 s off)
AIRMETA_TWIN=profile=ideal "$AM_TWIN_PROG" radio probe --radio uhd \
    --radio-args "clock=external,time=external,sync=pps,tx_gain=0,rx_gain=0" >"$out/o2" 2>"$out/e2"
rc=$?
host=$(date +%s.%N)
crash "$out/e2"
[ "$rc" -eq 0 ] || { cat "$out/e2"; echo "FAIL: sync=pps exit $rc"; exit 1; }
awk -v h="$host" '/^time: / { split($2, p, "+"); d = p[1] + p[2] - h; if (d < 0) d = -d;
    ok = d < 0.5 } END { exit !ok }' "$out/o2" ||
    { cat "$out/o2"; echo "FAIL: time after sync=pps is not this host's UTC time"; exit 1; }

expect_fail() { # env, args, message
    AIRMETA_TWIN=$1 "$AM_TWIN_PROG" radio probe --radio uhd --radio-args "$2" >/dev/null \
        2>"$out/e3"
    rc=$?
    crash "$out/e3"
    [ "$rc" -eq 5 ] || { cat "$out/e3"; echo "FAIL: exit $rc for '$1' '$2', expected 5"; exit 1; }
    [ "$(wc -l <"$out/e3")" -eq 1 ] || { cat "$out/e3"; echo "FAIL: not one line"; exit 1; }
    grep -qF "$3" "$out/e3" || { cat "$out/e3"; echo "FAIL: no '$3'"; exit 1; }
}
G=tx_gain=0,rx_gain=0
expect_fail pps=none "time=external,$G" "no PPS edge seen in 1.2 s (is the PPS connected, time=external?)"
expect_fail ref=unlocked "clock=external,lock_timeout=0.2,$G" \
    "reference not locked after 0.2 s with clock=external"
expect_fail gpsdo=yes,time_offset=-1 "clock=gpsdo,time=gpsdo,$G" \
    "but the GPSDO says"
expect_fail profile=ideal "type=x300,$G" "no USRP found for args 'type=x300"
expect_fail profile=nonesuch "$G" "AIRMETA_TWIN profile='nonesuch' is not one of"
# numbers are decimal (strtod took seed=0x10 as 16, rate=0x1000 as 4096, ' 5' as 5); a key is
# given once (seed=5,seed=6 took 6)
expect_fail seed=0x10 "$G" "AIRMETA_TWIN seed='0x10' is not valid"
expect_fail "late= 5" "$G" "AIRMETA_TWIN late=' 5' is not valid"
expect_fail seed=5,seed=6 "$G" "AIRMETA_TWIN key 'seed' given twice"
# out of range: refused naming the key and what it takes, ranged before the cast to an integer
# (a cast of -5 or 1e300 to unsigned is undefined: build-asan's float-cast-overflow aborted there)
expect_fail seed=-5 "$G" "AIRMETA_TWIN seed='-5' is not valid: want a whole number 0..9e15"
expect_fail underflow=1e300 "$G" \
    "AIRMETA_TWIN underflow='1e300' is not valid: want a whole number 1..1000000"
expect_fail late=0.5 "$G" "AIRMETA_TWIN late='0.5' is not valid: want a whole number 1..1000000"
expect_fail rate=1e300 "$G" \
    "AIRMETA_TWIN rate='1e300' is not valid: want a whole number of samples/s 1000..61440000"
AIRMETA_TWIN=profile=ideal "$AM_TWIN_PROG" radio probe --radio uhd --radio-args "rx_gain=3" \
    >/dev/null 2>"$out/e4"
rc=$?
[ "$rc" -eq 2 ] && grep -qF "tx_gain is required" "$out/e4" ||
    { cat "$out/e4"; echo "FAIL: gains missing: exit $rc"; exit 1; }
echo PASS
