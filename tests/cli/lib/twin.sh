# tests/cli/lib/twin.sh: the set-up the multi-process tests on B210 twins (tests/cli/twin_*.sh)
# share; sourced after tests/cli/lib/net.sh (fail, pids, $out). Without airmeta-twin (no <uhd.h>)
# the test is SKIPPED, and fails in CI, where libuhd-dev is installed. Sets AIRMETA to the twin
# program, air_prog to airmeta-twin-air, and gives start_air DIR LOG.
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
