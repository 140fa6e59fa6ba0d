#!/bin/bash
# airmeta server / agent / chan: --help on each; every bad flag exits 2 naming it; a busy control
# port fails clearly (exit 4, "Address already in use"); an agent id outside the run and a chan of
# the wrong size are refused by the server (exit 2 with the server's reason); a server whose chan
# never comes gives up at --join-timeout (exit 6). Only 127.0.0.1; every process bounded.
set -u
. "$(dirname "$0")/lib/net.sh"
# runs "$@" expecting exit code $1 and a message containing $2 on stderr
expect() {
    local code=$1 msg=$2
    shift 2
    timeout 30 "$AIRMETA" "$@" >"$out/o.log" 2>"$out/e.log"
    local rc=$?
    [ "$rc" -eq "$code" ] || fail "'$*': exit $rc, expected $code: $(cat "$out/e.log")"
    grep -q -- "$msg" "$out/e.log" || fail "'$*': message lacks '$msg': $(cat "$out/e.log")"
}

for c in server agent chan keygen; do
    timeout 10 "$AIRMETA" "$c" --help >"$out/h.log" 2>&1 || fail "$c --help exit"
    grep -q "usage: airmeta $c" "$out/h.log" || fail "$c --help text"
done
"$AIRMETA" --help | grep -q "^  server" || fail "server not in the command list"

ep="tcp://127.0.0.1:1"
expect 2 "--agents is required" server --bind "$ep"
expect 2 "--bind is required" server --agents 3
expect 2 "--agents: 0 is outside" server --bind "$ep" --agents 0
expect 2 "--round-timeout: -1 is outside" server --bind "$ep" --agents 3 --round-timeout -1
expect 2 "--eta-rule: 'max' is not one of" server --bind "$ep" --agents 3 --eta-rule max
expect 2 "--min-agents 4 exceeds --agents 3" server --bind "$ep" --agents 3 --min-agents 4
expect 2 "not tcp://HOST:PORT" server --bind "ipc:///tmp/x" --agents 3
expect 2 "port 'abc'" server --bind "tcp://127.0.0.1:abc" --agents 3
expect 2 "unknown option '--colour'" server --bind "$ep" --agents 3 --colour red
expect 2 "--id is required" agent --server "$ep"
expect 2 "--server is required" agent --id 0
expect 2 "--id: 4096 is outside" agent --id 4096 --server "$ep"
expect 2 "give a port, not \*" agent --id 0 --server "tcp://127.0.0.1:*"
expect 2 "is not ROUND:SECONDS" agent --id 0 --server "$ep" --test-late-burst 3
expect 2 "is not ROUND:SECONDS" agent --id 0 --server "$ep" --test-late-burst " 3:1" # was 3:1
expect 2 "SECONDS must be 0..3600" agent --id 0 --server "$ep" --test-late-status 3:0x1
# --state: a file name in a folder that is there, known before joining (it failed at the first
# round's save, a warning a round, and a restart found no state)
expect 2 "no file name" agent --insecure --id 0 --server "$ep" --timeout 1 --state "$out/"
expect 4 "folder $out/none: No such file or directory" agent --insecure --id 0 --server "$ep" \
    --timeout 1 --state "$out/none/a.state"
# an empty folder name is refused: "" + "/config.json" read the root folder's file
expect 2 "--resume: .*empty folder name" server --resume ""
expect 2 "--data-dir: empty folder name" server --insecure --bind "$ep" --agents 2 --data-dir ""
expect 2 "--data-dir: empty folder name" agent --insecure --id 0 --server "$ep" --data-dir ""
expect 2 "--agents is required" chan --server "$ep"
expect 2 "--snr-db: 200 is outside" chan --server "$ep" --agents 2 --snr-db 200
expect 2 "--delay-spread 2: 3 taps allow less than" chan --server "$ep" --agents 2 --taps 3 \
    --delay-spread 2
expect 2 "--cfo: 0.9 is outside" chan --server "$ep" --agents 2 --cfo 0.9
# keys: none given, --insecure mixed with keys, a missing key file, an unreadable allow-list
expect 2 "give --key NAME.key" server --bind "$ep" --agents 2
expect 2 "give --key NAME.key (make one with airmeta keygen) and --server-key" agent --id 0 \
    --server "$ep"
expect 2 "--insecure together with --key" chan --server "$ep" --agents 2 --insecure --key x.key
"$AIRMETA" keygen --out "$out/k" >/dev/null || fail "keygen"
[ "$(stat -c %a "$out/k.key")" = 600 ] || fail "k.key mode $(stat -c %a "$out/k.key")"
expect 4 "File exists (give --force to replace it)" keygen --out "$out/k"
expect 2 "NAME is empty" keygen --out "" # wrote .key and .pub
expect 2 "NAME is empty" keygen --out "$out/"
[ -e "$out/.key" ] && fail "keygen --out $out/ wrote $out/.key"
expect 2 "--allow FILE is required" server --bind "$ep" --agents 2 --key "$out/k.key"
expect 4 "no such file (make one with airmeta keygen)" agent --id 0 --server "$ep" \
    --key "$out/none.key" --server-key "$out/k.pub"
echo "agent 0 $(cat "$out/k.pub")" >"$out/allow"
expect 2 "lists no 'chan PUBKEY' line" server --bind "$ep" --agents 2 --key "$out/k.key" \
    --allow "$out/allow"
echo "agent 5 $(cat "$out/k.pub")" >"$out/allow"
expect 3 "line 1: agent id '5' is not 0..1" server --bind "$ep" --agents 2 --key "$out/k.key" \
    --allow "$out/allow"

# a server on a free port (retried when busy), then a second one on the same port
start_server 13 3319 --insecure --agents 2 --rounds 1 --join-timeout 20
expect 4 "Address already in use" server --insecure --bind "$ep" --agents 2 --rounds 1
expect 2 "refused: agent id 7 but the run has 2 agents" agent --insecure --id 7 --server "$ep" \
    --timeout 10
expect 2 "refused: the chan emulates 3 agents, the run has 2" chan --insecure --server "$ep" \
    --agents 3 --timeout 10
kill -9 "$spid"
wait "$spid" 2>/dev/null

# nobody comes: the server gives up at the join timeout
"$AIRMETA" server --insecure --bind "$ep" --agents 2 --rounds 1 --join-timeout 1 \
    >"$out/s2.log" 2>&1 &
spid=$!
pids+=("$spid")
for i in $(seq 1 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$spid" 2>/dev/null && fail "server still waiting after 10 s"
wait "$spid"
rc=$?
[ "$rc" -eq 6 ] || fail "join timeout exit $rc"
grep -q "chan missing, 0 of 2 agents joined" "$out/s2.log" || fail "join timeout message"
echo PASS
