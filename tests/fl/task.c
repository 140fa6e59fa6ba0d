/* tests/fl/task: task families — sinusoid values and heterogeneity against closed forms, seeds,
 * the training/new split, N-way K-shot sampling on Fashion-MNIST and on a generated Omniglot. */
#include "fl/task.h"

#include <math.h>

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "fixtures.h"
#include "fl/dataset.h"

static fl_task_family *make(fl_task_cfg *c)
{
    fl_task_family *f = NULL;
    am_status s = fl_task_family_create(c, &f);
    if (s != AM_OK)
        fprintf(stderr, "fl_task_family_create: %s\n", am_last_error());
    return f;
}

/* y = A sin(x - phase) for the drawn (A, phase), x in [-5, 5), A in [0.1, 5], phase in [0, pi];
 * over 20000 tasks A and phase have the moments of U[0.1, 5] and U[0, pi]. */
AM_TEST(sinusoid_values, unit)
{
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.shots = 7;
    c.query = 13;
    fl_task_family *f = make(&c);
    AM_REQUIRE(f != NULL, "create");
    AM_CHECK(fl_task_in_dim(f) == 1 && fl_task_out_dim(f) == 1, "dims");
    AM_CHECK(fl_task_loss(f) == FL_LOSS_MSE, "loss");
    AM_CHECK(fl_task_support_size(f) == 7 && fl_task_query_size(f) == 13, "sizes");
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    am_rng r;
    am_rng_seed(&r, 11);
    const int T = 20000;
    double sa = 0, sa2 = 0, sp = 0, sp2 = 0, sx = 0, sx2 = 0;
    int bad = 0;
    for (int t = 0; t < T; t++) {
        unsigned agent = (unsigned)t % fl_task_n_agents(f);
        AM_REQUIRE_OK(fl_task_sample(f, agent, &r, b));
        AM_REQUIRE(b->support.n == 7 && b->query.n == 13, "n %zu %zu", b->support.n, b->query.n);
        AM_REQUIRE(b->support.label == NULL && b->support.y != NULL, "regression batch");
        double A = b->amplitude, ph = b->phase;
        bad += !(A >= 0.1 - 1e-6 && A <= 5.0 + 1e-6 && ph >= 0 && ph <= M_PI + 1e-6);
        sa += A;
        sa2 += A * A;
        sp += ph;
        sp2 += ph * ph;
        for (int k = 0; k < 20; k++) {
            const fl_batch *bt = k < 7 ? &b->support : &b->query;
            int i = k < 7 ? k : k - 7;
            double x = bt->x[i], y = bt->y[i];
            bad += !(x >= -5.0 && x < 5.0);
            bad += fabs(y - A * sin(x - ph)) > 1e-5;
            sx += x;
            sx2 += x * x;
        }
    }
    AM_CHECK(bad == 0, "%d values out of range or off the sine", bad);
    double ma = sa / T, va = sa2 / T - ma * ma, mp = sp / T, vp = sp2 / T - mp * mp;
    AM_CHECK_NEAR(ma, 2.55, 4 * sqrt(4.9 * 4.9 / 12 / T));
    AM_CHECK_NEAR(va, 4.9 * 4.9 / 12, 0.05);
    AM_CHECK_NEAR(mp, M_PI / 2, 4 * sqrt(M_PI * M_PI / 12 / T));
    AM_CHECK_NEAR(vp, M_PI * M_PI / 12, 0.03);
    double n = 20.0 * T, mx = sx / n;
    AM_CHECK_NEAR(mx, 0.0, 4 * sqrt(100.0 / 12 / n));
    AM_CHECK_NEAR(sx2 / n - mx * mx, 100.0 / 12, 0.05);
    fl_task_buf_destroy(b);
    fl_task_family_destroy(f);
}

/* The knob: each agent's amplitude range has width (1-h)*4.9 and phase range (1-h)*pi, placed
 * uniformly inside the full range, so the agents' range midpoints are uniform on an interval of
 * length h*4.9 (std h*4.9/sqrt(12)) — 0 at h = 0, 1.414 at h = 1. Tasks stay in their agent's
 * range. */
AM_TEST(sinusoid_heterogeneity, unit)
{
    const float hs[3] = {0.0f, 0.5f, 1.0f};
    for (int k = 0; k < 3; k++) {
        fl_task_cfg c;
        fl_task_cfg_default(&c, FL_TASK_SINUSOID);
        c.n_train_agents = 1500;
        c.n_new_agents = 500;
        c.heterogeneity = hs[k];
        c.seed = 5;
        fl_task_family *f = make(&c);
        AM_REQUIRE(f != NULL, "create");
        double h = hs[k], s = 0, s2 = 0, ps = 0, ps2 = 0;
        int bad = 0;
        unsigned N = fl_task_n_agents(f);
        for (unsigned a = 0; a < N; a++) {
            fl_task_agent_info in;
            AM_REQUIRE_OK(fl_task_agent_info_get(f, a, &in));
            bad += fabs((in.amp_hi - in.amp_lo) - (1 - h) * 4.9) > 1e-5;
            bad += fabs((in.phase_hi - in.phase_lo) - (1 - h) * M_PI) > 1e-5;
            bad += in.amp_lo < 0.1f - 1e-6f || in.amp_hi > 5.0f + 1e-6f;
            bad += in.phase_lo < 0 || in.phase_hi > (float)M_PI + 1e-6f;
            bad += in.is_new != (a >= 1500);
            double mid = 0.5 * (in.amp_lo + in.amp_hi), pm = 0.5 * (in.phase_lo + in.phase_hi);
            s += mid;
            s2 += mid * mid;
            ps += pm;
            ps2 += pm * pm;
        }
        AM_CHECK(bad == 0, "h = %g: %d agent ranges off the specification", h, bad);
        double m = s / N, sd = sqrt(fmax(0, s2 / N - m * m));
        double pmn = ps / N, psd = sqrt(fmax(0, ps2 / N - pmn * pmn));
        AM_CHECK_NEAR(m, 2.55, 0.1);
        AM_CHECK_NEAR(sd, h * 4.9 / sqrt(12), 0.06);
        AM_CHECK_NEAR(psd, h * M_PI / sqrt(12), 0.04);
        /* tasks of an agent lie in its ranges */
        fl_task_buf *b = NULL;
        AM_REQUIRE_OK(fl_task_buf_create(f, &b));
        am_rng r;
        am_rng_seed(&r, 3);
        for (unsigned a = 0; a < N; a += 97) {
            fl_task_agent_info in;
            AM_REQUIRE_OK(fl_task_agent_info_get(f, a, &in));
            for (int t = 0; t < 20; t++) {
                AM_REQUIRE_OK(fl_task_sample(f, a, &r, b));
                bad += b->amplitude < in.amp_lo - 1e-6f || b->amplitude > in.amp_hi + 1e-6f;
                bad += b->phase < in.phase_lo - 1e-6f || b->phase > in.phase_hi + 1e-6f;
                bad += b->agent != a;
            }
        }
        AM_CHECK(bad == 0, "h = %g: %d tasks outside their agent's ranges", h, bad);
        fl_task_buf_destroy(b);
        fl_task_family_destroy(f);
    }
}

/* Same seed -> same agents and tasks, bit for bit; another seed -> different; an agent's
 * distribution does not depend on shots/query or on how many agents of the other kind exist. */
AM_TEST(seed_reproducible, unit)
{
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.heterogeneity = 0.7f;
    c.seed = 99;
    fl_task_family *f1 = make(&c), *f2 = make(&c);
    fl_task_cfg c3 = c;
    c3.seed = 100;
    fl_task_cfg c4 = c;
    c4.n_train_agents = 4;
    c4.n_new_agents = 3;
    c4.shots = 3;
    fl_task_family *f3 = make(&c3), *f4 = make(&c4);
    AM_REQUIRE(f1 && f2 && f3 && f4, "create");
    fl_task_buf *b1 = NULL, *b2 = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f1, &b1));
    AM_REQUIRE_OK(fl_task_buf_create(f2, &b2));
    am_rng r1, r2;
    am_rng_seed(&r1, 7);
    am_rng_seed(&r2, 7);
    for (int t = 0; t < 50; t++) {
        AM_REQUIRE_OK(fl_task_sample(f1, (unsigned)t % 20, &r1, b1));
        AM_REQUIRE_OK(fl_task_sample(f2, (unsigned)t % 20, &r2, b2));
        AM_CHECK(memcmp(b1->sx, b2->sx, 10 * sizeof(float)) == 0 &&
                     memcmp(b1->qy, b2->qy, 10 * sizeof(float)) == 0 &&
                     b1->amplitude == b2->amplitude,
                 "task %d differs", t);
    }
    int diff3 = 0;
    for (unsigned a = 0; a < 20; a++) {
        fl_task_agent_info i1, i3;
        fl_task_agent_info_get(f1, a, &i1);
        fl_task_agent_info_get(f3, a, &i3);
        diff3 += i1.amp_lo != i3.amp_lo;
    }
    AM_CHECK(diff3 == 20, "seed 100 repeats %d of seed 99's agents", 20 - diff3);
    for (unsigned a = 0; a < 4; a++) { /* training agents 0..3 */
        fl_task_agent_info i1, i4;
        fl_task_agent_info_get(f1, a, &i1);
        fl_task_agent_info_get(f4, a, &i4);
        AM_CHECK(i1.amp_lo == i4.amp_lo && i1.phase_lo == i4.phase_lo, "train agent %u moved", a);
    }
    for (unsigned j = 0; j < 3; j++) { /* new agent j: id 10 + j in f1, 4 + j in f4 */
        fl_task_agent_info i1, i4;
        fl_task_agent_info_get(f1, 10 + j, &i1);
        fl_task_agent_info_get(f4, 4 + j, &i4);
        AM_CHECK(i1.amp_lo == i4.amp_lo && i1.phase_lo == i4.phase_lo && i1.is_new && i4.is_new,
                 "new agent %u moved", j);
    }
    fl_task_buf_destroy(b1);
    fl_task_buf_destroy(b2);
    fl_task_family_destroy(f1);
    fl_task_family_destroy(f2);
    fl_task_family_destroy(f3);
    fl_task_family_destroy(f4);
}

/* Checks one N-way K-shot task against the image set: sizes, K per label, labels 0..N-1, distinct
 * classes from the agent's pool, each sample's pixels and true class, query disjoint from support.
 * Returns the number of violations. */
static int
check_nway(const fl_task_family *f, const fl_task_buf *b, unsigned N, unsigned K, unsigned Q)
{
    const fl_image_set *s = fl_task_images(f, b->agent);
    fl_task_agent_info in;
    fl_task_agent_info_get(f, b->agent, &in);
    int bad = 0;
    bad += b->support.n != (size_t)N * K || b->query.n != (size_t)N * Q;
    bad += b->support.y != NULL || b->support.label == NULL;
    unsigned cnt_s[64] = {0}, cnt_q[64] = {0};
    for (unsigned l = 0; l < N; l++) {
        int inpool = 0;
        for (unsigned k = 0; k < in.n_classes; k++)
            inpool |= in.classes[k] == b->classes[l];
        bad += !inpool;
        for (unsigned m = 0; m < l; m++)
            bad += b->classes[m] == b->classes[l];
    }
    static float img[784];
    for (int set = 0; set < 2; set++) {
        const fl_batch *bt = set ? &b->query : &b->support;
        const uint32_t *idx = set ? b->query_idx : b->support_idx;
        for (size_t i = 0; i < bt->n; i++) {
            int32_t l = bt->label[i];
            if (l < 0 || (unsigned)l >= N) {
                bad++;
                continue;
            }
            (set ? cnt_q : cnt_s)[l]++;
            bad += fl_image_set_label(s, idx[i]) != b->classes[l];
            fl_image_set_get(s, idx[i], img);
            bad += memcmp(img, bt->x + i * 784, sizeof img) != 0;
        }
    }
    for (unsigned l = 0; l < N; l++)
        bad += cnt_s[l] != K || cnt_q[l] != Q;
    for (size_t i = 0; i < b->support.n; i++) {
        for (size_t j = 0; j < b->query.n; j++)
            bad += b->support_idx[i] == b->query_idx[j];
        for (size_t j = 0; j < i; j++)
            bad += b->support_idx[i] == b->support_idx[j];
    }
    return bad;
}

/* Fashion-MNIST 5-way 3-shot, 4 query: exact structure of every task; training agents draw from
 * the 60000 train images and new agents from the 10000 t10k images; over many tasks every class
 * appears and labels are relabelled (class c gets every label). */
AM_TEST(fmnist_nway_kshot, unit)
{
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_FMNIST);
    c.shots = 3;
    c.query = 4;
    c.n_train_agents = 3;
    c.n_new_agents = 2;
    fl_task_family *f = make(&c);
    AM_REQUIRE(f != NULL, "create");
    AM_CHECK(fl_task_in_dim(f) == 784 && fl_task_out_dim(f) == 5, "dims");
    AM_CHECK(fl_task_loss(f) == FL_LOSS_XENT, "loss");
    AM_CHECK(fl_task_support_size(f) == 15 && fl_task_query_size(f) == 20, "sizes");
    unsigned ch, h, w;
    fl_task_in_shape(f, &ch, &h, &w);
    AM_CHECK(ch == 1 && h == 28 && w == 28, "shape");
    AM_CHECK(fl_image_set_size(fl_task_images(f, 0)) == 60000, "training agents' split");
    AM_CHECK(fl_image_set_size(fl_task_images(f, 3)) == 10000, "new agents' split");
    AM_CHECK(fl_task_images(f, 5) == NULL, "agent out of range");
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    am_rng r;
    am_rng_seed(&r, 1);
    int bad = 0;
    unsigned seen[10][5] = {{0}};
    for (int t = 0; t < 200; t++) {
        AM_REQUIRE_OK(fl_task_sample(f, (unsigned)t % 5, &r, b));
        bad += check_nway(f, b, 5, 3, 4);
        for (unsigned l = 0; l < 5; l++)
            seen[b->classes[l]][l]++;
    }
    AM_CHECK(bad == 0, "%d violations of the N-way K-shot structure", bad);
    int missing = 0;
    for (int cl = 0; cl < 10; cl++)
        for (int l = 0; l < 5; l++)
            missing += seen[cl][l] == 0;
    AM_CHECK(missing == 0, "%d (class, label) pairs never drawn in 200 tasks", missing);
    AM_CHECK(fl_task_sample(f, 5, &r, b) == AM_EINVAL, "agent out of range");
    fl_task_buf_destroy(b);
    fl_task_family_destroy(f);
}

/* Class pools: h = 0 -> all 10 classes; h = 0.5 -> round(10 - 4.5) = 6 classes;
 * h = 1 -> exactly `ways` classes; tasks use only the agent's pool; pools differ across agents. */
AM_TEST(fmnist_heterogeneity, unit)
{
    const float hs[3] = {0.0f, 0.5f, 1.0f};
    const unsigned want[3] = {10, 6, 5};
    for (int k = 0; k < 3; k++) {
        fl_task_cfg c;
        fl_task_cfg_default(&c, FL_TASK_FMNIST);
        c.heterogeneity = hs[k];
        c.n_train_agents = 6;
        c.n_new_agents = 4;
        fl_task_family *f = make(&c);
        AM_REQUIRE(f != NULL, "create");
        unsigned distinct = 0;
        uint32_t first[10];
        for (unsigned a = 0; a < 10; a++) {
            fl_task_agent_info in;
            AM_REQUIRE_OK(fl_task_agent_info_get(f, a, &in));
            AM_CHECK(in.n_classes == want[k], "h %g agent %u: %u classes", (double)hs[k], a,
                     in.n_classes);
            if (a == 0)
                memcpy(first, in.classes, in.n_classes * sizeof *first);
            else
                distinct += memcmp(first, in.classes, in.n_classes * sizeof *first) != 0;
        }
        AM_CHECK(k == 0 ? distinct == 0 : distinct >= 5, "h %g: %u agents differ from agent 0",
                 (double)hs[k], distinct);
        fl_task_buf *b = NULL;
        AM_REQUIRE_OK(fl_task_buf_create(f, &b));
        am_rng r;
        am_rng_seed(&r, 2);
        int bad = 0;
        for (int t = 0; t < 40; t++) {
            AM_REQUIRE_OK(fl_task_sample(f, (unsigned)t % 10, &r, b));
            bad += check_nway(f, b, 5, 5, 15);
        }
        AM_CHECK(bad == 0, "h %g: %d violations", (double)hs[k], bad);
        fl_task_buf_destroy(b);
        fl_task_family_destroy(f);
    }
}

/* Omniglot from a generated folder: training agents use background alphabets, new agents the
 * evaluation ones; h = 1 gives each agent one alphabet (all its characters), enlarged to two when
 * one alphabet has fewer than `ways` characters. */
AM_TEST(omniglot_family, unit)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/omni_task", am_test_tmp_dir());
    unsigned bg[3] = {4, 2, 5}, ev[2] = {3, 4};
    AM_REQUIRE(fx_write_omniglot(root, 3, bg, 2, ev, 6) == 0, "write omniglot");
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_OMNIGLOT);
    c.data_dir = root;
    c.ways = 3;
    c.shots = 2;
    c.query = 4;
    c.heterogeneity = 1.0f;
    c.n_train_agents = 12;
    c.n_new_agents = 8;
    fl_task_family *f = make(&c);
    AM_REQUIRE(f != NULL, "create");
    AM_CHECK(fl_image_set_n_classes(fl_task_images(f, 0)) == 11, "background classes");
    AM_CHECK(fl_image_set_n_classes(fl_task_images(f, 12)) == 7, "evaluation classes");
    int bad = 0;
    for (unsigned a = 0; a < 20; a++) {
        fl_task_agent_info in;
        AM_REQUIRE_OK(fl_task_agent_info_get(f, a, &in));
        const fl_image_set *s = fl_task_images(f, a);
        /* the pool is whole alphabets: one with >= 3 characters, or two when the first drawn
         * has fewer than ways = 3 */
        unsigned gsize[8] = {0}, gin[8] = {0}, ng = 0, total = 0, small = 0;
        for (unsigned cl = 0; cl < fl_image_set_n_classes(s); cl++)
            gsize[fl_image_set_class_group(s, cl)]++;
        for (unsigned k = 0; k < in.n_classes; k++)
            gin[fl_image_set_class_group(s, in.classes[k])]++;
        for (unsigned g = 0; g < fl_image_set_n_groups(s); g++) {
            if (gin[g] == 0)
                continue;
            ng++;
            total += gsize[g];
            small += gsize[g] < 3;
            bad += gin[g] != gsize[g];
        }
        bad += total != in.n_classes;
        bad += !((ng == 1 && small == 0) || (ng == 2 && small == 1));
    }
    AM_CHECK(bad == 0, "%d agents with a pool other than whole alphabets", bad);
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    am_rng r;
    am_rng_seed(&r, 4);
    bad = 0;
    for (int t = 0; t < 60; t++) {
        AM_REQUIRE_OK(fl_task_sample(f, (unsigned)t % 20, &r, b));
        bad += check_nway(f, b, 3, 2, 4);
    }
    AM_CHECK(bad == 0, "%d violations of the N-way K-shot structure", bad);
    fl_task_buf_destroy(b);
    fl_task_family_destroy(f);

    /* shots + query above the 6 drawings per character */
    c.query = 5;
    fl_task_family *g = NULL;
    am_status s = fl_task_family_create(&c, &g);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "only 6 images"), "%s: %s", am_status_str(s),
             am_last_error());
    /* ways above the 7 evaluation characters */
    c.query = 4;
    c.ways = 8;
    s = fl_task_family_create(&c, &g);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "images_evaluation split has only 7"),
             "%s: %s", am_status_str(s), am_last_error());
    fx_rmtree(root);
}

static void expect_cfg_error(const fl_task_cfg *c, am_status want, const char *needle)
{
    fl_task_family *f = (fl_task_family *)1;
    am_status s = fl_task_family_create(c, &f);
    AM_CHECK(s == want, "got %s (%s), want %s", am_status_str(s), am_last_error(),
             am_status_str(want));
    AM_CHECK(f == NULL, "out not cleared");
    AM_CHECK(strstr(am_last_error(), needle) != NULL, "message lacks '%s': %s", needle,
             am_last_error());
}

AM_TEST(bad_input, unit)
{
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.n_train_agents = 0;
    expect_cfg_error(&c, AM_EINVAL, "n_train_agents");
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.heterogeneity = 1.5f;
    expect_cfg_error(&c, AM_EINVAL, "heterogeneity");
    c.heterogeneity = NAN;
    expect_cfg_error(&c, AM_EINVAL, "heterogeneity");
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.shots = 0;
    expect_cfg_error(&c, AM_EINVAL, "shots");
    fl_task_cfg_default(&c, FL_TASK_FMNIST);
    c.ways = 11;
    expect_cfg_error(&c, AM_EINVAL, "ways = 11");
    c.ways = 1;
    expect_cfg_error(&c, AM_EINVAL, "ways = 1");
    fl_task_cfg_default(&c, FL_TASK_FMNIST);
    c.shots = 600;
    c.query = 401; /* t10k has 1000 images per class */
    expect_cfg_error(&c, AM_EINVAL, "only 1000 images");
    fl_task_cfg_default(&c, FL_TASK_FMNIST);
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no-fmnist-here", am_test_tmp_dir());
    c.data_dir = missing;
    expect_cfg_error(&c, AM_ENOTFOUND, missing);
    expect_cfg_error(&c, AM_ENOTFOUND, "install the Debian package dataset-fashion-mnist");
    fl_task_cfg_default(&c, FL_TASK_OMNIGLOT);
    expect_cfg_error(&c, AM_EINVAL, "omniglot needs data_dir");
    c.data_dir = missing;
    expect_cfg_error(&c, AM_ENOTFOUND, missing);
    c.kind = (fl_task_kind)7;
    expect_cfg_error(&c, AM_EINVAL, "unknown kind");
    AM_CHECK(fl_task_family_create(NULL, &(fl_task_family *){NULL}) == AM_EINVAL, "NULL cfg");

    /* a buffer of another family's shape is refused; agents out of range */
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    fl_task_family *f = make(&c);
    c.shots = 20;
    fl_task_family *g = make(&c);
    AM_REQUIRE(f && g, "create");
    fl_task_buf *b = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    am_rng r;
    am_rng_seed(&r, 1);
    AM_CHECK(fl_task_sample(g, 0, &r, b) == AM_EINVAL, "small buffer accepted");
    AM_CHECK(fl_task_sample(f, 20, &r, b) == AM_EINVAL, "agent 20 of 20 accepted");
    fl_task_agent_info in;
    AM_CHECK(fl_task_agent_info_get(f, 20, &in) == AM_EINVAL, "info of agent 20");
    AM_CHECK(fl_task_is_new_agent(f, 9) == 0 && fl_task_is_new_agent(f, 10) == 1 &&
                 fl_task_is_new_agent(f, 20) == 0,
             "split");
    fl_task_buf_destroy(b);
    fl_task_buf_destroy(NULL);
    fl_task_family_destroy(f);
    fl_task_family_destroy(g);
    fl_task_family_destroy(NULL);
}

/* Finite data (issue 13): pool task i of agent k is the same task every call (also from a second
 * family object: a resumed process), different tasks and agents differ, every local draw
 * (fl_task_sample_train) is one of the agent's N pool tasks and over 4000 draws all N occur with
 * frequency 1/N (+- 5 binomial SE); pool 0 makes fl_task_sample_train fl_task_sample (the same
 * draws); new agents and index >= N are refused. Fashion-MNIST: the same images and classes. */
AM_TEST(pool_fixed, unit)
{
    enum { N = 4, K = 3 };
    fl_task_cfg c;
    fl_task_cfg_default(&c, FL_TASK_SINUSOID);
    c.n_train_agents = K;
    c.n_new_agents = 2;
    c.heterogeneity = 0.5f;
    c.pool = N;
    fl_task_family *f = make(&c), *f2 = make(&c);
    AM_REQUIRE(f && f2, "create");
    fl_task_buf *b = NULL, *b2 = NULL;
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    AM_REQUIRE_OK(fl_task_buf_create(f, &b2));
    float amp[K][N], ph[K][N], x0[K][N];
    for (unsigned k = 0; k < K; k++)
        for (unsigned i = 0; i < N; i++) {
            AM_REQUIRE_OK(fl_task_sample_pool(f, k, i, b));
            AM_REQUIRE_OK(fl_task_sample_pool(f2, k, i, b2));
            AM_CHECK(memcmp(b->sx, b2->sx, 10 * sizeof(float)) == 0 &&
                         memcmp(b->qy, b2->qy, 10 * sizeof(float)) == 0 &&
                         b->amplitude == b2->amplitude && b->phase == b2->phase,
                     "agent %u task %u differs between two families of one config", k, i);
            amp[k][i] = b->amplitude;
            ph[k][i] = b->phase;
            x0[k][i] = b->sx[0];
        }
    int same = 0;
    for (unsigned a = 0; a < K * N; a++)
        for (unsigned z = a + 1; z < K * N; z++)
            same += amp[a / N][a % N] == amp[z / N][z % N] || x0[a / N][a % N] == x0[z / N][z % N];
    AM_CHECK(same == 0, "%d pairs of pool tasks share an amplitude or a point", same);
    am_rng r;
    am_rng_seed(&r, 7);
    unsigned hits[N] = {0}, foreign = 0;
    const unsigned draws = 4000;
    for (unsigned t = 0; t < draws; t++) {
        AM_REQUIRE_OK(fl_task_sample_train(f, 1, &r, b));
        unsigned i = 0;
        while (i < N &&
               !(b->amplitude == amp[1][i] && b->phase == ph[1][i] && b->sx[0] == x0[1][i]))
            i++;
        if (i == N)
            foreign++;
        else
            hits[i]++;
    }
    AM_CHECK(foreign == 0, "%u of %u local draws are not agent 1's pool tasks", foreign, draws);
    const double p = 1.0 / N, se = sqrt(p * (1 - p) / draws);
    for (unsigned i = 0; i < N; i++)
        AM_CHECK_NEAR(hits[i] / (double)draws, p, 5 * se);
    AM_CHECK(fl_task_sample_pool(f, K, 0, b) == AM_EINVAL, "a new agent has no pool");
    AM_CHECK(fl_task_sample_pool(f, 0, N, b) == AM_EINVAL, "index beyond the pool");
    fl_task_buf_destroy(b2);
    fl_task_family_destroy(f2);

    /* pool 0: the fresh draws of fl_task_sample, same rng consumption */
    c.pool = 0;
    fl_task_family *g = make(&c);
    AM_REQUIRE(g, "create");
    am_rng r1, r2;
    am_rng_seed(&r1, 3);
    am_rng_seed(&r2, 3);
    int diff = 0;
    for (int t = 0; t < 50; t++) {
        AM_REQUIRE_OK(fl_task_sample_train(g, 2, &r1, b));
        float a = b->amplitude, s0 = b->sx[0];
        AM_REQUIRE_OK(fl_task_sample(g, 2, &r2, b));
        diff += a != b->amplitude || s0 != b->sx[0];
    }
    AM_CHECK(diff == 0, "pool 0: %d of 50 draws differ from fl_task_sample", diff);
    AM_CHECK(fl_task_sample_pool(g, 0, 0, b) == AM_EINVAL, "no pool");
    fl_task_buf_destroy(b);
    fl_task_family_destroy(g);
    fl_task_family_destroy(f);

    /* Fashion-MNIST: fixed classes and images */
    fl_task_cfg_default(&c, FL_TASK_FMNIST);
    c.n_train_agents = 2;
    c.n_new_agents = 1;
    c.pool = 3;
    f = make(&c);
    f2 = make(&c);
    AM_REQUIRE(f && f2, "create fmnist");
    AM_REQUIRE_OK(fl_task_buf_create(f, &b));
    AM_REQUIRE_OK(fl_task_buf_create(f2, &b2));
    const size_t ns = fl_task_support_size(f), nq = fl_task_query_size(f);
    for (unsigned i = 0; i < 3; i++) {
        AM_REQUIRE_OK(fl_task_sample_pool(f, 1, i, b));
        AM_REQUIRE_OK(fl_task_sample_pool(f2, 1, i, b2));
        AM_CHECK(memcmp(b->classes, b2->classes, 5 * sizeof(uint32_t)) == 0 &&
                     memcmp(b->support_idx, b2->support_idx, ns * sizeof(uint32_t)) == 0 &&
                     memcmp(b->query_idx, b2->query_idx, nq * sizeof(uint32_t)) == 0 &&
                     memcmp(b->sx, b2->sx, ns * 784 * sizeof(float)) == 0,
                 "fmnist pool task %u differs between two families", i);
        AM_CHECK(check_nway(f, b, 5, 5, 15) == 0, "pool task %u is not 5-way 5-shot", i);
    }
    AM_REQUIRE_OK(fl_task_sample_pool(f, 1, 0, b));
    AM_REQUIRE_OK(fl_task_sample_pool(f, 1, 1, b2));
    AM_CHECK(memcmp(b->support_idx, b2->support_idx, ns * sizeof(uint32_t)) != 0, "tasks 0 and 1");
    fl_task_buf_destroy(b);
    fl_task_buf_destroy(b2);
    fl_task_family_destroy(f);
    fl_task_family_destroy(f2);
}
