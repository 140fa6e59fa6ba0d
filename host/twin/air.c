/* host/twin/air: the shared air of the B210 twins (air.h). */
#include "twin/air.h"

#include <complex.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define AIR_DEVS 64
#define AIR_RX_MAX (1u << 22) /* longest span one RX reply carries, samples */
/* What a B210's receive chain buffers before samples are lost: UHD's 16 receive frames of 2040
 * samples on USB 3 (num_recv_frames, assumed) */
#define AIR_RX_BUF (16 * 2040)
#define AIR_REQ_MAX ((int64_t)1 << 61) /* a request's ticks and counts (a, b) at most */
#define AIR_T_MAX ((int64_t)1 << 62)   /* the air's time stops there: T + a request's never wraps */

typedef struct air_burst {
    int64_t t0;
    size_t n;
    uint32_t dev;
    float complex *x;
} air_burst;

typedef struct air_dev {
    int used;
    unsigned char rid[256];
    size_t rid_len;
    int rx_on;        /* an RX stream is commanded (started or waiting for its time) */
    int64_t rx_pos;   /* air tick of the next sample of the stream */
    int64_t rx_end;   /* tick where a num_samps stream ends, -1 continuous */
    int holds;        /* has streamed: T waits for it while it is active */
    int released;     /* not streaming, it waited for the air and got it: done for now */
    double seen;      /* host time of its last request or reply */
    int pending;      /* a request waits for T */
    twin_air_req req; /* that request */
    int64_t due;      /* the tick at which it is served */
    double hdl;       /* host time at which it is answered anyway (its timeout) */
} air_dev;

typedef struct air {
    twin_air_cfg cfg;
    void *sock;
    int64_t T;
    int64_t utc0; /* the host's UTC second at which T = 0 (the air's seconds are UTC seconds) */
    int64_t t_anchor;
    double h_anchor;
    double credit, h_credit; /* paced: ticks T may still advance, and when that was updated */
    air_dev dev[AIR_DEVS];
    air_burst *b;
    size_t nb, capb;
    float complex *mix;
} air;

struct twin_air {
    air st;
    pthread_t th;
    volatile sig_atomic_t stop;
    am_status err;
};

static double host_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A device holds the air once it has streamed RX, while it waits or was heard from within
 * cfg.hold_s: a process busy between two radio calls stops time; one gone quiet (waiting for
 * peers, killed) lets it run again. */
static int holding(const air *a, const air_dev *d, double now)
{
    return d->used && d->holds && (d->pending || (!d->released && now - d->seen < a->cfg.hold_s));
}

static int holders(const air *a)
{
    double now = host_s();
    int n = 0;
    for (int i = 0; i < AIR_DEVS; i++)
        n += holding(a, &a->dev[i], now);
    return n;
}

/* While nobody streams, T follows the host clock (times pace) from the last anchor. */
static void sync_idle(air *a)
{
    double now = host_s();
    if (holders(a) > 0) {
        a->t_anchor = a->T;
        a->h_anchor = now;
        return;
    }
    double dt = floor((now - a->h_anchor) * a->cfg.fs * a->cfg.pace);
    int64_t t = dt < (double)(AIR_T_MAX - a->t_anchor) ? a->t_anchor + (int64_t)dt : AIR_T_MAX;
    if (t > a->T)
        a->T = t;
}

static void anchor_now(air *a)
{
    a->t_anchor = a->T;
    a->h_anchor = host_s();
}

static void
send_rep(air *a, const air_dev *d, const twin_air_rep *rep, const void *data, size_t len)
{
    zmq_send(a->sock, d->rid, d->rid_len, ZMQ_SNDMORE);
    zmq_send(a->sock, rep, sizeof *rep, len ? ZMQ_SNDMORE : 0);
    if (len)
        zmq_send(a->sock, data, len, 0);
}

static void
send_err(air *a, const unsigned char *rid, size_t rid_len, am_status st, const char *msg)
{
    twin_air_rep rep = {.status = (int32_t)st, .t = a->T};
    zmq_send(a->sock, rid, rid_len, ZMQ_SNDMORE);
    zmq_send(a->sock, &rep, sizeof rep, ZMQ_SNDMORE);
    zmq_send(a->sock, msg, strlen(msg), 0);
}

/* The sum at device `me`'s antenna over [t0, t0 + n): every other device's bursts times the
 * path gain. */
static void mix(air *a, uint32_t me, int64_t t0, size_t n, float complex *y)
{
    memset(y, 0, n * sizeof *y);
    float g = (float)pow(10.0, -a->cfg.loss_db / 20.0);
    for (size_t k = 0; k < a->nb; k++) {
        const air_burst *b = &a->b[k];
        if (b->dev == me)
            continue;
        int64_t s = b->t0 > t0 ? b->t0 : t0;
        int64_t e =
            b->t0 + (int64_t)b->n < t0 + (int64_t)n ? b->t0 + (int64_t)b->n : t0 + (int64_t)n;
        for (int64_t t = s; t < e; t++)
            y[t - t0] += g * b->x[t - b->t0];
    }
}

/* Bursts wholly before every stream's position and T are never heard again. */
static void gc(air *a)
{
    /* a stream that is not waiting and more than its buffers behind overflows at its next
     * request and needs nothing older (a killed process's stream keeps nothing alive) */
    int64_t h = a->T;
    for (int i = 0; i < AIR_DEVS; i++) {
        const air_dev *d = &a->dev[i];
        if (!d->used || !d->rx_on)
            continue;
        int64_t p = d->rx_pos;
        if (!d->pending && p < a->T - AIR_RX_BUF)
            p = a->T - AIR_RX_BUF;
        if (p < h)
            h = p;
    }
    size_t w = 0;
    for (size_t k = 0; k < a->nb; k++) {
        if (a->b[k].t0 + (int64_t)a->b[k].n <= h)
            free(a->b[k].x);
        else
            a->b[w++] = a->b[k];
    }
    a->nb = w;
}

static void serve(air *a, uint32_t id)
{
    air_dev *d = &a->dev[id];
    twin_air_rep rep = {.t = a->T, .dev = id};
    d->pending = 0;
    d->seen = host_s();
    if (d->req.op == TWIN_AIR_WAIT) {
        /* e.g. an agent's burst acknowledged after its RX window: it will not touch the air
         * until its next round, so the others need not wait hold_s for it */
        d->released = !d->rx_on;
        send_rep(a, d, &rep, NULL, 0);
        return;
    }
    /* TWIN_AIR_RX */
    size_t m = 0;
    if (d->req.flags & 2) {
        /* the device asked after the air had run past what its buffers hold (it stopped holding
         * the air, the others went on): that is lost (ERROR_CODE_OVERFLOW), the stream goes on
         * from now */
        rep.code |= 2;
        d->rx_pos = a->T;
        if (d->rx_end >= 0 && d->rx_pos >= d->rx_end) {
            rep.code |= 1;
            d->rx_on = 0;
        }
        rep.a = d->rx_pos;
        send_rep(a, d, &rep, NULL, 0);
        return;
    }
    rep.a = d->rx_pos;
    if (d->rx_on && a->T > d->rx_pos) {
        int64_t lim = a->T;
        if (d->rx_end >= 0 && d->rx_end < lim)
            lim = d->rx_end;
        int64_t want = d->req.a < (int64_t)AIR_RX_MAX ? d->req.a : (int64_t)AIR_RX_MAX;
        if (d->rx_pos + want < lim)
            lim = d->rx_pos + want;
        m = lim > d->rx_pos ? (size_t)(lim - d->rx_pos) : 0;
        mix(a, id, d->rx_pos, m, a->mix);
        d->rx_pos += (int64_t)m;
        if (d->rx_end >= 0 && d->rx_pos >= d->rx_end) {
            rep.code = 1;
            d->rx_on = 0;
        }
    }
    rep.n = (uint32_t)m;
    send_rep(a, d, &rep, a->mix, m * sizeof *a->mix);
}

/* paced: T may run ahead of the host clock (times pace) by at most 0.1 s */
static void refill(air *a, double now)
{
    a->credit += (now - a->h_credit) * a->cfg.fs * a->cfg.pace;
    if (a->credit > 0.1 * a->cfg.fs)
        a->credit = 0.1 * a->cfg.fs;
    a->h_credit = now;
}

/* Serve what is due (or whose host timeout passed); while every holder waits, move T to the
 * earliest due tick. */
static void advance(air *a)
{
    for (;;) {
        double now = host_s();
        int any = 0, all_wait = 1, nh = 0;
        int64_t next = INT64_MAX;
        for (uint32_t i = 0; i < AIR_DEVS; i++) {
            air_dev *d = &a->dev[i];
            if (d->used && d->pending && (d->due <= a->T || now >= d->hdl)) {
                serve(a, i);
                any = 1;
            }
        }
        for (uint32_t i = 0; i < AIR_DEVS; i++) {
            air_dev *d = &a->dev[i];
            if (!d->used)
                continue;
            if (holding(a, d, now)) {
                nh++;
                if (!d->pending)
                    all_wait = 0;
            }
            if (d->pending && d->due < next)
                next = d->due;
        }
        if (nh > 0 && all_wait && next != INT64_MAX && next > a->T) {
            int64_t to = next;
            if (a->cfg.paced) {
                refill(a, now);
                if (a->T + (int64_t)a->credit < to)
                    to = a->T + (int64_t)a->credit;
                a->credit -= (double)(to - a->T);
            }
            if (to > a->T) {
                a->T = to;
                anchor_now(a);
                continue;
            }
        }
        if (!any)
            break;
    }
    gc(a);
}

static int64_t rx_due(const air *a, const air_dev *d)
{
    int64_t dl = a->T + (d->req.b > 0 ? d->req.b : 0); /* the timeout */
    if (!d->rx_on)
        return dl < AIR_T_MAX ? dl : AIR_T_MAX;
    int64_t want = d->rx_pos + (d->req.a > 0 ? d->req.a : 1);
    if (d->rx_end >= 0 && want > d->rx_end)
        want = d->rx_end;
    want = want < dl ? want : dl;
    return want < AIR_T_MAX ? want : AIR_T_MAX;
}

static void
handle(air *a, const unsigned char *rid, size_t rid_len, zmq_msg_t *f1, zmq_msg_t *f2, int have2)
{
    if (zmq_msg_size(f1) != sizeof(twin_air_req)) {
        send_err(a, rid, rid_len, AM_EFORMAT, "twin air: malformed request");
        return;
    }
    twin_air_req q;
    memcpy(&q, zmq_msg_data(f1), sizeof q);
    twin_air_rep rep = {.t = a->T};
    if (q.op == TWIN_AIR_JOIN) {
        uint32_t id = 0;
        while (id < AIR_DEVS && a->dev[id].used)
            id++;
        if (id == AIR_DEVS || rid_len > sizeof a->dev[0].rid) {
            send_err(a, rid, rid_len, AM_ENOMEM, "twin air: too many devices (64)");
            return;
        }
        air_dev *d = &a->dev[id];
        memset(d, 0, sizeof *d);
        d->used = 1;
        memcpy(d->rid, rid, rid_len);
        d->rid_len = rid_len;
        rep.dev = id;
        rep.d = a->cfg.fs;
        rep.a = (int64_t)llround(a->cfg.fs);
        rep.n = (uint32_t)a->utc0;
        send_rep(a, d, &rep, NULL, 0);
        return;
    }
    if (q.dev >= AIR_DEVS || !a->dev[q.dev].used || a->dev[q.dev].rid_len != rid_len ||
        memcmp(a->dev[q.dev].rid, rid, rid_len) != 0 || a->dev[q.dev].pending) {
        send_err(a, rid, rid_len, AM_EINVAL, "twin air: request from an unknown device");
        return;
    }
    /* ticks and counts within the air's range: sums of them (t0 + n, T + timeout, the stream's
     * end) then never overflow */
    if (q.a < -1 || q.a > AIR_REQ_MAX || q.b < 0 || q.b > AIR_REQ_MAX) {
        static const char *const ops[] = {"?",       "JOIN",   "NOW", "WAIT", "TX",
                                          "RXSTART", "RXSTOP", "RX",  "LEAVE"};
        char t[160];
        snprintf(t, sizeof t,
                 "twin air: %s request with a = %lld, b = %lld (a -1..2^61, b 0..2^61)",
                 ops[q.op < sizeof ops / sizeof ops[0] ? q.op : 0], (long long)q.a, (long long)q.b);
        send_err(a, rid, rid_len, AM_EFORMAT, t);
        return;
    }
    air_dev *d = &a->dev[q.dev];
    rep.dev = q.dev;
    double now = host_s();
    d->seen = now;
    d->released = 0;
    double tmo = (double)(q.b > 0 ? q.b : 0) / a->cfg.fs; /* the caller's timeout, host s */
    switch (q.op) {
    case TWIN_AIR_NOW:
        send_rep(a, d, &rep, NULL, 0);
        return;
    case TWIN_AIR_WAIT:
        d->req = q;
        d->pending = 1;
        d->due = q.a;
        d->hdl = now + tmo;
        return;
    case TWIN_AIR_RX:
        d->req = q;
        d->req.flags = d->rx_on && a->T - d->rx_pos > AIR_RX_BUF ? 2 : 0; /* overflowed */
        d->pending = 1;
        d->due = d->req.flags ? a->T : rx_due(a, d);
        d->hdl = now + tmo;
        return;
    case TWIN_AIR_RXSTART:
        if (q.a >= 0 && q.a < a->T) {
            rep.code = 1; /* late: dropped */
        } else {
            if (!holding(a, d, now) && holders(a) == 0)
                anchor_now(a);
            d->rx_on = 1;
            d->holds = 1;
            d->rx_pos = q.a >= 0 ? q.a : a->T;
            d->rx_end = q.b > 0 ? d->rx_pos + q.b : -1;
            rep.a = d->rx_pos;
        }
        send_rep(a, d, &rep, NULL, 0);
        return;
    case TWIN_AIR_RXSTOP:
        d->rx_on = 0; /* it still holds the air while active (holding) */
        send_rep(a, d, &rep, NULL, 0);
        return;
    case TWIN_AIR_LEAVE:
        send_rep(a, d, &rep, NULL, 0);
        d->used = 0;
        return;
    case TWIN_AIR_TX: {
        size_t n = have2 ? zmq_msg_size(f2) / sizeof(float complex) : 0;
        if (!have2 || n != q.n || n == 0 || zmq_msg_size(f2) != n * sizeof(float complex)) {
            send_err(a, rid, rid_len, AM_EFORMAT, "twin air: TX burst of the wrong size");
            return;
        }
        const float complex *x = zmq_msg_data(f2);
        int64_t t0 = q.a >= 0 ? q.a : a->T;
        if (q.a >= 0 && q.a < a->T) {
            /* late (UHD: EVENT_CODE_TIME_ERROR). underflow_policy next_packet (the B200's default)
             * drops the late packet and sends the rest at once; next_burst drops the burst. */
            rep.code = 1;
            size_t skip = (size_t)q.b < n ? (size_t)q.b : n;
            if ((q.flags & TWIN_TX_NEXT_BURST) || skip == n) {
                rep.a = -1;
                send_rep(a, d, &rep, NULL, 0);
                return;
            }
            x += skip;
            n -= skip;
            t0 = a->T;
        }
        rep.a = t0;
        if (a->nb == a->capb) {
            size_t c = a->capb ? 2 * a->capb : 16;
            air_burst *nbp = realloc(a->b, c * sizeof *nbp);
            if (!nbp) {
                send_err(a, rid, rid_len, AM_ENOMEM, "twin air: out of memory");
                return;
            }
            a->b = nbp;
            a->capb = c;
        }
        float complex *cp = malloc(n * sizeof *cp);
        if (!cp) {
            send_err(a, rid, rid_len, AM_ENOMEM, "twin air: out of memory");
            return;
        }
        memcpy(cp, x, n * sizeof *cp);
        a->b[a->nb++] = (air_burst){.t0 = t0, .n = n, .dev = q.dev, .x = cp};
        send_rep(a, d, &rep, NULL, 0);
        return;
    }
    default:
        send_err(a, rid, rid_len, AM_EINVAL, "twin air: unknown request");
        return;
    }
}

static am_status air_init(air *a, void *zctx, const char *endpoint, const twin_air_cfg *cfg)
{
    memset(a, 0, sizeof *a);
    if (!(cfg->fs > 0) || !isfinite(cfg->fs) || !isfinite(cfg->loss_db) || !(cfg->pace > 0) ||
        !isfinite(cfg->pace) || !(cfg->hold_s >= 0) || !isfinite(cfg->hold_s))
        return AM_FAIL(AM_EINVAL, "twin air: rate, loss_db, pace and hold_s must be finite (rate, "
                                  "pace > 0, hold_s >= 0)");
    a->cfg = *cfg;
    a->mix = malloc(AIR_RX_MAX * sizeof *a->mix);
    a->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!a->mix || !a->sock) {
        free(a->mix);
        if (a->sock)
            zmq_close(a->sock);
        return AM_FAIL(AM_ENOMEM, "twin air: cannot make its socket");
    }
    int zero = 0;
    zmq_setsockopt(a->sock, ZMQ_LINGER, &zero, sizeof zero);
    int mand = 1;
    zmq_setsockopt(a->sock, ZMQ_ROUTER_MANDATORY, &mand, sizeof mand);
    /* the longest legal message is a TX request's samples */
    int64_t maxmsg = (int64_t)(TWIN_AIR_TX_MAX * sizeof(float complex));
    zmq_setsockopt(a->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_bind(a->sock, endpoint) != 0) {
        am_status s =
            AM_FAIL(AM_EIO, "twin air: cannot bind '%s': %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(a->sock);
        free(a->mix);
        return s;
    }
    /* T starts at the host's UTC time of day, so that while nobody holds the air (T follows the
     * host's clock) its whole seconds, the external PPS, fall on the host's UTC seconds as a
     * GPS-disciplined PPS does (sync=pps names them from the host's clock) */
    struct timespec u;
    clock_gettime(CLOCK_REALTIME, &u);
    a->utc0 = (int64_t)u.tv_sec;
    a->T = (int64_t)llround(1e-9 * (double)u.tv_nsec * a->cfg.fs);
    anchor_now(a);
    a->h_credit = a->h_anchor;
    return AM_OK;
}

static void air_fini(air *a)
{
    for (size_t k = 0; k < a->nb; k++)
        free(a->b[k].x);
    free(a->b);
    free(a->mix);
    zmq_close(a->sock);
}

static void air_loop(air *a, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        sync_idle(a);
        advance(a);
        /* poll until the earliest host timeout, idle wait or pace credit, at most 50 ms */
        double now = host_s(), w = 0.05;
        int idle = holders(a) == 0;
        for (int i = 0; i < AIR_DEVS; i++) {
            const air_dev *d = &a->dev[i];
            if (!d->used || !d->pending)
                continue;
            if (d->hdl - now < w)
                w = d->hdl - now;
            if (idle && (double)(d->due - a->T) / (a->cfg.fs * a->cfg.pace) < w)
                w = (double)(d->due - a->T) / (a->cfg.fs * a->cfg.pace);
        }
        if (a->cfg.paced && !idle && w > 0.005)
            w = 0.005;
        long ms = (long)ceil(w * 1e3);
        if (ms < 1)
            ms = 1;
        zmq_pollitem_t it = {.socket = a->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, ms) <= 0)
            continue;
        for (;;) {
            zmq_msg_t id, f1, f2;
            zmq_msg_init(&id);
            if (zmq_msg_recv(&id, a->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&id);
                break;
            }
            zmq_msg_init(&f1);
            zmq_msg_init(&f2);
            int have1 = zmq_msg_more(&id) && zmq_msg_recv(&f1, a->sock, 0) >= 0;
            int have2 = have1 && zmq_msg_more(&f1) && zmq_msg_recv(&f2, a->sock, 0) >= 0;
            /* drain any extra frames of a malformed message */
            zmq_msg_t x;
            zmq_msg_init(&x);
            while ((have2   ? zmq_msg_more(&f2)
                    : have1 ? zmq_msg_more(&f1)
                            : zmq_msg_more(&id)) &&
                   zmq_msg_recv(&x, a->sock, 0) >= 0 && zmq_msg_more(&x)) {
            }
            zmq_msg_close(&x);
            if (have1) {
                sync_idle(a);
                handle(a, zmq_msg_data(&id), zmq_msg_size(&id), &f1, &f2, have2);
                advance(a);
            }
            zmq_msg_close(&f2);
            zmq_msg_close(&f1);
            zmq_msg_close(&id);
        }
    }
}

am_status twin_air_serve(void *zctx,
                         const char *endpoint,
                         const twin_air_cfg *cfg,
                         volatile sig_atomic_t *stop)
{
    air a;
    am_status s = air_init(&a, zctx, endpoint, cfg);
    if (s != AM_OK)
        return s;
    air_loop(&a, stop);
    air_fini(&a);
    return AM_OK;
}

static void *air_thread(void *p)
{
    twin_air *t = p;
    air_loop(&t->st, &t->stop);
    return NULL;
}

am_status twin_air_start(void *zctx, const char *endpoint, const twin_air_cfg *cfg, twin_air **out)
{
    *out = NULL;
    twin_air *t = calloc(1, sizeof *t);
    if (!t)
        return AM_FAIL(AM_ENOMEM, "twin air: out of memory");
    am_status s = air_init(&t->st, zctx, endpoint, cfg);
    if (s != AM_OK) {
        free(t);
        return s;
    }
    if (pthread_create(&t->th, NULL, air_thread, t) != 0) {
        air_fini(&t->st);
        free(t);
        return AM_FAIL(AM_ENOMEM, "twin air: cannot start its thread");
    }
    *out = t;
    return AM_OK;
}

void twin_air_stop(twin_air *t)
{
    if (!t)
        return;
    t->stop = 1;
    pthread_join(t->th, NULL);
    air_fini(&t->st);
    free(t);
}
