# tests/cli/lib/net.sh: the set-up the multi-process tests (tests/cli/net_*.sh) share; sourced
# after `set -u` (not a test itself: tests/CMakeLists.txt registers tests/cli/*.sh only).
# Gives $out (a temporary folder; at exit every process in pids is killed and $out removed),
# fail MSG (prints the tail of every $out/*.log, exits 1), wait_for PID SECONDS,
# start_server A B ARGS..., make_keys K, serve NAME ARGS..., start_peers NAME [STATE],
# wait_peers NAME and chan_run3 A B NAME PROFILE ARGS... (below).
out=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$out"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap "for p in \"\${pids[@]}\"; do kill -9 \"\$p\" 2>/dev/null; done; echo kept \$out" EXIT
fail() {
    echo "FAIL: $*"
    for f in "$out"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
    exit 1
}

# waits up to $2 seconds for process $1 to end, then reaps it; its exit code in $? (124: still
# running)
wait_for() {
    local i
    for i in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && return 124
    wait "$1"
}

# `airmeta server --bind tcp://127.0.0.1:PORT ARGS...` in the background, logging to
# $out/server.log, once it listens: PORT = 20000 + ($$ * A + try * B) % 40000 (each script its own
# A, B: the scripts run in parallel); a busy port is retried (5 tries), anything else fails. Sets
# spid (added to pids), port and ep.
start_server() {
    local a=$1 b=$2 try p i
    shift 2
    port=""
    for try in 1 2 3 4 5; do
        p=$((20000 + ($$ * a + try * b) % 40000))
        ep="tcp://127.0.0.1:$p"
        "$AIRMETA" server --bind "$ep" "$@" >"$out/server.log" 2>&1 &
        spid=$!
        # up to 60 s while it runs (a loaded machine or the sanitizer build can take more than a
        # few seconds to start; a server still starting is never taken for one that failed)
        for i in $(seq 1 600); do
            grep -q "listening on" "$out/server.log" && break
            kill -0 "$spid" 2>/dev/null || break
            sleep 0.1
        done
        if grep -q "listening on" "$out/server.log"; then
            port=$p
            pids+=("$spid")
            return 0
        fi
        wait "$spid"
        grep -q "Address already in use" "$out/server.log" ||
            fail "server did not start on $ep: $(tail -n 5 "$out/server.log" | tr '\n' ' ')"
        echo "port $p busy, trying another"
    done
    fail "no free control port after 5 tries"
}

# CURVE keys for a run of $1 agents (airmeta keygen): $out/keys/{server,chan,agent0..}.{key,pub}
# and the server's allow-list $out/keys/allow. Sets srv_sec and chan_sec (flag arrays) and
# agent_sec K (prints agent K's flags).
make_keys() {
    local k d="$out/keys"
    mkdir -p "$d"
    : >"$d/allow"
    for n in server chan $(seq -f "agent%g" 0 $(($1 - 1))); do
        "$AIRMETA" keygen --out "$d/$n" >/dev/null || fail "keygen $n"
    done
    echo "chan $(cat "$d/chan.pub")" >>"$d/allow"
    for k in $(seq 0 $(($1 - 1))); do echo "agent $k $(cat "$d/agent$k.pub")" >>"$d/allow"; done
    srv_sec=(--key "$d/server.key" --allow "$d/allow")
    chan_sec=(--key "$d/chan.key" --server-key "$d/server.pub" --allow "$d/allow")
}
agent_sec() { echo "--key $out/keys/agent$1.key --server-key $out/keys/server.pub"; }

# `airmeta server ARGS...` in the background (--bind tcp://127.0.0.1:* for a free port; a resumed
# server binds the port its run had), logging to $out/$1.log; once it listens (up to 60 s): spid
# and ep (the port from its "listening on" line); fails if it ends before.
serve() {
    local log="$out/$1.log" i
    shift
    "$AIRMETA" server "$@" >"$log" 2>&1 &
    spid=$!
    pids+=($spid)
    ep=""
    for i in $(seq 1 600); do
        ep=$(sed -n 's/^server: listening on \(tcp:\/\/127\.0\.0\.1:[0-9]*\):.*/\1/p' "$log")
        [ -n "$ep" ] && return 0
        kill -0 "$spid" 2>/dev/null || break # it failed (--insecure's warning is no failure)
        sleep 0.1
    done
    fail "server ($log) not listening after $i checks: $(tail -n 1 "$log")"
}

# `airmeta chan` and 2 agents for the server at $ep, logs $out/$1-*.log, agent states
# $out/$2-agentK.state (none without $2); with make_keys' flags once it ran, else --insecure;
# their pids in ppids. wait_peers NAME waits up to 60 s for each (fails naming NAME).
start_peers() {
    local k cs=(--insecure) as st
    ppids=()
    [ -n "${chan_sec+x}" ] && cs=("${chan_sec[@]}")
    "$AIRMETA" chan "${cs[@]}" --server "$ep" --agents 2 --timeout 60 >"$out/$1-chan.log" 2>&1 &
    ppids+=($!)
    pids+=($!)
    for k in 0 1; do
        as=--insecure
        [ -n "${chan_sec+x}" ] && as=$(agent_sec $k)
        st=()
        [ -n "${2:-}" ] && st=(--state "$out/$2-agent$k.state")
        "$AIRMETA" agent $as --id $k --server "$ep" --timeout 60 --beacon-timeout 5 "${st[@]}" \
            >"$out/$1-agent$k.log" 2>&1 &
        ppids+=($!)
        pids+=($!)
    done
}
wait_peers() {
    local p
    for p in "${ppids[@]}"; do wait_for "$p" 60 || fail "$1: a peer exit $?"; done
}

# chan_run3 A B NAME PROFILE SERVER-ARGS...: a whole run through the chan, waited for: `airmeta
# server` (start_server A B; 3 agents, --insecure, the timeouts, --out $out/NAME, SERVER-ARGS),
# `airmeta chan --impair PROFILE` (20 dB, seed 9) and 3 agents; logs $out/NAME-server.log,
# $out/NAME-chan.log and $out/NAME-agentK.log.
chan_run3() {
    local a=$1 b=$2 name=$3 prof=$4 k cp ap=()
    shift 4
    start_server "$a" "$b" --insecure --agents 3 --join-timeout 60 --round-timeout 30 \
        --burst-timeout 10 --out "$out/$name" "$@"
    mv "$out/server.log" "$out/$name-server.log"
    "$AIRMETA" chan --insecure --server "$ep" --bind "tcp://127.0.0.1:*" --agents 3 --snr-db 20 \
        --impair "$prof" --seed 9 --timeout 60 >"$out/$name-chan.log" 2>&1 &
    cp=$!
    pids+=($cp)
    for k in 0 1 2; do
        "$AIRMETA" agent --insecure --id $k --server "$ep" --timeout 60 >"$out/$name-agent$k.log" 2>&1 &
        ap+=($!)
        pids+=($!)
    done
    wait_for "$spid" 600 || fail "$name: server exit $?"
    for k in 0 1 2; do
        wait_for "${ap[$k]}" 60 || fail "$name: agent $k exit $?"
    done
    wait_for "$cp" 60 || fail "$name: chan exit $?"
}
