/* tests/fl/personalize: fine-tuning against closed forms (linear model), against an independent
 * re-computation with fl_model_loss_grad, the evaluation statistics against a hand-rolled loop,
 * and fine-tuning gains on sinusoid and Fashion-MNIST tasks. */
#include "fl/personalize.h"
#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/model.h"
#include "fl/task.h"

static fl_model *mlp(const unsigned *w, size_t nw, size_t max_batch)
{
    fl_mlp_cfg c = {.widths = w, .nwidths = nw, .max_batch = max_batch};
    fl_model *m = NULL;
    if (fl_model_create_mlp(&c, &m) != AM_OK)
        fprintf(stderr, "mlp: %s\n", am_last_error());
    return m;
}

static fl_task_family *sinusoid(unsigned shots, unsigned query, float h, uint64_t seed)
{
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.shots = shots;
    c.query = query;
    c.heterogeneity = h;
    c.seed = seed;
    fl_task_family *f = NULL;
    if (fl_task_family_create(&c, &f) != AM_OK)
        fprintf(stderr, "family: %s\n", am_last_error());
    return f;
}

/* What the sinusoid cases share: an MLP 1-40-40-1 (max batch 64) with theta (D floats)
 * initialised from r, a family of 10-shot, 10-query tasks, and a personalizer for the two. */
typedef struct rig {
    fl_model *m;
    fl_task_family *f;
    fl_personalizer *p;
    float *theta;
    size_t D;
} rig;

static am_status rig_make(rig *x, float heterogeneity, uint64_t family_seed, am_rng *r)
{
    static const unsigned w[4] = {1, 40, 40, 1};
    memset(x, 0, sizeof *x);
    x->m = mlp(w, 4, 64);
    x->f = sinusoid(10, 10, heterogeneity, family_seed);
    if (!x->m || !x->f)
        return AM_FAIL(AM_EINVAL, "rig: model or family");
    x->D = fl_model_nparams(x->m);
    if (!(x->theta = malloc(x->D * sizeof *x->theta)))
        return AM_FAIL(AM_ENOMEM, "rig: theta");
    am_status s = fl_model_init(x->m, x->theta, r);
    return s == AM_OK ? fl_personalizer_create(x->m, x->f, &x->p) : s;
}

static void rig_free(rig *x)
{
    fl_personalizer_destroy(x->p);
    fl_task_family_destroy(x->f);
    fl_model_destroy(x->m);
    free(x->theta);
}

/* Linear model y = w x + b (MLP 1-1, theta = {w, b}): each SGD step on the MSE
 * L = 1/n sum (w x_i + b - y_i)^2 has the closed form dL/dw = 2/n sum r_i x_i, dL/db = 2/n sum r_i.
 */
AM_TEST(linear_closed_form, unit)
{
    const unsigned w[2] = {1, 1};
    fl_model *m = mlp(w, 2, 64);
    fl_task_family *f = sinusoid(10, 10, 0.0f, 3);
    AM_REQUIRE(m && f, "create");
    AM_REQUIRE(fl_model_nparams(m) == 2, "nparams %zu", fl_model_nparams(m));
    fl_personalizer *p = NULL;
    AM_REQUIRE_OK(fl_personalizer_create(m, f, &p));
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    am_rng r;
    am_rng_seed(&r, 8);
    for (int t = 0; t < 5; t++) {
        AM_REQUIRE_OK(fl_task_sample(f, (unsigned)t, &r, b));
        const float theta[2] = {0.3f, -0.2f};
        const float alpha = 0.05f;
        const unsigned steps = 4;
        float phi[2];
        AM_REQUIRE_OK(
            fl_personalize_adapt(p, m, theta, &b->support, FL_LOSS_MSE, steps, alpha, phi));
        double ww = theta[0], bb = theta[1];
        for (unsigned s = 0; s < steps; s++) {
            double gw = 0, gb = 0;
            for (size_t i = 0; i < b->support.n; i++) {
                double res = ww * b->support.x[i] + bb - b->support.y[i];
                gw += 2.0 * res * b->support.x[i] / (double)b->support.n;
                gb += 2.0 * res / (double)b->support.n;
            }
            ww -= alpha * gw;
            bb -= alpha * gb;
        }
        AM_CHECK_NEAR(phi[0], ww, 1e-5 * (1 + fabs(ww)));
        AM_CHECK_NEAR(phi[1], bb, 1e-5 * (1 + fabs(bb)));
    }
    fl_task_buf_destroy(b);
    fl_personalizer_destroy(p);
    fl_task_family_destroy(f);
    fl_model_destroy(m);
}

/* One (and three) SGD steps of personalisation equal theta - alpha * grad with the gradient from
 * fl_model_loss_grad, computed here independently, bit for bit. */
AM_TEST(sgd_steps_exact, unit)
{
    am_rng r;
    am_rng_seed(&r, 2);
    rig x;
    AM_REQUIRE_OK(rig_make(&x, 0.0f, 1, &r));
    const size_t D = x.D;
    float *phi = malloc(D * sizeof *phi), *ref = malloc(D * sizeof *ref),
          *g = malloc(D * sizeof *g);
    AM_REQUIRE(phi && ref && g, "alloc");
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(x.f, &b));
    AM_REQUIRE_OK(fl_task_sample(x.f, 0, &r, b));
    for (unsigned steps = 1; steps <= 3; steps += 2) {
        AM_REQUIRE_OK(
            fl_personalize_adapt(x.p, x.m, x.theta, &b->support, FL_LOSS_MSE, steps, 0.01f, phi));
        memcpy(ref, x.theta, D * sizeof *ref);
        for (unsigned s = 0; s < steps; s++) {
            float l;
            AM_REQUIRE_OK(fl_model_loss_grad(x.m, ref, &b->support, FL_LOSS_MSE, &l, g));
            for (size_t i = 0; i < D; i++)
                ref[i] -= 0.01f * g[i];
        }
        size_t ndiff = 0;
        for (size_t i = 0; i < D; i++)
            ndiff += phi[i] != ref[i];
        AM_CHECK(ndiff == 0, "%zu of %zu parameters differ after %u steps", ndiff, D, steps);
        size_t moved = 0;
        for (size_t i = 0; i < D; i++)
            moved += phi[i] != x.theta[i];
        AM_CHECK(moved > D / 2, "only %zu parameters moved", moved);
    }
    AM_CHECK(fl_personalize_adapt(x.p, x.m, x.theta, &b->support, FL_LOSS_MSE, 1, NAN, phi) ==
                 AM_EINVAL,
             "NaN alpha");
    AM_CHECK(fl_personalize_adapt(x.p, x.m, x.theta, &b->support, FL_LOSS_MSE, 1, 0.1f, x.theta) ==
                 AM_EINVAL,
             "aliasing");
    fl_task_buf_destroy(b);
    rig_free(&x);
    free(phi);
    free(ref);
    free(g);
}

/* fl_personalize_eval against a loop written here from the task and model APIs (task i -> agent
 * first + i mod set size, same rng): means and standard errors agree; steps = 0 gives
 * after == before exactly; fine-tuning from a random init (5 steps, alpha 0.0005) lowers the query
 * MSE on average, by more than 10 paired standard errors. (alpha 0.0005: He-initialised
 * weights make the support loss far steeper than MAML's small init, and 0.01 can diverge.) */
AM_TEST(eval_matches_loop, unit)
{
    am_rng r;
    am_rng_seed(&r, 5);
    rig x;
    AM_REQUIRE_OK(rig_make(&x, 0.3f, 4, &r));
    const size_t D = x.D;
    float *phi = malloc(D * sizeof *phi), *g = malloc(D * sizeof *g);
    AM_REQUIRE(phi && g, "alloc");
    fl_personalize_cfg pc = {.steps = 5, .alpha = 0.0005f, .n_tasks = 300};
    am_rng r1, r2;
    am_rng_seed(&r1, 77);
    am_rng_seed(&r2, 77);
    fl_eval_stats st;
    AM_REQUIRE_OK(fl_personalize_eval(x.p, x.m, x.f, x.theta, FL_AGENTS_NEW, &pc, &r1, &st));

    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(x.f, &b));
    double sb = 0, sb2 = 0, sa = 0, sa2 = 0, sd = 0, sd2 = 0;
    for (unsigned t = 0; t < pc.n_tasks; t++) {
        AM_REQUIRE_OK(fl_task_sample(x.f, 10 + t % 10, &r2, b));
        float lb, la;
        AM_REQUIRE_OK(fl_model_loss_grad(x.m, x.theta, &b->query, FL_LOSS_MSE, &lb, NULL));
        memcpy(phi, x.theta, D * sizeof *phi);
        for (unsigned s = 0; s < pc.steps; s++) {
            float l;
            AM_REQUIRE_OK(fl_model_loss_grad(x.m, phi, &b->support, FL_LOSS_MSE, &l, g));
            for (size_t i = 0; i < D; i++)
                phi[i] -= pc.alpha * g[i];
        }
        AM_REQUIRE_OK(fl_model_loss_grad(x.m, phi, &b->query, FL_LOSS_MSE, &la, NULL));
        sb += lb;
        sb2 += (double)lb * lb;
        sa += la;
        sa2 += (double)la * la;
        sd += lb - la;
        sd2 += (double)(lb - la) * (lb - la);
    }
    double n = pc.n_tasks;
    double mb = sb / n, ma = sa / n;
    double seb = sqrt((sb2 / n - mb * mb) * n / (n - 1) / n);
    double sea = sqrt((sa2 / n - ma * ma) * n / (n - 1) / n);
    double md = sd / n, sed = sqrt((sd2 / n - md * md) / (n - 1));
    AM_CHECK(st.n_tasks == pc.n_tasks, "n_tasks");
    AM_CHECK_NEAR(st.loss_before, mb, 1e-9 * (1 + mb));
    AM_CHECK_NEAR(st.loss_after, ma, 1e-9 * (1 + ma));
    AM_CHECK_NEAR(st.loss_before_se, seb, 1e-6 * seb);
    AM_CHECK_NEAR(st.loss_after_se, sea, 1e-6 * sea);
    AM_CHECK(isnan(st.acc_before) && isnan(st.acc_after), "regression has no accuracy");
    AM_CHECK(md > 10 * sed, "fine-tuning gain %.4f not above 10 paired SE (%.4f)", md, sed);
    printf("sinusoid random init, 5 steps alpha 0.0005: query MSE %.3f -> %.3f (gain %.3f +- %.3f)\n",
           mb, ma, md, sed);

    pc.steps = 0;
    AM_REQUIRE_OK(fl_personalize_eval(x.p, x.m, x.f, x.theta, FL_AGENTS_TRAIN, &pc, &r1, &st));
    AM_CHECK(st.loss_before == st.loss_after && st.loss_before_se == st.loss_after_se,
             "0 steps changed the loss: %g vs %g", st.loss_before, st.loss_after);
    fl_task_buf_destroy(b);
    rig_free(&x);
    free(phi);
    free(g);
}

/* Heterogeneity 0: training and new agents share one task distribution, so the expected
 * generalisation gap is 0: |gap| within 4 standard errors; the gap is the difference of the two
 * sets' after-losses. */
AM_TEST(gap_homogeneous, unit)
{
    am_rng r;
    am_rng_seed(&r, 9);
    rig x;
    AM_REQUIRE_OK(rig_make(&x, 0.0f, 6, &r));
    fl_personalize_cfg pc;
    fl_personalize_cfg_default(&pc);
    pc.n_tasks = 400;
    fl_personalize_report rep;
    AM_REQUIRE_OK(fl_personalize_report_get(x.p, x.m, x.f, x.theta, &pc, &r, &rep));
    AM_CHECK(rep.gap_loss == rep.fresh.loss_after - rep.train.loss_after, "gap definition");
    double se = sqrt(rep.fresh.loss_after_se * rep.fresh.loss_after_se +
                     rep.train.loss_after_se * rep.train.loss_after_se);
    AM_CHECK(fabs(rep.gap_loss) < 4 * se, "gap %.4f beyond 4 SE (%.4f) with identical agents",
             rep.gap_loss, se);
    AM_CHECK(rep.train.n_tasks == 400 && rep.fresh.n_tasks == 400, "tasks");
    rig_free(&x);
}

/* Fashion-MNIST 5-way 5-shot, MLP 784-64-5 from a random init: before fine-tuning accuracy is
 * chance (0.2, within 4 SE); 10 SGD steps (alpha 0.1) on the 25 support images lift the new
 * agents' query accuracy to well above chance (> 0.5; the figure is printed). Accuracy is
 * checked on one task against argmax of fl_model_forward counted here. */
AM_TEST(fmnist_finetune, unit)
{
    fl_task_cfg tc;
    fl_task_cfg_default(&tc, FL_TASK_FMNIST);
    fl_task_family *f = NULL;
    AM_REQUIRE_OK(fl_task_family_create(&tc, &f));
    const unsigned w[3] = {784, 64, 5};
    fl_model *m = mlp(w, 3, 100);
    AM_REQUIRE(m, "model");
    size_t D = fl_model_nparams(m);
    float *theta = malloc(D * sizeof *theta);
    AM_REQUIRE(theta, "alloc");
    am_rng r;
    am_rng_seed(&r, 10);
    AM_REQUIRE_OK(fl_model_init(m, theta, &r));
    fl_personalizer *p = NULL;
    AM_REQUIRE_OK(fl_personalizer_create(m, f, &p));
    fl_personalize_cfg pc = {.steps = 10, .alpha = 0.1f, .n_tasks = 100};
    fl_eval_stats st;
    AM_REQUIRE_OK(fl_personalize_eval(p, m, f, theta, FL_AGENTS_NEW, &pc, &r, &st));
    printf("fmnist 5-way 5-shot, MLP 784-64-5 random init, 10 steps alpha 0.1, new agents: "
           "acc %.3f +- %.3f -> %.3f +- %.3f, loss %.3f -> %.3f\n",
           st.acc_before, st.acc_before_se, st.acc_after, st.acc_after_se, st.loss_before,
           st.loss_after);
    AM_CHECK(fabs(st.acc_before - 0.2) < 4 * st.acc_before_se + 0.02, "before %.3f", st.acc_before);
    AM_CHECK(st.acc_after > 0.5, "after %.3f", st.acc_after);
    AM_CHECK(st.loss_after < st.loss_before, "loss %.3f -> %.3f", st.loss_before, st.loss_after);

    /* accuracy of one task by hand */
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    AM_REQUIRE_OK(fl_task_sample(f, 12, &r, b));
    float *out = malloc(b->query.n * 5 * sizeof *out), acc;
    AM_REQUIRE(out, "alloc");
    AM_REQUIRE_OK(fl_model_forward(m, theta, b->query.x, b->query.n, out));
    AM_REQUIRE_OK(fl_model_accuracy(m, theta, &b->query, &acc));
    unsigned hit = 0;
    for (size_t i = 0; i < b->query.n; i++) {
        int best = 0;
        for (int k = 1; k < 5; k++)
            if (out[i * 5 + k] > out[i * 5 + best])
                best = k;
        hit += best == b->query.label[i];
    }
    AM_CHECK_NEAR(acc, (double)hit / (double)b->query.n, 1e-6);
    free(out);
    fl_task_buf_destroy(b);
    fl_personalizer_destroy(p);
    fl_task_family_destroy(f);
    fl_model_destroy(m);
    free(theta);
}

AM_TEST(bad_input, unit)
{
    const unsigned w[4] = {1, 40, 40, 1}, w2[3] = {2, 8, 1};
    fl_model *m = mlp(w, 4, 64), *m_in = mlp(w2, 3, 64), *m_small = mlp(w, 4, 5);
    fl_task_cfg tc;
    fl_task_cfg_default(&tc, FL_TASK_SINUSOID);
    tc.n_new_agents = 0;
    fl_task_family *f = NULL;
    AM_REQUIRE_OK(fl_task_family_create(&tc, &f));
    AM_REQUIRE(m && m_in && m_small, "models");
    fl_personalizer *p = (fl_personalizer *)1;
    am_status s = fl_personalizer_create(m_in, f, &p);
    AM_CHECK(s == AM_EINVAL && p == NULL && strstr(am_last_error(), "inputs"), "dims: %s",
             am_last_error());
    s = fl_personalizer_create(m_small, f, &p);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "max batch"), "batch: %s", am_last_error());
    AM_CHECK(fl_personalizer_create(NULL, f, &p) == AM_EINVAL, "NULL model");
    AM_REQUIRE_OK(fl_personalizer_create(m, f, &p));
    size_t D = fl_model_nparams(m);
    float *theta = calloc(D, sizeof *theta);
    AM_REQUIRE(theta, "alloc");
    am_rng r;
    am_rng_seed(&r, 1);
    fl_personalize_cfg pc;
    fl_personalize_cfg_default(&pc);
    fl_eval_stats st;
    s = fl_personalize_eval(p, m, f, theta, FL_AGENTS_NEW, &pc, &r, &st);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "no new agents"), "empty set: %s",
             am_last_error());
    theta[7] = NAN;
    s = fl_personalize_eval(p, m, f, theta, FL_AGENTS_TRAIN, &pc, &r, &st);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "theta[7]"), "NaN theta: %s",
             am_last_error());
    theta[7] = 0;
    pc.n_tasks = 0;
    AM_CHECK(fl_personalize_eval(p, m, f, theta, FL_AGENTS_TRAIN, &pc, &r, &st) == AM_EINVAL,
             "0 tasks");
    pc.n_tasks = 10;
    pc.alpha = INFINITY;
    AM_CHECK(fl_personalize_eval(p, m, f, theta, FL_AGENTS_TRAIN, &pc, &r, &st) == AM_EINVAL,
             "Inf alpha");
    pc.alpha = 0.01f;
    AM_CHECK(fl_personalize_eval(p, m_in, f, theta, FL_AGENTS_TRAIN, &pc, &r, &st) == AM_EINVAL,
             "another model");
    AM_CHECK_OK(fl_personalize_eval(p, m, f, theta, FL_AGENTS_TRAIN, &pc, &r, &st));
    /* a diverging fine-tuning is reported, not hidden */
    pc.alpha = 1e30f;
    pc.steps = 3;
    am_rng_seed(&r, 2);
    AM_REQUIRE_OK(fl_model_init(m, theta, &r));
    s = fl_personalize_eval(p, m, f, theta, FL_AGENTS_TRAIN, &pc, &r, &st);
    AM_CHECK(s != AM_OK && strstr(am_last_error(), "fine-tuning"), "divergence: %s %s",
             am_status_str(s), am_last_error());
    fl_personalizer_destroy(p);
    fl_personalizer_destroy(NULL);
    fl_task_family_destroy(f);
    fl_model_destroy(m);
    fl_model_destroy(m_in);
    fl_model_destroy(m_small);
    free(theta);
}
