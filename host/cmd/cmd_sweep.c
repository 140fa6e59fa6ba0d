/* airmeta sweep: a grid of `airmeta sim` runs (SNR x sparsity x agents x g_th x aggregation x
 * seeds): run here as parallel child processes (--jobs), or written as a job list for a batch
 * system (--plan: GNU parallel, a Slurm array) and collected later (--collect); one table per run
 * and one over seeds; PNG plots of the convergence-generalisation trade-off (docs/paper.md §4,
 * issue 5 item 1, issue 14). The grid is run/sweep_plan.h, the tables run/sweep_collect.h, the
 * plots run/sweep_plot.h, the local runner run/sweep_local.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "core/escape.h"
#include "run/plot.h"
#include "run/rundir.h"
#include "run/sweep_collect.h"
#include "run/sweep_local.h"
#include "run/sweep_plan.h"
#include "run/sweep_plot.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/monotime.h"

typedef struct sw_opts {
    sweep_spec spec;
    const char *out, *plan, *collect;
    unsigned jobs;
    int force, no_plots, slurm;
} sw_opts;

static const char *const sw_usage =
    "--out DIR [--snr-db LIST] [--sparsity LIST] [--agents LIST] [--g-th LIST] [--agg LIST] "
    "[--seeds N|LIST] [--rounds R] [--baseline-beta LIST] [--task T] [--jobs N] "
    "[-- SIM FLAGS...]\n"
    "       airmeta sweep --plan DIR [--slurm] [grid flags as above] [-- SIM FLAGS...]\n"
    "       airmeta sweep --collect DIR [--no-plots]";

static const char *const sw_summary =
    "Runs `airmeta sim` over the grid agg x SNR x sparsity x agents x g_th x seeds, --jobs\n"
    "processes at a time (each sim single-threaded), every run's JSONL metrics in\n"
    "sim's run folder DIR/runs/NAME/ (metrics.jsonl, config.json). Flags after `--` go to\n"
    "every sim (e.g. `-- --alpha 0.01 --heterogeneity 0.5`); sim checks them once before\n"
    "the grid starts. Runs whose folder is complete for the same command line are not run\n"
    "again (--force reruns them).\n"
    "Writes DIR/results.{csv,json} (one row per run: final and tail-mean training loss,\n"
    "new-agent loss before/after fine-tuning and accuracy, training-agent loss/accuracy\n"
    "after, generalisation gap, mean aggregation NMSE, mean active agents, and the paired\n"
    "differences *_vs_ideal with the ideal run of the same seed, sparsity and K: same agents\n"
    "and tasks, only the channel differs), DIR/summary.{csv,json} (mean and standard error\n"
    "over seeds per configuration; with sim --pool also the training agents' own-data loss\n"
    "own_loss_after and the paper's gap gap_paper = new - own, beside gap_loss = new - fresh\n"
    "tasks of the training agents), DIR/evals.csv and DIR/evals.png (new agents' loss after\n"
    "fine-tuning at every evaluation round, per configuration), DIR/convergence.png (training\n"
    "loss against rounds per SNR) and DIR/generalization.png (loss after fine-tuning, gap,\n"
    "paired differences and accuracy against SNR, error bars over seeds). --baseline-beta\n"
    "adds ideal-channel controls at smaller outer steps, paired with the same ideal run as the\n"
    "noisy ones: a noisy channel beats ideal by more than a smaller step does, or it does not. "
    "Without gnuplot the plots are skipped\n"
    "with a note. The defaults are the README's default sweep (add `-- --heterogeneity 0.9\n"
    "--new-agents 50`).\n\n"
    "On other machines (a cluster, hosts reached by ssh): --plan DIR writes the grid as\n"
    "DIR/jobs.txt, one self-contained `airmeta sim` command per line (absolute paths; the\n"
    "program is $AIRMETA when set, else this one) writing DIR/runs/NAME/; a line is idempotent:\n"
    "a finished run of the same configuration is left as it is (exit 0), an interrupted one\n"
    "continues (sim --continue). Run the lines with any batch system: `parallel :::: "
    "DIR/jobs.txt`,\n"
    "`parallel --sshloginfile HOSTS :::: DIR/jobs.txt` (DIR on a file system every host sees at\n"
    "the same path), or with --slurm `sbatch DIR/sweep.sbatch` (a Slurm array, task i runs\n"
    "line i). Then --collect DIR builds the tables and plots above from the run folders there;\n"
    "points of the grid without a finished run are listed as missing with their line of\n"
    "jobs.txt (re-run those lines, or all: finished ones are no-ops). --collect also reads the\n"
    "folder of a local sweep.\n\n"
    "exit status: 0 all runs done (--collect: every point of the grid present); 1 some runs\n"
    "failed (reported with their command line; the tables hold the others; --collect: some\n"
    "points missing); 2 bad usage (or sim refused the flags); 4 I/O error.";

static size_t sw_table(sw_opts *o, cli_opt *t)
{
    sweep_spec *g = &o->spec;
    const cli_opt opts[] = {
        {"--snr-db", CLI_STR, &g->snr, "per-agent SNRs in dB (default -20,-10,0,10,20,30)", 1, 0,
         NULL},
        {"--sparsity", CLI_STR, &g->sparsity, "fractions of entries sent, list (default 1)", 1, 0,
         NULL},
        {"--agents", CLI_STR, &g->agents, "training agents K, list (default 5)", 1, 0, NULL},
        {"--g-th", CLI_STR, &g->g_th, "truncation thresholds on |h|^2, list (default 0.1)", 1, 0,
         NULL},
        {"--agg", CLI_STR, &g->agg,
         "aggregations, list of ideal|stat|iq (default stat,ideal; ideal runs once per "
         "sparsity/K: SNR and g_th do not apply to it)",
         1, 0, NULL},
        {"--seeds", CLI_STR, &g->seeds, "N (seeds 1..N) or a list of seeds (default 30)", 1, 0,
         NULL},
        {"--rounds", CLI_UINT, &g->rounds, "rounds of every run (default 3000)", 1, 1e7, NULL},
        {"--baseline-beta", CLI_STR, &g->baseline_beta,
         "controls: the ideal channel also at these outer steps (a list, e.g. 1.5e-3,1e-3; given "
         "to sim as its last --beta), so a noisy channel that beats ideal can be told from one "
         "that only takes a smaller step (early stopping)",
         1, 0, NULL},
        {"--task", CLI_CHOICE, &g->task, "task family", 0, 0, "sinusoid|fmnist|omniglot"},
        {"--jobs", CLI_UINT, &o->jobs, "runs at once (default: online CPUs)", 1, 256, NULL},
        {"--out", CLI_STR, &o->out, "output folder (required): runs/, tables, plots", 1, 0, NULL},
        {"--force", CLI_FLAG, &o->force, "rerun runs already complete in --out", 0, 0, NULL},
        {"--no-plots", CLI_FLAG, &o->no_plots, "tables only", 0, 0, NULL},
        {"--plan", CLI_STR, &o->plan,
         "instead of running: write the grid as DIR/jobs.txt (one sim per line) and sweep.json", 1,
         0, NULL},
        {"--slurm", CLI_FLAG, &o->slurm,
         "with --plan: also DIR/sweep.sbatch, a Slurm array over the lines of jobs.txt", 0, 0,
         NULL},
        {"--collect", CLI_STR, &o->collect,
         "instead of running: tables and plots from the run folders in DIR (grid: DIR/sweep.json)",
         1, 0, NULL},
    };
    memcpy(t, opts, sizeof opts);
    return sizeof opts / sizeof opts[0];
}

/* defaults: the README's default sweep (with `-- --heterogeneity 0.9 --new-agents 50`) */
static void sw_defaults(sw_opts *o)
{
    memset(o, 0, sizeof *o);
    o->spec = (sweep_spec){.snr = "-20,-10,0,10,20,30",
                           .sparsity = "1",
                           .agents = "5",
                           .g_th = "0.1",
                           .agg = "stat,ideal",
                           .seeds = "30",
                           .task = "sinusoid",
                           .rounds = 3000};
}

/* Sweep flags before `--`, sim's after. AM_ENOTFOUND: --help was printed. */
static am_status sw_parse(int argc, char **argv, sw_opts *o)
{
    sw_defaults(o);
    cli_opt t[16];
    const size_t n = sw_table(o, t);
    const cli_cmd cmd = {"airmeta sweep", sw_usage, sw_summary, t, n, 0, 0};
    int nsw = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            nsw = i;
            break;
        }
    o->spec.pass_argc = nsw < argc ? argc - nsw - 1 : 0;
    o->spec.pass_argv = argv + nsw + (nsw < argc);
    size_t npos = 0;
    am_status s = cli_parse(&cmd, nsw, argv, NULL, &npos);
    if (s != AM_OK)
        return s;
    return sweep_plan_check_pass(o->spec.pass_argc, o->spec.pass_argv);
}

/* ---------------------------------------------------------------- tables and plots */

static int sw_plots(const sweep_plan *p, const sweep_run *runs, const char *dir)
{
    int rc = 0;
    char title[256], p1[SWEEP_PATH + 32], p2[SWEEP_PATH + 32], p3[SWEEP_PATH + 32], gp[SWEEP_PATH];
    snprintf(title, sizeof title, "airmeta sweep: %s, %u rounds, %u seeds (mean +- s.e.)", p->task,
             p->rounds, p->nseeds);
    snprintf(p1, sizeof p1, "%s/convergence.png", dir);
    snprintf(p2, sizeof p2, "%s/generalization.png", dir);
    snprintf(p3, sizeof p3, "%s/evals.png", dir);
    if (plot_find_gnuplot(gp, sizeof gp) != AM_OK) {
        printf("plots skipped: %s\n", am_last_error());
        return 0;
    }
    am_status s = sweep_plot_convergence(p1, title, p, runs);
    if (s == AM_OK)
        printf("plot: %s\n", AM_ESC(p1));
    else {
        fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
        rc = am_status_exit_code(s);
    }
    s = sweep_plot_generalization(p2, title, p, runs);
    if (s == AM_OK)
        printf("plot: %s\n", AM_ESC(p2));
    else if (s == AM_ENOTSUP)
        printf("plot %s skipped: %s\n", AM_ESC(p2), am_last_error());
    else {
        fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
        rc = am_status_exit_code(s);
    }
    s = sweep_plot_evals(p3, title, p, runs);
    if (s == AM_OK)
        printf("plot: %s\n", AM_ESC(p3));
    else if (s == AM_ENOTSUP)
        printf("plot %s skipped: %s\n", AM_ESC(p3), am_last_error());
    else {
        fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
        rc = am_status_exit_code(s);
    }
    return rc;
}

/* Paired differences, tables, the printed summary, plots (when some run has results). wall < 0:
 * not printed. Returns an exit code. */
static int sw_report(const sweep_plan *p,
                     sweep_run *runs,
                     const char *dir,
                     size_t nresults,
                     double wall,
                     int no_plots)
{
    sweep_collect_pair(p, runs);
    am_status s = sweep_collect_tables(p, runs, dir);
    if (s != AM_OK)
        return cli_fail("sweep", s);
    sweep_collect_print(stdout, p, runs);
    const char *dir_esc = AM_ESC(dir);
    printf("\ntables: %s/results.{csv,json} (per run), %s/summary.{csv,json} (over seeds)", dir_esc,
           dir_esc);
    if (wall >= 0)
        printf("; %.1f s wall", wall);
    printf("\n");
    return nresults && !no_plots ? sw_plots(p, runs, dir) : 0;
}

/* ---------------------------------------------------------------- local runs */

typedef struct sw_progress {
    const sweep_plan *p;
    const sweep_run *runs;
} sw_progress;

static void
sw_done(void *ctx, size_t j, size_t done, double dt, am_status s, int started, const char *cmdline)
{
    const sw_progress *g = ctx;
    const char *name = g->p->jobs[j].name;
    if (s != AM_OK && !started) {
        fprintf(stderr, "airmeta sweep: %s: %s\n", name, am_last_error());
        return;
    }
    if (s != AM_OK) {
        fprintf(stderr, "airmeta sweep: run %s failed (%s); command: %s\n", name, am_last_error(),
                AM_ESC(cmdline));
        return;
    }
    const double *m = g->runs[j].m;
    printf("[%zu/%zu] %-40s %6.1f s  loss %.4f  new-agent loss %.4f  gap %+.4f\n", done,
           g->p->njobs, name, dt, m[SWEEP_M_TRAIN_LOSS_TAIL], m[SWEEP_M_NEW_LOSS_AFTER],
           m[SWEEP_M_GAP_LOSS]);
    fflush(stdout);
}

/* The airmeta program's absolute path. */
static am_status sw_self(char *self, size_t cap)
{
    ssize_t sl = readlink("/proc/self/exe", self, cap - 1);
    if (sl <= 0)
        return AM_FAIL(AM_EIO, "sweep: cannot find the airmeta program (/proc/self/exe): %s",
                       strerror(errno));
    self[sl] = '\0';
    return AM_OK;
}

/* OUT/runs and OUT with its parents; sim validates the flags once per aggregation. */
static int sw_prepare(const sweep_plan *p, const sweep_local_cfg *lc, const char *flag)
{
    char runs_dir[SWEEP_PATH + 16];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", lc->dir);
    am_status s = fs_mkdir_p(runs_dir);
    if (s != AM_OK)
        return cli_fail("sweep", am_error_wrap(s, "%s", flag));
    int code = 0;
    if ((s = sweep_local_probe(p, lc, &code)) != AM_OK) {
        fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
        return code == 2 ? 2 : (code ? code : 2);
    }
    return 0;
}

static int
sw_local_run(const sw_opts *o, const sweep_plan *p, int argc, char **argv, sweep_run *runs)
{
    char self[SWEEP_PATH];
    am_status s = sw_self(self, sizeof self);
    if (s != AM_OK)
        return cli_fail("sweep", s);
    const sweep_local_cfg lc = {o->out, self, o->jobs, o->force};
    int rc = sw_prepare(p, &lc, "--out");
    if (rc)
        return rc;
    sweep_local *q = NULL;
    size_t skipped = 0, failed = 0;
    if ((s = sweep_local_create(p, &lc, runs, &q, &skipped)) != AM_OK ||
        (s = sweep_plan_write_json(&o->spec, argc, argv, p->njobs, AM_VERSION, o->out)) != AM_OK) {
        sweep_local_destroy(q);
        return cli_fail("sweep", s);
    }
    printf("airmeta sweep: %zu runs (%zu configurations x %u seeds) of %u rounds, %u at a time, "
           "into %s\n",
           p->njobs, p->npoints, p->nseeds, p->rounds, o->jobs, AM_ESC(o->out));
    if (skipped)
        printf("  %zu runs already complete (same command line): not run again\n", skipped);
    fflush(stdout);
    sw_progress g = {p, runs};
    const double t_start = monotime_s();
    s = sweep_local_run(q, runs, sw_done, &g, &failed);
    sweep_local_destroy(q);
    if (s != AM_OK)
        return cli_fail("sweep", s);
    rc = sw_report(p, runs, o->out, p->njobs - failed, monotime_s() - t_start, o->no_plots);
    if (failed) {
        fprintf(stderr,
                "airmeta sweep: %zu of %zu runs failed (see above); the tables hold the "
                "other %zu\n",
                failed, p->njobs, p->njobs - failed);
        rc = rc ? rc : 1;
    }
    return rc;
}

/* One sweep per folder at a time (issue 12); a finished one is reused (its complete runs). */
static int sw_local(const sw_opts *o, const sweep_plan *p, int argc, char **argv, sweep_run *runs)
{
    run_dir *rd = NULL;
    am_status s = run_dir_open(o->out, RUN_DIR_REUSE, "airmeta sweep", &rd);
    if (s != AM_OK)
        return cli_fail("sweep", am_error_wrap(s, "--out"));
    int rc = sw_local_run(o, p, argc, argv, runs);
    if (rc == 0 && (s = run_dir_finish(rd)) != AM_OK)
        rc = cli_fail("sweep", s);
    run_dir_close(rd);
    return rc;
}

/* ---------------------------------------------------------------- plan and collect */

static int sw_plan(const sw_opts *o, const sweep_plan *p, int argc, char **argv)
{
    char self[SWEEP_PATH], dir[PATH_MAX];
    am_status s = sw_self(self, sizeof self);
    if (s != AM_OK)
        return cli_fail("sweep", s);
    if ((s = fs_mkdir_p(o->plan)) != AM_OK)
        return cli_fail("sweep", am_error_wrap(s, "--plan"));
    if (!realpath(o->plan, dir))
        return cli_fail("sweep", AM_FAIL(AM_EIO, "--plan %s: %s", o->plan, strerror(errno)));
    const sweep_local_cfg lc = {dir, self, 1, 0};
    int rc = sw_prepare(p, &lc, "--plan");
    if (rc)
        return rc;
    if ((s = sweep_plan_write_json(&o->spec, argc, argv, p->njobs, AM_VERSION, dir)) != AM_OK ||
        (s = sweep_plan_write_jobs(p, self, dir, o->slurm)) != AM_OK)
        return cli_fail("sweep", s);
    /* the commands to paste with the folder as one shell word (a folder named with $(...) or
     * spaces would otherwise run or split), the names beside them as the folder is */
    char jobs[PATH_MAX + 16], sbatch[PATH_MAX + 16];
    snprintf(jobs, sizeof jobs, "%s/jobs.txt", dir);
    snprintf(sbatch, sizeof sbatch, "%s/sweep.sbatch", dir);
    char *qd = sweep_shell_quote(dir), *qj = sweep_shell_quote(jobs),
         *qs = sweep_shell_quote(sbatch);
    if (!qd || !qj || !qs) {
        free(qd), free(qj), free(qs);
        return cli_fail("sweep", AM_FAIL(AM_ENOMEM, "sweep: out of memory"));
    }
    const char *de = AM_ESC(dir);
    printf("airmeta sweep: %zu runs (%zu configurations x %u seeds) of %u rounds planned:\n"
           "  %s/jobs.txt: one `airmeta sim` per line (idempotent), e.g.\n",
           p->njobs, p->npoints, p->nseeds, p->rounds, de);
    printf("    parallel --jobs N :::: %s\n", AM_ESC(qj));
    printf("    parallel --sshloginfile HOSTS :::: %s\n", AM_ESC(qj));
    if (o->slurm)
        printf("  %s/sweep.sbatch: a Slurm array of %zu tasks: sbatch %s\n", de, p->njobs,
               AM_ESC(qs));
    printf("then: airmeta sweep --collect %s\n", AM_ESC(qd));
    free(qd), free(qj), free(qs);
    return 0;
}

/* The grid of the sweep in dir, from its sweep.json. */
static int sw_collect(const char *dir, int no_plots)
{
    int argc = 0;
    char **argv = NULL;
    am_status s = sweep_plan_read_argv(dir, &argc, &argv);
    if (s != AM_OK)
        return cli_fail("sweep", am_error_wrap(s, "--collect %s: not a sweep folder", dir));
    sw_opts o;
    sweep_plan *p = NULL;
    sweep_run *runs = NULL;
    int rc = 0;
    if ((s = sw_parse(argc, argv, &o)) != AM_OK || (s = sweep_plan_create(&o.spec, &p)) != AM_OK ||
        (s = sweep_plan_check_sim(p)) != AM_OK) {
        rc = cli_fail("sweep", am_error_wrap(AM_EFORMAT, "--collect %s: sweep.json", dir));
        goto done;
    }
    if (!(runs = calloc(p->njobs, sizeof *runs))) {
        rc = cli_fail("sweep", AM_FAIL(AM_ENOMEM, "sweep: out of memory"));
        goto done;
    }
    const size_t missing = sweep_collect_read_all(p, dir, runs, stdout);
    printf("airmeta sweep: %zu of %zu runs (%zu configurations x %u seeds) of %u rounds found in "
           "%s\n",
           p->njobs - missing, p->njobs, p->npoints, p->nseeds, p->rounds, AM_ESC(dir));
    rc = sw_report(p, runs, dir, p->njobs - missing, -1.0, no_plots);
    if (missing) {
        fprintf(stderr,
                "airmeta sweep: %zu of %zu points missing (listed above: run those lines of "
                "%s/jobs.txt again); the tables hold the other %zu\n",
                missing, p->njobs, AM_ESC(dir), p->njobs - missing);
        rc = rc ? rc : 1;
    }
done:
    for (size_t j = 0; runs && j < p->njobs; j++)
        sweep_run_clear(&runs[j]);
    free(runs);
    sweep_plan_destroy(p);
    sweep_json_argv_free(argc, argv);
    return rc;
}

/* --collect DIR takes the grid from DIR: no grid flags beside it. */
static am_status sw_collect_only(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--collect") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--collect=", 10) == 0 || strcmp(argv[i], "--no-plots") == 0)
            continue;
        return AM_FAIL(AM_EINVAL,
                       "--collect DIR reads the grid from DIR/sweep.json: %s does not go with it",
                       argv[i]);
    }
    return AM_OK;
}

int cmd_sweep(int argc, char **argv)
{
    sw_opts o;
    am_status s = sw_parse(argc, argv, &o);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("sweep", s);
    if (o.collect) {
        if ((s = sw_collect_only(argc, argv)) != AM_OK)
            return cli_fail("sweep", s);
        return sw_collect(o.collect, o.no_plots);
    }
    if (o.plan && o.out)
        return cli_fail("sweep", AM_FAIL(AM_EINVAL, "--plan DIR and --out DIR: one or the other "
                                                    "(--plan writes the jobs, --out runs them)"));
    if (o.slurm && !o.plan)
        return cli_fail("sweep", AM_FAIL(AM_EINVAL, "--slurm goes with --plan DIR"));
    if (!o.out && !o.plan)
        return cli_fail("sweep", AM_FAIL(AM_EINVAL, "--out DIR is required"));
    if (!o.jobs) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.jobs = n < 1 ? 1 : (n > 256 ? 256 : (unsigned)n);
    }
    sweep_plan *p = NULL;
    if ((s = sweep_plan_create(&o.spec, &p)) != AM_OK)
        return cli_fail("sweep", s);
    int rc;
    if (o.plan) {
        rc = sw_plan(&o, p, argc, argv);
    } else {
        sweep_run *runs = calloc(p->njobs, sizeof *runs);
        rc = runs ? sw_local(&o, p, argc, argv, runs)
                  : cli_fail("sweep", AM_FAIL(AM_ENOMEM, "sweep: out of memory"));
        for (size_t j = 0; runs && j < p->njobs; j++)
            sweep_run_clear(&runs[j]);
        free(runs);
    }
    sweep_plan_destroy(p);
    return rc;
}
