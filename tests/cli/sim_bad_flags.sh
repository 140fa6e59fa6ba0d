#!/bin/bash
# airmeta sim refuses bad flags with a message naming the flag and exit code 2 (AM_EINVAL);
# a missing data set names the path, an unusable --out folder too; nothing is trained.
set -u
fail() { echo "FAIL: $*"; exit 1; }
expect_cmd=(sim --quiet --rounds 1)
. "$(dirname "$0")/lib/expect.sh"
expect 2 "--agg: 'foo' is not one of ideal|stat" --agg foo
expect 2 "--agents: '-3' is negative" --agents -3
expect 2 "--agents: 0 is outside" --agents 0
expect 2 "--snr-db: 'nan' is not a finite number" --snr-db nan
expect 2 "--snr-db: 'inf' is not a finite number" --snr-db inf
expect 2 "--sparsity: 0 is outside" --sparsity 0
expect 2 "--pool: 1000001 is outside" --pool 1000001
expect 2 "--clip: -1 is outside" --clip -1
expect 2 "--clip: 'nan' is not a finite number" --clip nan
expect 2 "--sparsity: 1.5 is outside" --sparsity 1.5
expect 2 "--g-th: -1 is outside" --g-th -1
expect 2 "--learner: 'maml3' is not one of" --learner maml3
expect 2 "--rounds: 'ten' is not a whole number" --rounds ten
expect 2 "--threads needs a value" --threads
expect 2 "unknown option '--snr'" --snr 10
expect 2 "--task omniglot needs --data-dir" --task omniglot
expect 4 "/nonexistent-airmeta-dir" --task fmnist --data-dir /nonexistent-airmeta-dir
# --out makes missing parents (sim_out_parents.sh); a file in the way is an I/O error naming it
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
touch "$d/file"
expect 4 "--out: .*$d/file/x" --out "$d/file/x"
expect 4 "--resume /nonexistent-airmeta-dir: not a run folder" --resume /nonexistent-airmeta-dir
expect 2 "--checkpoint-every: 0 is outside" --checkpoint-every 0
# an empty folder name is refused: "" + "/config.json" read the root folder's file
expect 2 "--resume: .*empty folder name" --resume ""
expect 2 "--data-dir: empty folder name" --task fmnist --data-dir ""
# waveform-only values without a waveform are refused, not ignored
expect 2 "--mapping real needs --agg iq (--agg stat sends no waveform)" --agg stat --mapping real
expect 2 "--cal on needs --agg iq (--agg ideal sends no waveform)" --agg ideal --cal on
expect 2 "--impair b210-free needs --agg iq (--agg stat has no radios)" --agg stat --impair b210-free
# ... and so are a capture folder and a radio (they were dropped: exit 0, nothing written), and
# radio keys without a radio (dropped with --agg iq too)
expect 2 "--capture-dir needs --agg iq (--agg stat sends no waveform)" --agg stat --capture-dir "$d/cap"
expect 2 "--radio file needs --agg iq (--agg ideal sends no waveform)" --agg ideal --radio file \
    --radio-args "tx=$d/rec"
expect 2 "--radio-args needs --radio (loop|file)" --agg iq --radio-args rate=1e6
[ -e "$d/cap" ] || [ -e "$d/rec.sigmf-meta" ] && fail "a refused run wrote its capture"
"$AIRMETA" sim --help | grep -q -- "--sparsify" || fail "--help lacks --sparsify"
echo PASS
