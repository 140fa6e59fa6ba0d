/* airmeta bench round: wall time of one IQ-level simulated round of Air-meta-pFL (issue 4
 * "Performance"): K agents' beacon processing, precoding and modulation, the channel emulator, the
 * server's receiver (host/agg_iq) and the optimiser step on theta, for random update vectors.
 * Medians over several rounds, with the breakdown, and a JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/bench.h"
#include "core/rng.h"
#include "fl/agg.h"
#include "fl/meta.h"
#include "round/agg_iq.h"
#include "util/cli.h"
#include "util/monotime.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, unsigned n, double *tmp)
{
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

enum { PART_BEACON, PART_TX, PART_CHAN, PART_RX, PART_APPLY, PART_OTHER, PART_TOTAL, NPART };
/* The agents' bursts are made inside the emulator, block by block (host/round/agg_iq.c): "tx" is
 * what stays outside it (the delivered vectors), "chan" the emulator with the bursts' modulation.
 */
static const char *const part_name[NPART] = {"beacon+chanest", "delivered", "TX+channel", "RX",
                                             "apply",          "other",     "total"};
static const char *const part_key[NPART] = {"beacon", "tx",    "chan",   "rx",
                                            "apply",  "other", "seconds"};

int bench_round(int argc, char **argv)
{
    unsigned K = 20, D = 100000, rounds = 9, threads = 2, nfft = 256;
    const char *impair = "ideal";
    float snr_db = 20.0f;
    uint64_t seed = 1;
    int json = 0;
    const cli_opt opts[] = {
        {"--agents", CLI_UINT, &K, "agents K", 1, 4096, NULL},
        {"--dim", CLI_UINT, &D, "update dimension D (payload reals per agent)", 1, 1e7, NULL},
        {"--rounds", CLI_UINT, &rounds, "timed rounds (the median is reported; one more warms up)",
         1, 10000, NULL},
        {"--threads", CLI_UINT, &threads,
         "threads for the agents' side and the channel emulator (the calling one included)", 1, 64,
         NULL},
        {"--nfft", CLI_UINT, &nfft, "FFT size M", 64, 4096, NULL},
        {"--snr-db", CLI_FLOAT, &snr_db, "per-agent SNR rho/N0 (docs/air-interface.md §5)", -50,
         200, NULL},
        {"--seed", CLI_U64, &seed, "seed of channels, noise and update vectors", 1, 0, NULL},
        {"--impair", CLI_STR, &impair,
         "radio impairment profile: ideal (default), b210-shared-ref, b210-free", 1, 0, NULL},
        {"--json", CLI_FLAG, &json, "one JSON line (seconds = median wall time of a round)", 0, -1,
         NULL},
    };
    const cli_cmd cmd = {
        "airmeta bench round",
        "[--agents 20] [--dim 100000] [--rounds 9] [--json]",
        "Wall time of one IQ-level simulated round: the server's beacon through the emulated\n"
        "downlink, every agent's beacon detection and channel/CFO estimation, precoding and OFDM\n"
        "modulation of its update (random vectors, truncated inversion, g_th 0.1), the channel\n"
        "emulator (4-tap Rayleigh, timing offsets, AWGN), the server's streaming receiver, and "
        "the\n"
        "Adam step of the meta-model theta on the estimate. Prints the median of each part over\n"
        "the timed rounds (after one warm-up round), the peak resident memory (getrusage\n"
        "ru_maxrss) and, with --json,\n"
        "{\"bench\":\"round\",\"agents\":K,\"dim\":D,\"seconds\":median total, ...parts,\n"
        "\"peak_mb\":MB, \"vectors_mb\":MB of the K update + delivered vectors, ...}.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    const char *pos[1];
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, pos, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("bench round", s);

    fl_agg agg = {0};
    fl_opt *opt = NULL;
    float **x = calloc(K, sizeof *x), **del = calloc(K, sizeof *del);
    float *out = malloc((size_t)D * sizeof *out), *act = malloc((size_t)D * sizeof *act);
    float *theta = calloc(D, sizeof *theta);
    double *t = calloc((size_t)NPART * (rounds + 1), sizeof *t), *tmp = calloc(rounds, sizeof *tmp);
    int rc = 0;
    if (!x || !del || !out || !act || !theta || !t || !tmp) {
        rc = cli_fail("bench round", AM_FAIL(AM_ENOMEM, "out of memory"));
        goto done;
    }
    for (unsigned k = 0; k < K; k++)
        if (!(x[k] = malloc((size_t)D * sizeof **x)) ||
            !(del[k] = malloc((size_t)D * sizeof **x))) {
            rc = cli_fail("bench round", AM_FAIL(AM_ENOMEM, "out of memory"));
            goto done;
        }
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.nfft = nfft;
    c.max_timing_offset = nfft / 32; /* cp/4 */
    c.snr_db = snr_db;
    c.threads = threads;
    c.seed = seed;
    phy_impair_cfg imp;
    if ((s = phy_impair_profile(impair, &imp)) != AM_OK) {
        rc = cli_fail("bench round", am_error_wrap(s, "--impair"));
        goto done;
    }
    c.impair = &imp;
    fl_opt_cfg oc;
    fl_opt_cfg_default(&oc);
    oc.kind = FL_OPT_ADAM;
    if ((s = agg_iq_create(&c, &agg)) != AM_OK || (s = fl_opt_create(&oc, D, &opt)) != AM_OK) {
        rc = cli_fail("bench round", s);
        goto done;
    }
    am_rng g;
    am_rng_seed(&g, seed);
    unsigned missed = 0;
    for (unsigned r = 0; r <= rounds; r++) {
        for (unsigned k = 0; k < K; k++) /* the agents' updates (not timed: the learner's work) */
            for (unsigned j = 0; j < D; j++)
                x[k][j] = 0.01f * (float)am_rng_normal(&g);
        double t0 = monotime_s();
        fl_agg_round rr = {.eta = fl_agg_eta(FL_ETA_RMS, (const float *const *)x, NULL, K, D),
                           .rho = 1.0f,
                           .g_th = 0.1f,
                           .round = r};
        s = fl_agg_execute(&agg, &rr, (const float *const *)x, NULL, K, D, out, act, del);
        double t1 = monotime_s();
        if (s != AM_OK) {
            rc = cli_fail("bench round", s);
            goto done;
        }
        fl_opt_step(opt, theta, out);
        double t2 = monotime_s();
        agg_iq_round_info in;
        agg_iq_last_round(&agg, &in);
        missed += !in.detected;
        double *tr = t + (size_t)r * NPART;
        tr[PART_BEACON] = in.t_beacon;
        tr[PART_TX] = in.t_tx;
        tr[PART_CHAN] = in.t_chan;
        tr[PART_RX] = in.t_rx;
        tr[PART_APPLY] = t2 - t1;
        tr[PART_TOTAL] = t2 - t0;
        tr[PART_OTHER] = tr[PART_TOTAL] - tr[PART_BEACON] - tr[PART_TX] - tr[PART_CHAN] -
                         tr[PART_RX] - tr[PART_APPLY];
    }
    double med[NPART];
    double *col = calloc(rounds, sizeof *col);
    if (!col) {
        rc = cli_fail("bench round", AM_FAIL(AM_ENOMEM, "out of memory"));
        goto done;
    }
    for (int p = 0; p < NPART; p++) {
        for (unsigned r = 0; r < rounds; r++)
            col[r] = t[(size_t)(r + 1) * NPART + p]; /* round 0 warms up */
        med[p] = median(col, rounds, tmp);
    }
    free(col);
    /* peak resident memory of the process: the K update vectors and delivered copies
     * (2 K D floats, the learner's), the aggregator's buffers and the libraries */
    struct rusage ru;
    double peak_mb = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : -1.0;
    const double vec_mb = 2.0 * K * (double)D * sizeof(float) / (1024.0 * 1024.0);
    if (json) {
        printf("{\"bench\":\"round\",\"agents\":%u,\"dim\":%u,\"seconds\":%.6f", K, D,
               med[PART_TOTAL]);
        for (int p = 0; p < PART_TOTAL; p++)
            printf(",\"%s\":%.6f", part_key[p], med[p]);
        printf(",\"peak_mb\":%.1f,\"vectors_mb\":%.1f,\"rounds\":%u,\"threads\":%u,\"nfft\":%u,"
               "\"missed\":%u}\n",
               peak_mb, vec_mb, rounds, threads, nfft, missed);
    } else {
        printf("airmeta bench round: K = %u agents, D = %u, M = %u, %u threads, SNR %g dB, median "
               "of %u rounds (after 1 warm-up)\n",
               K, D, nfft, threads, (double)snr_db, rounds);
        for (int p = 0; p < NPART; p++)
            printf("  %-15s %9.2f ms\n", part_name[p], 1e3 * med[p]);
        printf("  peak memory     %9.1f MB (of which %.1f MB the agents' update and delivered "
               "vectors)\n",
               peak_mb, vec_mb);
        printf("  (target <= 200 ms per round; %u of %u rounds missed)\n", missed, rounds + 1);
    }
done:
    fl_agg_destroy(&agg);
    fl_opt_destroy(opt);
    for (unsigned k = 0; x && del && k < K; k++) {
        free(x[k]);
        free(del[k]);
    }
    free(x);
    free(del);
    free(out);
    free(act);
    free(theta);
    free(t);
    free(tmp);
    return rc;
}
