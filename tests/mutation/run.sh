#!/bin/bash
# Mutation check of the test suite (not part of ctest; run by hand, ~1-2 min per mutation on 2
# cores; ~20 min for all of them): copies the working tree (without .git and build folders) into a temporary folder,
# builds it once (Release, warnings not fatal: a planted bug may leave a variable unused) and
# checks that the suite passes there, then for each planted bug below: edits one file of the
# copy, rebuilds, runs the suite and restores the file. Prints one row per mutation: caught or
# not, and by which tests, split into truth-based catchers (closed forms, true averages, finite
# differences, protocol properties) and golden ones (a comparison with the decoder's own earlier
# output, captures/*.expected.*, or with stored recordings: they approve whatever made them, so a
# mutation caught by them alone counts as NOT caught by the truth). Exit 0 when every mutation is
# caught by a truth-based test.
#
#   tests/mutation/run.sh [-j N] [-R CTEST_REGEX] [--list] [--keep] [NAME...]
#
# NAME... runs only those mutations; -R passes a test selection to ctest (default: the whole
# suite but the hardware label); --keep leaves the temporary folder. Needs python3 (to apply the
# edits as literal text: a mutation whose text is no longer in the file is reported as STALE).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
jobs=2
regex=""
keep=0
list=0
only=()
while [ $# -gt 0 ]; do
    case $1 in
    -j) jobs=$2; shift 2 ;;
    -R) regex=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --list) list=1; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
    esac
done

# ---- the planted bugs: NAME | FILE | TEXT | REPLACEMENT | what it does ----
# Each TEXT must occur in FILE; every occurrence is replaced (literal text, not a regex).
M=()
mut() { M+=("$1"$'\x1f'"$2"$'\x1f'"$3"$'\x1f'"$4"$'\x1f'"$5"); }
mut g_from_s1_only phy/src/sync.c \
    'if (s != 0.0f) { /* MRC of the blocks that carry bin i */' \
    'if (s != 0.0f && b == 2) { /* MRC of the blocks that carry bin i */' \
    'composite gain G estimated from S1 alone (S0a/S0b dropped from the MRC)'
mut pilot_phase_off phy/src/ota_rx.c \
    'float complex u = a > 0.0f ? conjf(S) / a : 1.0f;' \
    'float complex u = 1.0f; (void)a;' \
    'pilot common-phase correction switched off'
mut cfo_phase_sign phy/src/sync.c \
    'double ph = fmod(-2.0 * M_PI * cfo * (double)(pos - anchor)' \
    'double ph = fmod(2.0 * M_PI * cfo * (double)(pos - anchor)' \
    'CFO phase carried from block to block with the wrong sign'
mut agent_cfo_sign host/round/ota_agent.c \
    'phy_rotate_from(out, n, c, q->M, fmod(2.0 * M_PI * c * ph' \
    'phy_rotate_from(out, n, -c, q->M, fmod(-2.0 * M_PI * c * ph' \
    'agent pre-compensates its CFO with the wrong sign (doubles it)'
mut timing_late_by_one phy/src/sync.c \
    'r->start = w0 + tau - cp - 2 * B;' \
    'r->start = w0 + tau - cp - 2 * B + 1;' \
    'burst start (and so every FFT window) one sample late'
mut window_early_by_one phy/src/sync.c \
    'return cp >= 8 ? 2 : cp / 4;' \
    'return cp >= 8 ? 3 : cp / 4;' \
    'FFT windows one sample earlier into the CP (backoff 3, not 2): start unchanged'
mut n0_half phy/src/sync.c \
    '*n0 = ncount ? (float)(nsum / ncount) : 0.0f;' \
    '*n0 = ncount ? (float)(nsum / ncount / 2.0) : 0.0f;' \
    'noise estimate N0 half of what it is'
mut maml_inner_step fl/src/meta.c \
    'pn[i] = pj[i] - alpha * q->gtmp[i];' \
    'pn[i] = pj[i] - 0.5f * alpha * q->gtmp[i];' \
    'MAML inner step taken with alpha/2 (backward still uses alpha)'
mut agg_noise_scale fl/src/agg.c \
    'return eta * eta * n0 / (2.0 * n * n * rho);' \
    'return eta * eta * n0 / (2.0 * n * rho);' \
    'stat aggregator noise variance over n instead of n^2 active agents'
mut stat_refuses_0db fl/src/agg.c \
    'cfg->snr_db < -100.0 ||' \
    'cfg->snr_db <= 0.0 ||' \
    'stat aggregator refuses SNR 0 dB (a range check off: fl.agg.stat_check once passed on it)'
mut ctrl_crc_short host/net/ctrl.c \
    'crc32_bytes(p, 28)' \
    'crc32_bytes(p, 24)' \
    'control header CRC leaves header bytes 24..27 (reserved) unprotected'
mut ctrl_payload_crc_short host/net/ctrl.c \
    'crc32_bytes(q, n)' \
    'crc32_bytes(q, n ? n - 1 : 0)' \
    'control payload CRC leaves the last payload byte unprotected (decoder side)'

if [ $list -eq 1 ]; then
    for m in "${M[@]}"; do
        IFS=$'\x1f' read -r name file _ _ what <<<"$m"
        printf '%-24s %-24s %s\n' "$name" "$file" "$what"
    done
    exit 0
fi
command -v python3 >/dev/null || { echo "run.sh: needs python3" >&2; exit 2; }

t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/airmeta-mutation.XXXXXX")
if [ $keep -eq 0 ]; then trap 'rm -rf "$work"' EXIT; fi
echo "copy of $root in $work/src"
mkdir -p "$work/src"
tar -C "$root" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$work/src" -xf -
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAM_WERROR=OFF \
    >"$work/configure.log" 2>&1 || { tail -20 "$work/configure.log"; exit 2; }

sel=(-LE hardware)
[ -n "$regex" ] && sel+=(-R "$regex")
# runs the selection; the failed tests' names in $work/failed, the output in $work/ctest.log
run_suite() {
    ctest --test-dir "$work/build" "${sel[@]}" -j"$jobs" --timeout 300 --output-on-failure \
        >"$work/ctest.log" 2>&1
    sed -n '/The following tests FAILED:/,$p' "$work/ctest.log" |
        sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*/\1/p' >"$work/failed"
}
# golden: the test failed only by comparing with stored output of the code itself
golden() {
    case $1 in
    cli.captures_regen) return 0 ;;
    cli.files_not_regular) # its one comparison with captures/one_clean.expected.f32
        grep -q "plain output differs from the expected payloads" "$work/ctest.log"
        return ;;
    cli.captures_replay)
        # its truth checks run first; a failure that names the expected decode is golden only
        grep -q "decode differs from NAME.expected.f32\|start [0-9]*, expected [0-9]*" \
            "$work/ctest.log" && ! grep -q "NMSE .* outside\|active .* vs true\|vs annotated" \
            "$work/ctest.log"
        return ;;
    esac
    return 1
}

echo "baseline build and suite ..."
cmake --build "$work/build" -j"$jobs" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 2; }
run_suite
if [ -s "$work/failed" ]; then
    echo "the suite fails without any mutation:"; cat "$work/failed"; exit 2
fi
echo "baseline: suite passes ($(($(date +%s) - t0)) s)"

rows=()
missed=0
for m in "${M[@]}"; do
    IFS=$'\x1f' read -r name file from to what <<<"$m"
    if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
    tm=$(date +%s)
    f="$work/src/$file"
    cp "$f" "$work/orig"
    if ! python3 - "$f" "$from" "$to" <<'PY'; then
import sys
path, a, b = sys.argv[1:4]
s = open(path).read()
if a not in s:
    sys.exit(1)
open(path, "w").write(s.replace(a, b))
PY
        rows+=("$name|STALE (text not found in $file)|-|-|0")
        missed=$((missed + 1))
        continue
    fi
    if ! cmake --build "$work/build" -j"$jobs" >"$work/build.log" 2>&1; then
        rows+=("$name|BUILD FAILED|-|-|$(($(date +%s) - tm))")
        missed=$((missed + 1))
    else
        run_suite
        truth=() gold=()
        while read -r t; do
            [ -z "$t" ] && continue
            if golden "$t"; then gold+=("$t"); else truth+=("$t"); fi
        done <"$work/failed"
        cp "$work/ctest.log" "$work/$name.log"
        if [ ${#truth[@]} -gt 0 ]; then
            caught=yes
        elif [ ${#gold[@]} -gt 0 ]; then
            caught="golden only"
            missed=$((missed + 1))
        else
            caught=NO
            missed=$((missed + 1))
        fi
        tl=$(IFS=,; echo "${truth[*]:-}")
        gl=$(IFS=,; echo "${gold[*]:-}")
        rows+=("$name|$caught|${tl:--}|${gl:--}|$(($(date +%s) - tm))")
    fi
    cp "$work/orig" "$f"
    echo "done: $name ($(($(date +%s) - tm)) s)"
done
cmake --build "$work/build" -j"$jobs" >/dev/null 2>&1 # leave the copy as it was (for --keep)

echo
printf '%-24s | %-11s | %s | %s | %s\n' mutation caught "truth-based catchers" \
    "golden catchers (captures/*.expected, stored recordings)" "s"
for r in "${rows[@]}"; do
    IFS='|' read -r n c t g s <<<"$r"
    printf '%-24s | %-11s | %s | %s | %s\n' "$n" "$c" "$t" "$g" "$s"
done
echo
echo "what each mutation plants:"
for m in "${M[@]}"; do
    IFS=$'\x1f' read -r name file _ _ what <<<"$m"
    printf '  %-24s %s: %s\n' "$name" "$file" "$what"
done
echo "wall time $(($(date +%s) - t0)) s; $missed mutation(s) not caught by a truth-based test"
[ $missed -eq 0 ]
