/* host/radio/zmq: IQ samples over ZeroMQ sockets, so agents, a channel-emulator process and the
 * server can run as separate processes or hosts (DESIGN "Engines, not toys"; like srsRAN's ZMQ
 * RF and GNU Radio's zmq blocks). One message = one whole burst:
 *
 *   offset  size  field
 *        0     4  magic     "AMIQ" (bytes 0x41 0x4D 0x49 0x51)
 *        4     2  version   1
 *        6     2  flags     0 (reserved)
 *        8     4  n         samples in the burst, >= 1
 *       12     4  reserved  0
 *       16     8  timestamp tick of x[0] at the sender's rate (int64)
 *       24     8  rate      sender's sample rate, S/s (float64)
 *       32    8n  x         cf32: n x (re, im) float32
 *
 * all little-endian. Every received message is validated (size, magic, version, flags, n against
 * the payload bytes and max_samps, rate, NaN/Inf) before one sample is used; a malformed message
 * is dropped and counted in stats.malformed, never trusted.
 *
 * Endpoints: tx=ENDPOINT binds and rx=ENDPOINT connects unless prefixed with '@' (bind) or '>'
 * (connect), the CZMQ convention. Sockets: PUSH/PULL (default; one consumer gets each burst) or
 * PUB/SUB (tx_type=pub, rx_type=sub: every subscriber hears every burst, e.g. the beacon).
 * A bound "tcp://127.0.0.1:*" picks a free port; radio_get_info's device names the real one. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "util/monotime.h"
#include "util/zctx.h"
#include "radio/radio_impl.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "radio/zmq.c assumes a little-endian host (the wire format is little-endian)"
#endif

#define ZMQ_IQ_MAGIC 0x51494D41u /* "AMIQ" read as a little-endian u32 */
#define ZMQ_IQ_VERSION 1
#define ZMQ_IQ_HDR 32

typedef struct zmq_h {
    void *ctx;
    void *tx, *rx;
    char tx_ep[RADIO_ARG_VAL_MAX], rx_ep[RADIO_ARG_VAL_MAX];
    size_t max_samps;
    int timeout_ms;
    int64_t now;       /* handle clock, ticks at info.rate */
    int64_t rx_start;  /* first tick wanted by the receiver */
    int64_t rx_expect; /* tick after the last delivered sample; INT64_MIN before the first */
    /* the burst being delivered across several radio_rx calls */
    zmq_msg_t pend;
    int have_pend;
    size_t pend_off, pend_n;
    int64_t pend_ts;
    char last_reject[160];
    /* CURVE (host/util/zctx.h): a bound socket is a CURVE server admitted by the process's ZAP
     * handler under zap_domain, a connecting one a CURVE client of the server key */
    int curve, have_server_key;
    unsigned char sec[ZCTX_KEY_LEN], pub[ZCTX_KEY_LEN], server_key[ZCTX_KEY_LEN];
    char domain[64];
} zmq_h;

static const radio_arg_spec zmq_spec[] = {
    {"tx", RADIO_ARG_STR, 0, -1, NULL,
     "TX endpoint, e.g. tcp://127.0.0.1:5555 (binds; '>' connects)"},
    {"rx", RADIO_ARG_STR, 0, -1, NULL,
     "RX endpoint, e.g. tcp://127.0.0.1:5556 (connects; '@' binds)"},
    {"tx_type", RADIO_ARG_CHOICE, 0, -1, "push|pub", "TX socket type (default push)"},
    {"rx_type", RADIO_ARG_CHOICE, 0, -1, "pull|sub", "RX socket type (default pull)"},
    {"rate", RADIO_ARG_DOUBLE, 1, 1e9, NULL, "sample rate, S/s (default 1e6); must match the peer"},
    {"max_samps", RADIO_ARG_INT, 1, 1 << 26, NULL,
     "longest burst sent or accepted (default 4194304)"},
    {"timeout", RADIO_ARG_DOUBLE, 0.001, 3600, NULL, "send timeout, s (default 1)"},
    {"hwm", RADIO_ARG_INT, 1, 100000, NULL, "queued bursts per socket (default 16; memory bound)"},
    {"curve_key", RADIO_ARG_STR, 0, -1, NULL,
     "CURVE: this side's secret key, 64 hex digits (bound sockets: CURVE server, ZAP-checked)"},
    {"curve_server", RADIO_ARG_STR, 0, -1, NULL,
     "CURVE: the binding side's public key, 64 hex digits (connecting sockets)"},
    {"zap_domain", RADIO_ARG_STR, 0, -1, NULL, "CURVE: ZAP domain of the bound sockets"},
    {"freq", RADIO_ARG_DOUBLE, 0, 1e11, NULL, "centre frequency, Hz (recorded only)"},
    {"tx_gain", RADIO_ARG_DOUBLE, -100, 100, NULL, "TX gain, dB (recorded only)"},
    {"rx_gain", RADIO_ARG_DOUBLE, -100, 100, NULL, "RX gain, dB (recorded only)"},
};

static void drop_pend(zmq_h *h)
{
    if (h->have_pend) {
        zmq_msg_close(&h->pend);
        h->have_pend = 0;
    }
}

static void zmq_close_all(zmq_h *h)
{
    drop_pend(h);
    if (h->tx)
        zmq_close(h->tx);
    if (h->rx)
        zmq_close(h->rx);
    if (h->ctx)
        zctx_release();
    free(h);
}

/* Opens one socket on "[@|>]endpoint"; bind_default says what no prefix means. */
static am_status open_socket(zmq_h *h,
                             int type,
                             const char *spec,
                             int bind_default,
                             size_t maxmsg,
                             int hwm,
                             void **out,
                             char *ep_out,
                             size_t ep_cap)
{
    int bind = bind_default;
    if (spec[0] == '@' || spec[0] == '>') {
        bind = spec[0] == '@';
        spec++;
    }
    radio_strlcpy(ep_out, spec, ep_cap);
    void *s = zmq_socket(h->ctx, type);
    if (!s)
        return AM_FAIL(AM_EIO, "radio 'zmq': zmq_socket: %s", zmq_strerror(errno));
    /* TX lingers (bursts sent just before close still go out, bounded by the timeout); RX
     * has nothing worth keeping at close */
    int linger = type == ZMQ_PUSH || type == ZMQ_PUB ? h->timeout_ms : 0;
    int64_t mm = (int64_t)maxmsg;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &h->timeout_ms, sizeof h->timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (type == ZMQ_PULL || type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &mm, sizeof mm);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (h->curve && bind && !zctx_zap_running()) {
        zmq_close(s);
        return AM_FAIL(AM_EINVAL, "radio 'zmq': a CURVE socket bound without a ZAP handler would "
                                  "admit every key");
    }
    if (h->curve) {
        int one = 1, ok = zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, h->sec, ZCTX_KEY_LEN) == 0;
        if (bind)
            ok = ok && zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
                 zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, h->domain, strlen(h->domain)) == 0;
        else if (!h->have_server_key)
            ok = 0, errno = EINVAL;
        else
            ok = ok && zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, h->pub, ZCTX_KEY_LEN) == 0 &&
                 zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, h->server_key, ZCTX_KEY_LEN) == 0;
        if (!ok) {
            int e = errno;
            zmq_close(s);
            return AM_FAIL(AM_EINVAL, "radio 'zmq': CURVE on '%s': %s", spec,
                           bind ? zmq_strerror(e) : "a connecting socket needs curve_server=");
        }
    }
    int rc = bind ? zmq_bind(s, spec) : zmq_connect(s, spec);
    if (rc != 0) {
        int e = errno;
        zmq_close(s);
        return AM_FAIL(AM_EIO, "radio 'zmq': cannot %s '%s': %s", bind ? "bind" : "connect", spec,
                       zmq_strerror(e));
    }
    /* the endpoint actually bound (tcp://127.0.0.1:* picks a free port) */
    char last[RADIO_ARG_VAL_MAX];
    size_t ll = sizeof last;
    if (bind && zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, last, &ll) == 0)
        radio_strlcpy(ep_out, last, ep_cap);
    *out = s;
    return AM_OK;
}

/* 32-byte key from 64 hex digits. */
static am_status hex_key(const char *t, unsigned char key[ZCTX_KEY_LEN], const char *what)
{
    if (strlen(t) != 2 * ZCTX_KEY_LEN)
        return AM_FAIL(AM_EINVAL, "radio 'zmq': %s= needs %d hex digits", what, 2 * ZCTX_KEY_LEN);
    for (int i = 0; i < ZCTX_KEY_LEN; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = t[2 * i + j];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d > 15)
                return AM_FAIL(AM_EINVAL, "radio 'zmq': %s= is not hexadecimal", what);
            v = 16 * v + d;
        }
        key[i] = (unsigned char)v;
    }
    return AM_OK;
}

static am_status zmq_open_(radio *r, const radio_args *a)
{
    if (!radio_args_has(a, "tx") && !radio_args_has(a, "rx"))
        return AM_FAIL(AM_EINVAL, "radio 'zmq': give tx=ENDPOINT and/or rx=ENDPOINT");
    zmq_h *h = calloc(1, sizeof *h);
    if (!h)
        return AM_FAIL(AM_ENOMEM, "radio 'zmq': out of memory");
    h->max_samps = (size_t)radio_args_int(a, "max_samps", 1 << 22);
    h->timeout_ms = (int)ceil(radio_args_double(a, "timeout", 1.0) * 1000.0);
    h->rx_expect = INT64_MIN;
    int hwm = (int)radio_args_int(a, "hwm", 16);
    /* Inbound cap with room to spare: a message a little too long is still received, rejected
     * and counted (size checks below); a grossly oversized one makes ZeroMQ drop the peer. */
    size_t maxmsg = 2 * (ZMQ_IQ_HDR + 8 * h->max_samps) + 4096;
    am_status ks = AM_OK;
    if (radio_args_has(a, "curve_key")) {
        h->curve = 1;
        ks = hex_key(radio_args_str(a, "curve_key", ""), h->sec, "curve_key");
        if (ks == AM_OK)
            ks = zctx_public_of(h->sec, h->pub);
    }
    if (ks == AM_OK && radio_args_has(a, "curve_server")) {
        h->have_server_key = 1;
        ks = hex_key(radio_args_str(a, "curve_server", ""), h->server_key, "curve_server");
    }
    snprintf(h->domain, sizeof h->domain, "%s", radio_args_str(a, "zap_domain", "iq"));
    if (ks == AM_OK && h->have_server_key && !h->curve)
        ks = AM_FAIL(AM_EINVAL, "radio 'zmq': curve_server= needs curve_key= too");
    if (ks != AM_OK) {
        memset(h->sec, 0, sizeof h->sec);
        free(h);
        return ks;
    }
    h->ctx = zctx_acquire(); /* the process's context (host/util/zctx.h) */
    if (!h->ctx) {
        free(h);
        return AM_FAIL(AM_EIO, "radio 'zmq': zmq_ctx_new: %s", zmq_strerror(errno));
    }
    am_status s = AM_OK;
    const char *txs = radio_args_str(a, "tx", NULL), *rxs = radio_args_str(a, "rx", NULL);
    if (txs) {
        int type = strcmp(radio_args_str(a, "tx_type", "push"), "pub") == 0 ? ZMQ_PUB : ZMQ_PUSH;
        s = open_socket(h, type, txs, 1, maxmsg, hwm, &h->tx, h->tx_ep, sizeof h->tx_ep);
    }
    if (s == AM_OK && rxs) {
        int type = strcmp(radio_args_str(a, "rx_type", "pull"), "sub") == 0 ? ZMQ_SUB : ZMQ_PULL;
        s = open_socket(h, type, rxs, 0, maxmsg, hwm, &h->rx, h->rx_ep, sizeof h->rx_ep);
    }
    if (s != AM_OK) {
        zmq_close_all(h);
        return s;
    }
    r->impl = h;
    r->info.rate = radio_args_double(a, "rate", 1e6);
    r->info.max_burst = h->max_samps;
    radio_record_rf_args(r, a);
    snprintf(r->info.device, sizeof r->info.device, "zeromq tx=%.110s rx=%.110s",
             h->tx ? h->tx_ep : "-", h->rx ? h->rx_ep : "-");
    return AM_OK;
}

static void zmq_close_(radio *r)
{
    if (r->impl)
        zmq_close_all(r->impl);
    r->impl = NULL;
}

static am_status zmq_set_rate(radio *r, double sps)
{
    r->info.rate = sps; /* the peer checks it on every message */
    return AM_OK;
}

static am_status zmq_set_time(radio *r, const radio_time *t, int next_pps)
{
    zmq_h *h = r->impl;
    int64_t ticks = radio_time_to_ticks(*t, r->info.rate);
    if (next_pps) {
        /* the handle's PPS ticks every round(rate) samples of its own clock */
        int64_t per = (int64_t)llround(r->info.rate);
        int64_t edge = (h->now / per + 1) * per;
        ticks -= edge - h->now;
    }
    h->now = ticks;
    return AM_OK;
}

static am_status zmq_get_time(radio *r, radio_time *t)
{
    zmq_h *h = r->impl;
    *t = radio_time_from_ticks(h->now, r->info.rate);
    return AM_OK;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static am_status zmq_tx_burst(radio *r, const float complex *x, size_t n, const radio_time *at)
{
    zmq_h *h = r->impl;
    if (!h->tx)
        return AM_FAIL(AM_EINVAL, "radio 'zmq': no tx endpoint (give tx=...)");
    int64_t ts = at ? radio_time_to_ticks(*at, r->info.rate) : h->now;
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, ZMQ_IQ_HDR + 8 * n) != 0)
        return AM_FAIL(AM_ENOMEM, "radio 'zmq': message of %zu samples", n);
    unsigned char *p = zmq_msg_data(&m);
    double rate = r->info.rate;
    put_u32(p, ZMQ_IQ_MAGIC);
    put_u16(p + 4, ZMQ_IQ_VERSION);
    put_u16(p + 6, 0);
    put_u32(p + 8, (uint32_t)n);
    put_u32(p + 12, 0);
    memcpy(p + 16, &ts, 8);
    memcpy(p + 24, &rate, 8);
    memcpy(p + ZMQ_IQ_HDR, x, 8 * n);
    if (zmq_msg_send(&m, h->tx, 0) < 0) {
        int e = errno;
        zmq_msg_close(&m);
        if (e == EAGAIN)
            return AM_FAIL(AM_ETIMEOUT, "radio 'zmq': nobody took the burst on %s within %d ms",
                           h->tx_ep, h->timeout_ms);
        return AM_FAIL(AM_EIO, "radio 'zmq': send on %s: %s", h->tx_ep, zmq_strerror(e));
    }
    if (ts + (int64_t)n > h->now)
        h->now = ts + (int64_t)n;
    pthread_mutex_lock(&r->lock);
    r->stats.tx_bursts++;
    r->stats.tx_samples += n;
    pthread_mutex_unlock(&r->lock);
    return AM_OK;
}

static am_status zmq_tx_flush(radio *r, double timeout_s)
{
    (void)r;
    (void)timeout_s;
    return AM_OK; /* ZeroMQ owns the message once zmq_msg_send returned */
}

static am_status zmq_rx_start(radio *r, const radio_time *at)
{
    zmq_h *h = r->impl;
    if (!h->rx)
        return AM_FAIL(AM_EINVAL, "radio 'zmq': no rx endpoint (give rx=...)");
    drop_pend(h);
    h->rx_start = at ? radio_time_to_ticks(*at, r->info.rate) : h->now;
    h->rx_expect = INT64_MIN;
    return AM_OK;
}

static am_status zmq_rx_stop(radio *r)
{
    drop_pend(r->impl);
    return AM_OK;
}

/* Validates one message; on success sets n and ts. Otherwise records why in h->last_reject. */
static int validate(radio *r, zmq_h *h, zmq_msg_t *m, size_t *n, int64_t *ts)
{
    size_t len = zmq_msg_size(m);
    const unsigned char *p = zmq_msg_data(m);
    uint32_t magic, nn, reserved;
    uint16_t ver, flags;
    double rate;
    if (len < ZMQ_IQ_HDR) {
        snprintf(h->last_reject, sizeof h->last_reject, "short message (%zu bytes < %d)", len,
                 ZMQ_IQ_HDR);
        return 0;
    }
    memcpy(&magic, p, 4);
    memcpy(&ver, p + 4, 2);
    memcpy(&flags, p + 6, 2);
    memcpy(&nn, p + 8, 4);
    memcpy(&reserved, p + 12, 4);
    memcpy(ts, p + 16, 8);
    memcpy(&rate, p + 24, 8);
    if (magic != ZMQ_IQ_MAGIC) {
        snprintf(h->last_reject, sizeof h->last_reject, "bad magic 0x%08x", (unsigned)magic);
        return 0;
    }
    if (ver != ZMQ_IQ_VERSION) {
        snprintf(h->last_reject, sizeof h->last_reject, "version %u (expected %d)", (unsigned)ver,
                 ZMQ_IQ_VERSION);
        return 0;
    }
    if (flags != 0 || reserved != 0) {
        snprintf(h->last_reject, sizeof h->last_reject, "unknown flags 0x%x/0x%x", (unsigned)flags,
                 (unsigned)reserved);
        return 0;
    }
    if (nn == 0 || nn > h->max_samps) {
        snprintf(h->last_reject, sizeof h->last_reject, "burst of %u samples (allowed 1..%zu)",
                 (unsigned)nn, h->max_samps);
        return 0;
    }
    if (len != ZMQ_IQ_HDR + 8 * (size_t)nn) {
        snprintf(h->last_reject, sizeof h->last_reject,
                 "size mismatch: header says %u samples (%zu bytes), message has %zu bytes",
                 (unsigned)nn, ZMQ_IQ_HDR + 8 * (size_t)nn, len);
        return 0;
    }
    if (!(rate == r->info.rate)) {
        snprintf(h->last_reject, sizeof h->last_reject, "rate %.17g S/s (this radio: %.17g)", rate,
                 r->info.rate);
        return 0;
    }
    if (*ts > ((int64_t)1 << 62) || *ts < -((int64_t)1 << 62)) {
        snprintf(h->last_reject, sizeof h->last_reject, "timestamp %lld out of range",
                 (long long)*ts);
        return 0;
    }
    const unsigned char *q = p + ZMQ_IQ_HDR;
    for (size_t i = 0; i < 2 * (size_t)nn; i++) {
        float f;
        memcpy(&f, q + 4 * i, 4);
        if (!isfinite(f)) {
            snprintf(h->last_reject, sizeof h->last_reject, "sample %zu is NaN or Inf", i / 2);
            return 0;
        }
    }
    *n = nn;
    return 1;
}

static am_status
zmq_rx(radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s)
{
    zmq_h *h = r->impl;
    double deadline = monotime_s() + timeout_s;
    uint64_t rejected = 0;
    while (!h->have_pend) {
        double left = deadline - monotime_s();
        zmq_pollitem_t it = {h->rx, 0, ZMQ_POLLIN, 0};
        long ms = left > 0 ? (long)ceil(left * 1000.0) : 0;
        int rc = zmq_poll(&it, 1, ms);
        if (rc < 0 && errno != EINTR)
            return AM_FAIL(AM_EIO, "radio 'zmq': poll on %s: %s", h->rx_ep, zmq_strerror(errno));
        if (rc <= 0) {
            if (left > 0 && rc < 0)
                continue; /* EINTR */
            if (rejected)
                return AM_FAIL(AM_ETIMEOUT,
                               "radio 'zmq': no valid burst on %s within %g s (%llu malformed "
                               "rejected, last: %s)",
                               h->rx_ep, timeout_s, (unsigned long long)rejected, h->last_reject);
            return AM_FAIL(AM_ETIMEOUT, "radio 'zmq': no burst on %s within %g s", h->rx_ep,
                           timeout_s);
        }
        zmq_msg_init(&h->pend);
        if (zmq_msg_recv(&h->pend, h->rx, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&h->pend);
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return AM_FAIL(AM_EIO, "radio 'zmq': recv on %s: %s", h->rx_ep, zmq_strerror(errno));
        }
        size_t nn = 0;
        int64_t ts = 0;
        if (!validate(r, h, &h->pend, &nn, &ts)) {
            zmq_msg_close(&h->pend);
            rejected++;
            radio_count(r, &r->stats.malformed, 1);
            continue;
        }
        /* keep only what lies at or after the requested start */
        size_t skip = 0;
        if (ts < h->rx_start) { /* the gap in uint64_t: up to 2^63 + max_samps, past int64_t */
            const uint64_t gap = (uint64_t)h->rx_start - (uint64_t)ts;
            skip = gap >= nn ? nn : (size_t)gap;
        }
        if (skip == nn) {
            zmq_msg_close(&h->pend);
            continue;
        }
        h->have_pend = 1;
        h->pend_off = skip;
        h->pend_n = nn;
        h->pend_ts = ts;
        if (h->rx_expect != INT64_MIN && ts + (int64_t)skip < h->rx_expect)
            radio_count(r, &r->stats.timestamp_jumps,
                        1); /* overlaps what we delivered: out of order */
    }
    size_t m = h->pend_n - h->pend_off;
    if (m > cap)
        m = cap;
    const unsigned char *q = (const unsigned char *)zmq_msg_data(&h->pend) + ZMQ_IQ_HDR;
    memcpy(x, q + 8 * h->pend_off, 8 * m);
    int64_t first = h->pend_ts + (int64_t)h->pend_off;
    *t0 = radio_time_from_ticks(first, r->info.rate);
    *n = m;
    h->pend_off += m;
    h->rx_expect = first + (int64_t)m;
    if (h->rx_expect > h->now)
        h->now = h->rx_expect;
    if (h->pend_off == h->pend_n)
        drop_pend(h);
    radio_count(r, &r->stats.rx_samples, m);
    return AM_OK;
}

const radio_ops radio_zmq_ops = {
    .name = "zmq",
    .spec = zmq_spec,
    .nspec = sizeof zmq_spec / sizeof zmq_spec[0],
    .open = zmq_open_,
    .close = zmq_close_,
    .set_rate = zmq_set_rate,
    .set_freq = radio_record_freq,
    .set_gain = radio_record_gain,
    .set_clock_source = radio_record_clock_source,
    .set_time_source = radio_record_time_source,
    .set_time = zmq_set_time,
    .get_time = zmq_get_time,
    .tx_burst = zmq_tx_burst,
    .tx_flush = zmq_tx_flush,
    .rx_start = zmq_rx_start,
    .rx_stop = zmq_rx_stop,
    .rx = zmq_rx,
};
