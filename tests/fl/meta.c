/* fl/meta: the MAML meta-gradient against central finite differences of the MAML objective,
 * Per-FedAvg HF against exact Hessian-vector products, Reptile / first-order rules against their
 * definitions, the local meta-update, and Adam against a hand computation. */
#include "fl/meta.h"
#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/model.h"

enum { NS = 10, NQ = 12 };

typedef struct toy {
    fl_model *m;
    size_t D;
    float *theta;
    float sx[NS], sy[NS], qx[NQ], qy[NQ];
    fl_batch s, q;
} toy;

/* MLP 1-12-12-1 and one sinusoid-like task (A sin(x - p) on x in [-5, 5]). */
static int toy_make(toy *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    const unsigned widths[] = {1, 12, 12, 1};
    fl_mlp_cfg mc = {widths, 4, 32, FL_INIT_HE};
    if (fl_model_create_mlp(&mc, &t->m) != AM_OK)
        return -1;
    t->D = fl_model_nparams(t->m);
    t->theta = malloc(t->D * sizeof(float));
    am_rng r;
    am_rng_seed(&r, seed);
    if (!t->theta || fl_model_init(t->m, t->theta, &r) != AM_OK)
        return -1;
    const double A = 1.0 + 2.0 * am_rng_uniform(&r), p = 3.0 * am_rng_uniform(&r);
    for (int i = 0; i < NS; i++) {
        t->sx[i] = (float)am_rng_uniform_range(&r, -5, 5);
        t->sy[i] = (float)(A * sin(t->sx[i] - p));
    }
    for (int i = 0; i < NQ; i++) {
        t->qx[i] = (float)am_rng_uniform_range(&r, -5, 5);
        t->qy[i] = (float)(A * sin(t->qx[i] - p));
    }
    t->s = (fl_batch){t->sx, t->sy, NULL, NS};
    t->q = (fl_batch){t->qx, t->qy, NULL, NQ};
    return 0;
}

static void toy_free(toy *t)
{
    fl_model_destroy(t->m);
    free(t->theta);
}

/* MAML objective F(theta) = L_Q(phi_n), phi_{j+1} = phi_j - alpha grad L_S(phi_j), evaluated
 * through fl_model_loss_grad only (the independent path). */
static double
maml_objective(toy *t, const float *theta, unsigned n, float alpha, float *w1, float *w2)
{
    float l;
    memcpy(w1, theta, t->D * sizeof(float));
    for (unsigned j = 0; j < n; j++) {
        fl_model_loss_grad(t->m, w1, &t->s, FL_LOSS_MSE, &l, w2);
        for (size_t i = 0; i < t->D; i++)
            w1[i] -= alpha * w2[i];
    }
    fl_model_loss_grad(t->m, w1, &t->q, FL_LOSS_MSE, &l, NULL);
    return l;
}

static void check_maml_fd(unsigned n, float alpha, uint64_t seed)
{
    toy t;
    AM_REQUIRE(toy_make(&t, seed) == 0, "toy model: %s", am_last_error());
    const size_t D = t.D;
    fl_meta_cfg mc;
    fl_meta_cfg_default(&mc);
    mc.inner_steps = n;
    mc.alpha = alpha;
    fl_meta *maml = NULL, *fo = NULL;
    AM_REQUIRE_OK(fl_meta_create(&mc, t.m, NQ, &maml));
    mc.learner = FL_LEARNER_FOMAML;
    AM_REQUIRE_OK(fl_meta_create(&mc, t.m, NQ, &fo));
    float *g = malloc(D * sizeof *g), *gfo = malloc(D * sizeof *gfo), *d = malloc(D * sizeof *d),
          *tp = malloc(D * sizeof *tp), *w1 = malloc(D * sizeof *w1), *w2 = malloc(D * sizeof *w2);
    float ql = 0, ql_fo = 0;
    AM_REQUIRE_OK(fl_meta_task_grad(maml, t.m, t.theta, &t.s, &t.q, FL_LOSS_MSE, g, &ql));
    AM_REQUIRE_OK(fl_meta_task_grad(fo, t.m, t.theta, &t.s, &t.q, FL_LOSS_MSE, gfo, &ql_fo));
    const double F0 = maml_objective(&t, t.theta, n, alpha, w1, w2);
    AM_CHECK_NEAR(ql, F0, 1e-5 * (1.0 + F0));
    am_rng r;
    am_rng_seed(&r, seed + 100);
    double worst = 0.0, fo_gap = 0.0;
    const int ndir = 8;
    for (int dir = 0; dir < ndir; dir++) {
        /* direction: random unit vector; dir 0 is the meta-gradient itself */
        double nd = 0;
        for (size_t i = 0; i < D; i++) {
            d[i] = dir == 0 ? g[i] : (float)am_rng_normal(&r);
            nd += (double)d[i] * d[i];
        }
        nd = sqrt(nd);
        for (size_t i = 0; i < D; i++)
            d[i] = (float)(d[i] / nd);
        const double eps = 1e-3;
        for (size_t i = 0; i < D; i++)
            tp[i] = t.theta[i] + (float)eps * d[i];
        const double fp = maml_objective(&t, tp, n, alpha, w1, w2);
        for (size_t i = 0; i < D; i++)
            tp[i] = t.theta[i] - (float)eps * d[i];
        const double fm = maml_objective(&t, tp, n, alpha, w1, w2);
        const double fd = (fp - fm) / (2 * eps);
        double an = 0, afo = 0, gn = 0;
        for (size_t i = 0; i < D; i++) {
            an += (double)g[i] * d[i];
            afo += (double)gfo[i] * d[i];
            gn += (double)g[i] * g[i];
        }
        gn = sqrt(gn);
        const double err = fabs(an - fd) / gn;
        worst = err > worst ? err : worst;
        fo_gap = fabs(afo - fd) / gn > fo_gap ? fabs(afo - fd) / gn : fo_gap;
        AM_CHECK(err < 1e-2, "n=%u dir %d: analytic %.6g, finite difference %.6g (|g| = %.3g)", n,
                 dir, an, fd, gn);
    }
    printf("MAML n=%u alpha=%g: %d directions, worst |g.d - FD| / |g| = %.2e "
           "(first-order MAML: %.2e)\n",
           n, (double)alpha, ndir, worst, fo_gap);
    /* The test has teeth: dropping the Hessian term is visible at this alpha. */
    AM_CHECK(fo_gap > 10.0 * worst, "FOMAML (%.2e) indistinguishable from MAML (%.2e)", fo_gap,
             worst);
    free(g), free(gfo), free(d), free(tp), free(w1), free(w2);
    fl_meta_destroy(maml);
    fl_meta_destroy(fo);
    toy_free(&t);
}

AM_TEST(maml_grad_fd_one_step, unit)
{
    check_maml_fd(1, 0.1f, 1);
    check_maml_fd(1, 0.05f, 2);
}

AM_TEST(maml_grad_fd_three_steps, unit)
{
    check_maml_fd(3, 0.01f, 3);
    check_maml_fd(2, 0.02f, 4);
}

/* Per-FedAvg HF (one inner step): g = grad_{D'}(theta') - alpha H_{D''}(theta) grad_{D'}(theta')
 * with D', D'' the alternate halves of the query set. Compared with the same expression built
 * from the exact fl_model_hvp on halves the test splits itself: the difference is the
 * finite-difference error, O(delta^2) plus float rounding. */
AM_TEST(perfedavg_hf_vs_exact, unit)
{
    toy t;
    AM_REQUIRE(toy_make(&t, 7) == 0, "toy: %s", am_last_error());
    const size_t D = t.D;
    fl_meta_cfg mc;
    fl_meta_cfg_default(&mc);
    mc.learner = FL_LEARNER_PERFEDAVG_HF;
    mc.alpha = 0.1f;
    mc.hf_delta = 1e-3f;
    fl_meta *hf = NULL;
    AM_REQUIRE_OK(fl_meta_create(&mc, t.m, NQ, &hf));
    float *g = malloc(D * sizeof *g), *p1 = malloc(D * sizeof *p1), *v = malloc(D * sizeof *v),
          *hv = malloc(D * sizeof *hv);
    float ql, l;
    AM_REQUIRE_OK(fl_meta_task_grad(hf, t.m, t.theta, &t.s, &t.q, FL_LOSS_MSE, g, &ql));
    float ax[NQ], ay[NQ], bx[NQ], by[NQ];
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < NQ; i++) {
        if (i % 2 == 0) {
            ax[na] = t.qx[i];
            ay[na++] = t.qy[i];
        } else {
            bx[nb] = t.qx[i];
            by[nb++] = t.qy[i];
        }
    }
    fl_batch da = {ax, ay, NULL, na}, db = {bx, by, NULL, nb};
    AM_REQUIRE_OK(fl_model_loss_grad(t.m, t.theta, &t.s, FL_LOSS_MSE, &l, p1));
    for (size_t i = 0; i < D; i++)
        p1[i] = t.theta[i] - mc.alpha * p1[i];
    AM_REQUIRE_OK(fl_model_loss_grad(t.m, p1, &da, FL_LOSS_MSE, &l, v));
    AM_CHECK_NEAR(ql, l, 1e-6 * (1.0 + l));
    AM_REQUIRE_OK(fl_model_hvp(t.m, t.theta, &db, FL_LOSS_MSE, v, hv));
    double e = 0, n2 = 0, hterm = 0;
    for (size_t i = 0; i < D; i++) {
        double ref = (double)v[i] - mc.alpha * (double)hv[i];
        e += (g[i] - ref) * (g[i] - ref);
        n2 += ref * ref;
        hterm += (double)mc.alpha * hv[i] * mc.alpha * hv[i];
    }
    printf("Per-FedAvg HF vs exact H v: relative error %.2e (Hessian term / gradient %.2e)\n",
           sqrt(e / n2), sqrt(hterm / n2));
    AM_CHECK(sqrt(e / n2) < 1e-2, "HF relative error %.3g", sqrt(e / n2));
    AM_CHECK(sqrt(hterm / n2) > 10 * sqrt(e / n2), "the Hessian term is too small to be tested");
    free(g), free(p1), free(v), free(hv);
    fl_meta_destroy(hf);
    toy_free(&t);
}

/* Reptile: g = (theta - phi_n) / (alpha n) with n SGD steps on the support set. */
AM_TEST(reptile_rule, unit)
{
    toy t;
    AM_REQUIRE(toy_make(&t, 9) == 0, "toy: %s", am_last_error());
    const size_t D = t.D;
    fl_meta_cfg mc;
    fl_meta_cfg_default(&mc);
    mc.learner = FL_LEARNER_REPTILE;
    mc.inner_steps = 4;
    mc.alpha = 0.02f;
    fl_meta *q = NULL;
    AM_REQUIRE_OK(fl_meta_create(&mc, t.m, NQ, &q));
    float *g = malloc(D * sizeof *g), *p = malloc(D * sizeof *p), *gr = malloc(D * sizeof *gr);
    float ql, l;
    AM_REQUIRE_OK(fl_meta_task_grad(q, t.m, t.theta, &t.s, &t.q, FL_LOSS_MSE, g, &ql));
    memcpy(p, t.theta, D * sizeof *p);
    for (int j = 0; j < 4; j++) {
        fl_model_loss_grad(t.m, p, &t.s, FL_LOSS_MSE, &l, gr);
        for (size_t i = 0; i < D; i++)
            p[i] -= 0.02f * gr[i];
    }
    double e = 0, n2 = 0;
    for (size_t i = 0; i < D; i++) {
        double ref = ((double)t.theta[i] - p[i]) / (0.02 * 4);
        e += (g[i] - ref) * (g[i] - ref);
        n2 += ref * ref;
    }
    AM_CHECK(sqrt(e / n2) < 1e-4, "Reptile direction off by %.3g (relative)", sqrt(e / n2));
    fl_model_loss_grad(t.m, p, &t.q, FL_LOSS_MSE, &l, NULL);
    AM_CHECK_NEAR(ql, l, 1e-6 * (1.0 + l));
    free(g), free(p), free(gr);
    fl_meta_destroy(q);
    toy_free(&t);
}

/* A sampler that cycles through a fixed list of tasks. */
typedef struct cyc {
    toy *tasks;
    int n, next;
} cyc;

static am_status cyc_sample(void *ctx, am_rng *rng, const fl_batch **s, const fl_batch **q)
{
    (void)rng;
    cyc *c = ctx;
    toy *t = &c->tasks[c->next++ % c->n];
    *s = &t->s;
    *q = &t->q;
    return AM_OK;
}

/* u = mean of the meta-gradients along the local trajectory: with L = 2 and 3 tasks per
 * iteration, u = (g1 + g2)/2, g1 = mean of 3 task grads at theta, g2 at theta - lr g1. */
AM_TEST(local_update_definition, unit)
{
    toy t[3];
    for (int i = 0; i < 3; i++)
        AM_REQUIRE(toy_make(&t[i], 20 + (uint64_t)i) == 0, "toy: %s", am_last_error());
    const size_t D = t[0].D;
    const float *theta = t[0].theta;
    fl_meta_cfg mc;
    fl_meta_cfg_default(&mc);
    mc.tasks = 3;
    mc.local_iters = 2;
    mc.local_lr = 0.05f;
    mc.alpha = 0.05f;
    fl_meta *q = NULL, *one = NULL;
    AM_REQUIRE_OK(fl_meta_create(&mc, t[0].m, NQ, &q));
    AM_REQUIRE_OK(fl_meta_create(&mc, t[0].m, NQ, &one));
    float *u = malloc(D * sizeof *u), *g1 = calloc(D, sizeof *g1), *g2 = calloc(D, sizeof *g2),
          *gt = malloc(D * sizeof *gt), *p = malloc(D * sizeof *p);
    cyc c = {t, 3, 0};
    float lu = 0;
    AM_REQUIRE_OK(
        fl_meta_local_update(q, t[0].m, theta, FL_LOSS_MSE, cyc_sample, &c, NULL, u, &lu));
    double lref = 0;
    for (int i = 0; i < 3; i++) {
        float l;
        AM_REQUIRE_OK(fl_meta_task_grad(one, t[0].m, theta, &t[i].s, &t[i].q, FL_LOSS_MSE, gt, &l));
        lref += l;
        for (size_t j = 0; j < D; j++)
            g1[j] += gt[j] / 3.0f;
    }
    for (size_t j = 0; j < D; j++)
        p[j] = theta[j] - 0.05f * g1[j];
    for (int i = 0; i < 3; i++) {
        float l;
        AM_REQUIRE_OK(fl_meta_task_grad(one, t[0].m, p, &t[i].s, &t[i].q, FL_LOSS_MSE, gt, &l));
        lref += l;
        for (size_t j = 0; j < D; j++)
            g2[j] += gt[j] / 3.0f;
    }
    double e = 0, n2 = 0;
    for (size_t j = 0; j < D; j++) {
        double ref = 0.5 * ((double)g1[j] + g2[j]);
        e += (u[j] - ref) * (u[j] - ref);
        n2 += ref * ref;
    }
    AM_CHECK(sqrt(e / n2) < 1e-5, "u off by %.3g (relative)", sqrt(e / n2));
    AM_CHECK_NEAR(lu, lref / 6.0, 1e-5 * (1 + lref));
    free(u), free(g1), free(g2), free(gt), free(p);
    fl_meta_destroy(q);
    fl_meta_destroy(one);
    for (int i = 0; i < 3; i++)
        toy_free(&t[i]);
}

AM_TEST(adam_by_hand, unit)
{
    fl_opt_cfg oc;
    fl_opt_cfg_default(&oc);
    oc.lr = 0.1f;
    fl_opt *o = NULL;
    AM_REQUIRE_OK(fl_opt_create(&oc, 2, &o));
    float th[2] = {1.0f, -2.0f};
    const float g1[2] = {0.5f, -4.0f}, g2[2] = {-1.0f, 2.0f};
    fl_opt_step(o, th, g1);
    /* step 1: mhat = g, vhat = g^2 -> theta -= lr * sign(g) (up to eps) */
    AM_CHECK_NEAR(th[0], 0.9, 1e-6);
    AM_CHECK_NEAR(th[1], -1.9, 1e-6);
    fl_opt_step(o, th, g2);
    for (int i = 0; i < 2; i++) {
        double m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i];
        double v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * g2[i] * g2[i];
        double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
        double want = (i == 0 ? 0.9 : -1.9) - 0.1 * mh / (sqrt(vh) + 1e-8);
        AM_CHECK_NEAR(th[i], want, 1e-5);
    }
    fl_opt_destroy(o);
    oc.kind = FL_OPT_SGD;
    AM_REQUIRE_OK(fl_opt_create(&oc, 2, &o));
    fl_opt_step(o, th, g1);
    fl_opt_destroy(o);
    oc.lr = NAN;
    AM_CHECK(fl_opt_create(&oc, 2, &o) == AM_EINVAL, "NaN step accepted");
    oc.lr = 0.1f;
    oc.kind = FL_OPT_ADAM;
    oc.beta2 = 1.0f;
    AM_CHECK(fl_opt_create(&oc, 2, &o) == AM_EINVAL, "beta2 = 1 accepted");
}

/* Gradient-norm clipping: SGD steps by lr * g * C / ||g|| when ||g|| > C (g = (3, -4), norm 5,
 * C 1 -> (0.6, -0.8) * lr), by lr * g below it; Adam sees the clipped g (its first step is
 * lr * sign either way, the second differs from the unclipped run); bad clip refused. */
AM_TEST(opt_clip, unit)
{
    fl_opt_cfg oc;
    fl_opt_cfg_default(&oc);
    AM_CHECK(oc.clip == 0.0f, "clip off by default");
    oc.kind = FL_OPT_SGD;
    oc.lr = 0.5f;
    oc.clip = 1.0f;
    fl_opt *o = NULL;
    AM_REQUIRE_OK(fl_opt_create(&oc, 2, &o));
    float th[2] = {0.0f, 0.0f};
    const float g[2] = {3.0f, -4.0f}, small[2] = {0.3f, -0.4f};
    fl_opt_step(o, th, g);
    AM_CHECK_NEAR(th[0], -0.5 * 0.6, 1e-7);
    AM_CHECK_NEAR(th[1], 0.5 * 0.8, 1e-7);
    fl_opt_step(o, th, small); /* norm 0.5 < 1: unclipped */
    AM_CHECK_NEAR(th[0], -0.3 - 0.15, 1e-7);
    AM_CHECK_NEAR(th[1], 0.4 + 0.2, 1e-7);
    fl_opt_destroy(o);
    /* Adam: clipped g = (0.6, -0.8) then g again -> second step as by hand on the clipped g */
    oc.kind = FL_OPT_ADAM;
    oc.lr = 0.1f;
    AM_REQUIRE_OK(fl_opt_create(&oc, 2, &o));
    float ta[2] = {0.0f, 0.0f};
    fl_opt_step(o, ta, g);
    fl_opt_step(o, ta, small);
    const double gc[2] = {0.6, -0.8}, gs[2] = {0.3, -0.4};
    for (int i = 0; i < 2; i++) {
        double m = 0.9 * 0.1 * gc[i] + 0.1 * gs[i];
        double v = 0.999 * 0.001 * gc[i] * gc[i] + 0.001 * gs[i] * gs[i];
        double want = -0.1 * (gc[i] > 0 ? 1 : -1) -
                      0.1 * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
        AM_CHECK_NEAR(ta[i], want, 1e-5);
    }
    fl_opt_destroy(o);
    oc.clip = -1.0f;
    AM_CHECK(fl_opt_create(&oc, 2, &o) == AM_EINVAL && o == NULL, "negative clip accepted");
    oc.clip = INFINITY;
    AM_CHECK(fl_opt_create(&oc, 2, &o) == AM_EINVAL, "infinite clip accepted");
}

AM_TEST(bad_config, unit)
{
    toy t;
    AM_REQUIRE(toy_make(&t, 1) == 0, "toy: %s", am_last_error());
    fl_meta_cfg mc;
    fl_meta_cfg_default(&mc);
    fl_meta *q = NULL;
    mc.inner_steps = 0;
    AM_CHECK(fl_meta_create(&mc, t.m, NQ, &q) == AM_EINVAL, "0 inner steps accepted");
    fl_meta_cfg_default(&mc);
    mc.alpha = -1;
    AM_CHECK(fl_meta_create(&mc, t.m, NQ, &q) == AM_EINVAL, "negative alpha accepted");
    fl_meta_cfg_default(&mc);
    mc.learner = FL_LEARNER_PERFEDAVG_HF;
    AM_CHECK(fl_meta_create(&mc, t.m, 1, &q) == AM_EINVAL, "HF with 1 query sample accepted");
    AM_CHECK(q == NULL, "failed create left an object");
    fl_learner l;
    AM_CHECK(fl_learner_parse("perfedavg-hf", &l) == AM_OK && l == FL_LEARNER_PERFEDAVG_HF, "hf");
    AM_CHECK(fl_learner_parse("maml2", &l) == AM_EINVAL, "maml2 accepted");
    fl_meta_destroy(NULL);
    fl_opt_destroy(NULL);
    toy_free(&t);
}
