/* fl/agg: aggregation interface and the `ideal` and `stat` implementations
 * (docs/air-interface.md §3-§5, docs/paper.md §2). */
#include "fl/agg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "fl/sparse.h"

am_status fl_agg_execute(fl_agg *a,
                         const fl_agg_round *r,
                         const float *const *x,
                         const unsigned char *present,
                         size_t K,
                         size_t d,
                         float *out,
                         float *active,
                         float *const *delivered)
{
    if (!a || !a->ops || !a->ops->aggregate)
        return AM_FAIL(AM_EINVAL, "aggregate: no aggregator");
    if (!r || !x || !out)
        return AM_FAIL(AM_EINVAL, "aggregate %s: missing round, vectors or output", a->ops->name);
    if (K == 0 || d == 0)
        return AM_FAIL(AM_EINVAL, "aggregate %s: %zu agents, dimension %zu", a->ops->name, K, d);
    if (!(isfinite(r->eta) && r->eta > 0.0f))
        return AM_FAIL(AM_EINVAL, "aggregate %s: eta %g is not a positive finite number",
                       a->ops->name, (double)r->eta);
    if (!(isfinite(r->rho) && r->rho > 0.0f))
        return AM_FAIL(AM_EINVAL, "aggregate %s: rho %g is not a positive finite number",
                       a->ops->name, (double)r->rho);
    if (!(isfinite(r->g_th) && r->g_th >= 0.0f))
        return AM_FAIL(AM_EINVAL, "aggregate %s: g_th %g is not a finite number >= 0", a->ops->name,
                       (double)r->g_th);
    size_t npresent = 0;
    for (size_t k = 0; k < K; k++) {
        if (present && !present[k])
            continue;
        if (!x[k])
            return AM_FAIL(AM_EINVAL, "aggregate %s: agent %zu is present but has no vector",
                           a->ops->name, k);
        if (!fl_vec_finite(x[k], d))
            return AM_FAIL(AM_EINVAL, "aggregate %s: agent %zu's vector is not finite",
                           a->ops->name, k);
        npresent++;
    }
    if (npresent == 0)
        return AM_FAIL(AM_EINVAL, "aggregate %s: no agent transmits", a->ops->name);
    return a->ops->aggregate(a->self, r, x, present, K, d, out, active, delivered);
}

void fl_agg_destroy(fl_agg *a)
{
    if (!a)
        return;
    if (a->ops && a->ops->destroy)
        a->ops->destroy(a->self);
    a->ops = NULL;
    a->self = NULL;
}

const char *fl_agg_name(const fl_agg *a)
{
    return a && a->ops ? a->ops->name : "(none)";
}

double fl_agg_noise_var(double eta, double rho, double snr_lin, double n)
{
    double n0 = rho / snr_lin; /* docs/air-interface.md §5: per-agent SNR = rho / N0 */
    return eta * eta * n0 / (2.0 * n * n * rho);
}

/* ---- ideal ---- */

static am_status ideal_aggregate(void *self,
                                 const fl_agg_round *r,
                                 const float *const *x,
                                 const unsigned char *present,
                                 size_t K,
                                 size_t d,
                                 float *out,
                                 float *active,
                                 float *const *delivered)
{
    (void)self;
    (void)r;
    size_t n = 0;
    memset(out, 0, d * sizeof *out);
    for (size_t k = 0; k < K; k++) {
        int on = !present || present[k];
        if (delivered && delivered[k]) {
            if (on)
                memcpy(delivered[k], x[k], d * sizeof *x[k]);
            else
                memset(delivered[k], 0, d * sizeof *delivered[k]);
        }
        if (!on)
            continue;
        n++;
        for (size_t i = 0; i < d; i++)
            out[i] += x[k][i];
    }
    const float inv = 1.0f / (float)n;
    for (size_t i = 0; i < d; i++)
        out[i] *= inv;
    if (active)
        for (size_t i = 0; i < d; i++)
            active[i] = (float)n;
    return AM_OK;
}

static void ideal_destroy(void *self)
{
    (void)self;
}

static const fl_agg_ops ideal_ops = {"ideal", ideal_aggregate, ideal_destroy};

am_status fl_agg_ideal_create(fl_agg *out)
{
    out->ops = &ideal_ops;
    out->self = NULL;
    return AM_OK;
}

/* ---- stat ---- */

typedef struct agg_stat {
    fl_agg_stat_cfg cfg;
    double snr_lin;
} agg_stat;

static am_status stat_aggregate(void *self,
                                const fl_agg_round *r,
                                const float *const *x,
                                const unsigned char *present,
                                size_t K,
                                size_t d,
                                float *out,
                                float *active,
                                float *const *delivered)
{
    agg_stat *q = self;
    const size_t nbins = (d + 1) / 2;
    const double p_on = exp(-(double)r->g_th); /* P(|h|^2 >= g_th), |h|^2 ~ Exp(1) */
    am_rng rng;
    am_rng_seed2(&rng, q->cfg.seed ^ 0x5a7a7a11ULL, r->round);
    for (size_t j = 0; j < nbins; j++) {
        const size_t i0 = 2 * j, i1 = (i0 + 1 < d) ? i0 + 1 : i0;
        double s0 = 0.0, s1 = 0.0;
        unsigned n = 0;
        for (size_t k = 0; k < K; k++) {
            if (present && !present[k])
                continue; /* a silent agent draws nothing: the draws of the others stay put */
            int on = am_rng_uniform(&rng) < p_on;
            if (on) {
                n++;
                s0 += x[k][i0];
                s1 += x[k][i1];
            }
            if (delivered && delivered[k]) {
                delivered[k][i0] = on ? x[k][i0] : 0.0f;
                delivered[k][i1] = on ? x[k][i1] : 0.0f;
            }
        }
        float e0 = 0.0f, e1 = 0.0f;
        if (n > 0) {
            double sd = sqrt(fl_agg_noise_var(r->eta, r->rho, q->snr_lin, (double)n));
            e0 = (float)(s0 / n + sd * am_rng_normal(&rng));
            e1 = (float)(s1 / n + sd * am_rng_normal(&rng));
        }
        out[i0] = e0;
        out[i1] = e1; /* odd d: i1 == i0 and the last bin's imaginary part is the zero pad */
        if (i1 == i0)
            out[i0] = e0;
        if (active) {
            active[i0] = (float)n;
            active[i1] = (float)n;
        }
    }
    if (delivered)
        for (size_t k = 0; k < K; k++)
            if (delivered[k] && present && !present[k])
                memset(delivered[k], 0, d * sizeof *delivered[k]);
    return AM_OK;
}

static void stat_destroy(void *self)
{
    free(self);
}

static const fl_agg_ops stat_ops = {"stat", stat_aggregate, stat_destroy};

am_status fl_agg_stat_create(const fl_agg_stat_cfg *cfg, fl_agg *out)
{
    out->ops = NULL;
    out->self = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "stat aggregator: no config");
    if (!isfinite(cfg->snr_db) || cfg->snr_db < -100.0 || cfg->snr_db > 200.0)
        return AM_FAIL(AM_EINVAL, "stat aggregator: SNR %g dB outside -100..200", cfg->snr_db);
    agg_stat *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "stat aggregator: out of memory");
    q->cfg = *cfg;
    q->snr_lin = pow(10.0, cfg->snr_db / 10.0);
    out->ops = &stat_ops;
    out->self = q;
    return AM_OK;
}

/* ---- eta ---- */

am_status fl_eta_rule_parse(const char *name, fl_eta_rule *out)
{
    if (name && strcmp(name, "peak") == 0)
        *out = FL_ETA_PEAK;
    else if (name && strcmp(name, "rms") == 0)
        *out = FL_ETA_RMS;
    else
        return AM_FAIL(AM_EINVAL, "eta rule: '%s' is not one of peak|rms", name ? name : "(null)");
    return AM_OK;
}

float fl_agg_eta(
    fl_eta_rule rule, const float *const *x, const unsigned char *present, size_t K, size_t d)
{
    const size_t nbins = (d + 1) / 2;
    double best = 0.0;
    for (size_t k = 0; k < K; k++) {
        if ((present && !present[k]) || !x[k])
            continue;
        double acc = 0.0;
        for (size_t j = 0; j < nbins; j++) {
            double a = x[k][2 * j];
            double b = 2 * j + 1 < d ? x[k][2 * j + 1] : 0.0;
            double p = a * a + b * b;
            if (rule == FL_ETA_PEAK)
                acc = p > acc ? p : acc;
            else
                acc += p;
        }
        if (rule == FL_ETA_RMS)
            acc /= (double)nbins;
        best = acc > best ? acc : best;
    }
    return best > 0.0 ? (float)sqrt(best) : 1.0f;
}
