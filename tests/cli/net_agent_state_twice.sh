#!/bin/bash
# airmeta agent --state FILE holding one kept round twice (host/cmd/cmd_agent.c's state file: its
# kept states each begin with u32 round) is refused after WELCOME with a one-line message naming
# the file and the round (exit 3); before, the file was taken and the first copy used. A seeded
# networked run (server, chan, 2 agents, --insecure, 4 rounds) writes the agents' --state files;
# agent 0's is copied with its second kept state's round set to the first's (the checkpoint's
# state and header CRCs made anew, so only the repeat is wrong) and an agent started on it
# against a new server of the same configuration (with the chan and agent 1 on its own file).
set -u
. "$(dirname "$0")/lib/net.sh"
. "$(dirname "$0")/lib/need.sh"
need python3

common=(--insecure --agents 2 --rounds 4 --round-timeout 30 --burst-timeout 5 --join-timeout 60
    --round-period 0.2 --tasks-per-agent 1 --seed 8)
bind=(--bind 'tcp://127.0.0.1:*')

serve ref-server "${bind[@]}" "${common[@]}" --out "$out/ref"
start_peers ref st
wait_for "$spid" 120 || fail "ref: server exit $?"
wait_peers ref

python3 - "$out/st-agent0.state" "$out/twice.state" <<'PY' || fail "cannot edit the state file"
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
h, s = b[:64], b[64:]
dim, n = struct.unpack_from("<QQ", h, 24)
k = struct.unpack_from("<I", s, 12)[0]   # kept states
# live = 56 + 12 D + C, each kept = 40 + 4 D + C (C the carry's bytes)
c = (n - 56 - 12 * dim - k * (40 + 4 * dim)) // (k + 1)
live, snap = 56 + 12 * dim + c, 40 + 4 * dim + c
assert len(s) == n == live + k * snap and k >= 2, (len(s), n, live, snap, k)
r0 = struct.unpack_from("<I", s, live)[0]
r1 = struct.unpack_from("<I", s, live + snap)[0]
assert r0 != r1, (r0, r1)
struct.pack_into("<I", s, live + snap, r0)
struct.pack_into("<I", h, 52, zlib.crc32(s))
struct.pack_into("<I", h, 60, zlib.crc32(h[:60]))
open(sys.argv[2], "wb").write(h + s)
print(f"twice.state: {k} kept states, the second's round {r1} set to the first's {r0}")
open(sys.argv[2] + ".round", "w").write(str(r0))
PY
r=$(cat "$out/twice.state.round")

serve twice-server "${bind[@]}" "${common[@]}" --out "$out/twice"
# WELCOME waits for every process: the chan and agent 1 (on its own state) join too
"$AIRMETA" chan --insecure --server "$ep" --agents 2 --timeout 30 >"$out/twice-chan.log" 2>&1 &
pids+=($!)
"$AIRMETA" agent --insecure --id 1 --server "$ep" --timeout 30 --beacon-timeout 5 \
    --state "$out/st-agent1.state" >"$out/twice-agent1.log" 2>&1 &
pids+=($!)
timeout 120 "$AIRMETA" agent --insecure --id 0 --server "$ep" --timeout 30 --beacon-timeout 5 \
    --state "$out/twice.state" >"$out/twice.out" 2>"$out/twice.err"
rc=$?
grep -q "runtime error\|AddressSanitizer" "$out/twice.err" && fail "sanitizer: $(cat "$out/twice.err")"
[ "$rc" -eq 3 ] || fail "exit $rc (expected 3): $(cat "$out/twice.err")"
grep -v "WARNING: --insecure" "$out/twice.err" >"$out/twice.msg"
[ "$(wc -l <"$out/twice.msg")" -eq 1 ] || fail "not one line: $(cat "$out/twice.err")"
grep -qF -- "--state $out/twice.state: round $r is kept twice" "$out/twice.err" ||
    fail "message: $(cat "$out/twice.err")"
echo "ok: refused: $(cat "$out/twice.msg")"
echo PASS
