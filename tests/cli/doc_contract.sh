#!/bin/bash
# docs/air-interface.md is the contract third parties implement from: its numbers must be the
# code's. Checked here against the sources (not against a second copy): the air-interface
# version, the control-plane header version and every message's fixed payload size, the IQ
# header, the SigMF keys airmeta reads. A change to any of them
# without the page is a failure naming both sides.
set -u
. "$(dirname "$0")/lib/need.sh"
need python3
python3 - "$AM_SOURCE_DIR" <<'PY' || { echo "FAIL"; exit 1; }
import re, sys, os
src = sys.argv[1]
doc = open(os.path.join(src, "docs/air-interface.md")).read()
def code(path):
    return open(os.path.join(src, path)).read()
def define(text, name):
    m = re.search(r"#define\s+%s\s+\(?([^\s/)]+)" % name, text)
    assert m, name
    return m.group(1)
bad = []
def same(what, d, c):
    print("%-40s doc %-10s code %s" % (what, d, c))
    if str(d) != str(c):
        bad.append("%s: docs/air-interface.md says %s, the code %s" % (what, d, c))

# the air-interface version
v = int(define(code("phy/include/phy/version.h"), "PHY_AIR_INTERFACE_VERSION").rstrip("u"))
same("air-interface version (title)", re.search(r"^# airmeta air interface, version (\d+)", doc, re.M).group(1), v)

# control plane: header version, fixed payload sizes
ctrl_h, ctrl_c = code("host/net/ctrl.h"), code("host/net/ctrl.c")
same("control-plane header version", re.search(r"^\| 4 \| 2 \| version \| (\d+) ", doc, re.M).group(1),
     define(ctrl_h, "CTRL_VERSION"))
same("control-plane header bytes", re.search(r"### 9\.2 Header \((\d+) bytes", doc).group(1),
     define(ctrl_h, "CTRL_HDR_LEN"))
learner, key = int(define(ctrl_h, "CTRL_LEARNER_LEN")), int(define(ctrl_h, "CTRL_KEY_TXT"))
fixed = {"HELLO": "HELLO_FIXED", "MODEL": "MODEL_FIXED", "STATUS": "STATUS_FIXED", "GO": "GO_LEN",
         "PLAN": "PLAN_FIXED", "REPORT": "REPORT_FIXED", "COMMIT": "COMMIT_FIXED"}
for name, macro in fixed.items():
    row = re.search(r"^\| \d+ \| %s \| [^|]+\| (\d+)" % name, doc, re.M)
    same("%s fixed payload bytes" % name, row.group(1) if row else None, define(ctrl_c, macro))
row = re.search(r"^\| \d+ \| WELCOME \| [^|]+\| (\d+)", doc, re.M)
same("WELCOME payload bytes", row.group(1) if row else None,
     424 + learner + key + 12 + int(define(ctrl_c, "CLOCK_LEN")))
same("learner block bytes", re.search(r"424 learner block \((\d+) bytes\)", doc).group(1), learner)

# IQ transport
zmq = code("host/radio/zmq.c")
same("IQ header version", re.search(r"^\| 4 \| 2 \| version \| (\d+) \|$", doc, re.M).group(1),
     define(zmq, "ZMQ_IQ_VERSION"))
same("IQ header bytes", re.search(r"Header, (\d+) bytes, little-endian, then the samples", doc).group(1),
     define(zmq, "ZMQ_IQ_HDR"))

# SigMF: every airmeta key the reader knows is in the §7.2 tables
keys = sorted(set(re.findall(r'"(airmeta:[a-z_]+)"', code("phy/src/sigmf.c"))))
for k in keys:
    same("SigMF key %s in §7.2" % k, "`%s`" % k in doc, True)

# the §1 table of default allocations is at least self-consistent (its counts were printed from
# liquid-dsp's ofdmframe_init_default_sctype when the page was written)
for m in re.finditer(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", doc, re.M):
    M, null, pilot, data, used = map(int, m.groups())
    same("M = %d: null + pilot + data = M" % M, null + pilot + data, M)
    same("M = %d: M_used = pilot + data" % M, used, pilot + data)

if bad:
    print("\n".join(bad))
    sys.exit(1)
print("PASS: docs/air-interface.md agrees with the code on %d keys" % len(keys))
PY
