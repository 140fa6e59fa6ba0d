/* airmeta bench fl: us per MAML meta-iteration on the sinusoid benchmark (issue 3 "Performance":
 * MLP 1-40-40-1, 25 tasks, 10 shots, 1 inner step, second order; target 70 000 iterations in
 * <= 30 s on one core) and the layer kernels' GFLOP/s (bench_fl_kernels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_fl.h"
#include "util/cli.h"
#include "bench/bench.h"
#include "core/rng.h"
#include "fl/meta.h"
#include "fl/model.h"
#include "fl/task.h"
#include "util/monotime.h"

/* CPU time of the calling thread: on a shared machine (other processes on the core) it is the
 * figure that predicts a run on a dedicated core; wall time is reported beside it. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct sin_ctx {
    const fl_task_family *fam;
    fl_task_buf *buf;
    unsigned agent;
} sin_ctx;

static am_status sin_sample(void *ctx, am_rng *rng, const fl_batch **s, const fl_batch **q)
{
    sin_ctx *c = ctx;
    am_status st = fl_task_sample(c->fam, c->agent, rng, c->buf);
    *s = &c->buf->support;
    *q = &c->buf->query;
    return st;
}

/* One learner: medians over `reps` repetitions of the mean wall and CPU us per meta-iteration
 * (local update of 25 tasks + Adam step), each repetition `iters` iterations. */
static am_status time_learner(fl_learner learner,
                              unsigned iters,
                              unsigned reps,
                              double *us_med,
                              double *cpu_med,
                              double *final_loss)
{
    const unsigned widths[] = {1, 40, 40, 1};
    fl_mlp_cfg mc = {widths, 4, 10, FL_INIT_HE};
    fl_task_cfg tc;
    fl_task_cfg_default(&tc, FL_TASK_SINUSOID);
    tc.n_train_agents = 1;
    tc.n_new_agents = 1;
    tc.shots = 10;
    tc.query = 10;
    fl_model *m = NULL;
    fl_task_family *fam = NULL;
    fl_task_buf *buf = NULL;
    fl_meta *meta = NULL;
    fl_opt *opt = NULL;
    float *theta = NULL, *u = NULL;
    double *t = calloc(reps, sizeof *t), *c = calloc(reps, sizeof *c);
    am_status st = fl_model_create_mlp(&mc, &m);
    if (st == AM_OK)
        st = fl_task_family_create(&tc, &fam);
    if (st == AM_OK)
        st = fl_task_buf_create(fam, &buf);
    fl_meta_cfg cfg;
    fl_meta_cfg_default(&cfg); /* 1 inner step, alpha 0.01, 25 tasks */
    cfg.learner = learner;
    if (st == AM_OK)
        st = fl_meta_create(&cfg, m, 10, &meta);
    fl_opt_cfg oc;
    fl_opt_cfg_default(&oc); /* Adam 1e-3 */
    const size_t D = m ? fl_model_nparams(m) : 0;
    if (st == AM_OK)
        st = fl_opt_create(&oc, D, &opt);
    if (st == AM_OK &&
        (!(theta = malloc(D * sizeof *theta)) || !(u = malloc(D * sizeof *u)) || !t || !c))
        st = AM_FAIL(AM_ENOMEM, "bench fl: out of memory");
    am_rng rng;
    am_rng_seed(&rng, 1);
    if (st == AM_OK)
        st = fl_model_init(m, theta, &rng);
    sin_ctx ctx = {fam, buf, 0};
    float l = 0.0f;
    for (unsigned r = 0; st == AM_OK && r <= reps; r++) {
        double t0 = monotime_s(), c0 = cpu_s();
        for (unsigned i = 0; st == AM_OK && i < iters; i++) {
            st = fl_meta_local_update(meta, m, theta, FL_LOSS_MSE, sin_sample, &ctx, &rng, u, &l);
            fl_opt_step(opt, theta, u);
        }
        if (r > 0) { /* repetition 0 warms caches and OpenBLAS up */
            t[r - 1] = (monotime_s() - t0) / iters * 1e6;
            c[r - 1] = (cpu_s() - c0) / iters * 1e6;
        }
    }
    if (st == AM_OK) {
        qsort(t, reps, sizeof *t, cmp_double);
        qsort(c, reps, sizeof *c, cmp_double);
        *us_med = t[reps / 2];
        *cpu_med = c[reps / 2];
        *final_loss = l;
    }
    free(t);
    free(c);
    free(theta);
    free(u);
    fl_opt_destroy(opt);
    fl_meta_destroy(meta);
    fl_task_buf_destroy(buf);
    fl_task_family_destroy(fam);
    fl_model_destroy(m);
    return st;
}

int bench_fl(int argc, char **argv)
{
    int json = 0;
    unsigned iters = 200, reps = 7;
    const cli_opt opts[] = {
        {"--json", CLI_FLAG, &json, "one JSON object per line", 0, 0, NULL},
        {"--iters", CLI_UINT, &iters, "meta-iterations per repetition", 1, 100000, NULL},
        {"--reps", CLI_UINT, &reps, "repetitions (the median is reported)", 1, 101, NULL},
    };
    const cli_cmd cmd = {"airmeta bench fl",
                         "[--json] [--iters N] [--reps N]",
                         "us per MAML sinusoid meta-iteration (MLP 1-40-40-1, 25 tasks, 10 "
                         "shots, 1 inner step, second order), the projected time of 70 000 "
                         "iterations on one core (target <= 30 s), and GFLOP/s of the layer "
                         "kernels.",
                         opts,
                         sizeof opts / sizeof opts[0],
                         0,
                         0};
    const char *pos[1];
    size_t npos = 0;
    am_status st = cli_parse(&cmd, argc, argv, pos, &npos);
    if (st == AM_ENOTFOUND)
        return 0;
    if (st != AM_OK)
        return cli_fail("bench fl", st);
    /* The kernels first: bench_fl_kernels also pins OpenBLAS to one thread. */
    int rc = bench_fl_kernels(json, reps);
    if (rc != 0)
        return rc;
    const fl_learner learners[] = {FL_LEARNER_MAML, FL_LEARNER_FOMAML};
    for (size_t i = 0; i < 2; i++) {
        double wall = 0, cpu = 0, loss = 0;
        st = time_learner(learners[i], iters, reps, &wall, &cpu, &loss);
        if (st != AM_OK)
            return cli_fail("bench fl", st);
        /* The projection uses CPU time (what a dedicated core would take). */
        const double proj = cpu * 70000.0 * 1e-6;
        const int maml = learners[i] == FL_LEARNER_MAML;
        if (json)
            printf("{\"bench\":\"fl\",\"case\":\"%s_sinusoid\",\"model\":\"mlp 1-40-40-1\","
                   "\"tasks\":25,\"shots\":10,\"inner_steps\":1,\"iters\":%u,\"reps\":%u,"
                   "\"us_per_iter\":%.1f,\"cpu_us_per_iter\":%.1f,\"projected_70000_s\":%.2f,"
                   "\"target_s\":%s,\"meets_target\":%s}\n",
                   fl_learner_name(learners[i]), iters, reps, wall, cpu, proj, maml ? "30" : "null",
                   maml ? (proj <= 30.0 ? "true" : "false") : "null");
        else
            printf("%-7s sinusoid 1-40-40-1, 25 tasks x 10 shots, 1 inner step: %7.1f us CPU per "
                   "meta-iteration (wall %.1f); 70 000 iterations: %5.1f s (target <= 30 s%s)\n",
                   fl_learner_name(learners[i]), cpu, wall, proj,
                   maml ? (proj <= 30.0 ? ", met" : ", MISSED") : ": n/a");
        fflush(stdout);
    }
    return 0;
}
