#!/bin/bash
# Issue 11 "Proof", the fault tests on B210 twins (fpga-notes/uhd-twin.md "Faults"): a server and
# two agents over --radio uhd (GPSDO time, b210-shared-ref, virtual paced time) run 20 rounds while
#  * three more agents cannot open their radios: a time a whole second off (time_offset=-1), a PPS
#    that never comes (pps=none, time=external), a reference that never locks (ref=unlocked,
#    clock=external): each says so in one line and exits 5, the run goes on without them;
#  * agent 1's every 3rd burst reaches its radio late (late=3): dropped whole and counted once
#    (its one line says "late 1"), the round decodes agent 0's burst; the twin counts every burst,
#    the two calibration probes before round 1 (docs/air-interface.md §8.5) too, so its 3rd burst
#    is round 1's (0-based 0);
#  * agent 0's every 4th burst underflows after its first packet (underflow=4): one line with
#    "underflows 1", the run goes on;
#  * agent 1 is killed (kill -9) after its round 5 and started again with the same --id on a new
#    twin: it joins again (its radio's time checked like the others'), is probed again (§8.5:
#    the server cannot know its calibration) and applies rounds after that; the server goes on
#    with agent 0 meanwhile;
#  * the new agent 1's every 2nd burst loses a packet between host and device (seq=2; its bursts
#    are two USB packets, the first is lost: EVENT_CODE_SEQ_ERROR, nothing on air): one line with
#    "sequence errors 1" for each, counted once, that round not applied, the run goes on.
# Every round ends decoded; every fault is one line; no crash, no sanitizer report.
set -u
. "$AM_SOURCE_DIR/tests/cli/lib/net.sh"
. "$AM_SOURCE_DIR/tests/cli/lib/twin.sh"
start_air "$out" "$out/air.log"
TW="air=ipc://$out/air,profile=b210-shared-ref,gpsdo=yes"
RA="type=b200,rate=1e6,freq=915e6,tx_gain=72,rx_gain=48"
GPS="clock=gpsdo,time=gpsdo"
R=20
AIRMETA_TWIN=$TW start_server 59 4513 --insecure --agents 2 --rounds $R --join-timeout 60 \
    --radio uhd --radio-args "$RA,$GPS,serial=S" --out "$out/run"
agent() { # id, extra AIRMETA_TWIN keys, radio args, log
    AIRMETA_TWIN="$TW$2" "$AIRMETA" agent --insecure --id "$1" --server "$ep" --timeout 60 \
        --radio uhd --radio-args "$RA,$3" >"$out/$4.out" 2>"$out/$4.err" &
}
agent 0 ",underflow=4" "$GPS,serial=A0" a0; a0=$!; pids+=($a0)
agent 1 ",late=3" "$GPS,serial=A1" a1; a1=$!; pids+=($a1)
# the radios that must be refused, while the run goes on
agent 7 ",time_offset=-1" "$GPS,serial=F1" f1; f1=$!; pids+=($f1)
agent 8 ",pps=none" "clock=external,time=external,serial=F2" f2; f2=$!; pids+=($f2)
agent 9 ",ref=unlocked" "clock=external,time=external,lock_timeout=0.5,serial=F3" f3; f3=$!
pids+=($f3)
k=0
for spec in "f1:device time .* but the GPSDO says .* (-1 s): this radio's time disagrees (sync=gps), refused" \
    "f2:no PPS edge seen in 1.2 s (is the PPS connected, time=external?)" \
    "f3:reference not locked after 0.5 s with clock=external"; do
    f=${spec%%:*}; msg=${spec#*:}
    pid=$(eval echo "\$$f")
    wait_for "$pid" 60
    rc=$?
    [ "$rc" -eq 5 ] || fail "$f: exit $rc, expected 5"
    sed -i '/WARNING: --insecure/d' "$out/$f.err"
    [ "$(wc -l <"$out/$f.err")" -eq 1 ] || { cat "$out/$f.err"; fail "$f: not one line"; }
    grep -q "^airmeta agent: .*radio 'uhd': $msg" "$out/$f.err" ||
        { cat "$out/$f.err"; fail "$f: no '$msg'"; }
    k=$((k + 1))
done
# agent 1 killed after its round 5 (0-based round 4 in its log), started again as a new twin
for i in $(seq 1 600); do grep -q "agent 1: round 4:" "$out/a1.out" && break; sleep 0.1; done
grep -q "agent 1: round 4:" "$out/a1.out" || fail "agent 1 never reached round 5"
kill -9 "$a1"
wait "$a1" 2>/dev/null
agent 1 ",seq=2" "$GPS,serial=A1b" a1b; a1b=$!; pids+=($a1b)
wait_for "$spid" 240
rc=$?
[ "$rc" -eq 0 ] || fail "server exit $rc"
for p in $a0 $a1b; do
    wait_for "$p" 60
    rc=$?
    [ "$rc" -eq 0 ] || fail "agent (pid $p) exit $rc"
done
grep -q "server: done: $R rounds, $R decoded" "$out/server.log" || fail "not every round decoded"
# agent 0: its 4th, 8th, ... burst underflowed: one line each, counted once, nothing late
[ "$(grep -c "burst not sent: .*late 0, underflows 1, sequence errors 0" "$out/a0.err")" -eq \
    $((R / 4)) ] || fail "agent 0: not one underflow line per 4th round"
[ "$(grep -c "burst not sent" "$out/a0.err")" -eq $((R / 4)) ] || fail "agent 0: other faults"
grep -q "agent 0: done: $R rounds, $((R - R / 4)) applied, $((R / 4)) not applied" "$out/a0.out" ||
    fail "agent 0: applied rounds"
# agent 1: its 3rd burst (after its two probes) late: dropped whole and counted once (late 1, not
# an ack as well)
[ "$(grep -c "agent 1: probe before round 0: .*on air" "$out/a1.out")" -eq 2 ] ||
    fail "agent 1: not two probes before round 1"
grep -q "agent 1: round 0: burst not sent: .*late 1, underflows 0, sequence errors 0" \
    "$out/a1.err" || fail "agent 1: no late line for its 3rd burst"
grep "burst not sent" "$out/a1.err" | grep -qv "late 1, underflows 0" && fail "agent 1: late != 1"
grep -q "agent 1: round 0 not applied" "$out/a1.out" || fail "agent 1: late round applied"
# agent 1 again: joined, probed again (two probes before its first round), applied rounds, and the
# server heard two agents again
grep -q "agent 1: joined" "$out/a1b.out" || fail "agent 1 did not join again"
sed -n '/agent 1 rejoined/,$p' "$out/server.log" | grep -q "calibration probe 2 of 2 before round" ||
    fail "the server did not probe agent 1 after its restart"
[ "$(grep -c "agent 1: probe before round" "$out/a1b.out" "$out/a1b.err" |
    awk -F: '{s += $NF} END {print s}')" -eq 2 ] || fail "agent 1 again: not two probes"
grep -Eq "agent 1: done: [0-9]+ rounds, [1-9][0-9]* applied" "$out/a1b.out" ||
    fail "agent 1 applied nothing after its restart"
# its 2nd, 4th, ... burst (probes included: its 2nd is its second probe) lost its first packet:
# one line each, counted once, nothing else; the rounds among them are not applied
nb=$(($(grep -c "burst of .* samples on air" "$out/a1b.out") + $(grep -c "burst not sent" \
    "$out/a1b.err")))
ns=$(grep -c "burst not sent: .*late 0, underflows 0, sequence errors 1$" "$out/a1b.err")
nsr=$(grep -c "agent 1: round [0-9]*: burst not sent: .*sequence errors 1$" "$out/a1b.err")
[ "$nb" -ge 4 ] && [ "$ns" -eq $((nb / 2)) ] ||
    fail "agent 1 again: $ns sequence-error lines for $nb bursts"
[ "$(grep -c "burst not sent" "$out/a1b.err")" -eq "$ns" ] || fail "agent 1 again: other faults"
echo "agent 1 again: $ns sequence errors in $nb bursts, one line each: $(grep -m1 "sequence errors 1" \
    "$out/a1b.err")"
grep -Eq "agent 1: done: [0-9]+ rounds, [0-9]+ applied, $nsr not applied" "$out/a1b.out" ||
    fail "agent 1 again: not applied != its rounds' sequence errors"
# (the server sees the dead connection close, or not before the new process's HELLO: either way
# it logs the rejoin, and rounds after it hear both agents)
sed -n '/agent 1 rejoined/,$p' "$out/server.log" | grep -q "agents 2/2 .* decoded" ||
    fail "the server never heard two agents after the restart"
if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Aborted" "$out"/*.err \
    "$out"/*.log; then
    fail "sanitizer report"
fi
echo PASS
