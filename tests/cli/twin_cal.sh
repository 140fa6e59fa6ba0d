#!/bin/bash
# Issue 11's proof on B210 twins (fpga-notes/uhd-twin.md): `airmeta-twin server` + 3 `agent`
# processes over --radio uhd (the hardware command lines, GPSDO time, virtual time paced by the
# air), profile b210-shared-ref (10 MHz + PPS shared: random LO phases at every tune, TX/RX chain
# mismatch, phase noise), 50 rounds, closed-loop calibration on (server --cal auto = on with
# --radio uhd: calibration blocks, CAL feedback, docs/air-interface.md §8; the two calibration
# probes before round 1, §8.5) and the agents' carrier-offset tracker. Truth: the server's
# --report-x NMSE of each round against the docs/air-interface.md §5 floor eta^2 N0 / (2 n^2 rho)
# of that round (g_th 0: exact). Checked: the probes sent to and heard from the 3 agents, before
# round 1 only (metrics "probe"); every round decoded with the 3 agents heard (metrics "heard",
# §8.3) and applied; round 1 within 1 dB of the floor (measured -1.47 dB with the beacon's 16
# training blocks, docs/air-interface.md §6.1, the server's default; -1.41 with none) and the mean
# NMSE / floor over all 50 rounds within 0.5 dB (issue 11 asks 2; measured -0.64 dB, twice; -0.55
# with no training blocks; +0.51 before the
# probes, +0.35 before the radios' one Wiener phase for TX and RX and none with a shared
# reference, docs/impairments.md, +0.30 before the agents' offset from their LO phase's steps,
# docs/air-interface.md §4.2; the virtual time makes every run nearly the same). The same radios
# without calibration (--cal off, 20 rounds) are far
# worse (measured mean +5.00 dB, twice; +11.80 with no training blocks, +4.84 and +9.55 with none
# before those two changes; asserted > +4 dB), so the test can fail. Also: config.json records the
# radio (backend, arguments, device, gains, time source) and calibration, and the server evaluates
# new agents at eval rounds as sim does.
# b210-free (free-running oscillators: every radio's LO phase, sample clock and time register run
# on its own reference, ±2 ppm), calibrated, 50 rounds: the agents' LO phase tracker and timing
# advance (docs/air-interface.md §4.2 "Free-running radios", the first beacon's delay taken as the
# clock offset) keep every round decoded with the 3 agents heard and applied; with the probes
# round 1 is within 1 dB of the floor (measured -1.94..-1.06 dB over 77 runs of these command
# lines, with and without the beacon's training blocks; -2.07..-1.35 over 4 runs since the agents
# pre-compensate their sample clock, docs/air-interface.md §4.2 "Sampling clock", the build before
# -1.60..-1.33 in 4 runs interleaved with them; before the probes it came before any
# feedback and was the uncalibrated radios' +4.7..+17.5 dB, which alone moved one run's 50-round
# mean to +3.22 dB) and the mean NMSE / floor over all 50 rounds within 0.5 dB (issue 11 asks 3;
# measured -1.09..-0.63 dB over the same runs; -1.00..-0.89 over the 4 with the sample clock
# pre-compensated, -1.01..-0.78 before, the same spread). Before the first beacon's delay (each agent's
# clock offset there was left to §8's calibration, whose 8 sub-bands cannot follow the agents'
# different slopes across the band, docs/air-interface.md §4.2 "The first beacon's delay") the
# mean was -0.89..+0.50 dB in most runs and +0.78..+7.12 dB in 7 of 63 runs (round 1 up
# to +2.73), which the bounds of 3 dB let pass unless far out; these bounds fail them (the air's
# absolute ticks follow the host's UTC second, so the free-running runs differ). Without the
# tracker and advance (the code before) 18 of 30 rounds were decoded at +9.66 dB: the
# round-to-round LO phase 4 pi df B and the clocks' drift (0.5 samples a round) went uncorrected.
set -u
. "$AM_SOURCE_DIR/tests/cli/lib/net.sh"
. "$AM_SOURCE_DIR/tests/cli/lib/need.sh"
need python3
. "$AM_SOURCE_DIR/tests/cli/lib/twin.sh"
RA="type=b200,rate=1e6,freq=915e6,tx_gain=72,rx_gain=48,clock=gpsdo,time=gpsdo"

# run NAME PROFILE ROUNDS SERVER-ARGS...: air (55 dB), server and 3 agents (tests/cli/lib/twin.sh
# twin_run); $out/NAME/metrics.jsonl
run() {
    twin_run "$1" 55 "$2" 61 3571 "$RA,serial=S" "$RA,serial=A0" "$RA,serial=A1" "$RA,serial=A2" \
        -- --agents 3 --rounds "$3" --join-timeout 60 --report-x --g-th 0 "${@:4}"
}

run cal b210-shared-ref 50
run nocal b210-shared-ref 20 --cal off
run free b210-free 50
python3 - "$out" <<'PY' || fail "metrics"
import json, math, sys
d = sys.argv[1]
def rows(n):
    return [json.loads(l) for l in open(f"{d}/{n}/metrics.jsonl")]
def excess(r):
    return 10 * math.log10(r["agg_nmse"] / 10 ** (r["agg_floor_db"] / 10))
cal, nocal, free = rows("cal"), rows("nocal"), rows("free")
assert len(cal) == 50 and len(nocal) == 20 and len(free) == 50, (len(cal), len(nocal), len(free))
# A round an agent lost to the host's load is the run's fault, not the coherence this test
# measures: an agent descheduled past its beacon logs "round R: no beacon" (R = the metrics'
# round - 1) and one whose burst went late "round R: burst not sent: ..." (uhd.c drops a late
# burst whole). On the twins an agent stopped for 1 s (SIGSTOP) lost its beacon so and was not
# heard in that round (0.15-0.6 s stops cost nothing). Such a round is reported and its
# agent left out of the round's checks (at most 2 a run: more and the host was too loaded to
# tell); an agent not heard without such a line in its log fails the test. A round every agent
# lost has no burst to decode: reported likewise. (Seen once in 30 runs of the free command lines
# while the whole suite ran beside them, each agent "no beacon ... (not detected)", the server's
# round 1.06 s: net_air_rx_collect cut the windows after 0.05 s of host time without samples while
# a descheduled peer held the air's time still; it now asks the radio's clock, fpga-notes/uhd-twin.md
# "The round every agent lost", tests/twin/twin_uhd.c window_survives_a_peer_stall.)
def lost(n, k, rnd):
    want = (f"agent {k}: round {rnd - 1}: no beacon",
            f"agent {k}: round {rnd - 1}: burst not sent: ")
    return any(l.startswith(want) for l in open(f"{d}/{n}-agent{k}.log"))
def present(n, r):
    gone = [k for k in (0, 1, 2) if k not in r["heard"] and lost(n, k, r["round"])]
    if gone:
        print(f"{n}: round {r['round']}: agent(s) {gone} lost the round (their logs: no beacon "
              "or burst not sent), not heard: a fault of the run, not of its coherence")
    return [k for k in (0, 1, 2) if k not in gone]
pres = {n: {r["round"]: present(n, r) for r in rs} for n, rs in (("cal", cal), ("free", free))}
for n, p in pres.items():
    nl = sum(v != [0, 1, 2] for v in p.values())
    assert nl <= 2, f"{n}: {nl} rounds lost to the host's load (at most 2)"
# In about 1 run of 80 (before the probes) agent 0 was not heard from round 2 on (21 rounds in
# one): the first calibration's E (docs/air-interface.md §8.2) read it at 0.37 of its gain where
# its burst, a few samples off the others', turned across a sub-band; the correction amplified it
# 3.5x and its bursts went over the DAC's limit (refused by uhd.c, so never heard again). E keeps
# the gain now; tests/phy/cal.c measure_late_agent reproduces the case (these runs are not
# reproducible: fpga-notes/uhd-twin.md "Time").
for r in free:
    assert r["decoded"] or not pres["free"][r["round"]], \
        f"free: round {r['round']} not decoded: {r.get('why')}"
    assert r["heard"] == pres["free"][r["round"]], f"free: round {r['round']} heard {r['heard']}"
    assert r["agents"] == pres["free"][r["round"]], \
        f"free: round {r['round']} applied {r['agents']}"
exf = [excess(r) for r in free if r["decoded"]]
# the two calibration probes before round 1 (docs/air-interface.md §8.5) were sent to and heard
# from every agent, and only before round 1
for n, rs in (("free", free), ("cal", cal)):
    assert rs[0]["probe"] == {"agents": [0, 1, 2], "probes": 2, "heard": [0, 1, 2]}, rs[0]
    assert all("probe" not in r for r in rs[1:]), f"{n}: a probe after round 1"
# round 1 is calibrated by the probes (before them its excess was the uncalibrated radios',
# +4.7..+17.5 dB over runs, which alone moved a 50-round mean to +3.22 dB in one run)
mf = 10 * math.log10(sum(10 ** (e / 10) for e in exf) / len(exf))
print("free: per-round excess over the floor, dB:", " ".join(f"{e:+.1f}" for e in exf))
print(f"free: round 1 {exf[0]:+.2f} dB (bound +1; measured -1.94..-1.06 over 77 runs; before the "
      "first beacon's delay up to +2.73, before the probes +4.7..+17.5)")
print(f"free: mean NMSE / floor, all 50 rounds, {mf:+.2f} dB (bound +0.5, issue 11 asks 3; "
      "measured -1.09..-0.63 over 77 runs; before the first beacon's delay +0.78..+7.12 in "
      "7 of 63 runs)")
assert exf[0] <= 1.0, f"b210-free round 1 {exf[0]:+.2f} dB over the floor"
assert mf <= 0.5, f"b210-free calibrated, all 50 rounds, {mf:+.2f} dB over the floor"

for r in cal:
    assert r["decoded"] or not pres["cal"][r["round"]], \
        f"cal: round {r['round']} not decoded: {r.get('why')}"
    assert r["heard"] == pres["cal"][r["round"]], f"cal: round {r['round']} heard {r['heard']}"
    assert r["agents"] == pres["cal"][r["round"]], f"cal: round {r['round']} applied {r['agents']}"
ex = [excess(r) for r in cal if r["decoded"]]
# the mean of NMSE / floor over the run, in dB
m = 10 * math.log10(sum(10 ** (e / 10) for e in ex) / len(ex))
print("cal: per-round excess over the floor, dB:", " ".join(f"{e:+.1f}" for e in ex))
print(f"cal: round 1 {ex[0]:+.2f} dB (bound +1; measured -1.47; -1.41 with no training blocks)")
print(f"cal: mean NMSE / floor, all 50 rounds, {m:+.2f} dB (bound +0.5, issue 11 asks 2; "
      "measured -0.64; -0.55 with no training blocks)")
assert ex[0] <= 1.0, f"b210-shared-ref round 1 {ex[0]:+.2f} dB over the floor"
assert m <= 0.5, f"calibrated run {m:+.2f} dB over the floor"
assert all("heard" not in r and "probe" not in r for r in nocal), "heard or probe without cal"
# config.json records the radio and calibration; new agents are evaluated at eval rounds (every
# rounds / 4 = 12 and the last, as sim)
for n, cal_on in (("cal", True), ("nocal", False)):
    c = json.load(open(f"{d}/{n}/config.json"))
    r = c["radio"]
    assert r["backend"] == "uhd" and "serial=S" in r["args"] and r["rate"] == 1e6, r
    assert "B210" in r["device"] or "b200" in r["device"].lower(), r["device"]
    assert r["tx_gain"] == 72 and r["rx_gain"] == 48 and r["time_source"] == "gpsdo", r
    assert c["calibration"] is cal_on, (n, c["calibration"])
ev = [r["round"] for r in cal if "eval" in r]
assert ev == [12, 24, 36, 48, 50], ev
for r in cal:
    if "eval" in r:
        e = r["eval"]["new"]
        assert e["tasks"] == 600 and math.isfinite(e["loss_after"]), e
exn = [excess(r) for r in nocal if r["decoded"]]
mn = 10 * math.log10(sum(10 ** (e / 10) for e in exn) / len(exn))
print("nocal: per-round excess, dB:", " ".join(f"{e:+.1f}" for e in exn))
print(f"nocal: mean NMSE / floor {mn:+.2f} dB (asserted > +4; measured +5.00; +11.80 with no "
      "training blocks)")
assert mn > 4.0, f"uncalibrated run only {mn:+.2f} dB over the floor: the test cannot tell"
PY
for k in 0 1 2; do
    for n in cal free; do
        # rounds lost to the host's load (above) are neither applied nor heard
        m=$(grep -Ec "^agent $k: round [0-9]+: (no beacon|burst not sent: )" "$out/$n-agent$k.log")
        want="agent $k: done: 50 rounds, $((50 - m)) applied, .* heard in $((50 - m)) of 50"
        want="$want calibrations"
        grep -q "$want (and in 2 of 2 probes)" "$out/$n-agent$k.log" ||
            fail "$n: agent $k: not heard or not applied in every round and probe"
    done
done
if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$out"/*.log; then
    fail "sanitizer report"
fi
echo PASS
