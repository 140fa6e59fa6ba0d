/* airmeta bench radio: throughput of the loop, zmq (127.0.0.1) and file radio backends, a timed
 * burst out and the same samples back, in MS/s (median of repetitions); with --twin-agents K the
 * rounds per second of a server and K agents on B210 twins (below). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cli.h"
#include "bench/bench.h"
#include "core/pool.h"
#include "core/rng.h"
#include "net/net_air.h"
#include "util/monotime.h"
#include "radio/radio.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sends nb bursts of n samples from tx and receives each on rx (TX first, then RX from the
 * burst's time: the file radio replays only completed recordings); returns MS/s or < 0. */
static double run_once(radio *tx,
                       radio *rx,
                       const float complex *x,
                       float complex *y,
                       size_t n,
                       unsigned nb,
                       int64_t *tick)
{
    double t0 = monotime_s();
    for (unsigned b = 0; b < nb; b++) {
        radio_time tb = radio_time_from_ticks(*tick + (int64_t)(b * n), 1e6);
        if (radio_tx_burst(tx, x, n, &tb) != AM_OK || radio_tx_flush(tx, 5.0) != AM_OK ||
            radio_rx_start(rx, &tb) != AM_OK)
            return -1;
        size_t got = 0;
        while (got < n) {
            size_t k = 0;
            radio_time t;
            if (radio_rx(rx, y + got, n - got, &k, &t, 5.0) != AM_OK)
                return -1;
            got += k;
        }
        radio_rx_stop(rx);
        if (memcmp(x, y, n * sizeof *x) != 0)
            return -2;
    }
    double dt = monotime_s() - t0;
    *tick += (int64_t)(nb * n);
    return (double)nb * (double)n / dt / 1e6;
}

static int bench_one(const char *name,
                     const char *tx_args,
                     const char *rx_args,
                     size_t n,
                     unsigned nb,
                     unsigned reps,
                     int json)
{
    radio *tx = NULL, *rx = NULL;
    am_status s = radio_open(name, tx_args, &tx);
    char rxa[512];
    if (s == AM_OK && strcmp(name, "zmq") == 0) {
        /* connect to the port the TX side actually bound */
        radio_info in;
        radio_get_info(tx, &in);
        const char *p = strstr(in.device, "tx=");
        snprintf(rxa, sizeof rxa, "rx=%.*s", p ? (int)strcspn(p + 3, " ") : 0, p ? p + 3 : "");
        rx_args = rxa;
    }
    if (s == AM_OK)
        s = rx_args ? radio_open(name, rx_args, &rx) : AM_OK;
    if (s != AM_OK) {
        radio_close(tx);
        return cli_fail("bench radio", s);
    }
    if (!rx)
        rx = tx;
    float complex *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *ms = calloc(reps, sizeof *ms);
    int rc = 0;
    if (!x || !y || !ms) {
        fprintf(stderr, "airmeta bench radio: out of memory\n");
        rc = 8;
        goto out;
    }
    am_rng g;
    am_rng_seed(&g, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = am_rng_cnormal(&g);
    int64_t tick = 1000;
    for (unsigned r = 0; r < reps && rc == 0; r++) {
        ms[r] = run_once(tx, rx, x, y, n, nb, &tick);
        if (ms[r] < 0) {
            fprintf(stderr, "airmeta bench radio: %s run failed: %s\n", name,
                    ms[r] == -2 ? "samples differ" : am_last_error());
            rc = 1;
        }
    }
    if (rc == 0) {
        qsort(ms, reps, sizeof *ms, cmp_double);
        double med = ms[reps / 2];
        if (json)
            printf("{\"bench\":\"radio\",\"backend\":\"%s\",\"burst\":%zu,\"bursts\":%u,"
                   "\"reps\":%u,\"msps\":%.2f}\n",
                   name, n, nb, reps, med);
        else
            printf("%-5s %8zu-sample bursts x %u: %8.2f MS/s (median of %u)\n", name, n, nb, med,
                   reps);
    }
out:
    free(x);
    free(y);
    free(ms);
    if (rx != tx)
        radio_close(rx);
    radio_close(tx);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * --twin-agents K: rounds of the on-air data plane (host/net/net_air.h) on B210 twins
 * ------------------------------------------------------------------------------------------- */

/* One server and K agents, each a `uhd` radio with its own thread, on one air: per round the
 * server arms its uplink window and sends the beacon at B, every agent collects its window
 * around B and sends a burst at T = B + the on-air turnaround (NET_AIR_TURN_S), the server
 * collects the sum. The schedule is fixed (B = B0 + r slot, slot = lead + turn + burst), so only
 * the radios run: the twin's cost per round (issue 11: it must not be a rehearsal's bottleneck).
 * With `airmeta-twin` the devices are twins (AIRMETA_TWIN; unset: a private air in this process,
 * b210-shared-ref, GPSDO time); with `airmeta` real B210s (serials S, A0, A1, ...). */
typedef struct twin_bench {
    unsigned K, rounds, round, phase; /* phase 0: the agents arm their windows; 1: the round */
    size_t bl, blen, swin, awin;
    double rate;
    int64_t B0, slot, gap, blk;
    radio **rad;                    /* K + 1: 0 the server */
    float complex *beacon, *burst;  /* bl, blen */
    float complex *buf;             /* (K + 1) x max(swin, awin) */
    am_status *st;                  /* K + 1 */
    char (*err)[160];
    const char *args;
} twin_bench;

static void twin_fail(twin_bench *b, unsigned t, am_status s)
{
    b->st[t] = s;
    snprintf(b->err[t], sizeof b->err[t], "%s", am_last_error());
}

static void twin_open(void *ctx, unsigned t)
{
    twin_bench *b = ctx;
    char a[512];
    if (t == 0)
        snprintf(a, sizeof a, "%s,serial=S", b->args);
    else
        snprintf(a, sizeof a, "%s,serial=A%u", b->args, t - 1);
    double rate = 0;
    am_status s = net_air_open("uhd", a, &b->rad[t], &rate);
    if (s != AM_OK)
        twin_fail(b, t, s);
    else if (t == 0)
        b->rate = rate;
}

static void twin_round(void *ctx, unsigned t)
{
    twin_bench *b = ctx;
    const int64_t B = b->B0 + (int64_t)b->round * b->slot, T = B + b->gap;
    const size_t cap = b->swin > b->awin ? b->swin : b->awin;
    float complex *buf = b->buf + (size_t)t * cap;
    radio *r = b->rad[t];
    size_t got = 0, gaps = 0;
    am_status s;
    if (t == 0 && b->phase == 0)
        return;
    if (t == 0) { /* the server: uplink window from T - 4 blocks, beacon at B */
        const int64_t w0 = T - 4 * b->blk;
        if ((s = net_air_rx_arm(r, b->rate, w0, b->swin)) == AM_OK &&
            (s = net_air_tx_at(r, b->rate, b->beacon, b->bl, B, 0)) == AM_OK)
            s = net_air_rx_collect(r, b->rate, w0, buf, b->swin, 30.0, 5.0, &got, &gaps);
        if (s == AM_OK)
            s = radio_tx_flush(r, 5.0);
    } else if (b->phase == 0) { /* an agent: its window from B - 2 blocks, armed first */
        s = net_air_rx_arm(r, b->rate, B - 2 * b->blk, b->awin);
        got = 1;
    } else { /* then collected, its burst at T */
        const int64_t w0 = B - 2 * b->blk;
        if ((s = net_air_rx_collect(r, b->rate, w0, buf, b->awin, 30.0, 5.0, &got, &gaps)) == AM_OK)
            s = net_air_tx_at(r, b->rate, b->burst, b->blen, T, 5.0);
    }
    if (s != AM_OK)
        twin_fail(b, t, s);
    else if (gaps || got == 0)
        twin_fail(b, t, AM_FAIL(AM_EDEVICE, "%s: window with %zu samples, %zu gaps",
                                t ? "agent" : "server", got, gaps));
}

static am_status twin_check(const twin_bench *b, const char *what)
{
    for (unsigned t = 0; t <= b->K; t++)
        if (b->st[t] != AM_OK)
            return AM_FAIL(b->st[t], "bench radio: %s, %s %u: %s", what, t ? "agent" : "server",
                           t ? t - 1 : 0, b->err[t]);
    return AM_OK;
}

/* Rounds per second of host time and the air's seconds per round (virtual time). */
static int bench_twin(unsigned K, unsigned rounds, unsigned nfft, const char *args, int json)
{
    twin_bench b = {.K = K, .rounds = rounds, .args = args};
    am_pool *pool = NULL;
    am_status s = am_pool_create(K + 1, "bench radio", &pool);
    const size_t n = K + 1;
    b.rad = calloc(n, sizeof *b.rad);
    b.st = calloc(n, sizeof *b.st);
    b.err = calloc(n, sizeof *b.err);
    /* an M = nfft burst of the sinusoid MLP's 1761 reals, the beacon's three blocks */
    b.blk = (int64_t)(nfft + nfft / 8);
    const size_t nsym = (1761 + 2 * (size_t)(nfft * 3 / 4) - 1) / (2 * (size_t)(nfft * 3 / 4));
    b.bl = 3 * (size_t)b.blk;
    b.blen = (3 + nsym) * (size_t)b.blk;
    b.swin = b.blen + 8 * (size_t)b.blk;
    b.awin = b.bl + 4 * (size_t)b.blk;
    const size_t cap = b.swin > b.awin ? b.swin : b.awin;
    b.beacon = malloc(b.bl * sizeof *b.beacon);
    b.burst = malloc(b.blen * sizeof *b.burst);
    b.buf = malloc(n * cap * sizeof *b.buf);
    if (s == AM_OK && (!b.rad || !b.st || !b.err || !b.beacon || !b.burst || !b.buf))
        s = AM_FAIL(AM_ENOMEM, "bench radio: %u twins", K + 1);
    if (s == AM_OK) {
        am_rng g;
        am_rng_seed(&g, 1);
        for (size_t i = 0; i < b.bl; i++) /* -12 dBFS rms: the levels of a precoded burst */
            b.beacon[i] = 0.25f * am_rng_cnormal(&g);
        for (size_t i = 0; i < b.blen; i++)
            b.burst[i] = 0.25f * am_rng_cnormal(&g);
        am_pool_run(pool, twin_open, &b);
        s = twin_check(&b, "opening the radios");
    }
    double t0 = 0, t1 = 0;
    if (s == AM_OK && (s = net_air_tick_after(b.rad[0], b.rate, NET_AIR_LEAD_S, &b.B0)) == AM_OK) {
        b.gap = (int64_t)ceil(NET_AIR_TURN_S * b.rate);
        b.slot = (int64_t)ceil(NET_AIR_LEAD_S * b.rate) + b.gap + (int64_t)b.blen;
        t0 = monotime_s();
        for (b.round = 0; b.round < rounds && s == AM_OK; b.round++)
            for (b.phase = 0; b.phase < 2 && s == AM_OK; b.phase++) {
                /* the agents hold the air before the server's window can run it on (as GO
                   before the beacon in a run) */
                am_pool_run(pool, twin_round, &b);
                s = twin_check(&b, "a round");
            }
        t1 = monotime_s();
    }
    for (size_t i = 0; b.rad && i < n; i++)
        radio_close(b.rad[i]);
    am_pool_destroy(pool);
    free(b.rad);
    free(b.st);
    free(b.err);
    free(b.beacon);
    free(b.burst);
    free(b.buf);
    if (s != AM_OK)
        return cli_fail("bench radio", s);
    const double rps = rounds / (t1 - t0), air = (double)b.slot / b.rate;
    if (json)
        printf("{\"bench\":\"radio\",\"backend\":\"uhd\",\"agents\":%u,\"rounds\":%u,"
               "\"rounds_per_s\":%.3f,\"air_s_per_round\":%.4f,\"x_real_time\":%.3f}\n",
               K, rounds, rps, air, rps * air);
    else
        printf("uhd   %u agents, %u rounds: %.2f rounds/s (%.1f ms of host time a round), %.3f s "
               "of air a round: %.2f x real time\n",
               K, rounds, rps, 1e3 / rps, air, rps * air);
    return 0;
}

int bench_radio(int argc, char **argv)
{
    int json = 0;
    unsigned burst = 65536, bursts = 16, reps = 5, twin_agents = 0, twin_rounds = 20, nfft = 256;
    const char *twin_args = "type=b200,rate=1e6,freq=915e6,tx_gain=72,rx_gain=48,clock=gpsdo,"
                            "time=gpsdo";
    const cli_opt opts[] = {
        {"--json", CLI_FLAG, &json, "one JSON object per backend", 0, -1, NULL},
        {"--burst", CLI_UINT, &burst, "samples per burst", 1, 1 << 22, NULL},
        {"--bursts", CLI_UINT, &bursts, "bursts per repetition", 1, 100000, NULL},
        {"--reps", CLI_UINT, &reps, "repetitions (median reported)", 1, 1000, NULL},
        {"--twin-agents", CLI_UINT, &twin_agents,
         "instead: a server and K agents on uhd radios (B210 twins with airmeta-twin), the on-air "
         "round's windows and bursts: rounds per second",
         1, 64, NULL},
        {"--twin-rounds", CLI_UINT, &twin_rounds, "with --twin-agents: rounds timed", 1, 100000,
         NULL},
        {"--twin-nfft", CLI_UINT, &nfft, "with --twin-agents: M of the blocks (cp M/8)", 64, 4096,
         NULL},
        {"--twin-args", CLI_STR, &twin_args,
         "with --twin-agents: the radios' --radio-args (serial=S, A0, A1, ... appended)", 1, 0,
         NULL},
    };
    const cli_cmd cmd = {
        "airmeta bench radio",
        "[--json] [--burst N] [--bursts N] [--reps N] | --twin-agents K [--twin-rounds R]",
        "Timed bursts through the loop, zmq (tcp://127.0.0.1) and file radios and\n"
        "back, compared bit-exact; prints the median throughput in MS/s. With --twin-agents K\n"
        "(airmeta-twin): a server and K agents on B210 twins run the on-air round's radio\n"
        "steps; prints rounds per second of host time and the air's seconds per round.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("bench radio", s);
    if (twin_agents)
        return bench_twin(twin_agents, twin_rounds, nfft, twin_args, json);
    char ring[64], dir[] = "/tmp/airmeta-bench-radio-XXXXXX", fargs[256];
    snprintf(ring, sizeof ring, "bus=bench,ring=%u", burst < 1024 ? 1024 : burst);
    int rc = bench_one("loop", ring, NULL, burst, bursts, reps, json);
    if (rc == 0)
        rc = bench_one("zmq", "tx=tcp://127.0.0.1:*,timeout=5", "", burst, bursts, reps, json);
    if (rc == 0) {
        if (!mkdtemp(dir)) {
            fprintf(stderr, "airmeta bench radio: cannot create a scratch directory\n");
            return 4;
        }
        snprintf(fargs, sizeof fargs, "tx=%s/b,rx=%s/b,max_gap=0", dir, dir);
        rc = bench_one("file", fargs, NULL, burst, bursts, reps, json);
        char p[128];
        snprintf(p, sizeof p, "%s/b.sigmf-meta", dir);
        remove(p);
        snprintf(p, sizeof p, "%s/b.sigmf-data", dir);
        remove(p);
        rmdir(dir);
    }
    return rc;
}
