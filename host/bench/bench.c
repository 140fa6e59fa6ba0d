/* airmeta bench: dispatches to the benchmark programs of each layer. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "core/escape.h"

typedef struct bench_entry {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} bench_entry;

static const bench_entry benches[] = {
    {"phy", "TX/RX chain Msps vs liquid-dsp ofdmframegen/ofdmframesync (M = 256, 1024)", bench_phy},
    {"fl", "us per MAML sinusoid meta-iteration (70 000 in <= 30 s?) and layer GFLOP/s", bench_fl},
    {"radio", "radio backends (loop, zmq on 127.0.0.1, file): timed bursts out and back, MS/s",
     bench_radio},
    {"round", "one IQ-level simulated round, K = 20, D = 100 000: beacon, TX, channel, RX, apply",
     bench_round},
    {NULL, NULL, NULL},
};

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        FILE *f = argc < 2 ? stderr : stdout; /* a usage error goes to stderr */
        fprintf(f, "usage: airmeta bench WHICH [--json] [options]\n\nbenchmarks:\n");
        for (size_t i = 0; benches[i].name; i++)
            fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].summary);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; benches[i].name; i++)
        if (strcmp(argv[1], benches[i].name) == 0)
            return benches[i].run(argc - 1, argv + 1);
    fprintf(stderr, "airmeta bench: unknown benchmark '%s' (airmeta bench lists them)\n",
            AM_ESC(argv[1]));
    return 2;
}
