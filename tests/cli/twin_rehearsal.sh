#!/bin/bash
# The on-air run rehearsed on B210 twins (fpga-notes/uhd-twin.md "Rehearsal", issue 11 Proof 1
# in part): airmeta-twin-air, then `airmeta-twin server` and two `airmeta-twin agent` processes
# with the hardware command lines (--radio uhd, GPSDO time), host/radio/uhd.c unchanged on the
# twins. Every round is decoded with both agents heard, each agent applies every round, its
# beacon SNR is the closed-form link budget (+0.25 dB link, -31 dBFS noise: 31.25 dB per sample;
# the agent's SNR is per used bin, |h|^2 over the preamble's noise bins, and the beacon's power
# sits on n_used = 204 of the M = 256 bins: +10 lg(256 / 204) = +0.99 dB, 32.24 dB), and the
# rounds follow one another at one tick spacing (virtual time: the agents' burst ticks are equally
# spaced within 10 ticks, whatever the host's load).
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
    # beacon SNR within 1.5 dB of the closed form 32.24 dB (measured 32.1-33.2 here, 31.7-33.1
    # with profile=ideal, mean 32.3, with and without --beacon-reps 16: the preamble's 204 noise
    # bins give N0 within 0.3 dB rms; b210-shared-ref's chain draws about +0.2 dB. The bound was
    # 31.25 +-2 before the +0.99 dB term, which readings of 33.4 crossed)
    awk -v k=$k '/beacon SNR/ { for (i = 1; i <= NF; i++) if ($i == "SNR") s = $(i + 1);
        if (s < 30.74 || s > 33.74) { print "agent " k ": SNR " s; bad = 1 } }
        END { exit bad }' "$out/agent$k.log" || fail "beacon SNR off the link budget"
    # the burst ticks: one spacing within 10 ticks (T moves when the radios wait, not with the
    # host's clock, which would scatter them by milliseconds; measured: 360145, and with 3 agents
    # 360145 with the beacon's 16 training blocks and with none: the turnaround of 100 000
    # samples paces the round, not the beacon; 354083 or 359876-359877 on earlier code)
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
