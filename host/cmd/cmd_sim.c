/* airmeta sim: Air-meta-pFL end to end in one process. The run itself is host/run/sim.h; this
 * file parses the flags and shows the rounds (a progress bar on a terminal, plain lines
 * otherwise). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/escape.h"
#include "run/sim.h"
#include "util/cli.h"
#include "util/monotime.h"


typedef struct progress {
    int bar;         /* a terminal: one line redrawn */
    double t0, last; /* this session's start, last redraw */
    unsigned r0, total;
} progress;

static void hms(char *b, size_t cap, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(b, cap, "--:--");
    else if (s < 3600)
        snprintf(b, cap, "%u:%02u", (unsigned)(s / 60), (unsigned)fmod(s, 60));
    else
        snprintf(b, cap, "%u:%02u:%02u", (unsigned)(s / 3600), (unsigned)fmod(s / 60, 60),
                 (unsigned)fmod(s, 60));
}

static void progress_draw(progress *p, unsigned done, double loss, double nmse_db, int force)
{
    const double t = monotime_s();
    if (!force && t - p->last < 0.1)
        return;
    p->last = t;
    const double per = done > p->r0 ? (t - p->t0) / (double)(done - p->r0) : NAN;
    char eta[32], bar[33];
    hms(eta, sizeof eta, per * (double)(p->total - done));
    const unsigned w = 24, fill = (unsigned)((double)w * done / p->total);
    for (unsigned i = 0; i < w; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[w] = '\0';
    const int ms = !(per >= 1.0);
    printf("\r round %u/%u [%s] %3.0f%%  loss %.4f  nmse %.1f dB  %.3g %s/round  ETA %s\033[K",
           done, p->total, bar, 100.0 * done / p->total, loss, nmse_db, ms ? 1e3 * per : per,
           ms ? "ms" : "s", eta);
    fflush(stdout);
}

/* a line above the bar */
static void progress_clear(const progress *p)
{
    if (p->bar)
        printf("\r\033[K");
}


static const char sim_summary[] =
    "Air-meta-pFL in one process (docs/paper.md §3): K training agents compute local "
    "meta-updates, add their error memory, sparsify, and reach the server through the "
    "aggregation channel (ideal: exact average; stat: Rayleigh fading per bin, truncation "
    "at --g-th, noise of docs/air-interface.md §5 at --snr-db; iq: the real waveform, every round: "
    "beacon, agents' channel estimation, precoding, OFDM bursts, the channel emulator and "
    "the server's receiver, host/round/agg_iq.h); the server updates the meta-model. "
    "At eval rounds training and new agents fine-tune from it; loss/accuracy before and after "
    "and the generalisation gap are printed and logged. Same seed, same output: "
    "metrics.jsonl is byte-identical for any --threads and across --resume (wall times go "
    "to wall.jsonl). On a terminal a progress bar, otherwise plain lines.";

static void print_header(const sim_opts *o, const sim_run *run)
{
    size_t D;
    const char *agg_name;
    const char *model = sim_run_describe(run, &D, &agg_name);
    printf("airmeta sim: %s, %s (%zu parameters), %u agents + %u new, %s aggregation%s, "
           "%s, %u threads\n",
           o->task.task, model, D, o->agents, o->eval.new_agents, agg_name,
           strcmp(o->agg, "ideal") != 0 ? "" : " (SNR/g_th unused)", o->learn.learner,
           o->threads);
    if (o->resume)
        printf("resuming %s at round %u of %u%s\n", AM_ESC(o->resume), sim_run_done(run), o->rounds,
               sim_run_done(run) ? "" : " (no checkpoint yet)");
    fflush(stdout);
}

/* The round's lines: a burst not detected, every 20th round (plain), the evaluation. */
static void print_round(const sim_opts *o, const sim_round *rr, progress *pg)
{
    const unsigned r = rr->round;
    if (rr->is_iq && !rr->iq.detected) {
        progress_clear(pg);
        printf("round %6u  burst NOT detected: estimate 0 applied, updates kept in memory\n", r);
    }
    if (rr->is_iq && rr->iq.probes) { /* §8.5: the calibration probes before this round */
        progress_clear(pg);
        printf("round %6u  %u calibration probes before it (at most %u): %u of %u agents heard in "
               "the last; excess",
               r, rr->iq.probes, o->probes.probes, rr->iq.probe_heard, rr->iq.probe_agents);
        for (unsigned p = 0; p < rr->iq.probes; p++)
            printf(" %.2f", rr->iq.probe_excess[p]);
        printf("\n");
    }
    if (!pg->bar &&
        (rr->eval || r <= pg->r0 + 3 || r % (o->rounds / 20 ? o->rounds / 20 : 1) == 0))
        printf("round %6u  loss %9.4f  nmse %7.2f dB  active %6.2f  eta %.3g  |m| %.3g\n", r,
               rr->s.train_loss, rr->nmse_db, rr->s.mean_active, rr->s.eta, rr->s.memory_norm);
    if (rr->eval) {
        const fl_personalize_report *rep = &rr->rep;
        progress_clear(pg);
        printf("  eval  round %u  new agents: loss %.4f -> %.4f", r, rep->fresh.loss_before,
               rep->fresh.loss_after);
        if (!isnan(rep->fresh.acc_after))
            printf(", acc %.1f%% -> %.1f%%", 100 * rep->fresh.acc_before,
                   100 * rep->fresh.acc_after);
        printf("  | training agents: loss %.4f", rep->train.loss_after);
        if (!isnan(rep->train.acc_after))
            printf(", acc %.1f%%", 100 * rep->train.acc_after);
        printf("  | gap %.4f", rep->gap_loss);
        if (o->task.pool)
            printf("  | own data: loss %.4f, paper's gap %.4f", rep->own.loss_after,
                   rep->gap_paper);
        printf("\n");
    }
    if (pg->bar)
        progress_draw(pg, r, rr->s.train_loss, rr->nmse_db, rr->eval || r == o->rounds);
    if (!pg->bar)
        fflush(stdout);
}

int cmd_sim(int argc, char **argv)
{
    sim_config c;
    sim_run *run = NULL;
    am_status st = sim_config_parse(&c, argc, argv, sim_summary);
    if (st == AM_OK && c.help) {
        sim_config_free(&c);
        return 0;
    }
    if (st == AM_OK)
        st = sim_run_create(&c, &run);
    if (st != AM_OK) {
        sim_config_free(&c);
        return cli_fail("sim", st);
    }
    const sim_opts *o = &c.o;
    const unsigned r0 = sim_run_done(run);
    progress pg = {.bar = !o->quiet && cli_isatty_stdout(), .r0 = r0, .total = o->rounds};
    if (!o->quiet)
        print_header(o, run);
    pg.t0 = monotime_s();
    while (st == AM_OK && sim_run_done(run) < o->rounds) {
        sim_round rr;
        if ((st = sim_run_step(run, &rr)) == AM_OK && !o->quiet)
            print_round(o, &rr, &pg);
    }
    if (st != AM_OK)
        progress_clear(&pg);
    else if (pg.bar && r0 < o->rounds)
        printf("\n");
    if (st == AM_OK)
        st = sim_run_finish(run);
    if (st == AM_OK && o->out && !o->quiet)
        printf("run folder: %s (config.json, metrics.jsonl, wall.jsonl, checkpoint.bin%s)\n",
               AM_ESC(o->out), o->no_plots ? "" : ", *.png");
    sim_run_destroy(run);
    const int rc = st == AM_OK ? 0 : cli_fail("sim", st);
    sim_config_free(&c);
    return rc;
}
