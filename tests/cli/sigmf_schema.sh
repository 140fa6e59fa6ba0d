#!/bin/bash
# Every .sigmf-meta airmeta writes validates against the official SigMF schema
# (docs/air-interface.md §7),
# checked with python3-jsonschema (installed by .ci/install-deps; without it the test is skipped, and fails in CI).
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
schema="$AM_SOURCE_DIR/tests/data/sigmf/sigmf-schema.json"
. "$(dirname "$0")/lib/need.sh"
need python3 jsonschema
"$AIRMETA" demo --agents 2 --rounds 2 --snr-db 10,20 --payload 200 --json --capture "$d/a" \
    >/dev/null || fail "demo --capture"
"$AIRMETA" demo --agents 1 --nfft 64 --rounds 1 --snr-db 30 --payload 50 --json --capture "$d/b" \
    >/dev/null || fail "demo --capture (M = 64)"
python3 - "$schema" "$d/a.sigmf-meta" "$d/b.sigmf-meta" <<'PY' || fail "schema validation"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
for path in sys.argv[2:]:
    meta = json.load(open(path))
    cls(schema).validate(meta)  # raises with the failing key on error
    g = meta["global"]
    assert g["core:datatype"] == "cf32_le" and g["core:version"] == "1.2.0", g
    assert {"name": "airmeta", "version": "1.0.0", "optional": False} in g["core:extensions"]
    for k in ("version", "fft_size", "cp_len", "payload_len", "scale", "rho", "g_th", "agents"):
        assert "airmeta:" + k in g, k
    assert all(a["core:label"] == "airmeta-burst" for a in meta["annotations"])
    assert len(meta["annotations"]) >= 1 and meta["captures"][0]["core:sample_start"] == 0
    print(path, "valid")
# docs/air-interface.md §7.2: the version-2 keys are schema-legal extension keys
v2 = json.load(open(sys.argv[2]))
v2["global"]["airmeta:version"] = 2
v2["global"]["airmeta:cal_slots"] = 3
v2["captures"][0]["airmeta:device_tick"] = 123456789
cls(schema).validate(v2)
print("version-2 keys valid")
# the validator is not a rubber stamp: a broken copy must fail
bad = json.load(open(sys.argv[2]))
bad["global"]["core:sample_rate"] = "fast"
try:
    cls(schema).validate(bad)
except jsonschema.ValidationError:
    print("broken copy rejected")
else:
    sys.exit("a broken .sigmf-meta validated")
PY
echo PASS
