#!/bin/bash
# Issue 11's last trap on B210 twins (docs/air-interface.md §4.1 "The DAC's limit", §8.4): an agent
# whose own closed-loop correction A pushes its burst over its DAC's limit. `airmeta-twin server` +
# 3 `agent` processes over --radio uhd (GPSDO time, calibration on with its two probes before
# round 1, --report-x, g_th 0, 10 rounds), as tests/cli/twin_cal.sh; agent 2's radio runs at
# tx_gain 64 but is told tx_ref_dbm -71.75 (8 dB over the B210's nominal -79.75): its levels say
# what agents 0 and 1 at tx_gain 72 have, its chain is 8 dB weaker. The first probe measures it
# 8 dB low and its full step sets |A| near 2.5; with A its bursts need a peak +2.6 dBFS after the
# 12 dB back-off. Before the rule uhd.c refused every such burst ("would saturate the DAC") and,
# a CAL not heard leaving A alone (§8.4), agent 2 was never heard again: 0 of 10 rounds and 1 of
# 2 probes (b210-shared-ref, this script on the code before the rule). With the rule it scales
# each burst to fit and reads its CAL as E / s. Checked, on b210-shared-ref (ref: a shared 10 MHz
# reference, virtual time, every run the same) and b210-free (free-running radios): every round
# decoded with the 3 agents heard and applied, the probes heard from all, no burst refused,
# agents 0 and 1 never scaled; the server measures each agent's gain (§8.2, metrics cal_gain_db)
# at its scale: 0 dB for agents 0 and 1, the scale agent 2 logged for agent 2 (E / s = 1: the loop
# converged). ref: agent 2 scaled its second probe (-2.7 dB) and every round's burst (-2.5 to
# -2.7 dB with the server's 16 training blocks, docs/air-interface.md §6.1; -3.0 with the 3-block
# beacon), every round within 1 dB of probe 2's (measured 0.2; 0.4 with the 3-block beacon;
# reading E, probe 2's full step takes the
# scale for a weak link and puts |A| at the clip: a local build did, its rounds 2.9-3.9 dB below
# the probe; tests/host/net.c dac_fit_and_cal); the NMSE over the §5 floor (computed for 3 agents
# at rho): agent 2 arrives s times weaker, so the noise of the sum is (3 / (2 + s))^2 of the
# floor's, +0.79 dB at s = -2.6 dB, over tests/cli/twin_cal.sh's -0.64 without the limit: +0.15;
# the mean over the run within +1.0 dB (measured +0.13, three runs; with the 3-block beacon +0.89
# at s = -3.0 over -0.55: +0.34, measured +0.24). free: looser bounds, measured over 14 runs with
# the 3-block beacon (one with 16 training blocks: scale -3.6 to -4.5 dB, gains within 0.12 and
# 0.05 dB, NMSE +0.61 dB)
# (the radios' clocks follow the host's, fpga-notes/uhd-twin.md "Time": runs differ); its NMSE is
# printed, not asserted (below).
set -u
. "$AM_SOURCE_DIR/tests/cli/lib/net.sh"
. "$AM_SOURCE_DIR/tests/cli/lib/need.sh"
need python3
. "$AM_SOURCE_DIR/tests/cli/lib/twin.sh"
R=10
RA="type=b200,rate=1e6,freq=915e6,rx_gain=48,clock=gpsdo,time=gpsdo"
A="$RA,tx_gain=72"
# NAME PROFILE A B: one run of the set-up above
dac_run() {
    twin_run "$1" 55 "$2" "$3" "$4" "$A,serial=S" "$A,serial=A0" "$A,serial=A1" \
        "$RA,tx_gain=64,tx_ref_dbm=-71.75,serial=A2" -- \
        --agents 3 --rounds "$R" --join-timeout 60 --report-x --g-th 0
    ! grep -q "would saturate the DAC" "$out/$1"-agent*.log || fail "$1: a burst refused"
    local want="heard in $R of $R calibrations (and in 2 of 2 probes)"
    grep -q "agent 2: done: $R rounds, $R applied, .* $want" "$out/$1-agent2.log" ||
        fail "$1: agent 2's summary: $(grep done: "$out/$1-agent2.log")"
    for k in 0 1; do
        grep -q "agent $k: done: $R rounds, $R applied, .* 0 bursts scaled to fit the DAC" \
            "$out/$1-agent$k.log" ||
            fail "$1: agent $k's summary: $(grep done: "$out/$1-agent$k.log")"
    done
}
dac_run ref b210-shared-ref 73 3607
dac_run free b210-free 79 3613
python3 - "$out" "$R" <<'PY' || fail "metrics"
import json, math, re, sys
d, R = sys.argv[1], int(sys.argv[2])
for n in ("ref", "free"):
    rs = [json.loads(l) for l in open(f"{d}/{n}/metrics.jsonl")]
    assert len(rs) == R, (n, len(rs))
    assert rs[0]["probe"] == {"agents": [0, 1, 2], "probes": 2, "heard": [0, 1, 2]}, (n, rs[0])
    for r in rs:
        assert r["decoded"], f"{n}: round {r['round']} not decoded: {r.get('why')}"
        assert r["heard"] == [0, 1, 2], f"{n}: round {r['round']} heard {r['heard']}"
        assert r["agents"] == [0, 1, 2], f"{n}: round {r['round']} applied {r['agents']}"
    # agent 2's scale per round (its log counts rounds from 0) and for its second probe
    sc, probe = {}, []
    for l in open(f"{d}/{n}-agent2.log"):
        m = re.match(r"agent 2: (round|probe before round) (\d+): burst scaled by (-\d+\.\d) dB "
                     r"to fit the DAC", l)
        if m and m.group(1) == "round":
            sc[int(m.group(2))] = float(m.group(3))
        elif m:
            probe.append(float(m.group(3)))
    print(f"{n}: agent 2: probe 2 scaled by {probe} dB, rounds:",
          " ".join(f"{sc[k]:.1f}" if k in sc else "-" for k in range(R)))
    g = [[r["cal_gain_db"][str(k)] for r in rs] for k in range(3)]
    for k in range(3):
        print(f"{n}: server: agent {k}'s gain (cal_gain_db):", " ".join(f"{x:+.2f}" for x in g[k]))
    ex = [10 * math.log10(r["agg_nmse"] / 10 ** (r["agg_floor_db"] / 10)) for r in rs]
    mean = 10 * math.log10(sum(10 ** (e / 10) for e in ex) / len(ex))
    print(f"{n}: per-round excess over the floor, dB:", " ".join(f"{e:+.2f}" for e in ex))
    if n == "ref":
        # the second probe and every round scaled (virtual time and a shared reference: every
        # run the same), within [-5, -1] dB: measured -2.5 to -2.7 (-3.0, -3.1 once, with the
        # 3-block beacon)
        assert sorted(sc) == list(range(R)) and len(probe) == 1, (sorted(sc), probe)
        s = [sc[k] for k in range(R)]
        assert all(-5.0 <= x <= -1.0 for x in s), s
        # the E / s reading keeps A where probe 2 left it (the rounds' scale within 1 dB of the
        # probe's: measured 0.2, 0.4 with the 3-block beacon); reading E (a local build), rounds
        # scaled by -5.6 to -6.6 dB
        drift = max(abs(x - probe[0]) for x in s)
        print(f"ref: agent 2: the rounds' scale at most {drift:.1f} dB from probe 2's (bound 1.0; "
              "measured 0.2)")
        assert drift <= 1.0, drift
        bg, bm = (0.1, 0.2), 1.0
    else:
        # b210-free: the burst's peak, hence its scale, moves from round to round (measured
        # -1.9 to -6.0 dB in 14 runs; probe 2 -2.2 to -4.2), the server's E with it
        s = [sc.get(k, 0.0) for k in range(R)]
        bg, bm = (0.75, 0.75), math.inf
    # an independent path: the server's §8.2 measurement of each agent (metrics cal_gain_db) is
    # its scale: agents 0 and 1 at 0 dB, agent 2 at the scale it logged (0 when not scaled): E / s
    # is 1, the loop has converged. ref: bounds 0.1 and 0.2 dB (measured 0.03 and 0.05, the log's
    # one decimal; 0.03 and 0.07 with the 3-block beacon); free: 0.75 and 0.75 (measured at most
    # 0.40 and 0.45 in 14 runs printed)
    g01 = max(abs(x) for x in g[0] + g[1])
    g2 = max(abs(x - y) for x, y in zip(g[2], s))
    print(f"{n}: agents 0, 1 at most {g01:.2f} dB from 0 (bound {bg[0]}); agent 2 at most "
          f"{g2:.2f} dB from its scale (bound {bg[1]})")
    assert g01 <= bg[0] and g2 <= bg[1], (n, g01, g2)
    # NMSE over the floor, the mean of the run: ref +0.13 (bound +1.0; the closed form of the
    # weaker share +0.15; +0.24 and +0.34 with the 3-block beacon); free: printed, not asserted:
    # +0.05 to +1.98 dB in the 12 runs of the
    # Release build printed (at most +3 in 8 more), but over +3 in 3 of 13 runs of the sanitizer
    # build (+3.21 and +3.26 printed, every round +2.2 to +4.4): the free-running twins' spread
    # from run to run (docs/air-interface.md §8.5, "Open"); what free asserts is the rule
    sl = 10 ** (sum(s) / len(s) / 20)
    bs = f"bound {bm:+.1f}" if bm < math.inf else "not asserted"
    print(f"{n}: mean NMSE / floor {mean:+.2f} dB ({bs}; the weaker agent's share "
          f"{20 * math.log10(3 / (2 + sl)):+.2f} dB)")
    assert mean <= bm, f"{n}: {mean:+.2f} dB over the floor"
want = f"heard in {R} of {R} calibrations (and in 2 of 2 probes), {R + 1} bursts scaled to fit"
assert want in open(f"{d}/ref-agent2.log").read(), "ref: probe 2 or a round not scaled"
PY
if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$out"/*.log; then
    fail "sanitizer report"
fi
echo PASS
