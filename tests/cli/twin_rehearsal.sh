#!/bin/bash
# The on-air run rehearsed on B210 twins (fpga-notes/uhd-twin.md "Rehearsal", issue 11 Proof 1
# in part): airmeta-twin-air, then `airmeta-twin server` and two `airmeta-twin agent` processes
# with the hardware command lines (--radio uhd, GPSDO time), host/radio/uhd.c unchanged on the
# twins. Every round is decoded with both agents heard, each agent applies every round, its
# beacon SNR is the closed-form link budget (+0.25 dB link, -31 dBFS noise: 31.25 dB; measured
# 30.4-31.9), and the rounds follow one another at one tick spacing (virtual time: the agents'
# burst ticks are equally spaced within 10 ticks, whatever the host's load).
set -u
. "$AM_SOURCE_DIR/tests/cli/lib/net.sh"
. "$AM_SOURCE_DIR/tests/cli/lib/twin.sh"
start_air "$out" "$out/air.log"
export AIRMETA_TWIN="air=ipc://$out/air,profile=b210-shared-ref,gpsdo=yes"
RA="type=b200,rate=1e6,freq=915e6,tx_gain=72,rx_gain=48,clock=gpsdo,time=gpsdo"
R=4
start_server 53 4507 --insecure --agents 2 --rounds $R --join-timeout 60 --radio uhd \
    --radio-args "$RA,serial=S" --out "$out/run"
apids=()
for k in 0 1; do
    "$AIRMETA" agent --insecure --id $k --server "$ep" --timeout 60 --radio uhd \
        --radio-args "$RA,serial=A$k" >"$out/agent$k.log" 2>&1 &
    apids+=($!)
    pids+=($!)
done
wait_for "$spid" 240
rc=$?
[ "$rc" -eq 0 ] || fail "server exit $rc"
for k in 0 1; do
    wait_for "${apids[$k]}" 60
    rc=$?
    [ "$rc" -eq 0 ] || fail "agent $k exit $rc"
done
grep -q "server: done: $R rounds, $R decoded" "$out/server.log" || fail "not every round decoded"
[ "$(grep -c "agents 2/2 .* decoded" "$out/server.log")" -eq $R ] || fail "an agent not heard"
for k in 0 1; do
    grep -q "agent $k: done: $R rounds, $R applied" "$out/agent$k.log" || fail "agent $k"
    # beacon SNR within 2 dB of the closed form 31.25 dB
    awk -v k=$k '/beacon SNR/ { for (i = 1; i <= NF; i++) if ($i == "SNR") s = $(i + 1);
        if (s < 29.25 || s > 33.25) { print "agent " k ": SNR " s; bad = 1 } }
        END { exit bad }' "$out/agent$k.log" || fail "beacon SNR off the link budget"
    # the burst ticks: one spacing within 10 ticks (T moves when the radios wait, not with the
    # host's clock, which would scatter them by milliseconds; measured: 354083 or 359876-359877)
    awk '/on air at tick/ { n++; t[n] = $NF } END {
        if (n < 3) exit 1
        d = t[2] - t[1]; for (i = 3; i <= n; i++) if (t[i] - t[i - 1] - d > 10 ||
                                                       d - (t[i] - t[i - 1]) > 10) exit 1 }' \
        "$out/agent$k.log" || fail "agent $k: burst ticks not equally spaced"
done
if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$out"/*.log; then
    fail "sanitizer report"
fi
echo PASS
