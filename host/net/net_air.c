/* host/net_air: timed beacon / bursts and timestamped RX windows on a radio with a device clock
 * (issue 4: rounds on USRP B210 radios; UHD_NOTES). */
#include "net/net_air.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

am_status net_air_open(const char *backend, const char *args, radio **out, double *rate)
{
    *out = NULL;
    if (!backend || (strcmp(backend, "uhd") != 0 && strcmp(backend, "loop") != 0))
        return AM_FAIL(AM_EINVAL, "--radio '%s': the on-air data plane takes uhd (loop in tests)",
                       backend ? backend : "(null)");
    radio *r = NULL;
    am_status st = radio_open(backend, args, &r);
    if (st != AM_OK)
        return st;
    radio_info info;
    radio_get_info(r, &info);
    if (!(info.rate > 0) || !isfinite(info.rate)) {
        radio_close(r);
        return AM_FAIL(AM_EDEVICE, "radio '%s': sample rate %g", backend, info.rate);
    }
    *rate = info.rate;
    *out = r;
    return AM_OK;
}

am_status net_air_tick_after(radio *r, double rate, double lead_s, int64_t *tick)
{
    radio_time now;
    am_status st = radio_get_time(r, &now);
    if (st != AM_OK)
        return st;
    *tick = radio_time_to_ticks(radio_time_add(now, lead_s), rate) + 1;
    return AM_OK;
}

am_status
net_air_tx_at(radio *r, double rate, const float complex *x, size_t n, int64_t tick, double flush_s)
{
    radio_stats a, b;
    radio_get_stats(r, &a);
    radio_time at = radio_time_from_ticks(tick, rate); /* full + fractional seconds */
    am_status st = radio_tx_burst(r, x, n, &at);
    if (st != AM_OK || flush_s <= 0)
        return st;
    if ((st = radio_tx_flush(r, flush_s)) != AM_OK)
        return st;
    radio_get_stats(r, &b);
    if (net_air_stats_bad(&a, &b))
        return AM_FAIL(AM_EDEVICE,
                       "burst at tick %lld (%lld+%.9f s): late %llu, underflows %llu, sequence "
                       "errors %llu",
                       (long long)tick, (long long)at.secs, at.frac,
                       (unsigned long long)(b.late - a.late),
                       (unsigned long long)(b.underflows - a.underflows),
                       (unsigned long long)(b.seq_errors - a.seq_errors));
    return AM_OK;
}

int net_air_stats_bad(const radio_stats *a, const radio_stats *b)
{
    return b->late != a->late || b->underflows != a->underflows || b->seq_errors != a->seq_errors;
}

am_status net_air_rx_arm(radio *r, double rate, int64_t start, size_t len)
{
    radio_time at = radio_time_from_ticks(start, rate);
    return radio_rx_start_n(r, &at, len);
}

am_status net_air_rx_collect(radio *r,
                             double rate,
                             int64_t start,
                             float complex *buf,
                             size_t len,
                             double timeout_s,
                             double idle_s,
                             size_t *got,
                             size_t *gaps)
{
    *got = 0;
    *gaps = 0;
    size_t pos = 0; /* next window index expected */
    const double t_end = mono_s() + timeout_s;
    am_status st = AM_OK;
    while (pos < len) {
        double t = mono_s();
        if (t >= t_end)
            break;
        double wait = t_end - t;
        if (wait > 0.05)
            wait = 0.05;
        size_t n = 0;
        radio_time t0;
        st = radio_rx(r, buf + pos, len - pos, &n, &t0, wait);
        if (st == AM_ETIMEOUT) {
            st = AM_OK;
            /* nothing came: the stream stopped only if the device's clock is idle_s past the
             * sample we wait for (a B210 sends each packet as its clock passes it). The host's
             * clock cannot tell: this process may have been descheduled (the samples wait in
             * UHD's buffers), and on the twins the air's time stands still while a peer holding
             * it is descheduled (fpga-notes/uhd-twin.md "Time") */
            radio_time now;
            if (pos > 0 && (st = radio_get_time(r, &now)) == AM_OK &&
                (double)(radio_time_to_ticks(now, rate) - (start + (int64_t)pos)) >= idle_s * rate)
                break;
            if (st != AM_OK)
                break;
            continue;
        }
        if (st != AM_OK)
            break;
        /* place the n samples by their timestamp: first sample is window index i */
        int64_t i = radio_time_to_ticks(t0, rate) - start;
        if (i + (int64_t)n <= (int64_t)pos)
            continue; /* entirely before what we have (or before the window) */
        if (i < (int64_t)pos) {
            size_t drop = (size_t)((int64_t)pos - i);
            memmove(buf + pos, buf + pos + drop, (n - drop) * sizeof *buf);
            n -= drop;
        } else if (i > (int64_t)pos) {
            size_t g = (size_t)(i - (int64_t)pos);
            if (g >= len - pos) {
                (*gaps)++; /* the window ended while we were not looking */
                break;
            }
            size_t keep = n < len - pos - g ? n : len - pos - g;
            memmove(buf + pos + g, buf + pos, keep * sizeof *buf);
            memset(buf + pos, 0, g * sizeof *buf);
            (*gaps)++;
            pos += g;
            n = keep;
        }
        pos += n;
    }
    memset(buf + pos, 0, (len - pos) * sizeof *buf);
    am_status sst = radio_rx_stop(r);
    if (st != AM_OK)
        return st;
    if (sst != AM_OK)
        return sst;
    *got = pos;
    if (pos == 0)
        return AM_FAIL(AM_ETIMEOUT, "no sample of the window at tick %lld within %g s",
                       (long long)start, timeout_s);
    return AM_OK;
}
