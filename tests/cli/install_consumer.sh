#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then a third-party program that links the waveform
# (phy) and the learner (fl) without the airmeta program, built twice: with pkg-config and with
# CMake's find_package(airmeta). Both print the MLP 1-40-40-1's parameter count (closed form
# 1*40+40 + 40*40+40 + 40*1+1 = 1761) and the burst length of a 1761-real payload at M = 256,
# checked against docs/air-interface.md §1: 3 preamble blocks + ceil(ceil(L/2) / M_data) data
# blocks of M + cp samples.
set -u
. "$(dirname "$0")/lib/need.sh"
need pkg-config
fail() { echo "FAIL: $*"; exit 1; }
build=$(cd "$(dirname "$AIRMETA")/.." && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cmake --install "$build" --prefix "$d/prefix" >"$d/install.log" 2>&1 ||
    { cat "$d/install.log"; fail "cmake --install"; }
for f in bin/airmeta include/airmeta/phy/ota_rx.h include/airmeta/fl/model.h \
    include/airmeta/core/status.h lib/libairmeta_phy.a lib/libairmeta_fl.a \
    lib/pkgconfig/airmeta-phy.pc lib/cmake/airmeta/airmetaConfig.cmake; do
    [ -e "$d/prefix/$f" ] || fail "not installed: $f"
done
if command -v help2man >/dev/null; then
    grep -q 'federated meta-learning over the air' "$d/prefix/share/man/man1/airmeta.1" ||
        fail "no man page installed (help2man is there)"
fi
"$d/prefix/bin/airmeta" --version | grep -q '^airmeta ' || fail "installed airmeta --version"
# A sanitizer build's libraries need the sanitizer runtime in the consumer too.
san=()
grep -q '^AM_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && san=(-fsanitize=address,undefined)
mkdir -p "$d/src"
cat >"$d/src/consumer.c" <<'C'
#include <stdio.h>

#include "fl/model.h"
#include "phy/frame.h"
#include "phy/version.h"

int main(void)
{
    const unsigned widths[] = {1, 40, 40, 1};
    fl_mlp_cfg mc = {widths, 4, 10, FL_INIT_MAML};
    fl_model *m = NULL;
    phy_frame_cfg fc = {256, 0, NULL};
    phy_frame *f = NULL;
    if (fl_model_create_mlp(&mc, &m) != AM_OK || phy_frame_create(&fc, &f) != AM_OK) {
        fprintf(stderr, "consumer: %s\n", am_last_error());
        return 1;
    }
    const size_t D = fl_model_nparams(m);
    printf("params %zu data %u cp %u burst %zu version %u\n", D, phy_frame_n_data(f),
           phy_frame_cp_len(f), phy_frame_burst_len(f, D), phy_air_interface_version());
    phy_frame_destroy(f);
    fl_model_destroy(m);
    return 0;
}
C
cat >"$d/src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(airmeta REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE airmeta::phy airmeta::fl)
C
export PKG_CONFIG_PATH="$d/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=gnu11 "${san[@]}" -o "$d/pc-consumer" "$d/src/consumer.c" \
    $(pkg-config --cflags --libs --static airmeta-phy airmeta-fl) 2>"$d/cc.log" ||
    { cat "$d/cc.log"; fail "pkg-config build"; }
cmake -S "$d/src" -B "$d/cm" -G Ninja -DCMAKE_PREFIX_PATH="$d/prefix" \
    -DCMAKE_C_FLAGS="${san[*]}" -DCMAKE_EXE_LINKER_FLAGS="${san[*]}" >"$d/cm.log" 2>&1 &&
    cmake --build "$d/cm" >>"$d/cm.log" 2>&1 || { cat "$d/cm.log"; fail "find_package build"; }
a=$("$d/pc-consumer") || fail "pkg-config consumer exit $?"
b=$("$d/cm/consumer") || fail "find_package consumer exit $?"
echo "pkg-config:   $a"
echo "find_package: $b"
[ "$a" = "$b" ] || fail "the two builds disagree"
read -r _ params _ ndata _ cp _ burst _ version <<<"$a"
[ "$params" -eq 1761 ] || fail "params $params, expected 1761"
blocks=$(( 3 + ( (params + 1) / 2 + ndata - 1 ) / ndata ))
[ "$burst" -eq $(( blocks * (256 + cp) )) ] || fail "burst $burst, expected $blocks x $((256 + cp))"
"$AIRMETA" --version | grep -q "air interface version $version" ||
    fail "air interface version $version differs from airmeta --version"
echo "ok: installed libraries link from outside (pkg-config and find_package)"
