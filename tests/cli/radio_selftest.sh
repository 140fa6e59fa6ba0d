#!/bin/bash
# airmeta radio probe --selftest: a known timed burst out and back, bit-exact, on the loop, zmq
# (127.0.0.1) and file (SigMF loopback sink) backends; bad --radio-args exit 2 naming the key.
set -u
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$AIRMETA" radio probe --radio loop --radio-args "bus=cli,rate=2e6" --selftest --samples 5000 \
    >"$out/loop" 2>&1 || { cat "$out/loop"; fail "loop selftest"; }
grep -q "selftest: ok: 5000 samples bit-exact" "$out/loop" || fail "loop output"
grep -q "rate: 2000000 S/s" "$out/loop" || fail "loop rate"

ok=0
for try in 1 2 3 4 5; do
    port=$((20000 + (RANDOM % 40000)))
    ep="tcp://127.0.0.1:$port"
    if "$AIRMETA" radio probe --radio zmq --radio-args "tx=$ep,rx=$ep" --selftest \
        >"$out/zmq" 2>&1; then ok=1; break; fi
    grep -q "cannot bind" "$out/zmq" || break # only a busy port is worth a retry
done
cat "$out/zmq"
[ "$ok" -eq 1 ] || fail "zmq selftest"
grep -q "selftest: ok: 4096 samples bit-exact" "$out/zmq" || fail "zmq output"
grep -q "malformed=0" "$out/zmq" || fail "zmq stats"

"$AIRMETA" radio probe --radio file --radio-args "tx=$out/cap,rx=$out/cap" --selftest \
    >"$out/file" 2>&1 || { cat "$out/file"; fail "file selftest"; }
grep -q "selftest: ok: 4096 samples bit-exact" "$out/file" || fail "file output"
[ -s "$out/cap.sigmf-meta" ] && [ -s "$out/cap.sigmf-data" ] || fail "file recording missing"

"$AIRMETA" radio probe --radio loop --radio-args "bus=x,colour=blue" 2>"$out/err"
rc=$?
[ "$rc" -eq 2 ] || fail "unknown key exit $rc"
grep -q "unknown key 'colour'" "$out/err" || fail "unknown key message"
"$AIRMETA" radio probe --radio nosuch 2>"$out/err"
[ $? -eq 2 ] || fail "unknown backend exit"
"$AIRMETA" radio backends | grep -q "^zmq" || fail "backends list"
echo PASS
