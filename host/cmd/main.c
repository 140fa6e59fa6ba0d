/* airmeta: federated meta-learning over the air. One program, git-style subcommands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/escape.h"
#include "phy/version.h"

static const am_command commands[] = {
    {"bench", "benchmarks: bench phy | fl | radio | round (Msps, us per iteration, ratios)", cmd_bench},
    {"replay", "decode every burst of a SigMF capture: replay CAPTURE.sigmf-meta --out V.f32 [--json]", cmd_replay},
    {"demo", "PHY demo: K agents, Rayleigh channels, aggregation NMSE vs the §5 floor", cmd_demo},
    {"sim", "federated meta-learning over the air in one process (ideal | stat | iq channel)", cmd_sim},
    {"sweep", "grid of sim runs in parallel: tables over seeds and trade-off plots (PNG)", cmd_sweep},
    {"server", "the server of a multi-process run (ZeroMQ control; IQ via chan or on air)", cmd_server},
    {"agent", "one training agent of a multi-process run: agent --id K --server tcp://...", cmd_agent},
    {"chan", "the channel-emulator process between server and agents (zmq IQ)", cmd_chan},
    {"keygen", "a CURVE key pair (NAME.key, NAME.pub) for a server, agent or chan: keygen --out NAME", cmd_keygen},
    {"loopback", "reference SigMF recording from the own loopback, with the true aggregate", cmd_loopback},
    {"radio", "radio backends: radio probe --radio NAME --radio-args K=V,... [--selftest]", cmd_radio},
};
static const size_t ncommands = sizeof commands / sizeof commands[0];

static void usage(FILE *f)
{
    fprintf(f, "usage: airmeta COMMAND [options]   (airmeta COMMAND --help for each)\n\n"
               "commands:\n");
    for (size_t i = 0; i < ncommands; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

/* What the command printed reached its standard output, or it says so and exits 4 (its own
 * non-zero status kept): a full disk or a closed descriptor lost `--json` lines and tables with
 * exit 0 (stdout on /dev/full). */
static int stdout_done(const char *cmd, int rc)
{
    errno = 0;
    const int flushed = fflush(stdout) == 0;
    const int err = errno;
    if (flushed && !ferror(stdout))
        return rc;
    fprintf(stderr, "airmeta%s%s: writing the standard output failed (%s): what was printed is "
                    "incomplete\n",
            cmd ? " " : "", cmd ? cmd : "", err ? strerror(err) : "an earlier write failed");
    return rc ? rc : 4;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return stdout_done(NULL, 0);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("airmeta %s (air interface version %u)\n", AM_VERSION, phy_air_interface_version());
        return stdout_done(NULL, 0);
    }
    for (size_t i = 0; i < ncommands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return stdout_done(commands[i].name, commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "airmeta: unknown command '%s'\n", AM_ESC(argv[1]));
    usage(stderr);
    return 2;
}
