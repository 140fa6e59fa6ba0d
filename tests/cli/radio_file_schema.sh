#!/bin/bash
# The file radio's recordings (stream and per-burst) validate against the official SigMF schema
# and carry the §7 fields given in --radio-args (docs/air-interface.md §7). Needs python3-jsonschema
# (skipped without it, failed in CI: tests/cli/lib/need.sh).
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
schema="$AM_SOURCE_DIR/tests/data/sigmf/sigmf-schema.json"
. "$(dirname "$0")/lib/need.sh"
need python3 jsonschema
"$AIRMETA" radio probe --radio file --selftest --samples 3000 \
    --radio-args "tx=$d/s,rx=$d/s,fft_size=128,cp_len=16,payload_len=999,scale=2,rho=0.5,g_th=0.05,agents=7,round=3,freq=2.45e9" \
    >"$d/out" 2>&1 || { cat "$d/out"; fail "stream selftest"; }
# burst mode: the burst goes to its own recording b-000000; RX replays the stream recording,
# which holds the same seeded samples, so the selftest still compares bit-exact
"$AIRMETA" radio probe --radio file --selftest --samples 3000 \
    --radio-args "tx=$d/b,rx=$d/s,mode=burst" >"$d/out2" 2>&1 || { cat "$d/out2"; fail "burst mode"; }
[ -s "$d/b-000000.sigmf-meta" ] || fail "burst-mode recording missing"
python3 - "$schema" "$d/s.sigmf-meta" "$d/b-000000.sigmf-meta" <<'PY' || fail "schema validation"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
for path in sys.argv[2:]:
    meta = json.load(open(path))
    cls(schema).validate(meta)
    g = meta["global"]
    assert g["core:datatype"] == "cf32_le", g
    assert all(a["core:label"] == "airmeta-burst" for a in meta["annotations"])
    print(path, "valid")
g = json.load(open(sys.argv[2]))["global"]
want = {"airmeta:fft_size": 128, "airmeta:cp_len": 16, "airmeta:payload_len": 999,
        "airmeta:agents": 7, "airmeta:round": 3}
for k, v in want.items():
    assert g[k] == v, (k, g.get(k))
assert abs(g["airmeta:scale"] - 2) < 1e-6 and abs(g["airmeta:rho"] - 0.5) < 1e-6
cap = json.load(open(sys.argv[2]))["captures"][0]
assert cap["core:frequency"] == 2.45e9, cap
ann = json.load(open(sys.argv[2]))["annotations"]
assert len(ann) == 1 and ann[0]["core:sample_start"] == 0 and ann[0]["core:sample_count"] == 3000, ann
PY
echo PASS
