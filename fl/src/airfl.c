/* fl/airfl: Air-meta-pFL rounds (docs/paper.md §2-§3) with a persistent pool of worker threads.
 * Determinism: agent k only ever draws from its own stream rng[k] and writes its own slots, and
 * every reduction over agents runs on the calling thread in agent order, so the result does not
 * depend on which thread ran which agent. */
#include "fl/airfl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/pool.h"
#include "core/rng.h"

typedef struct fl_airfl fl_airfl;

typedef struct worker {
    fl_airfl *q;
    unsigned id;
    fl_model *m;
    fl_meta *meta;
    fl_sparse *sp;
    fl_task_buf *buf;
    float *u;
} worker;

typedef struct sample_ctx {
    const fl_task_family *fam;
    unsigned agent;
    fl_task_buf *buf;
} sample_ctx;

enum { ERR_LEN = 512 };

struct fl_airfl {
    fl_airfl_cfg cfg;
    size_t D;
    unsigned K, T, round;
    fl_loss loss;
    float *theta;
    fl_opt *opt;
    float *mem, *x, *del; /* K x D each */
    float *est, *ideal, *active;
    const float **xp;
    float **delp;
    am_rng *rng;         /* K agent streams */
    double *agent_loss;  /* K */
    am_status *agent_st; /* K */
    char *agent_err;     /* K x ERR_LEN */
    worker *w;           /* T */
    am_pool *pool;       /* core/pool: the T threads, worker 0 the caller */
    atomic_uint next;
    const fl_task_family *fam_job;
};

void fl_airfl_cfg_default(fl_airfl_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->agents = 10;
    fl_meta_cfg_default(&cfg->meta);
    fl_opt_cfg_default(&cfg->opt);
    cfg->sparsify = FL_SPARSE_NONE;
    cfg->keep = 1.0;
    cfg->memory = 1;
    cfg->rho = 1.0f;
    cfg->g_th = 0.0f;
    cfg->eta_rule = FL_ETA_RMS;
    cfg->threads = 1;
    cfg->seed = 1;
}

static am_status
sample_task(void *ctx, am_rng *rng, const fl_batch **support, const fl_batch **query)
{
    sample_ctx *c = ctx;
    am_status st = fl_task_sample_train(c->fam, c->agent, rng, c->buf);
    if (st != AM_OK)
        return st;
    *support = &c->buf->support;
    *query = &c->buf->query;
    return AM_OK;
}

/* Agent k's part of the round: u_k, v_k = u_k + m_k (kept in mem[k] until the server's answer),
 * x_k = sparsify(v_k). */
static void run_agent(fl_airfl *q, worker *w, unsigned k)
{
    const size_t D = q->D;
    float *mk = q->mem + (size_t)k * D, *xk = q->x + (size_t)k * D;
    sample_ctx ctx = {q->fam_job, k, w->buf};
    float l = 0.0f;
    am_status st = fl_meta_local_update(w->meta, w->m, q->theta, q->loss, sample_task, &ctx,
                                        &q->rng[k], w->u, &l);
    if (st == AM_OK && !fl_vec_finite(w->u, D))
        st = AM_FAIL(AM_EFORMAT, "local meta-update is not finite (diverged: lower the step "
                                 "sizes beta or alpha)");
    q->agent_st[k] = st;
    if (st != AM_OK) {
        snprintf(q->agent_err + (size_t)k * ERR_LEN, ERR_LEN, "%s", am_last_error());
        return;
    }
    q->agent_loss[k] = l;
    if (q->cfg.memory) {
        for (size_t i = 0; i < D; i++)
            mk[i] += w->u[i];
    } else {
        memcpy(mk, w->u, D * sizeof *mk);
    }
    fl_sparse_execute(w->sp, mk, xk, &q->rng[k]);
}

static void run_agents(fl_airfl *q, worker *w)
{
    for (;;) {
        unsigned k = atomic_fetch_add(&q->next, 1u);
        if (k >= q->K)
            break;
        run_agent(q, w, k);
    }
}

static void run_job(void *ctx, unsigned t)
{
    fl_airfl *q = ctx;
    run_agents(q, &q->w[t]);
}

void fl_airfl_destroy(fl_airfl *q)
{
    if (!q)
        return;
    am_pool_destroy(q->pool);
    if (q->w) {
        for (unsigned t = 0; t < q->T; t++) {
            worker *w = &q->w[t];
            fl_model_destroy(w->m);
            fl_meta_destroy(w->meta);
            fl_sparse_destroy(w->sp);
            fl_task_buf_destroy(w->buf);
            free(w->u);
        }
    }
    fl_opt_destroy(q->opt);
    free(q->w);
    free(q->theta);
    free(q->mem);
    free(q->x);
    free(q->del);
    free(q->est);
    free(q->ideal);
    free(q->active);
    free(q->xp);
    free(q->delp);
    free(q->rng);
    free(q->agent_loss);
    free(q->agent_st);
    free(q->agent_err);
    free(q);
}

am_status fl_airfl_create(const fl_airfl_cfg *cfg,
                          const fl_model *proto,
                          const fl_task_family *fam,
                          fl_airfl **out)
{
    *out = NULL;
    if (!cfg || !proto || !fam)
        return AM_FAIL(AM_EINVAL, "airfl: missing config, model or task family");
    const fl_task_cfg *tc = fl_task_family_cfg(fam);
    if (cfg->agents < 1 || cfg->agents > tc->n_train_agents)
        return AM_FAIL(AM_EINVAL, "airfl: %u agents, the task family has %u training agents",
                       cfg->agents, tc->n_train_agents);
    if (cfg->threads < 1 || cfg->threads > 256)
        return AM_FAIL(AM_EINVAL, "airfl: threads %u outside 1..256", cfg->threads);
    if (!(isfinite(cfg->rho) && cfg->rho > 0.0f))
        return AM_FAIL(AM_EINVAL, "airfl: rho %g is not a positive finite number",
                       (double)cfg->rho);
    if (!(isfinite(cfg->g_th) && cfg->g_th >= 0.0f))
        return AM_FAIL(AM_EINVAL, "airfl: g_th %g is not a finite number >= 0", (double)cfg->g_th);
    if (cfg->eta_rule != FL_ETA_PEAK && cfg->eta_rule != FL_ETA_RMS)
        return AM_FAIL(AM_EINVAL, "airfl: unknown eta rule %d", (int)cfg->eta_rule);
    if (fl_model_in_dim(proto) != fl_task_in_dim(fam) ||
        fl_model_out_dim(proto) != fl_task_out_dim(fam))
        return AM_FAIL(AM_EINVAL,
                       "airfl: model %s (in %zu, out %zu) does not fit the tasks "
                       "(in %zu, out %zu)",
                       fl_model_describe(proto), fl_model_in_dim(proto), fl_model_out_dim(proto),
                       fl_task_in_dim(fam), fl_task_out_dim(fam));
    const size_t nsup = fl_task_support_size(fam), nq = fl_task_query_size(fam);
    if (nsup > fl_model_max_batch(proto) || nq > fl_model_max_batch(proto))
        return AM_FAIL(AM_EINVAL,
                       "airfl: support %zu / query %zu samples exceed the model's "
                       "batch of %zu",
                       nsup, nq, fl_model_max_batch(proto));

    /* memory, delivered and update vectors of every agent, written every round */
    char what[96];
    snprintf(what, sizeof what, "airfl: %u agents x %zu parameters", cfg->agents,
             fl_model_nparams(proto));
    am_status ms = am_mem_fits(3.0 * cfg->agents * (double)fl_model_nparams(proto) * sizeof(float),
                               what);
    if (ms != AM_OK)
        return ms;
    fl_airfl *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "airfl: out of memory");
    q->cfg = *cfg;
    q->K = cfg->agents;
    q->T = cfg->threads < cfg->agents ? cfg->threads : cfg->agents;
    q->D = fl_model_nparams(proto);
    q->loss = fl_task_loss(fam);
    const size_t D = q->D, K = q->K;
    am_status st = AM_OK;
    int bad = 0;
    bad |= !(q->theta = malloc(D * sizeof(float)));
    bad |= !(q->mem = calloc(K * D, sizeof(float)));
    bad |= !(q->x = calloc(K * D, sizeof(float)));
    bad |= !(q->del = calloc(K * D, sizeof(float)));
    bad |= !(q->est = calloc(D, sizeof(float)));
    bad |= !(q->ideal = calloc(D, sizeof(float)));
    bad |= !(q->active = calloc(D, sizeof(float)));
    bad |= !(q->xp = calloc(K, sizeof *q->xp));
    bad |= !(q->delp = calloc(K, sizeof *q->delp));
    bad |= !(q->rng = calloc(K, sizeof *q->rng));
    bad |= !(q->agent_loss = calloc(K, sizeof *q->agent_loss));
    bad |= !(q->agent_st = calloc(K, sizeof *q->agent_st));
    bad |= !(q->agent_err = calloc(K, ERR_LEN));
    bad |= !(q->w = calloc(q->T, sizeof *q->w));
    if (bad) {
        fl_airfl_destroy(q);
        return AM_FAIL(AM_ENOMEM, "airfl: out of memory for %zu agents x %zu parameters", K, D);
    }
    for (size_t k = 0; k < K; k++) {
        q->xp[k] = q->x + k * D;
        q->delp[k] = q->del + k * D;
        am_rng_seed2(&q->rng[k], cfg->seed, k);
    }
    am_rng init;
    am_rng_seed2(&init, cfg->seed, 0xffffffffULL); /* theta's stream, apart from the agents' */
    st = fl_model_init(proto, q->theta, &init);
    if (st == AM_OK)
        st = fl_opt_create(&cfg->opt, D, &q->opt);
    fl_sparse_cfg sc;
    fl_sparse_cfg_default(&sc);
    sc.dim = D;
    sc.kind = cfg->sparsify;
    sc.keep = cfg->keep;
    for (unsigned t = 0; st == AM_OK && t < q->T; t++) {
        worker *w = &q->w[t];
        w->q = q;
        w->id = t;
        st = fl_model_clone(proto, &w->m);
        if (st == AM_OK)
            st = fl_meta_create(&cfg->meta, proto, nq, &w->meta);
        if (st == AM_OK)
            st = fl_sparse_create(&sc, &w->sp);
        if (st == AM_OK)
            st = fl_task_buf_create(fam, &w->buf);
        if (st == AM_OK && !(w->u = malloc(D * sizeof(float))))
            st = AM_FAIL(AM_ENOMEM, "airfl: out of memory");
    }
    if (st != AM_OK) {
        fl_airfl_destroy(q);
        return am_error_wrap(st, "airfl");
    }
    if ((st = am_pool_create(q->T, "airfl", &q->pool)) != AM_OK) {
        fl_airfl_destroy(q);
        return st;
    }
    *out = q;
    return AM_OK;
}

float *fl_airfl_theta(fl_airfl *q)
{
    return q->theta;
}

size_t fl_airfl_dim(const fl_airfl *q)
{
    return q->D;
}

unsigned fl_airfl_round_index(const fl_airfl *q)
{
    return q->round;
}

const float *fl_airfl_memory(const fl_airfl *q, unsigned agent)
{
    return agent < q->K ? q->mem + (size_t)agent * q->D : NULL;
}

enum { ST_HDR = 40 }; /* 4 x u32 + 3 x u64 */

static int adam(const fl_airfl *q)
{
    return fl_opt_get_cfg(q->opt)->kind == FL_OPT_ADAM;
}

size_t fl_airfl_state_size(const fl_airfl *q)
{
    const size_t D = q->D, K = q->K;
    return ST_HDR + (1 + 2 * (size_t)adam(q) + K) * D * sizeof(float) + K * sizeof(am_rng);
}

static unsigned char *put(unsigned char *p, const void *src, size_t n)
{
    memcpy(p, src, n);
    return p + n;
}

am_status fl_airfl_state_save(const fl_airfl *q, void *buf, size_t cap)
{
    if (!q || !buf)
        return AM_FAIL(AM_EINVAL, "airfl state: missing object or buffer");
    const size_t need = fl_airfl_state_size(q), D = q->D;
    if (cap < need)
        return AM_FAIL(AM_EINVAL, "airfl state: buffer of %zu bytes, %zu needed", cap, need);
    uint64_t t;
    const float *m, *v;
    fl_opt_get_state(q->opt, &t, &m, &v);
    const uint32_t h32[4] = {FL_AIRFL_STATE_MAGIC, FL_AIRFL_STATE_VERSION, q->K,
                             (uint32_t)adam(q)};
    const uint64_t h64[3] = {D, q->round, t};
    unsigned char *p = buf;
    p = put(p, h32, sizeof h32);
    p = put(p, h64, sizeof h64);
    p = put(p, q->theta, D * sizeof(float));
    if (adam(q)) {
        p = put(p, m, D * sizeof(float));
        p = put(p, v, D * sizeof(float));
    }
    p = put(p, q->mem, (size_t)q->K * D * sizeof(float));
    put(p, q->rng, q->K * sizeof(am_rng));
    return AM_OK;
}

/* Index of the first non-finite float of the n at p (unaligned), or n. */
static size_t first_bad(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, p + i * sizeof f, sizeof f);
        if (!isfinite(f))
            return i;
    }
    return n;
}

static float *copy_floats(const unsigned char *p, size_t n)
{
    float *f = malloc(n * sizeof *f);
    if (f)
        memcpy(f, p, n * sizeof *f);
    return f;
}

am_status fl_airfl_state_load(fl_airfl *q, const void *buf, size_t n)
{
    if (!q || !buf)
        return AM_FAIL(AM_EINVAL, "airfl state: missing object or buffer");
    const size_t D = q->D, K = q->K;
    if (n < ST_HDR)
        return AM_FAIL(AM_EFORMAT, "airfl state: %zu bytes, shorter than its %d-byte header", n,
                       ST_HDR);
    uint32_t h32[4];
    uint64_t h64[3];
    const unsigned char *p = buf;
    memcpy(h32, p, sizeof h32);
    memcpy(h64, p + sizeof h32, sizeof h64);
    if (h32[0] != FL_AIRFL_STATE_MAGIC)
        return AM_FAIL(AM_EFORMAT, "airfl state: bad magic 0x%08x (not an airfl state)",
                       (unsigned)h32[0]);
    if (h32[1] != FL_AIRFL_STATE_VERSION)
        return AM_FAIL(AM_EFORMAT, "airfl state: version %u, this build reads %u",
                       (unsigned)h32[1], FL_AIRFL_STATE_VERSION);
    if (h32[2] != K || h64[0] != D)
        return AM_FAIL(AM_EFORMAT,
                       "airfl state: saved for %u agents x %llu parameters, this run has "
                       "%zu x %zu",
                       (unsigned)h32[2], (unsigned long long)h64[0], K, D);
    if (h32[3] != (uint32_t)adam(q))
        return AM_FAIL(AM_EFORMAT, "airfl state: saved with the %s optimiser, this run uses %s",
                       h32[3] == 1 ? "adam" : (h32[3] == 0 ? "sgd" : "an unknown"),
                       adam(q) ? "adam" : "sgd");
    if (h64[1] > UINT32_MAX)
        return AM_FAIL(AM_EFORMAT, "airfl state: round %llu out of range",
                       (unsigned long long)h64[1]);
    if (n != fl_airfl_state_size(q))
        return AM_FAIL(AM_EFORMAT, "airfl state: %zu bytes, %zu expected for these dimensions", n,
                       fl_airfl_state_size(q));
    p += ST_HDR;
    const unsigned char *th = p, *mo = th + D * sizeof(float);
    const unsigned char *me = mo + (adam(q) ? 2 * D * sizeof(float) : 0);
    const unsigned char *rg = me + K * D * sizeof(float);
    size_t i;
    if ((i = first_bad(th, D)) < D)
        return AM_FAIL(AM_EFORMAT, "airfl state: theta[%zu] is not finite", i);
    if ((i = first_bad(me, K * D)) < K * D)
        return AM_FAIL(AM_EFORMAT, "airfl state: agent %zu's memory entry %zu is not finite",
                       i / D, i % D);
    am_rng *rng = malloc(K * sizeof *rng);
    if (!rng)
        return AM_FAIL(AM_ENOMEM, "airfl state: out of memory");
    memcpy(rng, rg, K * sizeof *rng);
    for (size_t k = 0; k < K; k++)
        if (!(rng[k].s[0] | rng[k].s[1] | rng[k].s[2] | rng[k].s[3])) {
            free(rng);
            return AM_FAIL(AM_EFORMAT, "airfl state: agent %zu's RNG state is all zero", k);
        }
    am_status st = AM_OK;
    if (adam(q)) {
        float *m = copy_floats(mo, D), *v = copy_floats(mo + D * sizeof(float), D);
        st = m && v ? fl_opt_set_state(q->opt, h64[2], m, v)
                    : AM_FAIL(AM_ENOMEM, "airfl state: out of memory");
        free(m);
        free(v);
    } else {
        st = fl_opt_set_state(q->opt, h64[2], NULL, NULL);
    }
    if (st != AM_OK) {
        free(rng);
        return am_error_wrap(st, "airfl state");
    }
    /* validated: nothing below can fail */
    memcpy(q->theta, th, D * sizeof(float));
    memcpy(q->mem, me, K * D * sizeof(float));
    memcpy(q->rng, rng, K * sizeof *rng);
    free(rng);
    q->round = (unsigned)h64[1];
    return AM_OK;
}

am_status fl_airfl_round(fl_airfl *q, const fl_task_family *fam, fl_agg *agg, fl_airfl_stats *stats)
{
    if (!q || !fam || !agg)
        return AM_FAIL(AM_EINVAL, "airfl round: missing object, task family or aggregator");
    if (fl_task_in_dim(fam) != fl_model_in_dim(q->w[0].m) ||
        fl_task_out_dim(fam) != fl_model_out_dim(q->w[0].m) ||
        fl_task_family_cfg(fam)->n_train_agents < q->K)
        return AM_FAIL(AM_EINVAL, "airfl round: task family shaped unlike at create");
    const size_t D = q->D, K = q->K;
    /* Agents in parallel. */
    q->fam_job = fam;
    atomic_store(&q->next, 0u);
    am_pool_run(q->pool, run_job, q);
    q->fam_job = NULL;
    for (size_t k = 0; k < K; k++)
        if (q->agent_st[k] != AM_OK)
            return AM_FAIL(q->agent_st[k], "round %u, agent %zu: %s", q->round, k,
                           q->agent_err + k * ERR_LEN);
    /* Server: announce eta, aggregate over the air (docs/air-interface.md §3-§5). */
    fl_agg_round r = {.eta = fl_agg_eta(q->cfg.eta_rule, q->xp, NULL, K, D),
                      .rho = q->cfg.rho,
                      .g_th = q->cfg.g_th,
                      .round = q->round};
    am_status st = fl_agg_execute(agg, &r, q->xp, NULL, K, D, q->est, q->active, q->delp);
    if (st != AM_OK)
        return am_error_wrap(st, "round %u", q->round);
    if (!fl_vec_finite(q->est, D))
        return AM_FAIL(AM_EFORMAT, "round %u: the %s aggregator returned a non-finite estimate",
                       q->round, fl_agg_name(agg));
    /* Metrics against the exact average of what was sent. */
    double e_err = 0.0, e_ref = 0.0, act = 0.0, lsum = 0.0, msum = 0.0;
    memset(q->ideal, 0, D * sizeof(float));
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < D; i++)
            q->ideal[i] += q->xp[k][i];
    /* Same float arithmetic as the ideal aggregator, so `ideal` gives an NMSE of exactly 0. */
    const float invk = 1.0f / (float)K;
    for (size_t i = 0; i < D; i++) {
        double a = (double)(q->ideal[i] * invk), e = (double)q->est[i] - a;
        e_err += e * e;
        e_ref += a * a;
        act += q->active[i];
    }
    /* Error-feedback memory (docs/paper.md §3): m_k = v_k - delivered_k; mem[k] holds v_k. */
    for (size_t k = 0; k < K; k++) {
        float *mk = q->mem + k * D;
        const float *dk = q->delp[k];
        if (q->cfg.memory) {
            fl_sparse_memory_update(mk, mk, dk, D);
            double s = 0.0;
            for (size_t i = 0; i < D; i++)
                s += (double)mk[i] * mk[i];
            msum += sqrt(s);
        } else {
            memset(mk, 0, D * sizeof *mk);
        }
        lsum += q->agent_loss[k];
    }
    fl_opt_step(q->opt, q->theta, q->est);
    if (stats) {
        stats->round = q->round;
        stats->train_loss = lsum / (double)K;
        stats->agg_nmse = e_ref > 0.0 ? e_err / e_ref : 0.0;
        stats->mean_active = act / (double)D;
        stats->eta = r.eta;
        stats->memory_norm = msum / (double)K;
        stats->k = fl_sparse_k(q->w[0].sp);
    }
    q->round++;
    return AM_OK;
}
