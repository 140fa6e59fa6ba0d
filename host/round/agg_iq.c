/* host/agg_iq: the `iq` aggregator (DESIGN "Data flow of one round", docs/air-interface.md §2-§7).
 *
 * One round, for the K agents of fl_agg_execute:
 *  1. a new channel realisation (phy_chan_draw); noise scaled to the round's rho so that the
 *     per-agent SNR rho / N0 is cfg.snr_db (§5);
 *  2. the server's beacon (§6) down to every present agent (phy_chan_downlink, one after the other
 *     on worker 0: the emulator's noise stream is sequential), pipelined with step 3: a worker
 *     takes the next agent whose beacon is down, so the downlinks run beside the agents' DSP;
 *  3. in parallel over agents: beacon detection, CFO and channel estimation (phy_beacon_rx: the
 *     agent never sees the emulator's secret), the CFO tracked across rounds (each agent's
 *     ota_agent_track in q->trk, cfg.track; rebuilt by replaying beacons when a run resumes),
 *     then the precoder (§4) and what each agent delivers;
 *  4. the emulator superposes the bursts with multipath, timing offsets, CFO and AWGN, with noise
 *     before (lead) and after (tail) the burst; it asks the agents for their bursts block by block
 *     on its threads (phy_chan_execute_source -> ota_agent_burst_range: phy_ota_tx and the CFO
 *     pre-compensation phy_rotate_from), so a burst never exists whole: a round holds the stream,
 *     the beacons and the precoders, O(L + K M), not K bursts (issue 14);
 *  5. optionally through a radio (a timed burst out, timestamped RX back) and into a capture;
 *  6. the server's streaming receiver (phy_ota_rx_execute) detects, synchronises, equalises and
 *     demaps: its payload IS the estimate (so a capture replays to it bit for bit).
 * With calibration (§8) the server measures each agent in its slot and the heard ones correct their
 * precoders (round_cal); before the run's first round every agent is probed twice (§8.5,
 * run_probes: steps 1-4 and 6 with an all-zero payload), as `airmeta server` probes its agents.
 *
 * The agents' side of step 3 is host/round/ota_agent.h (the same step as `airmeta agent`'s), with
 * the emulator's ticks: the downlink stream's phasor starts at its sample 0 (phase_ref 0) and the
 * beacon leaves the server at dl_lead; the uplink stream's phasor starts at its sample 0 and the
 * burst is scheduled at lead, both known to the agents (the round's schedule).
 *
 * `active`: from what the agents know (each knows where it truncated itself; on the air they
 * would report it on the control plane), i.e. exactly the estimate's divisor; the receiver's own
 * |G|/sqrt(rho) is in agg_iq_round_info.active_mean. An entry j sits on data bin
 * data_bins[(j / 2) % M_data] (§3).
 *
 * A round whose burst the receiver does not find near the scheduled instant (lead, within the cp
 * and the largest timing offset) is not applied silently: estimate 0, active 0, delivered 0 for
 * every agent (their error memory keeps the whole update), counted and flagged in
 * agg_iq_round_info.detected, or AM_ENOTFOUND with cfg.fail_on_miss. An agent that misses the
 * beacon stays silent (it cannot precode): delivered 0, counted in agents_deaf. */
#include "round/agg_iq.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "core/rng.h"
#include "phy/beacon.h"
#include "phy/cal.h"
#include "phy/chan.h"
#include "phy/fft.h"
#include "phy/frame.h"
#include "phy/ota_rx.h"
#include "phy/sigmf.h"
#include "radio/file.h"
#include "radio/radio.h"
#include "round/ota_agent.h"
#include "util/fsutil.h"
#include "util/monotime.h"

#define IQ_MAX_AGENTS 4096u
#define IQ_MAX_THREADS 64u
#define IQ_ERR_LEN 512
#define IQ_PATH_MAX 4096
#define IQ_RADIO_CHUNK 65536u

typedef struct iq_worker {
    struct agg_iq *q;
    unsigned id;
    ota_agent *ag; /* the DSP of the agents this thread serves, one after the other */
    unsigned fail_at; /* run_beacons: 0 = a downlink failed, 1 + k = agent k's DSP */
    am_status st;
    char err[IQ_ERR_LEN];
} iq_worker;

enum { PHASE_BEACON = 1, PHASE_TX = 2 };

typedef struct agg_iq {
    agg_iq_cfg cfg;
    int cfo_comp;         /* resolved cfg.cfo_comp */
    int cal;              /* resolved cfg.cal */
    float pilot;          /* the round's pilot level (§2) */
    float mu;             /* its loop gain */
    float complex *A, *E; /* with cal, K x PHY_CAL_Q: the agents' corrections, the round's E_k */
    uint32_t *nh;         /* with cal, K x PHY_CAL_Q: the measurements of each (agent, sub-band)
                             pair since its last probe, the probe included (its loop gain's
                             schedule, phy_cal_mu_steps; cfg.cal_count_agent: K x 1, the agent's
                             heard rounds, the code before) */
    unsigned char *heard; /* with cal, K */
    unsigned char *meas;  /* with cal, K x PHY_CAL_Q: the round's sub-bands with an active bin */
    float *W;             /* with cal, K x PHY_CAL_Q x PHY_CAL_Q: the interpolation's weights in
                             the round's E_k (phy_ota_burst.cal_W, phy_cal_unmix) */
    float *csnr;          /* with cal, K: the round's slot SNRs (§8.2, dB) */
    int probe_due;        /* with cal and cfg.probes: the join probes still to run (§8.5): set at
                             create, cleared by them and by agg_iq_state_load (a resumed run) */
    unsigned char *pheard; /* with cal, K: agent k heard in the last probe */
    float complex *Ap;     /* with cal, (probes + 1) x K x PHY_CAL_Q: A before the probes and after
                              each (agg_iq_cal_residual) */
    unsigned ap_n;         /* rows of Ap filled by the last probes (0: none run) */
    unsigned probes_run;   /* the probes the run made (§8.5): run_probes', or a resumed run's
                              from its state (cfg.probe_excess: their count varies) */
    float complex *za, *zs; /* with cal, M: an agent's a(i), the agents' sum of c_k(i) a_k(i) */
    char radio_name[16];
    char *radio_args, *capture_dir;
    unsigned K, M, cp, nu, nd;
    const unsigned *ubins, *dbins;
    size_t L, blen;
    phy_frame *frame;
    phy_chan *ch;
    phy_ota_rx *rx;
    /* downlink */
    float complex *beacon;
    size_t bl, dl_lead, dl_tail, dl_len;
    float complex *dl; /* K x dl_len */
    /* uplink */
    size_t lead, tail, ycap;
    unsigned char *sending; /* K: the agent found the beacon and transmits (emulator source) */
    /* steps 2-3a pipelined (run_beacons): agents 0 .. dl_ready-1 have their beacon in dl */
    pthread_mutex_t dl_mu;
    pthread_cond_t dl_cv;
    int dl_sync;              /* dl_mu and dl_cv were made */
    unsigned dl_ready;        /* under dl_mu */
    int dl_failed;            /* under dl_mu: a downlink failed, the agents after it wait no more */
    atomic_uint dl_next;      /* the next agent a worker takes */
    float complex *y, *y2;  /* received stream (y2: after the radio) */
    /* per agent */
    float complex *P;     /* K x M precoders (0 on the bins an agent truncated) */
    ota_agent_link *link; /* K: what each agent learned from the beacon (found = it sends) */
    ota_agent_track *trk; /* K: each agent's carrier-offset tracker (cfg.track > 0) */
    unsigned next_round;  /* the round index that continues the trackers' history */
    double fs_hz;         /* the radios' sample rate (cfg.impair), for the offset diagnostics */
    unsigned *nact;       /* M: agents active per bin this round */
    /* the round being aggregated (read by workers) */
    ota_agent_sched sched; /* the beacon's schedule in the downlink stream, the round's rho, g_th */
    const fl_agg_round *r;
    const float *const *x;
    const unsigned char *present;
    size_t d;
    float *const *delivered;
    /* receiver callback state */
    float *cur_out;
    int got;
    unsigned nbursts;
    uint64_t win_lo, win_hi;
    /* threads */
    unsigned T;
    iq_worker *w;
    am_pool *pool; /* core/pool: T threads, worker t serves agents t, t + T, ... */
    /* radio */
    radio *rad;
    int rad_is_file, rad_has_rx;
    int64_t next_tick;
    /* results */
    agg_iq_round_info info;
    uint64_t rounds, missed;
    float complex sym[AGG_IQ_SYMBOLS_KEPT]; /* the last detected burst's first equalised symbols */
    size_t nsym;
} agg_iq;

static const fl_agg_ops iq_ops;

/* The agents' beacon receivers' carrier-offset range (docs/air-interface.md §5.1 "The search
 * range"): the emulator's largest offset between an agent and the server, max_cfo plus two radios
 * ppm_spread apart at the radios' f_c / f_s (every radio's ppm is ppm +- ppm_spread: the common
 * ppm cancels), at most M/8 (ota_agent_cfo_range). */
static double iq_cfo_range(const agg_iq_cfg *cfg, unsigned M)
{
    const phy_impair_cfg *c = cfg->impair;
    const int radios = c && c->fs_hz > 0.0;
    return ota_agent_cfo_range(cfg->max_cfo, radios ? (double)c->ppm_spread : 0.0,
                               radios ? c->fc_hz / c->fs_hz : 0.0, M);
}

/* ---------------------------------------------------------------------------------------------
 * config
 * ------------------------------------------------------------------------------------------- */

am_status agg_iq_precoding_parse(const char *name, agg_iq_precoding *out)
{
    if (name && strcmp(name, "inversion") == 0)
        *out = AGG_IQ_INVERSION;
    else if (name && strcmp(name, "phase") == 0)
        *out = AGG_IQ_PHASE;
    else
        return AM_FAIL(AM_EINVAL, "precoding '%s': expected inversion or phase",
                       name ? name : "(null)");
    return AM_OK;
}

void agg_iq_cfg_default(agg_iq_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->agents = 10;
    cfg->max_dim = 1024;
    cfg->nfft = 256;
    cfg->cp_len = 0;
    cfg->n_taps = 4;
    cfg->delay_spread = 1.0f;
    cfg->max_timing_offset = 8; /* cp/4 for the default M = 256 */
    cfg->max_cfo = 0.0f;
    cfg->snr_db = 20.0f;
    cfg->precoding = AGG_IQ_INVERSION;
    cfg->cfo_comp = -1;
    cfg->track = 64;
    cfg->gap = 0;
    cfg->beacon_reps = 16;
    cfg->cal = -1;
    cfg->probes = PHY_CAL_PROBES;
    cfg->smooth = 0;
    cfg->threads = 2;
    cfg->seed = 1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---------------------------------------------------------------------------------------------
 * agents (run on the worker threads)
 * ------------------------------------------------------------------------------------------- */

/* Beacon -> channel and CFO -> precoder of agent k (host/round/ota_agent.h). */
static am_status agent_beacon(agg_iq *q, iq_worker *w, unsigned k)
{
    am_status s =
        ota_agent_beacon_track(w->ag, q->dl + (size_t)k * q->dl_len, q->dl_len, 0, &q->sched,
                               q->trk ? &q->trk[k] : NULL, q->P + (size_t)k * q->M, &q->link[k]);
    if (s == AM_OK && q->cal && q->link[k].found) { /* §8.4: slot k, correction A_k */
        q->link[k].cal_slot = k;
        ota_agent_correct(w->ag, q->A + (size_t)k * PHY_CAL_Q, q->P + (size_t)k * q->M);
    }
    return s == AM_OK ? AM_OK : am_error_wrap(s, "agent %u", k);
}

/* delivered[k]: agent k's entries on the bins it did not truncate (0 if it stays silent). */
static am_status agent_tx(agg_iq *q, iq_worker *w, unsigned k)
{
    float *del = q->delivered ? q->delivered[k] : NULL;
    if (!del)
        return AM_OK;
    if (!q->link[k].found)
        memset(del, 0, q->d * sizeof *del);
    else
        ota_agent_delivered(w->ag, q->P + (size_t)k * q->M, q->x[k], q->d, del);
    return AM_OK;
}

/* The emulator's source (phy/chan.h): samples u0 .. u0+n-1 of agent k's burst, scheduled at lead
 * in the uplink stream (tick gap + lead of the phasors' time line), made by the DSP object of the
 * emulator thread that asks. q->x NULL: a calibration probe's burst, every payload value 0 (§8.5;
 * the transmitter zero-pads one 0 to L). */
static am_status
agent_source(void *user, unsigned thread, unsigned k, size_t u0, size_t n, float complex *out)
{
    agg_iq *q = user;
    static const float zero = 0.0f;
    am_status s = ota_agent_burst_range(
        q->w[thread].ag, &q->link[k], q->P + (size_t)k * q->M, q->x ? q->x[k] : &zero,
        q->x ? q->d : 1, q->r->eta, (int64_t)q->cfg.gap + (int64_t)q->lead, u0, n, out);
    return s == AM_OK ? AM_OK : am_error_wrap(s, "agent %u", k);
}

static void run_phase(agg_iq *q, iq_worker *w, unsigned phase)
{
    w->st = AM_OK;
    for (unsigned k = w->id; k < q->K; k += q->T) {
        if (q->present && !q->present[k])
            continue;
        am_status s = phase == PHASE_BEACON ? agent_beacon(q, w, k) : agent_tx(q, w, k);
        if (s != AM_OK) {
            w->st = s;
            snprintf(w->err, sizeof w->err, "%s", am_last_error());
            return;
        }
    }
}

typedef struct iq_job {
    agg_iq *q;
    unsigned phase;
} iq_job;

static void run_job(void *ctx, unsigned t)
{
    iq_job *j = ctx;
    run_phase(j->q, &j->q->w[t], j->phase);
}

/* Runs one phase for all agents on all threads; the first failing worker's error. */
static am_status parallel(agg_iq *q, unsigned phase)
{
    iq_job j = {q, phase};
    am_pool_run(q->pool, run_job, &j);
    for (unsigned t = 0; t < q->T; t++)
        if (q->w[t].st != AM_OK)
            return AM_FAIL(q->w[t].st, "%s", q->w[t].err);
    return AM_OK;
}

/* Steps 2-3a (round_beacons): worker 0 sends the beacon down to every present agent in index order
 * (one noise stream: the same draws in the same order as one downlink after the other), then joins
 * the others, which each take the next agent and wait until its beacon is down. An agent's DSP does
 * not depend on which worker's ota_agent serves it, so the outputs are the same for any T. */
static void run_beacons(void *ctx, unsigned t)
{
    agg_iq *q = ctx;
    iq_worker *w = &q->w[t];
    w->st = AM_OK;
    if (t == 0) {
        for (unsigned k = 0; k < q->K; k++) {
            am_status s = AM_OK;
            q->link[k].found = 0;
            if (!q->present || q->present[k]) {
                size_t n = 0;
                s = phy_chan_downlink(q->ch, k, q->beacon, q->bl, q->dl_lead, q->dl_tail,
                                      q->dl + (size_t)k * q->dl_len, q->dl_len, &n);
            }
            pthread_mutex_lock(&q->dl_mu);
            if (s != AM_OK)
                q->dl_failed = 1;
            else
                q->dl_ready = k + 1;
            pthread_cond_broadcast(&q->dl_cv);
            pthread_mutex_unlock(&q->dl_mu);
            if (s != AM_OK) {
                w->st = s;
                w->fail_at = 0;
                snprintf(w->err, sizeof w->err, "%s", am_last_error());
                return;
            }
        }
    }
    for (;;) {
        const unsigned k = atomic_fetch_add_explicit(&q->dl_next, 1u, memory_order_relaxed);
        if (k >= q->K)
            return;
        pthread_mutex_lock(&q->dl_mu);
        while (q->dl_ready <= k && !q->dl_failed)
            pthread_cond_wait(&q->dl_cv, &q->dl_mu);
        const int failed = q->dl_failed;
        pthread_mutex_unlock(&q->dl_mu);
        if (failed)
            return;
        if (q->present && !q->present[k])
            continue;
        am_status s = agent_beacon(q, w, k);
        if (s != AM_OK) { /* this worker stops; the others finish their agents */
            w->st = s;
            w->fail_at = 1 + k;
            snprintf(w->err, sizeof w->err, "%s", am_last_error());
            return;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * server side
 * ------------------------------------------------------------------------------------------- */

static am_status on_burst(const phy_ota_burst *b, void *user)
{
    agg_iq *q = user;
    q->nbursts++;
    if (q->got || b->start < q->win_lo || b->start > q->win_hi)
        return AM_OK; /* not the scheduled burst (or a second one): ignored */
    q->got = 1;
    if (q->cur_out) /* NULL: a probe's (§8.5), no payload to keep */
        memcpy(q->cur_out, b->payload, q->d * sizeof *q->cur_out);
    q->info.start = b->start;
    q->info.cfo = b->cfo;
    q->info.snr_db = b->snr_db;
    q->info.active_mean = b->active_mean;
    if (q->cal) {
        memcpy(q->heard, b->cal_heard, q->K);
        memcpy(q->E, b->cal_E, (size_t)q->K * PHY_CAL_Q * sizeof *q->E);
        memcpy(q->meas, b->cal_meas, (size_t)q->K * PHY_CAL_Q);
        memcpy(q->W, b->cal_W, (size_t)q->K * PHY_CAL_Q * PHY_CAL_Q * sizeof *q->W);
        memcpy(q->csnr, b->cal_snr_db, q->K * sizeof *q->csnr);
    }
    q->nsym = b->n_symbols < AGG_IQ_SYMBOLS_KEPT ? b->n_symbols : AGG_IQ_SYMBOLS_KEPT;
    memcpy(q->sym, b->symbols, q->nsym * sizeof *q->sym);
    return AM_OK;
}

static void round_meta(const agg_iq *q, const fl_agg_round *r, unsigned nsched, phy_sigmf_info *in)
{
    phy_sigmf_info_default(in);
    in->nfft = q->M;
    in->cp_len = q->cp;
    in->payload_len = q->L;
    in->scale = r->eta;
    in->rho = r->rho;
    in->g_th = r->g_th;
    in->agents = nsched;
    in->cal_slots = q->cal ? q->K : 0;
    in->mapping = q->cfg.mapping;
    in->gain_pool = q->cfg.gain_pool; /* replay decodes as this receiver did */
    in->pilot_level = q->pilot;
    if (in->cal_slots || in->mapping != PHY_MAP_COMPLEX || in->gain_pool || in->pilot_level != 1.0f)
        in->version = 2; /* §7.2: cal_slots, mapping, gain_pool and pilot_level are version-2 keys */
    in->round = r->round;
    snprintf(in->description, sizeof in->description,
             "airmeta iq aggregation: round %u, %u agents, %s precoding, per-agent SNR %g dB, "
             "burst scheduled at sample %zu",
             r->round, nsched, q->cfg.precoding == AGG_IQ_PHASE ? "phase-only" : "inversion",
             (double)q->cfg.snr_db, q->lead);
    snprintf(in->hw, sizeof in->hw, "airmeta channel emulator (%u taps)", q->cfg.n_taps);
}

/* The received stream through the radio: one timed burst out, the same span read back. */
static am_status through_radio(agg_iq *q, const fl_agg_round *r, unsigned nsched, size_t ny)
{
    am_status s;
    if (q->rad_is_file) {
        phy_sigmf_info in;
        round_meta(q, r, nsched, &in);
        if ((s = radio_file_set_meta(q->rad, &in)) != AM_OK)
            return s;
    }
    radio_info ri;
    radio_get_info(q->rad, &ri);
    const double fs = ri.rate > 0 ? ri.rate : 1e6;
    radio_time at = radio_time_from_ticks(q->next_tick, fs);
    if ((s = radio_tx_burst(q->rad, q->y, ny, &at)) != AM_OK ||
        (s = radio_tx_flush(q->rad, 5.0)) != AM_OK)
        return am_error_wrap(s, "radio '%s': round %u", q->radio_name, r->round);
    radio *rxr = q->rad;
    radio *tmp = NULL;
    if (q->rad_is_file && !q->rad_has_rx) {
        /* TX-only file radio: read back the recording it just completed */
        char args[IQ_PATH_MAX + 8];
        snprintf(args, sizeof args, "rx=%s", radio_file_last_recording(q->rad));
        if ((s = radio_open("file", args, &tmp)) != AM_OK)
            return am_error_wrap(s, "round %u: reading back the file radio's recording", r->round);
        rxr = tmp;
    }
    if ((s = radio_rx_start(rxr, &at)) != AM_OK)
        goto out;
    size_t have = 0;
    while (have < ny) {
        size_t n = 0;
        radio_time t0;
        if ((s = radio_rx(rxr, q->y2 + have, ny - have, &n, &t0, 5.0)) != AM_OK)
            goto out;
        if (radio_time_to_ticks(t0, fs) != q->next_tick + (int64_t)have) {
            s = AM_FAIL(AM_EIO, "radio '%s': round %u: RX sample at tick %lld, expected %lld",
                        q->radio_name, r->round, (long long)radio_time_to_ticks(t0, fs),
                        (long long)(q->next_tick + (int64_t)have));
            goto out;
        }
        have += n;
    }
    s = radio_rx_stop(rxr);
    radio_stats st;
    radio_get_stats(q->rad, &st);
    if (s == AM_OK && (st.late || st.overflows || st.underflows))
        s = AM_FAIL(AM_EIO, "radio '%s': round %u: late %llu, overflows %llu, underflows %llu",
                    q->radio_name, r->round, (unsigned long long)st.late,
                    (unsigned long long)st.overflows, (unsigned long long)st.underflows);
out:
    radio_close(tmp);
    /* the next round goes after this one with a gap of one block */
    q->next_tick += (int64_t)(ny + q->M + q->cp);
    if (s != AM_OK)
        return am_error_wrap(s, "radio '%s': round %u", q->radio_name, r->round);
    return AM_OK;
}

static am_status
write_capture(agg_iq *q, const fl_agg_round *r, unsigned nsched, const float complex *y, size_t ny)
{
    phy_sigmf_info in;
    round_meta(q, r, nsched, &in);
    char path[IQ_PATH_MAX];
    snprintf(path, sizeof path, "%.4000s/round-%06u", q->capture_dir, r->round);
    phy_sigmf_annotation ann = {q->lead, q->blen, 1};
    am_status s = phy_sigmf_write(path, &in, y, ny, &ann, 1);
    if (s != AM_OK)
        return am_error_wrap(s, "round %u: capture", r->round);
    snprintf(q->info.capture, sizeof q->info.capture, "%.490s.sigmf-meta", path);
    return AM_OK;
}

/* The seeds of the channel realisations and noise (phy_chan_reseed): round r's are a function of
 * (seed, r) only, so that a resumed run continues exactly as the uninterrupted one; probe p before
 * the run's first round (§8.5) has its own, a function of (seed, p). */
#define IQ_SEED_ROUND 0x1a90000000000000ULL
#define IQ_SEED_PROBE 0x1a91000000000000ULL

/* Steps 1-3a of a round: the channel realisation and noise level of the stream `tag` (the round's
 * or a probe's), the beacon down to every present agent, and every agent's beacon -> offset
 * (tracked) and channel -> precoder. *nsched = the present agents. */
static am_status round_beacons(
    agg_iq *q, const fl_agg_round *r, const unsigned char *present, uint64_t tag, unsigned *nsched)
{
    /* 1. channel realisation; N0 = rho / SNR (§5) whatever the round's rho (the emulator's
     * own rho is 1: its noise variance rho M / (M_used snr) is matched by snr / rho) */
    am_status s;
    if (isfinite(q->cfg.snr_db)) {
        float snr_eff = q->cfg.snr_db - (float)(10.0 * log10((double)r->rho));
        if ((s = phy_chan_set_snr(q->ch, snr_eff)) != AM_OK)
            return am_error_wrap(s, "iq aggregator: rho %g", (double)r->rho);
    }
    am_rng rs;
    am_rng_seed2(&rs, q->cfg.seed, tag);
    phy_chan_reseed(q->ch, am_rng_u64(&rs));
    if ((s = phy_chan_draw(q->ch)) != AM_OK)
        return s;
    *nsched = 0;
    for (unsigned k = 0; k < q->K; k++)
        *nsched += !present || present[k];
    q->sched.rho = r->rho;
    q->sched.g_th = r->g_th;
    q->r = r;
    q->present = present;
    /* 2. beacon down to every present agent (worker 0, in order: one noise stream), pipelined with
     * 3a. agents: beacon -> offset and channel -> precoder (every worker) */
    q->dl_ready = 0;
    q->dl_failed = 0;
    atomic_store(&q->dl_next, 0u);
    am_pool_run(q->pool, run_beacons, q);
    /* the first failure in the serial order (every downlink, then the agents in order) */
    unsigned bad = q->T;
    for (unsigned t = 0; t < q->T; t++)
        if (q->w[t].st != AM_OK && (bad == q->T || q->w[t].fail_at < q->w[bad].fail_at))
            bad = t;
    if (bad < q->T)
        return AM_FAIL(q->w[bad].st, "%s", q->w[bad].err);
    /* §2: the burst's pilot level, announced with GO (§9.4) and known to the server */
    q->pilot = q->cfg.pilot_level > 0.0f ? q->cfg.pilot_level : phy_pilot_level(*nsched);
    for (unsigned t = 0; t < q->T; t++)
        if ((s = ota_agent_set_pilot_level(q->w[t].ag, q->pilot)) != AM_OK)
            return s;
    return AM_OK;
}

/* A run resumed at round r (or rounds out of order): the trackers hold what the last `track`
 * beacons before r gave, rebuilt by replaying them (every agent present, r's rho and g_th), after
 * the probes' beacons when the run probed (§8.5: they came before its first round; a resumed run
 * does not probe again) and they are in the window (rounds 0 .. r - 1 replayed). The beacons of a
 * round depend on (seed, round) only, a probe's on (seed, p), and a tracker on its window only
 * (the correction A, which the probes moved, is not in it): the state is the uninterrupted run's,
 * bit for bit. A fresh run whose first round is not 0 probes, then replays the same way. */
static am_status rebuild_trackers(agg_iq *q, const fl_agg_round *r)
{
    for (unsigned k = 0; k < q->K; k++)
        ota_agent_track_init(&q->trk[k], q->cfg.track);
    const unsigned from = r->round > q->cfg.track ? r->round - q->cfg.track : 0;
    const unsigned probed =
        q->cal && !q->probe_due && from == 0 ? (q->probes_run ? q->probes_run : q->cfg.probes) : 0;
    for (unsigned i = 0; i < probed + r->round - from; i++) {
        fl_agg_round past = *r;
        past.round = i < probed ? 0 : from + i - probed;
        unsigned nsched = 0;
        am_status s = round_beacons(
            q, &past, NULL, i < probed ? IQ_SEED_PROBE | i : IQ_SEED_ROUND | past.round, &nsched);
        if (s != AM_OK)
            return am_error_wrap(s, "iq aggregator: replaying %s %u's beacon",
                                 i < probed ? "calibration probe" : "round",
                                 i < probed ? i + 1 : past.round);
    }
    return AM_OK;
}

/* Step 4: the air, the sending agents' bursts made on the emulator's threads as it needs them
 * (q->x NULL: a probe's zero payload), into q->y (*ny samples). */
static am_status round_air(agg_iq *q, size_t *ny)
{
    return phy_chan_execute_source(q->ch, agent_source, q, q->sending, q->blen, q->lead, q->tail,
                                   q->y, q->ycap, ny);
}

/* Step 5: the server's receiver on yr[0..ny) with the round's eta and rho: the burst in the
 * scheduled window (q->got), its payload into out (q->d values), the calibration's E and heard. */
static am_status round_rx(agg_iq *q, const fl_agg_round *r, const float complex *yr, size_t ny,
                          float *out)
{
    am_status s;
    phy_ota_rx_reset(q->rx);
    if ((s = phy_ota_rx_set_round(q->rx, r->eta, r->rho)) != AM_OK ||
        (s = phy_ota_rx_set_pilot_level(q->rx, q->pilot)) != AM_OK)
        return s;
    q->cur_out = out;
    q->got = 0;
    q->nbursts = 0;
    q->win_lo = q->lead > q->cp ? q->lead - q->cp : 0;
    q->win_hi = q->lead + q->cfg.max_timing_offset + q->cfg.n_taps + q->cp;
    if ((s = phy_ota_rx_execute(q->rx, yr, ny)) != AM_OK)
        return am_error_wrap(s, "iq aggregator: receiver");
    return AM_OK;
}

/* §8.3-§8.5 after a round or a probe: who was heard (none when the burst was not found; the
 * silent cannot be heard: the receiver agrees), and the CAL to each agent, with the loop gains of
 * `airmeta server` (phy_cal_mu_steps: each (agent, sub-band) pair counts its own measurements; a
 * probe mu = 1 and the counts start again; the pairs first measured solved whole,
 * phy_cal_unmix), applied by the heard ones (phy_cal_update_bands).
 * cfg.cal_count_agent: one count per agent (phy_cal_mu_step, the code before). Returns the agents
 * heard. */
static unsigned round_cal(agg_iq *q, int probe)
{
    unsigned n = 0;
    if (!q->got)
        memset(q->heard, 0, q->K);
    for (unsigned k = 0; k < q->K; k++) {
        q->heard[k] &= q->sending[k];
        n += q->heard[k];
        if (!probe && !q->heard[k])
            continue; /* a round's CAL goes to its scheduled agents; unheard, it changes nothing */
        float mu[PHY_CAL_Q];
        uint32_t n0[PHY_CAL_Q]; /* the pairs' counts before this measurement */
        if (q->cfg.cal_count_agent) {
            mu[0] = phy_cal_mu_step(&q->nh[k], q->heard[k], probe, q->mu);
            for (unsigned b = 1; b < PHY_CAL_Q; b++)
                mu[b] = mu[0];
        } else {
            memcpy(n0, q->nh + (size_t)k * PHY_CAL_Q, sizeof n0);
            phy_cal_mu_steps(q->nh + (size_t)k * PHY_CAL_Q, q->heard[k],
                             q->meas + (size_t)k * PHY_CAL_Q, probe, q->mu, mu);
        }
        if (!q->heard[k])
            continue;
        float complex E[PHY_CAL_Q];
        memcpy(E, q->E + (size_t)k * PHY_CAL_Q, sizeof E);
        if (!q->cfg.cal_count_agent && !q->cfg.cal_mixed)
            phy_cal_unmix(q->W + (size_t)k * PHY_CAL_Q * PHY_CAL_Q, q->meas + (size_t)k * PHY_CAL_Q,
                          n0, q->nu, q->csnr[k], E);
        phy_cal_update_bands(q->A + (size_t)k * PHY_CAL_Q, E, mu);
    }
    return n;
}

/* agent k's reciprocity mismatch on used bin i (signed index x), its uplink over its downlink as its
 * radio's chains make them (phy/impair.h: u = g_tx sum_l e_tx[l] x(t - l) delayed by tau and turned
 * by phi_tx; the RX turned by -phi_rx, then g_rx sum_l e_rx[l]): the server's chains are common to
 * every agent and left out. 1 with ideal radios. */
static float complex chain_mismatch(const phy_impair_state *st, float x, unsigned M)
{
    const double w = 2.0 * M_PI * (double)x / M;
    const double complex up = cexp(I * w), dn = cexp(-I * w);
    const double complex tx = (double complex)st->g_tx * cexp(I * (double)st->phi_tx) *
                              ((double complex)st->e_tx[0] * up + 1.0 +
                               (double complex)st->e_tx[1] * dn) *
                              cexp(-I * w * (double)st->tau);
    const double complex rx = (double complex)st->g_rx * cexp(-I * (double)st->phi_rx) *
                              ((double complex)st->e_rx[0] * up + 1.0 +
                               (double complex)st->e_rx[1] * dn);
    return (float complex)(tx / rx);
}

/* agent k's radio state (phy/impair.h) into *st: 0 when it has none (ideal radios) */
static int agent_radio(const agg_iq *q, unsigned k, phy_impair_state *st)
{
    const phy_impair *ra = phy_chan_radio(q->ch, k);
    if (ra)
        phy_impair_get_state(ra, st);
    return ra != NULL;
}

/* agg_iq_cal_residual's r_k for the corrections A (K x PHY_CAL_Q) into r (K values); pass 0 sums
 * the agents' z_k(i) = c_k(i) a_k(i) into zs, pass 1 measures each against their mean. */
static void cal_residual(agg_iq *q, const float complex *A, double *r)
{
    const unsigned K = q->K, M = q->M;
    double tot = 0.0;
    memset(q->zs, 0, M * sizeof *q->zs);
    for (int pass = 0; pass < 2; pass++)
        for (unsigned k = 0; k < K; k++) {
            phy_impair_state st;
            const int ra = agent_radio(q, k, &st);
            phy_cal_interp(q->frame, A + (size_t)k * PHY_CAL_Q, q->za);
            double d = 0.0;
            for (unsigned u = 0; u < q->nu; u++) {
                const unsigned i = q->ubins[u];
                const float x = i < M / 2 ? (float)i : (float)i - (float)M;
                const float complex z = ra ? chain_mismatch(&st, x, M) * q->za[i] : q->za[i];
                if (pass == 0) {
                    q->zs[i] += z;
                    tot += (double)(crealf(z) * crealf(z) + cimagf(z) * cimagf(z));
                } else {
                    const float complex e = z - q->zs[i] / (float)K;
                    d += (double)(crealf(e) * crealf(e) + cimagf(e) * cimagf(e));
                }
            }
            if (pass == 1)
                r[k] = tot > 0.0 ? d / (tot / K) : 0.0;
        }
}

am_status agg_iq_cal_residual(const fl_agg *a, int probe, double *r)
{
    if (!agg_iq_is(a) || !r)
        return AM_FAIL(AM_EINVAL, "agg_iq_cal_residual: not an iq aggregator, or r NULL");
    agg_iq *q = a->self;
    if (!q->cal)
        return AM_FAIL(AM_EINVAL, "agg_iq_cal_residual: the aggregator has no calibration");
    if (probe < -1 || (probe >= 0 && (unsigned)probe >= q->ap_n))
        return AM_FAIL(AM_EINVAL, "agg_iq_cal_residual: probe %d: %u probes were run", probe,
                       q->ap_n ? q->ap_n - 1 : 0);
    cal_residual(q, probe < 0 ? q->A : q->Ap + (size_t)probe * q->K * PHY_CAL_Q, r);
    return AM_OK;
}

am_status agg_iq_cal_pairs(const fl_agg *a, double *r, unsigned char *m)
{
    if (!agg_iq_is(a) || (!r && !m))
        return AM_FAIL(AM_EINVAL, "agg_iq_cal_pairs: not an iq aggregator, or r and m NULL");
    agg_iq *q = a->self;
    if (!q->cal)
        return AM_FAIL(AM_EINVAL, "agg_iq_cal_pairs: the aggregator has no calibration");
    const unsigned K = q->K, Q = PHY_CAL_Q;
    if (m)
        for (size_t i = 0; i < (size_t)K * Q; i++)
            m[i] = q->heard[i / Q] && q->meas[i];
    if (!r)
        return AM_OK;
    float c[PHY_CAL_Q];
    phy_cal_groups(q->frame, NULL, c);
    for (unsigned b = 0; b < Q; b++) {
        double complex zs = 0.0;
        double tot = 0.0;
        for (int pass = 0; pass < 2; pass++)
            for (unsigned k = 0; k < K; k++) {
                phy_impair_state st;
                const int ra = agent_radio(q, k, &st);
                const double complex z =
                    (double complex)q->A[(size_t)k * Q + b] *
                    (ra ? (double complex)chain_mismatch(&st, c[b], q->M) : 1.0);
                if (pass == 0) {
                    zs += z;
                    tot += creal(z * conj(z));
                } else {
                    const double complex e = z - zs / K;
                    r[(size_t)k * Q + b] = tot > 0.0 ? creal(e * conj(e)) / (tot / K) : 0.0;
                }
            }
    }
    return AM_OK;
}

/* docs/air-interface.md §8.5 before round r, the run's first (probe_due): cfg.probes calibration
 * probes, each a round without a model for every agent, as `airmeta server` runs them for the
 * agents that join: round r's rho and pilot rule, g_th 0 (no bin erased), eta 1, a channel
 * realisation and noise of its own (IQ_SEED_PROBE | p), the beacon taken as a round's (the trackers
 * advance), every agent's burst
 * of the round's length with an all-zero payload through the emulator (its channels and radios)
 * and the server's receiver, then a CAL to each (mu = 1; its counts n_kq = measured). Not through
 * the radio, not captured. The last probe's heard agents into q->pheard. */
static am_status run_probes(agg_iq *q, const fl_agg_round *r)
{
    fl_agg_round pr = *r;
    pr.eta = 1.0f;
    if (!q->cfg.probe_round_g_th)
        pr.g_th = 0.0f; /* §8.5 2.: an agent erases no bin of a probe: every sub-band measured */
    q->x = NULL; /* agent_source: the zero payload */
    q->d = 0;
    q->delivered = NULL;
    const size_t nA = (size_t)q->K * PHY_CAL_Q;
    memcpy(q->Ap, q->A, nA * sizeof *q->A);
    q->ap_n = 1;
    for (unsigned p = 0; p < q->cfg.probes; p++) {
        unsigned nsched = 0;
        size_t ny = 0;
        am_status s = round_beacons(q, &pr, NULL, IQ_SEED_PROBE | p, &nsched);
        for (unsigned k = 0; k < q->K; k++)
            q->sending[k] = (unsigned char)(q->link[k].found != 0);
        if (s == AM_OK && (s = round_air(q, &ny)) == AM_OK)
            s = round_rx(q, &pr, q->y, ny, NULL);
        if (s != AM_OK)
            return am_error_wrap(s, "iq aggregator: calibration probe %u of %u before round %u",
                                 p + 1, q->cfg.probes, r->round);
        /* cfg.probe_excess: what this probe measured over its noise, before its CAL */
        const double ex = q->got ? phy_cal_probe_excess(q->K, q->nu, q->heard, q->E, q->meas,
                                                        q->csnr)
                                 : INFINITY;
        q->info.probe_excess[p] = ex;
        q->info.probe_heard = round_cal(q, 1);
        memcpy(q->pheard, q->heard, q->K);
        memcpy(q->Ap + (p + 1) * nA, q->A, nA * sizeof *q->A);
        q->ap_n = p + 2;
        if (!phy_cal_probe_again(p, q->cfg.probes, q->cfg.probe_excess, ex))
            break; /* §8.5 step 5: the count, as `airmeta server` decides it */
    }
    q->info.probes = q->ap_n - 1;
    q->probes_run = q->ap_n - 1;
    q->info.probe_agents = q->K;
    q->info.probe_hearing = q->pheard;
    return AM_OK;
}

static am_status iq_aggregate(void *self,
                              const fl_agg_round *r,
                              const float *const *x,
                              const unsigned char *present,
                              size_t K,
                              size_t d,
                              float *out,
                              float *active,
                              float *const *delivered)
{
    agg_iq *q = self;
    if (K != q->K)
        return AM_FAIL(AM_EINVAL, "iq aggregator: made for %u agents, called with %zu", q->K, K);
    if (d > q->L)
        return AM_FAIL(AM_EINVAL, "iq aggregator: dimension %zu exceeds max_dim %zu", d, q->L);
    memset(&q->info, 0, sizeof q->info);
    q->nsym = 0;
    q->info.round = r->round;
    q->info.lead = q->lead;
    double t0 = monotime_s();
    am_status s;
    if (q->probe_due) { /* §8.5: before the run's first round */
        q->probe_due = 0;
        if ((s = run_probes(q, r)) != AM_OK)
            return s;
        const double tp = monotime_s();
        q->info.t_probe = tp - t0;
        t0 = tp;
    }
    if (q->trk && r->round != q->next_round && (s = rebuild_trackers(q, r)) != AM_OK)
        return s;
    unsigned nsched = 0;
    if ((s = round_beacons(q, r, present, IQ_SEED_ROUND | r->round, &nsched)) != AM_OK)
        return s;
    q->next_round = r->round + 1;
    q->x = x;
    q->d = d;
    q->delivered = delivered;
    double t1 = monotime_s();
    /* 3b. what the agents deliver (parallel) */
    s = parallel(q, PHASE_TX);
    double t2 = monotime_s();
    if (s != AM_OK)
        return s;
    /* what the agents know: truncation per bin, hence the active counts */
    unsigned nsend = 0;
    size_t n_er = 0;
    double cfo_err2 = 0.0, used_err2 = 0.0;
    memset(q->nact, 0, q->M * sizeof *q->nact);
    for (unsigned k = 0; k < q->K; k++) {
        if (delivered && delivered[k] && present && !present[k])
            memset(delivered[k], 0, d * sizeof *delivered[k]);
        q->sending[k] = (unsigned char)(q->link[k].found != 0);
        if (!q->link[k].found)
            continue;
        nsend++;
        const float complex *p = q->P + (size_t)k * q->M;
        for (unsigned u = 0; u < q->nu; u++) {
            unsigned i = q->ubins[u];
            n_er += p[i] == 0.0f; /* truncated by the agent */
            q->nact[i] += p[i] != 0.0f;
        }
        /* diagnostics only (the agents never see it): the downlink offset is minus the agent's
         * emulated one, plus the server's TX LO minus the agent's RX LO (radios, phy/impair) */
        double truth = -(double)phy_chan_agent_cfo(q->ch, k);
        const phy_impair *ra = phy_chan_radio(q->ch, k), *rs = phy_chan_radio(q->ch, q->K);
        if (ra && rs) {
            phy_impair_state sa, ss;
            phy_impair_get_state(ra, &sa);
            phy_impair_get_state(rs, &ss);
            truth += (ss.cfo_hz - sa.cfo_hz) * (double)q->M / q->fs_hz;
        }
        double e = (double)q->link[k].cfo - truth;
        cfo_err2 += e * e;
        e = q->cfo_comp ? q->link[k].cfo_used - truth : 0.0;
        used_err2 += e * e;
    }
    q->info.agents_sent = nsend;
    q->info.agents_deaf = nsched - nsend;
    q->info.erased_frac = nsend ? (double)n_er / ((double)nsend * q->nu) : 0.0;
    q->info.beacon_cfo_err = nsend ? sqrt(cfo_err2 / nsend) : 0.0;
    q->info.used_cfo_err = nsend ? sqrt(used_err2 / nsend) : 0.0;
    double na = 0.0;
    for (unsigned u = 0; u < q->nu; u++)
        na += q->nact[q->ubins[u]];
    q->info.active_true_mean = na / q->nu;
    /* 4. the air */
    size_t ny = 0;
    if ((s = round_air(q, &ny)) != AM_OK)
        return s;
    const float complex *yr = q->y;
    if (q->rad) {
        if ((s = through_radio(q, r, nsched, ny)) != AM_OK)
            return s;
        yr = q->y2;
    }
    double t3 = monotime_s();
    if (q->capture_dir && (s = write_capture(q, r, nsched, yr, ny)) != AM_OK)
        return s;
    /* 5. the server */
    double t4 = monotime_s();
    if ((s = round_rx(q, r, yr, ny, out)) != AM_OK)
        return s;
    double t5 = monotime_s();
    q->info.detected = q->got;
    q->info.bursts = q->nbursts;
    q->info.stream_len = ny;
    q->info.t_beacon = t1 - t0;
    q->info.t_tx = t2 - t1;
    q->info.t_chan = t3 - t2;
    q->info.t_rx = t5 - t4;
    q->rounds++;
    if (q->cal) { /* §8.3-§8.4: who was heard; CAL to each heard agent, which updates A_k */
        q->info.cal = 1;
        q->info.heard = q->heard;
        q->info.agents_heard = round_cal(q, 0);
    }
    if (!q->got) {
        q->missed++;
        memset(out, 0, d * sizeof *out);
        if (active)
            memset(active, 0, d * sizeof *active);
        if (delivered)
            for (unsigned k = 0; k < q->K; k++)
                if (delivered[k])
                    memset(delivered[k], 0, d * sizeof *delivered[k]);
        if (q->cfg.fail_on_miss)
            return AM_FAIL(AM_ENOTFOUND,
                           "iq aggregator: round %u: no burst detected at sample %zu (%u agents "
                           "sent, %u bursts elsewhere)",
                           r->round, q->lead, nsend, q->nbursts);
        return AM_OK;
    }
    if (active) {
        const size_t per_bin = q->cfg.mapping == PHY_MAP_REAL ? 1 : 2; /* §3.3: a real per bin */
        for (size_t j = 0; j < d; j++)
            active[j] = (float)q->nact[q->dbins[(j / per_bin) % q->nd]];
    }
    return AM_OK;
}

/* ---------------------------------------------------------------------------------------------
 * lifetime
 * ------------------------------------------------------------------------------------------- */

static void iq_destroy(void *self)
{
    agg_iq *q = self;
    if (!q)
        return;
    am_pool_destroy(q->pool);
    if (q->dl_sync) {
        pthread_mutex_destroy(&q->dl_mu);
        pthread_cond_destroy(&q->dl_cv);
    }
    if (q->w)
        for (unsigned t = 0; t < q->T; t++)
            ota_agent_destroy(q->w[t].ag);
    free(q->w);
    radio_close(q->rad);
    phy_chan_destroy(q->ch);
    phy_ota_rx_destroy(q->rx);
    phy_frame_destroy(q->frame);
    phy_fft_free(q->beacon);
    phy_fft_free(q->dl);
    phy_fft_free(q->y);
    phy_fft_free(q->y2);
    phy_fft_free(q->P);
    free(q->sending);
    free(q->link);
    free(q->trk);
    free(q->A);
    free(q->E);
    free(q->heard);
    free(q->pheard);
    free(q->nh);
    free(q->meas);
    free(q->W);
    free(q->csnr);
    free(q->Ap);
    phy_fft_free(q->za);
    phy_fft_free(q->zs);
    free(q->nact);
    free(q->radio_args);
    free(q->capture_dir);
    free(q);
}

static am_status validate(const agg_iq_cfg *c)
{
    if (c->agents < 1 || c->agents > IQ_MAX_AGENTS)
        return AM_FAIL(AM_EINVAL, "iq aggregator: agents: %u is outside 1..%u", c->agents,
                       IQ_MAX_AGENTS);
    if (c->max_dim < 1 || c->max_dim > ((size_t)1 << 28))
        return AM_FAIL(AM_EINVAL, "iq aggregator: max_dim: %zu is outside 1..2^28", c->max_dim);
    phy_frame_cfg fc = {c->nfft, c->cp_len, NULL};
    am_status s = phy_frame_validate(&fc);
    if (s != AM_OK)
        return am_error_wrap(s, "iq aggregator");
    if (c->pilot_level != 0.0f && (s = phy_pilot_level_check(c->pilot_level)) != AM_OK)
        return am_error_wrap(s, "iq aggregator");
    unsigned cp = c->cp_len ? c->cp_len : c->nfft / 8;
    if (c->n_taps < 1 || (unsigned long long)c->max_timing_offset + c->n_taps - 1 > cp)
        return AM_FAIL(
            AM_EINVAL,
            "iq aggregator: timing offset %u + taps %u - 1 exceed the cp (%u samples): "
            "a timed system keeps every channel inside the cp (docs/air-interface.md §5)",
            c->max_timing_offset, c->n_taps, cp);
    if (!(isfinite(c->max_cfo) && c->max_cfo >= 0.0f && c->max_cfo < 0.5f))
        return AM_FAIL(AM_EINVAL,
                       "iq aggregator: max_cfo: %g is not in [0, 0.5) subcarrier "
                       "spacings",
                       (double)c->max_cfo);
    if (isnan(c->snr_db) || c->snr_db < -50.0f || (isfinite(c->snr_db) && c->snr_db > 200.0f) ||
        (isinf(c->snr_db) && c->snr_db < 0))
        return AM_FAIL(AM_EINVAL, "iq aggregator: snr_db: %g is not in -50..200 dB or +inf",
                       (double)c->snr_db);
    if (c->precoding != AGG_IQ_INVERSION && c->precoding != AGG_IQ_PHASE)
        return AM_FAIL(AM_EINVAL, "iq aggregator: precoding: unknown value %d", (int)c->precoding);
    if (c->cfo_comp < -1 || c->cfo_comp > 1)
        return AM_FAIL(AM_EINVAL, "iq aggregator: cfo_comp: %d is not -1 (auto), 0 or 1",
                       c->cfo_comp);
    if (c->track > OTA_AGENT_TRACK_MAX)
        return AM_FAIL(AM_EINVAL, "iq aggregator: track: %u beacons is outside 0..%u", c->track,
                       OTA_AGENT_TRACK_MAX);
    if (c->gap > (1u << 30))
        return AM_FAIL(AM_EINVAL, "iq aggregator: gap: %u ticks is above 2^30", c->gap);
    if (c->beacon_reps > PHY_BEACON_MAX_REPS)
        return AM_FAIL(AM_EINVAL, "iq aggregator: beacon_reps: %u training blocks is outside 0..%u",
                       c->beacon_reps, PHY_BEACON_MAX_REPS);
    if (c->smooth > c->nfft / 2)
        return AM_FAIL(AM_EINVAL, "iq aggregator: smooth: %u taps > M/2 = %u", c->smooth,
                       c->nfft / 2);
    if (c->cal < -1 || c->cal > 1)
        return AM_FAIL(AM_EINVAL, "iq aggregator: cal: %d is not -1 (auto), 0 or 1", c->cal);
    if (c->cal_mixed < 0 || c->cal_mixed > 1)
        return AM_FAIL(AM_EINVAL, "iq aggregator: cal_mixed: %d is not 0 or 1", c->cal_mixed);
    if (c->cal_count_agent < 0 || c->cal_count_agent > 1)
        return AM_FAIL(AM_EINVAL, "iq aggregator: cal_count_agent: %d is not 0 or 1",
                       c->cal_count_agent);
    if (!(isfinite(c->probe_excess) && c->probe_excess >= 0.0f))
        return AM_FAIL(AM_EINVAL, "iq aggregator: probe_excess: %g is not finite and >= 0",
                       (double)c->probe_excess);
    if (c->probe_round_g_th < 0 || c->probe_round_g_th > 1)
        return AM_FAIL(AM_EINVAL, "iq aggregator: probe_round_g_th: %d is not 0 or 1",
                       c->probe_round_g_th);
    if (c->probes > AGG_IQ_PROBES_MAX)
        return AM_FAIL(AM_EINVAL, "iq aggregator: probes: %u is outside 0..%u", c->probes,
                       AGG_IQ_PROBES_MAX);
    if (!(isfinite(c->cal_mu) && c->cal_mu >= 0.0f && c->cal_mu <= 1.0f))
        return AM_FAIL(AM_EINVAL, "iq aggregator: cal_mu: %g is not in (0, 1] (0 = default)",
                       (double)c->cal_mu);
    if (c->threads < 1 || c->threads > IQ_MAX_THREADS)
        return AM_FAIL(AM_EINVAL, "iq aggregator: threads: %u is outside 1..%u", c->threads,
                       IQ_MAX_THREADS);
    if (c->radio && c->radio[0] && strcmp(c->radio, "loop") != 0 && strcmp(c->radio, "file") != 0)
        return AM_FAIL(AM_ENOTSUP,
                       "iq aggregator: radio '%s': only 'loop' and 'file' carry a "
                       "simulated round (uhd and zmq rounds are the server/agent "
                       "programs')",
                       c->radio);
    if (c->capture_dir && strlen(c->capture_dir) > 3900)
        return AM_FAIL(AM_EINVAL, "iq aggregator: capture directory name too long");
    return AM_OK;
}

static am_status open_radio(agg_iq *q, const char *name)
{
    snprintf(q->radio_name, sizeof q->radio_name, "%s", name);
    q->rad_is_file = strcmp(name, "file") == 0;
    char dflt[64];
    const char *args = q->radio_args;
    if (!q->rad_is_file && (!args || !args[0])) {
        /* a bus of its own, so two aggregators in one process do not share a medium */
        snprintf(dflt, sizeof dflt, "bus=agg_iq-%p", (void *)q);
        args = dflt;
    }
    if (q->rad_is_file) {
        const radio_arg_spec *spec = NULL;
        size_t nspec = 0;
        radio_args a;
        am_status s = radio_backend_keys("file", &spec, &nspec);
        if (s == AM_OK)
            s = radio_args_parse(args, spec, nspec, "radio 'file'", &a);
        if (s != AM_OK)
            return s;
        if (!radio_args_has(&a, "tx"))
            return AM_FAIL(AM_EINVAL, "iq aggregator: radio 'file' needs tx=NAME (each round's "
                                      "received stream is recorded there)");
        q->rad_has_rx = radio_args_has(&a, "rx");
        if (q->rad_has_rx) {
            char tb[IQ_PATH_MAX], rb[IQ_PATH_MAX];
            if (phy_sigmf_base(radio_args_str(&a, "tx", ""), tb, sizeof tb) != AM_OK ||
                phy_sigmf_base(radio_args_str(&a, "rx", ""), rb, sizeof rb) != AM_OK ||
                strcmp(tb, rb) != 0)
                return AM_FAIL(AM_EINVAL, "iq aggregator: radio 'file': rx must name the tx "
                                          "recording (loopback file sink) or be left out");
        }
    }
    am_status s = radio_open(name, args, &q->rad);
    if (s != AM_OK)
        return s;
    radio_info ri;
    radio_get_info(q->rad, &ri);
    size_t need = phy_chan_out_len(q->ch, q->blen, q->lead, q->tail);
    if (ri.max_burst && ri.max_burst < need)
        return AM_FAIL(AM_EINVAL,
                       "iq aggregator: radio '%s' takes bursts of at most %zu samples, "
                       "a round needs %zu (loop: raise ring=)",
                       name, ri.max_burst, need);
    radio_time t;
    if ((s = radio_get_time(q->rad, &t)) != AM_OK)
        return s;
    q->next_tick = radio_time_to_ticks(t, ri.rate > 0 ? ri.rate : 1e6) + (int64_t)q->M;
    return AM_OK;
}

am_status agg_iq_create(const agg_iq_cfg *cfg, fl_agg *out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "agg_iq_create: out is NULL");
    out->ops = NULL;
    out->self = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "agg_iq_create: cfg is NULL");
    am_status s = validate(cfg);
    if (s != AM_OK)
        return s;
    agg_iq *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "iq aggregator: out of memory");
    if (pthread_mutex_init(&q->dl_mu, NULL) != 0) {
        free(q);
        return AM_FAIL(AM_ENOMEM, "iq aggregator: cannot make a mutex");
    }
    if (pthread_cond_init(&q->dl_cv, NULL) != 0) {
        pthread_mutex_destroy(&q->dl_mu);
        free(q);
        return AM_FAIL(AM_ENOMEM, "iq aggregator: cannot make a condition variable");
    }
    q->dl_sync = 1;
    q->cfg = *cfg;
    q->pilot = 1.0f;
    q->cfg.impair = NULL; /* used below only (phy_chan_create copies it) */
    q->cfg.radio = NULL;
    q->cfg.radio_args = NULL;
    q->cfg.capture_dir = NULL;
    q->K = cfg->agents;
    q->L = cfg->max_dim;
    q->T = cfg->threads;
    if ((cfg->radio_args && !(q->radio_args = dup_str(cfg->radio_args))) ||
        (cfg->capture_dir && !(q->capture_dir = dup_str(cfg->capture_dir)))) {
        iq_destroy(q);
        return AM_FAIL(AM_ENOMEM, "iq aggregator: out of memory");
    }
    phy_frame_cfg fc = {cfg->nfft, cfg->cp_len, NULL};
    if ((s = phy_frame_create(&fc, &q->frame)) != AM_OK)
        goto fail;
    q->M = phy_frame_nfft(q->frame);
    q->cp = phy_frame_cp_len(q->frame);
    q->nu = phy_frame_n_used(q->frame);
    q->nd = phy_frame_n_data(q->frame);
    q->ubins = phy_frame_used_bins(q->frame);
    q->dbins = phy_frame_data_bins(q->frame);
    q->cal = cfg->cal < 0 ? cfg->impair && !phy_impair_cfg_is_ideal(cfg->impair) : cfg->cal;
    q->mu = cfg->cal_mu > 0.0f ? cfg->cal_mu : 0.1f;
    q->blen =
        phy_frame_burst_len(q->frame, phy_mapping_span(cfg->mapping, q->L)) +
        (size_t)phy_cal_blocks(q->nu, q->cal ? q->K : 0, NULL) * phy_frame_block_len(q->frame);
    const size_t B = phy_frame_block_len(q->frame);
    /* Noise before the burst: the detectors need history (the Schmidl-Cox window and the S1
     * decision reach one block back); after: the receiver decides a block past S1 at least. */
    q->dl_lead = B;
    q->dl_tail = 2 * B;
    q->lead = B;
    q->tail = 2 * B;
    if (q->cfg.smooth == 0) /* the designed channel length + first-path decision margin */
        q->cfg.smooth = cfg->n_taps + 4 < q->cp ? cfg->n_taps + 4 : q->cp;
    /* auto: agents pre-compensate whenever some oscillator is offset (the emulator's or a radio's)
     */
    const int osc = cfg->impair && (cfg->impair->ppm != 0.0f || cfg->impair->ppm_spread != 0.0f);
    q->cfo_comp = cfg->cfo_comp < 0 ? cfg->max_cfo > 0.0f || osc : cfg->cfo_comp;
    /* the beacon is due at dl_lead; the first path may come up to max_timing + taps - 1 later */
    q->sched.beacon = (int64_t)q->dl_lead;
    q->sched.lo = (int64_t)q->dl_lead - (int64_t)q->cp;
    q->sched.hi = (int64_t)(q->dl_lead + cfg->max_timing_offset + cfg->n_taps) + (int64_t)q->cp;
    q->sched.phase_ref = 0; /* the emulator's downlink phasor starts at the stream's sample 0 */

    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = q->K;
    cc.nfft = q->M;
    cc.cp_len = q->cp;
    cc.n_taps = cfg->n_taps;
    cc.delay_spread = cfg->delay_spread;
    cc.max_timing_offset = cfg->max_timing_offset;
    cc.max_cfo = cfg->max_cfo;
    cc.common_cfo = 0.0f;
    cc.random_phase = 1;
    cc.snr_db = cfg->snr_db;
    cc.rho = 1.0f;
    cc.seed = cfg->seed;
    cc.threads = cfg->threads; /* byte-identical outputs for any count */
    cc.impair = cfg->impair;
    cc.cfo_fixed = cfg->track > 0; /* one oscillator per agent, tracked */
    q->fs_hz = cfg->impair && cfg->impair->fs_hz > 0 ? cfg->impair->fs_hz : 1e6;
    cc.ul_tick0 = cfg->gap; /* the burst's tick is gap + lead, the beacon's dl_lead = lead */
    if ((s = phy_chan_create(&cc, &q->ch)) != AM_OK)
        goto fail;

    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame = fc;
    rc.payload_len = q->L;
    rc.gain_pool = cfg->gain_pool;
    rc.cal_slots = q->cal ? q->K : 0;
    rc.mapping = cfg->mapping;
    rc.callback = on_burst;
    rc.user = q;
    if ((s = phy_ota_rx_create(&rc, &q->rx)) != AM_OK)
        goto fail;

    q->bl = phy_beacon_len_reps(q->frame, cfg->beacon_reps);
    q->dl_len = phy_chan_out_len(q->ch, q->bl, q->dl_lead, q->dl_tail);
    q->ycap = phy_chan_out_len(q->ch, q->blen, q->lead, q->tail);
    q->beacon = phy_fft_alloc(q->bl);
    q->dl = phy_fft_alloc((size_t)q->K * q->dl_len);
    q->y = phy_fft_alloc(q->ycap);
    q->P = phy_fft_alloc((size_t)q->K * q->M);
    q->sending = calloc(q->K, 1);
    q->link = calloc(q->K, sizeof *q->link);
    q->nact = calloc(q->M, sizeof *q->nact);
    q->w = calloc(q->T, sizeof *q->w);
    const int tracking = cfg->track > 0 && q->cfo_comp;
    if (tracking && (q->trk = calloc(q->K, sizeof *q->trk)) != NULL)
        for (unsigned k = 0; k < q->K; k++)
            ota_agent_track_init(&q->trk[k], cfg->track);
    if (q->cal) {
        q->A = malloc((size_t)q->K * PHY_CAL_Q * sizeof *q->A);
        q->E = malloc((size_t)q->K * PHY_CAL_Q * sizeof *q->E);
        q->heard = calloc(q->K, 1);
        q->pheard = calloc(q->K, 1);
        q->nh = calloc(q->K * (size_t)(cfg->cal_count_agent ? 1 : PHY_CAL_Q), sizeof *q->nh);
        q->meas = calloc((size_t)q->K * PHY_CAL_Q, 1);
        q->W = malloc((size_t)q->K * PHY_CAL_Q * PHY_CAL_Q * sizeof *q->W);
        q->csnr = calloc(q->K, sizeof *q->csnr);
        q->Ap = malloc((size_t)(cfg->probes + 1) * q->K * PHY_CAL_Q * sizeof *q->Ap);
        q->za = phy_fft_alloc(q->M);
        q->zs = phy_fft_alloc(q->M);
        q->probe_due = cfg->probes > 0;
        if (q->A)
            for (size_t i = 0; i < (size_t)q->K * PHY_CAL_Q; i++)
                q->A[i] = 1.0f;
    }
    if (!q->beacon || !q->dl || !q->y || !q->P || !q->sending || !q->link || !q->nact || !q->w ||
        (tracking && !q->trk) || (q->cal && (!q->A || !q->E || !q->heard || !q->meas || !q->W || !q->csnr || !q->pheard || !q->nh ||
                                             !q->Ap || !q->za || !q->zs))) {
        s = AM_FAIL(AM_ENOMEM,
                    "iq aggregator: out of memory (K = %u, L = %zu: %zu samples "
                    "per burst)",
                    q->K, q->L, q->blen);
        goto fail;
    }
    if ((s = phy_beacon_write_reps(q->frame, cfg->beacon_reps, q->beacon, q->bl)) != AM_OK)
        goto fail;
    ota_agent_cfg ac = {.nfft = cfg->nfft,
                        .cp_len = cfg->cp_len,
                        .payload_len = q->L,
                        .smooth = q->cfg.smooth,
                        .cfo_comp = q->cfo_comp,
                        .phase_only = cfg->precoding == AGG_IQ_PHASE,
                        .cal_slots = q->cal ? q->K : 0,
                        .mapping = cfg->mapping,
                        .beacon_reps = cfg->beacon_reps,
                        .cfo_max = iq_cfo_range(cfg, q->M)};
    /* one reference per radio (phy/impair.h): the radios' part of the offset gives the sample
       clock's (§4.2 "Sampling clock"); the emulator's own offsets (max_cfo, uniform) are not a
       clock's */
    ota_agent_clock_rule(&ac, osc ? cfg->impair->fc_hz / q->fs_hz : 0.0,
                         osc ? (double)cfg->impair->ppm_spread : 0.0,
                         (double)cfg->max_cfo * cfg->max_cfo / 3.0);
    for (unsigned t = 0; t < q->T; t++) {
        q->w[t].q = q;
        q->w[t].id = t;
        if ((s = ota_agent_create(&ac, &q->w[t].ag)) != AM_OK) {
            am_error_wrap(s, "iq aggregator");
            goto fail;
        }
    }
    if (cfg->radio && cfg->radio[0]) {
        q->y2 = phy_fft_alloc(q->ycap);
        if (!q->y2) {
            s = AM_FAIL(AM_ENOMEM, "iq aggregator: out of memory");
            goto fail;
        }
        if ((s = open_radio(q, cfg->radio)) != AM_OK) {
            am_error_wrap(s, "iq aggregator");
            goto fail;
        }
    }
    if (q->capture_dir && (s = fs_mkdir_p(q->capture_dir)) != AM_OK) {
        am_error_wrap(s, "iq aggregator: capture directory");
        goto fail;
    }
    if ((s = am_pool_create(q->T, "iq aggregator", &q->pool)) != AM_OK)
        goto fail;
    out->ops = &iq_ops;
    out->self = q;
    return AM_OK;
fail:
    iq_destroy(q);
    return s;
}

static const fl_agg_ops iq_ops = {"iq", iq_aggregate, iq_destroy};

int agg_iq_is(const fl_agg *a)
{
    return a && a->ops == &iq_ops && a->self;
}

am_status agg_iq_last_round(const fl_agg *a, agg_iq_round_info *info)
{
    if (!agg_iq_is(a) || !info)
        return AM_FAIL(AM_EINVAL, "agg_iq_last_round: not an iq aggregator");
    *info = ((const agg_iq *)a->self)->info;
    return AM_OK;
}

am_status agg_iq_last_symbols(const fl_agg *a, const float complex **sym, size_t *n)
{
    if (!agg_iq_is(a) || !sym || !n)
        return AM_FAIL(AM_EINVAL, "agg_iq_last_symbols: not an iq aggregator");
    const agg_iq *q = a->self;
    *sym = q->sym;
    *n = q->nsym;
    return AM_OK;
}

/* with cfg.probe_excess, a u32 after the counts: the probes the run made */
static size_t probes_size(const agg_iq *q)
{
    return q->cfg.probe_excess > 0.0f ? sizeof(uint32_t) : 0;
}

size_t agg_iq_state_size(const fl_agg *a)
{
    const agg_iq *q = agg_iq_is(a) ? a->self : NULL;
    return q && q->cal ? (size_t)q->K * (PHY_CAL_Q * sizeof *q->A +
                                         (q->cfg.cal_count_agent ? 1 : PHY_CAL_Q) * sizeof *q->nh) +
                             probes_size(q)
                       : 0;
}

void agg_iq_state_save(const fl_agg *a, void *buf)
{
    const size_t n = agg_iq_state_size(a);
    if (!n)
        return;
    const agg_iq *q = a->self;
    const size_t na = (size_t)q->K * PHY_CAL_Q * sizeof *q->A, np = probes_size(q);
    memcpy(buf, q->A, na);
    memcpy((unsigned char *)buf + na, q->nh, n - na - np);
    if (np) {
        const uint32_t p = q->probes_run;
        memcpy((unsigned char *)buf + n - np, &p, np);
    }
}

am_status agg_iq_state_load(fl_agg *a, const void *buf, size_t n)
{
    if (n != agg_iq_state_size(a))
        return AM_FAIL(AM_EINVAL, "iq aggregator: calibration state of %zu bytes, want %zu", n,
                       agg_iq_state_size(a));
    if (!n)
        return AM_OK;
    agg_iq *q = a->self;
    const size_t na = (size_t)q->K * PHY_CAL_Q * sizeof *q->A, np = probes_size(q);
    uint32_t p = 0;
    if (np) {
        memcpy(&p, (const unsigned char *)buf + n - np, np);
        const unsigned lo = q->cfg.probes < 2 ? q->cfg.probes : 2; /* the rule's least */
        if (p < lo || p > q->cfg.probes)
            return AM_FAIL(AM_EINVAL, "iq aggregator: calibration state: %u probes, not %u..%u",
                           p, lo, q->cfg.probes);
    }
    float complex *A = malloc(na);
    if (!A)
        return AM_FAIL(AM_ENOMEM, "iq aggregator: out of memory");
    memcpy(A, buf, na);
    for (size_t i = 0; i < na / sizeof *A; i++)
        if (!isfinite(crealf(A[i])) || !isfinite(cimagf(A[i])) ||
            cabsf(A[i]) < PHY_CAL_A_MIN * 0.99f || cabsf(A[i]) > PHY_CAL_A_MAX * 1.01f) {
            free(A);
            return AM_FAIL(AM_EINVAL, "iq aggregator: calibration state: A[%zu] out of range", i);
        }
    memcpy(q->A, A, na);
    memcpy(q->nh, (const unsigned char *)buf + na, n - na - np);
    if (np)
        q->probes_run = p;
    q->probe_due = 0; /* a resumed run: its agents were probed before its first round (§8.5) */
    free(A);
    return AM_OK;
}

am_status agg_iq_counts(const fl_agg *a, uint64_t *rounds, uint64_t *missed)
{
    if (!agg_iq_is(a))
        return AM_FAIL(AM_EINVAL, "agg_iq_counts: not an iq aggregator");
    const agg_iq *q = a->self;
    if (rounds)
        *rounds = q->rounds;
    if (missed)
        *missed = q->missed;
    return AM_OK;
}
