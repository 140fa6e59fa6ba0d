/* Tests of fl/model.h: forward against closed forms, whole-model gradients against central
 * finite differences (MLP, CNN with and without batch-norm), Hessian-vector products against
 * finite differences of gradients, a closed-form Hessian and symmetry, accuracy, init, clone and
 * bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/model.h"
#include "gradcheck.h"

typedef struct model_ctx {
    fl_model *m;
    float *theta;
    fl_batch b;
    fl_loss loss;
} model_ctx;

static double model_loss(void *p)
{
    model_ctx *c = p;
    float L = NAN;
    am_status s = fl_model_loss_grad(c->m, c->theta, &c->b, c->loss, &L, NULL);
    return s == AM_OK ? L : NAN;
}

/* A batch of n random samples for m: x ~ U(-1, 1) (images: U(0, 1)), targets N(0, 1), labels
 * uniform. Buffers owned by the caller (freed with free()). */
typedef struct data {
    float *x, *y;
    int32_t *label;
} data;

static fl_batch make_batch(const fl_model *m, size_t n, am_rng *r, data *d)
{
    const size_t in = fl_model_in_dim(m), out = fl_model_out_dim(m);
    d->x = malloc(n * in * sizeof *d->x);
    d->y = malloc(n * out * sizeof *d->y);
    d->label = malloc(n * sizeof *d->label);
    if (!d->x || !d->y || !d->label)
        abort();
    gc_fill(d->x, n * in, r, -1, 1);
    gc_fill_normal(d->y, n * out, r, 1.0);
    for (size_t i = 0; i < n; i++)
        d->label[i] = (int32_t)am_rng_below(r, (uint32_t)(out > 1 ? out : 1));
    return (fl_batch){.x = d->x, .y = d->y, .label = d->label, .n = n};
}

static void free_data(data *d)
{
    free(d->x);
    free(d->y);
    free(d->label);
}

/* ---------------------------------------------------------------- forward closed forms */
AM_TEST(mlp_forward_closed_form, unit)
{
    /* 1-2-1: h = relu(x [1, -1] + [0, 0.5]), y = h [2, 3]^T + 0.1
     * x = 2: h = (2, 0) -> 4.1;  x = -1: h = (0, 1.5) -> 4.6;  x = 0.25: h = (0.25, 0.25) -> 1.35
     */
    const unsigned w[] = {1, 2, 1};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 3, .max_batch = 4};
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    AM_CHECK(fl_model_nparams(m) == 2 + 2 + 2 + 1, "nparams %zu", fl_model_nparams(m));
    AM_CHECK(strcmp(fl_model_describe(m), "mlp 1-2-1") == 0, "%s", fl_model_describe(m));
    AM_CHECK(fl_model_default_loss(m) == FL_LOSS_MSE, "default loss");
    const float theta[7] = {1, -1, 0, 0.5f, 2, 3, 0.1f};
    const float x[3] = {2, -1, 0.25f};
    float y[3];
    AM_REQUIRE_OK(fl_model_forward(m, theta, x, 3, y));
    AM_CHECK_NEAR(y[0], 4.1, 1e-6);
    AM_CHECK_NEAR(y[1], 4.6, 1e-6);
    AM_CHECK_NEAR(y[2], 1.35, 1e-6);
    /* MSE against targets (4, 5, 1): ((0.1)^2 + (0.4)^2 + (0.35)^2) / 3 */
    const float t[3] = {4, 5, 1};
    fl_batch b = {.x = x, .y = t, .n = 3};
    float L, g[7];
    AM_REQUIRE_OK(fl_model_loss_grad(m, theta, &b, FL_LOSS_MSE, &L, g));
    AM_CHECK_NEAR(L, (0.01 + 0.16 + 0.1225) / 3, 1e-6);
    /* output bias gradient = 2/3 sum(y - t) = 2/3 (0.1 - 0.4 + 0.35) */
    AM_CHECK_NEAR(g[6], 2.0 / 3 * 0.05, 1e-6);
    fl_model_destroy(m);
}

/* Softmax cross-entropy through the model: a linear 2-3 "MLP" with W = 0 and b = logits gives
 * the closed form of known logits; accuracy counts argmax hits. */
AM_TEST(xent_and_accuracy_closed_form, unit)
{
    const unsigned w[] = {2, 3};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 2, .max_batch = 8};
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    float theta[9] = {0, 0, 0, 0, 0, 0, 0.0f, logf(2.0f), logf(3.0f)};
    const float x[4] = {1, 2, -3, 4};
    const int32_t lab[2] = {2, 0};
    fl_batch b = {.x = x, .label = lab, .n = 2};
    float L, acc;
    /* L = ((ln 6 - ln 3) + (ln 6 - 0)) / 2 */
    AM_REQUIRE_OK(fl_model_loss_grad(m, theta, &b, FL_LOSS_XENT, &L, NULL));
    AM_CHECK_NEAR(L, (log(2.0) + log(6.0)) / 2, 1e-6);
    AM_REQUIRE_OK(fl_model_accuracy(m, theta, &b, &acc));
    AM_CHECK_NEAR(acc, 0.5, 0); /* argmax is class 2 for both samples */
    /* W = [[1, 0, 0], [0, 1, 0]], b = 0: argmax of (x0, x1, 0) */
    float th2[9] = {1, 0, 0, 0, 1, 0, 0, 0, 0};
    const float x2[8] = {3, 1, -1, 2, -1, -2, 0.5f, 0.25f};
    const int32_t l2[4] = {0, 1, 2, 1}; /* argmaxes 0, 1, 2, 0 -> 3 of 4 */
    fl_batch b2 = {.x = x2, .label = l2, .n = 4};
    AM_REQUIRE_OK(fl_model_accuracy(m, th2, &b2, &acc));
    AM_CHECK_NEAR(acc, 0.75, 0);
    fl_model_destroy(m);
}

/* ---------------------------------------------------------------- gradients */
static void check_grad(fl_model *m, fl_loss loss, size_t n, uint64_t seed, double max_bad_frac)
{
    am_rng r;
    am_rng_seed(&r, seed);
    const size_t P = fl_model_nparams(m);
    float *theta = malloc(P * sizeof *theta), *g = malloc(P * sizeof *g);
    AM_REQUIRE(theta && g, "alloc");
    AM_REQUIRE_OK(fl_model_init(m, theta, &r));
    /* biases / BN shifts random too, so every parameter matters */
    for (size_t i = 0; i < P; i++)
        theta[i] += (float)(0.1 * am_rng_normal(&r));
    data d;
    fl_batch b = make_batch(m, n, &r, &d);
    float L;
    AM_REQUIRE_OK(fl_model_loss_grad(m, theta, &b, loss, &L, g));
    AM_CHECK(isfinite(L) && L > 0, "loss %g", (double)L);
    model_ctx c = {m, theta, b, loss};
    AM_CHECK_NEAR(model_loss(&c), L, 0); /* repeatable */
    const size_t bad = gc_entries("grad", model_loss, &c, theta, P, g, 1e-3, 1e-2, 2e-3);
    if (getenv("AM_VERBOSE"))
        fprintf(stderr, "%s: %zu of %zu entries disagree\n", fl_model_describe(m), bad, P);
    AM_CHECK((double)bad <= max_bad_frac * (double)P, "%s: %zu of %zu gradient entries disagree",
             fl_model_describe(m), bad, P);
    for (int k = 0; k < 3; k++)
        AM_CHECK(gc_direction("grad", model_loss, &c, theta, P, g, 1e-3, 1e-2, &r), "%s dir %d",
                 fl_model_describe(m), k);
    free_data(&d);
    free(theta);
    free(g);
}

AM_TEST(mlp_grad_fd, unit)
{
    const unsigned w[] = {3, 7, 5, 2};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 4, .max_batch = 8};
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    check_grad(m, FL_LOSS_MSE, 6, 31, 0.0);
    check_grad(m, FL_LOSS_XENT, 8, 32, 0.0);
    fl_model_destroy(m);
}

static fl_model *small_cnn(unsigned c, unsigned h, unsigned w, unsigned blocks, int bn, size_t mb)
{
    fl_cnn_cfg cfg = {.in_channels = c,
                      .height = h,
                      .width = w,
                      .n_blocks = blocks,
                      .filters = 8,
                      .batchnorm = bn,
                      .n_classes = 3,
                      .max_batch = mb};
    fl_model *m = NULL;
    return fl_model_create_cnn(&cfg, &m) == AM_OK ? m : NULL;
}

/* ReLU / max-pool kinks may sit inside a +-1e-3 step for a few entries: allow 0.5%. */
AM_TEST(cnn_grad_fd, unit)
{
    fl_model *m = small_cnn(1, 12, 12, 2, 0, 6);
    AM_REQUIRE(m, "%s", am_last_error());
    check_grad(m, FL_LOSS_XENT, 5, 41, 0.005);
    fl_model_destroy(m);
    m = small_cnn(2, 11, 9, 2, 0, 4); /* two channels (layout change), odd sizes (floor pools) */
    AM_REQUIRE(m, "%s", am_last_error());
    check_grad(m, FL_LOSS_XENT, 3, 42, 0.005);
    fl_model_destroy(m);
}

AM_TEST(cnn_bn_grad_fd, unit)
{
    fl_model *m = small_cnn(1, 12, 12, 2, 1, 6);
    AM_REQUIRE(m, "%s", am_last_error());
    check_grad(m, FL_LOSS_XENT, 5, 51, 0.005);
    fl_model_destroy(m);
    m = small_cnn(2, 11, 9, 2, 1, 4);
    AM_REQUIRE(m, "%s", am_last_error());
    check_grad(m, FL_LOSS_XENT, 3, 52, 0.005);
    check_grad(m, FL_LOSS_MSE, 4, 53, 0.005);
    fl_model_destroy(m);
}

/* ---------------------------------------------------------------- Hessian-vector products */
typedef struct hv_stats {
    double worst, scale;
} hv_stats;

/* Hv against (grad(theta + e v) - grad(theta - e v)) / (2 e): returns the worst entry error and
 * max |Hv|; also checks symmetry w'Hv = v'Hw and loss_grad_hvp == separate calls. */
static hv_stats check_hvp(fl_model *m, fl_loss loss, size_t n, uint64_t seed, double e)
{
    hv_stats st = {INFINITY, 0};
    am_rng r;
    am_rng_seed(&r, seed);
    const size_t P = fl_model_nparams(m);
    float *theta = malloc(P * sizeof *theta), *v = malloc(P * sizeof *v),
          *w = malloc(P * sizeof *w), *hv = malloc(P * sizeof *hv), *hw = malloc(P * sizeof *hw),
          *gp = malloc(P * sizeof *gp), *gm = malloc(P * sizeof *gm), *tp = malloc(P * sizeof *tp),
          *g = malloc(P * sizeof *g), *hv2 = malloc(P * sizeof *hv2);
    if (!theta || !v || !w || !hv || !hw || !gp || !gm || !tp || !g || !hv2)
        abort();
    if (fl_model_init(m, theta, &r) != AM_OK)
        abort();
    for (size_t i = 0; i < P; i++)
        theta[i] += (float)(0.1 * am_rng_normal(&r));
    /* unit-norm directions: the +-e v step then moves every activation by O(e), so few ReLU /
     * max-pool kinks are crossed (a crossing makes the gradient jump, spoiling the difference) */
    gc_fill_normal(v, P, &r, 1.0);
    gc_fill_normal(w, P, &r, 1.0);
    const double nv = sqrt(gc_dot(v, v, P)), nw = sqrt(gc_dot(w, w, P));
    for (size_t i = 0; i < P; i++) {
        v[i] = (float)(v[i] / nv);
        w[i] = (float)(w[i] / nw);
    }
    data d;
    fl_batch b = make_batch(m, n, &r, &d);
    float L, L2;
    AM_CHECK_OK(fl_model_hvp(m, theta, &b, loss, v, hv));
    AM_CHECK_OK(fl_model_hvp(m, theta, &b, loss, w, hw));
    for (size_t i = 0; i < P; i++)
        tp[i] = (float)(theta[i] + e * v[i]);
    AM_CHECK_OK(fl_model_loss_grad(m, tp, &b, loss, &L, gp));
    for (size_t i = 0; i < P; i++)
        tp[i] = (float)(theta[i] - e * v[i]);
    AM_CHECK_OK(fl_model_loss_grad(m, tp, &b, loss, &L, gm));
    double worst = 0, scale = gc_maxabs(hv, P);
    for (size_t i = 0; i < P; i++) {
        const double fd = ((double)gp[i] - gm[i]) / (2 * e);
        worst = fmax(worst, fabs(fd - hv[i]));
    }
    st.worst = worst;
    st.scale = scale;
    if (getenv("AM_VERBOSE"))
        fprintf(stderr, "%s: worst |FD - Hv| %.3g, max |Hv| %.3g\n", fl_model_describe(m), worst,
                scale);
    const double whv = gc_dot(w, hv, P), vhw = gc_dot(v, hw, P);
    AM_CHECK(fabs(whv - vhw) <= 1e-3 * (fabs(whv) + fabs(vhw)) + 1e-5,
             "%s: w'Hv = %.7g, v'Hw = %.7g", fl_model_describe(m), whv, vhw);
    /* the combined call gives the same loss, gradient and Hv (up to float rounding: the MLP
     * stacks values and R-values into one sgemm, whose blocking may differ) */
    AM_CHECK_OK(fl_model_loss_grad(m, theta, &b, loss, &L, g));
    float *g2 = gp;
    AM_CHECK_OK(fl_model_loss_grad_hvp(m, theta, &b, loss, v, &L2, g2, hv2));
    AM_CHECK_NEAR(L, L2, 1e-6 * fabs(L));
    double eg = 0, eh = 0;
    for (size_t i = 0; i < P; i++) {
        eg = fmax(eg, fabs((double)g[i] - g2[i]));
        eh = fmax(eh, fabs((double)hv[i] - hv2[i]));
    }
    AM_CHECK(eg <= 1e-5 * gc_maxabs(g, P) + 1e-7, "gradient of loss_grad_hvp differs by %.3g", eg);
    AM_CHECK(eh <= 1e-5 * scale + 1e-7, "Hv of loss_grad_hvp differs by %.3g", eh);
    free_data(&d);
    free(theta), free(v), free(w), free(hv), free(hw), free(gp), free(gm), free(tp), free(g),
        free(hv2);
    return st;
}

AM_TEST(mlp_hvp_fd, unit)
{
    const unsigned w[] = {3, 7, 5, 2};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 4, .max_batch = 8};
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    for (int loss = 0; loss < 2; loss++) {
        hv_stats s = check_hvp(m, loss ? FL_LOSS_XENT : FL_LOSS_MSE, 6, 61 + (uint64_t)loss, 1e-3);
        AM_CHECK(s.worst <= 1e-2 * s.scale + 1e-4, "MLP %s Hv: worst |FD - Hv| %.3g, max |Hv| %.3g",
                 loss ? "xent" : "mse", s.worst, s.scale);
    }
    fl_model_destroy(m);
    /* sinusoid shape */
    const unsigned w2[] = {1, 40, 40, 1};
    fl_mlp_cfg c2 = {.widths = w2, .nwidths = 4, .max_batch = 10};
    AM_REQUIRE_OK(fl_model_create_mlp(&c2, &m));
    hv_stats s = check_hvp(m, FL_LOSS_MSE, 10, 63, 1e-3);
    AM_CHECK(s.worst <= 1e-2 * s.scale + 1e-4, "1-40-40-1 Hv: worst %.3g, max %.3g", s.worst,
             s.scale);
    fl_model_destroy(m);
}

/* The MLPs of the Hessian-reuse tests: 1-40-40-1 with MSE (c = 0) and 3-7-5-4 with cross-entropy
 * (c = 1), at an initial theta, with a direction v and a batch of 10. */
typedef struct hv_case {
    fl_model *m;
    size_t D;
    float *th, *v;
    data d;
    fl_batch b;
    fl_loss loss;
    const char *name;
} hv_case;

static int hv_case_make(int c, uint64_t seed, hv_case *k)
{
    static const unsigned w1[] = {1, 40, 40, 1}, w2[] = {3, 7, 5, 4};
    fl_mlp_cfg cfg = {.widths = c ? w2 : w1, .nwidths = 4, .max_batch = 10};
    memset(k, 0, sizeof *k);
    if (fl_model_create_mlp(&cfg, &k->m) != AM_OK)
        return 0;
    k->D = fl_model_nparams(k->m);
    k->th = malloc(k->D * sizeof *k->th);
    k->v = malloc(k->D * sizeof *k->v);
    if (!k->th || !k->v)
        return 0;
    am_rng r;
    am_rng_seed(&r, seed);
    if (fl_model_init(k->m, k->th, &r) != AM_OK)
        return 0;
    gc_fill_normal(k->v, k->D, &r, 1.0);
    k->b = make_batch(k->m, 10, &r, &k->d);
    k->loss = c ? FL_LOSS_XENT : FL_LOSS_MSE;
    k->name = c ? "3-7-5-4 xent" : "1-40-40-1 mse";
    return 1;
}

static void hv_case_free(hv_case *k)
{
    free_data(&k->d); /* zeroed by hv_case_make until made */
    free(k->th);
    free(k->v);
    fl_model_destroy(k->m);
}

/* fl_model_hold: the backward and Hessian passes at a held theta (each layer's W^T made once) give
 * the same bytes as without; after fl_model_release, a theta changed in place is seen again. */
AM_TEST(hold_same_bytes, unit)
{
    for (int c = 0; c < 2; c++) {
        hv_case k;
        AM_REQUIRE(hv_case_make(c, 91 + (uint64_t)c, &k), "set-up failed");
        const size_t D = k.D;
        float *th = k.th;
        float *g0 = malloc(D * sizeof *g0), *h0 = malloc(D * sizeof *h0);
        float *g1 = malloc(D * sizeof *g1), *h1 = malloc(D * sizeof *h1);
        AM_REQUIRE(g0 && h0 && g1 && h1, "out of memory");
        float l0 = 0.0f, l1 = 0.0f;
        for (int round = 0; round < 2; round++) {
            AM_REQUIRE_OK(fl_model_loss_grad(k.m, th, &k.b, k.loss, &l0, g0));
            AM_REQUIRE_OK(fl_model_hvp_again(k.m, th, &k.b, k.loss, k.v, h0));
            fl_model_hold(k.m, th);
            AM_REQUIRE_OK(fl_model_loss_grad(k.m, th, &k.b, k.loss, &l1, g1));
            AM_REQUIRE_OK(fl_model_hvp_again(k.m, th, &k.b, k.loss, k.v, h1));
            AM_CHECK(l0 == l1 && memcmp(g0, g1, D * sizeof *g0) == 0 &&
                         memcmp(h0, h1, D * sizeof *h0) == 0,
                     "%s round %d: held theta not the same bytes", k.name, round);
            fl_model_release(k.m);
            /* round 1 at a theta changed in place after the release: every weight moved, so a
             * stale W^T would show in the gradients */
            for (size_t i = 0; i < D; i++)
                th[i] = 0.9f * th[i] + 0.01f;
        }
        free(g0), free(h0), free(g1), free(h1);
        hv_case_free(&k);
    }
}

/* fl_model_hvp_again right after a loss_grad at the same point reuses that pass's values and
 * deltas: the same H v as fl_model_hvp up to sgemm's rounding (n rows where the full pass stacks
 * 2n; measured max |diff| 3e-5 of max |Hv| 487, i.e. 6e-8 relative, 1-40-40-1 MSE), for MSE and
 * cross-entropy; after any other pass (or another theta) it is exactly fl_model_hvp. */
AM_TEST(hvp_again, unit)
{
    for (int c = 0; c < 2; c++) {
        hv_case k;
        AM_REQUIRE(hv_case_make(c, 71 + (uint64_t)c, &k), "set-up failed");
        const size_t D = k.D;
        fl_model *m = k.m;
        const float *th = k.th, *v = k.v;
        const fl_batch b = k.b;
        const fl_loss loss = k.loss;
        float *g = malloc(D * sizeof *g), *h1 = malloc(D * sizeof *h1);
        float *h2 = malloc(D * sizeof *h2), *th2 = malloc(D * sizeof *th2);
        AM_REQUIRE(g && h1 && h2 && th2, "out of memory");
        float l = 0.0f;
        AM_REQUIRE_OK(fl_model_hvp(m, th, &b, loss, v, h1));
        AM_REQUIRE_OK(fl_model_loss_grad(m, th, &b, loss, &l, g));
        AM_REQUIRE_OK(fl_model_hvp_again(m, th, &b, loss, v, h2));
        double worst = 0.0, scale = 0.0;
        for (size_t i = 0; i < D; i++) {
            worst = fmax(worst, fabs((double)h1[i] - h2[i]));
            scale = fmax(scale, fabs((double)h1[i]));
        }
        AM_CHECK(scale > 0.0 && worst <= 1e-6 * scale, "%s: reused pass |diff| %.3g of max %.3g",
                 k.name, worst, scale);
        /* another pass in between (forward), or another theta: the full product, bit for bit */
        AM_REQUIRE_OK(fl_model_loss_grad(m, th, &b, loss, &l, g));
        AM_REQUIRE_OK(fl_model_forward(m, th, b.x, b.n, g));
        AM_REQUIRE_OK(fl_model_hvp_again(m, th, &b, loss, v, h2));
        AM_CHECK(memcmp(h1, h2, D * sizeof *h1) == 0, "after a forward: not fl_model_hvp");
        memcpy(th2, th, D * sizeof *th);
        AM_REQUIRE_OK(fl_model_loss_grad(m, th, &b, loss, &l, g));
        AM_REQUIRE_OK(fl_model_hvp_again(m, th2, &b, loss, v, h2));
        AM_CHECK(memcmp(h1, h2, D * sizeof *h1) == 0, "another theta: not fl_model_hvp");
        free(g), free(h1), free(h2), free(th2);
        hv_case_free(&k);
    }
}

/* Linear model y = x W + b with MSE: H is known in closed form,
 * Hv_W = 2/(n k) x^T (x V + 1 Vb^T), Hv_b = 2/(n k) colsum(x V + 1 Vb^T). */
AM_TEST(linear_hvp_closed_form, unit)
{
    enum { N = 5, IN = 4, OUT = 3, P = IN * OUT + OUT };
    const unsigned w[] = {IN, OUT};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 2, .max_batch = N};
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    am_rng r;
    am_rng_seed(&r, 71);
    float theta[P], v[P], hv[P], x[N * IN], y[N * OUT];
    gc_fill(theta, P, &r, -1, 1);
    gc_fill(v, P, &r, -1, 1);
    gc_fill(x, N * IN, &r, -1, 1);
    gc_fill(y, N * OUT, &r, -1, 1);
    fl_batch b = {.x = x, .y = y, .n = N};
    AM_REQUIRE_OK(fl_model_hvp(m, theta, &b, FL_LOSS_MSE, v, hv));
    double z[N][OUT];
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < OUT; j++) {
            z[i][j] = v[IN * OUT + j];
            for (size_t k = 0; k < IN; k++)
                z[i][j] += (double)x[i * IN + k] * v[k * OUT + j];
        }
    const double s = 2.0 / (N * OUT);
    for (size_t k = 0; k < IN; k++)
        for (size_t j = 0; j < OUT; j++) {
            double e = 0;
            for (size_t i = 0; i < N; i++)
                e += x[i * IN + k] * z[i][j];
            AM_CHECK_NEAR(hv[k * OUT + j], s * e, 1e-5);
        }
    for (size_t j = 0; j < OUT; j++) {
        double e = 0;
        for (size_t i = 0; i < N; i++)
            e += z[i][j];
        AM_CHECK_NEAR(hv[IN * OUT + j], s * e, 1e-5);
    }
    fl_model_destroy(m);
}

AM_TEST(cnn_hvp_fd, unit)
{
    for (int bn = 0; bn < 2; bn++) {
        fl_model *m = small_cnn(1, 12, 12, 2, bn, 6);
        AM_REQUIRE(m, "%s", am_last_error());
        hv_stats s = check_hvp(m, FL_LOSS_XENT, 5, 81 + (uint64_t)bn, 1e-3);
        AM_CHECK(s.worst <= 1e-2 * s.scale + 1e-4, "CNN bn=%d Hv: worst |FD - Hv| %.3g, max %.3g",
                 bn, s.worst, s.scale);
        fl_model_destroy(m);
        m = small_cnn(2, 11, 9, 2, bn, 4);
        AM_REQUIRE(m, "%s", am_last_error());
        s = check_hvp(m, FL_LOSS_MSE, 4, 83 + (uint64_t)bn, 1e-3);
        AM_CHECK(s.worst <= 1e-2 * s.scale + 1e-4, "CNN 2ch bn=%d Hv: worst %.3g, max %.3g", bn,
                 s.worst, s.scale);
        fl_model_destroy(m);
    }
}

/* ---------------------------------------------------------------- architecture, init, clone */
AM_TEST(cnn_default_shape, unit)
{
    fl_cnn_cfg cfg;
    fl_cnn_cfg_default(&cfg);
    cfg.max_batch = 8;
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_cnn(&cfg, &m));
    /* block 0: 64*9 + 2*64; blocks 1-3: 64*576 + 2*64; head: 64*1*1*5 + 5 (28->14->7->3->1) */
    AM_CHECK(fl_model_nparams(m) == 704 + 3 * 36992 + 325, "nparams %zu", fl_model_nparams(m));
    AM_CHECK(fl_model_in_dim(m) == 784 && fl_model_out_dim(m) == 5, "dims");
    AM_CHECK(fl_model_default_loss(m) == FL_LOSS_XENT, "default loss");
    am_rng r;
    am_rng_seed(&r, 91);
    float *theta = malloc(fl_model_nparams(m) * sizeof *theta);
    data d;
    fl_batch b = make_batch(m, 8, &r, &d);
    AM_REQUIRE(theta, "alloc");
    AM_REQUIRE_OK(fl_model_init(m, theta, &r));
    float L;
    AM_CHECK_OK(fl_model_loss_grad(m, theta, &b, FL_LOSS_XENT, &L, NULL));
    AM_CHECK(L > 0 && L < 20, "loss %g", (double)L);
    /* transductive batch-norm: the first conv has no bias, so scaling every input by 3 leaves
     * the normalised activations -- and the logits -- unchanged (up to eps = 1e-5) */
    float o1[8 * 5], o2[8 * 5];
    AM_CHECK_OK(fl_model_forward(m, theta, d.x, 8, o1));
    for (size_t i = 0; i < 8 * 784; i++)
        d.x[i] *= 3.0f;
    AM_CHECK_OK(fl_model_forward(m, theta, d.x, 8, o2));
    for (size_t i = 0; i < 8 * 5; i++)
        AM_CHECK_NEAR(o1[i], o2[i], 1e-3 * (1 + fabs(o1[i])));
    free_data(&d);
    free(theta);
    fl_model_destroy(m);
}

/* He init: W ~ N(0, 2/fan_in) -- sample variance within 5% for 1600 / 36864 draws -- biases 0,
 * BN gamma 1, beta 0; same seed, same theta. */
AM_TEST(init_he, unit)
{
    const unsigned w[] = {1, 40, 40, 1};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 4, .max_batch = 1};
    fl_model *m = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    float th[1761], th2[1761];
    AM_REQUIRE(fl_model_nparams(m) == 1761, "nparams %zu", fl_model_nparams(m));
    am_rng r;
    am_rng_seed(&r, 5);
    AM_REQUIRE_OK(fl_model_init(m, th, &r));
    am_rng_seed(&r, 5);
    AM_REQUIRE_OK(fl_model_init(m, th2, &r));
    AM_CHECK(memcmp(th, th2, sizeof th) == 0, "same seed, different theta");
    /* layer 2 weights at 80..1679 (fan_in 40), biases 40..79, 1680..1719, 1760 */
    double s2 = 0;
    for (size_t i = 80; i < 1680; i++)
        s2 += (double)th[i] * th[i];
    AM_CHECK_NEAR(s2 / 1600, 2.0 / 40, 0.05 * 2.0 / 40 * 3); /* 3 standard errors of ~3.5% */
    for (size_t i = 40; i < 80; i++)
        AM_CHECK(th[i] == 0.0f, "bias");
    AM_CHECK(th[1760] == 0.0f, "output bias");
    fl_model_destroy(m);

    fl_cnn_cfg cc;
    fl_cnn_cfg_default(&cc);
    cc.max_batch = 1;
    AM_REQUIRE_OK(fl_model_create_cnn(&cc, &m));
    float *t = malloc(fl_model_nparams(m) * sizeof *t);
    AM_REQUIRE(t, "alloc");
    AM_REQUIRE_OK(fl_model_init(m, t, &r));
    /* block 1 weights at 704.. (fan_in 576), then gamma (1) and beta (0) */
    s2 = 0;
    for (size_t i = 704; i < 704 + 36864; i++)
        s2 += (double)t[i] * t[i];
    AM_CHECK_NEAR(s2 / 36864, 2.0 / 576, 0.03 * 2.0 / 576);
    for (size_t i = 704 + 36864; i < 704 + 36864 + 64; i++)
        AM_CHECK(t[i] == 1.0f, "gamma");
    for (size_t i = 704 + 36864 + 64; i < 704 + 36992; i++)
        AM_CHECK(t[i] == 0.0f, "beta");
    free(t);
    fl_model_destroy(m);
}

/* MAML's init (FL_INIT_MAML, the sinusoid learner's): weights N(0, 0.01^2) truncated at 2 sd, so
 * |w| <= 0.02, variance 0.7737e-4 (1 - 4 phi(2) / (2 Phi(2) - 1) of sd^2; 3 SE of the 1680-draw
 * estimate = 8.6%, measured within it), the largest |w| near 0.02 (a draw above 0.019 has
 * probability 1.25% each: P(none of 1680) ~ 1e-9), biases 0; a clone keeps the scheme. */
AM_TEST(init_maml, unit)
{
    const unsigned w[] = {1, 40, 40, 1};
    fl_mlp_cfg cfg = {.widths = w, .nwidths = 4, .max_batch = 1, .init = FL_INIT_MAML};
    fl_model *m = NULL, *m2 = NULL;
    AM_REQUIRE_OK(fl_model_create_mlp(&cfg, &m));
    AM_REQUIRE_OK(fl_model_clone(m, &m2));
    float th[1761], th2[1761];
    am_rng r;
    am_rng_seed(&r, 5);
    AM_REQUIRE_OK(fl_model_init(m, th, &r));
    am_rng_seed(&r, 5);
    AM_REQUIRE_OK(fl_model_init(m2, th2, &r));
    AM_CHECK(memcmp(th, th2, sizeof th) == 0, "the clone initialises otherwise");
    /* weights 0..39, 80..1679, 1720..1759; biases 40..79, 1680..1719, 1760 */
    double s2 = 0, amax = 0;
    size_t n = 0;
    for (size_t i = 0; i < 1761; i++) {
        const int bias = (i >= 40 && i < 80) || (i >= 1680 && i < 1720) || i == 1760;
        if (bias) {
            AM_CHECK(th[i] == 0.0f, "bias %zu = %g", i, (double)th[i]);
            continue;
        }
        s2 += (double)th[i] * th[i];
        amax = fabs(th[i]) > amax ? fabs(th[i]) : amax;
        n++;
    }
    AM_REQUIRE(n == 1680, "weights %zu", n);
    AM_CHECK(amax <= 0.02 && amax > 0.019, "largest |w| %g", amax);
    AM_CHECK_NEAR(s2 / (double)n, 0.7737e-4, 3 * 0.0286 * 0.7737e-4);
    cfg.init = (fl_init)7;
    fl_model *bad = NULL;
    AM_CHECK(fl_model_create_mlp(&cfg, &bad) == AM_EINVAL && bad == NULL, "unknown scheme");
    fl_model_destroy(m);
    fl_model_destroy(m2);
}

AM_TEST(clone_independent, unit)
{
    fl_model *m = small_cnn(1, 12, 12, 2, 1, 6), *c = NULL;
    AM_REQUIRE(m, "%s", am_last_error());
    AM_REQUIRE_OK(fl_model_clone(m, &c));
    AM_CHECK(fl_model_nparams(c) == fl_model_nparams(m), "nparams");
    AM_CHECK(strcmp(fl_model_describe(c), fl_model_describe(m)) == 0, "describe");
    am_rng r;
    am_rng_seed(&r, 101);
    const size_t P = fl_model_nparams(m);
    float *th = malloc(P * sizeof *th), *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2);
    AM_REQUIRE(th && g1 && g2, "alloc");
    AM_REQUIRE_OK(fl_model_init(m, th, &r));
    data d1, d2;
    fl_batch b1 = make_batch(m, 6, &r, &d1), b2 = make_batch(m, 4, &r, &d2);
    float L1, L2, L3;
    AM_CHECK_OK(fl_model_loss_grad(m, th, &b1, FL_LOSS_XENT, &L1, g1));
    AM_CHECK_OK(fl_model_loss_grad(c, th, &b2, FL_LOSS_XENT, &L3, NULL)); /* clone busy elsewhere */
    AM_CHECK_OK(fl_model_loss_grad(c, th, &b1, FL_LOSS_XENT, &L2, g2));
    AM_CHECK(L1 == L2 && memcmp(g1, g2, P * sizeof *g1) == 0, "clone differs");
    free_data(&d1);
    free_data(&d2);
    free(th), free(g1), free(g2);
    fl_model_destroy(c);
    fl_model_destroy(m);
    fl_model_destroy(NULL);
}

/* ---------------------------------------------------------------- bad input */
static int msg_has(const char *s)
{
    return strstr(am_last_error(), s) != NULL;
}

AM_TEST(bad_input, unit)
{
    fl_model *m = NULL;
    const unsigned one[] = {3}, zero[] = {3, 0, 1}, ok[] = {2, 4, 3};
    fl_mlp_cfg c1 = {.widths = one, .nwidths = 1, .max_batch = 4};
    AM_CHECK(fl_model_create_mlp(&c1, &m) == AM_EINVAL && m == NULL && msg_has("widths"), "%s",
             am_last_error());
    fl_mlp_cfg c2 = {.widths = zero, .nwidths = 3, .max_batch = 4};
    AM_CHECK(fl_model_create_mlp(&c2, &m) == AM_EINVAL && msg_has("widths[1]"), "%s",
             am_last_error());
    fl_mlp_cfg c3 = {.widths = ok, .nwidths = 3, .max_batch = 0};
    AM_CHECK(fl_model_create_mlp(&c3, &m) == AM_EINVAL && msg_has("max_batch"), "%s",
             am_last_error());
    AM_CHECK(fl_model_create_mlp(NULL, &m) == AM_EINVAL, "NULL cfg");

    fl_cnn_cfg cc;
    fl_cnn_cfg_default(&cc);
    cc.height = 8; /* 4 poolings need >= 16 */
    AM_CHECK(fl_model_create_cnn(&cc, &m) == AM_EINVAL && msg_has("too small"), "%s",
             am_last_error());
    fl_cnn_cfg_default(&cc);
    cc.n_classes = 1;
    AM_CHECK(fl_model_create_cnn(&cc, &m) == AM_EINVAL && msg_has("n_classes"), "%s",
             am_last_error());
    fl_cnn_cfg_default(&cc);
    cc.n_blocks = 0;
    AM_CHECK(fl_model_create_cnn(&cc, &m) == AM_EINVAL && msg_has("n_blocks"), "%s",
             am_last_error());
    fl_cnn_cfg_default(&cc);
    cc.filters = 0;
    AM_CHECK(fl_model_create_cnn(&cc, &m) == AM_EINVAL && msg_has("filters"), "%s",
             am_last_error());
    fl_cnn_cfg_default(&cc);
    cc.max_batch = 40000; /* ~64 GB of workspace: refused before any allocation is touched */
    AM_CHECK(fl_model_create_cnn(&cc, &m) == AM_EINVAL && msg_has("workspace") && m == NULL, "%s",
             am_last_error());
    fl_cnn_cfg_default(&cc);
    cc.max_batch = 0;
    AM_CHECK(fl_model_create_cnn(&cc, &m) == AM_EINVAL && msg_has("max_batch"), "%s",
             am_last_error());

    fl_mlp_cfg c4 = {.widths = ok, .nwidths = 3, .max_batch = 4};
    AM_REQUIRE_OK(fl_model_create_mlp(&c4, &m));
    float th[12 + 4 + 15], g[31], x[5 * 2] = {0}, y[5 * 3] = {0}, L;
    am_rng r;
    am_rng_seed(&r, 1);
    AM_REQUIRE_OK(fl_model_init(m, th, &r));
    int32_t lab[5] = {0, 1, 2, 0, 1};
    fl_batch b = {.x = x, .y = y, .label = lab, .n = 5};
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_EINVAL && msg_has("max_batch"),
             "n > max_batch: %s", am_last_error());
    AM_CHECK(fl_model_forward(m, th, x, 5, y) == AM_EINVAL, "forward n > max_batch");
    b.n = 0;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_EINVAL, "n = 0");
    b.n = 4;
    lab[2] = 3;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_XENT, &L, g) == AM_EINVAL &&
                 msg_has("label[2] = 3"),
             "label out of range: %s", am_last_error());
    float acc;
    AM_CHECK(fl_model_accuracy(m, th, &b, &acc) == AM_EINVAL, "accuracy label out of range");
    lab[2] = -1;
    AM_CHECK(fl_model_hvp(m, th, &b, FL_LOSS_XENT, th, g) == AM_EINVAL, "negative label");
    lab[2] = 2;
    b.y = NULL;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_EINVAL && msg_has("b->y"),
             "%s", am_last_error());
    b.y = y;
    x[3] = NAN;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_EFORMAT && msg_has("NaN"),
             "NaN input: %s", am_last_error());
    x[3] = 0;
    y[1] = INFINITY;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_EFORMAT, "Inf target");
    y[1] = 0;
    /* diverged parameters: a NaN weight in the first layer reaches the loss through the ReLU */
    x[0] = 1.0f;
    th[0] = NAN;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_EFORMAT &&
                 msg_has("non-finite") && isnan(L),
             "%s", am_last_error());
    th[0] = 0;
    AM_CHECK(fl_model_loss_grad(m, th, &b, FL_LOSS_MSE, &L, g) == AM_OK, "%s", am_last_error());
    AM_CHECK(fl_model_loss_grad(m, NULL, &b, FL_LOSS_MSE, &L, g) == AM_EINVAL, "NULL theta");
    AM_CHECK(fl_model_loss_grad(m, th, &b, (fl_loss)7, &L, g) == AM_EINVAL, "bad loss");
    fl_model_destroy(m);
}
