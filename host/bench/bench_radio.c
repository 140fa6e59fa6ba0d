/* airmeta bench radio: throughput of the loop, zmq (127.0.0.1) and file radio backends, a timed
 * burst out and the same samples back, in MS/s (median of repetitions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cli.h"
#include "bench/bench.h"
#include "core/rng.h"
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

int bench_radio(int argc, char **argv)
{
    int json = 0;
    unsigned burst = 65536, bursts = 16, reps = 5;
    const cli_opt opts[] = {
        {"--json", CLI_FLAG, &json, "one JSON object per backend", 0, -1, NULL},
        {"--burst", CLI_UINT, &burst, "samples per burst", 1, 1 << 22, NULL},
        {"--bursts", CLI_UINT, &bursts, "bursts per repetition", 1, 100000, NULL},
        {"--reps", CLI_UINT, &reps, "repetitions (median reported)", 1, 1000, NULL},
    };
    const cli_cmd cmd = {
        "airmeta bench radio",
        "[--json] [--burst N] [--bursts N] [--reps N]",
        "Timed bursts through the loop, zmq (tcp://127.0.0.1) and file radios and\n"
        "back, compared bit-exact; prints the median throughput in MS/s.",
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
