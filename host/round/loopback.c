/* host/round/loopback: a reference recording made by airmeta's own transmitter and channel
 * emulator (contract: round/loopback.h). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/escape.h"
#include "round/loopback.h"
#include "util/fsutil.h"
#include "round/genie.h"
#include "phy/sigmf.h"

#define LB_MAX_SAMPLES ((uint64_t)1 << 27) /* 1 GiB of cf32: far above what a reference needs */

void lb_free(lb_state *st)
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

am_status loopback_record(lb_cfg *c, genie_cfg *g, unsigned L, const char *cmdline,
                          lb_state *st, char *base, size_t base_cap)
{
    memset(st, 0, sizeof *st);
    const unsigned cp = g->nfft / 8;
    g->payload_len = L;
    if (c->lead == 0)
        c->lead = 3 * (g->nfft + cp); /* 3 blocks */
    g->max_pad = c->gap > c->lead ? c->gap : c->lead;
    am_status s;
    if ((s = genie_create(g, &st->g)) != AM_OK ||
        (s = phy_sigmf_base(c->out, base, base_cap)) != AM_OK)
        return s;
    st->burst_len = genie_burst_len(st->g);
    const uint64_t total = (uint64_t)c->bursts * genie_out_cap(st->g);
    if (total > LB_MAX_SAMPLES)
        return AM_FAIL(AM_EINVAL, "the recording would hold %" PRIu64 " samples (more than %" PRIu64
                                  ")",
                       total, LB_MAX_SAMPLES);
    st->truth = malloc((size_t)c->bursts * L * sizeof *st->truth);
    st->n = malloc((size_t)c->bursts * L);
    st->start = malloc(c->bursts * sizeof *st->start);
    st->floor_db = malloc(c->bursts * sizeof *st->floor_db);
    st->active_true = malloc(c->bursts * sizeof *st->active_true);
    if (!st->truth || !st->n || !st->start || !st->floor_db || !st->active_true)
        return AM_FAIL(AM_ENOMEM, "loopback: out of memory");
    phy_sigmf_info in;
    phy_sigmf_info_default(&in);
    snprintf(in.description, sizeof in.description, "airmeta loopback reference: %s", cmdline);
    snprintf(in.hw, sizeof in.hw, "phy_chan emulator (%u-tap Rayleigh, AWGN %.3g dB per agent)",
             g->taps, (double)g->snr_db);
    in.nfft = g->nfft;
    in.cp_len = cp;
    in.payload_len = L;
    in.scale = g->eta;
    in.rho = g->rho;
    in.g_th = g->g_th;
    in.agents = g->agents;
    if ((s = phy_sigmf_writer_create(base, &in, &st->cap)) != AM_OK)
        return s;
    for (unsigned b = 0; b < c->bursts && s == AM_OK; b++)
        s = one_burst(c, g, st, b);
    st->samples = st->cap ? phy_sigmf_writer_count(st->cap) : 0;
    if (s == AM_OK) {
        s = phy_sigmf_writer_close(st->cap);
        st->cap = NULL;
    }
    if (s == AM_OK)
        s = write_truth(c, g, st, base, cmdline);
    return s;
}
