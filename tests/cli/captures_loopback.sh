#!/bin/bash
# airmeta loopback (the generator of captures/): bad flags are refused with a message naming the
# flag and exit 2, nothing written; a small 3-burst recording has the sample count and annotation
# starts its flags imply (lead, burst length, gap, multipath spill), its truth is 0 where no agent
# is active and has the variance 1/n of an average of n N(0,1) payloads elsewhere, and replay
# finds every burst exactly at its annotation.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3
expect_cmd=(loopback)
. "$(dirname "$0")/lib/expect.sh"
expect 2 "--out NAME is required" --agents 2
expect 2 "--agents: 0 is outside" --out "$d/x" --agents 0
expect 2 "--agents: 256 is outside" --out "$d/x" --agents 256
expect 2 "--snr-db: 'nan' is not a finite number" --out "$d/x" --snr-db nan
expect 2 "--timing 30 + --taps 4 - 1 exceeds the cyclic prefix (32)" --out "$d/x" --timing 30 \
    --taps 4
expect 2 "--cfo: 0.5 is outside" --out "$d/x" --cfo 0.5
expect 2 "--bursts: 0 is outside" --out "$d/x" --bursts 0
expect 2 "delay_spread" --out "$d/x" --taps 2
expect 2 "unknown option '--snr'" --out "$d/x" --snr 3
[ -z "$(ls "$d")" ] || fail "files written despite errors: $(ls "$d")"

"$AIRMETA" loopback --agents 3 --snr-db 25 --taps 3 --delay-spread 0.7 --bursts 3 --gap 700 \
    --payload 1000 --seed 9 --out "$d/r" >"$d/log" || { cat "$d/log"; fail "loopback failed"; }
cat "$d/log"
ls "$d" | grep -q 'XXXXXX\|\.tmp' && fail "temporary files left: $(ls "$d")"
"$AIRMETA" replay "$d/r.sigmf-meta" --json --out "$d/v.f32" >"$d/json" || fail "replay"
python3 - "$d" <<'EOF' || fail "recording does not match its flags"
import json, math, os, struct, sys
d = sys.argv[1]
meta = json.load(open(os.path.join(d, 'r.sigmf-meta')))
t = json.load(open(os.path.join(d, 'r.truth.json')))
g = meta['global']
assert g['airmeta:agents'] == 3 and g['airmeta:payload_len'] == 1000 and g['airmeta:cp_len'] == 32
assert 'loopback --agents 3' in g['core:description'] and t['command'].startswith('airmeta loopback')
ann = [a['core:sample_start'] for a in meta['annotations']]
assert ann == [b['start'] for b in t['bursts']] and len(ann) == 3, ann
# burst length (3 + N)(M + cp), N = ceil(500 / M_data); bursts separated by 700 noise samples
# plus the channel's spill (timing offset 0 + 2 extra taps)
blen = meta['annotations'][0]['core:sample_count']
assert blen % 288 == 0 and blen // 288 >= 4, blen
assert ann[0] == 3 * 288 and ann[1] - ann[0] == blen + 2 + 700 and ann[2] - ann[1] == ann[1] - ann[0]
n = os.path.getsize(os.path.join(d, 'r.sigmf-data')) // 8
assert n == ann[2] + blen + 2 + 3 * 288, (n, ann)
truth = struct.unpack('<3000f', open(os.path.join(d, 'r.truth.f32'), 'rb').read())
for b, tb in enumerate(t['bursts']):
    act = tb['active']
    assert len(act) == 1000 and all(0 <= a <= 3 for a in act)
    zero = [truth[b * 1000 + j] == 0.0 for j in range(1000)]
    assert all(z for z, a in zip(zero, act) if a == 0), 'truth not 0 where no agent is active'
    # the average of a active N(0,1) payload entries has variance 1/a
    v = [truth[b * 1000 + j] ** 2 * a for j, a in enumerate(act) if a > 0]
    assert 0.8 < sum(v) / len(v) < 1.2, sum(v) / len(v)
got = [json.loads(l) for l in open(os.path.join(d, 'json'))]
assert [x['start'] for x in got] == ann, ([x['start'] for x in got], ann)
print('recording OK: bursts at', ann)
EOF
echo PASS
