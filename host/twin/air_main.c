/* airmeta-twin-air: the air that B210 twins of several processes share (host/twin/air.h).
 * Twins connect with AIRMETA_TWIN=air=ENDPOINT (fpga-notes/uhd-twin.md "Rehearsal"). Runs until
 * SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "twin/air.h"
#include "util/cli.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    const char *ep = "ipc:///tmp/airmeta-twin-air";
    double rate = 1e6, loss = 60, pace = 1, hold = 0.5;
    int paced = 0;
    const cli_opt opts[] = {
        {"--endpoint", CLI_STR, &ep, "ZeroMQ endpoint to bind (ipc://, tcp://)", 0, -1, NULL},
        {"--rate", CLI_DOUBLE, &rate, "air sample rate, S/s (the twins' rate)", 1e3, 61.44e6, NULL},
        {"--loss-db", CLI_DOUBLE, &loss, "path loss between any two twins, dB", 0, 200, NULL},
        {"--pace", CLI_DOUBLE, &pace, "virtual seconds per host second while nobody streams", 1e-3,
         1e3, NULL},
        {"--hold-s", CLI_DOUBLE, &hold,
         "a streaming twin quiet this long (host s) no longer holds the air's time", 0, 60, NULL},
        {"--paced", CLI_FLAG, &paced,
         "while streaming too, never more than 0.1 s ahead of the host clock (rehearsals)", 0, -1,
         NULL},
    };
    const cli_cmd cmd = {
        "airmeta-twin-air",
        "[--endpoint EP] [--rate R] [--loss-db L] [--pace P] [--hold-s S] [--paced]",
        "The shared air of the B210 twins: mixes every twin's TX into every "
        "other's RX (fpga-notes/uhd-twin.md).",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    /* cli_parse skips argv[0] as the subcommand name */
    const char *pos[1];
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, pos, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("twin-air", s);
    if (rate != (double)(long long)rate) {
        fprintf(stderr, "airmeta-twin-air: --rate %g must be a whole number of S/s\n", rate);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    void *ctx = zmq_ctx_new();
    twin_air_cfg c = {.fs = rate, .loss_db = loss, .pace = pace, .paced = paced, .hold_s = hold};
    fprintf(stderr, "airmeta-twin-air: serving %s at %g S/s, path loss %g dB\n", ep, rate, loss);
    s = twin_air_serve(ctx, ep, &c, &g_stop);
    zmq_ctx_term(ctx);
    if (s != AM_OK)
        return cli_fail("twin-air", s);
    return 0;
}
