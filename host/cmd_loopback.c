/* airmeta loopback: a reference SigMF recording made by airmeta's own transmitter and channel
 * emulator (AIR_INTERFACE §2-§5, §7), with the true aggregate of every burst beside it, so that
 * replaying it can be scored against the truth and the §5 floor (issue 5 item 2, captures/). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "core/rng.h"
#include "fsutil.h"
#include "phy/chan.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"
#include "phy/sigmf.h"

#define LB_MAX_SAMPLES ((uint64_t)1 << 27) /* 1 GiB of cf32: far above what a reference needs */

typedef struct lb_cfg {
    unsigned K, M, taps, timing, bursts, gap, lead;
    unsigned L;
    float delay_spread, cfo, agent_cfo, g_th, rho, eta, snr_db;
    uint64_t seed;
    const char *out;
} lb_cfg;

typedef struct lb_state {
    phy_ota_tx *tx;
    phy_chan *ch;
    phy_sigmf_writer *cap;
    float **v;             /* K payloads */
    float complex **x;     /* K bursts */
    float complex *H, *p;  /* M */
    unsigned char *active; /* K x M */
    float complex *y;
    size_t ycap;
    float *truth;     /* bursts x L: active agents' average per entry (0 where none) */
    unsigned char *n; /* bursts x L: active agents per entry */
    uint64_t *start;  /* bursts: annotated start (S0a of the nominal burst) */
    double *floor_db, *active_true;
} lb_state;

static void lb_free(lb_state *st, unsigned K)
{
    phy_ota_tx_destroy(st->tx);
    phy_chan_destroy(st->ch);
    phy_sigmf_writer_destroy(st->cap);
    for (unsigned k = 0; st->v && k < K; k++)
        free(st->v[k]);
    for (unsigned k = 0; st->x && k < K; k++)
        free(st->x[k]);
    free(st->v);
    free(st->x);
    free(st->H);
    free(st->p);
    free(st->active);
    free(st->y);
    free(st->truth);
    free(st->n);
    free(st->start);
    free(st->floor_db);
    free(st->active_true);
}

/* One burst (a round): draw channels and payloads, precode by truncated inversion of the true
 * channel (§4, genie CSI), transmit, emulate, append to the recording; record the truth. */
static am_status one_burst(const lb_cfg *c, lb_state *st, unsigned b, am_rng *r)
{
    const phy_frame *f = phy_ota_tx_frame(st->tx);
    const unsigned M = c->M, K = c->K, nd = phy_frame_n_data(f), nu = phy_frame_n_used(f);
    const unsigned *dbins = phy_frame_data_bins(f), *ubins = phy_frame_used_bins(f);
    const size_t L = c->L, blen = phy_ota_tx_burst_len(st->tx);
    am_status s = phy_chan_draw(st->ch);
    if (s != AM_OK)
        return s;
    for (unsigned k = 0; k < K; k++) {
        for (size_t j = 0; j < L; j++)
            st->v[k][j] = (float)am_rng_normal(r);
        if ((s = phy_chan_response(st->ch, k, st->H)) != AM_OK ||
            (s = phy_precode_inversion(f, st->H, c->rho, c->g_th, st->p, NULL)) != AM_OK ||
            (s = phy_ota_tx_execute(st->tx, st->v[k], c->eta, st->p, st->x[k], blen)) != AM_OK)
            return s;
        for (unsigned i = 0; i < M; i++) {
            float g = crealf(st->H[i]) * crealf(st->H[i]) + cimagf(st->H[i]) * cimagf(st->H[i]);
            st->active[(size_t)k * M + i] = g >= c->g_th;
        }
    }
    /* noise before the first burst (lead), between bursts (gap) and after the last (lead) */
    const size_t lead = b == 0 ? c->lead : c->gap, tail = b + 1 == c->bursts ? c->lead : 0;
    size_t ny = 0;
    if ((s = phy_chan_execute(st->ch, (const float complex *const *)st->x, blen, lead, tail, st->y,
                              st->ycap, &ny)) != AM_OK)
        return s;
    st->start[b] = phy_sigmf_writer_count(st->cap) + lead;
    if ((s = phy_sigmf_writer_write(st->cap, st->y, ny)) != AM_OK ||
        (s = phy_sigmf_writer_annotate(st->cap, st->start[b], blen)) != AM_OK)
        return s;
    /* truth (§5): entry j rides on data bin dbins[(j/2) % nd]; the server recovers the average
     * of the agents active there; floor eta^2 N0 / (2 n^2 rho) with N0 = rho / snr */
    const double snr = pow(10.0, (double)c->snr_db / 10.0);
    double sig = 0, flo = 0;
    float *t = st->truth + (size_t)b * L;
    unsigned char *n = st->n + (size_t)b * L;
    for (size_t j = 0; j < L; j++) {
        unsigned bin = dbins[(j / 2) % nd], cnt = 0;
        double sum = 0;
        for (unsigned k = 0; k < K; k++)
            if (st->active[(size_t)k * M + bin]) {
                cnt++;
                sum += st->v[k][j];
            }
        n[j] = (unsigned char)cnt;
        t[j] = cnt ? (float)(sum / cnt) : 0.0f;
        if (cnt) {
            sig += (double)t[j] * t[j];
            flo += (double)c->eta * c->eta / (2.0 * cnt * cnt * snr);
        }
    }
    double na = 0;
    for (unsigned u = 0; u < nu; u++)
        for (unsigned k = 0; k < K; k++)
            na += st->active[(size_t)k * M + ubins[u]];
    st->active_true[b] = na / nu;
    st->floor_db[b] = sig > 0 ? 10.0 * log10(flo / sig) : NAN;
    return AM_OK;
}

/* base + suffix, replaced atomically (host/fsutil.h). */
static am_status write_atomic(const char *base, const char *suffix, const void *data, size_t n)
{
    char path[FS_PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s", base, suffix) >= (int)sizeof path)
        return AM_FAIL(AM_EINVAL, "--out: path too long");
    const fs_part content = {data, n};
    am_status s = fs_write_atomic(path, &content, 1);
    return s == AM_OK ? AM_OK : am_error_wrap(s, "loopback");
}

static am_status
write_truth(const lb_cfg *c, const lb_state *st, const char *base, const char *cmdline)
{
    const size_t total = (size_t)c->bursts * c->L;
    unsigned char *le = malloc(total * 4);
    if (!le)
        return AM_FAIL(AM_ENOMEM, "loopback: out of memory");
    for (size_t j = 0; j < total; j++) { /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &st->truth[j], 4);
        for (int b = 0; b < 4; b++)
            le[4 * j + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    am_status s = write_atomic(base, ".truth.f32", le, total * 4);
    free(le);
    if (s != AM_OK)
        return s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", cmdline);
    cJSON_AddNumberToObject(o, "agents", c->K);
    cJSON_AddNumberToObject(o, "snr_db", c->snr_db);
    cJSON_AddNumberToObject(o, "taps", c->taps);
    cJSON_AddNumberToObject(o, "delay_spread", c->delay_spread);
    cJSON_AddNumberToObject(o, "timing", c->timing);
    cJSON_AddNumberToObject(o, "cfo", c->cfo);
    cJSON_AddNumberToObject(o, "agent_cfo", c->agent_cfo);
    cJSON_AddNumberToObject(o, "g_th", c->g_th);
    cJSON_AddNumberToObject(o, "rho", c->rho);
    cJSON_AddNumberToObject(o, "eta", c->eta);
    cJSON_AddNumberToObject(o, "nfft", c->M);
    cJSON_AddNumberToObject(o, "payload_len", c->L);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddStringToObject(o, "csi",
                            "true channel (genie), truncated inversion (AIR_INTERFACE §4)");
    cJSON *arr = cJSON_AddArrayToObject(o, "bursts");
    for (unsigned b = 0; b < c->bursts; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "start", (double)st->start[b]);
        cJSON_AddNumberToObject(e, "active_true", st->active_true[b]);
        cJSON_AddNumberToObject(e, "floor_db", st->floor_db[b]);
        /* active agents per payload entry: the §5 floor needs them */
        cJSON *n = cJSON_AddArrayToObject(e, "active");
        for (size_t j = 0; j < c->L; j++)
            cJSON_AddItemToArray(n, cJSON_CreateNumber(st->n[(size_t)b * c->L + j]));
        cJSON_AddItemToArray(arr, e);
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return AM_FAIL(AM_ENOMEM, "loopback: out of memory printing JSON");
    size_t len = strlen(txt);
    char *line = malloc(len + 2);
    if (!line) {
        cJSON_free(txt);
        return AM_FAIL(AM_ENOMEM, "loopback: out of memory");
    }
    memcpy(line, txt, len);
    line[len] = '\n';
    line[len + 1] = '\0';
    cJSON_free(txt);
    s = write_atomic(base, ".truth.json", line, len + 1);
    free(line);
    return s;
}

int cmd_loopback(int argc, char **argv)
{
    lb_cfg c = {.K = 10,
                .M = 256,
                .taps = 1,
                .timing = 0,
                .bursts = 1,
                .gap = 2000,
                .lead = 0,
                .L = 4096,
                .delay_spread = 1.0f,
                .cfo = 0.0f,
                .agent_cfo = 0.0f,
                .g_th = 0.1f,
                .rho = 1.0f,
                .eta = 1.41421356f,
                .snr_db = 20.0f,
                .seed = 1};
    const cli_opt opts[] = {
        {"--out", CLI_STR, &c.out,
         "recording base name NAME (required): NAME.sigmf-meta, "
         "NAME.sigmf-data, NAME.truth.f32, NAME.truth.json",
         1, 0, NULL},
        {"--agents", CLI_UINT, &c.K, "agents K transmitting at once", 1, 255, NULL},
        {"--snr-db", CLI_FLOAT, &c.snr_db, "per-agent SNR rho/N0 (§5)", -30, 100, NULL},
        {"--taps", CLI_UINT, &c.taps, "multipath taps per agent (1 = flat Rayleigh)", 1, 64, NULL},
        {"--delay-spread", CLI_FLOAT, &c.delay_spread, "rms delay spread in samples (taps > 1)",
         0.01, 64, NULL},
        {"--timing", CLI_UINT, &c.timing,
         "max per-agent timing offset, samples (inside the cp "
         "with the taps)",
         0, 4096, NULL},
        {"--cfo", CLI_FLOAT, &c.cfo,
         "receiver carrier offset common to all agents, subcarrier "
         "spacings",
         -0.45, 0.45, NULL},
        {"--agent-cfo", CLI_FLOAT, &c.agent_cfo,
         "max residual per-agent carrier offset "
         "(uniform), subcarrier spacings",
         0, 0.45, NULL},
        {"--g-th", CLI_FLOAT, &c.g_th, "truncation threshold on |h|^2 (§4)", 0, 100, NULL},
        {"--bursts", CLI_UINT, &c.bursts,
         "bursts (rounds) in the recording, each with new "
         "channels and payloads",
         1, 1000, NULL},
        {"--gap", CLI_UINT, &c.gap, "noise samples between bursts", 0, 10000000, NULL},
        {"--lead", CLI_UINT, &c.lead,
         "noise samples before the first and after the last burst "
         "(default 3 blocks)",
         0, 10000000, NULL},
        {"--payload", CLI_UINT, &c.L, "payload length L (reals per agent and burst)", 1, 1 << 22,
         NULL},
        {"--nfft", CLI_UINT, &c.M, "FFT size M (cp = M/8, default allocation)", 64, 4096, NULL},
        {"--seed", CLI_U64, &c.seed, "seed (channels, payloads, noise)", 1, 0, NULL},
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
    const unsigned cp = c.M / 8;
    if (c.timing + c.taps - 1 > cp)
        return cli_fail("loopback", AM_FAIL(AM_EINVAL,
                                            "--timing %u + --taps %u - 1 exceeds the "
                                            "cyclic prefix (%u)",
                                            c.timing, c.taps, cp));
    char base[4096];
    if ((s = phy_sigmf_base(c.out, base, sizeof base)) != AM_OK)
        return cli_fail("loopback", s);

    lb_state st;
    memset(&st, 0, sizeof st);
    phy_ota_tx_cfg tc;
    phy_ota_tx_cfg_default(&tc);
    tc.frame.nfft = c.M;
    tc.frame.cp_len = cp;
    tc.payload_len = c.L;
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = c.K;
    cc.nfft = c.M;
    cc.cp_len = cp;
    cc.n_taps = c.taps;
    cc.delay_spread = c.delay_spread;
    cc.max_timing_offset = c.timing;
    cc.max_cfo = c.agent_cfo;
    cc.common_cfo = c.cfo;
    cc.rho = c.rho;
    cc.snr_db = c.snr_db;
    cc.seed = c.seed;
    if ((s = phy_ota_tx_create(&tc, &st.tx)) != AM_OK ||
        (s = phy_chan_create(&cc, &st.ch)) != AM_OK) {
        lb_free(&st, c.K);
        return cli_fail("loopback", s);
    }
    const phy_frame *f = phy_ota_tx_frame(st.tx);
    const size_t blen = phy_ota_tx_burst_len(st.tx);
    if (c.lead == 0)
        c.lead = (unsigned)(3 * phy_frame_block_len(f));
    const size_t big = c.gap > c.lead ? c.gap : c.lead;
    st.ycap = phy_chan_out_len(st.ch, blen, big, big);
    const uint64_t total = (uint64_t)c.bursts * st.ycap;
    if (total > LB_MAX_SAMPLES) {
        lb_free(&st, c.K);
        return cli_fail("loopback", AM_FAIL(AM_EINVAL,
                                            "the recording would hold %" PRIu64
                                            " samples (more than %" PRIu64 ")",
                                            total, LB_MAX_SAMPLES));
    }
    st.v = calloc(c.K, sizeof *st.v);
    st.x = calloc(c.K, sizeof *st.x);
    st.H = malloc(c.M * sizeof *st.H);
    st.p = malloc(c.M * sizeof *st.p);
    st.active = malloc((size_t)c.K * c.M);
    st.y = malloc(st.ycap * sizeof *st.y);
    st.truth = malloc((size_t)c.bursts * c.L * sizeof *st.truth);
    st.n = malloc((size_t)c.bursts * c.L);
    st.start = malloc(c.bursts * sizeof *st.start);
    st.floor_db = malloc(c.bursts * sizeof *st.floor_db);
    st.active_true = malloc(c.bursts * sizeof *st.active_true);
    int ok = st.v && st.x && st.H && st.p && st.active && st.y && st.truth && st.n && st.start &&
             st.floor_db && st.active_true;
    for (unsigned k = 0; ok && k < c.K; k++) {
        st.v[k] = malloc(c.L * sizeof **st.v);
        st.x[k] = malloc(blen * sizeof **st.x);
        ok = st.v[k] && st.x[k];
    }
    if (!ok) {
        lb_free(&st, c.K);
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
             c.taps, (double)c.snr_db);
    in.nfft = c.M;
    in.cp_len = cp;
    in.payload_len = c.L;
    in.scale = c.eta;
    in.rho = c.rho;
    in.g_th = c.g_th;
    in.agents = c.K;
    if ((s = phy_sigmf_writer_create(base, &in, &st.cap)) != AM_OK) {
        lb_free(&st, c.K);
        return cli_fail("loopback", s);
    }
    am_rng r;
    am_rng_seed2(&r, c.seed, 1000);
    for (unsigned b = 0; b < c.bursts && s == AM_OK; b++)
        s = one_burst(&c, &st, b, &r);
    uint64_t samples = st.cap ? phy_sigmf_writer_count(st.cap) : 0;
    if (s == AM_OK) {
        s = phy_sigmf_writer_close(st.cap);
        st.cap = NULL;
    }
    if (s == AM_OK)
        s = write_truth(&c, &st, base, cmdline);
    if (s == AM_OK) {
        printf("%s.sigmf-{meta,data}: %" PRIu64 " samples (%.1f KiB), %u burst(s) of %zu samples; "
               "truth in %s.truth.{f32,json}\n",
               base, samples, (double)samples * 8 / 1024, c.bursts, blen, base);
        for (unsigned b = 0; b < c.bursts; b++)
            printf("burst %u: start %" PRIu64 "  active (true) %.2f  §5 floor %.2f dB\n", b,
                   st.start[b], st.active_true[b], st.floor_db[b]);
    }
    lb_free(&st, c.K);
    if (s != AM_OK)
        return cli_fail("loopback", s);
    return 0;
}
