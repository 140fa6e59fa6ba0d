#!/bin/bash
# airmeta sim --out DIR: config.json is JSON (python3) holding every flag of `sim --help` with the
# value the run used (defaults resolved) plus the versions, and it round-trips: a new run given
# exactly those flags writes the same metrics.jsonl. The plots are PNG files (signature bytes)
# when gnuplot is installed (learning, NMSE; the constellation for --agg iq; no NMSE plot for
# ideal); without gnuplot the run warns and succeeds. Skipped without python3, gnuplot or
# script(1), failed in CI (tests/cli/lib/need.sh). A terminal gets a progress bar (one line
# redrawn with round, loss and ETA), a pipe plain per-round lines, --quiet nothing.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/need.sh"
need python3 script
[ -n "${AIRMETA_GNUPLOT:-}" ] || need gnuplot
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
png_ok() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }

args=(--agg iq --agents 4 --rounds 12 --snr-db 15 --sparsity 0.5 --sparsify randk
      --tasks-per-agent 2 --eval-every 6 --eval-tasks 20 --seed 5 --cfo 0.02 --threads 2)
"$AIRMETA" sim "${args[@]}" --out "$d/a" >"$d/out" 2>"$d/err" || fail "iq run: $(cat "$d/err")"
for f in config.json metrics.jsonl wall.jsonl checkpoint.bin; do
    [ -s "$d/a/$f" ] || fail "missing $f"
done
[ "$(wc -l <"$d/a/metrics.jsonl")" -eq 12 ] || fail "metrics lines"
grep -q '"round_s"' "$d/a/wall.jsonl" || fail "wall times"
grep -q 'round_s\|elapsed_s' "$d/a/metrics.jsonl" && fail "wall time inside metrics.jsonl"

# every flag of --help is in config.json (but --out/--resume/--continue/--force: where the run is,
# not what it computes); the flags rebuild the run
"$AIRMETA" sim --help | grep -o '^  --[a-z-]*' | tr -d ' ' >"$d/help_flags"
python3 - "$d/a/config.json" "$d/help_flags" >"$d/argv" <<'PY' || fail "config.json"
import json, sys
cfg = json.load(open(sys.argv[1]))
flags = cfg["flags"]
assert cfg["command"] == "sim" and cfg["air_interface_version"] == 2, cfg
assert isinstance(cfg["airmeta_version"], str) and cfg["params"] > 0, cfg
helped = {l.strip()[2:] for l in open(sys.argv[2]) if l.strip() not in ("--help",)}
helped -= {"out", "resume", "continue", "force"}
helped -= {"cal"}  # --cal auto (the default here) is not written: config.json keeps its bytes
helped -= {"mapping"}  # --mapping complex (the default) is not written either
helped -= {"probes", "probe-excess"}  # nor --probes 2 and --probe-excess 0 (the defaults)
assert helped == set(flags), (helped ^ set(flags))
# resolved defaults, not placeholders
assert flags["cp"] == 32 and flags["timing-offset"] == 8 and flags["alpha"] == 0.01, flags
assert flags["local-lr"] == flags["beta"] and flags["eval-steps"] == 1, flags
assert flags["seed"] == 5 and flags["agg"] == "iq" and flags["threads"] == 2, flags
out = []
for k, v in flags.items():
    if v is None or v is False:
        continue
    out.append("--" + k)
    if v is not True:
        out.append(repr(v) if isinstance(v, float) else str(v))
print("\n".join(out))
PY
mapfile -t rebuilt <"$d/argv"
"$AIRMETA" sim "${rebuilt[@]}" --quiet --no-plots --out "$d/b" || fail "rebuilt run"
cmp "$d/a/metrics.jsonl" "$d/b/metrics.jsonl" || fail "config.json does not round-trip"
echo "ok: config.json round-trips (${#rebuilt[@]} arguments)"

for f in learning nmse constellation; do
    png_ok "$d/a/$f.png" || fail "$f.png is not a PNG"
done
"$AIRMETA" sim --agg ideal --agents 3 --rounds 4 --eval-every 2 --eval-tasks 10 --quiet \
    --out "$d/ideal" || fail "ideal run"
png_ok "$d/ideal/learning.png" || fail "ideal: learning.png"
[ ! -e "$d/ideal/nmse.png" ] || fail "ideal: an NMSE plot of nothing"
echo "ok: plots are PNG files"
# no gnuplot: a warning, the run succeeds, no plots
AIRMETA_GNUPLOT=/nonexistent/gnuplot "$AIRMETA" sim --agents 3 --rounds 3 --eval-every 3 \
    --eval-tasks 10 --quiet --out "$d/nogp" 2>"$d/err" || fail "no gnuplot: exit $?"
grep -q "warning: no plots" "$d/err" || fail "no gnuplot: warning missing: $(cat "$d/err")"
ls "$d/nogp"/*.png >/dev/null 2>&1 && fail "no gnuplot: PNG files appeared"
[ "$(wc -l <"$d/nogp/metrics.jsonl")" -eq 3 ] || fail "no gnuplot: metrics"

# console: plain lines on a pipe, a progress bar on a terminal (script(1) gives it one)
grep -q '^round      1  loss' "$d/out" || fail "plain lines on a pipe: $(head -3 "$d/out")"
grep -q $'\r' "$d/out" && fail "carriage returns on a pipe"
small=(--agents 3 --rounds 30 --eval-every 15 --eval-tasks 10 --no-plots)
[ -z "$("$AIRMETA" sim "${small[@]}" --quiet --out "$d/q")" ] || fail "--quiet printed"
script -qec "'$AIRMETA' sim ${small[*]} --out '$d/tty'" /dev/null >"$d/tty_out" ||
    fail "tty run"
grep -q $'\r round 30/30 \[#*\] 100%  loss [0-9.]*  nmse .* ETA' "$d/tty_out" ||
    fail "no progress bar on a terminal: $(tr '\r' '|' <"$d/tty_out" | head -c 600)"
grep -q '^round      1  loss' "$d/tty_out" && fail "plain lines on a terminal"
cmp "$d/q/metrics.jsonl" "$d/tty/metrics.jsonl" || fail "terminal changed the metrics"
echo "ok: progress bar on a terminal"
echo PASS
