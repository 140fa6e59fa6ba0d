#!/bin/bash
# A run whose agents' vectors need more memory than the machine has (RAM + swap) is refused at
# once, exit 8, one line naming the flags and both sizes, before anything is allocated. Each
# piece of such a request was granted (overcommit) and the run ended in the kernel's OOM kill
# mid-run, without a word: bench round --agents 4096 --dim 10000000 (2 x K x D floats, 327.7 GB),
# sim --task fmnist --filters 256 --agents 1500 (3 x K x D floats of 1775109 parameters, 32.0 GB),
# server --report-x --task fmnist --filters 256 --agents 4096 (K x D floats, 29.1 GB).
set -u
fail() { echo "FAIL: $*"; exit 1; }
have=$(awk '/^(MemTotal|SwapTotal):/ {s += $2} END {print s * 1024}' /proc/meminfo)
# expect NEED_BYTES PATTERN ARGS...: refused when the machine cannot hold NEED_BYTES
expect() {
    local need=$1 pat=$2
    shift 2
    if awk -v n="$need" -v h="$have" 'BEGIN {exit !(n <= h)}'; then
        echo "SKIPPED: this machine holds $need bytes: $* would run"
        exit 77
    fi
    local err rc
    err=$(timeout 120 "$AIRMETA" "$@" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" -eq 8 ] || fail "$*: exit $rc, expected 8 ($err)"
    [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$*: not one line: $err"
    echo "$err" | grep -q -- "$pat" || fail "$*: message '$err' lacks '$pat'"
    echo "ok: $* -> $rc: $err"
}
expect 327680000000 "--agents 4096 x --dim 10000000: the update and delivered vectors: need 327.7 GB, this machine has" \
    bench round --agents 4096 --dim 10000000 --rounds 1
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    expect 31952000000 "airfl: 1500 agents x 1775109 parameters: need 32.0 GB" \
        sim --task fmnist --filters 256 --agents 1500 --rounds 1 --quiet
    # server --report-x keeps every agent's x (K x D floats): 4096 x 1775109, 29.1 GB; it was
    # granted at once and the server went on to wait for its agents (keys: --insecure would add
    # its warning line)
    d=$(mktemp -d)
    trap 'rm -rf "$d"' EXIT
    for k in s a c; do "$AIRMETA" keygen --out "$d/$k" >/dev/null || fail "keygen"; done
    printf 'agent 0 %s\nchan %s\n' "$(cat "$d/a.pub")" "$(cat "$d/c.pub")" >"$d/allow"
    expect 29083385856 "--report-x: --agents 4096 x 1775109 parameters: need 29.1 GB, this machine has" \
        server --task fmnist --filters 256 --agents 4096 --report-x --bind "tcp://127.0.0.1:*" \
        --key "$d/s.key" --allow "$d/allow" --join-timeout 1 --rounds 1 --quiet
fi
echo PASS
