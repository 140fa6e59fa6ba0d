/* host/ctrl: control-plane messages of server / agent / chan (codec and ZeroMQ socket).
 * Wire format and the checks made on every received message: host/net/ctrl.h. */
#include "net/ctrl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "util/crc32.h"
#include "util/monotime.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "host/net/ctrl.c assumes a little-endian host (the wire format is little-endian)"
#endif

#define TICK_MAX ((int64_t)1 << 62)
#define BURST_MAX ((uint64_t)1 << 28)

/* ---------------------------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------------------------- */
const char *ctrl_type_name(uint32_t type)
{
    static const char *const names[] = {"?",    "HELLO",  "WELCOME", "MODEL", "STATUS", "GO",
                                        "PLAN", "REPORT", "COMMIT",  "LEAVE", "BYE",
                                        "CAL"};
    return type < CTRL_TYPE_END ? names[type] : "?";
}

const char *ctrl_reject_name(ctrl_reject r)
{
    static const char *const names[] = {"none",    "truncated", "oversized", "size",     "magic",
                                        "version", "hcrc",      "type",      "reserved", "crc",
                                        "payload", "frames",    "peer"};
    return (unsigned)r < CTRL_REJ_END ? names[r] : "?";
}

/* ---------------------------------------------------------------------------------------------
 * Little-endian cursors (bounds are established before any read or write)
 * ------------------------------------------------------------------------------------------- */
typedef struct wcur {
    unsigned char *p;
} wcur;

static void w_bytes(wcur *w, const void *src, size_t n)
{
    if (n)
        memcpy(w->p, src, n);
    w->p += n;
}
static void w_u32(wcur *w, uint32_t v)
{
    w_bytes(w, &v, 4);
}
static void w_u64(wcur *w, uint64_t v)
{
    w_bytes(w, &v, 8);
}
static void w_i64(wcur *w, int64_t v)
{
    w_bytes(w, &v, 8);
}
static void w_f32(wcur *w, float v)
{
    w_bytes(w, &v, 4);
}
static void w_f64(wcur *w, double v)
{
    w_bytes(w, &v, 8);
}
static void w_str(wcur *w, const char *s)
{
    size_t n = strnlen(s, CTRL_STR_LEN - 1);
    memcpy(w->p, s, n);
    memset(w->p + n, 0, CTRL_STR_LEN - n);
    w->p += CTRL_STR_LEN;
}

typedef struct rcur {
    const unsigned char *p;
} rcur;

static uint32_t r_u32(rcur *r)
{
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}
static uint64_t r_u64(rcur *r)
{
    uint64_t v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}
static int64_t r_i64(rcur *r)
{
    int64_t v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}
static float r_f32(rcur *r)
{
    float v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}
static double r_f64(rcur *r)
{
    double v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}
/* copies a fixed string field; termination is checked by the validator on the raw bytes */
static void r_str(rcur *r, char *dst)
{
    memcpy(dst, r->p, CTRL_STR_LEN);
    dst[CTRL_STR_LEN - 1] = '\0';
    r->p += CTRL_STR_LEN;
}
static const void *r_view(rcur *r, size_t bytes)
{
    const void *v = r->p;
    r->p += bytes;
    return v;
}

uint32_t ctrl_u32_at(const void *view, size_t i)
{
    uint32_t v;
    memcpy(&v, (const unsigned char *)view + 4 * i, 4);
    return v;
}

void ctrl_f32_copy(const void *view, size_t n, float *dst)
{
    if (n)
        memcpy(dst, view, 4 * n);
}

const char *ctrl_str_at(const void *view, size_t i)
{
    return (const char *)view + CTRL_STR_LEN * i;
}

/* ---------------------------------------------------------------------------------------------
 * Sizes and validation (shared by encode and decode, so a sender never emits what a receiver
 * refuses)
 * ------------------------------------------------------------------------------------------- */
#define HELLO_FIXED 152
#define CLOCK_LEN 16 /* ctrl_clock: f64 fc_fs | f32 ppm | f32 cfo_ms */
#define WELCOME_LEN (424 + CTRL_LEARNER_LEN + CTRL_KEY_TXT + 12 + CLOCK_LEN)
#define MODEL_FIXED 24
#define STATUS_FIXED 16
#define GO_LEN 32
#define PLAN_FIXED 52
#define REPORT_FIXED 28
#define COMMIT_FIXED 8
#define CAL_FIXED 16

static size_t payload_len(const ctrl_msg *m)
{
    switch (m->type) {
    case CTRL_HELLO: /* the chan's radios follow its endpoints */
        return HELLO_FIXED + (size_t)CTRL_STR_LEN * m->u.hello.n_ep +
               (m->u.hello.role == CTRL_ROLE_CHAN ? CLOCK_LEN : 0);
    case CTRL_WELCOME:
        return WELCOME_LEN;
    case CTRL_MODEL:
        return MODEL_FIXED + 4 * (size_t)m->u.model.n_prev + 4 * (size_t)m->u.model.dim;
    case CTRL_STATUS:
        return STATUS_FIXED + 4 * (size_t)m->u.status.n_x;
    case CTRL_GO: /* §9.4: the pilot level, then beacon_reps, follow only when announced */
        return GO_LEN + (m->u.go.beacon_reps ? 8 : m->u.go.pilot_level != 0.0f ? 4 : 0);
    case CTRL_PLAN: /* §9.4: probe follows the ids only when > 0 */
        return PLAN_FIXED + 4 * (size_t)m->u.plan.n + (m->u.plan.probe ? 4 : 0);
    case CTRL_REPORT:
        return REPORT_FIXED + 4 * (size_t)m->u.report.n;
    case CTRL_COMMIT:
        return COMMIT_FIXED + 4 * (size_t)m->u.commit.n;
    case CTRL_CAL: /* §9.4: the sub-bands' loop gains follow only when they differ */
        return CAL_FIXED + (m->u.cal.mu_q ? 12 : 8) * (size_t)m->u.cal.q;
    case CTRL_LEAVE:
    case CTRL_BYE:
        return 0;
    default:
        return 0;
    }
}

size_t ctrl_encoded_len(const ctrl_msg *m)
{
    if (!m || m->type == 0 || m->type >= CTRL_TYPE_END)
        return 0;
    return CTRL_HDR_LEN + payload_len(m);
}

size_t ctrl_payload_bound(size_t dim, size_t n_agents)
{
    size_t a = MODEL_FIXED + 4 * n_agents + 4 * dim;
    size_t b = HELLO_FIXED + (size_t)CTRL_STR_LEN * (2 + 2 * n_agents) + CLOCK_LEN;
    size_t c = a > b ? a : b;
    return c + 1024;
}

typedef struct why_buf {
    char text[160];
    int strict; /* decoding raw bytes: also refuse bytes after a string's terminator */
} why_buf;

static int bad(why_buf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(why_buf *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text, sizeof w->text, fmt, ap);
    va_end(ap);
    return 0;
}

/* a raw fixed string field: a NUL inside, printable before it, zero after it */
static int str_ok(const char *s, why_buf *w, const char *what)
{
    const unsigned char *b = (const unsigned char *)s;
    size_t n = 0;
    while (n < CTRL_STR_LEN && b[n])
        n++;
    if (n == CTRL_STR_LEN)
        return bad(w, "%s: string not terminated", what);
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            return bad(w, "%s: byte 0x%02x at %zu is not printable", what, b[i], i);
    for (size_t i = n; w->strict && i < CTRL_STR_LEN; i++)
        if (b[i])
            return bad(w, "%s: garbage after the terminator", what);
    return 1;
}

static int endpoint_ok(const char *s, why_buf *w, const char *what)
{
    if (!str_ok(s, w, what))
        return 0;
    if (strncmp(s, "tcp://", 6) != 0 && strncmp(s, "ipc://", 6) != 0 &&
        strncmp(s, "inproc://", 9) != 0)
        return bad(w, "%s: '%.60s' is not a tcp://, ipc:// or inproc:// endpoint", what, s);
    return 1;
}

static int ids_ok(const void *ids, uint32_t n, why_buf *w, const char *what)
{
    if (n > CTRL_MAX_AGENTS)
        return bad(w, "%s: %u agent ids (max %u)", what, n, CTRL_MAX_AGENTS);
    if (n && !ids)
        return bad(w, "%s: %u ids but no array", what, n);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = ctrl_u32_at(ids, i);
        if (id >= CTRL_MAX_AGENTS)
            return bad(w, "%s: agent id %u out of range", what, id);
        if (i && id <= prev)
            return bad(w, "%s: agent ids not strictly increasing (%u after %u)", what, id, prev);
        prev = id;
    }
    return 1;
}

static int floats_ok(const void *v, size_t n, why_buf *w, const char *what)
{
    if (n && !v)
        return bad(w, "%s: %zu floats but no array", what, n);
    const unsigned char *p = v;
    for (size_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, p + 4 * i, 4);
        if (!isfinite(f))
            return bad(w, "%s: entry %zu is %s", what, i, isnan(f) ? "NaN" : "Inf");
    }
    return 1;
}

static int pos_ok(double v, why_buf *w, const char *what)
{
    if (!isfinite(v) || v <= 0)
        return bad(w, "%s = %g is not finite and > 0", what, v);
    return 1;
}
static int nonneg_ok(double v, why_buf *w, const char *what)
{
    if (!isfinite(v) || v < 0)
        return bad(w, "%s = %g is not finite and >= 0", what, v);
    return 1;
}
/* A calibrated level (levels 1): finite, within +-300 dBm; without levels: 0. */
static int levels_ok(uint32_t levels, float v, why_buf *w, const char *what)
{
    if (levels ? !isfinite(v) || fabsf(v) > 300.0f : v != 0.0f)
        return bad(w, "%s = %.9g %s", what, (double)v,
                   levels ? "is not finite within +-300 dBm" : "without levels (must be 0)");
    return 1;
}
/* ctrl_clock (docs/air-interface.md §9.4): fc_fs 0 or within (0, 1e6], ppm 0..100, cfo_ms
 * 0..2048^2, all finite. */
static int clock_ok(const ctrl_clock *k, why_buf *w, const char *what)
{
    if (!(isfinite(k->fc_fs) && k->fc_fs >= 0.0 && k->fc_fs <= 1e6))
        return bad(w, "%s.fc_fs = %.17g is not in 0..1e6", what, k->fc_fs);
    if (!(isfinite(k->ppm) && k->ppm >= 0.0f && k->ppm <= 100.0f))
        return bad(w, "%s.ppm = %.9g is not in 0..100", what, (double)k->ppm);
    if (!(isfinite(k->cfo_ms) && k->cfo_ms >= 0.0f && k->cfo_ms <= 4194304.0f))
        return bad(w, "%s.cfo_ms = %.9g is not in 0..4194304", what, (double)k->cfo_ms);
    return 1;
}
static int range_ok(uint64_t v, uint64_t lo, uint64_t hi, why_buf *w, const char *what)
{
    if (v < lo || v > hi)
        return bad(w, "%s = %llu is not in %llu..%llu", what, (unsigned long long)v,
                   (unsigned long long)lo, (unsigned long long)hi);
    return 1;
}
static int tick_ok(int64_t t, why_buf *w, const char *what)
{
    if (t < 0 || t > TICK_MAX)
        return bad(w, "%s = %lld out of range", what, (long long)t);
    return 1;
}
static int numerology_ok(uint32_t nfft, uint32_t cp, why_buf *w)
{
    if (nfft < 64 || nfft > 4096 || nfft % 2)
        return bad(w, "nfft = %u (even 64..4096)", nfft);
    return range_ok(cp, 1, nfft / 2, w, "cp");
}

static int learner_ok(const ctrl_learner *l, why_buf *w)
{
    return range_ok(l->task, 0, 2, w, "learner.task") &&
           range_ok(l->learner, 0, 4, w, "learner.learner") &&
           range_ok(l->inner_steps, 1, 1000, w, "learner.inner_steps") &&
           pos_ok(l->alpha, w, "learner.alpha") &&
           range_ok(l->tasks, 1, 1000000, w, "learner.tasks") &&
           range_ok(l->local_iters, 1, 100000, w, "learner.local_iters") &&
           pos_ok(l->local_lr, w, "learner.local_lr") &&
           pos_ok(l->hf_delta, w, "learner.hf_delta") &&
           range_ok(l->ways, 1, 10000, w, "learner.ways") &&
           range_ok(l->shots, 1, 100000, w, "learner.shots") &&
           range_ok(l->query, 1, 100000, w, "learner.query") &&
           (isfinite(l->heterogeneity) && l->heterogeneity >= 0 && l->heterogeneity <= 1
                ? 1
                : bad(w, "learner.heterogeneity = %.9g is not in [0, 1]",
                      (double)l->heterogeneity)) &&
           range_ok(l->filters, 1, 4096, w, "learner.filters") &&
           range_ok(l->sparsify, 0, 2, w, "learner.sparsify") &&
           (isfinite(l->keep) && l->keep > 0 && l->keep <= 1
                ? 1
                : bad(w, "learner.keep = %.17g is not in (0, 1]", l->keep)) &&
           range_ok(l->memory, 0, 1, w, "learner.memory") &&
           range_ok(l->n_agents, 1, CTRL_MAX_AGENTS, w, "learner.n_agents") &&
           range_ok(l->pool, 0, 1000000, w, "learner.pool");
}

static int validate(const ctrl_msg *m, why_buf *w)
{
    switch (m->type) {
    case CTRL_HELLO: {
        const ctrl_hello *h = &m->u.hello;
        if (!str_ok(h->desc, w, "HELLO.desc"))
            return 0;
        if (h->role == CTRL_ROLE_AGENT) {
            if (!range_ok(h->id, 0, CTRL_MAX_AGENTS - 1, w, "HELLO.id") ||
                !range_ok(h->dim, 0, CTRL_MAX_DIM, w, "HELLO.dim"))
                return 0;
            if (h->n_agents || h->n_ep)
                return bad(w, "HELLO from an agent with n_agents %u, %u endpoints", h->n_agents,
                           h->n_ep);
            if (h->clock.fc_fs != 0.0 || h->clock.ppm != 0.0f || h->clock.cfo_ms != 0.0f)
                return bad(w, "HELLO from an agent with radios' clocks");
            return 1;
        }
        if (h->role != CTRL_ROLE_CHAN)
            return bad(w, "HELLO.role = %u (1 agent, 2 chan)", h->role);
        if (h->id || h->dim)
            return bad(w, "HELLO from the chan with id %u, dim %llu", h->id,
                       (unsigned long long)h->dim);
        if (!range_ok(h->n_agents, 1, CTRL_MAX_AGENTS, w, "HELLO.n_agents"))
            return 0;
        if (h->n_ep != 2 + 2 * h->n_agents)
            return bad(w, "HELLO.n_ep = %u (the chan of %u agents has %u endpoints)", h->n_ep,
                       h->n_agents, 2 + 2 * h->n_agents);
        if (!h->ep)
            return bad(w, "HELLO: no endpoint array");
        for (uint32_t i = 0; i < h->n_ep; i++)
            if (!endpoint_ok(ctrl_str_at(h->ep, i), w, "HELLO.ep"))
                return 0;
        return clock_ok(&h->clock, w, "HELLO.clock");
    }
    case CTRL_WELCOME: {
        const ctrl_welcome *c = &m->u.welcome;
        if (!range_ok(c->accepted, 0, 1, w, "WELCOME.accepted") ||
            !range_ok(c->role, 1, 2, w, "WELCOME.role") ||
            !str_ok(c->reason, w, "WELCOME.reason") || !str_ok(c->uplink, w, "WELCOME.uplink") ||
            !str_ok(c->downlink, w, "WELCOME.downlink") ||
            !range_ok(c->levels, 0, 1, w, "WELCOME.levels") ||
            !levels_ok(c->levels, c->tx_dbm, w, "WELCOME.tx_dbm") ||
            !levels_ok(c->levels, c->rx_dbm, w, "WELCOME.rx_dbm") ||
            !clock_ok(&c->clock, w, "WELCOME.clock"))
            return 0;
        if (!c->accepted || c->role != CTRL_ROLE_AGENT)
            return 1; /* the setup fields are meaningful for an accepted agent only */
        return range_ok(c->dim, 1, CTRL_MAX_DIM, w, "WELCOME.dim") &&
               numerology_ok(c->nfft, c->cp, w) &&
               range_ok(c->payload_len, 1, CTRL_MAX_DIM, w, "WELCOME.payload_len") &&
               pos_ok(c->rate, w, "WELCOME.rate") &&
               /* both empty: on air, the agent's own radio (host/net/net_air.h) */
               ((c->uplink[0] == '\0' && c->downlink[0] == '\0') ||
                (endpoint_ok(c->uplink, w, "WELCOME.uplink") &&
                 endpoint_ok(c->downlink, w, "WELCOME.downlink"))) &&
               learner_ok(&c->learner, w);
    }
    case CTRL_MODEL: {
        const ctrl_model *o = &m->u.model;
        if (!pos_ok(o->rho, w, "MODEL.rho") || !nonneg_ok(o->g_th, w, "MODEL.g_th"))
            return 0;
        if (o->flags & ~CTRL_MODEL_REPORT_X)
            return bad(w, "MODEL.flags = 0x%x (unknown bits)", o->flags);
        if (o->prev_round == CTRL_NO_ROUND && o->n_prev)
            return bad(w, "MODEL: %u previous participants without a previous round", o->n_prev);
        return ids_ok(o->prev_ids, o->n_prev, w, "MODEL.prev_ids") &&
               range_ok(o->dim, 1, CTRL_MAX_DIM, w, "MODEL.dim") &&
               floats_ok(o->theta, o->dim, w, "MODEL.theta");
    }
    case CTRL_STATUS: {
        const ctrl_status *s = &m->u.status;
        return nonneg_ok(s->loss, w, "STATUS.loss") && nonneg_ok(s->peak, w, "STATUS.peak") &&
               nonneg_ok(s->power, w, "STATUS.power") &&
               range_ok(s->n_x, 0, CTRL_MAX_DIM, w, "STATUS.n_x") &&
               floats_ok(s->x, s->n_x, w, "STATUS.x");
    }
    case CTRL_GO: {
        const ctrl_go *g = &m->u.go;
        if (!pos_ok(g->eta, w, "GO.eta") || !pos_ok(g->rho, w, "GO.rho") ||
            !nonneg_ok(g->g_th, w, "GO.g_th") || !tick_ok(g->beacon_tick, w, "GO.beacon_tick") ||
            !tick_ok(g->tx_tick, w, "GO.tx_tick"))
            return 0;
        if (g->tx_tick <= g->beacon_tick)
            return bad(w, "GO: transmit tick %lld not after the beacon tick %lld",
                       (long long)g->tx_tick, (long long)g->beacon_tick);
        if (g->cal_slots > CTRL_MAX_AGENTS || (g->cal_slots ? g->cal_slot >= g->cal_slots
                                                            : g->cal_slot != 0))
            return bad(w, "GO: calibration slot %u of %u (slot < slots <= %u, or 0 of 0)",
                       g->cal_slot, g->cal_slots, CTRL_MAX_AGENTS);
        if (g->mapping > 1)
            return bad(w, "GO: mapping %u (0 complex, 1 real)", g->mapping);
        if (g->probe > 1 || (g->probe && !g->cal_slots))
            return bad(w, "GO: probe %u with %u calibration slots (a probe needs slots, §8.5)",
                       g->probe, g->cal_slots);
        if (g->pilot_level != 0.0f && !(g->pilot_level > 0.0f && g->pilot_level <= 1.0f))
            return bad(w, "GO: pilot level %.9g outside (0, 1]", (double)g->pilot_level);
        if (g->beacon_reps > CTRL_MAX_BEACON_REPS)
            return bad(w, "GO: %u beacon training blocks (0..%u)", g->beacon_reps,
                       CTRL_MAX_BEACON_REPS);
        return 1;
    }
    case CTRL_PLAN: {
        const ctrl_plan *p = &m->u.plan;
        if (!pos_ok(p->eta, w, "PLAN.eta") || !pos_ok(p->rho, w, "PLAN.rho") ||
            !numerology_ok(p->nfft, p->cp, w) ||
            !range_ok(p->burst_len, 1, BURST_MAX, w, "PLAN.burst_len") ||
            !tick_ok(p->beacon_tick, w, "PLAN.beacon_tick") ||
            !tick_ok(p->tx_tick, w, "PLAN.tx_tick"))
            return 0;
        if (p->tx_tick <= p->beacon_tick)
            return bad(w, "PLAN: transmit tick not after the beacon tick");
        if (!isfinite(p->deadline) || p->deadline <= 0 || p->deadline > 3600)
            return bad(w, "PLAN.deadline = %g s (0 < deadline <= 3600)", p->deadline);
        return range_ok(p->n, 1, CTRL_MAX_AGENTS, w, "PLAN.n") &&
               ids_ok(p->ids, p->n, w, "PLAN.ids") &&
               range_ok(p->probe, 0, CTRL_MAX_PROBES, w, "PLAN.probe");
    }
    case CTRL_REPORT: {
        const ctrl_report *r = &m->u.report;
        if (r->chunk_tick < -TICK_MAX || r->chunk_tick > TICK_MAX)
            return bad(w, "REPORT.chunk_tick = %lld out of range", (long long)r->chunk_tick);
        return range_ok(r->chunk_len, 0, BURST_MAX, w, "REPORT.chunk_len") &&
               ids_ok(r->ids, r->n, w, "REPORT.ids");
    }
    case CTRL_COMMIT: {
        const ctrl_commit *c = &m->u.commit;
        if (!range_ok(c->decoded, 0, 1, w, "COMMIT.decoded"))
            return 0;
        if (!c->decoded && c->n)
            return bad(w, "COMMIT: %u agents applied although nothing was decoded", c->n);
        return ids_ok(c->ids, c->n, w, "COMMIT.ids");
    }
    case CTRL_CAL: {
        const ctrl_cal *c = &m->u.cal;
        if (!range_ok(c->heard, 0, 1, w, "CAL.heard") ||
            !range_ok(c->q, CTRL_CAL_Q, CTRL_CAL_Q, w, "CAL.q"))
            return 0;
        if (!(isfinite(c->mu) && c->mu > 0.0f && c->mu <= 1.0f))
            return bad(w, "CAL.mu = %.9g (0 < mu <= 1)", (double)c->mu);
        if (!isfinite(c->snr_db))
            return bad(w, "CAL.snr_db = %g (not finite)", (double)c->snr_db);
        if (!floats_ok(c->E, 2 * (size_t)c->q, w, "CAL.E"))
            return 0;
        if (!c->mu_q)
            return 1;
        float mq[CTRL_CAL_Q], top = 0.0f;
        ctrl_f32_copy(c->mu_q, CTRL_CAL_Q, mq);
        for (unsigned q = 0; q < CTRL_CAL_Q; q++) {
            if (!(isfinite(mq[q]) && mq[q] > 0.0f && mq[q] <= 1.0f))
                return bad(w, "CAL.mu_q[%u] = %.9g (0 < mu <= 1)", q, (double)mq[q]);
            top = mq[q] > top ? mq[q] : top;
        }
        if (c->mu != top)
            return bad(w, "CAL.mu = %.9g, not the largest of mu_q (%.9g)", (double)c->mu,
                       (double)top);
        return 1;
    }
    case CTRL_LEAVE:
    case CTRL_BYE:
        return 1;
    default:
        return bad(w, "unknown type %u", m->type);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Encode
 * ------------------------------------------------------------------------------------------- */
static void w_clock(wcur *w, const ctrl_clock *k)
{
    w_f64(w, k->fc_fs);
    w_f32(w, k->ppm);
    w_f32(w, k->cfo_ms);
}

static void r_clock(rcur *r, ctrl_clock *k)
{
    k->fc_fs = r_f64(r);
    k->ppm = r_f32(r);
    k->cfo_ms = r_f32(r);
}

static void w_learner(wcur *w, const ctrl_learner *l)
{
    w_u32(w, l->task);
    w_u32(w, l->learner);
    w_u32(w, l->inner_steps);
    w_f32(w, l->alpha);
    w_u32(w, l->tasks);
    w_u32(w, l->local_iters);
    w_f32(w, l->local_lr);
    w_f32(w, l->hf_delta);
    w_u32(w, l->ways);
    w_u32(w, l->shots);
    w_u32(w, l->query);
    w_f32(w, l->heterogeneity);
    w_u32(w, l->filters);
    w_u32(w, l->sparsify);
    w_f64(w, l->keep);
    w_u32(w, l->memory);
    w_u32(w, l->n_agents);
    w_u64(w, l->seed);
    w_u32(w, l->pool);
}

static void r_learner(rcur *r, ctrl_learner *l)
{
    l->task = r_u32(r);
    l->learner = r_u32(r);
    l->inner_steps = r_u32(r);
    l->alpha = r_f32(r);
    l->tasks = r_u32(r);
    l->local_iters = r_u32(r);
    l->local_lr = r_f32(r);
    l->hf_delta = r_f32(r);
    l->ways = r_u32(r);
    l->shots = r_u32(r);
    l->query = r_u32(r);
    l->heterogeneity = r_f32(r);
    l->filters = r_u32(r);
    l->sparsify = r_u32(r);
    l->keep = r_f64(r);
    l->memory = r_u32(r);
    l->n_agents = r_u32(r);
    l->seed = r_u64(r);
    l->pool = r_u32(r);
}

am_status ctrl_encode(const ctrl_msg *m, void *buf, size_t cap, size_t *len)
{
    if (!m || !buf || !len)
        return AM_FAIL(AM_EINVAL, "ctrl_encode: NULL argument");
    why_buf w = {{0}, 0};
    if (m->type == 0 || m->type >= CTRL_TYPE_END)
        return AM_FAIL(AM_EINVAL, "ctrl_encode: unknown type %u", m->type);
    if (!validate(m, &w))
        return AM_FAIL(AM_EINVAL, "ctrl_encode: %s: %s", ctrl_type_name(m->type), w.text);
    const size_t n = payload_len(m);
    if (n > UINT32_MAX || CTRL_HDR_LEN + n > cap)
        return AM_FAIL(AM_EINVAL, "ctrl_encode: %s of %zu bytes does not fit %zu",
                       ctrl_type_name(m->type), CTRL_HDR_LEN + n, cap);
    unsigned char *p = buf;
    wcur c = {p + CTRL_HDR_LEN};
    switch (m->type) {
    case CTRL_HELLO: {
        const ctrl_hello *h = &m->u.hello;
        w_u32(&c, h->role);
        w_u32(&c, h->id);
        w_u64(&c, h->dim);
        w_u32(&c, h->n_agents);
        w_u32(&c, h->n_ep);
        w_str(&c, h->desc);
        for (uint32_t i = 0; i < h->n_ep; i++)
            w_str(&c, ctrl_str_at(h->ep, i));
        if (h->role == CTRL_ROLE_CHAN)
            w_clock(&c, &h->clock);
        break;
    }
    case CTRL_WELCOME: {
        const ctrl_welcome *o = &m->u.welcome;
        w_u32(&c, o->accepted);
        w_u32(&c, o->role);
        w_str(&c, o->reason);
        w_u64(&c, o->dim);
        w_u32(&c, o->nfft);
        w_u32(&c, o->cp);
        w_u64(&c, o->payload_len);
        w_f64(&c, o->rate);
        w_str(&c, o->uplink);
        w_str(&c, o->downlink);
        w_learner(&c, &o->learner);
        {
            size_t kn = strnlen(o->data_key, CTRL_KEY_TXT - 1);
            memcpy(c.p, o->data_key, kn);
            memset(c.p + kn, 0, CTRL_KEY_TXT - kn);
            c.p += CTRL_KEY_TXT;
        }
        w_u32(&c, o->levels);
        w_f32(&c, o->tx_dbm);
        w_f32(&c, o->rx_dbm);
        w_clock(&c, &o->clock);
        break;
    }
    case CTRL_MODEL: {
        const ctrl_model *o = &m->u.model;
        w_f32(&c, o->rho);
        w_f32(&c, o->g_th);
        w_u32(&c, o->flags);
        w_u32(&c, o->prev_round);
        w_u32(&c, o->n_prev);
        w_u32(&c, o->dim);
        w_bytes(&c, o->prev_ids, 4 * (size_t)o->n_prev);
        w_bytes(&c, o->theta, 4 * (size_t)o->dim);
        break;
    }
    case CTRL_STATUS: {
        const ctrl_status *o = &m->u.status;
        w_f32(&c, o->loss);
        w_f32(&c, o->peak);
        w_f32(&c, o->power);
        w_u32(&c, o->n_x);
        w_bytes(&c, o->x, 4 * (size_t)o->n_x);
        break;
    }
    case CTRL_GO: {
        const ctrl_go *o = &m->u.go;
        w_f32(&c, o->eta);
        w_f32(&c, o->rho);
        w_f32(&c, o->g_th);
        w_u32(&c, (o->cal_slot & 0xFFFFu) | (o->cal_slots & 0x3FFFu) << 16 |
                      (o->probe & 1u) << 30 | (o->mapping & 1u) << 31); /* u16, u16 (bit 14:
                                                                            probe, 15: mapping) */
        w_i64(&c, o->beacon_tick);
        w_i64(&c, o->tx_tick);
        if (o->pilot_level != 0.0f || o->beacon_reps) /* beacon_reps: after the level (1) */
            w_f32(&c, o->pilot_level != 0.0f ? o->pilot_level : 1.0f);
        if (o->beacon_reps)
            w_u32(&c, o->beacon_reps);
        break;
    }
    case CTRL_PLAN: {
        const ctrl_plan *o = &m->u.plan;
        w_f32(&c, o->eta);
        w_f32(&c, o->rho);
        w_u32(&c, o->nfft);
        w_u32(&c, o->cp);
        w_u64(&c, o->burst_len);
        w_i64(&c, o->beacon_tick);
        w_i64(&c, o->tx_tick);
        w_f64(&c, o->deadline);
        w_u32(&c, o->n);
        w_bytes(&c, o->ids, 4 * (size_t)o->n);
        if (o->probe)
            w_u32(&c, o->probe);
        break;
    }
    case CTRL_REPORT: {
        const ctrl_report *o = &m->u.report;
        w_i64(&c, o->chunk_tick);
        w_u64(&c, o->chunk_len);
        w_u32(&c, o->late);
        w_u32(&c, o->rejected);
        w_u32(&c, o->n);
        w_bytes(&c, o->ids, 4 * (size_t)o->n);
        break;
    }
    case CTRL_COMMIT: {
        const ctrl_commit *o = &m->u.commit;
        w_u32(&c, o->decoded);
        w_u32(&c, o->n);
        w_bytes(&c, o->ids, 4 * (size_t)o->n);
        break;
    }
    case CTRL_CAL: {
        const ctrl_cal *o = &m->u.cal;
        w_u32(&c, o->heard);
        w_u32(&c, o->q);
        w_f32(&c, o->mu);
        w_f32(&c, o->snr_db);
        w_bytes(&c, o->E, 8 * (size_t)o->q);
        if (o->mu_q)
            w_bytes(&c, o->mu_q, 4 * (size_t)o->q);
        break;
    }
    default:
        break; /* LEAVE, BYE: empty */
    }
    wcur h = {p};
    w_u32(&h, CTRL_MAGIC);
    uint16_t ver = CTRL_VERSION, type = (uint16_t)m->type;
    w_bytes(&h, &ver, 2);
    w_bytes(&h, &type, 2);
    w_u32(&h, m->round);
    w_u32(&h, m->sender);
    w_u32(&h, (uint32_t)n);
    w_u32(&h, crc32_bytes(p + CTRL_HDR_LEN, n));
    w_u32(&h, 0);
    w_u32(&h, crc32_bytes(p, 28));
    *len = CTRL_HDR_LEN + n;
    return AM_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Decode
 * ------------------------------------------------------------------------------------------- */
static am_status reject(ctrl_reject *why, ctrl_reject r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static am_status reject(ctrl_reject *why, ctrl_reject r, const char *fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (why)
        *why = r;
    return AM_FAIL(AM_EFORMAT, "ctrl: %s: %s", ctrl_reject_name(r), text);
}

/* Fixed part of each type's payload (what must be present to read its counts). */
static size_t fixed_len(uint32_t type)
{
    switch (type) {
    case CTRL_HELLO:
        return HELLO_FIXED;
    case CTRL_WELCOME:
        return WELCOME_LEN;
    case CTRL_MODEL:
        return MODEL_FIXED;
    case CTRL_STATUS:
        return STATUS_FIXED;
    case CTRL_GO:
        return GO_LEN;
    case CTRL_PLAN:
        return PLAN_FIXED;
    case CTRL_REPORT:
        return REPORT_FIXED;
    case CTRL_COMMIT:
        return COMMIT_FIXED;
    case CTRL_CAL:
        return CAL_FIXED;
    default:
        return 0;
    }
}

am_status
ctrl_decode(const void *buf, size_t len, size_t max_payload, ctrl_msg *m, ctrl_reject *why)
{
    if (why)
        *why = CTRL_REJ_NONE;
    if (!m || (!buf && len))
        return AM_FAIL(AM_EINVAL, "ctrl_decode: NULL argument");
    const unsigned char *p = buf;
    if (len < CTRL_HDR_LEN)
        return reject(why, CTRL_REJ_TRUNCATED, "%zu bytes, shorter than the %d-byte header", len,
                      CTRL_HDR_LEN);
    if (len > CTRL_HDR_LEN + max_payload)
        return reject(why, CTRL_REJ_OVERSIZED, "%zu bytes (at most %zu accepted)", len,
                      CTRL_HDR_LEN + max_payload);
    rcur h = {p};
    uint32_t magic = r_u32(&h);
    uint16_t ver, type;
    memcpy(&ver, h.p, 2);
    memcpy(&type, h.p + 2, 2);
    h.p += 4;
    uint32_t round = r_u32(&h), sender = r_u32(&h), n = r_u32(&h), pcrc = r_u32(&h);
    uint32_t reserved = r_u32(&h), hcrc = r_u32(&h);
    if (magic != CTRL_MAGIC)
        return reject(why, CTRL_REJ_MAGIC, "bad magic 0x%08x", (unsigned)magic);
    if (ver != CTRL_VERSION)
        return reject(why, CTRL_REJ_VERSION, "version %u (this build speaks %d)", (unsigned)ver,
                      CTRL_VERSION);
    if (hcrc != crc32_bytes(p, 28))
        return reject(why, CTRL_REJ_HCRC, "header CRC 0x%08x, computed 0x%08x", (unsigned)hcrc,
                      (unsigned)crc32_bytes(p, 28));
    if (type == 0 || type >= CTRL_TYPE_END)
        return reject(why, CTRL_REJ_TYPE, "unknown type %u", (unsigned)type);
    if (reserved != 0)
        return reject(why, CTRL_REJ_RESERVED, "reserved field 0x%08x", (unsigned)reserved);
    if (n > max_payload)
        return reject(why, CTRL_REJ_OVERSIZED, "%s payload of %u bytes (at most %zu accepted)",
                      ctrl_type_name(type), (unsigned)n, max_payload);
    if (len < CTRL_HDR_LEN + (size_t)n)
        return reject(why, CTRL_REJ_TRUNCATED, "%s: header announces %u payload bytes, %zu arrived",
                      ctrl_type_name(type), (unsigned)n, len - CTRL_HDR_LEN);
    if (len > CTRL_HDR_LEN + (size_t)n)
        return reject(why, CTRL_REJ_SIZE, "%s: %zu bytes after the %u-byte payload",
                      ctrl_type_name(type), len - CTRL_HDR_LEN - n, (unsigned)n);
    const unsigned char *q = p + CTRL_HDR_LEN;
    if (pcrc != crc32_bytes(q, n))
        return reject(why, CTRL_REJ_CRC, "%s: payload CRC 0x%08x, computed 0x%08x",
                      ctrl_type_name(type), (unsigned)pcrc, (unsigned)crc32_bytes(q, n));
    /* §9.2: the sender before the payload (nothing of a message from no valid peer is read) */
    if (sender >= CTRL_MAX_AGENTS && sender != CTRL_ID_SERVER && sender != CTRL_ID_CHAN)
        return reject(why, CTRL_REJ_PAYLOAD, "%s: sender id 0x%08x", ctrl_type_name(type),
                      (unsigned)sender);
    memset(m, 0, sizeof *m);
    m->type = type;
    m->round = round;
    m->sender = sender;
    if (n < fixed_len(type))
        return reject(why, CTRL_REJ_PAYLOAD, "%s payload of %u bytes, its fixed part needs %zu",
                      ctrl_type_name(type), (unsigned)n, fixed_len(type));
    rcur c = {q};
    /* read the fixed part and the counts, then check the exact length before any view */
    switch (type) {
    case CTRL_HELLO: {
        ctrl_hello *o = &m->u.hello;
        o->role = r_u32(&c);
        o->id = r_u32(&c);
        o->dim = r_u64(&c);
        o->n_agents = r_u32(&c);
        o->n_ep = r_u32(&c);
        const char *raw = (const char *)c.p;
        r_str(&c, o->desc);
        why_buf w = {{0}, 1};
        if (!str_ok(raw, &w, "HELLO.desc"))
            return reject(why, CTRL_REJ_PAYLOAD, "%s", w.text);
        break;
    }
    case CTRL_WELCOME: {
        ctrl_welcome *o = &m->u.welcome;
        o->accepted = r_u32(&c);
        o->role = r_u32(&c);
        const char *raw[3];
        raw[0] = (const char *)c.p;
        r_str(&c, o->reason);
        o->dim = r_u64(&c);
        o->nfft = r_u32(&c);
        o->cp = r_u32(&c);
        o->payload_len = r_u64(&c);
        o->rate = r_f64(&c);
        raw[1] = (const char *)c.p;
        r_str(&c, o->uplink);
        raw[2] = (const char *)c.p;
        r_str(&c, o->downlink);
        r_learner(&c, &o->learner);
        memcpy(o->data_key, c.p, CTRL_KEY_TXT);
        c.p += CTRL_KEY_TXT;
        o->levels = r_u32(&c);
        o->tx_dbm = r_f32(&c);
        o->rx_dbm = r_f32(&c);
        r_clock(&c, &o->clock);
        if (o->data_key[CTRL_KEY_TXT - 1] != '\0' ||
            (o->data_key[0] && strlen(o->data_key) != ZCTX_Z85_LEN))
            return reject(why, CTRL_REJ_PAYLOAD, "WELCOME.data_key: not empty nor %d characters",
                          ZCTX_Z85_LEN);
        /* a string field as the others (docs/air-interface.md §9.2): printable, zero after the
         * NUL */
        for (size_t i = 0, kn = strlen(o->data_key); i < CTRL_KEY_TXT; i++) {
            const unsigned char b = (unsigned char)o->data_key[i];
            if (i < kn ? b < 0x20 || b > 0x7e : b != 0)
                return reject(why, CTRL_REJ_PAYLOAD, "WELCOME.data_key: byte 0x%02x at %zu %s", b,
                              i, i < kn ? "is not printable" : "after the terminator");
        }
        why_buf w = {{0}, 1};
        static const char *const names[3] = {"WELCOME.reason", "WELCOME.uplink",
                                             "WELCOME.downlink"};
        for (int i = 0; i < 3; i++)
            if (!str_ok(raw[i], &w, names[i]))
                return reject(why, CTRL_REJ_PAYLOAD, "%s", w.text);
        break;
    }
    case CTRL_MODEL: {
        ctrl_model *o = &m->u.model;
        o->rho = r_f32(&c);
        o->g_th = r_f32(&c);
        o->flags = r_u32(&c);
        o->prev_round = r_u32(&c);
        o->n_prev = r_u32(&c);
        o->dim = r_u32(&c);
        if (o->n_prev > CTRL_MAX_AGENTS || o->dim > CTRL_MAX_DIM)
            return reject(why, CTRL_REJ_PAYLOAD, "MODEL: %u ids, %u floats (max %u, %u)", o->n_prev,
                          o->dim, CTRL_MAX_AGENTS, CTRL_MAX_DIM);
        break;
    }
    case CTRL_STATUS: {
        ctrl_status *o = &m->u.status;
        o->loss = r_f32(&c);
        o->peak = r_f32(&c);
        o->power = r_f32(&c);
        o->n_x = r_u32(&c);
        if (o->n_x > CTRL_MAX_DIM)
            return reject(why, CTRL_REJ_PAYLOAD, "STATUS: %u floats (max %u)", o->n_x,
                          CTRL_MAX_DIM);
        break;
    }
    case CTRL_GO: {
        ctrl_go *o = &m->u.go;
        o->eta = r_f32(&c);
        o->rho = r_f32(&c);
        o->g_th = r_f32(&c);
        uint32_t z = r_u32(&c); /* u16 cal_slot | u16 cal_slots << 16 */
        o->cal_slot = z & 0xFFFFu;
        o->cal_slots = (z >> 16) & 0x3FFFu;
        o->probe = (z >> 30) & 1u;
        o->mapping = z >> 31;
        o->beacon_tick = r_i64(&c);
        o->tx_tick = r_i64(&c);
        if (n >= GO_LEN + 4) { /* §9.4: with the pilot level (absent: 1, read as 0) */
            o->pilot_level = r_f32(&c);
            if (!(o->pilot_level > 0.0f && o->pilot_level <= 1.0f))
                return reject(why, CTRL_REJ_PAYLOAD, "GO: pilot level %.9g outside (0, 1]",
                              (double)o->pilot_level);
        }
        /* 40 bytes: beacon_reps, which must then be 1..; else 0 (the exact length is checked
         * below: a 40-byte GO with 0 needs 36) */
        o->beacon_reps = n >= GO_LEN + 8 ? r_u32(&c) : 0;
        break;
    }
    case CTRL_PLAN: {
        ctrl_plan *o = &m->u.plan;
        o->eta = r_f32(&c);
        o->rho = r_f32(&c);
        o->nfft = r_u32(&c);
        o->cp = r_u32(&c);
        o->burst_len = r_u64(&c);
        o->beacon_tick = r_i64(&c);
        o->tx_tick = r_i64(&c);
        o->deadline = r_f64(&c);
        o->n = r_u32(&c);
        if (o->n > CTRL_MAX_AGENTS)
            return reject(why, CTRL_REJ_PAYLOAD, "PLAN: %u ids (max %u)", o->n, CTRL_MAX_AGENTS);
        /* §9.4: with the probe after the ids (a placeholder until it is read below) */
        o->probe = n == PLAN_FIXED + 4 * (size_t)o->n + 4 ? UINT32_MAX : 0;
        break;
    }
    case CTRL_REPORT: {
        ctrl_report *o = &m->u.report;
        o->chunk_tick = r_i64(&c);
        o->chunk_len = r_u64(&c);
        o->late = r_u32(&c);
        o->rejected = r_u32(&c);
        o->n = r_u32(&c);
        if (o->n > CTRL_MAX_AGENTS)
            return reject(why, CTRL_REJ_PAYLOAD, "REPORT: %u ids (max %u)", o->n, CTRL_MAX_AGENTS);
        break;
    }
    case CTRL_COMMIT: {
        ctrl_commit *o = &m->u.commit;
        o->decoded = r_u32(&c);
        o->n = r_u32(&c);
        if (o->n > CTRL_MAX_AGENTS)
            return reject(why, CTRL_REJ_PAYLOAD, "COMMIT: %u ids (max %u)", o->n, CTRL_MAX_AGENTS);
        break;
    }
    case CTRL_CAL: {
        ctrl_cal *o = &m->u.cal;
        o->heard = r_u32(&c);
        o->q = r_u32(&c);
        o->mu = r_f32(&c);
        o->snr_db = r_f32(&c);
        if (o->q != CTRL_CAL_Q)
            return reject(why, CTRL_REJ_PAYLOAD, "CAL: %u sub-bands (want %u)", o->q, CTRL_CAL_Q);
        /* §9.4: 16 + 12 q bytes carry the sub-bands' loop gains (the exact length is checked
         * below); a placeholder until the view is taken */
        o->mu_q = n == CAL_FIXED + 12 * (size_t)o->q ? buf : NULL;
        break;
    }
    default:
        break;
    }
    if (type == CTRL_HELLO && m->u.hello.n_ep > 2 + 2 * CTRL_MAX_AGENTS)
        return reject(why, CTRL_REJ_PAYLOAD, "HELLO: %u endpoints", m->u.hello.n_ep);
    const size_t want = payload_len(m);
    if (n != want)
        return reject(why, CTRL_REJ_PAYLOAD, "%s payload of %u bytes, its fields need %zu",
                      ctrl_type_name(type), (unsigned)n, want);
    switch (type) { /* the variable parts, now known to be inside the buffer */
    case CTRL_HELLO:
        m->u.hello.ep = r_view(&c, (size_t)CTRL_STR_LEN * m->u.hello.n_ep);
        if (m->u.hello.role == CTRL_ROLE_CHAN)
            r_clock(&c, &m->u.hello.clock);
        break;
    case CTRL_MODEL:
        m->u.model.prev_ids = r_view(&c, 4 * (size_t)m->u.model.n_prev);
        m->u.model.theta = r_view(&c, 4 * (size_t)m->u.model.dim);
        break;
    case CTRL_STATUS:
        m->u.status.x = r_view(&c, 4 * (size_t)m->u.status.n_x);
        break;
    case CTRL_PLAN:
        m->u.plan.ids = r_view(&c, 4 * (size_t)m->u.plan.n);
        if (m->u.plan.probe) { /* written only when > 0 */
            m->u.plan.probe = r_u32(&c);
            if (m->u.plan.probe == 0)
                return reject(why, CTRL_REJ_PAYLOAD, "PLAN.probe = 0 written (absent = 0)");
        }
        break;
    case CTRL_REPORT:
        m->u.report.ids = r_view(&c, 4 * (size_t)m->u.report.n);
        break;
    case CTRL_COMMIT:
        m->u.commit.ids = r_view(&c, 4 * (size_t)m->u.commit.n);
        break;
    case CTRL_CAL:
        m->u.cal.E = r_view(&c, 8 * (size_t)m->u.cal.q);
        if (m->u.cal.mu_q)
            m->u.cal.mu_q = r_view(&c, 4 * (size_t)m->u.cal.q);
        break;
    default:
        break;
    }
    why_buf w = {{0}, 1};
    if (!validate(m, &w))
        return reject(why, CTRL_REJ_PAYLOAD, "%s: %s", ctrl_type_name(type), w.text);
    return AM_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Socket
 * ------------------------------------------------------------------------------------------- */
struct ctrl {
    void *zctx, *sock, *mon; /* mon: PAIR receiving the socket's connection events */
    int have_ctx;
    unsigned char *hello; /* ctrl_set_hello's encoded message */
    size_t hello_len;
    int server;
    uint32_t self_id;
    size_t max_payload;
    int send_timeout_ms;
    char endpoint[256];
    unsigned char *txbuf;
    size_t txcap;
    zmq_msg_t rx;
    int have_rx;
    ctrl_stats stats;
};

static unsigned drain(void *sock);

static void drop_rx(ctrl *q)
{
    if (q->have_rx) {
        zmq_msg_close(&q->rx);
        q->have_rx = 0;
    }
}

void ctrl_destroy(ctrl *q)
{
    if (!q)
        return;
    drop_rx(q);
    if (q->sock) {
        zmq_socket_monitor(q->sock, NULL, 0);
        zmq_close(q->sock);
    }
    if (q->mon) {
        int zero = 0;
        zmq_setsockopt(q->mon, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(q->mon);
    }
    if (q->have_ctx)
        zctx_release(); /* the last release waits for the linger */
    free(q->hello);
    free(q->txbuf);
    free(q);
}

void ctrl_set_linger(ctrl *q, double seconds)
{
    if (!q || !q->sock || !(seconds >= 0))
        return;
    int ms = seconds > 3600 ? 3600000 : (int)ceil(seconds * 1000.0);
    zmq_setsockopt(q->sock, ZMQ_LINGER, &ms, sizeof ms);
}

am_status ctrl_set_hello(ctrl *q, const ctrl_msg *m)
{
    if (!q || !m)
        return AM_FAIL(AM_EINVAL, "ctrl_set_hello: NULL argument");
    ctrl_msg c = *m;
    c.sender = q->self_id;
    size_t len = ctrl_encoded_len(&c);
    unsigned char *b = len ? malloc(len) : NULL;
    if (!b)
        return AM_FAIL(AM_ENOMEM, "ctrl_set_hello: out of memory");
    am_status s = ctrl_encode(&c, b, len, &len);
    if (s != AM_OK) {
        free(b);
        return s;
    }
    free(q->hello);
    q->hello = b;
    q->hello_len = len;
    return AM_OK;
}

/* The socket monitor's events so far: counted; a peer re-sends its HELLO after every handshake
 * but the first (the server may be a new process, or saw a new connection). */
static void monitor_drain(ctrl *q)
{
    if (!q->mon)
        return;
    for (;;) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, q->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&event, zmq_msg_data(&ev), 2);
        zmq_msg_close(&ev);
        drain(q->mon); /* the endpoint frame */
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            q->stats.handshake_failed++;
            break;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            q->stats.handshakes++;
            if (!q->server && q->hello && q->stats.handshakes > 1 &&
                zmq_send(q->sock, q->hello, q->hello_len, ZMQ_DONTWAIT) >= 0)
                q->stats.rehello++;
            break;
        case ZMQ_EVENT_DISCONNECTED:
            q->stats.disconnects++;
            break;
        default:
            break;
        }
    }
}

am_status ctrl_create(const ctrl_cfg *cfg, ctrl **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "ctrl_create: NULL argument");
    *out = NULL;
    if (!cfg || !cfg->endpoint || !cfg->endpoint[0])
        return AM_FAIL(AM_EINVAL, "ctrl_create: no endpoint");
    if (strlen(cfg->endpoint) >= sizeof((ctrl *)0)->endpoint)
        return AM_FAIL(AM_EINVAL, "ctrl_create: endpoint '%.40s...' too long", cfg->endpoint);
    if (cfg->max_payload < 1024 || cfg->max_payload > ((size_t)1 << 31))
        return AM_FAIL(AM_EINVAL, "ctrl_create: max_payload %zu (1024..2^31)", cfg->max_payload);
    if (!isfinite(cfg->send_timeout) || cfg->send_timeout <= 0 || cfg->send_timeout > 3600)
        return AM_FAIL(AM_EINVAL, "ctrl_create: send_timeout %g s (0..3600)", cfg->send_timeout);
    if (cfg->self_id >= CTRL_MAX_AGENTS && cfg->self_id != CTRL_ID_SERVER &&
        cfg->self_id != CTRL_ID_CHAN)
        return AM_FAIL(AM_EINVAL, "ctrl_create: self id %u", cfg->self_id);
    ctrl *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "ctrl_create: out of memory");
    q->server = cfg->server != 0;
    q->self_id = cfg->self_id;
    q->max_payload = cfg->max_payload;
    q->send_timeout_ms = (int)ceil(cfg->send_timeout * 1000.0);
    q->txcap = CTRL_HDR_LEN + cfg->max_payload;
    q->txbuf = malloc(q->txcap);
    snprintf(q->endpoint, sizeof q->endpoint, "%s", cfg->endpoint);
    if (!q->txbuf) {
        size_t cap = q->txcap;
        ctrl_destroy(q);
        return AM_FAIL(AM_ENOMEM, "ctrl_create: send buffer of %zu bytes", cap);
    }
    if (cfg->curve_secret && !zctx_has_curve()) {
        ctrl_destroy(q);
        return AM_FAIL(AM_ENOTSUP, "ctrl: this libzmq has no CURVE security (zmq_has(\"curve\") "
                                   "is 0): rebuild it with libsodium, or run with --insecure");
    }
    if (cfg->curve_secret && cfg->server && !zctx_zap_running()) {
        ctrl_destroy(q);
        return AM_FAIL(AM_EINVAL, "ctrl: a CURVE server socket without a ZAP handler would admit "
                                  "every key (start one with net_auth_start first)");
    }
    if (cfg->curve_secret && !cfg->server && !cfg->curve_server) {
        ctrl_destroy(q);
        return AM_FAIL(AM_EINVAL, "ctrl: CURVE peer without the server's public key");
    }
    q->zctx = zctx_acquire();
    if (!q->zctx) {
        ctrl_destroy(q);
        return AM_FAIL(AM_EIO, "ctrl: zmq_ctx_new: %s", zmq_strerror(errno));
    }
    q->have_ctx = 1;
    q->sock = zmq_socket(q->zctx, q->server ? ZMQ_ROUTER : ZMQ_DEALER);
    if (!q->sock) {
        int e = errno;
        ctrl_destroy(q);
        return AM_FAIL(AM_EIO, "ctrl: zmq_socket: %s", zmq_strerror(e));
    }
    /* Inbound cap with room to spare: a message somewhat too long is still received, refused
     * and counted (ctrl_decode); a grossly oversized one makes ZeroMQ drop that connection. */
    int64_t maxmsg = (int64_t)(2 * q->txcap + 4096);
    int one = 1;
    zmq_setsockopt(q->sock, ZMQ_LINGER, &q->send_timeout_ms, sizeof q->send_timeout_ms);
    zmq_setsockopt(q->sock, ZMQ_SNDTIMEO, &q->send_timeout_ms, sizeof q->send_timeout_ms);
    zmq_setsockopt(q->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (q->server) {
        zmq_setsockopt(q->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        /* a connection that has not finished its handshake within 5 s is closed (ZeroMQ's 30 s
         * default lets a flood of silent connections hold the server's descriptors) */
        int hs = 5000;
        zmq_setsockopt(q->sock, ZMQ_HANDSHAKE_IVL, &hs, sizeof hs);
    }
    if (cfg->curve_secret) {
        unsigned char pub[ZCTX_KEY_LEN];
        am_status ks = zctx_public_of(cfg->curve_secret, pub);
        if (ks != AM_OK) {
            ctrl_destroy(q);
            return ks;
        }
        int ok = zmq_setsockopt(q->sock, ZMQ_CURVE_SECRETKEY, cfg->curve_secret, ZCTX_KEY_LEN) == 0;
        if (q->server) {
            const char *dom = cfg->zap_domain ? cfg->zap_domain : "ctrl";
            ok = ok && zmq_setsockopt(q->sock, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
                 zmq_setsockopt(q->sock, ZMQ_ZAP_DOMAIN, dom, strlen(dom)) == 0;
        } else {
            ok = ok && zmq_setsockopt(q->sock, ZMQ_CURVE_PUBLICKEY, pub, ZCTX_KEY_LEN) == 0 &&
                 zmq_setsockopt(q->sock, ZMQ_CURVE_SERVERKEY, cfg->curve_server, ZCTX_KEY_LEN) ==
                     0;
        }
        if (!ok) {
            int e = errno;
            ctrl_destroy(q);
            return AM_FAIL(AM_EIO, "ctrl: CURVE options: %s", zmq_strerror(e));
        }
    }
    {
        static unsigned seq;
        char mep[96];
        snprintf(mep, sizeof mep, "inproc://ctrl-monitor-%p-%u", (void *)q, seq++);
        int ev = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_DISCONNECTED;
        if (zmq_socket_monitor(q->sock, mep, ev) == 0 &&
            (q->mon = zmq_socket(q->zctx, ZMQ_PAIR)) != NULL && zmq_connect(q->mon, mep) != 0) {
            zmq_close(q->mon);
            q->mon = NULL;
        }
    }
    int rc = q->server ? zmq_bind(q->sock, cfg->endpoint) : zmq_connect(q->sock, cfg->endpoint);
    if (rc != 0) {
        int e = errno;
        am_status s = AM_FAIL(AM_EIO, "ctrl: cannot %s '%s': %s", cfg->server ? "bind" : "connect",
                              cfg->endpoint, zmq_strerror(e));
        ctrl_destroy(q);
        return s;
    }
    if (q->server) {
        char last[256];
        size_t ll = sizeof last;
        if (zmq_getsockopt(q->sock, ZMQ_LAST_ENDPOINT, last, &ll) == 0)
            snprintf(q->endpoint, sizeof q->endpoint, "%s", last);
    }
    *out = q;
    return AM_OK;
}

const char *ctrl_endpoint(const ctrl *q)
{
    return q ? q->endpoint : "";
}

int ctrl_peer_eq(const ctrl_peer *a, const ctrl_peer *b)
{
    return a && b && a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

static am_status send_frames(ctrl *q, const ctrl_peer *to, const void *buf, size_t len)
{
    if (q->server) {
        if (!to || to->len == 0 || to->len > sizeof to->id)
            return AM_FAIL(AM_EINVAL, "ctrl_send: the server must name the peer");
        if (zmq_send(q->sock, to->id, to->len, ZMQ_SNDMORE) < 0) {
            int e = errno;
            q->stats.send_failed++;
            if (e == EHOSTUNREACH)
                return AM_FAIL(AM_ENOTFOUND, "ctrl: peer is not connected (gone)");
            if (e == EAGAIN)
                return AM_FAIL(AM_ETIMEOUT, "ctrl: peer's queue full for %d ms",
                               q->send_timeout_ms);
            return AM_FAIL(AM_EIO, "ctrl: send: %s", zmq_strerror(e));
        }
    }
    if (zmq_send(q->sock, buf, len, 0) < 0) {
        int e = errno;
        q->stats.send_failed++;
        if (e == EAGAIN)
            return AM_FAIL(AM_ETIMEOUT, "ctrl: could not send to %s within %d ms", q->endpoint,
                           q->send_timeout_ms);
        if (e == EHOSTUNREACH)
            return AM_FAIL(AM_ENOTFOUND, "ctrl: peer is not connected (gone)");
        return AM_FAIL(AM_EIO, "ctrl: send on %s: %s", q->endpoint, zmq_strerror(e));
    }
    q->stats.sent++;
    return AM_OK;
}

am_status ctrl_send(ctrl *q, const ctrl_peer *to, const ctrl_msg *m)
{
    if (!q || !m)
        return AM_FAIL(AM_EINVAL, "ctrl_send: NULL argument");
    ctrl_msg c = *m;
    c.sender = q->self_id;
    size_t len = 0;
    am_status s = ctrl_encode(&c, q->txbuf, q->txcap, &len);
    if (s != AM_OK) {
        q->stats.send_failed++;
        return s;
    }
    return send_frames(q, to, q->txbuf, len);
}

am_status ctrl_send_raw(ctrl *q, const ctrl_peer *to, const void *buf, size_t len)
{
    if (!q || (!buf && len))
        return AM_FAIL(AM_EINVAL, "ctrl_send_raw: NULL argument");
    return send_frames(q, to, buf, len);
}

void ctrl_count_reject(ctrl *q, ctrl_reject why, const char *text)
{
    if (!q || why <= CTRL_REJ_NONE || why >= CTRL_REJ_END)
        return;
    q->stats.by_reason[why]++;
    q->stats.rejected++;
    snprintf(q->stats.last_reject, sizeof q->stats.last_reject, "%s", text ? text : "");
}

void ctrl_get_stats(const ctrl *q, ctrl_stats *s)
{
    if (q && s)
        *s = q->stats;
}

static int more(void *sock)
{
    int m = 0;
    size_t ml = sizeof m;
    return zmq_getsockopt(sock, ZMQ_RCVMORE, &m, &ml) == 0 && m;
}

/* Reads and discards the rest of a multi-frame message; returns the number of frames dropped. */
static unsigned drain(void *sock)
{
    unsigned k = 0;
    while (more(sock)) {
        zmq_msg_t t;
        zmq_msg_init(&t);
        if (zmq_msg_recv(&t, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&t);
            break;
        }
        zmq_msg_close(&t);
        k++;
    }
    return k;
}

am_status ctrl_recv(ctrl *q, double timeout_s, ctrl_msg *m, ctrl_peer *from)
{
    if (!q || !m)
        return AM_FAIL(AM_EINVAL, "ctrl_recv: NULL argument");
    if (!isfinite(timeout_s) || timeout_s < 0)
        return AM_FAIL(AM_EINVAL, "ctrl_recv: timeout %g", timeout_s);
    drop_rx(q);
    const double deadline = monotime_s() + timeout_s;
    for (;;) {
        monitor_drain(q);
        double left = deadline - monotime_s();
        long ms = left > 0 ? (long)ceil(left * 1000.0) : 0;
        zmq_pollitem_t it[2] = {{q->sock, 0, ZMQ_POLLIN, 0}, {q->mon, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(it, q->mon ? 2 : 1, ms);
        if (rc > 0 && !(it[0].revents & ZMQ_POLLIN)) {
            if (left <= 0) {
                monitor_drain(q);
                rc = 0;
            } else {
                continue; /* connection events only: counted at the top */
            }
        }
        if (rc < 0) {
            if (errno == EINTR)
                return AM_FAIL(AM_ETIMEOUT, "ctrl: interrupted");
            return AM_FAIL(AM_EIO, "ctrl: poll on %s: %s", q->endpoint, zmq_strerror(errno));
        }
        if (rc == 0)
            return AM_FAIL(AM_ETIMEOUT, "ctrl: nothing valid on %s within %g s", q->endpoint,
                           timeout_s);
        ctrl_peer peer = {{0}, 0, {0}};
        if (q->server) {
            zmq_msg_t idm;
            zmq_msg_init(&idm);
            if (zmq_msg_recv(&idm, q->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&idm);
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                return AM_FAIL(AM_EIO, "ctrl: recv on %s: %s", q->endpoint, zmq_strerror(errno));
            }
            size_t il = zmq_msg_size(&idm);
            int has_body = more(q->sock);
            if (il > sizeof peer.id || !has_body) {
                zmq_msg_close(&idm);
                drain(q->sock);
                q->stats.received++;
                ctrl_count_reject(q, CTRL_REJ_FRAMES, "ctrl: frames: no body frame");
                continue;
            }
            memcpy(peer.id, zmq_msg_data(&idm), il);
            peer.len = il;
            zmq_msg_close(&idm);
        }
        zmq_msg_init(&q->rx);
        if (zmq_msg_recv(&q->rx, q->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&q->rx);
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return AM_FAIL(AM_EIO, "ctrl: recv on %s: %s", q->endpoint, zmq_strerror(errno));
        }
        q->have_rx = 1;
        q->stats.received++;
        const char *uid = q->server ? zmq_msg_gets(&q->rx, "User-Id") : NULL;
        snprintf(peer.user, sizeof peer.user, "%s", uid ? uid : "");
        unsigned extra = drain(q->sock);
        if (extra) {
            char t[80];
            snprintf(t, sizeof t, "ctrl: frames: %u frames after the message", extra);
            ctrl_count_reject(q, CTRL_REJ_FRAMES, t);
            drop_rx(q);
            continue;
        }
        ctrl_reject why = CTRL_REJ_NONE;
        am_status s =
            ctrl_decode(zmq_msg_data(&q->rx), zmq_msg_size(&q->rx), q->max_payload, m, &why);
        if (s != AM_OK) {
            ctrl_count_reject(q, why == CTRL_REJ_NONE ? CTRL_REJ_PAYLOAD : why, am_last_error());
            drop_rx(q);
            continue;
        }
        q->stats.accepted++;
        if (from)
            *from = peer;
        return AM_OK;
    }
}
