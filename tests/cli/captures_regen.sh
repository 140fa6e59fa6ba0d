#!/bin/bash
# Every reference recording in captures/ can be made again from the command stored with it
# (NAME.truth.json "command", also in the .sigmf-meta description and captures/README.md): the
# regenerated .sigmf-meta is the same JSON, the active counts per entry are equal, and the samples
# and the truth agree within float tolerance (not bit-exact: float code across compilers/CPUs).
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
cap="$AM_SOURCE_DIR/captures"
for t in "$cap"/*.truth.json; do
    name=${t%.truth.json}
    b=$(basename "$name")
    cmd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["command"])' "$t")
    case "$cmd" in "airmeta loopback "*"--out $b"*) ;; *) fail "$b: stored command '$cmd'" ;; esac
    (cd "$d" && eval "\"$AIRMETA\" ${cmd#airmeta }" >"$d/$b.log" 2>&1) ||
        { cat "$d/$b.log"; fail "$b: '$cmd' failed"; }
    python3 - "$name" "$d/$b" <<'EOF' || fail "$b regenerated differs"
import json, struct, sys
old, new = sys.argv[1:3]
def f32(path):
    b = open(path, 'rb').read()
    return struct.unpack('<%df' % (len(b) // 4), b)
assert json.load(open(old + '.sigmf-meta')) == json.load(open(new + '.sigmf-meta')), 'meta'
to, tn = json.load(open(old + '.truth.json')), json.load(open(new + '.truth.json'))
assert [b['active'] for b in to['bursts']] == [b['active'] for b in tn['bursts']], 'active'
assert [b['start'] for b in to['bursts']] == [b['start'] for b in tn['bursts']], 'starts'
for ext, tol in (('.sigmf-data', 1e-5), ('.truth.f32', 1e-6)):
    a, b = f32(old + ext), f32(new + ext)
    assert len(a) == len(b), ext + ' length'
    top = max(abs(x) for x in a)
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst <= tol * top, '%s: max difference %.3g (scale %.3g)' % (ext, worst, top)
    print('%s%s: %d values, max difference %.3g' % (old.split('/')[-1], ext, len(a), worst))
EOF
done
echo PASS
