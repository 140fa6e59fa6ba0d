/* fl/meta: MAML, first-order MAML, Reptile, Per-FedAvg FO/HF, the local meta-update and the
 * outer optimiser (docs/paper.md §1, §3). */
#include "fl/meta.h"

#include "clones.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fl_meta {
    fl_meta_cfg cfg;
    size_t D, in_dim, out_dim, max_batch, max_query;
    float *phis;  /* (n+1) x D: the inner trajectory phi_0..phi_n */
    float *gtmp;  /* D */
    float *hv;    /* D */
    float *pert;  /* D: HF perturbed point */
    float *gtask; /* D */
    float *gacc;  /* D */
    float *ploc;  /* D: the local trajectory (L > 1) */
    /* PERFEDAVG_HF: the query split into D' (a) and D'' (b) */
    float *ax, *ay, *bx, *by;
    int32_t *al, *bl;
    unsigned *cls_count; /* out_dim */
    fl_model *mq;        /* MAML: a model of the same architecture for the query pass, so that the
                            caller's keeps the last support pass for fl_model_hvp_again */
};

static const char *const learner_names[] = {"maml", "fomaml", "reptile", "perfedavg-fo",
                                            "perfedavg-hf"};

am_status fl_learner_parse(const char *name, fl_learner *out)
{
    for (int i = 0; i < 5; i++)
        if (name && strcmp(name, learner_names[i]) == 0) {
            *out = (fl_learner)i;
            return AM_OK;
        }
    return AM_FAIL(AM_EINVAL,
                   "learner: '%s' is not one of maml|fomaml|reptile|perfedavg-fo|perfedavg-hf",
                   name ? name : "(null)");
}

const char *fl_learner_name(fl_learner l)
{
    return (unsigned)l < 5 ? learner_names[l] : "?";
}

void fl_meta_cfg_default(fl_meta_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->learner = FL_LEARNER_MAML;
    cfg->inner_steps = 1;
    cfg->alpha = 0.01f;
    cfg->hf_delta = 1e-3f;
    cfg->tasks = 25;
    cfg->local_iters = 1;
    cfg->local_lr = 1e-3f;
}

void fl_meta_destroy(fl_meta *q)
{
    if (!q)
        return;
    free(q->phis);
    free(q->gtmp);
    fl_model_destroy(q->mq);
    free(q->hv);
    free(q->pert);
    free(q->gtask);
    free(q->gacc);
    free(q->ploc);
    free(q->ax);
    free(q->ay);
    free(q->bx);
    free(q->by);
    free(q->al);
    free(q->bl);
    free(q->cls_count);
    free(q);
}

am_status fl_meta_create(const fl_meta_cfg *cfg, const fl_model *m, size_t max_query, fl_meta **out)
{
    *out = NULL;
    if (!cfg || !m)
        return AM_FAIL(AM_EINVAL, "meta: missing config or model");
    if ((unsigned)cfg->learner > FL_LEARNER_PERFEDAVG_HF)
        return AM_FAIL(AM_EINVAL, "meta: unknown learner %d", (int)cfg->learner);
    if (cfg->inner_steps < 1 || cfg->inner_steps > 100)
        return AM_FAIL(AM_EINVAL, "meta: inner steps %u outside 1..100", cfg->inner_steps);
    if (!(isfinite(cfg->alpha) && cfg->alpha > 0.0f))
        return AM_FAIL(AM_EINVAL, "meta: alpha %g is not a positive finite number",
                       (double)cfg->alpha);
    if (!(isfinite(cfg->hf_delta) && cfg->hf_delta > 0.0f))
        return AM_FAIL(AM_EINVAL, "meta: hf_delta %g is not a positive finite number",
                       (double)cfg->hf_delta);
    if (cfg->tasks < 1)
        return AM_FAIL(AM_EINVAL, "meta: tasks per local iteration must be >= 1");
    if (cfg->local_iters < 1)
        return AM_FAIL(AM_EINVAL, "meta: local iterations must be >= 1");
    if (!(isfinite(cfg->local_lr) && cfg->local_lr > 0.0f))
        return AM_FAIL(AM_EINVAL, "meta: local_lr %g is not a positive finite number",
                       (double)cfg->local_lr);
    if (cfg->learner == FL_LEARNER_PERFEDAVG_HF && max_query < 2)
        return AM_FAIL(AM_EINVAL,
                       "meta: perfedavg-hf splits the query set in two; it needs >= 2 samples");
    fl_meta *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "meta: out of memory");
    q->cfg = *cfg;
    q->D = fl_model_nparams(m);
    q->in_dim = fl_model_in_dim(m);
    q->out_dim = fl_model_out_dim(m);
    q->max_batch = fl_model_max_batch(m);
    q->max_query = max_query;
    const size_t D = q->D;
    int bad = 0;
    bad |= !(q->phis = malloc((cfg->inner_steps + 1) * D * sizeof(float)));
    bad |= !(q->gtmp = malloc(D * sizeof(float)));
    bad |= !(q->hv = malloc(D * sizeof(float)));
    bad |= !(q->gtask = malloc(D * sizeof(float)));
    bad |= !(q->gacc = malloc(D * sizeof(float)));
    /* MLP only: a CNN's Hessian product is the full one anyway (fl_model_hvp_again) */
    if (cfg->learner == FL_LEARNER_MAML && strncmp(fl_model_describe(m), "mlp ", 4) == 0 &&
        fl_model_clone(m, &q->mq) != AM_OK)
        bad = 1;
    if (cfg->local_iters > 1)
        bad |= !(q->ploc = malloc(D * sizeof(float)));
    if (cfg->learner == FL_LEARNER_PERFEDAVG_HF) {
        const size_t h = max_query / 2 + 1;
        bad |= !(q->pert = malloc(D * sizeof(float)));
        bad |= !(q->ax = malloc(h * q->in_dim * sizeof(float)));
        bad |= !(q->bx = malloc(h * q->in_dim * sizeof(float)));
        bad |= !(q->ay = malloc(h * q->out_dim * sizeof(float)));
        bad |= !(q->by = malloc(h * q->out_dim * sizeof(float)));
        bad |= !(q->al = malloc(h * sizeof(int32_t)));
        bad |= !(q->bl = malloc(h * sizeof(int32_t)));
        bad |= !(q->cls_count = malloc(q->out_dim * sizeof(unsigned)));
    }
    if (bad) {
        fl_meta_destroy(q);
        return AM_FAIL(AM_ENOMEM, "meta: out of memory for %zu parameters", D);
    }
    *out = q;
    return AM_OK;
}

const fl_meta_cfg *fl_meta_get_cfg(const fl_meta *q)
{
    return &q->cfg;
}

/* The D-long loops of a meta-iteration (D = 1761 for the sinusoid MLP: together ~10% of its time),
 * cloned for AVX2 (clones.h). */

/* y = a - alpha x */
FL_CLONES static void
sub_scaled(float *y, const float *a, float alpha, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] - alpha * x[i];
}

/* y += a - alpha x: sub_scaled then add_to in one pass (the same roundings) */
FL_CLONES static void sub_scaled_add(float *restrict y,
                                     const float *restrict a,
                                     float alpha,
                                     const float *restrict x,
                                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float t = a[i] - alpha * x[i];
        y[i] += t;
    }
}

/* y += x */
FL_CLONES static void add_to(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* y *= c */
FL_CLONES static void scale(float *y, float c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= c;
}

/* Splits a query batch into D' and D'' by alternating samples (per class when labelled), so the
 * halves are independent draws of the task and, for N-way tasks, keep every class. */
static am_status split_query(fl_meta *q, const fl_batch *b, fl_batch *a_out, fl_batch *b_out)
{
    if (b->n < 2 || b->n > q->max_query)
        return AM_FAIL(AM_EINVAL, "perfedavg-hf: query set of %zu samples (need 2..%zu)", b->n,
                       q->max_query);
    size_t na = 0, nb = 0;
    if (b->label)
        memset(q->cls_count, 0, q->out_dim * sizeof *q->cls_count);
    for (size_t i = 0; i < b->n; i++) {
        int to_a;
        if (b->label) {
            int32_t l = b->label[i];
            if (l < 0 || (size_t)l >= q->out_dim)
                return AM_FAIL(AM_EINVAL, "perfedavg-hf: label %d outside 0..%zu", (int)l,
                               q->out_dim - 1);
            to_a = (q->cls_count[l]++ % 2) == 0;
        } else {
            to_a = (i % 2) == 0;
        }
        size_t *n = to_a ? &na : &nb;
        float *x = to_a ? q->ax : q->bx;
        memcpy(x + *n * q->in_dim, b->x + i * q->in_dim, q->in_dim * sizeof(float));
        if (b->y)
            memcpy((to_a ? q->ay : q->by) + *n * q->out_dim, b->y + i * q->out_dim,
                   q->out_dim * sizeof(float));
        if (b->label)
            (to_a ? q->al : q->bl)[*n] = b->label[i];
        (*n)++;
    }
    if (na == 0 || nb == 0)
        return AM_FAIL(AM_EINVAL, "perfedavg-hf: query set does not split into two halves");
    *a_out = (fl_batch){q->ax, b->y ? q->ay : NULL, b->label ? q->al : NULL, na};
    *b_out = (fl_batch){q->bx, b->y ? q->by : NULL, b->label ? q->bl : NULL, nb};
    return AM_OK;
}

/* hv ~ H_{D''}(p) v by central differences of gradients along u = v / ||v|| (Per-FedAvg HF). */
static am_status hf_hvp(fl_meta *q,
                        fl_model *m,
                        const float *p,
                        const fl_batch *b,
                        fl_loss loss,
                        const float *v,
                        float *hv)
{
    const size_t D = q->D;
    double nv = 0.0;
    for (size_t i = 0; i < D; i++)
        nv += (double)v[i] * v[i];
    nv = sqrt(nv);
    if (nv == 0.0) {
        memset(hv, 0, D * sizeof *hv);
        return AM_OK;
    }
    const float s = (float)(q->cfg.hf_delta / nv); /* perturbation of norm hf_delta */
    float l;
    for (size_t i = 0; i < D; i++)
        q->pert[i] = p[i] + s * v[i];
    am_status st = fl_model_loss_grad(m, q->pert, b, loss, &l, hv);
    if (st != AM_OK)
        return st;
    for (size_t i = 0; i < D; i++)
        q->pert[i] = p[i] - s * v[i];
    st = fl_model_loss_grad(m, q->pert, b, loss, &l, q->gtmp);
    if (st != AM_OK)
        return st;
    const float c = 1.0f / (2.0f * s);
    for (size_t i = 0; i < D; i++)
        hv[i] = (hv[i] - q->gtmp[i]) * c;
    return AM_OK;
}

/* fl_meta_task_grad; with acc != NULL the task's gradient (left in g, or for MAML only partly:
 * its last step goes straight to acc) is also added to acc. */
static am_status task_grad(fl_meta *q,
                           fl_model *m,
                           const float *phi,
                           const fl_batch *support,
                           const fl_batch *query,
                           fl_loss loss,
                           float *g,
                           float *qloss,
                           float *acc)
{
    const size_t D = q->D;
    const unsigned n = q->cfg.inner_steps;
    const float alpha = q->cfg.alpha;
    float l = 0.0f;
    am_status st;
    /* Inner adaptation on the support set: phi_{j+1} = phi_j - alpha grad L_S(phi_j).
     * phi_0 is the caller's phi (slot 0 of phis stays unused: no copy). */
#define PHI(j) ((j) == 0 ? phi : q->phis + (size_t)(j)*D)
    for (unsigned j = 0; j < n; j++) {
        const float *pj = PHI(j);
        float *pn = q->phis + (size_t)(j + 1) * D;
        st = fl_model_loss_grad(m, pj, support, loss, &l, q->gtmp);
        if (st != AM_OK)
            return am_error_wrap(st, "meta: inner step %u", j);
        sub_scaled(pn, pj, alpha, q->gtmp, D);
    }
    const float *pend = q->phis + (size_t)n * D;
    switch (q->cfg.learner) {
    case FL_LEARNER_FOMAML:
    case FL_LEARNER_PERFEDAVG_FO:
        st = fl_model_loss_grad(m, pend, query, loss, qloss, g);
        if (st != AM_OK)
            return am_error_wrap(st, "meta: query gradient");
        if (acc)
            add_to(acc, g, D);
        return AM_OK;
    case FL_LEARNER_REPTILE: {
        st = fl_model_loss_grad(m, pend, query, loss, qloss, NULL);
        if (st != AM_OK)
            return am_error_wrap(st, "meta: query loss");
        const float c = 1.0f / (alpha * (float)n);
        for (size_t i = 0; i < D; i++)
            g[i] = (phi[i] - pend[i]) * c;
        if (acc)
            add_to(acc, g, D);
        return AM_OK;
    }
    case FL_LEARNER_MAML: {
        /* v lives in g (g may not alias phi or the workspace). The query pass runs on mq, so m
         * still holds the last inner step's support pass at phi_{n-1}: its Hessian product reuses
         * that pass's values and deltas (fl_model_hvp_again; the same numbers as fl_model_hvp). */
        fl_model *mq =
            q->mq && fl_model_nparams(q->mq) == D && query->n <= fl_model_max_batch(q->mq) ? q->mq
                                                                                           : m;
        st = fl_model_loss_grad(mq, pend, query, loss, qloss, g);
        if (st != AM_OK)
            return am_error_wrap(st, "meta: query gradient");
        /* Backward through the inner steps: v <- (I - alpha H_S(phi_j)) v, j = n-1..0. */
        for (unsigned j = n; j-- > 0;) {
            st = fl_model_hvp_again(m, PHI(j), support, loss, g, q->hv);
            if (st != AM_OK)
                return am_error_wrap(st, "meta: Hessian-vector product at inner step %u", j);
            if (j == 0 && acc) /* the last step goes to acc; g keeps the step before */
                sub_scaled_add(acc, g, alpha, q->hv, D);
            else
                sub_scaled(g, g, alpha, q->hv, D);
        }
        return AM_OK;
    }
    case FL_LEARNER_PERFEDAVG_HF: {
        fl_batch da, db;
        st = split_query(q, query, &da, &db);
        if (st != AM_OK)
            return st;
        st = fl_model_loss_grad(m, pend, &da, loss, qloss, g);
        if (st != AM_OK)
            return am_error_wrap(st, "meta: query gradient");
        for (unsigned j = n; j-- > 0;) {
            st = hf_hvp(q, m, PHI(j), &db, loss, g, q->hv);
            if (st != AM_OK)
                return am_error_wrap(st, "meta: Hessian-free product at inner step %u", j);
            sub_scaled(g, g, alpha, q->hv, D);
        }
        if (acc)
            add_to(acc, g, D);
        return AM_OK;
    }
    }
    return AM_FAIL(AM_EINVAL, "meta: unknown learner");
#undef PHI
}

am_status fl_meta_task_grad(fl_meta *q,
                            fl_model *m,
                            const float *phi,
                            const fl_batch *support,
                            const fl_batch *query,
                            fl_loss loss,
                            float *g,
                            float *qloss)
{
    return task_grad(q, m, phi, support, query, loss, g, qloss, NULL);
}

am_status fl_meta_local_update(fl_meta *q,
                               fl_model *m,
                               const float *theta,
                               fl_loss loss,
                               fl_meta_sample_fn sample,
                               void *ctx,
                               am_rng *rng,
                               float *u,
                               float *loss_out)
{
    const size_t D = q->D;
    const unsigned L = q->cfg.local_iters, B = q->cfg.tasks;
    const float *phi = theta;
    double lsum = 0.0;
    /* With one local iteration the meta-batch sum goes straight into u. */
    float *acc = L == 1 ? u : q->gacc;
    if (L > 1)
        memset(u, 0, D * sizeof(float));
    /* MAML's support passes and Hessian products are at phi for every task: held, so that the
     * MLP transposes its weights once, not per task (the same bytes) */
    const int hold = q->cfg.learner == FL_LEARNER_MAML;
    for (unsigned l = 0; l < L; l++) {
        if (hold)
            fl_model_hold(m, phi);
        for (unsigned b = 0; b < B; b++) {
            const fl_batch *s = NULL, *qq = NULL;
            am_status st = sample(ctx, rng, &s, &qq);
            float tl = 0.0f;
            /* the first task writes acc directly, the others are added */
            if (st == AM_OK)
                st = task_grad(q, m, phi, s, qq, loss, b == 0 ? acc : q->gtask, &tl,
                               b == 0 ? NULL : acc);
            if (st != AM_OK) {
                fl_model_release(m);
                return st;
            }
            lsum += tl;
        }
        fl_model_release(m);
        const float ib = 1.0f / (float)B;
        if (L == 1) {
            scale(u, ib, D);
            break;
        }
        for (size_t i = 0; i < D; i++) {
            q->gacc[i] *= ib;
            u[i] += q->gacc[i];
        }
        if (l + 1 < L) {
            for (size_t i = 0; i < D; i++)
                q->ploc[i] = phi[i] - q->cfg.local_lr * q->gacc[i];
            phi = q->ploc;
        }
    }
    if (L > 1) {
        const float il = 1.0f / (float)L;
        for (size_t i = 0; i < D; i++)
            u[i] *= il;
    }
    if (loss_out)
        *loss_out = (float)(lsum / ((double)L * B));
    return AM_OK;
}

/* ---- outer optimiser ---- */

struct fl_opt {
    fl_opt_cfg cfg;
    size_t dim;
    unsigned long long t;
    float *m, *v;
};

am_status fl_opt_kind_parse(const char *name, fl_opt_kind *out)
{
    if (name && strcmp(name, "sgd") == 0)
        *out = FL_OPT_SGD;
    else if (name && strcmp(name, "adam") == 0)
        *out = FL_OPT_ADAM;
    else
        return AM_FAIL(AM_EINVAL, "optimizer: '%s' is not one of sgd|adam", name ? name : "(null)");
    return AM_OK;
}

void fl_opt_cfg_default(fl_opt_cfg *cfg)
{
    cfg->kind = FL_OPT_ADAM;
    cfg->lr = 1e-3f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    cfg->clip = 0.0f;
}

am_status fl_opt_create(const fl_opt_cfg *cfg, size_t dim, fl_opt **out)
{
    *out = NULL;
    if (!cfg || dim == 0)
        return AM_FAIL(AM_EINVAL, "optimizer: missing config or zero dimension");
    if (cfg->kind != FL_OPT_SGD && cfg->kind != FL_OPT_ADAM)
        return AM_FAIL(AM_EINVAL, "optimizer: unknown kind %d", (int)cfg->kind);
    if (!(isfinite(cfg->lr) && cfg->lr > 0.0f))
        return AM_FAIL(AM_EINVAL, "optimizer: step size %g is not a positive finite number",
                       (double)cfg->lr);
    if (!(isfinite(cfg->clip) && cfg->clip >= 0.0f))
        return AM_FAIL(AM_EINVAL, "optimizer: clip %g is not a finite number >= 0",
                       (double)cfg->clip);
    if (cfg->kind == FL_OPT_ADAM) {
        if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) ||
            !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
            return AM_FAIL(AM_EINVAL, "optimizer: Adam betas %g, %g outside [0, 1)",
                           (double)cfg->beta1, (double)cfg->beta2);
        if (!(isfinite(cfg->eps) && cfg->eps > 0.0f))
            return AM_FAIL(AM_EINVAL, "optimizer: Adam eps %g is not positive", (double)cfg->eps);
    }
    fl_opt *o = calloc(1, sizeof *o);
    if (!o)
        return AM_FAIL(AM_ENOMEM, "optimizer: out of memory");
    o->cfg = *cfg;
    o->dim = dim;
    if (cfg->kind == FL_OPT_ADAM) {
        o->m = calloc(dim, sizeof(float));
        o->v = calloc(dim, sizeof(float));
        if (!o->m || !o->v) {
            fl_opt_destroy(o);
            return AM_FAIL(AM_ENOMEM, "optimizer: out of memory for %zu moments", dim);
        }
    }
    *out = o;
    return AM_OK;
}

void fl_opt_destroy(fl_opt *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    free(o);
}

void fl_opt_reset(fl_opt *o)
{
    o->t = 0;
    if (o->m) {
        memset(o->m, 0, o->dim * sizeof(float));
        memset(o->v, 0, o->dim * sizeof(float));
    }
}

const fl_opt_cfg *fl_opt_get_cfg(const fl_opt *o)
{
    return &o->cfg;
}

void fl_opt_get_state(const fl_opt *o, uint64_t *t, const float **m, const float **v)
{
    *t = o->t;
    *m = o->m;
    *v = o->v;
}

am_status fl_opt_set_state(fl_opt *o, uint64_t t, const float *m, const float *v)
{
    if (o->cfg.kind == FL_OPT_ADAM) {
        if (!m || !v)
            return AM_FAIL(AM_EINVAL, "optimizer state: Adam needs both moments");
        for (size_t i = 0; i < o->dim; i++)
            if (!isfinite(m[i]) || !isfinite(v[i]) || v[i] < 0.0f)
                return AM_FAIL(
                    AM_EFORMAT,
                    "optimizer state: Adam moment %zu (m %g, v %g) is not finite or v < 0", i,
                    (double)m[i], (double)v[i]);
        memcpy(o->m, m, o->dim * sizeof *o->m);
        memcpy(o->v, v, o->dim * sizeof *o->v);
    }
    o->t = t;
    return AM_OK;
}

/* Adam's update of d parameters (vectorised: the arrays do not overlap, and meta.c is built with
 * -fno-math-errno so that sqrtf is one instruction; the same bytes as the scalar loop). */
FL_CLONES static void adam(float *restrict theta,
                           float *restrict m,
                           float *restrict v,
                           const float *restrict g,
                           size_t d,
                           float gs,
                           float lr,
                           float b1,
                           float b2,
                           float c1,
                           float c2,
                           float eps)
{
    for (size_t i = 0; i < d; i++) {
        const float gi = gs == 1.0f ? g[i] : gs * g[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        theta[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}

void fl_opt_step(fl_opt *o, float *theta, const float *g)
{
    const size_t d = o->dim;
    float lr = o->cfg.lr;
    float gs = 1.0f; /* clipping scale of g */
    if (o->cfg.clip > 0.0f) {
        double n2 = 0.0;
        for (size_t i = 0; i < d; i++)
            n2 += (double)g[i] * g[i];
        const double n = sqrt(n2);
        if (n > (double)o->cfg.clip)
            gs = (float)((double)o->cfg.clip / n);
    }
    if (o->cfg.kind == FL_OPT_SGD) {
        lr *= gs;
        for (size_t i = 0; i < d; i++)
            theta[i] -= lr * g[i];
        return;
    }
    o->t++;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const double t = (double)o->t;
    const float c1 = (float)(1.0 / (1.0 - pow((double)b1, t)));
    const float c2 = (float)(1.0 / (1.0 - pow((double)b2, t)));
    adam(theta, o->m, o->v, g, d, gs, lr, b1, b2, c1, c2, eps);
}
