/* host/radio/loop: an in-memory medium for tests. Every handle opened with the same bus=NAME
 * shares one sample clock and one bounded ring: TX bursts are added into the ring at their
 * timestamp (several transmitters sum, like the air does, DESIGN "Data flow" step 3) and RX reads
 * the summed stream with timestamps. Deterministic: the clock advances only when a receiver
 * reads, and where nobody transmitted the medium is exactly zero.
 *
 * Clock: sample index i of the bus is device tick t0_ticks + i at the bus rate; `now` is the
 * furthest index any receiver has read. A burst starting before `now` (or before the oldest
 * retained sample) is late: dropped and counted, as a USRP drops it. The ring keeps the last
 * `ring` samples; a burst that needs room retires the oldest ones, and a receiver that had not
 * read them overflows (counted; its next radio_rx reports the jumped t0). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radio/radio_impl.h"

typedef struct loop_h loop_h;

typedef struct loop_bus {
    char name[64];
    int refs;
    double rate;
    size_t cap;           /* ring capacity, samples */
    float complex *ring;  /* sample index i lives at ring[i % cap] */
    int64_t base;         /* oldest retained index */
    int64_t horizon;      /* one past the last index any burst wrote (>= base) */
    int64_t now;          /* bus clock: furthest index read, >= base */
    int64_t t0_ticks;     /* device time of index 0, in ticks of rate */
    pthread_cond_t wrote; /* signalled after every burst */
    loop_h *members;
    struct loop_bus *next;
} loop_bus;

struct loop_h {
    radio *r;
    loop_bus *bus;
    int rx_on;
    int64_t cursor; /* next index this receiver reads */
    loop_h *next;
};

/* One lock for the registry and every bus: buses are small and test-only. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static loop_bus *g_buses;

#define LOOP_DEFAULT_RING (1u << 20)

static const radio_arg_spec loop_spec[] = {
    {"bus", RADIO_ARG_STR, 0, -1, NULL, "name of the shared medium (default 'default')"},
    {"rate", RADIO_ARG_DOUBLE, 1, 1e9, NULL, "sample rate of the bus, S/s (default 1e6)"},
    {"ring", RADIO_ARG_INT, 1024, 1 << 28, NULL, "ring capacity in samples (default 1048576)"},
    {"freq", RADIO_ARG_DOUBLE, 0, 1e11, NULL, "centre frequency, Hz (recorded only)"},
    {"tx_gain", RADIO_ARG_DOUBLE, -100, 100, NULL, "TX gain, dB (recorded only)"},
    {"rx_gain", RADIO_ARG_DOUBLE, -100, 100, NULL, "RX gain, dB (recorded only)"},
};

static void bus_free(loop_bus *b)
{
    if (!b)
        return;
    pthread_cond_destroy(&b->wrote);
    free(b->ring);
    free(b);
}

static am_status bus_new(const char *name, double rate, size_t cap, loop_bus **out)
{
    loop_bus *b = calloc(1, sizeof *b);
    if (!b)
        return AM_FAIL(AM_ENOMEM, "radio 'loop': out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_cond_init(&b->wrote, &ca);
    pthread_condattr_destroy(&ca);
    if (e) {
        free(b);
        return AM_FAIL(AM_ENOMEM, "radio 'loop': condition variable");
    }
    b->ring = calloc(cap, sizeof *b->ring);
    if (!b->ring) {
        bus_free(b);
        return AM_FAIL(AM_ENOMEM, "radio 'loop': ring of %zu samples", cap);
    }
    radio_strlcpy(b->name, name, sizeof b->name);
    b->rate = rate;
    b->cap = cap;
    *out = b;
    return AM_OK;
}

static am_status loop_open(radio *r, const radio_args *a)
{
    const char *name = radio_args_str(a, "bus", "default");
    if (strlen(name) >= sizeof((loop_bus *)0)->name)
        return AM_FAIL(AM_EINVAL, "radio 'loop': bus name '%s' is too long", name);
    loop_h *h = calloc(1, sizeof *h);
    if (!h)
        return AM_FAIL(AM_ENOMEM, "radio 'loop': out of memory");
    h->r = r;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = g_buses;
    while (b && strcmp(b->name, name) != 0)
        b = b->next;
    am_status s = AM_OK;
    if (b) {
        /* later openers join the bus; explicit settings must agree with it */
        if (radio_args_has(a, "rate") && radio_args_double(a, "rate", 0) != b->rate)
            s = AM_FAIL(AM_EINVAL, "radio 'loop': bus '%s' already runs at %.17g S/s, not %s", name,
                        b->rate, radio_args_str(a, "rate", ""));
        else if (radio_args_has(a, "ring") && (size_t)radio_args_int(a, "ring", 0) != b->cap)
            s = AM_FAIL(AM_EINVAL, "radio 'loop': bus '%s' already has a ring of %zu samples", name,
                        b->cap);
    } else {
        s = bus_new(name, radio_args_double(a, "rate", 1e6),
                    (size_t)radio_args_int(a, "ring", LOOP_DEFAULT_RING), &b);
        if (s == AM_OK) {
            b->next = g_buses;
            g_buses = b;
        }
    }
    if (s != AM_OK) {
        pthread_mutex_unlock(&g_lock);
        free(h);
        return s;
    }
    b->refs++;
    h->bus = b;
    h->next = b->members;
    b->members = h;
    r->info.rate = b->rate;
    r->info.max_burst = b->cap;
    pthread_mutex_unlock(&g_lock);

    r->impl = h;
    snprintf(r->info.device, sizeof r->info.device, "in-memory bus '%s' (ring %zu samples)", name,
             b->cap);
    radio_record_rf_args(r, a);
    return AM_OK;
}

static void loop_close(radio *r)
{
    loop_h *h = r->impl;
    if (!h)
        return;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = h->bus;
    for (loop_h **p = &b->members; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    if (--b->refs == 0) {
        for (loop_bus **p = &g_buses; *p; p = &(*p)->next)
            if (*p == b) {
                *p = b->next;
                break;
            }
        bus_free(b);
    }
    pthread_mutex_unlock(&g_lock);
    free(h);
    r->impl = NULL;
}

static am_status loop_set_rate(radio *r, double sps)
{
    loop_h *h = r->impl;
    am_status s = AM_OK;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = h->bus;
    if (sps != b->rate) {
        int fresh = b->horizon == 0 && b->now == 0 && b->base == 0;
        for (loop_h *m = b->members; m; m = m->next)
            fresh = fresh && !m->rx_on;
        if (fresh)
            b->rate = sps;
        else
            s = AM_FAIL(AM_EINVAL,
                        "radio 'loop': bus '%s' is in use at %.17g S/s; its rate can only change "
                        "before any sample moved",
                        b->name, b->rate);
    }
    if (s == AM_OK)
        for (loop_h *m = b->members; m; m = m->next)
            m->r->info.rate = sps;
    pthread_mutex_unlock(&g_lock);
    return s;
}

static am_status loop_set_time(radio *r, const radio_time *t, int next_pps)
{
    loop_h *h = r->impl;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = h->bus;
    int64_t at = b->now;
    if (next_pps) {
        /* the bus PPS ticks every round(rate) samples from index 0 */
        int64_t per = (int64_t)llround(b->rate);
        at = (b->now / per + 1) * per;
    }
    b->t0_ticks = radio_time_to_ticks(*t, b->rate) - at;
    pthread_mutex_unlock(&g_lock);
    return AM_OK;
}

static am_status loop_get_time(radio *r, radio_time *t)
{
    loop_h *h = r->impl;
    pthread_mutex_lock(&g_lock);
    *t = radio_time_from_ticks(h->bus->t0_ticks + h->bus->now, h->bus->rate);
    pthread_mutex_unlock(&g_lock);
    return AM_OK;
}

/* Retires indices below newb: zeroes their slots (they will hold newer indices) and moves
 * receivers still behind forward, counting an overflow on each. Caller holds g_lock. */
static void retire(loop_bus *b, int64_t newb)
{
    if (newb <= b->base)
        return;
    int64_t nz = newb - b->base;
    if ((uint64_t)nz >= b->cap) {
        memset(b->ring, 0, b->cap * sizeof *b->ring);
    } else {
        size_t first = (size_t)(b->base % (int64_t)b->cap);
        size_t n1 = b->cap - first < (size_t)nz ? b->cap - first : (size_t)nz;
        memset(b->ring + first, 0, n1 * sizeof *b->ring);
        memset(b->ring, 0, ((size_t)nz - n1) * sizeof *b->ring);
    }
    for (loop_h *m = b->members; m; m = m->next)
        if (m->rx_on && m->cursor < newb) {
            m->cursor = newb;
            radio_count(m->r, &m->r->stats.overflows, 1);
        }
    b->base = newb;
    if (b->horizon < newb)
        b->horizon = newb;
    if (b->now < newb)
        b->now = newb;
}

static am_status loop_tx_burst(radio *r, const float complex *x, size_t n, const radio_time *at)
{
    loop_h *h = r->impl;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = h->bus;
    int64_t s = at ? radio_time_to_ticks(*at, b->rate) - b->t0_ticks : b->now;
    if (s < b->now || s < b->base) {
        pthread_mutex_unlock(&g_lock);
        radio_count(r, &r->stats.late, 1); /* a USRP drops a late burst too */
        return AM_OK;
    }
    int64_t end = s + (int64_t)n;
    if (end - b->base > (int64_t)b->cap)
        retire(b, end - (int64_t)b->cap);
    /* the burst occupies at most two contiguous stretches of the ring */
    size_t first = (size_t)(s % (int64_t)b->cap);
    size_t n1 = b->cap - first < n ? b->cap - first : n;
    float complex *dst = b->ring + first;
    for (size_t i = 0; i < n1; i++)
        dst[i] += x[i];
    for (size_t i = n1; i < n; i++)
        b->ring[i - n1] += x[i];
    if (end > b->horizon)
        b->horizon = end;
    pthread_cond_broadcast(&b->wrote);
    pthread_mutex_unlock(&g_lock);
    pthread_mutex_lock(&r->lock);
    r->stats.tx_bursts++;
    r->stats.tx_samples += n;
    pthread_mutex_unlock(&r->lock);
    return AM_OK;
}

static am_status loop_tx_flush(radio *r, double timeout_s)
{
    (void)r;
    (void)timeout_s;
    return AM_OK; /* bursts land synchronously */
}

static am_status loop_rx_start(radio *r, const radio_time *at)
{
    loop_h *h = r->impl;
    am_status s = AM_OK;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = h->bus;
    int64_t c = at ? radio_time_to_ticks(*at, b->rate) - b->t0_ticks : b->now;
    if (c < b->base) {
        radio_time oldest = radio_time_from_ticks(b->t0_ticks + b->base, b->rate);
        s = AM_FAIL(AM_EINVAL,
                    "radio 'loop': RX start %lld+%.9f s is before the oldest retained sample "
                    "(%lld+%.9f s)",
                    (long long)at->secs, at->frac, (long long)oldest.secs, oldest.frac);
    } else {
        h->cursor = c;
        h->rx_on = 1;
    }
    pthread_mutex_unlock(&g_lock);
    return s;
}

static am_status loop_rx_stop(radio *r)
{
    loop_h *h = r->impl;
    pthread_mutex_lock(&g_lock);
    h->rx_on = 0;
    pthread_mutex_unlock(&g_lock);
    return AM_OK;
}

static am_status
loop_rx(radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s)
{
    loop_h *h = r->impl;
    pthread_mutex_lock(&g_lock);
    loop_bus *b = h->bus;
    if (h->cursor >= b->horizon && timeout_s > 0) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        double whole = floor(timeout_s);
        dl.tv_sec += (time_t)whole;
        dl.tv_nsec += (long)((timeout_s - whole) * 1e9);
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (h->cursor >= b->horizon)
            if (pthread_cond_timedwait(&b->wrote, &g_lock, &dl) == ETIMEDOUT)
                break;
    }
    if (h->cursor >= b->horizon) {
        pthread_mutex_unlock(&g_lock);
        return AM_FAIL(AM_ETIMEOUT, "radio 'loop': nothing transmitted on bus '%s' after %g s",
                       b->name, timeout_s);
    }
    size_t m = (size_t)(b->horizon - h->cursor);
    if (m > cap)
        m = cap;
    size_t first = (size_t)(h->cursor % (int64_t)b->cap);
    size_t n1 = b->cap - first < m ? b->cap - first : m;
    memcpy(x, b->ring + first, n1 * sizeof *x);
    memcpy(x + n1, b->ring, (m - n1) * sizeof *x);
    *t0 = radio_time_from_ticks(b->t0_ticks + h->cursor, b->rate);
    h->cursor += (int64_t)m;
    if (h->cursor > b->now)
        b->now = h->cursor;
    pthread_mutex_unlock(&g_lock);
    *n = m;
    radio_count(r, &r->stats.rx_samples, m);
    return AM_OK;
}

const radio_ops radio_loop_ops = {
    .name = "loop",
    .spec = loop_spec,
    .nspec = sizeof loop_spec / sizeof loop_spec[0],
    .open = loop_open,
    .close = loop_close,
    .set_rate = loop_set_rate,
    .set_freq = radio_record_freq,
    .set_gain = radio_record_gain,
    .set_clock_source = radio_record_clock_source, /* one medium, one clock: the bus clock */
    .set_time_source = radio_record_time_source,
    .set_time = loop_set_time,
    .get_time = loop_get_time,
    .tx_burst = loop_tx_burst,
    .tx_flush = loop_tx_flush,
    .rx_start = loop_rx_start,
    .rx_stop = loop_rx_stop,
    .rx = loop_rx,
};
