# tests/cli/lib/twin.sh: the set-up the multi-process tests on B210 twins (tests/cli/twin_*.sh)
# share; sourced after tests/cli/lib/net.sh (fail, pids, $out). Without airmeta-twin (no <uhd.h>)
# the test is SKIPPED, and fails in CI, where libuhd-dev is installed. Sets AIRMETA to the twin
# program, air_prog to airmeta-twin-air, and gives start_air DIR LOG and twin_run (below).
if [ -z "${AM_TWIN_PROG:-}" ]; then
    [ "${CI:-}" = true ] && fail "airmeta-twin not built (libuhd-dev missing?)"
    echo "SKIPPED: airmeta-twin not built (no <uhd.h>)"; exit 77
fi
AIRMETA=$AM_TWIN_PROG
air_prog=$(dirname "$AM_TWIN_PROG")/airmeta-twin-air

# airmeta-twin-air on ipc://DIR/air (LOSS dB path loss, default 55, paced virtual time), logging
# to LOG, once its socket is there (up to 30 s: a loaded machine, the sanitizer build). Sets apid
# (in pids). start_air DIR LOG [LOSS]
start_air() {
    local i
    "$air_prog" --endpoint "ipc://$1/air" --loss-db "${3:-55}" --paced >"$2" 2>&1 &
    apid=$!
    pids+=($apid)
    for i in $(seq 1 300); do [ -S "$1/air" ] && break; sleep 0.1; done
    [ -S "$1/air" ] || fail "the air did not start on ipc://$1/air"
}

# One run on the twins: an air of LOSS dB (start_air in $out/NAME.d), AIRMETA_TWIN
# "air=...,profile=PROFILE,gpsdo=yes" (exported), `airmeta server --insecure --radio uhd
# --radio-args SERVER-RADIO --out $out/NAME SERVER-FLAGS...` (start_server A B; its log then
# $out/NAME-server.log) and one `airmeta agent --insecure --id K` per AGENT-RADIO (agent K the
# K-th's --radio-args, logging to $out/NAME-agentK.log); fails unless the server ends with 0 within
# 300 s and then every agent within 60 s; the air is stopped.
# twin_run NAME LOSS PROFILE A B SERVER-RADIO AGENT-RADIO... -- SERVER-FLAGS...
twin_run() {
    local name=$1 loss=$2 prof=$3 a=$4 b=$5 srv=$6 k
    shift 6
    local ar=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do ar+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    mkdir -p "$out/$name.d"
    start_air "$out/$name.d" "$out/$name-air.log" "$loss"
    export AIRMETA_TWIN="air=ipc://$out/$name.d/air,profile=$prof,gpsdo=yes"
    start_server "$a" "$b" --insecure --radio uhd --radio-args "$srv" --out "$out/$name" "$@"
    mv "$out/server.log" "$out/$name-server.log"
    local ap=()
    for k in "${!ar[@]}"; do
        "$AIRMETA" agent --insecure --id "$k" --server "$ep" --timeout 60 --radio uhd \
            --radio-args "${ar[$k]}" >"$out/$name-agent$k.log" 2>&1 &
        ap+=($!)
        pids+=($!)
    done
    wait_for "$spid" 300 || fail "$name: server exit $?"
    for k in "${!ap[@]}"; do
        wait_for "${ap[$k]}" 60 || fail "$name: agent $k exit $?"
    done
    kill "$apid" 2>/dev/null
}
