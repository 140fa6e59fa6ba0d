#!/bin/bash
# airmeta radio probe --radio uhd without a USRP: non-zero exit (5, device error), a message
# saying "no USRP" with the args tried, no crash and no sanitizer report (issue 4 "Proof").
set -u
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$AIRMETA" radio probe --radio uhd --radio-args "type=b200,serial=AIRMETA-NONE-0,rate=1e6,tx_gain=60,rx_gain=40" \
    >"$out/stdout" 2>"$out/stderr"
rc=$?
cat "$out/stderr"
if [ "$rc" -eq 0 ]; then echo "FAIL: exit 0 without a device"; exit 1; fi
if [ "$rc" -ge 128 ]; then echo "FAIL: killed by a signal ($rc)"; exit 1; fi
if [ "$rc" -ne 5 ]; then echo "FAIL: exit $rc, expected 5 (device error)"; exit 1; fi
grep -q "no USRP found for args 'type=b200,serial=AIRMETA-NONE-0,master_clock_rate=32000000'" "$out/stderr" ||
    { echo "FAIL: message lacks 'no USRP' and the args"; exit 1; }
if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Aborted" "$out/stderr"; then
    echo "FAIL: crash or sanitizer report"; exit 1
fi
# bad arguments are refused before UHD is touched: exit 2 naming the key
"$AIRMETA" radio probe --radio uhd --radio-args "clock=rubidium" 2>"$out/stderr2"
rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: bad clock exit $rc"; exit 1; }
grep -q "clock='rubidium' is not one of internal|external|gpsdo" "$out/stderr2" ||
    { cat "$out/stderr2"; echo "FAIL: bad clock message"; exit 1; }
echo PASS
