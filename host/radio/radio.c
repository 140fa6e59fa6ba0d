/* host/radio/radio: backend registry, time arithmetic and the checks common to every backend
 * (radio.h). Backends live in loop.c, zmq.c, file.c and uhd.c. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radio/radio_impl.h"

/* ---- time ---------------------------------------------------------------------------------- */

static radio_time normalise(long double secs_whole, long double frac)
{
    long double f = floorl(frac);
    radio_time t;
    t.secs = (int64_t)(secs_whole + f);
    t.frac = (double)(frac - f);
    if (t.frac >= 1.0) { /* frac - floor(frac) rounded up to 1.0 in double */
        t.secs += 1;
        t.frac = 0.0;
    }
    return t;
}

radio_time radio_time_from_ticks(int64_t ticks, double rate)
{
    /* uhd::time_spec_t::from_ticks: whole seconds first, the remainder in ticks, then divide */
    long double r = rate;
    long double secs = floorl((long double)ticks / r);
    long double rem = (long double)ticks - secs * r;
    return normalise(secs, rem / r);
}

int64_t radio_time_to_ticks(radio_time t, double rate)
{
    long double r = rate;
    return (int64_t)llroundl((long double)t.secs * r + (long double)t.frac * r);
}

radio_time radio_time_add(radio_time t, double s)
{
    long double whole = floorl((long double)s);
    return normalise((long double)t.secs + whole, (long double)t.frac + ((long double)s - whole));
}

double radio_time_diff(radio_time a, radio_time b)
{
    return (double)(a.secs - b.secs) + (a.frac - b.frac);
}

int radio_time_cmp(radio_time a, radio_time b)
{
    if (a.secs != b.secs)
        return a.secs < b.secs ? -1 : 1;
    if (a.frac != b.frac)
        return a.frac < b.frac ? -1 : 1;
    return 0;
}

/* ---- helpers for backends ------------------------------------------------------------------ */

void radio_strlcpy(char *dst, const char *src, size_t cap)
{
    if (!cap)
        return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

int radio_all_finite(const float complex *x, size_t n)
{
    const float *f = (const float *)x;
    for (size_t i = 0; i < 2 * n; i++)
        if (!isfinite(f[i]))
            return 0;
    return 1;
}

float radio_burst_peak(const float complex *x, size_t n)
{
    const float *f = (const float *)x;
    float pk = 0;
    for (size_t i = 0; f && i < 2 * n; i++) {
        const float a = fabsf(f[i]);
        if (!(a <= FLT_MAX)) /* NaN or infinite */
            return INFINITY;
        pk = a > pk ? a : pk;
    }
    return pk;
}

void radio_count(radio *r, uint64_t *field, uint64_t k)
{
    pthread_mutex_lock(&r->lock);
    *field += k;
    pthread_mutex_unlock(&r->lock);
}

am_status radio_record_freq(radio *r, radio_dir dir, double hz)
{
    if (dir & RADIO_TX)
        r->info.tx_freq = hz;
    if (dir & RADIO_RX)
        r->info.rx_freq = hz;
    return AM_OK;
}

am_status radio_record_gain(radio *r, radio_dir dir, double db)
{
    if (dir & RADIO_TX)
        r->info.tx_gain = db;
    if (dir & RADIO_RX)
        r->info.rx_gain = db;
    return AM_OK;
}

am_status radio_record_clock_source(radio *r, const char *src)
{
    radio_strlcpy(r->info.clock_source, src, sizeof r->info.clock_source);
    return AM_OK;
}

am_status radio_record_time_source(radio *r, const char *src)
{
    radio_strlcpy(r->info.time_source, src, sizeof r->info.time_source);
    return AM_OK;
}

void radio_record_rf_args(radio *r, const radio_args *a)
{
    r->info.tx_freq = r->info.rx_freq = radio_args_double(a, "freq", 0);
    r->info.tx_gain = radio_args_double(a, "tx_gain", 0);
    r->info.rx_gain = radio_args_double(a, "rx_gain", 0);
}

/* ---- registry ------------------------------------------------------------------------------ */

static const radio_ops *const backends[] = {
    &radio_loop_ops,
    &radio_zmq_ops,
    &radio_file_ops,
#ifdef AM_HAVE_UHD
    &radio_uhd_ops,
#endif
};
static const size_t nbackends = sizeof backends / sizeof backends[0];

const char *const *radio_backends(void)
{
    static const char *names[sizeof backends / sizeof backends[0] + 1];
    for (size_t i = 0; i < nbackends; i++)
        names[i] = backends[i]->name;
    names[nbackends] = NULL;
    return names;
}

static const radio_ops *lookup(const char *name)
{
    for (size_t i = 0; name && i < nbackends; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

am_status radio_backend_keys(const char *name, const radio_arg_spec **spec, size_t *n)
{
    const radio_ops *ops = lookup(name);
    if (!ops)
        return AM_FAIL(AM_ENOTFOUND, "radio: unknown backend '%s'", name ? name : "(null)");
    *spec = ops->spec;
    *n = ops->nspec;
    return AM_OK;
}

am_status radio_open(const char *name, const char *args, radio **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "radio_open: NULL output");
    *out = NULL;
    const radio_ops *ops = lookup(name);
    if (!ops) {
#ifndef AM_HAVE_UHD
        if (name && strcmp(name, "uhd") == 0)
            return AM_FAIL(AM_ENOTSUP, "radio 'uhd': airmeta was built without UHD");
#endif
        char known[64] = "";
        for (size_t i = 0; i < nbackends; i++) {
            strcat(known, i ? ", " : "");
            strcat(known, backends[i]->name);
        }
        return AM_FAIL(AM_EINVAL, "radio: unknown backend '%s' (known: %s)", name ? name : "(null)",
                       known);
    }
    char what[64];
    snprintf(what, sizeof what, "radio '%s'", ops->name);
    radio_args a;
    am_status s = radio_args_parse(args, ops->spec, ops->nspec, what, &a);
    if (s != AM_OK)
        return s;
    radio *r = calloc(1, sizeof *r);
    if (!r)
        return AM_FAIL(AM_ENOMEM, "%s: out of memory", what);
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return AM_FAIL(AM_ENOMEM, "%s: mutex", what);
    }
    r->ops = ops;
    radio_strlcpy(r->info.backend, ops->name, sizeof r->info.backend);
    radio_strlcpy(r->info.clock_source, "internal", sizeof r->info.clock_source);
    radio_strlcpy(r->info.time_source, "internal", sizeof r->info.time_source);
    s = ops->open(r, &a);
    if (s != AM_OK) {
        pthread_mutex_destroy(&r->lock);
        free(r);
        return s;
    }
    *out = r;
    return AM_OK;
}

void radio_close(radio *r)
{
    if (!r)
        return;
    r->ops->close(r);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- methods ------------------------------------------------------------------------------- */

#define NEED(r)                                                                                    \
    do {                                                                                           \
        if (!(r))                                                                                  \
            return AM_FAIL(AM_EINVAL, "radio: NULL handle");                                       \
    } while (0)

am_status radio_set_rate(radio *r, double sps)
{
    NEED(r);
    if (!isfinite(sps) || sps <= 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': rate %g S/s is not positive", r->ops->name, sps);
    return r->ops->set_rate(r, sps);
}

am_status radio_set_freq(radio *r, radio_dir dir, double hz)
{
    NEED(r);
    if (!isfinite(hz) || hz < 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': frequency %g Hz is invalid", r->ops->name, hz);
    if (dir != RADIO_TX && dir != RADIO_RX && dir != RADIO_TXRX)
        return AM_FAIL(AM_EINVAL, "radio '%s': bad direction %d", r->ops->name, (int)dir);
    return r->ops->set_freq(r, dir, hz);
}

static am_status set_gain(radio *r, radio_dir dir, double db)
{
    NEED(r);
    if (!isfinite(db))
        return AM_FAIL(AM_EINVAL, "radio '%s': gain is not finite", r->ops->name);
    return r->ops->set_gain(r, dir, db);
}

am_status radio_set_tx_gain(radio *r, double db)
{
    return set_gain(r, RADIO_TX, db);
}

am_status radio_set_rx_gain(radio *r, double db)
{
    return set_gain(r, RADIO_RX, db);
}

static am_status check_source(radio *r, const char *src, const char *what)
{
    if (!src || (strcmp(src, "internal") && strcmp(src, "external") && strcmp(src, "gpsdo")))
        return AM_FAIL(AM_EINVAL, "radio '%s': %s source '%s' is not one of " RADIO_SOURCES,
                       r->ops->name, what, src ? src : "(null)");
    return AM_OK;
}

am_status radio_set_clock_source(radio *r, const char *src)
{
    NEED(r);
    am_status s = check_source(r, src, "clock");
    return s != AM_OK ? s : r->ops->set_clock_source(r, src);
}

am_status radio_set_time_source(radio *r, const char *src)
{
    NEED(r);
    am_status s = check_source(r, src, "time");
    return s != AM_OK ? s : r->ops->set_time_source(r, src);
}

static am_status check_time(radio *r, const radio_time *t)
{
    if (!t || !isfinite(t->frac) || t->frac < 0 || t->frac >= 1)
        return AM_FAIL(AM_EINVAL, "radio '%s': time must have 0 <= frac < 1", r->ops->name);
    return AM_OK;
}

am_status radio_set_time_next_pps(radio *r, const radio_time *t)
{
    NEED(r);
    am_status s = check_time(r, t);
    return s != AM_OK ? s : r->ops->set_time(r, t, 1);
}

am_status radio_set_time_now(radio *r, const radio_time *t)
{
    NEED(r);
    am_status s = check_time(r, t);
    return s != AM_OK ? s : r->ops->set_time(r, t, 0);
}

am_status radio_get_time(radio *r, radio_time *t)
{
    NEED(r);
    if (!t)
        return AM_FAIL(AM_EINVAL, "radio_get_time: NULL output");
    return r->ops->get_time(r, t);
}

am_status radio_tx_burst(radio *r, const float complex *x, size_t n, const radio_time *at)
{
    NEED(r);
    if (!x || n == 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': empty burst", r->ops->name);
    if (n > r->info.max_burst)
        return AM_FAIL(AM_EINVAL, "radio '%s': burst of %zu samples is longer than %zu",
                       r->ops->name, n, r->info.max_burst);
    if (at) {
        am_status s = check_time(r, at);
        if (s != AM_OK)
            return s;
    }
    if (!radio_all_finite(x, n))
        return AM_FAIL(AM_EINVAL, "radio '%s': burst has NaN or Inf samples", r->ops->name);
    return r->ops->tx_burst(r, x, n, at);
}

am_status radio_tx_flush(radio *r, double timeout_s)
{
    NEED(r);
    if (!isfinite(timeout_s) || timeout_s < 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': bad timeout", r->ops->name);
    return r->ops->tx_flush(r, timeout_s);
}

am_status radio_rx_start(radio *r, const radio_time *at)
{
    NEED(r);
    if (at) {
        am_status s = check_time(r, at);
        if (s != AM_OK)
            return s;
    }
    am_status s = r->ops->rx_start(r, at);
    if (s == AM_OK)
        r->rx_started = 1;
    return s;
}

am_status radio_rx_start_n(radio *r, const radio_time *at, size_t n)
{
    NEED(r);
    if (n == 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': a window of 0 samples", r->ops->name);
    if (!r->ops->rx_start_n)
        return radio_rx_start(r, at);
    if (at) {
        am_status s = check_time(r, at);
        if (s != AM_OK)
            return s;
    }
    am_status s = r->ops->rx_start_n(r, at, n);
    if (s == AM_OK)
        r->rx_started = 1;
    return s;
}

am_status radio_rx_stop(radio *r)
{
    NEED(r);
    if (!r->rx_started)
        return AM_OK;
    r->rx_started = 0;
    return r->ops->rx_stop(r);
}

am_status
radio_rx(radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s)
{
    NEED(r);
    if (!x || !n || !t0 || cap == 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': radio_rx needs a buffer, n and t0", r->ops->name);
    *n = 0;
    if (!isfinite(timeout_s) || timeout_s < 0)
        return AM_FAIL(AM_EINVAL, "radio '%s': bad timeout", r->ops->name);
    if (!r->rx_started)
        return AM_FAIL(AM_EINVAL, "radio '%s': radio_rx before radio_rx_start", r->ops->name);
    return r->ops->rx(r, x, cap, n, t0, timeout_s);
}

void radio_get_stats(const radio *r, radio_stats *s)
{
    if (!r || !s)
        return;
    pthread_mutex_lock((pthread_mutex_t *)&r->lock);
    *s = r->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&r->lock);
}

void radio_get_info(const radio *r, radio_info *info)
{
    if (r && info)
        *info = r->info;
}
