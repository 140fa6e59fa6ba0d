#!/bin/bash
# Issue 12 finding 7: a FIFO in place of a .sigmf-meta, a .sigmf-data, checkpoint.bin, config.json
# or metrics.jsonl is refused at once with a message naming it (it used to block forever: every
# command here runs under `timeout`, so a regression fails instead of hanging); outputs that are
# not regular files (/dev/null, a FIFO, a symbolic link, a folder) are refused, never replaced.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
T=20 # seconds: each command below takes < 1 s when it does not block

# run CODE PATTERN ARGS...: airmeta ARGS exits CODE (not 124: blocked) with PATTERN in its stderr
run() {
    local code=$1 pat=$2
    shift 2
    timeout $T "$AIRMETA" "$@" >"$d/out" 2>"$d/err"
    local rc=$?
    [ $rc -eq 124 ] && fail "airmeta $*: blocked (killed after $T s)"
    [ $rc -eq "$code" ] || fail "airmeta $*: exit $rc, expected $code: $(cat "$d/err")"
    [ -z "$pat" ] || grep -qF -- "$pat" "$d/err" ||
        fail "airmeta $*: '$(cat "$d/err")' lacks '$pat'"
    echo "ok: $* -> $rc: $(cat "$d/err")"
}
cap=$AM_SOURCE_DIR/captures/one_clean

# 1, 2: the capture's two files
mkfifo "$d/m.sigmf-meta"
run 4 "m.sigmf-meta: not a regular file (a FIFO)" replay "$d/m.sigmf-meta"
cp "$cap.sigmf-meta" "$d/dd.sigmf-meta"
mkfifo "$d/dd.sigmf-data"
run 4 "dd.sigmf-data: not a regular file (a FIFO)" replay "$d/dd.sigmf-meta"

# a finished run to resume (4 rounds, checkpoint every 2)
"$AIRMETA" sim --quiet --rounds 4 --checkpoint-every 2 --out "$d/run" || fail "sim run"
# swap NAME: DIR=copy of the run with NAME replaced by a FIFO
swap() { rm -rf "$d/s"; cp -r "$d/run" "$d/s"; rm -f "$d/s/$1"; mkfifo "$d/s/$1"; }
# 3, 4, 5: checkpoint.bin, config.json, metrics.jsonl of a run resumed
swap checkpoint.bin
run 4 "checkpoint.bin: not a regular file (a FIFO)" sim --quiet --resume "$d/s"
swap config.json
run 4 "config.json: not a regular file (a FIFO)" sim --quiet --resume "$d/s"
swap metrics.jsonl
run 4 "metrics.jsonl: not a regular file (a FIFO)" sim --quiet --resume "$d/s"
# metrics.jsonl of a new run: opened for writing, a FIFO without a reader blocked too
mkdir -p "$d/new"
mkfifo "$d/new/metrics.jsonl"
run 4 "metrics.jsonl: not a regular file (a FIFO)" sim --quiet --rounds 2 --out "$d/new"
[ -p "$d/new/metrics.jsonl" ] || fail "the FIFO was replaced"

# outputs: never renamed over /dev/null, a FIFO, a link or a folder
# a /dev/null of our own (the real one must never be at stake: a regression would replace it)
if mknod "$d/null" c 1 3 2>/dev/null; then
    run 4 "null: not a regular file (a character device): refusing to replace it" \
        replay "$cap.sigmf-meta" --quiet --out "$d/null"
    [ -c "$d/null" ] || fail "the device node was replaced"
else
    echo "skip: mknod needs root (the FIFO, link and folder cases below still run)"
fi
mkfifo "$d/o.f32"
run 4 "o.f32: not a regular file (a FIFO)" replay "$cap.sigmf-meta" --quiet --out "$d/o.f32"
[ -p "$d/o.f32" ] || fail "the FIFO was replaced"
echo keep >"$d/target"
ln -s "$d/target" "$d/link.f32"
run 4 "link.f32: not a regular file (a symbolic link)" replay "$cap.sigmf-meta" --quiet \
    --out "$d/link.f32"
[ -L "$d/link.f32" ] && [ "$(cat "$d/target")" = keep ] || fail "the link or its target changed"
mkdir "$d/dir.f32"
run 4 "dir.f32: not a regular file (a folder)" replay "$cap.sigmf-meta" --quiet --out "$d/dir.f32"
ls "$d" | grep -q 'o\.f32\.\|link\.f32\.\|dir\.f32\.' && fail "temporary files left: $(ls "$d")"
# a recording whose .sigmf-meta is a link (loopback, phy/sigmf writer) and a run folder whose
# config.json is one (fs_write_atomic)
ln -s "$d/target" "$d/lb.sigmf-meta"
run 4 "lb.sigmf-meta: not a regular file (a symbolic link)" loopback --out "$d/lb"
[ -e "$d/lb.sigmf-data" ] && fail "loopback wrote its data file"
mkdir -p "$d/cfg"
ln -s "$d/target" "$d/cfg/config.json"
run 4 "config.json: not a regular file (a symbolic link)" sim --quiet --rounds 2 --out "$d/cfg"
[ "$(cat "$d/target")" = keep ] || fail "the link's target changed"
# a regular file stays replaceable: the same replay into a plain file works
run 0 "" replay "$cap.sigmf-meta" --quiet --out "$d/plain.f32"
cmp -s "$d/plain.f32" "$cap.expected.f32" || fail "plain output differs from the expected payloads"
echo PASS
