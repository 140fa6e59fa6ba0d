/* airmeta radio: open a radio backend, print its properties or the clear error, and for
 * loop/zmq/file run a loopback self-test (a known timed burst out, back in, compared bit-exact). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cli.h"
#include "cmd/commands.h"
#include "core/escape.h"
#include "core/rng.h"
#include "radio/radio.h"

static void print_info(const radio *r)
{
    radio_info in;
    radio_get_info(r, &in);
    printf("backend: %s\n", in.backend);
    printf("device: %s\n", AM_ESC(in.device)); /* from --radio-args or the driver */
    printf("rate: %.17g S/s\n", in.rate);
    printf("tx_freq: %.17g Hz\nrx_freq: %.17g Hz\n", in.tx_freq, in.rx_freq);
    printf("tx_gain: %g dB\nrx_gain: %g dB\n", in.tx_gain, in.rx_gain);
    if (in.master_clock > 0)
        printf("master_clock: %.17g Hz\n", in.master_clock);
    printf("clock_source: %s\ntime_source: %s\n", AM_ESC(in.clock_source),
           AM_ESC(in.time_source));
    printf("max_burst: %zu samples\n", in.max_burst);
}

static void print_stats(const radio *r)
{
    radio_stats s;
    radio_get_stats(r, &s);
    printf("stats: tx_bursts=%" PRIu64 " tx_samples=%" PRIu64 " rx_samples=%" PRIu64
           " underflows=%" PRIu64 " late=%" PRIu64 " overflows=%" PRIu64 " seq_errors=%" PRIu64
           " timestamp_jumps=%" PRIu64 " malformed=%" PRIu64 "\n",
           s.tx_bursts, s.tx_samples, s.rx_samples, s.underflows, s.late, s.overflows, s.seq_errors,
           s.timestamp_jumps, s.malformed);
}

/* Sends n seeded CN(0,1) samples at now + 10 ms and reads them back. */
static am_status selftest(radio *r, unsigned n, double timeout)
{
    radio_info in;
    radio_get_info(r, &in);
    if (n > in.max_burst)
        return AM_FAIL(AM_EINVAL, "selftest: --samples %u exceeds the radio's max burst %zu", n,
                       in.max_burst);
    float complex *tx = malloc(n * sizeof *tx), *rx = malloc(n * sizeof *rx);
    am_status s = AM_OK;
    if (!tx || !rx) {
        s = AM_FAIL(AM_ENOMEM, "selftest: out of memory");
        goto out;
    }
    am_rng g;
    am_rng_seed(&g, 20240611);
    for (unsigned i = 0; i < n; i++)
        tx[i] = am_rng_cnormal(&g);
    radio_time now, at;
    if ((s = radio_get_time(r, &now)) != AM_OK)
        goto out;
    at = radio_time_add(now, 0.01);
    /* TX first, then RX from the burst's time: the file backend can only replay a completed
     * recording; loop keeps the burst in its ring; zmq queues it on the connected socket */
    if ((s = radio_tx_burst(r, tx, n, &at)) != AM_OK || (s = radio_tx_flush(r, timeout)) != AM_OK ||
        (s = radio_rx_start(r, &at)) != AM_OK)
        goto out;
    int64_t want = radio_time_to_ticks(at, in.rate);
    size_t got = 0;
    while (got < n) {
        size_t k = 0;
        radio_time t0;
        if ((s = radio_rx(r, rx + got, n - got, &k, &t0, timeout)) != AM_OK)
            goto out;
        int64_t tick = radio_time_to_ticks(t0, in.rate);
        if (tick != want + (int64_t)got) {
            s = AM_FAIL(AM_EFORMAT, "selftest: samples came back at tick %lld, expected %lld",
                        (long long)tick, (long long)(want + (int64_t)got));
            goto out;
        }
        got += k;
    }
    if (memcmp(tx, rx, n * sizeof *tx) != 0) {
        size_t i = 0;
        while (tx[i] == rx[i])
            i++;
        s = AM_FAIL(AM_EFORMAT, "selftest: sample %zu differs: sent %.9g%+.9gj, got %.9g%+.9gj", i,
                    crealf(tx[i]), cimagf(tx[i]), crealf(rx[i]), cimagf(rx[i]));
        goto out;
    }
    printf("selftest: ok: %u samples bit-exact at t=%lld+%.9f s\n", n, (long long)at.secs, at.frac);
out:
    radio_rx_stop(r);
    free(tx);
    free(rx);
    return s;
}

static int cmd_backends(void)
{
    for (const char *const *b = radio_backends(); *b; b++) {
        const radio_arg_spec *spec;
        size_t n;
        if (radio_backend_keys(*b, &spec, &n) != AM_OK)
            continue;
        printf("%s\n", *b);
        for (size_t i = 0; i < n; i++) {
            printf("  %-18s %s", spec[i].key, spec[i].help);
            if (spec[i].kind == RADIO_ARG_CHOICE)
                printf(" (%s)", spec[i].choices);
            printf("\n");
        }
    }
    return 0;
}

int cmd_radio(int argc, char **argv)
{
    const char *name = "loop", *args = "";
    int test = 0;
    unsigned samples = 4096;
    double timeout = 2.0;
    const cli_opt opts[] = {
        {"--radio", CLI_CHOICE, &name, "radio backend", 0, -1, "loop|zmq|file|uhd"},
        {"--radio-args", CLI_STR, &args, "backend arguments key=value,... (airmeta radio backends)",
         0, -1, NULL},
        {"--selftest", CLI_FLAG, &test, "loopback self-test (loop, zmq, file)", 0, -1, NULL},
        {"--samples", CLI_UINT, &samples, "self-test burst length", 1, 1 << 24, NULL},
        {"--timeout", CLI_DOUBLE, &timeout, "self-test receive timeout, s", 0.001, 600, NULL},
    };
    const cli_cmd cmd = {"airmeta radio",
                         "probe|backends [--radio NAME --radio-args \"k=v,...\"]",
                         "probe: open a radio, print its properties (or why it cannot be opened);\n"
                         "with --selftest send a known timed burst and receive it back bit-exact.\n"
                         "backends: list the backends and their --radio-args keys.",
                         opts,
                         sizeof opts / sizeof opts[0],
                         1,
                         1};
    const char *pos[1];
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, pos, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("radio", s);
    if (strcmp(pos[0], "backends") == 0)
        return cmd_backends();
    if (strcmp(pos[0], "probe") != 0) {
        fprintf(stderr, "airmeta radio: unknown action '%s' (probe or backends)\n",
                AM_ESC(pos[0]));
        return 2;
    }
    if (test && strcmp(name, "uhd") == 0) {
        fprintf(stderr, "airmeta radio: --selftest needs loop, zmq or file (a USRP loopback needs "
                        "a cable and attenuator: use the hardware tests)\n");
        return 2;
    }
    radio *r = NULL;
    s = radio_open(name, args, &r);
    if (s != AM_OK)
        return cli_fail("radio", s);
    print_info(r);
    radio_time t;
    if (radio_get_time(r, &t) == AM_OK)
        printf("time: %lld+%.9f s\n", (long long)t.secs, t.frac);
    if (test)
        s = selftest(r, samples, timeout);
    print_stats(r);
    int rc = s == AM_OK ? 0 : cli_fail("radio", s);
    radio_close(r);
    return rc;
}
