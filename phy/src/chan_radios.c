/* phy/chan_radios (internal): the emulator's radios (see chan_radios.h). */
#include "chan_radios.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define RADIO_STREAM 0x5261646full /* am_rng stream base for the radios' seeds ("Rado") */

typedef struct chan_radio {
    phy_impair *imp;
    float complex *buf; /* TX output or RX work buffer */
    size_t cap;
    float complex *in; /* a burst fetched from a source */
    size_t in_cap;
} chan_radio;

struct chan_radios {
    unsigned K;
    chan_radio *r;              /* K + 1 */
    const float complex **ptrs; /* K */
};

static uint64_t radio_seed(uint64_t seed, unsigned i)
{
    am_rng g;
    am_rng_seed2(&g, seed, RADIO_STREAM + i);
    return am_rng_u64(&g);
}

void chan_radios_destroy(chan_radios *r)
{
    if (!r)
        return;
    for (unsigned i = 0; r->r && i <= r->K; i++) {
        phy_impair_destroy(r->r[i].imp);
        free(r->r[i].buf);
        free(r->r[i].in);
    }
    free(r->r);
    free(r->ptrs);
    free(r);
}

am_status
chan_radios_create(const phy_impair_cfg *cfg, unsigned K, uint64_t seed, chan_radios **out)
{
    *out = NULL;
    if (!cfg || phy_impair_cfg_is_ideal(cfg))
        return AM_OK;
    chan_radios *r = calloc(1, sizeof *r);
    if (!r)
        return AM_FAIL(AM_ENOMEM, "phy_chan: out of memory (radios)");
    r->K = K;
    r->r = calloc((size_t)K + 1, sizeof *r->r);
    r->ptrs = calloc(K, sizeof *r->ptrs);
    if (!r->r || !r->ptrs) {
        free(r->r);
        free(r->ptrs);
        free(r);
        return AM_FAIL(AM_ENOMEM, "phy_chan: out of memory (radios)");
    }
    for (unsigned i = 0; i <= K; i++) {
        phy_impair_cfg c = *cfg;
        c.seed = radio_seed(seed, i);
        am_status s = phy_impair_create(&c, &r->r[i].imp);
        if (s != AM_OK) {
            chan_radios_destroy(r);
            return am_error_wrap(s, "phy_chan: impair");
        }
    }
    *out = r;
    return AM_OK;
}

void chan_radios_reset(chan_radios *r)
{
    for (unsigned i = 0; r && i <= r->K; i++)
        phy_impair_reset(r->r[i].imp);
}

void chan_radios_reseed(chan_radios *r, uint64_t seed)
{
    for (unsigned i = 0; r && i <= r->K; i++)
        phy_impair_reseed(r->r[i].imp, radio_seed(seed, i));
}

void chan_radios_retune(chan_radios *r)
{
    for (unsigned i = 0; r && i <= r->K; i++)
        phy_impair_retune(r->r[i].imp);
}

void chan_radios_new_timeline(chan_radios *r)
{
    for (unsigned i = 0; r && i <= r->K; i++)
        phy_impair_new_timeline(r->r[i].imp);
}

unsigned chan_radios_server(const chan_radios *r)
{
    return r ? r->K : 0;
}

const phy_impair *chan_radios_get(const chan_radios *r, unsigned radio)
{
    return r && radio <= r->K ? r->r[radio].imp : NULL;
}

static am_status grow(chan_radio *d, size_t need)
{
    if (need <= d->cap)
        return AM_OK;
    float complex *b = realloc(d->buf, need * sizeof *b);
    if (!b)
        return AM_FAIL(AM_ENOMEM, "phy_chan: out of memory (%zu radio samples)", need);
    d->buf = b;
    d->cap = need;
    return AM_OK;
}

/* dir over x[0..n) then the flush zeros into d->buf; returns the outputs made */
static am_status stream(
    chan_radio *d, phy_impair_dir dir, const float complex *x, size_t n, uint64_t n0, size_t *made)
{
    static const float complex zeros[PHY_IMPAIR_M + 2u];
    unsigned lat = phy_impair_latency(d->imp, dir);
    size_t need = phy_impair_max_out(d->imp, dir, n) + phy_impair_max_out(d->imp, dir, lat);
    am_status s = grow(d, need > n ? need : n);
    if (s != AM_OK)
        return s;
    size_t a = 0, b = 0;
    phy_impair_start_at(d->imp, dir, n0);
    if ((s = phy_impair_execute(d->imp, dir, x, n, d->buf, d->cap, &a)) != AM_OK ||
        (s = phy_impair_execute(d->imp, dir, zeros, lat, d->buf + a, d->cap - a, &b)) != AM_OK)
        return s;
    *made = a + b;
    return AM_OK;
}

am_status chan_radios_tx(chan_radios *r,
                         unsigned radio,
                         const float complex *x,
                         size_t n,
                         uint64_t n0,
                         const float complex **out)
{
    chan_radio *d = &r->r[radio];
    size_t made = 0;
    am_status s = stream(d, PHY_IMPAIR_TX, x, n, n0, &made);
    if (s != AM_OK)
        return s;
    if (made < n)
        memset(d->buf + made, 0, (n - made) * sizeof *d->buf);
    *out = d->buf;
    return AM_OK;
}

am_status chan_radios_tx_all(chan_radios *r,
                             const float complex *const *tx,
                             phy_chan_source src,
                             void *user,
                             const unsigned char *active,
                             size_t n,
                             uint64_t n0,
                             const float complex *const **out)
{
    for (unsigned k = 0; k < r->K; k++) {
        r->ptrs[k] = NULL;
        const float complex *x = tx ? tx[k] : NULL;
        if (!tx && (!active || active[k])) {
            chan_radio *d = &r->r[k];
            if (n > d->in_cap) {
                float complex *b = realloc(d->in, n * sizeof *b);
                if (!b)
                    return AM_FAIL(AM_ENOMEM, "phy_chan: out of memory (%zu radio samples)", n);
                d->in = b;
                d->in_cap = n;
            }
            am_status s = n ? src(user, 0, k, 0, n, d->in) : AM_OK;
            if (s != AM_OK)
                return am_error_wrap(s, "phy_chan: agent %u, burst samples 0..%zu", k, n);
            x = d->in;
        }
        if (!x)
            continue;
        am_status s = chan_radios_tx(r, k, x, n, n0, &r->ptrs[k]);
        if (s != AM_OK)
            return s;
    }
    *out = r->ptrs;
    return AM_OK;
}

am_status chan_radios_rx(
    chan_radios *r, unsigned radio, float complex *y, size_t n, size_t a, size_t b, uint64_t n0)
{
    chan_radio *d = &r->r[radio];
    double p = 0;
    if (b > n)
        b = n;
    for (size_t t = a; t < b; t++)
        p += (double)(crealf(y[t]) * crealf(y[t]) + cimagf(y[t]) * cimagf(y[t]));
    p = b > a ? p / (double)(b - a) : 0.0;
    am_status s = phy_impair_set_rx_level(d->imp, p > 0 && isfinite(p) ? (float)p : 1.0f);
    size_t made = 0;
    if (s != AM_OK || (s = stream(d, PHY_IMPAIR_RX, y, n, n0, &made)) != AM_OK)
        return s;
    size_t m = made < n ? made : n;
    memcpy(y, d->buf, m * sizeof *y);
    if (m < n)
        memset(y + m, 0, (n - m) * sizeof *y);
    return AM_OK;
}
