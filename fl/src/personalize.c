/* fl/personalize: fine-tuning from the meta-model and evaluation before/after for training and
 * new agents. docs/paper.md §1 (fine-tuning, generalisation gap); issue 3 item 5. */
#include "fl/personalize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fl_personalizer {
    size_t nparams, in_dim, out_dim, support_n, query_n;
    float *phi, *grad;
    fl_task_buf *buf;
};

/* Welford running mean / variance in double. */
typedef struct welford {
    unsigned n;
    double mean, m2;
} welford;

static void welford_add(welford *w, double x)
{
    w->n++;
    double d = x - w->mean;
    w->mean += d / w->n;
    w->m2 += d * (x - w->mean);
}

static double welford_se(const welford *w)
{
    return w->n > 1 ? sqrt(w->m2 / (w->n - 1) / w->n) : 0.0;
}

void fl_personalize_cfg_default(fl_personalize_cfg *cfg)
{
    cfg->steps = 1;
    cfg->alpha = 0.01f;
    cfg->n_tasks = 100;
}

static am_status check_shapes(const fl_model *m, const fl_task_family *f, const char *who)
{
    size_t ns = fl_task_support_size(f), nq = fl_task_query_size(f);
    if (fl_model_in_dim(m) != fl_task_in_dim(f) || fl_model_out_dim(m) != fl_task_out_dim(f))
        return AM_FAIL(AM_EINVAL, "%s: model %s has %zu inputs / %zu outputs, tasks need %zu / %zu",
                       who, fl_model_describe(m), fl_model_in_dim(m), fl_model_out_dim(m),
                       fl_task_in_dim(f), fl_task_out_dim(f));
    if (fl_model_max_batch(m) < ns || fl_model_max_batch(m) < nq)
        return AM_FAIL(AM_EINVAL,
                       "%s: model max batch %zu below the task's support (%zu) or query (%zu) size",
                       who, fl_model_max_batch(m), ns, nq);
    return AM_OK;
}

am_status fl_personalizer_create(const fl_model *m, const fl_task_family *f, fl_personalizer **out)
{
    if (out == NULL || m == NULL || f == NULL)
        return AM_FAIL(AM_EINVAL, "fl_personalizer_create: NULL argument");
    *out = NULL;
    am_status s = check_shapes(m, f, "personalizer");
    if (s != AM_OK)
        return s;
    fl_personalizer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return AM_FAIL(AM_ENOMEM, "personalizer: out of memory");
    p->nparams = fl_model_nparams(m);
    p->in_dim = fl_task_in_dim(f);
    p->out_dim = fl_task_out_dim(f);
    p->support_n = fl_task_support_size(f);
    p->query_n = fl_task_query_size(f);
    p->phi = malloc(p->nparams * sizeof *p->phi);
    p->grad = malloc(p->nparams * sizeof *p->grad);
    if (p->phi == NULL || p->grad == NULL) {
        size_t np = p->nparams;
        fl_personalizer_destroy(p);
        return AM_FAIL(AM_ENOMEM, "personalizer: out of memory for %zu parameters", np);
    }
    if ((s = fl_task_buf_create(f, &p->buf)) != AM_OK) {
        fl_personalizer_destroy(p);
        return s;
    }
    *out = p;
    return AM_OK;
}

void fl_personalizer_destroy(fl_personalizer *p)
{
    if (p == NULL)
        return;
    free(p->phi);
    free(p->grad);
    fl_task_buf_destroy(p->buf);
    free(p);
}

am_status fl_personalize_adapt(fl_personalizer *p,
                               fl_model *m,
                               const float *theta,
                               const fl_batch *support,
                               fl_loss loss,
                               unsigned steps,
                               float alpha,
                               float *phi)
{
    if (p == NULL || m == NULL || theta == NULL || support == NULL || phi == NULL)
        return AM_FAIL(AM_EINVAL, "fl_personalize_adapt: NULL argument");
    if (fl_model_nparams(m) != p->nparams)
        return AM_FAIL(AM_EINVAL,
                       "fl_personalize_adapt: model has %zu parameters, personalizer "
                       "was made for %zu",
                       fl_model_nparams(m), p->nparams);
    if (!isfinite(alpha))
        return AM_FAIL(AM_EINVAL, "fl_personalize_adapt: step size alpha = %g", (double)alpha);
    if (phi == theta)
        return AM_FAIL(AM_EINVAL, "fl_personalize_adapt: phi may not alias theta");
    size_t D = p->nparams;
    memcpy(phi, theta, D * sizeof *phi);
    for (unsigned t = 0; t < steps; t++) {
        float l;
        am_status s = fl_model_loss_grad(m, phi, support, loss, &l, p->grad);
        if (s != AM_OK)
            return am_error_wrap(s, "fine-tuning step %u of %u (alpha %g)", t + 1, steps,
                                 (double)alpha);
        for (size_t i = 0; i < D; i++)
            phi[i] -= alpha * p->grad[i];
    }
    return AM_OK;
}

/* Query loss and (classification) accuracy of parameters w. */
static am_status
query_eval(fl_model *m, const float *w, const fl_batch *q, fl_loss loss, float *l, float *acc)
{
    am_status s = fl_model_loss_grad(m, w, q, loss, l, NULL);
    if (s != AM_OK)
        return s;
    if (loss == FL_LOSS_XENT)
        return fl_model_accuracy(m, w, q, acc);
    *acc = NAN;
    return AM_OK;
}

am_status fl_personalize_eval(fl_personalizer *p,
                              fl_model *m,
                              const fl_task_family *f,
                              const float *theta,
                              fl_agent_set set,
                              const fl_personalize_cfg *cfg,
                              am_rng *rng,
                              fl_eval_stats *out)
{
    if (p == NULL || m == NULL || f == NULL || theta == NULL || cfg == NULL || rng == NULL ||
        out == NULL)
        return AM_FAIL(AM_EINVAL, "fl_personalize_eval: NULL argument");
    am_status s = check_shapes(m, f, "fl_personalize_eval");
    if (s != AM_OK)
        return s;
    if (fl_model_nparams(m) != p->nparams || fl_task_in_dim(f) != p->in_dim ||
        fl_task_out_dim(f) != p->out_dim || fl_task_support_size(f) != p->support_n ||
        fl_task_query_size(f) != p->query_n)
        return AM_FAIL(AM_EINVAL,
                       "fl_personalize_eval: model or task family shaped unlike at create");
    if (set != FL_AGENTS_TRAIN && set != FL_AGENTS_NEW && set != FL_AGENTS_OWN)
        return AM_FAIL(AM_EINVAL, "fl_personalize_eval: bad agent set %d", (int)set);
    if (cfg->n_tasks == 0)
        return AM_FAIL(AM_EINVAL, "fl_personalize_eval: n_tasks = 0");
    if (!isfinite(cfg->alpha))
        return AM_FAIL(AM_EINVAL, "fl_personalize_eval: step size alpha = %g", (double)cfg->alpha);
    for (size_t i = 0; i < p->nparams; i++)
        if (!isfinite(theta[i]))
            return AM_FAIL(AM_EINVAL, "fl_personalize_eval: theta[%zu] = %g is not finite", i,
                           (double)theta[i]);
    const fl_task_cfg *tc = fl_task_family_cfg(f);
    const int own = set == FL_AGENTS_OWN;
    unsigned first = set == FL_AGENTS_NEW ? tc->n_train_agents : 0;
    unsigned count = set == FL_AGENTS_NEW ? tc->n_new_agents : tc->n_train_agents;
    if (count == 0)
        return AM_FAIL(AM_EINVAL, "fl_personalize_eval: the family has no %s agents",
                       set == FL_AGENTS_NEW ? "new" : "training");
    if (own && tc->pool == 0)
        return AM_FAIL(AM_EINVAL, "fl_personalize_eval: own data asked, the agents have no pool");
    unsigned n_tasks = cfg->n_tasks;
    if (own && (uint64_t)count * tc->pool < n_tasks)
        n_tasks = count * tc->pool;
    fl_loss loss = fl_task_loss(f);
    welford lb = {0}, la = {0}, ab = {0}, aa = {0};
    for (unsigned t = 0; t < n_tasks; t++) {
        unsigned agent = first + t % count;
        s = own ? fl_task_sample_pool(f, agent, t / count, p->buf)
                : fl_task_sample(f, agent, rng, p->buf);
        if (s != AM_OK)
            return s;
        float l, acc;
        if ((s = query_eval(m, theta, &p->buf->query, loss, &l, &acc)) != AM_OK)
            return am_error_wrap(s, "evaluating theta on agent %u's query set", agent);
        welford_add(&lb, l);
        welford_add(&ab, acc);
        s = fl_personalize_adapt(p, m, theta, &p->buf->support, loss, cfg->steps, cfg->alpha,
                                 p->phi);
        if (s != AM_OK)
            return am_error_wrap(s, "fine-tuning agent %u", agent);
        if ((s = query_eval(m, p->phi, &p->buf->query, loss, &l, &acc)) != AM_OK)
            return am_error_wrap(s, "evaluating agent %u's fine-tuned model", agent);
        welford_add(&la, l);
        welford_add(&aa, acc);
    }
    out->n_tasks = n_tasks;
    out->loss_before = lb.mean;
    out->loss_before_se = welford_se(&lb);
    out->loss_after = la.mean;
    out->loss_after_se = welford_se(&la);
    int cls = loss == FL_LOSS_XENT;
    out->acc_before = cls ? ab.mean : NAN;
    out->acc_before_se = cls ? welford_se(&ab) : NAN;
    out->acc_after = cls ? aa.mean : NAN;
    out->acc_after_se = cls ? welford_se(&aa) : NAN;
    return AM_OK;
}

am_status fl_personalize_report_get(fl_personalizer *p,
                                    fl_model *m,
                                    const fl_task_family *f,
                                    const float *theta,
                                    const fl_personalize_cfg *cfg,
                                    am_rng *rng,
                                    fl_personalize_report *out)
{
    if (out == NULL)
        return AM_FAIL(AM_EINVAL, "fl_personalize_report_get: NULL argument");
    am_status s = fl_personalize_eval(p, m, f, theta, FL_AGENTS_TRAIN, cfg, rng, &out->train);
    if (s != AM_OK)
        return s;
    if ((s = fl_personalize_eval(p, m, f, theta, FL_AGENTS_NEW, cfg, rng, &out->fresh)) != AM_OK)
        return s;
    out->gap_loss = out->fresh.loss_after - out->train.loss_after;
    out->gap_acc = out->train.acc_after - out->fresh.acc_after;
    memset(&out->own, 0, sizeof out->own);
    out->gap_paper = out->gap_paper_acc = NAN;
    if (fl_task_family_cfg(f)->pool == 0)
        return AM_OK;
    if ((s = fl_personalize_eval(p, m, f, theta, FL_AGENTS_OWN, cfg, rng, &out->own)) != AM_OK)
        return s;
    out->gap_paper = out->fresh.loss_after - out->own.loss_after;
    out->gap_paper_acc = out->own.acc_after - out->fresh.acc_after;
    return AM_OK;
}
