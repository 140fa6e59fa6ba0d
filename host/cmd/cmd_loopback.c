/* airmeta loopback: a reference SigMF recording made by airmeta's own transmitter and channel
 * emulator (docs/air-interface.md §2-§5, §7), with the true aggregate of every burst beside it, so
 * that replaying it can be scored against the truth and the §5 floor (issue 5 item 2, captures/).
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cli.h"
#include "cmd/commands.h"
#include "core/escape.h"
#include "util/fsutil.h"
#include "round/genie.h"
#include "phy/sigmf.h"

#define LB_MAX_SAMPLES ((uint64_t)1 << 27) /* 1 GiB of cf32: far above what a reference needs */

typedef struct lb_cfg {
    unsigned bursts, gap, lead;
    const char *out;
} lb_cfg;

typedef struct lb_state {
    genie *g;
    phy_sigmf_writer *cap;
    float *truth;     /* bursts x L: active agents' average per entry (0 where none) */
    unsigned char *n; /* bursts x L: active agents per entry */
    uint64_t *start;  /* bursts: annotated start (S0a of the nominal burst) */
    double *floor_db, *active_true;
} lb_state;

static void lb_free(lb_state *st)
{
    genie_destroy(st->g);
    phy_sigmf_writer_destroy(st->cap);
    free(st->truth);
    free(st->n);
    free(st->start);
    free(st->floor_db);
    free(st->active_true);
}

/* One burst (a round): draw channels and payloads, precode by truncated inversion of the true
 * channel (§4, genie CSI), transmit, emulate, append to the recording; record the truth. */
static am_status one_burst(const lb_cfg *c, const genie_cfg *g, lb_state *st, unsigned b)
{
    const size_t L = g->payload_len, blen = genie_burst_len(st->g);
    /* noise before the first burst (lead), between bursts (gap) and after the last (lead) */
    const size_t lead = b == 0 ? c->lead : c->gap, tail = b + 1 == c->bursts ? c->lead : 0;
    const float complex *y = NULL;
    size_t ny = 0;
    am_status s = genie_round(st->g, lead, tail, &y, &ny);
    if (s != AM_OK)
        return s;
    st->start[b] = phy_sigmf_writer_count(st->cap) + lead;
    if ((s = phy_sigmf_writer_write(st->cap, y, ny)) != AM_OK ||
        (s = phy_sigmf_writer_annotate(st->cap, st->start[b], blen)) != AM_OK)
        return s;
    /* truth (§5): the server recovers the average of the agents active on an entry's bin; floor
     * eta^2 N0 / (2 n^2 rho) with N0 = rho / snr */
    const double snr = pow(10.0, (double)g->snr_db / 10.0);
    double sig = 0, flo = 0;
    float *t = st->truth + (size_t)b * L;
    unsigned char *n = st->n + (size_t)b * L;
    for (size_t j = 0; j < L; j++) {
        double avg = 0;
        unsigned cnt = genie_entry(st->g, j, &avg);
        n[j] = (unsigned char)cnt;
        t[j] = cnt ? (float)avg : 0.0f;
        if (cnt) {
            sig += (double)t[j] * t[j];
            flo += (double)g->eta * g->eta / (2.0 * cnt * cnt * snr);
        }
    }
    st->active_true[b] = genie_active_true(st->g);
    st->floor_db[b] = sig > 0 ? 10.0 * log10(flo / sig) : NAN;
    return AM_OK;
}

/* base + suffix, replaced atomically (host/util/fsutil.h). */
static am_status
write_atomic(const char *base, const char *suffix, const fs_part *parts, size_t nparts)
{
    char path[FS_PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s", base, suffix) >= (int)sizeof path)
        return AM_FAIL(AM_EINVAL, "--out: path too long");
    am_status s = fs_write_atomic(path, parts, nparts);
    return s == AM_OK ? AM_OK : am_error_wrap(s, "loopback");
}

static am_status write_truth(
    const lb_cfg *c, const genie_cfg *g, const lb_state *st, const char *base, const char *cmdline)
{
    const size_t L = g->payload_len, total = (size_t)c->bursts * L;
    unsigned char *le = malloc(total * 4);
    if (!le)
        return AM_FAIL(AM_ENOMEM, "loopback: out of memory");
    for (size_t j = 0; j < total; j++) { /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &st->truth[j], 4);
        for (int b = 0; b < 4; b++)
            le[4 * j + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    am_status s = write_atomic(base, ".truth.f32", &(fs_part){le, total * 4}, 1);
    free(le);
    if (s != AM_OK)
        return s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmdline);
    cJSON_AddNumberToObject(o, "agents", g->agents);
    cJSON_AddNumberToObject(o, "snr_db", g->snr_db);
    cJSON_AddNumberToObject(o, "taps", g->taps);
    cJSON_AddNumberToObject(o, "delay_spread", g->delay_spread);
    cJSON_AddNumberToObject(o, "timing", g->timing);
    cJSON_AddNumberToObject(o, "cfo", g->cfo);
    cJSON_AddNumberToObject(o, "agent_cfo", g->agent_cfo);
    cJSON_AddNumberToObject(o, "g_th", g->g_th);
    cJSON_AddNumberToObject(o, "rho", g->rho);
    cJSON_AddNumberToObject(o, "eta", g->eta);
    cJSON_AddNumberToObject(o, "nfft", g->nfft);
    cJSON_AddNumberToObject(o, "payload_len", (double)L);
    cJSON_AddNumberToObject(o, "seed", (double)g->seed);
    cJSON_AddStringToObject(o, "csi",
                            "true channel (genie), truncated inversion (docs/air-interface.md §4)");
    cJSON *arr = cJSON_AddArrayToObject(o, "bursts");
    for (unsigned b = 0; b < c->bursts; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "start", (double)st->start[b]);
        cJSON_AddNumberToObject(e, "active_true", st->active_true[b]);
        cJSON_AddNumberToObject(e, "floor_db", st->floor_db[b]);
        /* active agents per payload entry: the §5 floor needs them */
        cJSON *n = cJSON_AddArrayToObject(e, "active");
        for (size_t j = 0; j < L; j++)
            cJSON_AddItemToArray(n, cJSON_CreateNumber(st->n[(size_t)b * L + j]));
        cJSON_AddItemToArray(arr, e);
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return AM_FAIL(AM_ENOMEM, "loopback: out of memory printing JSON");
    const fs_part line[2] = {{txt, strlen(txt)}, {"\n", 1}};
    s = write_atomic(base, ".truth.json", line, 2);
    cJSON_free(txt);
    return s;
}

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
    const unsigned cp = g.nfft / 8;
    char base[4096];
    g.payload_len = L;
    if (c.lead == 0)
        c.lead = 3 * (g.nfft + cp); /* 3 blocks */
    g.max_pad = c.gap > c.lead ? c.gap : c.lead;
    lb_state st;
    memset(&st, 0, sizeof st);
    if ((s = genie_create(&g, &st.g)) != AM_OK ||
        (s = phy_sigmf_base(c.out, base, sizeof base)) != AM_OK) {
        lb_free(&st);
        return cli_fail("loopback", s);
    }
    const size_t blen = genie_burst_len(st.g);
    const uint64_t total = (uint64_t)c.bursts * genie_out_cap(st.g);
    if (total > LB_MAX_SAMPLES) {
        lb_free(&st);
        return cli_fail("loopback", AM_FAIL(AM_EINVAL,
                                            "the recording would hold %" PRIu64
                                            " samples (more than %" PRIu64 ")",
                                            total, LB_MAX_SAMPLES));
    }
    st.truth = malloc((size_t)c.bursts * L * sizeof *st.truth);
    st.n = malloc((size_t)c.bursts * L);
    st.start = malloc(c.bursts * sizeof *st.start);
    st.floor_db = malloc(c.bursts * sizeof *st.floor_db);
    st.active_true = malloc(c.bursts * sizeof *st.active_true);
    if (!st.truth || !st.n || !st.start || !st.floor_db || !st.active_true) {
        lb_free(&st);
        return cli_fail("loopback", AM_FAIL(AM_ENOMEM, "loopback: out of memory"));
    }
    /* the command line, to say in the recording how it was made */
    char cmdline[900];
    size_t n = (size_t)snprintf(cmdline, sizeof cmdline, "airmeta loopback");
    for (int i = 1; i < argc && n < sizeof cmdline; i++)
        n += (size_t)snprintf(cmdline + n, sizeof cmdline - n, " %s", argv[i]);

    phy_sigmf_info in;
    phy_sigmf_info_default(&in);
    snprintf(in.description, sizeof in.description, "airmeta loopback reference: %s", cmdline);
    snprintf(in.hw, sizeof in.hw, "phy_chan emulator (%u-tap Rayleigh, AWGN %.3g dB per agent)",
             g.taps, (double)g.snr_db);
    in.nfft = g.nfft;
    in.cp_len = cp;
    in.payload_len = L;
    in.scale = g.eta;
    in.rho = g.rho;
    in.g_th = g.g_th;
    in.agents = g.agents;
    if ((s = phy_sigmf_writer_create(base, &in, &st.cap)) != AM_OK) {
        lb_free(&st);
        return cli_fail("loopback", s);
    }
    for (unsigned b = 0; b < c.bursts && s == AM_OK; b++)
        s = one_burst(&c, &g, &st, b);
    uint64_t samples = st.cap ? phy_sigmf_writer_count(st.cap) : 0;
    if (s == AM_OK) {
        s = phy_sigmf_writer_close(st.cap);
        st.cap = NULL;
    }
    if (s == AM_OK)
        s = write_truth(&c, &g, &st, base, cmdline);
    if (s == AM_OK) {
        printf("%s.sigmf-{meta,data}: %" PRIu64 " samples (%.1f KiB), %u burst(s) of %zu samples; "
               "truth in %s.truth.{f32,json}\n",
               AM_ESC(base), samples, (double)samples * 8 / 1024, c.bursts, blen, AM_ESC(base));
        for (unsigned b = 0; b < c.bursts; b++)
            printf("burst %u: start %" PRIu64 "  active (true) %.2f  §5 floor %.2f dB\n", b,
                   st.start[b], st.active_true[b], st.floor_db[b]);
    }
    lb_free(&st);
    if (s != AM_OK)
        return cli_fail("loopback", s);
    return 0;
}
