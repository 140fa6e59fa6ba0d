/* airmeta loopback: a reference recording (host/round/loopback.h does the work). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/escape.h"
#include "round/loopback.h"
#include "util/cli.h"

int cmd_loopback(int argc, char **argv)
{
    lb_cfg c = {.bursts = 1, .gap = 2000, .lead = 0};
    genie_cfg g = {.agents = 10,
                   .nfft = 256,
                   .taps = 1,
                   .timing = 0,
                   .delay_spread = 1.0f,
                   .cfo = 0.0f,
                   .agent_cfo = 0.0f,
                   .g_th = 0.1f,
                   .rho = 1.0f,
                   .eta = 1.41421356f,
                   .snr_db = 20.0f,
                   .seed = 1};
    unsigned L = 4096;
    const cli_opt opts[] = {
        {"--out", CLI_STR, &c.out,
         "recording base name NAME (required): NAME.sigmf-meta, "
         "NAME.sigmf-data, NAME.truth.f32, NAME.truth.json",
         1, 0, NULL},
        {"--agents", CLI_UINT, &g.agents, "agents K transmitting at once", 1, 255, NULL},
        {"--snr-db", CLI_FLOAT, &g.snr_db, "per-agent SNR rho/N0 (§5)", -30, 100, NULL},
        {"--taps", CLI_UINT, &g.taps, "multipath taps per agent (1 = flat Rayleigh)", 1, 64, NULL},
        {"--delay-spread", CLI_FLOAT, &g.delay_spread, "rms delay spread in samples (taps > 1)",
         0.01, 64, NULL},
        {"--timing", CLI_UINT, &g.timing,
         "max per-agent timing offset, samples (inside the cp "
         "with the taps)",
         0, 4096, NULL},
        {"--cfo", CLI_FLOAT, &g.cfo,
         "receiver carrier offset common to all agents, subcarrier "
         "spacings",
         -0.45, 0.45, NULL},
        {"--agent-cfo", CLI_FLOAT, &g.agent_cfo,
         "max residual per-agent carrier offset "
         "(uniform), subcarrier spacings",
         0, 0.45, NULL},
        {"--g-th", CLI_FLOAT, &g.g_th, "truncation threshold on |h|^2 (§4)", 0, 100, NULL},
        {"--bursts", CLI_UINT, &c.bursts,
         "bursts (rounds) in the recording, each with new "
         "channels and payloads",
         1, 1000, NULL},
        {"--gap", CLI_UINT, &c.gap, "noise samples between bursts", 0, 10000000, NULL},
        {"--lead", CLI_UINT, &c.lead,
         "noise samples before the first and after the last burst "
         "(default 3 blocks)",
         0, 10000000, NULL},
        {"--payload", CLI_UINT, &L, "payload length L (reals per agent and burst)", 1, 1 << 22,
         NULL},
        {"--nfft", CLI_UINT, &g.nfft, "FFT size M (cp = M/8, default allocation)", 64, 4096, NULL},
        {"--seed", CLI_U64, &g.seed, "seed (channels, payloads, noise)", 1, 0, NULL},
    };
    const cli_cmd cmd = {
        "airmeta loopback",
        "--out NAME [--agents K] [--snr-db S] [--taps T] [--cfo X] [--agent-cfo X] [--bursts B] "
        "[--seed S]",
        "Makes a reference recording with airmeta's own loopback: per burst, K agents draw\n"
        "N(0,1) payloads, precode by truncated inversion of their true channel (§4, genie CSI,\n"
        "eta = sqrt 2, rho = 1) and transmit at once; the channel emulator (Rayleigh multipath,\n"
        "timing offsets, carrier offsets, AWGN at the §5 SNR) adds them up. Writes the SigMF\n"
        "recording NAME.sigmf-meta/.sigmf-data (§7, one airmeta-burst annotation per burst),\n"
        "NAME.truth.f32 (per burst L little-endian float32: the average of the agents active on\n"
        "each entry's bin, i.e. what the §5 receiver should recover; 0 where none is) and\n"
        "NAME.truth.json (parameters, per burst its start, true active count, the §5 floor in dB\n"
        "and the active count of every entry). Same flags, same files.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("loopback", s);
    if (!c.out)
        return cli_fail("loopback", AM_FAIL(AM_EINVAL, "--out NAME is required"));
    /* the command line, to say in the recording how it was made */
    char cmdline[900];
    size_t n = (size_t)snprintf(cmdline, sizeof cmdline, "airmeta loopback");
    for (int i = 1; i < argc && n < sizeof cmdline; i++)
        n += (size_t)snprintf(cmdline + n, sizeof cmdline - n, " %s", argv[i]);
    char base[4096];
    lb_state st;
    s = loopback_record(&c, &g, L, cmdline, &st, base, sizeof base);
    if (s == AM_OK) {
        printf("%s.sigmf-{meta,data}: %" PRIu64 " samples (%.1f KiB), %u burst(s) of %zu samples; "
               "truth in %s.truth.{f32,json}\n",
               AM_ESC(base), st.samples, (double)st.samples * 8 / 1024, c.bursts, st.burst_len,
               AM_ESC(base));
        for (unsigned b = 0; b < c.bursts; b++)
            printf("burst %u: start %" PRIu64 "  active (true) %.2f  §5 floor %.2f dB\n", b,
                   st.start[b], st.active_true[b], st.floor_db[b]);
    }
    lb_free(&st);
    return s == AM_OK ? 0 : cli_fail("loopback", s);
}
