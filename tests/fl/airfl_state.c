/* fl/airfl state (checkpoints): a run saved after round r and restored into a fresh object (other
 * thread count) continues bit for bit like the uninterrupted run (stats, theta, memories), for
 * Adam and SGD, random-k sparsification with memory and the stat channel; every malformed blob is
 * refused with AM_EFORMAT and leaves the object unchanged. */
#include <math.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/agg.h"
#include "fl/airfl.h"
#include "fl/meta.h"
#include "fl/model.h"
#include "fl/task.h"

typedef struct rig {
    fl_task_family *fam;
    fl_model *m;
    fl_airfl *q;
    fl_agg agg;
} rig;

static fl_model *mlp(unsigned hidden)
{
    const unsigned w[] = {1, hidden, hidden, 1};
    fl_mlp_cfg mc = {w, 4, 10, FL_INIT_HE};
    fl_model *m = NULL;
    fl_model_create_mlp(&mc, &m);
    return m;
}

static am_status rig_make(rig *r, unsigned K, unsigned threads, fl_opt_kind opt, unsigned hidden)
{
    memset(r, 0, sizeof *r);
    fl_task_cfg tc;
    fl_task_cfg_default(&tc, FL_TASK_SINUSOID);
    tc.n_train_agents = 8;
    tc.seed = 5;
    am_status s = fl_task_family_create(&tc, &r->fam);
    if (s != AM_OK)
        return s;
    if (!(r->m = mlp(hidden)))
        return AM_FAIL(AM_ENOMEM, "model");
    fl_airfl_cfg ac;
    fl_airfl_cfg_default(&ac);
    ac.agents = K;
    ac.meta.tasks = 2;
    ac.opt.kind = opt;
    ac.opt.lr = 3e-3f;
    ac.sparsify = FL_SPARSE_RANDK;
    ac.keep = 0.3;
    ac.g_th = 0.3f;
    ac.threads = threads;
    ac.seed = 11;
    if ((s = fl_airfl_create(&ac, r->m, r->fam, &r->q)) != AM_OK)
        return s;
    fl_agg_stat_cfg sc = {.snr_db = 10.0, .seed = 11};
    return fl_agg_stat_create(&sc, &r->agg);
}

static void rig_free(rig *r)
{
    fl_agg_destroy(&r->agg);
    fl_airfl_destroy(r->q);
    fl_model_destroy(r->m);
    fl_task_family_destroy(r->fam);
}

static void check_resume(fl_opt_kind opt)
{
    enum { R = 8, CUT = 3, K = 4 };
    rig a, b, c;
    AM_REQUIRE_OK(rig_make(&a, K, 1, opt, 16));
    AM_REQUIRE_OK(rig_make(&b, K, 2, opt, 16));
    AM_REQUIRE_OK(rig_make(&c, K, 3, opt, 16));
    fl_airfl_stats sa[R], sb;
    for (unsigned r = 0; r < R; r++)
        AM_REQUIRE_OK(fl_airfl_round(a.q, a.fam, &a.agg, &sa[r]));
    for (unsigned r = 0; r < CUT; r++)
        AM_REQUIRE_OK(fl_airfl_round(b.q, b.fam, &b.agg, &sb));
    const size_t n = fl_airfl_state_size(b.q), D = fl_airfl_dim(b.q);
    const size_t expect = 40 + (1 + (opt == FL_OPT_ADAM ? 2 : 0) + K) * D * 4 + K * 32;
    AM_CHECK(n == expect, "state size %zu, expected %zu", n, expect);
    unsigned char *buf = malloc(n);
    AM_REQUIRE(buf, "out of memory");
    AM_CHECK(fl_airfl_state_save(b.q, buf, n - 1) == AM_EINVAL, "short buffer accepted");
    AM_REQUIRE_OK(fl_airfl_state_save(b.q, buf, n));
    /* c never ran a round: after the load it is b */
    AM_REQUIRE_OK(fl_airfl_state_load(c.q, buf, n));
    AM_CHECK(fl_airfl_round_index(c.q) == CUT, "round index %u", fl_airfl_round_index(c.q));
    AM_CHECK(memcmp(fl_airfl_theta(c.q), fl_airfl_theta(b.q), D * sizeof(float)) == 0, "theta");
    for (unsigned r = CUT; r < R; r++) {
        fl_airfl_stats s;
        AM_REQUIRE_OK(fl_airfl_round(c.q, c.fam, &c.agg, &s));
        AM_CHECK(s.round == sa[r].round && s.train_loss == sa[r].train_loss &&
                     s.agg_nmse == sa[r].agg_nmse && s.mean_active == sa[r].mean_active &&
                     s.eta == sa[r].eta && s.memory_norm == sa[r].memory_norm,
                 "round %u: resumed loss %.9g nmse %.9g, uninterrupted %.9g %.9g", r, s.train_loss,
                 s.agg_nmse, sa[r].train_loss, sa[r].agg_nmse);
    }
    AM_CHECK(memcmp(fl_airfl_theta(c.q), fl_airfl_theta(a.q), D * sizeof(float)) == 0,
             "final theta differs");
    for (unsigned k = 0; k < K; k++)
        AM_CHECK(memcmp(fl_airfl_memory(c.q, k), fl_airfl_memory(a.q, k), D * sizeof(float)) == 0,
                 "agent %u's memory differs", k);
    /* and without the load the continuation is different (the test can fail) */
    fl_airfl_stats s0;
    rig f;
    AM_REQUIRE_OK(rig_make(&f, K, 1, opt, 16));
    AM_REQUIRE_OK(fl_airfl_round(f.q, f.fam, &f.agg, &s0));
    AM_CHECK(s0.train_loss != sa[CUT].train_loss, "a fresh object matched round %d", CUT);
    rig_free(&f);
    free(buf);
    rig_free(&a);
    rig_free(&b);
    rig_free(&c);
}

AM_TEST(resume_adam, unit)
{
    check_resume(FL_OPT_ADAM);
}

AM_TEST(resume_sgd, unit)
{
    check_resume(FL_OPT_SGD);
}

/* Loads that must fail: AM_EFORMAT, and the target keeps its theta, memories and round. */
AM_TEST(load_rejects, unit)
{
    enum { K = 3 };
    rig a, t;
    AM_REQUIRE_OK(rig_make(&a, K, 1, FL_OPT_ADAM, 8));
    AM_REQUIRE_OK(rig_make(&t, K, 1, FL_OPT_ADAM, 8));
    for (int r = 0; r < 2; r++)
        AM_REQUIRE_OK(fl_airfl_round(a.q, a.fam, &a.agg, NULL));
    AM_REQUIRE_OK(fl_airfl_round(t.q, t.fam, &t.agg, NULL));
    const size_t n = fl_airfl_state_size(a.q), D = fl_airfl_dim(a.q);
    unsigned char *good = malloc(n), *bad = malloc(n), *ref = malloc(n);
    AM_REQUIRE(good && bad && ref, "out of memory");
    AM_REQUIRE_OK(fl_airfl_state_save(a.q, good, n));
    AM_REQUIRE_OK(fl_airfl_state_save(t.q, ref, n));
    const size_t off_theta = 40, off_m = off_theta + 4 * D, off_v = off_m + 4 * D,
                 off_mem = off_v + 4 * D, off_rng = off_mem + 4 * K * D;
    AM_CHECK(off_rng + 32 * K == n, "layout: %zu + %d != %zu", off_rng, 32 * K, n);
    const float fnan = NAN, fneg = -1.0f;
    const uint32_t u7 = 7, u1 = 0;
    const uint64_t d1 = D + 1;
    struct {
        const char *what;
        size_t off, len;
        const void *val;
        size_t n;
    } cases[] = {
        {"magic", 0, 1, "X", n},
        {"version", 4, 4, &u7, n},
        {"agents", 8, 4, &u7, n},
        {"optimiser", 12, 4, &u1, n},
        {"dimension", 16, 8, &d1, n},
        {"truncated", 0, 0, NULL, n - 1},
        {"header only", 0, 0, NULL, 40},
        {"too short", 0, 0, NULL, 12},
        {"theta NaN", off_theta + 4 * 5, 4, &fnan, n},
        {"m NaN", off_m + 4 * 2, 4, &fnan, n},
        {"v negative", off_v + 4 * 3, 4, &fneg, n},
        {"memory NaN", off_mem + 4 * (D + 1), 4, &fnan, n},
        {"rng zero", off_rng + 32, 32, NULL, n},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(bad, good, n);
        if (cases[c].len && cases[c].val)
            memcpy(bad + cases[c].off, cases[c].val, cases[c].len);
        else if (cases[c].len)
            memset(bad + cases[c].off, 0, cases[c].len);
        am_status s = fl_airfl_state_load(t.q, bad, cases[c].n);
        AM_CHECK(s == AM_EFORMAT, "%s: status %d (%s)", cases[c].what, (int)s, am_last_error());
        unsigned char *now = malloc(n);
        AM_REQUIRE(now, "out of memory");
        AM_REQUIRE_OK(fl_airfl_state_save(t.q, now, n));
        AM_CHECK(memcmp(now, ref, n) == 0, "%s: the failed load changed the object", cases[c].what);
        free(now);
    }
    /* another model size (D) and another K */
    rig o;
    AM_REQUIRE_OK(rig_make(&o, K, 1, FL_OPT_ADAM, 9));
    AM_CHECK(fl_airfl_state_load(o.q, good, n) == AM_EFORMAT, "other D accepted");
    rig_free(&o);
    AM_REQUIRE_OK(rig_make(&o, K + 1, 1, FL_OPT_ADAM, 8));
    AM_CHECK(fl_airfl_state_load(o.q, good, n) == AM_EFORMAT, "other K accepted");
    rig_free(&o);
    AM_REQUIRE_OK(rig_make(&o, K, 1, FL_OPT_SGD, 8));
    AM_CHECK(fl_airfl_state_load(o.q, good, n) == AM_EFORMAT, "Adam state into SGD accepted");
    rig_free(&o);
    /* the good blob loads */
    AM_CHECK_OK(fl_airfl_state_load(t.q, good, n));
    AM_CHECK(fl_airfl_round_index(t.q) == 2, "round %u", fl_airfl_round_index(t.q));
    free(good);
    free(bad);
    free(ref);
    rig_free(&a);
    rig_free(&t);
}
