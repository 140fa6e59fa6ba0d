/* host/genie: K genie-CSI agents over the channel emulator (see genie.h). */
#include "round/genie.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "phy/chan.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"

struct genie {
    genie_cfg cfg;
    phy_ota_tx *tx;
    phy_chan *ch;
    am_rng rng;
    const phy_frame *f;
    unsigned M, K, nd, nu;
    const unsigned *dbins, *ubins;
    size_t L, blen;
    float **v;             /* K payloads */
    float complex **x;     /* K bursts */
    float complex *H, *p;  /* M */
    unsigned char *active; /* K x M: |h_k[i]|^2 >= g_th */
    float complex *y;
    size_t ycap;
};

void genie_destroy(genie *q)
{
    if (!q)
        return;
    phy_ota_tx_destroy(q->tx);
    phy_chan_destroy(q->ch);
    for (unsigned k = 0; q->v && k < q->K; k++)
        free(q->v[k]);
    for (unsigned k = 0; q->x && k < q->K; k++)
        free(q->x[k]);
    free(q->v);
    free(q->x);
    free(q->H);
    free(q->p);
    free(q->active);
    free(q->y);
    free(q);
}

am_status genie_create(const genie_cfg *c, genie **out)
{
    if (!c || !out)
        return AM_FAIL(AM_EINVAL, "genie_create: NULL argument");
    *out = NULL;
    const unsigned cp = c->nfft / 8;
    if (c->timing + c->taps - 1 > cp)
        return AM_FAIL(AM_EINVAL, "--timing %u + --taps %u - 1 exceeds the cyclic prefix (%u)",
                       c->timing, c->taps, cp);
    genie *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "out of memory");
    q->cfg = *c;
    q->cfg.impair = NULL; /* used by phy_chan_create only (it copies it) */
    q->K = c->agents;
    q->M = c->nfft;
    q->L = c->payload_len;
    phy_ota_tx_cfg tc;
    phy_ota_tx_cfg_default(&tc);
    tc.frame.nfft = c->nfft;
    tc.frame.cp_len = cp;
    tc.payload_len = c->payload_len;
    tc.mapping = c->mapping;
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = c->agents;
    cc.nfft = c->nfft;
    cc.cp_len = cp;
    cc.n_taps = c->taps;
    cc.delay_spread = c->delay_spread;
    cc.max_timing_offset = c->timing;
    cc.max_cfo = c->agent_cfo;
    cc.common_cfo = c->cfo;
    cc.rho = c->rho;
    cc.snr_db = c->snr_db;
    cc.seed = c->seed;
    cc.impair = c->impair;
    am_status s;
    if ((s = phy_ota_tx_create(&tc, &q->tx)) != AM_OK ||
        (s = phy_chan_create(&cc, &q->ch)) != AM_OK) {
        genie_destroy(q);
        return s;
    }
    q->f = phy_ota_tx_frame(q->tx);
    q->nd = phy_frame_n_data(q->f);
    q->nu = phy_frame_n_used(q->f);
    q->dbins = phy_frame_data_bins(q->f);
    q->ubins = phy_frame_used_bins(q->f);
    q->blen = phy_ota_tx_burst_len(q->tx);
    q->ycap = phy_chan_out_len(q->ch, q->blen, c->max_pad, c->max_pad);
    q->v = calloc(q->K, sizeof *q->v);
    q->x = calloc(q->K, sizeof *q->x);
    q->H = malloc(q->M * sizeof *q->H);
    q->p = malloc(q->M * sizeof *q->p);
    q->active = malloc((size_t)q->K * q->M);
    q->y = malloc(q->ycap * sizeof *q->y);
    int ok = q->v && q->x && q->H && q->p && q->active && q->y;
    for (unsigned k = 0; ok && k < q->K; k++) {
        q->v[k] = malloc(q->L * sizeof **q->v);
        q->x[k] = malloc(q->blen * sizeof **q->x);
        ok = q->v[k] && q->x[k];
    }
    if (!ok) {
        genie_destroy(q);
        return AM_FAIL(AM_ENOMEM, "out of memory (%u agents, L = %zu)", c->agents, c->payload_len);
    }
    am_rng_seed2(&q->rng, c->seed, 1000);
    *out = q;
    return AM_OK;
}

const phy_frame *genie_frame(const genie *q)
{
    return q ? q->f : NULL;
}

size_t genie_burst_len(const genie *q)
{
    return q ? q->blen : 0;
}

size_t genie_out_cap(const genie *q)
{
    return q ? q->ycap : 0;
}

am_status genie_set_snr(genie *q, float snr_db)
{
    return phy_chan_set_snr(q->ch, snr_db);
}

am_status genie_round(genie *q, size_t lead, size_t tail, const float complex **y, size_t *ny)
{
    if (lead > q->cfg.max_pad || tail > q->cfg.max_pad)
        return AM_FAIL(AM_EINVAL, "genie_round: lead %zu / tail %zu above max_pad %zu", lead, tail,
                       q->cfg.max_pad);
    const unsigned M = q->M;
    am_status s = phy_chan_draw(q->ch);
    if (s != AM_OK)
        return s;
    /* agents: true channel -> truncated inversion (§4) -> burst */
    for (unsigned k = 0; k < q->K; k++) {
        for (size_t j = 0; j < q->L; j++)
            q->v[k][j] = (float)am_rng_normal(&q->rng);
        if ((s = phy_chan_response(q->ch, k, q->H)) != AM_OK ||
            (s = phy_precode_inversion(q->f, q->H, q->cfg.rho, q->cfg.g_th, q->p, NULL)) != AM_OK ||
            (s = phy_ota_tx_execute(q->tx, q->v[k], q->cfg.eta, q->p, q->x[k], q->blen)) != AM_OK)
            return s;
        for (unsigned i = 0; i < M; i++) {
            float g = crealf(q->H[i]) * crealf(q->H[i]) + cimagf(q->H[i]) * cimagf(q->H[i]);
            q->active[(size_t)k * M + i] = g >= q->cfg.g_th;
        }
    }
    if ((s = phy_chan_execute(q->ch, (const float complex *const *)q->x, q->blen, lead, tail, q->y,
                              q->ycap, ny)) != AM_OK)
        return s;
    *y = q->y;
    return AM_OK;
}

unsigned genie_entry(const genie *q, size_t j, double *avg)
{
    const unsigned bin = q->dbins[(q->cfg.mapping == PHY_MAP_REAL ? j : j / 2) % q->nd];
    unsigned n = 0;
    double sum = 0;
    for (unsigned k = 0; k < q->K; k++)
        if (q->active[(size_t)k * q->M + bin]) {
            n++;
            sum += q->v[k][j];
        }
    *avg = n ? sum / n : 0.0;
    return n;
}

double genie_active_true(const genie *q)
{
    double na = 0;
    for (unsigned u = 0; u < q->nu; u++)
        for (unsigned k = 0; k < q->K; k++)
            na += q->active[(size_t)k * q->M + q->ubins[u]];
    return na / q->nu;
}
