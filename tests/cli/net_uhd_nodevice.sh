#!/bin/bash
# airmeta server / agent --radio uhd without a USRP (issue 4, UHD_NOTES "No device present"): one
# line naming the args tried, exit 5, no crash, no sanitizer report; bad --radio-args exit 2 naming
# the key; --radio-args without --radio uhd is refused (the zmq path takes endpoints from the chan).
set -u
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# UHD's device discovery logs its own [ERROR] line when neither $HOME nor $XDG_CONFIG_HOME is set
# (its config-file lookup); a home of our own keeps the count of airmeta's lines exact anywhere
export HOME="$out"
for who in server agent; do
    if [ "$who" = server ]; then
        base=(server --insecure --bind 'tcp://127.0.0.1:*' --agents 1 --join-timeout 1)
    else base=(agent --insecure --id 0 --server tcp://127.0.0.1:1 --timeout 1); fi
    "$AIRMETA" "${base[@]}" --radio uhd --radio-args "type=b200,serial=AIRMETA-NONE-0,rate=1e6,tx_gain=60,rx_gain=40" \
        >"$out/stdout" 2>"$out/stderr"
    rc=$?
    cat "$out/stderr"
    grep -q "WARNING: --insecure" "$out/stderr" || fail "$who: no --insecure warning"
    sed -i '/WARNING: --insecure/d' "$out/stderr"
    [ "$rc" -lt 128 ] || fail "$who: killed by a signal ($rc)"
    [ "$rc" -eq 5 ] || fail "$who: exit $rc, expected 5 (device error)"
    [ "$(wc -l <"$out/stderr")" -eq 1 ] || fail "$who: message is not one line"
    grep -q "^airmeta $who: .*no USRP found for args 'type=b200,serial=AIRMETA-NONE-0,master_clock_rate=32000000'" \
        "$out/stderr" || fail "$who: message lacks 'no USRP found for args' and the args"
    if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Aborted" "$out/stderr"
    then fail "$who: crash or sanitizer report"; fi
    "$AIRMETA" "${base[@]}" --radio uhd --radio-args "clock=rubidium" 2>"$out/e2"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$who: bad clock: exit $rc"
    grep -q "clock='rubidium' is not one of internal|external|gpsdo" "$out/e2" ||
        { cat "$out/e2"; fail "$who: bad clock message"; }
    "$AIRMETA" "${base[@]}" --radio uhd --radio-args "colour=red" 2>"$out/e3"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$who: unknown key: exit $rc"
    grep -q "unknown key 'colour'" "$out/e3" || { cat "$out/e3"; fail "$who: unknown key message"; }
    "$AIRMETA" "${base[@]}" --radio-args "rate=1e6" 2>"$out/e4"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$who: --radio-args with zmq: exit $rc"
    grep -q "\-\-radio-args: the zmq data plane" "$out/e4" || { cat "$out/e4"; fail "$who: zmq"; }
    "$AIRMETA" "${base[@]}" --radio usrp 2>"$out/e5"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$who: --radio usrp: exit $rc"
    grep -q "'usrp' is not one of zmq|uhd" "$out/e5" || { cat "$out/e5"; fail "$who: choice"; }
done
echo PASS
