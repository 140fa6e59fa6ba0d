/* airmeta demo: K agents over emulated Rayleigh channels with truncated channel inversion, the
 * streaming receiver, and the measured aggregation NMSE against the docs/air-interface.md §5 floor.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cli.h"
#include "cmd/commands.h"
#include "round/genie.h"
#include "run/flags.h"
#include "phy/ota_rx.h"
#include "phy/sigmf.h"

#define DEMO_MAX_SNRS 16

typedef struct demo_rx {
    float *payload; /* L: last decoded burst */
    size_t L;
    unsigned found;
    float active_mean, snr_db, cfo;
} demo_rx;

static am_status on_burst(const phy_ota_burst *b, void *user)
{
    demo_rx *d = user;
    if (b->payload_len == d->L)
        memcpy(d->payload, b->payload, d->L * sizeof *d->payload);
    d->found++;
    d->active_mean = b->active_mean;
    d->snr_db = b->snr_db;
    d->cfo = b->cfo;
    return AM_OK;
}

static am_status parse_snrs(const char *s, float *snr, unsigned *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end = NULL;
        double v = strtod(p, &end);
        /* decimal only, as every number flag (issue 12: 0x10 was 16 dB, ' 5' was 5) */
        if (end == p || !isfinite(v) || v < -30 || v > 100 ||
            strspn(p, "0123456789+-.eE") < (size_t)(end - p))
            return AM_FAIL(AM_EINVAL, "--snr-db: '%s' is not a list of numbers in -30..100 "
                                      "(e.g. 0,10,20,30)", s);
        if (*n >= DEMO_MAX_SNRS)
            return AM_FAIL(AM_EINVAL, "--snr-db: more than %d values", DEMO_MAX_SNRS);
        snr[(*n)++] = (float)v;
        p = end;
        if (*p == ',' && p[1] != '\0')
            p++;
        else if (*p)
            return AM_FAIL(AM_EINVAL, "--snr-db: unexpected '%c' in '%s'", *p, s);
    }
    if (*n == 0)
        return AM_FAIL(AM_EINVAL, "--snr-db: empty list");
    return AM_OK;
}

typedef struct demo_cfg {
    unsigned rounds;
    int json;
    const char *capture;
} demo_cfg;

typedef struct demo_state {
    genie *g;
    phy_ota_rx *rx;
    phy_sigmf_writer *cap;
    demo_rx d;
} demo_state;

static void state_free(demo_state *st)
{
    genie_destroy(st->g);
    phy_ota_rx_destroy(st->rx);
    phy_sigmf_writer_destroy(st->cap);
    free(st->d.payload);
}

/* One SNR point: rounds of (draw channels, precode, transmit, emulate, receive). */
static am_status
run_snr(const demo_cfg *c, const genie_cfg *gc, demo_state *st, float snr_db, FILE *out)
{
    const phy_frame *f = genie_frame(st->g);
    const unsigned K = gc->agents, M = gc->nfft;
    const size_t L = gc->payload_len, blen = genie_burst_len(st->g);
    const size_t lead = 3 * phy_frame_block_len(f), tail = lead;
    am_status s = genie_set_snr(st->g, snr_db);
    if (s != AM_OK)
        return s;
    double err = 0, sig = 0, floor_num = 0, act_true = 0, act_est = 0;
    unsigned found = 0, lost_entries = 0;
    const double snr = pow(10.0, snr_db / 10.0);
    for (unsigned round = 0; round < c->rounds; round++) {
        const float complex *y = NULL;
        size_t ny = 0;
        if ((s = genie_round(st->g, lead, tail, &y, &ny)) != AM_OK)
            return s;
        if (st->cap) {
            uint64_t at = phy_sigmf_writer_count(st->cap) + lead;
            if ((s = phy_sigmf_writer_write(st->cap, y, ny)) != AM_OK ||
                (s = phy_sigmf_writer_annotate(st->cap, at, blen)) != AM_OK)
                return s;
        }
        phy_ota_rx_reset(st->rx);
        st->d.found = 0;
        if ((s = phy_ota_rx_execute(st->rx, y, ny)) != AM_OK)
            return s;
        act_true += genie_active_true(st->g);
        if (st->d.found != 1)
            continue; /* a missed (or split) burst: counted, not scored */
        found++;
        act_est += st->d.active_mean;
        /* score against the active agents' average, the §5 floor eta^2 N0 / (2 n^2 rho) with
         * N0 = rho / snr */
        for (size_t j = 0; j < L; j++) {
            double t = 0;
            unsigned n = genie_entry(st->g, j, &t);
            if (n == 0) {
                lost_entries++;
                continue;
            }
            double e = (double)st->d.payload[j] - t;
            err += e * e;
            sig += t * t;
            floor_num += (double)gc->eta * gc->eta / (2.0 * n * n * snr);
        }
    }
    double nmse = found ? 10 * log10(err / sig) : NAN;
    double flo = found ? 10 * log10(floor_num / sig) : NAN;
    double am_true = act_true / c->rounds, am_est = found ? act_est / found : NAN;
    if (c->json) {
        /* through cJSON: a point without any decoded burst prints null, never "nan" */
        cJSON *o = cJSON_CreateObject();
        int ok = o != NULL;
        ok = ok && cJSON_AddNumberToObject(o, "snr_db", (double)snr_db);
        ok = ok && cJSON_AddNumberToObject(o, "nmse_db", nmse);
        ok = ok && cJSON_AddNumberToObject(o, "floor_db", flo);
        ok = ok && cJSON_AddNumberToObject(o, "gap_db", nmse - flo);
        ok = ok && cJSON_AddNumberToObject(o, "active_mean", am_est);
        ok = ok && cJSON_AddNumberToObject(o, "active_true", am_true);
        ok = ok && cJSON_AddNumberToObject(o, "bursts", found);
        ok = ok && cJSON_AddNumberToObject(o, "rounds", c->rounds);
        ok = ok && cJSON_AddNumberToObject(o, "agents", K);
        ok = ok && cJSON_AddNumberToObject(o, "nfft", M);
        ok = ok && cJSON_AddNumberToObject(o, "unscored_entries", lost_entries);
        char *txt = ok ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!txt)
            return AM_FAIL(AM_ENOMEM, "demo: out of memory printing JSON");
        fprintf(out, "%s\n", txt);
        free(txt);
    }
    else
        fprintf(out, "%7.1f %10.2f %10.2f %8.2f %9.2f %9.2f %5u/%u\n", (double)snr_db, nmse, flo,
                nmse - flo, am_est, am_true, found, c->rounds);
    fflush(out);
    return AM_OK;
}

/* The receiver, the genie's channels and agents, and the optional capture of a demo with c and
 * g (st freed again on failure). */
static am_status demo_open(const demo_cfg *c,
                           const genie_cfg *g,
                           unsigned gain_pool,
                           const char *snr_list,
                           demo_state *st)
{
    am_status s;
    const unsigned cp = g->nfft / 8;
    memset(st, 0, sizeof *st);
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame.nfft = g->nfft;
    rc.frame.cp_len = cp;
    rc.payload_len = g->payload_len;
    rc.eta = g->eta;
    rc.rho = g->rho;
    rc.gain_pool = gain_pool;
    rc.mapping = g->mapping;
    rc.callback = on_burst;
    rc.user = &st->d;
    if ((s = genie_create(g, &st->g)) != AM_OK || (s = phy_ota_rx_create(&rc, &st->rx)) != AM_OK) {
        state_free(st);
        return s;
    }
    st->d.payload = malloc(g->payload_len * sizeof *st->d.payload);
    st->d.L = g->payload_len;
    if (!st->d.payload) {
        state_free(st);
        return AM_FAIL(AM_ENOMEM, "demo: out of memory");
    }
    if (c->capture) {
        phy_sigmf_info in;
        phy_sigmf_info_default(&in);
        snprintf(in.description, sizeof in.description,
                 "airmeta demo: %u agents, %u rounds per SNR (%s dB), seed %" PRIu64, g->agents,
                 c->rounds, snr_list, g->seed);
        snprintf(in.hw, sizeof in.hw, "phy_chan emulator (%u-tap Rayleigh)", g->taps);
        in.nfft = g->nfft;
        in.cp_len = cp;
        in.payload_len = g->payload_len;
        in.scale = g->eta;
        in.rho = g->rho;
        in.g_th = g->g_th;
        in.agents = g->agents;
        in.mapping = g->mapping;
        in.gain_pool = gain_pool; /* replay decodes as this receiver did */
        if (in.mapping != PHY_MAP_COMPLEX || in.gain_pool)
            in.version = 2; /* §7.2: airmeta:mapping and gain_pool are version-2 keys */
        if ((s = phy_sigmf_writer_create(c->capture, &in, &st->cap)) != AM_OK) {
            state_free(st);
            return s;
        }
    }
    return AM_OK;
}

int cmd_demo(int argc, char **argv)
{
    demo_cfg c = {.rounds = 30};
    genie_cfg g = {.agents = 10,
                   .nfft = 256,
                   .taps = 4,
                   .delay_spread = 1.0f,
                   .timing = 0xffffffffu,
                   .cfo = 0.05f,
                   .agent_cfo = 0.0f,
                   .g_th = 0.1f,
                   .rho = 1.0f,
                   .eta = 1.41421356f,
                   .seed = 1};
    const char *snr_list = "0,10,20,30";
    const char *impair = "ideal";
    unsigned L = 4096, gain_pool = 3; /* docs/air-interface.md §5.2 */
    const char *mapping = FLAGS_MAPPING_DEFAULT;
    cli_opt opts[] = {
        {"--agents", CLI_UINT, &g.agents, "agents K transmitting at once", 1, 1000, NULL},
        {"--nfft", CLI_UINT, &g.nfft, "FFT size M (cp = M/8, default allocation)", 64, 4096, NULL},
        {"--snr-db", CLI_STR, &snr_list, "per-agent SNR rho/N0 (§5), one value or a list "
                                         "(default 0,10,20,30)", 1, 0, NULL},
        {"--rounds", CLI_UINT, &c.rounds, "channel realisations per SNR", 1, 100000, NULL},
        {"--payload", CLI_UINT, &L, "payload length L (reals per agent and round)", 1, 1 << 24,
         NULL},
        {"--taps", CLI_UINT, &g.taps, "multipath taps per agent (1 = flat Rayleigh)", 1, 64, NULL},
        {"--delay-spread", CLI_FLOAT, &g.delay_spread, "rms delay spread (samples)", 0.01, 64,
         NULL},
        {"--timing", CLI_UINT, &g.timing, "max per-agent timing offset in samples (default cp/4; "
                                          "taps + offset must stay inside the cp)", 0, 4096, NULL},
        {"--cfo", CLI_FLOAT, &g.cfo, "receiver carrier offset, subcarrier spacings", -0.45, 0.45,
         NULL},
        {"--agent-cfo", CLI_FLOAT, &g.agent_cfo, "max per-agent carrier offset (uniform, spacings)",
         0, 0.45, NULL},
        {"--g-th", CLI_FLOAT, &g.g_th, "truncation threshold g_th on |h|^2 (§4)", 0, 100, NULL},
        {"--seed", CLI_U64, &g.seed, "seed (channels, payloads, noise)", 1, 0, NULL},
        {"--impair", CLI_STR, &impair, "radio impairment profile: ideal (default), "
                                       "b210-shared-ref, b210-free (docs/impairments.md)", 1, 0,
         NULL},
        {"--gain-pool", CLI_UINT, &gain_pool, "receiver's estimate of G pooled over W "
                                              "neighbouring bins where noisy (0 = per bin, "
                                              "phy/ota_rx.h; default 3, docs/air-interface.md "
                                              "§5.2)",
         0, PHY_OTA_RX_GAIN_POOL_MAX, NULL},
        {"--json", CLI_FLAG, &c.json, "one JSON line per SNR", 1, 0, NULL},
        {"--capture", CLI_STR, &c.capture, "also write every received stream to this SigMF "
                                           "recording (NAME[.sigmf-meta], for airmeta replay)",
         1, 0, NULL},
        {NULL, CLI_FLAG, NULL, NULL, 0, 0, NULL}, /* --mapping (host/run/flags.h) */
    };
    flags_mapping_table(&mapping, &opts[sizeof opts / sizeof opts[0] - 1]);
    const cli_cmd cmd = {
        "airmeta demo",
        "[--agents K] [--nfft M] [--snr-db 0,10,20,30] [--seed S] [--json]",
        "The PHY demo: K agents send random payloads at once over their own Rayleigh multipath\n"
        "channels (timing offsets inside the cp, a receiver carrier offset, random phases), each\n"
        "precoding by truncated channel inversion of its true channel (docs/air-interface.md §4); "
        "the\n"
        "channel emulator adds them up with AWGN at the per-agent SNR of §5; the streaming\n"
        "receiver detects, synchronises and equalises every round's burst. Per SNR it prints the\n"
        "measured aggregation NMSE (recovered vs. the active agents' average), the §5 closed-form\n"
        "floor, their gap in dB, the receiver's mean active-count estimate and the true one.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("demo", s);
    float snrs[DEMO_MAX_SNRS];
    unsigned nsnr = 0;
    if ((s = parse_snrs(snr_list, snrs, &nsnr)) != AM_OK)
        return cli_fail("demo", s);
    phy_impair_cfg imp;
    if ((s = phy_impair_profile(impair, &imp)) != AM_OK)
        return cli_fail("demo", am_error_wrap(s, "--impair"));
    g.impair = &imp;
    if ((s = phy_mapping_parse(mapping, &g.mapping)) != AM_OK)
        return cli_fail("demo", am_error_wrap(s, "--mapping"));
    g.payload_len = L;
    const unsigned cp = g.nfft / 8;
    if (g.timing == 0xffffffffu)
        g.timing = cp / 4;
    g.snr_db = snrs[0];
    g.max_pad = 3 * (size_t)(g.nfft + cp); /* 3 blocks of noise before and after each burst */

    demo_state st;
    if ((s = demo_open(&c, &g, gain_pool, snr_list, &st)) != AM_OK)
        return cli_fail("demo", s);
    if (!c.json)
        printf("airmeta demo: K = %u agents, M = %u, cp = %u, L = %zu, %u-tap Rayleigh, "
               "g_th = %g, %u rounds per SNR\n%7s %10s %10s %8s %9s %9s %7s\n",
               g.agents, g.nfft, cp, g.payload_len, g.taps, (double)g.g_th, c.rounds, "snr_dB",
               "nmse_dB", "floor_dB", "gap_dB", "active", "act_true", "bursts");
    for (unsigned i = 0; i < nsnr && s == AM_OK; i++)
        s = run_snr(&c, &g, &st, snrs[i], stdout);
    if (s == AM_OK && st.cap) {
        s = phy_sigmf_writer_close(st.cap);
        st.cap = NULL;
    }
    state_free(&st);
    if (s != AM_OK)
        return cli_fail("demo", s);
    return 0;
}
